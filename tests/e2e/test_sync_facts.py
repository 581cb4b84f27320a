"""What the sync decides when the two sides disagree, with real processes: a reservation
cancelled at central while the offline edge checked it in, and an edge whose database was
replaced behind the same config."""

from __future__ import annotations

import pytest
import requests
from harness import wait_for

from central import db as central_db
from central.models import Node, NodeAlert, NodeStream, Reservation, Visit

pytestmark = pytest.mark.e2e


def at_central(pg_url: str, fn):
    central_db.connect(pg_url, migrate=False)
    try:
        return fn()
    finally:
        central_db.database.close()


def test_a_cancellation_at_central_loses_to_a_check_in_at_the_offline_edge(system, days):
    auth = system.patient("3201011705900001", "1990-05-17", "L")
    res = system.reserve(auth, days[0])
    wait_for(lambda: system.edge_status()["reservations"] >= 1, 30, "the reservation at the edge")
    system.broker.stop()  # the link is cut
    wait_for(lambda: not system.edge_status()["online"], 60, "the edge to notice")
    # the patient cancels on her phone (central), and at the same time is let in at the kiosk
    r = requests.post(f"{system.central_url}/api/v1/reservations/{res['rid']}/cancel", headers=auth, timeout=10)
    assert r.status_code == 200 and r.json()["reservation"]["status"] == "cancelled"
    ok = requests.post(system.edge_url + "/api/kiosk/scan", json={"text": res["qr_text"]}, timeout=10)
    assert ok.status_code == 201 and ok.json()["label"] == "U001"
    system.broker.start()
    wait_for(lambda: system.edge_status()["outbox_pending"] == 0, 90, "the outbox to drain")
    wait_for(lambda: system.edge_status()["change_seq"] >= 2, 60, "the cancellation to reach the edge")

    r = at_central(system.pg_url, lambda: Reservation.get(Reservation.rid == res["rid"]))
    assert r.status == "checked_in" and r.ticket_label == "U001"  # the check-in is what happened
    assert r.conflict == "cancelled-then-checked-in" and r.cancelled_at is not None  # both are on record
    mine = requests.get(f"{system.central_url}/api/v1/reservations", headers=auth, timeout=10).json()
    assert [x["status"] for x in mine["reservations"]] == ["checked_in"]  # counted once

    again = requests.post(system.edge_url + "/api/kiosk/scan", json={"text": res["qr_text"]}, timeout=10)
    assert again.status_code == 409 and again.json()["code"] == "again"
    assert "sudah dipakai" in again.json()["error"] and "U001" in again.json()["error"]
    assert "dibatalkan" not in again.json()["error"]
    shown = system.rosma("alerts", "central", "alerts", "--config", str(system.central_cfg))
    assert shown.wait(30) == 0
    assert f"reservation {res['rid']}" in system.log_text("alerts") and "cancelled-then-checked-in" in system.log_text(
        "alerts"
    )


def test_a_replaced_edge_database_is_noticed_and_its_events_are_not_dropped(system):
    first = requests.post(system.edge_url + "/api/kiosk/walkin", json={"payer": "UMUM"}, timeout=10)
    assert first.status_code == 201
    wait_for(lambda: system.edge_status()["outbox_pending"] == 0, 60, "the first events at central")
    system.stop_process("edge")
    # the SD card died: the node comes back on the same config with an empty database
    for path in (system.base / "edge").glob("edge.db*"):
        path.unlink()
    system.start_edge()
    second = requests.post(system.edge_url + "/api/kiosk/walkin", json={"payer": "BPJS"}, timeout=10)
    assert second.status_code == 201 and second.json()["label"] == "B001"
    wait_for(lambda: system.edge_status()["outbox_pending"] == 0, 60, "the new database's events at central")

    def facts():
        node = Node.live().where(Node.node_id == system.node_id).get()
        streams = sorted((s.up_seq, bool(s.incarnation)) for s in NodeStream.select().where(NodeStream.node == node))
        alerts = [a.message for a in NodeAlert.select().where(NodeAlert.node == node)]
        labels = sorted(v.label for v in Visit.select().where(Visit.node == node))
        return streams, alerts, labels

    streams, alerts, labels = at_central(system.pg_url, facts)
    assert labels == ["A001", "B001"]  # seq 1 of the new database was not taken for a repeat
    assert streams == [(1, True), (1, True)]  # two histories, kept apart
    assert len(alerts) == 1 and "berganti" in alerts[0]
    assert "new edge database" in system.log_text("sync")
    shown = system.rosma("alerts", "central", "alerts", "--config", str(system.central_cfg))
    assert shown.wait(30) == 0
    assert "new-incarnation" in system.log_text("alerts") and system.node_id in system.log_text("alerts")
