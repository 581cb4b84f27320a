"""Fixtures for central: a clock the tests control, an app on SQLite and on a real PostgreSQL,
clients, patients, and the app under a real HTTP server with a real Chromium to open it.

``ROSMA_TEST_CLOCK`` (an ISO date, 08.00 WIB, or a datetime with its zone) starts central's clock
there for every test, e.g. ``ROSMA_TEST_CLOCK=2026-03-18`` runs the suite during Idulfitri's
closed days; unset, the clock is the system's. Either way no test may assume that today is an
ordinary weekday: a fixture that needs open days asks the booking window for them.
"""

from __future__ import annotations

import os
import re
import secrets
from contextlib import ExitStack
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
from playwright.sync_api import sync_playwright

from central import identity, services
from central.app import build
from central.config import CentralConfig, from_dict
from central.models import Patient
from protocol.clock import Clock
from tests.central.live import CHROMIUM, CHROMIUM_ARGS, SHOTS, serving

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "test-secret-key-0123456789abcdef0123456789"

# Valid NIKs (region 320101 = Kabupaten Bogor) with the matching birth date and sex.
ANI = {
    "name": "Ani Lestari",
    "nik": "3201015708900002",
    "birth_date": "1990-08-17",
    "sex": "P",
    "address": "Kp. Babakan RT 01/02, Cibinong",
    "phone": "081234567890",
    "pin": "204816",
}
BUDI = {
    "name": "Budi Santoso",
    "nik": "3201011203850001",
    "birth_date": "1985-03-12",
    "sex": "L",
    "address": "Jl. Raya Ciawi No. 5",
    "phone": "+62 812-9876-5432",
    "pin": "739150",
}


@pytest.fixture
def clock_start() -> str:
    """The moment central's clock starts at in this test: ROSMA_TEST_CLOCK's ("" = the system
    clock). A module whose data is of set days overrides this fixture with a moment after them."""
    value = os.environ.get("ROSMA_TEST_CLOCK", "").strip()
    return f"{value}T08:00:00+07:00" if len(value) == 10 else value


@pytest.fixture(autouse=True)
def clock(monkeypatch, clock_start) -> Clock:
    """The clock central's code reads in this test, outside a request (``services.now_wib``) and in
    it (the app's, from ``clock_start`` in the configs below)."""
    test_clock = Clock(clock_start)
    monkeypatch.setattr(services, "SYSTEM_CLOCK", test_clock)
    return test_clock


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


@pytest.fixture
def central_config(tmp_path, clock_start) -> CentralConfig:
    """A config on a fresh SQLite file, with the seed puskesmas."""
    return from_dict(
        {
            "database_url": f"sqlite:///{tmp_path}/central.db",
            "secret_key": SECRET,
            "seed": True,
            "keys_dir": str(tmp_path / "keys"),
            "notify_uri": "log://",
            "clock_start": clock_start,
        }
    )


@pytest.fixture(scope="session")
def pg_url():
    """A fresh PostgreSQL database for this test session, dropped at the end.

    Fails (never skips) when the server at ROSMA_TEST_PG_URL is unreachable.
    """
    admin = os.environ.get("ROSMA_TEST_PG_URL", PG_DEFAULT)
    name = "rosma_test_" + secrets.token_hex(4)
    try:
        conn = psycopg2.connect(admin, connect_timeout=5)
    except psycopg2.OperationalError as e:
        pytest.fail(
            f"PostgreSQL is required but not reachable at {_redact(admin)} "
            f"(set ROSMA_TEST_PG_URL to a server where user may CREATE DATABASE): {e}",
            pytrace=False,
        )
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    yield _with_db(admin, name)
    conn = psycopg2.connect(admin, connect_timeout=5)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def _truncate(url: str) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [row[0] for row in cur.fetchall() if row[0] != "rosma_schema"]  # keep the migrations done
        if tables:
            assert all(re.fullmatch(r"[a-z_]+", t) for t in tables)
            cur.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
    conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_config(request, tmp_path, clock_start) -> CentralConfig:
    """The same config on SQLite and on PostgreSQL (emptied before each test)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/central.db"
    else:
        url = request.getfixturevalue("pg_url")
        _truncate(url)
    return from_dict(
        {
            "database_url": url,
            "secret_key": SECRET,
            "seed": True,
            "keys_dir": str(tmp_path / "keys"),
            "notify_uri": "log://",
            "clock_start": clock_start,
        }
    )


@pytest.fixture
def app(db_config):
    """The central app on each database, seeded."""
    application = build(db_config)
    application.config["TESTING"] = True
    yield application
    db = application.extensions["rosma.db"]
    if not db.is_closed():
        db.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def visit_date(clock):
    """The first open day after today in the booking window (so no slot is over yet), as a patient
    could book it whatever day the clock says: a Sunday, a holiday, the last day of a year. When
    every day after today in the window is closed (the day before Idulfitri's week), today."""
    today = clock.today()
    window = services.booking_window(7)
    ahead = [day for day in window if day > today] or window
    if not ahead:
        pytest.fail(f"no open day in the booking window from {today}", pytrace=False)
    return ahead[0]


@pytest.fixture
def ani_data() -> dict:
    """Registration data of a woman (NIK day + 40)."""
    return dict(ANI)


@pytest.fixture
def budi_data() -> dict:
    """Registration data of a man."""
    return dict(BUDI)


def register(person: dict) -> Patient:
    """Register through the real service (with its PIN) and return the account."""
    identity.register(person, identity.Client("198.51.100.1"), now=services.now_wib())
    return Patient.get(Patient.nik == person["nik"])


@pytest.fixture
def ani(app, ani_data):
    return register(ani_data)


@pytest.fixture
def budi(app, budi_data):
    return register(budi_data)


def _csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


@pytest.fixture
def csrf_from():
    """Function: the CSRF token of the first form on a page."""
    return _csrf_from


@pytest.fixture
def web_login():
    """Function: log a test client in through /masuk; returns the session's CSRF token."""

    def login(client, person: dict) -> str:
        token = _csrf_from(client.get("/masuk").text)
        data = {"csrf_token": token, "nik": person["nik"], "birth_date": person["birth_date"], "pin": person["pin"]}
        response = client.post("/masuk", data=data)
        assert response.status_code == 302, response.text
        return _csrf_from(client.get("/reservasi/baru").text)

    return login


@pytest.fixture
def auth_header():
    """Function: the API Authorization header for a registered patient."""

    def header(client, person: dict) -> dict:
        body = {"nik": person["nik"], "birth_date": person["birth_date"], "pin": person["pin"]}
        response = client.post("/api/v1/login", json=body)
        assert response.status_code == 200, response.json
        return {"Authorization": "Bearer " + response.json["token"]}

    return header


# ---- the app under a real HTTP server, opened in a real Chromium ------------------------------


@pytest.fixture
def serve():
    """Function: ``serve(app)`` -> base URL; the app (built, with the data the test wants) is served
    until the test ends."""
    with ExitStack() as stack:
        yield lambda app: stack.enter_context(serving(app))


@pytest.fixture
def site(central_config, serve) -> str:
    """The seeded app on SQLite under waitress; its base URL. A module that needs accounts or data
    defines its own ``site``: ``build(central_config)``, add them, ``return serve(app)``."""
    return serve(build(central_config))


@pytest.fixture
def chromium():
    """Debian's Chromium through Playwright for one test; fails (never skips) when it is missing."""
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is required for this test: {CHROMIUM} not found (apt install chromium)", pytrace=False)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
