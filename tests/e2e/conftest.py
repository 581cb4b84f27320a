"""Fixtures for the end-to-end tests: a fresh PostgreSQL database, the running system and a Chromium."""

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
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).parent))

from harness import CHROMIUM, CHROMIUM_ARGS, SHOTS, System  # noqa: E402

from central.core.reservations import available_dates  # noqa: E402
from central.holidays_data import HOLIDAYS_2026  # noqa: E402

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


def open_days_after_today() -> list[str]:
    """Two open days after today (WIB; ROSMA_TEST_CLOCK's date when set) as the product picks them:
    without Sundays and without the closed days a fresh database holds (the national holidays and
    cuti bersama of migration 5). The first is the first open day after today (however long the closed
    days before it, as in Idulfitri's week) whose booking window holds another: the second."""
    start = os.environ.get("ROSMA_TEST_CLOCK", "").strip()
    today = dt.date.fromisoformat(start[:10]) if start else dt.datetime.now(ZoneInfo("Asia/Jakarta")).date()
    closed = {dt.date.fromisoformat(day): name for day, name, _kind in HOLIDAYS_2026}
    for first in available_dates(today + dt.timedelta(days=1), 30, closed=closed):
        days = [d.isoformat() for d in available_dates(first, 7, closed=closed)]
        if len(days) >= 2:
            return days
    raise AssertionError(f"no two open days in a week in the month after {today}")


@pytest.fixture
def days() -> list[str]:
    """Open reservation days after today (WIB): [0] is the edge's day, [1] another day."""
    return open_days_after_today()


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


@pytest.fixture
def browser():
    """Debian's Chromium through Playwright, for one test; screenshots go under ``SHOTS``."""
    (SHOTS / "backoffice").mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
