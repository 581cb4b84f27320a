"""The release-0.1.0 fixture, copied for one test: configs with their paths rewritten, the edge
database, and central on SQLite or on a fresh PostgreSQL database loaded from the dump."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "release-0.1.0"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def manifest() -> dict:
    return json.loads((FIXTURE / "manifest.json").read_text())


def _admin_url() -> str:
    return os.environ.get("ROSMA_TEST_PG_URL", PG_DEFAULT)


def _connect(url: str):
    try:
        return psycopg2.connect(url, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL is needed for the upgrade tests (ROSMA_TEST_PG_URL): {exc}", pytrace=False)


@pytest.fixture
def pg_release_db():
    """A fresh PostgreSQL database holding the release-0.1.0 central dump; dropped afterwards."""
    admin = _connect(_admin_url())
    admin.autocommit = True
    name = "rosma_upgrade_" + secrets.token_hex(4)
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(_admin_url())._replace(path="/" + name))
    conn = _connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute((FIXTURE / "central.pg.sql").read_text())
    conn.close()
    yield url
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def release(request, tmp_path) -> dict:
    """The fixture's files in ``tmp_path`` as release 0.1.0 left them; central on each database."""
    for name in ("central.db", "edge.db"):
        shutil.copy(FIXTURE / name, tmp_path / name)
    url = f"sqlite:///{tmp_path / 'central.db'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_release_db")
    central_toml = (FIXTURE / "central.toml").read_text().replace("FIXTURE_DIR", str(tmp_path))
    central_toml = central_toml.replace(f'"sqlite:///{tmp_path}/central.db"', json.dumps(url))
    (tmp_path / "central.toml").write_text(central_toml)
    (tmp_path / "edge.toml").write_text((FIXTURE / "edge.toml").read_text().replace("FIXTURE_DIR", str(tmp_path)))
    for name in ("central.toml", "edge.toml"):
        (tmp_path / name).chmod(0o600)
    return {"dir": tmp_path, "central_url": url, "db": request.param}
