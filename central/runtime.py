"""Everything central runs besides its pages: the database (migrated and checked when it
opens), the clock, the login guard and, when embedded, the MQTT sync worker.

Built outside ``create_app`` (by ``rosma central run`` or a test) and handed to it; the views
reach it through ``current()``.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import current_app

from central import bpjs_credentials, keys, push
from central import db as central_db
from central.config import CentralConfig
from central.models import Puskesmas
from infra.notify import open_notifier
from protocol.clock import Clock

log = logging.getLogger(__name__)


class CentralRuntime:
    def __init__(self, config: CentralConfig):
        """Open (and migrate) the database; raises as ``central.db.connect``."""
        self.config = config
        self.db = central_db.connect(config.database_url)
        keys.bind(config.keys_dir)
        bpjs_credentials.bind(config.bpjs_credentials)
        self.clock = Clock(config.clock_start)
        if self.clock.simulated:
            log.warning("clock starts at %s (training/demo setting)", config.clock_start)
        self.notifier = open_notifier(config.notify_uri)
        push.configure(config.push_services, config.push_contact, self.notifier)
        self.sync = None
        self.streams = None
        self.worker = 0  # which of several web processes this is (rosma.prefork); 0: the only one
        from central import feed

        upgraded = feed.backfill_back_office()  # nodes from before the back office: their site and poli
        if upgraded:
            log.info("sent the back office's site, poli and closed days to %d existing node(s)", upgraded)

    def seed_if_empty(self) -> None:
        """Load the seed puskesmas when the config asks for it and the database has none."""
        if self.config.seed and not Puskesmas.select().exists():
            from central.seed import seed

            seed()

    def start_sync(self, transport=None):
        """Run the MQTT sync worker in this process (the embedded setup)."""
        from central.sync import CentralSync, mqtt_settings

        if transport is None:
            from infra.mqtt.paho import PahoTransport

            c = self.config
            transport = PahoTransport(mqtt_settings(c))
        self.sync = CentralSync(transport)
        self.sync.start()
        return self.sync

    def start_streams(self):
        """Serve the phones' live queue streams from this process (``stream_embedded``)."""
        from central.streams import server_for

        self.streams = server_for(self.config, lambda: self.clock.now().date()).start()
        if self.streams.error is not None:  # the port is taken: the site runs on, the phones poll nothing
            log.error("phone streams are not served: %s", self.streams.error)
        return self.streams

    def before_fork(self) -> None:
        """Make what the web processes would otherwise race to make (the QR signing key, the Web
        Push key), then close every database connection: a forked process must open its own."""
        keys.active_key()
        push.ensure_vapid()
        self.db.close()
        central_db.close_pool(self.db)

    def problems(self) -> list[str]:
        """What is wrong right now (empty when healthy): database, schema, embedded sync."""
        try:
            self.db.connect(reuse_if_open=True)
            self.db.execute_sql("SELECT 1")
        except Exception as exc:  # a health check must answer, whatever the database does
            self.db.close()
            return [f"database: {type(exc).__name__}"]
        out = [] if central_db.schema_ok(self.db) else ["database schema does not match this release"]
        if self.sync is not None:
            out += self.sync.problems()
        return out

    def healthy(self) -> bool:
        return not self.problems()

    def close(self) -> None:
        if self.streams is not None:
            self.streams.stop()
        if self.sync is not None:
            self.sync.close()


def current() -> CentralRuntime:
    """The runtime of the app handling this request."""
    return current_app.extensions["rosma"]


def now() -> dt.datetime:
    """The current time in Asia/Jakarta, on the app's clock."""
    return current().clock.now()
