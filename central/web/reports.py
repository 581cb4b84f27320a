"""Back office: reports (being built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("reports", __name__, url_prefix="/petugas/laporan")
