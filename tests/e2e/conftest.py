"""Fixtures for the end-to-end tests: a fresh PostgreSQL database and the running system."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse
from zoneinfo import ZoneInfo

import psycopg2
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import System  # noqa: E402

from central.core.reservations import available_dates  # noqa: E402

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def pg_database():
    """A fresh PostgreSQL database for one test; dropped afterwards. Fails if the server is down."""
    admin = os.environ.get("ROSMA_TEST_PG_URL", PG_DEFAULT)
    name = "rosma_e2e_" + secrets.token_hex(4)
    try:
        conn = psycopg2.connect(admin, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL is needed for the end-to-end tests (ROSMA_TEST_PG_URL): {exc}")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    u = urlparse(admin)
    yield urlunparse(u._replace(path="/" + name))
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@pytest.fixture
def days() -> list[str]:
    """Open reservation days after today (WIB): [0] is the edge's day, [1] another day."""
    today = dt.datetime.now(ZoneInfo("Asia/Jakarta")).date()
    return [d.isoformat() for d in available_dates(today, 7) if d > today]


@pytest.fixture
def system(tmp_path, pg_database, days):
    s = System(tmp_path, pg_database, days[0])
    try:
        s.start()
        yield s
    finally:
        s.stop()


@pytest.fixture
def system_with_printer(tmp_path, pg_database, days):
    """The running system with its ticket printer a virtual ESC/POS printer on TCP (paper sensor)."""
    s = System(tmp_path, pg_database, days[0], printer="virtual")
    try:
        s.start()
        yield s
    finally:
        s.stop()
