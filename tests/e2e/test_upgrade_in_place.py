"""A node and a central provisioned by release 0.1.0 upgrade in place, as processes: this
release's ``rosma central run``, ``rosma central sync`` (started together on one database) and
``rosma edge run`` start on that release's config files and databases, migrate them, and the
day goes on: nothing lost, the undelivered events delivered, the missing change pulled."""

from __future__ import annotations

import json
import os
import shutil
import tomllib
from pathlib import Path

import psycopg2
import pytest
import requests
from harness import ROOT, System, wait_for

from central import db as central_db
from central.models import NodeStream, Reservation
from infra import migrations
from infra.toml_writer import toml_value
from provisioning.local_broker import LocalBroker, free_port

pytestmark = pytest.mark.e2e

FIXTURE = ROOT / "tests" / "upgrade" / "fixtures" / "release-0.1.0"


@pytest.fixture
def old_pg(pg_database):
    """The release-0.1.0 central database, loaded from its dump into a fresh PostgreSQL database."""
    conn = psycopg2.connect(pg_database)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute((FIXTURE / "central.pg.sql").read_text())
    conn.close()
    return pg_database


def _set(text: str, key: str, value) -> str:
    lines = [ln for ln in text.splitlines() if not ln.startswith(f"{key} =")]
    at = next((i for i, ln in enumerate(lines) if ln.startswith("[")), len(lines))  # before the first table
    return "\n".join([*lines[:at], f"{key} = {toml_value(value)}", *lines[at:]]) + "\n"


def test_release_0_1_0_node_and_central_start_on_this_release(tmp_path: Path, old_pg):
    manifest = json.loads((FIXTURE / "manifest.json").read_text())
    shutil.copy(FIXTURE / "edge.db", tmp_path / "edge.db")
    edge_toml = (FIXTURE / "edge.toml").read_text().replace("FIXTURE_DIR", str(tmp_path))
    central_toml = (FIXTURE / "central.toml").read_text()
    node_pw = tomllib.loads(edge_toml)["mqtt_password"]
    central_pw = tomllib.loads(central_toml)["mqtt_password"]
    system = System(tmp_path, old_pg, manifest["edge"]["day"])  # its processes, logs and clean-up
    # release 0.1.0's broker spoke plain MQTT on loopback; its configs have no mqtt_ca and still work
    system.broker = LocalBroker(tmp_path / "broker", {"central": central_pw, "pkm-cibinong": node_pw}, tls=False)
    system.broker.start()
    system.master, _slave = os.openpty()  # System.stop closes it
    edge_port, central_port = free_port(), free_port()
    for key, value in (
        ("database_url", old_pg),
        ("mqtt_port", system.broker.port),
        ("http_port", central_port),
        ("stream_port", free_port()),
        ("embedded_sync", False),
    ):
        central_toml = _set(central_toml, key, value)
    for key, value in (("mqtt_port", system.broker.port), ("http_port", edge_port)):
        edge_toml = _set(edge_toml, key, value)
    (tmp_path / "central.toml").write_text(central_toml)
    (tmp_path / "edge.toml").write_text(edge_toml)
    try:
        # web and sync start at the same moment on the old database: one of them migrates it
        system.rosma("central", "central", "run", "--config", str(tmp_path / "central.toml"))
        system.rosma("sync", "central", "sync", "--config", str(tmp_path / "central.toml"))
        system.central_url = f"http://127.0.0.1:{central_port}"
        system.wait_http(system.central_url + "/", "central")
        system.rosma("edge", "edge", "run", "--config", str(tmp_path / "edge.toml"))
        system.edge_url = f"http://127.0.0.1:{edge_port}"
        system.wait_http(system.edge_url + "/api/status", "edge")

        status = wait_for(
            # change 8 is the old release's last; then central tells the old node its puskesmas's
            # details, poli and closed days as the back office keeps them (central.feed)
            lambda: (s := system.edge_status())["outbox_pending"] == 0 and s["change_seq"] > 8 and s,
            90,
            "the five undelivered events to go up and the changes after 8 to come down",
        )
        assert status["healthy"] is True and status["reservations"] == 7
        walkin = requests.post(system.edge_url + "/api/kiosk/walkin", json={"payer": "UMUM"}, timeout=10)
        assert walkin.status_code == 201 and walkin.json()["label"] == "A005"  # numbering went on

        central_db.connect(old_pg, migrate=False)
        try:
            versions = [
                v
                for (v,) in central_db.database.execute_sql(
                    f"SELECT version FROM {migrations.TABLE} ORDER BY version"
                ).fetchall()
            ]
            late = Reservation.get(Reservation.rid == manifest["reservations"]["checked_in_not_delivered"]["rid"])
            stream = NodeStream.get(NodeStream.node == manifest["central_node"]["id"])
        finally:
            central_db.database.close()
        assert versions == [m.number for m in central_db.MIGRATIONS]
        assert (late.status, late.ticket_label) == ("checked_in", "G001")
        assert stream.incarnation and stream.up_seq >= 29
        logs = system.log_text("central") + system.log_text("sync")
        assert logs.count("schema migration 0002") == 1  # exactly one process migrated
        assert (tmp_path / "backups").is_dir() and list((tmp_path / "backups").glob("edge-v0-*.db"))

        # a patient of release 0.1.0 had no PIN: her NIK alone no longer opens the account; the
        # old config sends no codes to phones, so Lupa PIN sends her to the loket, whose staff
        # (an account the admin adds after the upgrade) give her a code once they saw her KTP
        nik = manifest["reservations"]["future_active"]["patient_nik"]
        birth = "1990-08-17"
        api = system.central_url + "/api/v1"
        nik_only = requests.post(api + "/login", json={"nik": nik, "birth_date": birth}, timeout=10)
        assert nik_only.status_code == 401, nik_only.text
        forgot = requests.post(api + "/pin/forgot", json={"nik": nik, "birth_date": birth}, timeout=10)
        assert forgot.status_code == 503 and "loket" in forgot.json()["error"], forgot.text
        system.central_cfg = tmp_path / "central.toml"
        system.add_staff("petugas.loket", "petugas_loket")
        code = system.loket_code(system.central_staff("petugas.loket"), nik, birth)
        reset = requests.post(
            api + "/pin/reset", json={"nik": nik, "birth_date": birth, "code": code, "pin": "592017"}, timeout=10
        )
        assert reset.status_code == 200, reset.text
        login = requests.post(api + "/login", json={"nik": nik, "birth_date": birth, "pin": "592017"}, timeout=10)
        assert login.status_code == 200, login.text
        mine = requests.get(
            api + "/reservations", headers={"Authorization": "Bearer " + login.json()["token"]}, timeout=10
        )
        assert manifest["reservations"]["future_active"]["rid"] in {r["rid"] for r in mine.json()["reservations"]}
        # the QR key release 0.1.0 kept in the database is now a 0600 file (the same key: its passes verify)
        key_files = list((tmp_path / "var" / "central" / "keys").glob("qr-*.key"))
        assert len(key_files) == 1 and oct(key_files[0].stat().st_mode & 0o777) == "0o600"
        for name in ("central", "sync", "edge"):
            assert "Traceback" not in system.log_text(name), system.log_text(name)[-3000:]
    finally:
        system.stop()
