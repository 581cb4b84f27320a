"""CSRF protection for the web forms: one random token per session, checked on every POST.

The JSON API is exempt: it authenticates with a bearer token, never with the cookie.
"""

from __future__ import annotations

import hmac
import logging
import secrets

from flask import Flask, request, session

from central.web.errors import http_error

log = logging.getLogger(__name__)

FIELD = "csrf_token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MESSAGE = "Sesi formulir tidak valid atau sudah kedaluwarsa. Muat ulang halaman lalu coba lagi."


def token() -> str:
    """This session's CSRF token, created on first use."""
    value = session.get(FIELD)
    if not value:
        value = secrets.token_urlsafe(32)
        session[FIELD] = value
    return value


def rotate() -> None:
    """Give the session a fresh token (after login or logout)."""
    session[FIELD] = secrets.token_urlsafe(32)


def _check() -> None:
    if request.method not in UNSAFE or request.path.startswith("/api/"):
        return
    sent = request.form.get(FIELD, "") or request.headers.get("X-CSRF-Token", "")  # a page's script sends the header
    expected = session.get(FIELD, "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        log.warning("csrf check failed on %r", request.path)
        raise http_error(400, MESSAGE)


def init_app(app: Flask) -> None:
    """Check the token before every unsafe web request and expose ``csrf_token()`` to templates."""
    app.before_request(_check)
    app.jinja_env.globals["csrf_token"] = token
