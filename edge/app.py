"""The edge node: one process with the Flask pages (kiosk, staff, TV) and its workers.

``Runtime`` is everything besides the pages: the database (migrated and checked when it opens),
the bus, the queue service, the device workers and the sync client. It is built and started
outside ``create_app``, which only assembles the Flask app around it.
"""

from __future__ import annotations

import logging
import secrets
import threading
from pathlib import Path

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from edge import db as edge_db
from edge import memory
from edge.bus import Bus
from edge.config import EdgeConfig
from edge.services import QueueService
from edge.workers import AnnouncerWorker, ClockWatch, DeviceStatus, PrinterWorker, ScannerWorker
from infra.config import warn_if_cleartext
from infra.files import write_private_file
from infra.mqtt import Message, Settings, Transport
from protocol import messages, topics
from protocol.clock import Clock

log = logging.getLogger(__name__)

WEB_THREADS = 32
MAX_BODY = 16 * 1024  # the largest form or JSON a kiosk or staff page sends is a few hundred bytes
STREAM_SLOTS = WEB_THREADS - 8


def _secret_key(data_dir: str) -> bytes:
    """The node's session-signing key: made once, kept 0600 in its data directory (sessions then
    survive a restart; the sessions themselves are database rows and can be ended)."""
    path = Path(data_dir) / "secret_key"
    if not path.exists():
        write_private_file(path, secrets.token_hex(32))
    return path.read_text().strip().encode()


def mqtt_settings(config: EdgeConfig) -> Settings:
    """How this node connects to the broker (its will marks it offline, retained; TLS when
    ``mqtt_ca`` is set)."""
    warn_if_cleartext(config.mqtt_host, config.mqtt_ca)
    will = Message(topics.up(config.node_id, topics.UP_STATUS), messages.encode(messages.Presence(False)), retain=True)
    return Settings(
        host=config.mqtt_host,
        port=config.mqtt_port,
        username=config.broker_username,
        password=config.mqtt_password,
        client_id=config.node_id,
        will=will,
        tls_ca=config.mqtt_ca,
        tls_cert=config.mqtt_cert,
        tls_key=config.mqtt_key,
        protocol=config.mqtt_protocol,
    )


def _prerender(announcer: AnnouncerWorker, destinations: list[str]) -> None:
    announcer.prerender(destinations)
    memory.trim()  # the start-up work is done: its freed memory goes back to the system


class Runtime:
    """Everything the edge runs besides the web pages, started and stopped together.

    Opening it migrates the database (raises ``infra.migrations.SchemaError`` if the database
    belongs to a newer release or is damaged). ``start()`` starts the workers and the sync
    client on ``transport`` (paho by default).
    """

    def __init__(self, config: EdgeConfig):
        self.config = config
        self.db = edge_db.connect(config.db_path)
        self.bus = Bus()
        self.clock = Clock(config.clock_start)
        if self.clock.simulated:
            log.warning("clock starts at %s (training/testing setting)", config.clock_start)
        self.service = QueueService(config, self.bus, self.clock)
        with self.service.unit():  # yesterday's BPJS numbers are not kept on the node
            self.service.forget_old_numbers()
        self.db.release()  # the pool's: this thread goes on to serve, not to query
        self.status = DeviceStatus(self.bus)
        self.stop = threading.Event()
        # event streams hold a web thread each; keep threads free for kiosk and staff requests
        self.stream_slots = threading.BoundedSemaphore(STREAM_SLOTS)
        self.streams_per_client: dict[str, int] = {}  # one host cannot take every stream
        self.streams_lock = threading.Lock()
        self.secret_key = _secret_key(config.data_dir)
        self.workers = []
        self.sync = None

    def start(self, transport: Transport | None = None) -> Runtime:
        from edge.sync import SyncClient

        memory.tune_malloc()  # before the workers, the sync client and the web threads start
        c = self.config
        self.workers = [
            PrinterWorker(self.stop, self.service, self.status, c.printer_uri, c.printer_profile),
            AnnouncerWorker(self.stop, self.bus, self.status, c.audio_uri, c.clips_dir, self.clock),
            ClockWatch(self.stop, self.clock, self.status),
        ]
        if c.scanner_uri != "none":
            self.workers.append(ScannerWorker(self.stop, self.service, self.status, c.scanner_uri))
        for w in self.workers:
            w.start()
        # every call's voice clips rendered ahead, so the first call after start renders none
        destinations = [counter["name"] for counter in self.service.counters()]
        self.db.release()
        announcer = next(w for w in self.workers if isinstance(w, AnnouncerWorker))
        threading.Thread(target=_prerender, args=(announcer, destinations), name="clips", daemon=True).start()
        if transport is None:
            from infra.mqtt.paho import PahoTransport

            transport = PahoTransport(mqtt_settings(c))
        self.sync = SyncClient(c, self.bus, self.status, transport, board=self.service.board)
        self.sync.start()
        return self

    def problems(self) -> list[str]:
        """What is wrong with this node right now (empty when healthy), for the health check."""
        out = []
        try:
            self.db.execute_sql("SELECT 1")
        except Exception as exc:  # a health check must answer, whatever the database does
            return [f"database: {type(exc).__name__}"]
        if not edge_db.schema_ok(self.db):
            out.append("database schema does not match this release")
        out += [f"worker {w.name} is stuck or stopped" for w in self.workers if not w.healthy()]
        if self.sync is not None and not self.sync.healthy():
            out.append("sync threads are stuck or stopped")
        return out

    def healthy(self) -> bool:
        """True while the database answers at this release's schema and every worker and sync
        thread loops (for the systemd watchdog)."""
        return not self.problems()

    def close(self) -> None:
        self.stop.set()
        if self.sync:
            self.sync.close()
        for w in self.workers:
            w.join(timeout=5)


ERRORS = {
    400: ("Permintaan tidak valid", "Permintaan tidak dapat diproses. Muat ulang halaman lalu coba lagi."),
    404: ("Halaman tidak ditemukan", "Halaman yang Anda cari tidak ada."),
    405: ("Metode tidak diizinkan", "Cara permintaan ini tidak didukung untuk alamat tersebut."),
    413: ("Data terlalu besar", "Data yang dikirim terlalu besar."),
    500: ("Terjadi kesalahan", "Maaf, terjadi kesalahan pada sistem. Antrean tetap berjalan; silakan coba lagi."),
}


def _error_page(status: int):
    title, message = ERRORS.get(status, ERRORS[500])
    if request.path.startswith("/api/"):
        return jsonify({"error": message}), status
    return render_template("error.html", title=title, message=message), status


def create_app(config: EdgeConfig, runtime: Runtime) -> Flask:
    """Build the edge's Flask app around a runtime built (and started, or not) by the caller."""
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_NAME="rosma_edge",
    )
    app.secret_key = runtime.secret_key
    app.extensions["rosma"] = runtime

    from edge.web import api, auth, pages, signin

    auth.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(signin.bp)
    app.register_blueprint(api.bp)

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        return _error_page(e.code or 500)

    @app.errorhandler(Exception)
    def unexpected(e: Exception):
        log.exception("unhandled error on %s %r", request.method, request.path)
        return _error_page(500)

    @app.teardown_appcontext
    def release_connection(_exc):
        runtime.db.release()  # back to the pool: web threads share a few connections

    @app.after_request
    def headers(resp):
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; form-action 'self'",
        )
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "same-origin"
        if request.endpoint != "static":
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    return app
