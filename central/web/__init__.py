"""The patient web site: pages, login, reservations, PWA files."""

from __future__ import annotations

from flask import Flask

from central import ticket_link
from central.web import (
    admin,
    auth,
    backoffice,
    booking,
    bpjs,
    csrf,
    dashboard,
    feedback,
    filters,
    fleet,
    holidays,
    input,
    pages,
    reports,
    staff,
)


def init_app(app: Flask) -> None:
    """Register the web blueprints, CSRF protection, the login loader and template filters."""
    input.init_app(app)
    csrf.init_app(app)
    auth.init_app(app)
    filters.init_app(app)
    backoffice.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(booking.bp)
    app.register_blueprint(staff.bp)
    app.register_blueprint(ticket_link.bp)  # /t/<token>: a printed ticket's QR
    # the back office (roles per page: central.web.backoffice)
    app.register_blueprint(admin.bp)
    app.register_blueprint(holidays.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(fleet.bp)
    app.register_blueprint(feedback.bp)
    app.register_blueprint(feedback.admin_bp)
    app.register_blueprint(bpjs.bp)
