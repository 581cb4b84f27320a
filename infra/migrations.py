"""Numbered schema migrations, applied once at start-up, for the edge and central databases.

A migration is a module ``mNNNN_<what>.py`` in an app's ``migrations`` package with a function
``up(db)``; it may use ``playhouse.migrate`` and must not import the app's live models (they
describe the newest schema, not the one the migration starts from): tables a migration creates
are declared inside it, frozen. Migration 1 of each app is the release-0.1.0 schema, created
only where missing, so a database made by that release (which had no version table) continues
from there.

The applied migrations are rows of ``rosma_schema``. ``migrate`` holds a lock while it runs (a
PostgreSQL advisory lock; a lock file beside an SQLite database), so ``central run`` and
``central sync`` starting together on one database apply each migration exactly once; the
second waits and finds nothing left to do. Each migration runs in its own transaction with its
version row.

``check`` compares the database with the code: a schema newer than this release, one behind
it, or a table missing a column the models need is a SchemaError naming what is wrong; the
process refuses to serve and its health check fails.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import importlib
import logging
import os
import pkgutil
import re
import sqlite3
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from peewee import SQL, Database, PostgresqlDatabase, SqliteDatabase

log = logging.getLogger(__name__)

TABLE = "rosma_schema"
_NAME_RE = re.compile(r"^m(\d{4})_([a-z0-9_]+)$")


class SchemaError(RuntimeError):
    """The database's schema does not match this release; ``str(e)`` says how and what to do."""


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    up: Callable[[Database], None]


def discover(package: ModuleType) -> list[Migration]:
    """The migrations of ``package`` in order; raises SchemaError for a gap or a duplicate number."""
    found = []
    for info in pkgutil.iter_modules(package.__path__):
        match = _NAME_RE.match(info.name)
        if not match:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        found.append(Migration(int(match[1]), match[2], module.up))
    found.sort(key=lambda m: m.number)
    if [m.number for m in found] != list(range(1, len(found) + 1)):
        raise SchemaError(f"{package.__name__}: migrations must be numbered 1, 2, 3, ... without gaps")
    return found


def _ensure_table(db: Database) -> None:
    db.execute_sql(
        f"CREATE TABLE IF NOT EXISTS {TABLE} (version INTEGER PRIMARY KEY, name VARCHAR(80) NOT NULL, "
        "applied_at VARCHAR(40) NOT NULL)"
    )


def current_version(db: Database) -> int:
    """The highest migration applied; 0 for a new database or one made by release 0.1.0."""
    if TABLE not in db.get_tables():
        return 0
    row = db.execute_sql(f"SELECT MAX(version) FROM {TABLE}").fetchone()
    return int(row[0] or 0)


def migrate(db: Database, migrations: list[Migration], backup: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Apply every migration the database lacks; returns (version before, version after).

    ``backup(version)`` is called once, before the first migration, when there is something to
    migrate in a database that already holds tables (the edge copies its file aside). Raises
    SchemaError if the database is newer than ``migrations``.
    """
    latest = migrations[-1].number if migrations else 0
    with _lock(db), _foreign_keys_off(db):
        before = current_version(db)
        if before > latest:
            raise SchemaError(_ahead(before, latest))
        pending = [m for m in migrations if m.number > before]
        if pending and backup is not None and db.get_tables():
            backup(before)
        for m in pending:
            with db.atomic():
                _ensure_table(db)
                m.up(db)
                mark = _param(db)
                db.execute_sql(
                    f"INSERT INTO {TABLE} (version, name, applied_at) VALUES ({mark}, {mark}, {mark})",
                    (m.number, m.name, dt.datetime.now(dt.UTC).isoformat(timespec="seconds")),
                )
            log.info("schema migration %04d %s applied", m.number, m.name)
        after = current_version(db)
    if pending:
        log.info("database schema migrated from version %d to %d", before, after)
    return before, after


def add_column(migrator, table: str, name: str, field):
    """The ``playhouse.migrate`` operation adding a column, in one ALTER TABLE.

    A NOT NULL column gets its default as a DEFAULT clause: playhouse would otherwise add it
    NULL and then rebuild the whole SQLite table to make it NOT NULL (slow on an SD card, and a
    rebuild drops the table, which cascades to rows that reference it).
    """
    if not field.null and field.default is not None and not callable(field.default):
        value = field.default
        if isinstance(value, bool):
            literal = "TRUE" if value else "FALSE"
        elif isinstance(value, int):
            literal = str(value)
        else:
            literal = "'" + str(value).replace("'", "''") + "'"
        field = field.clone()
        field.constraints = [*(field.constraints or []), SQL(f"DEFAULT {literal}")]
        return migrator.add_column(table, name, field, allow_not_null=True)
    return migrator.add_column(table, name, field)


@contextlib.contextmanager
def _foreign_keys_off(db: Database) -> Iterator[None]:
    """SQLite: no cascades while tables are altered (SQLite's own advice for schema changes);
    the references are checked once the migrations are done."""
    if not isinstance(db, SqliteDatabase):
        yield
        return
    db.execute_sql("PRAGMA foreign_keys = OFF")  # outside any transaction, or it does nothing
    try:
        yield
        broken = db.execute_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise SchemaError(f"migration left {len(broken)} broken reference(s), e.g. {broken[0]}")
    finally:
        db.execute_sql("PRAGMA foreign_keys = ON")


def check(db: Database, migrations: list[Migration], models: list) -> None:
    """Raise SchemaError unless the database is at this release's version and has every column
    the models read and write."""
    latest = migrations[-1].number if migrations else 0
    version = current_version(db)
    if version > latest:
        raise SchemaError(_ahead(version, latest))
    if version < latest:
        raise SchemaError(
            f"database schema is version {version}, this release needs {latest}: "
            "start the process that migrates it (it migrates at start-up) or restore the backup"
        )
    tables = set(db.get_tables())
    for model in models:
        table = model._meta.table_name
        if table not in tables:
            raise SchemaError(f"database schema is damaged: table {table} is missing")
        have = {c.name for c in db.get_columns(table)}
        missing = [f.column_name for f in model._meta.sorted_fields if f.column_name not in have]
        if missing:
            raise SchemaError(f"database schema is damaged: table {table} lacks column(s) {', '.join(missing)}")


def version_ok(db: Database, migrations: list[Migration]) -> bool:
    """A cheap health check: the database is still at this release's version (never raises)."""
    try:
        return current_version(db) == (migrations[-1].number if migrations else 0)
    except Exception:  # a health check must answer, whatever the database does
        return False


def _ahead(version: int, latest: int) -> str:
    return (
        f"database schema is version {version}, newer than this release knows ({latest}): "
        "a newer Rosma has migrated it; run that release (or restore a backup taken before the upgrade)"
    )


def _param(db: Database) -> str:
    return db.param


@contextlib.contextmanager
def _lock(db: Database) -> Iterator[None]:
    if isinstance(db, PostgresqlDatabase):
        key = zlib.crc32(b"rosma-schema-migrations")
        db.execute_sql("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            db.execute_sql("SELECT pg_advisory_unlock(%s)", (key,))
        return
    path = db.database if isinstance(db, SqliteDatabase) else ":memory:"
    if path == ":memory:" or path.startswith("file:"):
        yield
        return
    fd = os.open(f"{path}.migrate-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released when the descriptor closes, also if we die
        yield
    finally:
        os.close(fd)


def sqlite_backup(db: SqliteDatabase, target: Path) -> Path:
    """Copy a live SQLite database to ``target`` (mode 0600) with the online backup API.

    Consistent even while other connections write; raises OSError / sqlite3.Error.
    """
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    dest = sqlite3.connect(target)
    try:
        db.connection().backup(dest)
    finally:
        dest.close()
    os.chmod(target, 0o600)
    return target
