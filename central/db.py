"""Binds central's models to a database chosen by URL, and creates the schema.

``sqlite:///path`` (the embedded default) or ``postgresql://user:pass@host:port/dbname``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlparse

from peewee import Database, PostgresqlDatabase, SqliteDatabase

from central.models import MODELS, database

log = logging.getLogger(__name__)

SQLITE_PRAGMAS = {"journal_mode": "wal", "synchronous": "FULL", "foreign_keys": 1, "busy_timeout": 10000}


def connect(url: str) -> Database:
    """Open the database at ``url``, bind the models to it and create missing tables.

    Raises ValueError for an unsupported URL and the driver's error if the server is unreachable.
    """
    u = urlparse(url)
    if u.scheme == "sqlite":
        path = u.path if u.netloc in ("", "localhost") else u.netloc + u.path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db: Database = SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, check_same_thread=False)
    elif u.scheme in ("postgresql", "postgres"):
        db = PostgresqlDatabase(
            u.path.lstrip("/"),
            user=u.username,
            password=u.password,
            host=u.hostname or "127.0.0.1",
            port=u.port or 5432,
        )
    else:
        raise ValueError(f"unsupported database URL scheme: {u.scheme!r} (use sqlite:/// or postgresql://)")
    database.initialize(db)
    db.connect(reuse_if_open=True)
    db.create_tables(MODELS, safe=True)
    log.info("central database ready (%s)", u.scheme)
    return db
