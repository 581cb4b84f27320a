"""The back-office JSON API under /api/v1/bo (staff authentication; being built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("bo_api", __name__, url_prefix="/api/v1/bo")
