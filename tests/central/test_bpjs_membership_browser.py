"""The booking form's BPJS states in a real Chromium on a phone, against the fake BPJS over HTTP.

Screenshots go to var/screenshots/bpjs-*.png for a human to look at.
"""

from __future__ import annotations

import dataclasses

import pytest
from playwright.sync_api import expect

from bpjs.fake import FakeBpjs
from central import bpjs_credentials, bpjs_membership, services
from central.app import build
from central.models import Reservation
from tests.central.conftest import ANI, register
from tests.central.live import PHONE, ROOT, open_tab

SHOTS = ROOT / "var" / "screenshots"


@pytest.fixture
def fake():
    with FakeBpjs() as running:
        yield running


@pytest.fixture
def site(central_config, serve, fake, tmp_path, monkeypatch):
    monkeypatch.setattr(bpjs_membership, "READ_TIMEOUT_S", 0.5)
    path = bpjs_credentials.write_fake(tmp_path / "bpjs.toml", fake.url)
    app = build(dataclasses.replace(central_config, bpjs_credentials=str(path)))
    register(ANI)
    yield serve(app)
    bpjs_credentials.bind(None)


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"bpjs-{name}.png"), full_page=True)


def _fill(page, number: str) -> None:
    page.goto("/reservasi/baru")
    page.get_by_label("1. Puskesmas").select_option("cibinong")
    page.get_by_label("BPJS", exact=True).check()
    expect(page.locator("#bpjs_no-hint")).to_have_text("13 digit angka di kartu JKN / KIS, atau NIK 16 digit.")
    page.get_by_label("Nomor peserta BPJS").fill(number)
    page.get_by_label("3. Poli").select_option("UMUM")
    page.get_by_label("4. Tanggal").select_option(index=1)
    page.get_by_label("5. Jam").select_option("08:00-09:00")


def test_booking_form_states_for_each_membership(site, chromium, fake):
    page = open_tab(chromium, site, PHONE)
    page.goto("/masuk")
    page.get_by_label("NIK").fill(ANI["nik"])
    page.get_by_label("Tanggal lahir").fill("17-08-1990")
    page.get_by_label("PIN").fill(ANI["pin"])
    page.get_by_role("button", name="Masuk").click()
    expect(page.get_by_role("heading", name="Halo, Ani Lestari")).to_be_visible()

    # inactive: the reason, what to do, and booking as Umum with the same choices
    _fill(page, "0001234500003")
    chosen_date = page.get_by_label("4. Tanggal").input_value()
    page.get_by_role("button", name="Buat reservasi").click()
    result = page.locator("#bpjs-hasil")
    expect(result).to_contain_text("BPJS tidak aktif")
    expect(result).to_contain_text("tunggakan iuran Rp1.260.000")
    expect(result).to_contain_text("Segera urus ke kantor BPJS Kesehatan atau aplikasi Mobile JKN.")
    expect(page.get_by_label("Nomor peserta BPJS")).to_have_value("0001234500003")  # she may correct it
    expect(page.locator("#bpjs_no-error")).to_have_text("Kepesertaan BPJS nomor ini tidak aktif.")
    shot(page, "tidak-aktif")

    # registered elsewhere, and unknown
    _fill(page, "0001234500005")
    page.get_by_role("button", name="Buat reservasi").click()
    expect(page.locator("#bpjs-hasil")).to_contain_text("terdaftar di FKTP lain: PUSKESMAS CIAWI")
    shot(page, "fktp-lain")
    _fill(page, "0009999999999")
    page.get_by_role("button", name="Buat reservasi").click()
    expect(page.locator("#bpjs-hasil")).to_contain_text("Nomor kartu tidak terdaftar sebagai peserta BPJS Kesehatan.")
    shot(page, "tidak-terdaftar")
    page.get_by_role("button", name="Pesan sebagai pasien Umum").click()
    expect(page.get_by_text("Reservasi berhasil dibuat.")).to_be_visible()
    details = page.locator(".details")
    expect(details).to_contain_text("Umum")
    expect(details).to_contain_text("Puskesmas Cibinong")
    expect(details).to_contain_text("08.00 - 09.00 WIB")
    expect(details).not_to_contain_text("Kepesertaan BPJS")
    rid = page.url.rsplit("/", 1)[-1]
    assert Reservation.get(Reservation.rid == rid).date.isoformat() == chosen_date
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Batalkan reservasi").click()
    expect(page.get_by_text("Reservasi sudah dibatalkan.")).to_be_visible()

    # PCare down: booked as tertunda, settled later and shown on the booking and in Riwayat
    fake.set_fault("/pcare-rest/peserta", "http500")
    _fill(page, "0001234500001")
    page.get_by_role("button", name="Buat reservasi").click()
    expect(page.get_by_text("Reservasi berhasil dibuat.")).to_be_visible()
    status, note = page.locator("#bpjs-status"), page.locator("#bpjs-note")
    expect(status).to_contain_text("Verifikasi BPJS tertunda")
    expect(note).to_contain_text("kami memeriksanya lagi otomatis")
    shot(page, "tertunda")
    fake.clear_faults()
    assert bpjs_membership.recheck_pending(services.now_wib(), every_s=0) == 1
    page.reload()
    expect(status).to_contain_text("BPJS aktif")
    expect(note).to_have_text("Kepesertaan BPJS Kesehatan aktif.")
    shot(page, "aktif")
    page.goto("/riwayat")
    expect(page.locator(".bpjs-line").first).to_contain_text("BPJS aktif")
    shot(page, "riwayat")
    assert page.problems == []
