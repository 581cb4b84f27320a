"""Bad input at the edge and on the wire: a clear message, nothing printed or queued twice,
and the sync keeps running."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest
import requests
from harness import wait_for

from central import db as central_db
from central.models import Visit
from protocol import base45, topics

pytestmark = pytest.mark.e2e


def flip_one_byte(text: str) -> str:
    raw = bytearray(base45.decode(text[4:]))
    raw[len(raw) // 2] ^= 0x01
    return "RS1:" + base45.encode(bytes(raw))


def mqtt_client(system, username: str, password: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=username, protocol=mqtt.MQTTv5)
    c.username_pw_set(username, password)
    connected = threading.Event()
    c.on_connect = lambda *a: connected.set()
    c.tls_set(ca_certs=str(system.broker.ca_path))
    c.connect("127.0.0.1", system.broker.port)
    c.loop_start()
    assert connected.wait(10), "test client could not connect"
    return c


def test_bad_qr_codes_are_refused_clearly_and_nothing_is_printed_twice(system, days):
    auth = system.patient("3201015708920002", "1992-08-17", "P")
    good = system.reserve(auth, days[0])["qr_text"]
    other_day = system.reserve(auth, days[1])["qr_text"]
    other_pkm = system.reserve(auth, days[0], puskesmas="ciawi")["qr_text"]
    wait_for(lambda: system.edge_status()["reservations"] >= 2, 30, "reservations to reach the edge")
    events = system.events()
    try:
        cases = [
            ("changed-byte", flip_one_byte(good), "signature", "tidak sah"),
            ("other-puskesmas", other_pkm, "other-puskesmas", "puskesmas lain"),
            ("other-day", other_day, "not-today", "bukan hari ini"),
            ("not-a-pass", "https://example.com/promo", "format", "tidak dikenali"),
        ]
        for case_id, text, code, words in cases:
            system.scan(text)
            ev = events.expect("scan")
            assert not ev["ok"], case_id
            assert ev["code"] == code, case_id
            assert words in ev["message"], (case_id, ev["message"])
        assert system.tickets_printed() == [], "a refused QR must print nothing"

        system.scan(good)
        first = events.expect("scan")
        assert first["ok"] and first["label"] == "U001"
        wait_for(lambda: len(system.tickets_printed()) == 1, 30, "the one ticket")
        system.scan(good)
        again = events.expect("scan")
        assert not again["ok"] and again["code"] == "again"
        assert "U001" in again["message"] and "sudah dipakai" in again["message"]
        # the same through the kiosk's HTTP endpoint
        r = requests.post(system.edge_url + "/api/kiosk/scan", json={"text": good}, timeout=10)
        assert r.status_code == 409 and r.json()["code"] == "again"
    finally:
        events.close()
    board = requests.get(system.edge_url + "/api/board", timeout=5).json()
    assert board["queues"]["POLI-UMUM"]["waiting"] == ["U001"]
    scans = requests.get(system.edge_url + "/api/kiosk/scans", timeout=5).json()
    assert [s["code"] for s in scans] == ["signature", "other-puskesmas", "not-today", "format", "ok", "again", "again"]
    assert len(system.tickets_printed()) == 1
    for s in scans:  # the scan log keeps outcomes, never the scanned text
        assert "RS1:" not in s["message"]


def test_malformed_mqtt_messages_are_dropped_and_sync_goes_on(system, days):
    # The broker ties the client id to the username, so a second "node" or "central" client
    # would take over the real one's session: stop the real one while we impersonate it.
    system.stop_process("edge")
    node = mqtt_client(system, system.node_id, system.node_pw)
    up = topics.up(system.node_id, topics.UP_EVENTS)
    for payload in (b"\xff\xfe not json", b'{"m":"events","events":[{"seq":"x"}]}', b"[]", b'{"m":"ack","upto":1}'):
        node.publish(up, payload, qos=1).wait_for_publish(10)
    node.disconnect()
    node.loop_stop()
    wait_for(lambda: system.log_text("sync").count("dropped a malformed message") >= 4, 30, "central to log 4 drops")
    system.start_edge()

    system.stop_process("sync")
    central = mqtt_client(system, "central", system.central_pw)
    down = topics.down(system.node_id, topics.DOWN_CHANGES)
    central.publish(
        # (a change type the edge does not know is kept for its next release, not dropped: see
        # protocol/changes.py; what must be dropped is a change that is not even well formed)
        down,
        b'{"m":"changes","changes":[{"seq":1,"type":"drop.tables","data":"DROP TABLE"}],"head":1}',
        qos=1,
    ).wait_for_publish(10)
    central.publish(down, b"\x00\x01garbage", qos=1).wait_for_publish(10)
    central.disconnect()
    central.loop_stop()
    wait_for(lambda: system.log_text("edge").count("dropped a malformed message") >= 2, 30, "the edge to log the drops")
    system.start_sync()

    # the sync still runs both ways: a walk-in reaches central, a new reservation reaches the edge
    r = requests.post(system.edge_url + "/api/kiosk/walkin", json={"payer": "BPJS"}, timeout=10)
    assert r.status_code == 201 and r.json()["label"] == "B001"

    def visit_at_central():
        central_db.connect(system.pg_url)
        try:
            return Visit.get_or_none(Visit.label == "B001")
        finally:
            central_db.database.close()

    wait_for(visit_at_central, 30, "the walk-in visit at central")
    auth = system.patient("3201011705900001", "1990-05-17", "L")
    system.reserve(auth, days[0])
    wait_for(lambda: system.edge_status()["reservations"] == 1, 30, "the reservation at the edge")
    for name in ("sync", "edge"):
        log = system.log_text(name)
        assert "Traceback" not in log, log[log.find("Traceback") - 500 :][:4000]


def test_invalid_nik_gets_a_field_error(system):
    body = {
        "name": "Siti",
        "nik": "320101570892000",
        "birth_date": "1992-08-17",
        "sex": "P",
        "address": "Ciawi",
        "phone": "081234567890",
    }
    r = requests.post(system.central_url + "/api/v1/patients", json=body, timeout=10)
    assert r.status_code == 400
    assert "16 digit" in r.json()["fields"]["nik"]
    body["nik"] = "3201011705900001"  # a man's NIK (day 17) for a woman
    r = requests.post(system.central_url + "/api/v1/patients", json=body, timeout=10)
    assert r.status_code == 400 and "nik" in r.json()["fields"]
