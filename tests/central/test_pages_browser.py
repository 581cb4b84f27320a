"""The patient site in a real Chromium on a phone-sized screen: register, log in, reserve, see the QR.

Screenshots of every page go to var/screenshots/central-*.png for a human to look at.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect, sync_playwright
from waitress.server import create_server

from central.app import build
from devices.scanner.image import read_qr_codes

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "var" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def site(central_config):
    """The app under waitress on a free port, on SQLite; yields its base URL."""
    app = build(central_config)
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    stop = threading.Event()

    def run():  # the loop thread closes the server itself: closing it from here raced its poll (EBADF)
        while not stop.is_set():
            server.asyncore.loop(timeout=0.2, map=server._map, count=1)
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        server.close()

    thread = threading.Thread(target=run, name="waitress-test", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    stop.set()
    thread.join(timeout=10)
    app.extensions["rosma.db"].close()


def _phone(site, javascript: bool):
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is required for this test: {CHROMIUM} not found (apt install chromium)", pytrace=False)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="id-ID",
            timezone_id="Asia/Jakarta",
            base_url=site,
            java_script_enabled=javascript,
        )
        tab = context.new_page()
        tab.problems = []
        tab.on("pageerror", lambda exc: tab.problems.append(f"page error: {exc}"))
        tab.on("console", lambda msg: _console(tab, msg))
        yield tab
        context.close()
        browser.close()


@pytest.fixture
def page(site):
    """A phone-sized Chromium tab on the site."""
    yield from _phone(site, javascript=True)


@pytest.fixture
def page_without_js(site):
    """The same, with JavaScript switched off."""
    yield from _phone(site, javascript=False)


def _console(tab, msg) -> None:
    # A form sent back with field errors answers 400 on purpose; Chromium logs that as an error.
    if msg.type == "error" and "status of 400" not in msg.text:
        tab.problems.append(f"console: {msg.text}")


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"central-{name}.png"), full_page=True)


def test_register_login_reserve_and_show_qr(page):
    page.goto("/")
    expect(page.get_by_role("heading", name="Reservasi puskesmas dari rumah")).to_be_visible()
    expect(page.get_by_role("link", name="Puskesmas Cibinong")).to_be_visible()
    shot(page, "beranda")

    page.get_by_role("link", name="Puskesmas Cibinong").click()
    expect(page.get_by_role("heading", name="Puskesmas Cibinong")).to_be_visible()
    expect(page.get_by_text("Poli Lansia")).to_be_visible()
    shot(page, "puskesmas")

    page.goto("/daftar")
    page.get_by_label("Nama lengkap").fill("Ani Lestari")
    page.get_by_label("NIK").fill("320101570890000")
    page.get_by_label("Tanggal lahir").fill("1990-08-17")
    page.get_by_label("Perempuan").check()
    page.get_by_label("Alamat").fill("Kp. Babakan RT 01/02, Cibinong")
    page.get_by_label("Nomor HP").fill("0812 3456 7890")
    page.get_by_label("PIN (6 angka)").fill("204816")
    page.get_by_label("Ulangi PIN").fill("204816")
    page.get_by_role("button", name="Daftar").click()
    expect(page.get_by_text("NIK harus 16 digit angka.")).to_be_visible()
    expect(page.get_by_label("Nama lengkap")).to_have_value("Ani Lestari")
    shot(page, "daftar-salah")

    page.get_by_label("NIK").fill("3201015708900002")
    page.get_by_label("PIN (6 angka)").fill("204816")  # a form sent back never keeps the PIN
    page.get_by_label("Ulangi PIN").fill("204816")
    page.get_by_role("button", name="Daftar").click()
    expect(page.get_by_text("Pendaftaran diterima")).to_be_visible()

    page.get_by_label("NIK").fill("3201015708900002")
    page.get_by_label("Tanggal lahir").fill("1990-08-17")
    page.get_by_label("PIN").fill("204816")
    shot(page, "masuk")
    page.get_by_role("button", name="Masuk").click()
    expect(page.get_by_role("heading", name="Halo, Ani Lestari")).to_be_visible()
    shot(page, "beranda-pasien")

    page.get_by_role("link", name="Buat reservasi").click()
    expect(page.get_by_role("heading", name="Reservasi baru")).to_be_visible()
    expect(page.locator("#field-bpjs_no")).to_be_hidden()
    expect(page.get_by_role("button", name="Tampilkan poli")).to_be_hidden()
    page.get_by_label("1. Puskesmas").select_option("ciawi")
    page.get_by_label("BPJS", exact=True).check()
    expect(page.locator("#field-bpjs_no")).to_be_visible()
    page.get_by_label("Nomor peserta BPJS").fill("0001234567890")
    page.get_by_label("3. Poli").select_option("UMUM")
    page.get_by_label("4. Tanggal").select_option(index=1)
    expect(page.locator("#slot option[value='08:00-09:00']")).to_contain_text("sisa 10")
    page.get_by_label("5. Jam").select_option("08:00-09:00")
    shot(page, "reservasi-baru")
    page.get_by_role("button", name="Buat reservasi").click()

    expect(page.get_by_text("Reservasi berhasil dibuat.")).to_be_visible()
    expect(
        page.get_by_text("Tunjukkan QR ini ke mesin antrian (APM) di puskesmas pada hari kunjungan.")
    ).to_be_visible()
    expect(page.get_by_role("link", name="Unduh QR")).to_be_visible()
    expect(page.get_by_text("Puskesmas Ciawi")).to_be_visible()
    expect(page.locator(".details").get_by_text("Poli Umum")).to_be_visible()
    qr = page.get_by_role("img", name="Kode QR reservasi")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.naturalWidth") > 200
    shot(page, "reservasi")
    found = read_qr_codes(Image.open(io.BytesIO(qr.screenshot())))
    assert len(found) == 1 and found[0].startswith("RS1:")

    page.get_by_role("link", name="Riwayat").click()
    expect(page.get_by_role("heading", name="Riwayat reservasi")).to_be_visible()
    expect(page.get_by_text("Aktif")).to_be_visible()
    shot(page, "riwayat")

    assert page.problems == []


def test_reservation_form_works_without_javascript(page_without_js):
    from central import identity, services

    identity.register(
        {
            "name": "Budi Santoso",
            "nik": "3201011203850001",
            "birth_date": "1985-03-12",
            "sex": "L",
            "address": "Jl. Raya Ciawi No. 5",
            "phone": "081298765432",
            "pin": "739150",
        },
        identity.Client("127.0.0.2"),
        now=services.now_wib(),
    )
    page = page_without_js
    page.goto("/masuk")
    page.get_by_label("NIK").fill("3201011203850001")
    page.get_by_label("Tanggal lahir").fill("1985-03-12")
    page.get_by_label("PIN").fill("739150")
    page.get_by_role("button", name="Masuk").click()
    page.goto("/reservasi/baru")
    expect(page.locator("#field-bpjs_no")).to_be_visible()
    page.get_by_label("1. Puskesmas").select_option("citeureup")
    page.get_by_role("button", name="Tampilkan poli").click()
    expect(page.get_by_label("3. Poli").locator("option")).to_have_text(
        ["Pilih poli", "Poli Umum", "Poli KIA", "Poli Lansia"]
    )
    page.get_by_label("Umum", exact=True).check()
    page.get_by_label("3. Poli").select_option("LANSIA")
    page.get_by_label("4. Tanggal").select_option(index=1)
    page.get_by_label("5. Jam").select_option("09:00-10:00")
    shot(page, "reservasi-tanpa-js")
    page.get_by_role("button", name="Buat reservasi").click()
    expect(
        page.get_by_text("Tunjukkan QR ini ke mesin antrian (APM) di puskesmas pada hari kunjungan.")
    ).to_be_visible()
    expect(page.get_by_text("Poli Lansia")).to_be_visible()
