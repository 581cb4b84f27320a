"""Antrean FKTP end to end with real processes: a BPJS patient books online, checks in with her QR
at the kiosk and is called at the poli; central's sync worker reports add and then panggil to a
fake BPJS (over real HTTP, signed), and the back office counts them as sent."""

from __future__ import annotations

import re

import pytest
import requests
from harness import System, wait_for

from bpjs.fake import FakeBpjs
from central import bpjs_credentials

pytestmark = pytest.mark.e2e

NIK, BIRTH = "3201011705900001", "1990-05-17"
CARD = "0001234500002"  # Budi Santoso at the fake: aktif, registered at Puskesmas Cibinong


@pytest.fixture
def fake():
    with FakeBpjs() as server:
        yield server


@pytest.fixture
def bpjs_system(tmp_path, pg_database, days, fake):
    credentials = bpjs_credentials.write_fake(tmp_path / "secrets" / "bpjs.toml", fake.url)
    s = System(tmp_path / "run", pg_database, days[0], central_settings={"bpjs_credentials": str(credentials)})
    try:
        s.start()
        yield s
    finally:
        s.stop()


def test_a_bpjs_reservation_checked_in_at_the_kiosk_and_called_is_reported_add_then_panggil(bpjs_system, days, fake):
    system = bpjs_system
    auth = system.patient(NIK, BIRTH, "L")
    body = {"puskesmas": "cibinong", "poli": "UMUM", "date": days[0], "slot": "09:00-10:00", "payer": "BPJS"}
    r = requests.post(
        system.central_url + "/api/v1/reservations", json={**body, "bpjs_no": CARD}, headers=auth, timeout=30
    )
    assert r.status_code == 201, r.text
    rid = r.json()["reservation"]["rid"]
    text = system.qr_text_from_png(auth, rid)
    wait_for(lambda: system.edge_status()["reservations"] >= 1, 30, "the reservation to reach the edge")
    events = system.events()
    try:
        system.scan(text)
        scan = events.expect("scan")
        assert scan["ok"] and scan["label"] == "U001", scan
        wait_for(lambda: fake.accepted("add"), 60, "the add report to reach BPJS")
        assert fake.accepted("panggil") == []  # not called yet
        called = system.staff().post(system.edge_url + "/api/counters/poli-UMUM/next", timeout=10)
        assert called.status_code == 200 and called.json()["label"] == "U001", called.text
    finally:
        events.close()
    wait_for(lambda: fake.accepted("panggil"), 60, "the panggil report to reach BPJS")
    assert [r["kind"] for r in fake.reported] == ["add", "panggil"]  # once each, in order
    add = fake.accepted("add")[0]["body"]
    assert (add["nomorkartu"], add["nik"], add["kodepoli"]) == (CARD, NIK, "001")
    assert (add["tanggalperiksa"], add["nomorantrean"], add["angkaantrean"]) == (days[0], "U001", 1)
    panggil = fake.accepted("panggil")[0]["body"]
    assert (panggil["nomorkartu"], panggil["tanggalperiksa"], panggil["status"]) == (CARD, days[0], 1)
    assert CARD not in system.log_text("sync") and NIK not in system.log_text("sync")

    admin = system.central_staff("admin.pkm")
    page = admin.get(system.central_url + "/petugas/bpjs/", timeout=10)
    assert page.status_code == 200
    assert re.search(r'id="jumlah-terkirim">2<', page.text) and re.search(r'id="jumlah-gagal">0<', page.text)
    assert CARD not in page.text and NIK not in page.text
