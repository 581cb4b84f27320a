"""BPJS at the kiosk end to end with real processes and the fake BPJS over real HTTP.

A walk-in types her card number at the kiosk: the edge checks it with PCare, prints a B ticket,
and sends the number to central in its ``bpjs.checked`` event; the loket calls her and sends her
to the poli; central reports her to Antrean FKTP (add when her poli is known, panggil when the
poli calls her). A Mobile JKN booking (no QR) is checked in at the kiosk by the patient's NIK and
reported. Neither number appears in any process's log.
"""

from __future__ import annotations

import os

import pytest
import requests
from harness import System, csrf_of, wait_for

from bpjs.fake import FakeBpjs
from central import bpjs_credentials

pytestmark = pytest.mark.e2e

CARD, NIK = "0001234500002", "3201011705900001"  # Budi Santoso at the fake: aktif, registered at Cibinong
USER, PASSWORD = "bpjs-cibinong", "rahasia-mobile-jkn-2026"


@pytest.fixture
def fake():
    with FakeBpjs() as server:
        yield server


@pytest.fixture
def bpjs_system(tmp_path, pg_database, days, fake):
    secrets_dir = tmp_path / "secrets"
    central_file = bpjs_credentials.write_fake(secrets_dir / "bpjs.toml", fake.url)
    edge_file = bpjs_credentials.write_fake(secrets_dir / "edge-bpjs.toml", fake.url, only="cibinong")
    accounts = secrets_dir / "mobilejkn.toml"
    fd = os.open(accounts, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f'[cibinong]\nusername = "{USER}"\npassword = "{PASSWORD}"\n')
    settings = {"bpjs_credentials": str(central_file), "mobilejkn_accounts": str(accounts)}
    s = System(tmp_path / "run", pg_database, days[0], central_settings=settings)
    try:
        s.start()
        s.restart_edge(bpjs_credentials=str(edge_file))
        yield s
    finally:
        s.stop()


def kiosk(system) -> requests.Session:
    """The kiosk's browser: the node's own touchscreen (127.0.0.1), with its CSRF token."""
    k = requests.Session()
    k.headers["X-CSRF-Token"] = csrf_of(k.get(system.edge_url + "/kiosk", timeout=10).text)
    return k


def no_numbers_logged(system) -> None:
    for name in ("central", "sync", "edge"):
        logged = system.log_text(name)
        assert NIK not in logged and CARD not in logged, name


def test_a_bpjs_walk_in_checked_at_the_kiosk_is_called_and_reported_add_then_panggil(bpjs_system, fake):
    system = bpjs_system
    answer = kiosk(system).post(system.edge_url + "/api/kiosk/bpjs", json={"nomor": CARD}, timeout=20)
    assert answer.status_code == 201, answer.text
    assert (answer.json()["label"], answer.json()["membership"]["status"]) == ("B001", "aktif")
    assert fake.wait_for(lambda: fake.requests >= 1)  # the edge asked PCare itself
    staff = system.staff()
    called = staff.post(system.edge_url + "/api/counters/loket-1/next", timeout=10)
    assert called.status_code == 200 and called.json()["label"] == "B001", called.text
    page = staff.get(system.edge_url + "/staff/loket-1", timeout=10).text
    assert "BPJS aktif" in page and "Kartu •••• 0002" in page and CARD not in page
    sent = staff.post(
        f"{system.edge_url}/api/tickets/{called.json()['ticket']}/transfer", json={"poli": "UMUM"}, timeout=10
    )
    assert sent.status_code == 200, sent.text
    wait_for(lambda: fake.accepted("add"), 60, "the walk-in's add report to reach BPJS")
    assert fake.accepted("panggil") == []
    poli = staff.post(system.edge_url + "/api/counters/poli-UMUM/next", timeout=10)
    assert poli.status_code == 200 and poli.json()["label"] == "B001", poli.text
    wait_for(lambda: fake.accepted("panggil"), 60, "the panggil report to reach BPJS")
    add = fake.accepted("add")[0]["body"]
    assert (add["nomorkartu"], add["nomorantrean"], add["angkaantrean"]) == (CARD, "B001", 1)
    assert fake.accepted("panggil")[0]["body"]["nomorkartu"] == CARD
    assert CARD not in requests.get(system.edge_url + "/api/board", timeout=10).text
    no_numbers_logged(system)


def test_a_mobile_jkn_booking_is_checked_in_at_the_kiosk_by_nik_and_reported(bpjs_system, days, fake):
    system = bpjs_system
    base = system.central_url + "/api/mobilejkn/cibinong"
    token = requests.get(base + "/auth", headers={"x-username": USER, "x-password": PASSWORD}, timeout=10).json()
    headers = {"x-token": token["response"]["token"], "x-username": USER}
    body = {"nomorkartu": CARD, "nik": NIK, "nohp": "081298765432", "kodepoli": "001", "tanggalperiksa": days[0]}
    booked = requests.post(base + "/antrean", json={**body, "jampraktek": "09:00-10:00"}, headers=headers, timeout=10)
    assert booked.status_code == 200 and booked.json()["metadata"]["code"] == 200, booked.text
    wait_for(lambda: system.edge_status()["reservations"] >= 1, 30, "the booking to reach the edge")

    k = requests.Session()
    page = k.get(system.edge_url + "/kiosk/kode", timeout=10)
    nik_typed = f"{NIK[:6]} {NIK[6:12]} {NIK[12:]}"
    form = {"csrf_token": csrf_of(page.text), "nomor": nik_typed}
    checked = k.post(system.edge_url + "/kiosk/kode", data=form, timeout=10)
    assert checked.status_code == 200 and "U001" in checked.text and "Check-in berhasil" in checked.text, checked.text
    wait_for(lambda: fake.accepted("add"), 60, "the add report to reach BPJS")
    add = fake.accepted("add")[0]["body"]
    assert (add["nomorkartu"], add["nik"], add["nomorantrean"]) == (CARD, NIK, "U001")
    no_numbers_logged(system)


def test_the_kiosk_bpjs_screens_in_a_browser_active_inactive_and_offline(bpjs_system, browser, fake):
    """A patient at the kiosk's touchscreen: the keypad, an inactive card (told why, chooses Umum),
    an active one, and PCare down (the ticket marked tertunda). Screenshots of each."""
    from harness import ROOT
    from playwright.sync_api import expect

    shots = ROOT / "var" / "screenshots"
    system = bpjs_system
    page = browser.new_page(viewport={"width": 1280, "height": 800})

    def type_number(number: str) -> None:
        page.goto(system.edge_url + "/kiosk")
        page.locator("#choice-bpjs").click()
        expect(page.get_by_role("heading", name="Pasien BPJS")).to_be_visible()
        for digit in number:
            page.locator(f'#keypad button[data-key="{digit}"]').click()
        expect(page.locator("#nomor")).to_have_value(number)
        expect(page.locator("#keypad-count")).to_have_text("13 digit: nomor kartu BPJS")

    type_number("0001234500003")
    page.screenshot(path=str(shots / "kiosk-bpjs-keypad.png"))
    page.locator("#keypad-ok").click()
    expect(page.locator("#bpjs-refused h2")).to_have_text("BPJS tidak aktif")
    expect(page.locator("#bpjs-advice")).to_contain_text(
        "Segera urus ke kantor BPJS Kesehatan atau aplikasi Mobile JKN"
    )
    page.screenshot(path=str(shots / "kiosk-bpjs-inactive.png"))
    page.locator("#switch-umum").click()
    expect(page.locator("#ticket-number")).to_have_text("A001")

    type_number(CARD)
    page.locator("#keypad-ok").click()
    expect(page.locator("#ticket-number")).to_have_text("B001")
    expect(page.locator("#bpjs-status")).to_contain_text("BPJS aktif")
    page.screenshot(path=str(shots / "kiosk-bpjs-active.png"))

    fake.set_fault("/pcare-rest/peserta", "http500")
    type_number("0001234500001")
    page.locator("#keypad-ok").click()
    expect(page.locator("#ticket-number")).to_have_text("B002")
    expect(page.locator("#bpjs-status")).to_contain_text("Verifikasi BPJS tertunda")
    page.screenshot(path=str(shots / "kiosk-bpjs-offline.png"))
    wait_for(lambda: len(system.tickets_printed()) == 3, 30, "the three tickets to print")
    printed = [p.read_bytes().decode("cp437", "replace").lower() for p in system.tickets_printed()]
    assert not any("aktif" in t or "tertunda" in t or CARD in t for t in printed)  # never on the ticket
