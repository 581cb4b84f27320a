"""Binds central's models to a database chosen by URL, migrates it and checks it.

``sqlite:///path`` (the embedded default) or ``postgresql://user:pass@host:port/dbname``.
``central run`` and ``central sync`` both migrate at start-up; a lock makes the second wait
while the first migrates, so each migration runs once.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from peewee import Database, PostgresqlDatabase, SqliteDatabase

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
        return PostgresqlDatabase(
            u.path.lstrip("/"),
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
    database.initialize(db)
    db.connect(reuse_if_open=True)
    if migrate:
        migrations.migrate(db, MIGRATIONS)
    migrations.check(db, MIGRATIONS, MODELS)
    log.info("central database ready (%s, schema version %d)", urlparse(url).scheme, MIGRATIONS[-1].number)
    return db


def schema_ok(db: Database) -> bool:
    """For the health check: the database is still at this release's schema version."""
    return migrations.version_ok(db, MIGRATIONS)
