"""The patient web site: pages, login, reservations, PWA files."""

from __future__ import annotations

from flask import Flask

from central.web import auth, booking, csrf, filters, input, pages, staff


def init_app(app: Flask) -> None:
    """Register the web blueprints, CSRF protection, the login loader and template filters."""
    input.init_app(app)
    csrf.init_app(app)
    auth.init_app(app)
    filters.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(booking.bp)
    app.register_blueprint(staff.bp)
