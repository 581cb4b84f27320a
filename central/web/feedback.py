"""Kritik & saran: patients send them, the back office follows them up (being built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("feedback", __name__)
admin_bp = Blueprint("feedback_admin", __name__, url_prefix="/petugas/kritik-saran")
