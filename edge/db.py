"""Opens the edge's SQLite database (WAL, synchronous=FULL for SD cards and power cuts)."""

from __future__ import annotations

from pathlib import Path

from peewee import SqliteDatabase

from edge.models import MODELS, database

PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "FULL",
    "foreign_keys": 1,
    "busy_timeout": 10000,
    "cache_size": -8000,
}


def connect(path: str | Path, synchronous: str = "FULL") -> SqliteDatabase:
    """Bind the models to the database file at ``path`` (created if missing) and create tables.

    ``synchronous`` stays FULL on a node; benchmarks compare it with NORMAL.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = SqliteDatabase(str(path), pragmas={**PRAGMAS, "synchronous": synchronous}, check_same_thread=False)
    database.initialize(db)
    db.connect(reuse_if_open=True)
    db.create_tables(MODELS, safe=True)
    return db
