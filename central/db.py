"""Binds central's models to a database chosen by URL, migrates it and checks it.

``sqlite:///path`` (the embedded default) or ``postgresql://user:pass@host:port/dbname``.
``central run`` and ``central sync`` both migrate at start-up; a lock makes the second wait
while the first migrates, so each migration runs once.
"""

from __future__ import annotations

import logging
import os
import select
from pathlib import Path
from urllib.parse import unquote, urlparse

from peewee import Database, InterfaceError, OperationalError, SqliteDatabase
from playhouse.pool import PooledPostgresqlDatabase

from central import migrations as central_migrations
from central.models import MODELS, database
from infra import migrations
from infra.files import keep_private

log = logging.getLogger(__name__)

# A writer waits up to 30 s for another's transaction (the embedded default serves one
# puskesmas's patients and staff; a long writer is e.g. the demo's history, a day at a time).
SQLITE_PRAGMAS = {"journal_mode": "wal", "synchronous": "FULL", "foreign_keys": 1, "busy_timeout": 30000}

# Every transaction takes the write lock when it begins (BEGIN IMMEDIATE). In WAL mode one that
# began as a reader cannot become a writer once another writer has committed: SQLite answers
# "database is locked" at once, without waiting for busy_timeout. Beginning as a writer, the
# others wait their turn instead. Reads outside a transaction are not affected.
WRITE_FIRST = "IMMEDIATE"

MIGRATIONS = migrations.discover(central_migrations)

# A PostgreSQL connection is kept open between requests (each web thread takes one from the pool
# and gives it back when its request ends) and is replaced after this many seconds.
POOL_RECYCLE_S = 600


class CentralPostgresqlDatabase(PooledPostgresqlDatabase):
    """PostgreSQL with a pool of open connections, per process (nothing in it that other web
    processes would need: it only saves connecting).

    A pooled connection the server has ended (a restart, ``pg_terminate_backend``, an idle
    timeout) is noticed as it is taken from the pool, without a round trip: an idle connection
    has nothing to read unless the server has said goodbye. It is dropped and a new one opened.
    A statement outside a transaction that finds the connection gone is run once more on a new
    connection; inside a transaction the error stands (nothing of it was committed).
    """

    def _is_closed(self, conn) -> bool:
        if conn.closed or self._adapter.txn_status(conn) != self._adapter.txn_idle:
            return True  # in the pool a connection is idle; anything else is not to be trusted
        try:
            readable, _, _ = select.select([conn.fileno()], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def execute_sql(self, sql, params=None, *args, **kwargs):
        try:
            return super().execute_sql(sql, params, *args, **kwargs)
        except (OperationalError, InterfaceError):
            if self.in_transaction() or not self._lost():
                raise
        log.warning("database connection lost; reconnecting")
        self._drop()
        self.connect()
        return super().execute_sql(sql, params, *args, **kwargs)

    def _lost(self) -> bool:
        if self.is_closed():
            return True
        return bool(self.connection().closed)

    def _drop(self) -> None:
        """Forget this thread's broken connection (never back into the pool)."""
        if self.is_closed():
            return
        conn = self.connection()
        with self._pool_lock:
            self._in_use.pop(self.conn_key(conn), None)
        try:
            self.close()
        except Exception:  # closing a dead connection may complain; it is gone either way
            log.debug("closing a lost connection failed", exc_info=True)
        self._close_raw(conn)


def open_database(url: str) -> Database:
    """The peewee database for ``url``, not yet connected; raises ValueError for another scheme."""
    u = urlparse(url)
    if u.scheme == "sqlite":
        path = u.path if u.netloc in ("", "localhost") else u.netloc + u.path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            if not os.path.exists(path):  # a database holds personal data: owner only
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            for part in ("", "-wal", "-shm"):  # SQLite gives its side files the database's mode
                keep_private(path + part)
        return SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, check_same_thread=False, lock_type=WRITE_FIRST)
    if u.scheme in ("postgresql", "postgres"):
        return CentralPostgresqlDatabase(
            u.path.lstrip("/"),
            max_connections=None,
            stale_timeout=POOL_RECYCLE_S,
            user=unquote(u.username) if u.username else None,
            password=unquote(u.password) if u.password else None,
            host=u.hostname or "127.0.0.1",
            port=u.port or 5432,
        )
    raise ValueError(f"unsupported database URL scheme: {u.scheme!r} (use sqlite:/// or postgresql://)")


def connect(url: str, migrate: bool = True) -> Database:
    """Open the database at ``url``, bind the models to it, migrate it and check its schema.

    Raises ValueError for an unsupported URL, the driver's error if the server is unreachable,
    and ``infra.migrations.SchemaError`` when the database is newer than this release or damaged
    (or, with ``migrate=False``, behind it).
    """
    db = open_database(url)
    close_pool(database.obj)  # a process (a test) opening another database drops the old pool
    database.initialize(db)
    db.connect(reuse_if_open=True)
    if migrate:
        migrations.migrate(db, MIGRATIONS)
    migrations.check(db, MIGRATIONS, MODELS)
    log.info("central database ready (%s, schema version %d)", urlparse(url).scheme, MIGRATIONS[-1].number)
    return db


def close_pool(db: Database | None) -> None:
    """Close every pooled connection of ``db`` (at shutdown, or when another database replaces it)."""
    if isinstance(db, CentralPostgresqlDatabase):
        db.close_all()


def lost_connection(exc: BaseException) -> bool:
    """True for an error that means the connection to PostgreSQL broke (not a wrong statement)."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    conn = getattr(exc, "__cause__", None) or getattr(exc, "orig", None)
    text = str(exc).lower()
    return (
        getattr(conn, "pgcode", None) in ("57P01", "57P02", "57P03")
        or "server closed the connection" in text
        or "connection already closed" in text
        or "terminating connection" in text
    )


def schema_ok(db: Database) -> bool:
    """For the health check: the database is still at this release's schema version."""
    return migrations.version_ok(db, MIGRATIONS)
