"""The edge node: one process with the Flask pages (kiosk, staff, TV) and its workers."""

from __future__ import annotations

import logging
import os
import threading

from flask import Flask

from edge import db as edge_db
from edge.bus import Bus
from edge.config import EdgeConfig
from edge.services import QueueService
from protocol.clock import Clock

log = logging.getLogger(__name__)

WEB_THREADS = 32
STREAM_SLOTS = WEB_THREADS - 8


class Runtime:
    """Everything the edge runs besides the web pages, started and stopped together."""

    def __init__(self, config: EdgeConfig, start_workers: bool = True):
        from edge.workers import DeviceStatus

        self.config = config
        self.db = edge_db.connect(config.db_path)
        self.bus = Bus()
        self.clock = Clock(config.clock_start)
        if self.clock.simulated:
            log.warning("clock starts at %s (training/testing setting)", config.clock_start)
        self.service = QueueService(config, self.bus, self.clock)
        self.status = DeviceStatus(self.bus)
        self.stop = threading.Event()
        # event streams hold a web thread each; keep threads free for kiosk and staff requests
        self.stream_slots = threading.BoundedSemaphore(STREAM_SLOTS)
        self.workers = []
        self.sync = None
        if start_workers:
            self._start()

    def _start(self) -> None:
        from edge.sync import SyncClient
        from edge.workers import AnnouncerWorker, ClockWatch, PrinterWorker, ScannerWorker

        c = self.config
        self.workers = [
            PrinterWorker(self.stop, self.service, self.status, c.printer_uri, c.printer_profile),
            AnnouncerWorker(self.stop, self.bus, self.status, c.audio_uri, c.clips_dir),
            ClockWatch(self.stop, self.clock, self.status),
        ]
        if c.scanner_uri != "none":
            self.workers.append(ScannerWorker(self.stop, self.service, self.status, c.scanner_uri))
        for w in self.workers:
            w.start()
        self.sync = SyncClient(c, self.bus, self.status, board=self.service.board)
        self.sync.start()

    def healthy(self) -> bool:
        """True while every worker thread runs and the database answers (for the watchdog)."""
        try:
            self.db.execute_sql("SELECT 1")
        except Exception:
            return False
        return all(w.is_alive() for w in self.workers)

    def close(self) -> None:
        self.stop.set()
        if self.sync:
            self.sync.close()
        for w in self.workers:
            w.join(timeout=5)


def create_app(config: EdgeConfig, runtime: Runtime | None = None) -> Flask:
    """Build the edge's Flask app; starts the workers unless a runtime is given."""
    os.environ.setdefault("ESCPOS_CAPABILITIES_PICKLE_DIR", str(config.clips_dir.parent / "escpos"))
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024
    app.secret_key = os.urandom(32)  # flash messages only; no long-lived sessions on the edge
    rt = runtime or Runtime(config)
    app.extensions["rosma"] = rt

    from edge.web import api, pages

    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)

    @app.after_request
    def headers(resp):
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'")
        return resp

    return app
