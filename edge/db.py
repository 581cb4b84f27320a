"""Opens the edge's SQLite database (WAL, synchronous=FULL for SD cards and power cuts),
migrates it to this release's schema and checks it.

Connections come from a small pool (``EdgeDatabase``): a thread takes one for a request or a
job and gives it back when done (``release()``), so the node holds a few connections, not one
for every web and worker thread it ever ran, each with its own page cache.

Before migrating a database that already holds data, the file is copied aside with SQLite's
online backup API to ``<data_dir>/backups/edge-v<version>-<UTC time>.db`` (0600; the newest
few are kept), so a failed upgrade can be rolled back by putting the copy back.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import sqlite3
from pathlib import Path

from peewee import SqliteDatabase
from playhouse.pool import PooledSqliteDatabase

from edge import migrations as edge_migrations
from edge.models import MODELS, database
from infra import migrations
from infra.files import keep_private

log = logging.getLogger(__name__)

PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "FULL",
    "foreign_keys": 1,
    "busy_timeout": 10000,
    # KiB of page cache per connection: a day's database is a few MB and the OS caches the file
    # too (a page missing here is a read from memory, not from the SD card), so a small cache
    # per connection costs little time. Each connection's cache fills up to this as the day's
    # tickets grow the file: connections x cache is the node's SQLite memory by evening.
    "cache_size": -512,
}
KEEP_BACKUPS = 5
# Connections open at most: the worker and sync threads take one each while they work, requests
# share the rest (one waits for a free connection rather than opening another). Only one of them
# writes at a time anyway (BEGIN IMMEDIATE), and a request holds its connection for a few ms.
POOL_SIZE = 8
POOL_WAIT_S = 30

# Every transaction takes the write lock when it begins (BEGIN IMMEDIATE). In WAL mode one that
# began as a reader cannot become a writer once another writer has committed: SQLite answers
# "database is locked" at once, without waiting for busy_timeout. Beginning as a writer, the
# others wait their turn instead. Reads outside a transaction are not affected.
WRITE_FIRST = "IMMEDIATE"

MIGRATIONS = migrations.discover(edge_migrations)


class EdgeDatabase(PooledSqliteDatabase):
    """The edge's SQLite database: pooled connections, each set up with PRAGMAS once.

    ``opened`` counts the connections it has opened in all (a reused one is not counted again).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.opened = 0

    def _add_conn_hooks(self, conn):
        super()._add_conn_hooks(conn)
        self.opened += 1

    def release(self) -> None:
        """Give the calling thread's connection back to the pool, unless it is in a transaction
        (then it stays with the thread, which gives it back after the transaction)."""
        if not self.is_closed() and not self.in_transaction():
            self.close()

    def open_connections(self) -> int:
        """Connections open now: in use by a thread or waiting in the pool."""
        with self._pool_lock:
            return len(self._in_use) + len(self._connections)


def connect(path: str | Path, synchronous: str = "FULL") -> SqliteDatabase:
    """Bind the models to the database file at ``path`` (created 0600 if missing), migrate it
    and check it.

    ``synchronous`` stays FULL on a node; benchmarks compare it with NORMAL. Raises
    ``infra.migrations.SchemaError`` when the file belongs to a newer release or is damaged.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for part in ("", "-wal", "-shm"):  # SQLite gives its side files the database's mode
        keep_private(f"{path}{part}")
    db = EdgeDatabase(
        str(path),
        pragmas={**PRAGMAS, "synchronous": synchronous},
        check_same_thread=False,
        lock_type=WRITE_FIRST,
        max_connections=POOL_SIZE,
        timeout=POOL_WAIT_S,
    )
    database.initialize(db)
    db.connect(reuse_if_open=True)
    migrations.migrate(db, MIGRATIONS, backup=lambda version: _backup(db, path, version))
    migrations.check(db, MIGRATIONS, MODELS)
    return db


def schema_ok(db: SqliteDatabase) -> bool:
    """For the health check: the database is still at this release's schema version."""
    return migrations.version_ok(db, MIGRATIONS)


def _new_identity(copy: Path) -> None:
    """A restored backup is another database as far as central is concerned: its seqs start
    again below what central has seen, so it must not share the live database's incarnation."""
    conn = sqlite3.connect(copy)
    try:
        with conn:
            conn.execute("UPDATE syncstate SET value = ? WHERE key = 'incarnation'", (secrets.token_hex(8),))
    except sqlite3.OperationalError:  # a release-0.1.0 copy has no incarnation yet: it gets one on restore
        pass
    finally:
        conn.close()


def _backup(db: SqliteDatabase, path: Path, version: int) -> None:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.parent / "backups" / f"{path.stem}-v{version}-{stamp}.db"
    migrations.sqlite_backup(db, target)
    _new_identity(target)
    log.warning("database at schema version %d copied to %s before migrating", version, target)
    old = sorted(target.parent.glob(f"{path.stem}-v*.db"), key=lambda p: p.stat().st_mtime)
    for stale in old[:-KEEP_BACKUPS]:
        stale.unlink(missing_ok=True)
