"""Central's migrations: applied once even when several processes start together on one
database, and a process refuses a database of a newer release with the reason."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

from central import config as central_config
from central import db as central_db
from infra import migrations

ROOT = Path(__file__).resolve().parents[2]
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


# Each process waits for the "go" file, then opens (and so migrates) the database: they race.
@pytest.fixture
def fresh_pg():
    """An empty PostgreSQL database of this test's own (nobody has migrated it); dropped after."""
    admin = psycopg2.connect(os.environ.get("ROSMA_TEST_PG_URL", PG_DEFAULT), connect_timeout=5)
    admin.autocommit = True
    name = "rosma_migrate_" + secrets.token_hex(4)
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(urlsplit(os.environ.get("ROSMA_TEST_PG_URL", PG_DEFAULT))._replace(path="/" + name))
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


RACER = """
import logging, os, sys, time
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
go = sys.argv[2]
while not os.path.exists(go):
    time.sleep(0.005)
from central import db
db.connect(sys.argv[1])
print("ok")
"""


def _race(url: str, tmp_path: Path, n: int = 4) -> list[subprocess.CompletedProcess]:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, url, str(go)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    go.touch()
    return [subprocess.CompletedProcess(p.args, p.wait(60), *p.communicate()) for p in procs]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_processes_starting_together_apply_each_migration_exactly_once(kind, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'central.db'}" if kind == "sqlite" else request.getfixturevalue("fresh_pg")
    results = _race(url, tmp_path)
    for r in results:
        assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    db = central_db.open_database(url)
    rows = db.execute_sql(f"SELECT version FROM {migrations.TABLE} ORDER BY version").fetchall()
    db.close()
    assert [v for (v,) in rows] == [m.number for m in central_db.MIGRATIONS]
    for m in central_db.MIGRATIONS:  # each process logs the migrations it applied: exactly one did each
        assert sum(r.stderr.count(f"schema migration {m.number:04d}") for r in results) == 1


def test_rosma_central_run_refuses_a_database_of_a_newer_release(tmp_path):
    url = f"sqlite:///{tmp_path / 'central.db'}"
    db = central_db.connect(url)
    db.execute_sql(f"INSERT INTO {migrations.TABLE} (version, name, applied_at) VALUES (99, 'future', 'x')")
    db.close()
    cfg = central_config.from_dict({"database_url": url, "secret_key": "s" * 40})
    central_config.write(tmp_path / "central.toml", cfg)
    env = {**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(tmp_path / "escpos")}
    for cmd in (["central", "run"], ["central", "sync"]):
        run = subprocess.run(
            [sys.executable, "-m", "rosma.cli", *cmd, "--config", str(tmp_path / "central.toml")],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env=env,
        )
        assert run.returncode == 2, run.stderr
        assert "database schema is version 99, newer than this release knows" in run.stderr
