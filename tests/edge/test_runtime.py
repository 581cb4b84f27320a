"""The edge runtime tells the truth: a database of another release is refused at start-up with a
reason, a schema that changes under a running node fails its health check, and an operation that
fails before its answer is ready leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys

import pytest

from edge import db as edge_db
from edge.app import Runtime, create_app
from edge.config import from_dict, write
from edge.models import Outbox, PrintJob, Ticket
from edge.web import api, pages
from infra.migrations import SchemaError

CFG = {
    "node_id": "pkm-test",
    "puskesmas_code": "cibinong",
    "qr_public_keys": {
        "56475aa75463474c": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
    },  # a key: an edge without one checks nobody in
    "polis": [{"code": "UMUM", "name": "Poli Umum", "prefix": "U"}],
}


@pytest.fixture
def cfg(tmp_path):
    return from_dict({**CFG, "data_dir": str(tmp_path / "edge")})


@pytest.fixture
def app(cfg):
    rt = Runtime(cfg)
    a = create_app(cfg, rt)
    yield a
    rt.stop.set()
    rt.db.close()


def _newer_release_was_here(cfg) -> None:
    db = edge_db.connect(cfg.db_path)
    db.execute_sql("INSERT INTO rosma_schema (version, name, applied_at) VALUES (99, 'future', 'x')")
    db.close()


def test_a_database_of_a_newer_release_is_refused_with_the_reason(cfg):
    _newer_release_was_here(cfg)
    with pytest.raises(SchemaError, match="version 99, newer than this release"):
        Runtime(cfg)


def test_rosma_edge_run_refuses_to_serve_a_newer_database_and_says_why(cfg, tmp_path):
    _newer_release_was_here(cfg)
    write(tmp_path / "edge.toml", cfg)
    run = subprocess.run(
        [sys.executable, "-m", "rosma.cli", "edge", "run", "--config", str(tmp_path / "edge.toml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "database schema is version 99, newer than this release knows" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_damaged_database_is_refused_naming_what_is_missing(cfg):
    db = edge_db.connect(cfg.db_path)
    db.execute_sql("ALTER TABLE ticket DROP COLUMN serving_at")
    db.close()
    with pytest.raises(SchemaError, match="table ticket lacks column"):
        Runtime(cfg)


def test_a_schema_changed_under_a_running_node_fails_its_health_check(app):
    client = app.test_client()
    ok = client.get("/api/status")
    assert ok.status_code == 200 and ok.json["healthy"] is True
    app.extensions["rosma"].db.execute_sql("INSERT INTO rosma_schema (version, name, applied_at) VALUES (99, 'x', 'x')")
    bad = client.get("/api/status")
    assert bad.status_code == 503 and bad.json["healthy"] is False
    assert bad.json["problems"] == ["database schema does not match this release"]
    assert not app.extensions["rosma"].healthy()


def _token(client) -> str:
    page = client.get("/kiosk").text
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def _boom(*_args, **_kwargs):
    raise RuntimeError("the page could not be built")


@pytest.mark.parametrize(
    "target, call",
    [
        pytest.param(
            pages, lambda c: c.post("/kiosk/ambil", data={"payer": "UMUM", "csrf_token": _token(c)}), id="kiosk-page"
        ),
        pytest.param(api, lambda c: c.post("/api/kiosk/walkin", json={"payer": "UMUM"}), id="kiosk-api"),
    ],
)
def test_a_walk_in_whose_answer_fails_leaves_no_ticket_no_print_and_nothing_for_central(app, monkeypatch, target, call):
    monkeypatch.setattr(target, "_ticket_page" if target is pages else "ticket_json", _boom)
    sub = app.extensions["rosma"].bus.subscribe()
    resp = call(app.test_client())
    assert resp.status_code == 500
    assert "Maaf, terjadi kesalahan" in resp.text
    assert Ticket.select().count() == 0 and Outbox.select().count() == 0 and PrintJob.select().count() == 0
    assert sub.get(timeout=0.05) is None  # nothing was printed or announced either
    monkeypatch.undo()
    assert call(app.test_client()).status_code in (200, 201)  # the same kiosk goes on
    assert Ticket.get().label == "A001"  # the failed one never took a number
    got = []
    while (posted := sub.get(timeout=0.2)) is not None:
        got.append(type(posted.message).__name__)
    assert got == ["TicketIssued", "PrintQueued"]


def test_a_backup_copy_gets_its_own_identity_so_a_restore_is_not_taken_for_the_live_database(cfg):
    import sqlite3

    from edge import state

    db = edge_db.connect(cfg.db_path)
    live = state.incarnation()
    edge_db._backup(db, cfg.db_path, 2)  # what a future migration does first
    (copy,) = (cfg.db_path.parent / "backups").glob("edge-v2-*.db")
    conn = sqlite3.connect(copy)
    try:
        (restored,) = conn.execute("SELECT value FROM syncstate WHERE key = 'incarnation'").fetchone()
    finally:
        conn.close()
    assert restored != live and len(restored) == 16
    db.close()
