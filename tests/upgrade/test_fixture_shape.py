"""The release-0.1.0 upgrade fixture is complete and matches its manifest.

Uses only sqlite3, psycopg2 and the manifest: never the current code's models, which change
with every migration. The SQLite files are opened with ``immutable=1`` so that reading them
leaves no -wal/-shm beside the committed files.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import tomllib
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "release-0.1.0"
FILES = ("central.db", "central.pg.sql", "edge.db", "central.toml", "edge.toml", "manifest.json", "README.md")
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
PREVIOUS_RELEASE = "2af0a6f"


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((FIXTURE / "manifest.json").read_text())


def open_sqlite(name: str) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{FIXTURE / name}?immutable=1", uri=True)


def rows(conn, sql: str, *params) -> list[tuple]:
    cur = conn.cursor()
    try:
        cur.execute(sql, params)
        return cur.fetchall()
    finally:
        cur.close()


def sqlite_counts(conn) -> dict[str, int]:
    names = [r[0] for r in rows(conn, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {n: rows(conn, f'SELECT COUNT(*) FROM "{n}"')[0][0] for n in names}


def test_files_exist_small_and_alone():
    for name in FILES:
        path = FIXTURE / name
        assert path.is_file(), f"{path} is missing"
        assert 0 < path.stat().st_size < 1_000_000, f"{name} is {path.stat().st_size} bytes"
    extra = sorted(p.name for p in FIXTURE.iterdir() if p.name not in FILES)
    assert extra == [], f"unexpected files beside the fixture (WAL leftovers?): {extra}"


def test_manifest_names_the_previous_release(manifest):
    assert manifest["made_from_commit"].startswith(PREVIOUS_RELEASE)
    assert len(manifest["made_from_commit"]) == 40
    assert "make_fixture.py" in manifest["command"]["shell"]


@pytest.mark.parametrize("name,side", [("central.db", "central"), ("edge.db", "edge")])
def test_sqlite_files_have_the_tables_and_counts(manifest, name, side):
    header = (FIXTURE / name).read_bytes()[:100]
    assert header.startswith(b"SQLite format 3\x00")
    assert header[18] == header[19] == 2, "the old code's databases are in WAL mode"
    conn = open_sqlite(name)
    try:
        assert rows(conn, "PRAGMA integrity_check") == [("ok",)]
        counts = sqlite_counts(conn)
    finally:
        conn.close()
    assert sorted(counts) == manifest["tables"][side]
    assert counts == manifest["counts"][name]
    assert all(n > 0 for n in counts.values()), counts
    assert not (FIXTURE / f"{name}-wal").exists() and not (FIXTURE / f"{name}-shm").exists()


def central_facts(conn) -> dict:
    """What the manifest says about central, read back with plain SQL (SQLite or PostgreSQL)."""
    return {
        "reservations": dict(rows(conn, "SELECT rid, status FROM reservation")),
        "nodes": sorted(rows(conn, "SELECT id, node_id, up_seq FROM node")),
        "heads": dict(rows(conn, "SELECT node_id, MAX(seq) FROM change GROUP BY node_id")),
        "kids": [r[0] for r in rows(conn, "SELECT kid FROM signingkeyrow")],
        "labels": dict(rows(conn, "SELECT rid, ticket_label FROM reservation WHERE ticket_label IS NOT NULL")),
    }


def check_central(facts: dict, manifest: dict) -> None:
    res = manifest["reservations"]
    assert facts["reservations"] == {v["rid"]: v["central_status"] for v in res.values()}
    assert {v["central_status"] for v in res.values()} >= {"active", "cancelled", "checked_in", "done"}
    assert facts["labels"] == {v["rid"]: v["central_ticket_label"] for v in res.values() if v["central_ticket_label"]}
    assert facts["nodes"] == [(n["id"], n["node_id"], n["up_seq"]) for n in manifest["central_nodes"]]
    assert facts["heads"] == {n["id"]: n["change_head"] for n in manifest["central_nodes"]}
    retired = manifest["retired_node"]
    assert "~" in retired["node_id"] and (retired["id"], retired["node_id"], retired["up_seq"]) in facts["nodes"]
    current = manifest["central_node"]
    assert current["up_seq"] == manifest["edge"]["outbox_delivered_seqs"][-1]
    assert facts["kids"] == [manifest["signing_key_kid"]]


def test_central_sqlite_rows_match_the_manifest(manifest):
    conn = open_sqlite("central.db")
    try:
        check_central(central_facts(conn), manifest)
        patients = dict(rows(conn, "SELECT id, nik FROM patient"))
    finally:
        conn.close()
    assert patients == {p["id"]: p["nik"] for p in manifest["patients"].values()}
    assert len(patients) >= 3


def test_edge_rows_match_the_manifest(manifest):
    e = manifest["edge"]
    conn = open_sqlite("edge.db")
    try:
        tickets = {k: (label, state) for k, label, state in rows(conn, "SELECT key, label, state FROM ticket")}
        outbox = dict(rows(conn, "SELECT seq, delivered FROM outbox"))
        state = dict(rows(conn, "SELECT key, value FROM syncstate"))
        check_ins = dict(rows(conn, "SELECT rid, ticket_key FROM checkin"))
        counters = sorted(rows(conn, "SELECT day, queue, last FROM queuecounter"))
        reservations = dict(rows(conn, "SELECT rid, status FROM reservation"))
        jobs = dict(rows(conn, "SELECT id, status FROM printjob"))
        scans = [r[0] for r in rows(conn, "SELECT code FROM scanlog ORDER BY id")]
    finally:
        conn.close()
    assert tickets == {t["key"]: (t["label"], t["state"]) for t in e["tickets"]}
    assert {s for _label, s in tickets.values()} == {
        "waiting",
        "called",
        "serving",
        "done",
        "no_show",
        "cancelled",
        "transferred",
    }
    assert sorted(outbox) == list(range(1, len(outbox) + 1)), "outbox seqs are contiguous"
    assert [s for s, d in sorted(outbox.items()) if d] == e["outbox_delivered_seqs"]
    assert [s for s, d in sorted(outbox.items()) if not d] == e["outbox_undelivered_seqs"]
    assert e["outbox_undelivered_seqs"], "some events must still be waiting for delivery"
    assert int(state["change_seq"]) == e["change_seq_checkpoint"] < e["central_change_head"]
    assert check_ins == {c["rid"]: c["ticket_key"] for c in e["check_ins"]}
    assert counters == sorted((c["day"], c["queue"], c["last"]) for c in e["queue_counters"])
    assert reservations == {
        v["rid"]: v["edge_status"] for v in manifest["reservations"].values() if v["edge_status"] is not None
    }
    assert jobs == {j["id"]: j["status"] for j in e["print_jobs"]}
    assert scans == [s["code"] for s in e["scan_log"]]
    pending = manifest["reservations"]["checked_in_not_delivered"]
    assert pending["central_status"] == "active" and pending["rid"] in check_ins


def test_configs_carry_the_placeholders(manifest):
    ph = manifest["placeholder"]
    central = tomllib.loads((FIXTURE / "central.toml").read_text())
    edge = tomllib.loads((FIXTURE / "edge.toml").read_text())
    assert central["database_url"] == ph["central.toml"]["database_url"]
    assert ph["text"] in central["database_url"]
    assert edge["data_dir"] == ph["edge.toml"]["data_dir"] == ph["text"]
    assert edge["node_id"] == edge["mqtt_username"] == manifest["central_node"]["node_id"]
    assert edge["mqtt_password"], "the edge config holds its (throwaway) broker password"
    assert manifest["signing_key_kid"] in edge["qr_public_keys"]
    assert central["clock_start"] == edge["clock_start"] == manifest["configs"]["clock_start"]


def with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return urlunsplit(parts._replace(netloc=parts.netloc.replace(":" + parts.password + "@", ":***@")))
    return url


def admin(url: str, sql: str) -> None:
    conn = psycopg2.connect(url, connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


@pytest.fixture
def pg_scratch():
    """An empty PostgreSQL database, dropped afterwards. Fails (never skips) if the server is down."""
    url = os.environ.get("ROSMA_TEST_PG_URL", PG_DEFAULT)
    name = "rosma_fixture_shape_" + secrets.token_hex(4)
    try:
        admin(url, f'CREATE DATABASE "{name}"')
    except psycopg2.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is required but not reachable at {redact(url)} "
            f"(set ROSMA_TEST_PG_URL to a server where the user may CREATE DATABASE): {exc}",
            pytrace=False,
        )
    try:
        yield with_db(url, name)
    finally:
        admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_pg_dump_loads_into_an_empty_database_with_the_same_rows(manifest, pg_scratch):
    sql = (FIXTURE / "central.pg.sql").read_text()
    assert not any(line.startswith("\\") for line in sql.splitlines()), "psql meta-commands do not load via psycopg2"
    conn = psycopg2.connect(pg_scratch, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
        conn.commit()
    finally:
        conn.close()  # the dump empties this session's search_path (set_config(..., false))
    conn = psycopg2.connect(pg_scratch, connect_timeout=5)
    try:
        conn.autocommit = True
        names = [r[0] for r in rows(conn, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        counts = {n: rows(conn, f'SELECT COUNT(*) FROM public."{n}"')[0][0] for n in names}
        assert counts == manifest["counts"]["central.pg.sql"] == manifest["counts"]["central.db"]
        check_central(central_facts(conn), manifest)
        for table in names:  # new rows must not collide with the copied ids
            seq = rows(conn, "SELECT pg_get_serial_sequence(%s, 'id')", f'public."{table}"')[0][0]
            last = rows(conn, f"SELECT last_value FROM {seq}")[0][0]
            top = rows(conn, f'SELECT MAX(id) FROM public."{table}"')[0][0]
            assert last >= top, f"{seq} is at {last}, below max id {top}"
    finally:
        conn.close()
