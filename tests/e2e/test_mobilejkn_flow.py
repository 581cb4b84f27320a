"""A Mobile JKN booking end to end with real processes: BPJS books through central's web service,
the booking reaches the edge through the change feed, the loket checks it in by kode booking
(there is no QR), and central's sync worker reports it to a fake BPJS (add, then panggil)."""

from __future__ import annotations

import os

import pytest
import requests
from harness import System, wait_for

from bpjs.fake import FakeBpjs
from central import bpjs_credentials

pytestmark = pytest.mark.e2e

NIK = "3201011705900001"
CARD = "0001234500002"  # Budi Santoso at the fake: aktif, registered at Puskesmas Cibinong
USER, PASSWORD = "bpjs-cibinong", "rahasia-mobile-jkn-2026"


@pytest.fixture
def fake():
    with FakeBpjs() as server:
        yield server


@pytest.fixture
def mjkn_system(tmp_path, pg_database, days, fake):
    secrets_dir = tmp_path / "secrets"
    credentials = bpjs_credentials.write_fake(secrets_dir / "bpjs.toml", fake.url)
    accounts = secrets_dir / "mobilejkn.toml"
    fd = os.open(accounts, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f'[cibinong]\nusername = "{USER}"\npassword = "{PASSWORD}"\n')
    settings = {"bpjs_credentials": str(credentials), "mobilejkn_accounts": str(accounts)}
    s = System(tmp_path / "run", pg_database, days[0], central_settings=settings)
    try:
        s.start()
        yield s
    finally:
        s.stop()


def test_a_mobile_jkn_booking_is_checked_in_at_the_loket_by_kode_booking_and_reported(mjkn_system, days, fake):
    system = mjkn_system
    base = system.central_url + "/api/mobilejkn/cibinong"
    token = requests.get(base + "/auth", headers={"x-username": USER, "x-password": PASSWORD}, timeout=10).json()
    assert token["metadata"]["code"] == 200, token
    headers = {"x-token": token["response"]["token"], "x-username": USER}
    body = {"nomorkartu": CARD, "nik": NIK, "nohp": "081298765432", "kodepoli": "001", "tanggalperiksa": days[0]}
    booked = requests.post(base + "/antrean", json={**body, "jampraktek": "09:00-10:00"}, headers=headers, timeout=10)
    assert booked.status_code == 200 and booked.json()["metadata"]["code"] == 200, booked.text
    code = booked.json()["response"]["nomorantrean"]

    wait_for(lambda: system.edge_status()["reservations"] >= 1, 30, "the booking to reach the edge")
    staff = system.staff()
    staff.get(system.edge_url + "/staff/loket-1", timeout=10)
    form = {"csrf_token": staff.headers["X-CSRF-Token"], "kode": code.lower()}
    checked = staff.post(system.edge_url + "/staff/loket-1/checkin", data=form, timeout=10)
    assert checked.status_code == 200 and "Check-in berhasil: nomor antrean U001" in checked.text, checked.text[-3000:]

    status = f"{base}/antrean/sisapeserta/{CARD}/001/{days[0]}"
    wait_for(
        lambda: requests.get(status, headers=headers, timeout=10).json()["response"]["nomorantrean"] == "U001",
        60,
        "central to learn of the check-in",
    )
    wait_for(lambda: fake.accepted("add"), 60, "the add report to reach BPJS")
    called = staff.post(system.edge_url + "/api/counters/poli-UMUM/next", timeout=10)
    assert called.status_code == 200 and called.json()["label"] == "U001", called.text
    wait_for(lambda: fake.accepted("panggil"), 60, "the panggil report to reach BPJS")
    add = fake.accepted("add")[0]["body"]
    assert (add["nomorkartu"], add["nik"], add["tanggalperiksa"], add["nomorantrean"]) == (CARD, NIK, days[0], "U001")

    cancel = requests.put(base + "/antrean/batal", json=body, headers=headers, timeout=10).json()
    assert cancel["metadata"]["code"] == 201 and "Sudah Dilayani" in cancel["metadata"]["message"]
    for name in ("central", "sync", "edge"):
        logged = system.log_text(name)
        assert NIK not in logged and CARD not in logged, name
