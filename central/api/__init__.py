"""The patient JSON API under /api/v1 (documented in central/openapi.yaml)."""

from __future__ import annotations

from flask import Flask

from central.api import backoffice, mobilejkn
from central.api.views import bp


def init_app(app: Flask) -> None:
    """Register the API blueprint."""
    app.register_blueprint(bp)
    app.register_blueprint(backoffice.bp)
    app.register_blueprint(mobilejkn.bp)
