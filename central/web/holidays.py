"""Back office: holidays (being built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("holidays", __name__, url_prefix="/petugas/libur")
