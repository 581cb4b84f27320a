"""The central patient web site and JSON API: ``create_app(config, runtime)`` builds the Flask
app around a runtime built by the caller (``build(config)`` does both, for the CLI and tests)."""

from __future__ import annotations

import datetime as dt
import logging

from flask import Flask, current_app, jsonify, make_response, render_template, request
from peewee import InterfaceError, OperationalError, SqliteDatabase
from werkzeug.exceptions import HTTPException

from central import api, web
from central.config import CentralConfig
from central.db import lost_connection
from central.runtime import CentralRuntime
from central.web.csp import CSP
from central.web.proxy import TrustedProxies

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024


ERROR_TEXT = {
    400: ("Permintaan tidak valid", "Permintaan tidak dapat diproses. Muat ulang halaman lalu coba lagi."),
    401: ("Perlu masuk", "Silakan masuk terlebih dahulu."),
    403: ("Akses ditolak", "Anda tidak memiliki akses ke halaman ini."),
    404: ("Halaman tidak ditemukan", "Halaman yang Anda cari tidak ada atau sudah dipindahkan."),
    405: ("Metode tidak diizinkan", "Cara permintaan ini tidak didukung untuk alamat tersebut."),
    413: ("Data terlalu besar", "Data yang dikirim terlalu besar (maksimal 64 KB). Kurangi isian lalu coba lagi."),
    415: ("Format tidak didukung", "Kirim data dalam format JSON (Content-Type: application/json)."),
    500: ("Terjadi kesalahan", "Maaf, terjadi kesalahan pada sistem. Silakan coba lagi beberapa saat lagi."),
    503: ("Sistem sedang sibuk", "Sistem sedang sibuk. Tidak ada yang berubah; coba lagi sebentar lagi."),
}


def create_app(config: CentralConfig, runtime: CentralRuntime) -> Flask:
    """Build the app around ``runtime``: no database work, no threads, nothing global."""
    app = Flask("central", static_folder="web/static", template_folder="web/templates")
    app.config.update(
        SECRET_KEY=config.secret_key,
        MAX_CONTENT_LENGTH=MAX_BODY,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.https,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(days=30),
    )
    if config.trusted_proxies:
        app.wsgi_app = TrustedProxies(app.wsgi_app, config.trusted_proxies)
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    app.extensions["rosma"] = runtime
    app.extensions["rosma.config"] = config
    app.extensions["rosma.db"] = runtime.db
    _init_connections(app, runtime.db)
    _init_errors(app)
    _init_headers(app, config.https)
    web.init_app(app)
    api.init_app(app)
    return app


def build(config: CentralConfig) -> Flask:
    """Open the runtime (migrating the database), seed it if asked, and build the app.

    Raises ValueError for an unsupported database URL, the driver's error when the server is
    unreachable, and ``infra.migrations.SchemaError`` for a database of another release.
    """
    runtime = CentralRuntime(config)
    runtime.seed_if_empty()
    return create_app(config, runtime)


def _init_connections(app: Flask, db) -> None:
    """PostgreSQL: each request takes an open connection from the process's pool and gives it
    back when it ends (``central.db``: a connection the server ended is replaced, not reused)."""
    if isinstance(db, SqliteDatabase):
        return  # one long-lived connection (per thread; peewee opens it on first use)
    db.close()

    @app.before_request
    def _open_db():
        if request.endpoint != "static":
            db.connect(reuse_if_open=True)

    @app.teardown_request
    def _close_db(_exc):
        if not db.is_closed():
            db.close()


def wants_json() -> bool:
    """True when the request is for the JSON API."""
    return request.path.startswith("/api/")


def error_response(status: int, message: str | None = None, fields: dict | None = None):
    """An error as JSON (for /api) or as an Indonesian HTML page."""
    title, default = ERROR_TEXT.get(status, ERROR_TEXT[500])
    message = message or default
    if wants_json():
        return jsonify({"error": message, "fields": fields or {}}), status
    return render_template("error.html", title=title, message=message, status=status), status


def _init_errors(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException):
        status = e.code or 500
        if status not in ERROR_TEXT:
            return e
        if status != 404:
            log.info("request rejected: %s %r -> %s", request.method, request.path, status)
        custom = getattr(e, "rosma_message", None)
        return error_response(status, custom)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _busy(e: Exception):
        # SQLite's "database is locked" after busy_timeout, or the connection to PostgreSQL
        # broke in the middle of a transaction: nothing was written (the transaction rolled
        # back); the user may simply try again
        locked = "locked" in str(e).lower() or "busy" in str(e).lower()
        if not locked and not lost_connection(e):
            return _unexpected(e)
        log.warning("database busy on %s %r: %s", request.method, request.path, e)
        response = make_response(error_response(503))
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        log.exception("unhandled error on %s %r", request.method, request.path)
        return error_response(500)


def _init_headers(app: Flask, https: bool = False) -> None:
    @app.after_request
    def _secure_headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if https:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        worker = current_app.extensions["rosma"].worker
        if worker:  # several web processes: which one answered (for the operator, and the tests)
            response.headers["X-Rosma-Process"] = str(worker)
        if request.endpoint != "static" and "Cache-Control" not in response.headers:
            # Pages and API answers hold personal data: keep them out of shared and disk caches.
            response.headers["Cache-Control"] = "no-store"
        return response
