"""The patient site in a real Chromium on a phone-sized screen: register, log in, reserve, see the QR.

Screenshots of every page go to var/screenshots/central-*.png for a human to look at.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect, sync_playwright

from devices.scanner.image import read_qr_codes
from tests.central.live import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "var" / "screenshots"

ANDROID_AGENT = (
    "Mozilla/5.0 (Linux; Android 10; SM-A105F) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)


def _phone(site, javascript: bool, viewport=(390, 844), locale="id-ID", user_agent=None):
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is required for this test: {CHROMIUM} not found (apt install chromium)", pytrace=False)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale=locale,
            timezone_id="Asia/Jakarta",
            base_url=site,
            java_script_enabled=javascript,
            user_agent=user_agent,
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
def small_phone(site):
    """A cheap phone's screen (360x740) set to English, as many in Indonesia are."""
    yield from _phone(site, javascript=True, viewport=(360, 740), locale="en-US", user_agent=ANDROID_AGENT)


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
    page.get_by_label("Tanggal lahir").press_sequentially("17081990")  # the dashes come by themselves
    expect(page.get_by_label("Tanggal lahir")).to_have_value("17-08-1990")
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
    expect(page.get_by_role("link", name="Lupa PIN", exact=True)).to_have_attribute("href", "/lupa-pin")
    expect(page.get_by_label("NIK")).to_have_value("3201015708900002")  # what she just typed
    expect(page.get_by_label("Tanggal lahir")).to_have_value("17-08-1990")
    expect(page.get_by_label("PIN")).to_be_focused()
    assert "3201015708900002" not in page.url

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
        page.get_by_text("Tunjukkan QR ini ke mesin antrean (APM) di puskesmas pada hari kunjungan.")
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
    page.get_by_label("Tanggal lahir").fill("12031985")  # no script to add the dashes: the server reads it
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
        page.get_by_text("Tunjukkan QR ini ke mesin antrean (APM) di puskesmas pada hari kunjungan.")
    ).to_be_visible()
    expect(page.get_by_text("Poli Lansia")).to_be_visible()


LONG_AGENT = (
    "Mozilla/5.0 (Linux; Android 13; SM-A546E Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/445.0.0.34.118;]"
)


def _box(locator) -> dict:
    box = locator.bounding_box()
    assert box is not None
    return box


def _lines(locator) -> int:
    """How many lines a piece of text takes on screen."""
    return locator.evaluate(
        "el => { const r = document.createRange(); r.selectNodeContents(el);"
        " return new Set([...r.getClientRects()].map(b => Math.round(b.top))).size; }"
    )


def _no_sideways_scroll(page, width: int = 360) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


MENU = ["Reservasi", "Riwayat", "Kritik & saran", "Akun", "Keluar"]


def _menu_fits(page, width: int) -> None:
    """The signed-in patient's menu: its five items on one row inside the screen, each label
    inside its own box, each at least 44 px tall to tap."""
    items = page.locator(".nav a, .nav button")
    assert [" ".join(t.split()) for t in items.all_inner_texts()] == MENU
    boxes = [_box(items.nth(i)) for i in range(items.count())]
    assert len({round(b["y"]) for b in boxes}) == 1  # one row
    assert all(b["height"] >= 44 for b in boxes)
    assert boxes[0]["x"] >= 0 and boxes[-1]["x"] + boxes[-1]["width"] <= width
    for a, b in zip(boxes, boxes[1:], strict=False):
        assert a["x"] + a["width"] <= b["x"] + 0.5  # no item over the next
    overflowing = items.evaluate_all(
        "els => els.filter(el => { const r = document.createRange(); r.selectNodeContents(el);"
        " const t = r.getBoundingClientRect(), b = el.getBoundingClientRect();"
        " return el.scrollWidth > el.clientWidth || t.left < b.left - 0.5 || t.right > b.right + 0.5;"
        " }).map(el => el.textContent)"
    )
    assert overflowing == []
    _no_sideways_scroll(page, width)


def test_on_a_small_english_phone_every_field_and_button_is_usable(small_phone, site):
    from central import identity, services
    from central.models import Patient

    identity.register(
        {
            "name": "Siti Rahayu binti Abdullah Syafei",
            "nik": "3201015705900003",
            "birth_date": "1990-05-17",
            "sex": "P",
            "address": "Kp. Babakan RT 01/02, Cibinong",
            "phone": "081234567891",
            "pin": "582037",
        },
        identity.Client("127.0.0.3"),
        now=services.now_wib(),
    )
    page = small_phone

    page.goto("/daftar")
    nik = _box(page.get_by_label("NIK"))
    for label in ("PIN (6 angka)", "Ulangi PIN"):  # PIN fields as big as every other field
        pin = _box(page.get_by_label(label))
        assert (pin["width"], pin["height"]) == (nik["width"], nik["height"]) and pin["height"] >= 44
    expect(page.get_by_label("Tanggal lahir")).to_have_attribute("type", "text")  # never mm/dd/yyyy
    expect(page.get_by_text("Tanggal-bulan-tahun, seperti di KTP. Contoh: 17\u201108\u20111990")).to_be_visible()
    choices = page.locator(".choice")
    boxes = [_box(choices.nth(i)) for i in range(2)]
    circles = [_box(choices.nth(i).locator("input")) for i in range(2)]
    assert boxes[0]["width"] == boxes[1]["width"] and boxes[0]["height"] == boxes[1]["height"]
    assert circles[0]["width"] == circles[1]["width"] >= 18
    for name in ("Laki-laki", "Perempuan"):
        assert _lines(page.locator(".choice span", has_text=name)) == 1
    _no_sideways_scroll(page)
    shot(page, "kecil-daftar")

    page.goto("/masuk")
    for link in (
        page.get_by_role("link", name="Lupa PIN atau belum punya PIN?"),
        page.locator("main").get_by_role("link", name="Daftar", exact=True),
    ):
        assert _box(link)["height"] >= 44
    page.get_by_label("NIK").fill("3201015705900003")
    page.get_by_label("Tanggal lahir").press_sequentially("17-05-1990")  # typing the dashes too gives no doubles
    expect(page.get_by_label("Tanggal lahir")).to_have_value("17-05-1990")
    page.get_by_label("PIN").fill("582037")
    page.get_by_role("button", name="Masuk").click()
    expect(page.get_by_role("heading", name="Halo, Siti")).to_be_visible()
    _menu_fits(page, 360)
    assert _box(page.locator("header"))["height"] <= 130
    shot(page, "kecil-beranda")
    page.set_viewport_size({"width": 320, "height": 640})  # the smallest phones still in use
    _menu_fits(page, 320)
    shot(page, "kecil-beranda-320")
    page.set_viewport_size({"width": 360, "height": 740})
    page.locator(".nav").get_by_role("link", name="Kritik & saran").click()
    expect(page.get_by_role("heading", name="Kritik & saran", exact=True)).to_be_visible()
    _no_sideways_scroll(page)

    patient = Patient.get(Patient.nik == "3201015705900003")
    identity.open_session(patient=patient, device=LONG_AGENT)
    identity.issue_token(patient, "python-requests/2.34.2")
    page.goto("/akun")
    expect(page.get_by_text("Jangan pakai tanggal lahir, angka sama (111111)")).to_be_visible()
    devices = page.locator(".device")
    expect(devices).to_have_count(3)
    expect(devices.nth(0)).to_contain_text("HP Android · Chrome")
    expect(devices.nth(0)).to_contain_text("Perangkat ini")
    expect(devices.nth(1)).to_contain_text("HP Android · aplikasi")
    expect(devices.nth(2)).to_contain_text("Aplikasi")
    expect(page.locator("main")).not_to_contain_text("Mozilla")
    expect(page.locator("main")).to_contain_text("WIB")
    card = _box(page.locator(".card", has=devices.first))
    for i in range(devices.count()):
        row = _box(devices.nth(i))
        assert card["x"] < row["x"] and row["x"] + row["width"] < card["x"] + card["width"]
    for button in page.get_by_role("button", name="Keluarkan").all():
        box = _box(button)
        assert box["height"] >= 44 and box["x"] + box["width"] < card["x"] + card["width"]
    _no_sideways_scroll(page)
    shot(page, "kecil-akun")

    page.get_by_role("button", name="Ganti PIN").click()
    expect(page.get_by_text("PIN sekarang wajib diisi.")).to_be_visible()
    expect(page.get_by_text("PIN lama salah.")).to_have_count(0)

    page.goto("/reservasi/baru")
    expect(page.get_by_label("3. Poli").locator("option").first).to_have_text("Pilih puskesmas dulu")
    page.get_by_label("1. Puskesmas").select_option("cibinong")
    page.get_by_label("1. Puskesmas").select_option("")
    expect(page.get_by_label("3. Poli").locator("option").first).to_have_text("Pilih puskesmas dulu")
    page.get_by_label("1. Puskesmas").select_option("cibinong")
    page.get_by_label("3. Poli").select_option("UMUM")
    page.get_by_label("4. Tanggal").select_option(index=1)
    page.get_by_label("5. Jam").select_option("09:00-10:00")
    page.get_by_role("button", name="Buat reservasi").click()
    expect(page.get_by_text("Reservasi berhasil dibuat.")).to_be_visible()
    rid = page.url.rsplit("/", 1)[1]
    code = page.locator("#kode-reservasi")
    expect(code).to_have_text(" ".join(rid[i : i + 4].upper() for i in range(0, 16, 4)))
    assert _lines(code) == 1  # never split inside the code
    _no_sideways_scroll(page)
    shot(page, "kecil-reservasi")

    page.goto("/puskesmas/cibinong")
    assert _box(page.get_by_role("link", name="Kembali ke daftar puskesmas"))["height"] >= 44
    assert page.problems == []


def test_lupa_pin_on_a_small_phone_keeps_what_was_typed(small_phone, site):
    page = small_phone
    page.goto("/lupa-pin")
    page.get_by_role("button", name="Kirim kode").click()
    expect(page.get_by_text("NIK wajib diisi.")).to_be_visible()
    expect(page.get_by_text("Tanggal lahir wajib diisi.")).to_be_visible()
    expect(page.get_by_text("kode telah dikirim")).to_have_count(0)
    page.get_by_label("NIK").fill("12345")
    page.get_by_label("Tanggal lahir").fill("17-05-1990")
    page.get_by_role("button", name="Kirim kode").click()
    expect(page.get_by_text("NIK harus 16 digit angka.")).to_be_visible()
    assert _box(page.get_by_role("button", name="Saya punya kode dari loket"))["height"] >= 44
    page.get_by_label("NIK").fill("3201015705900003")
    page.get_by_role("button", name="Saya punya kode dari loket").click()
    expect(page.get_by_role("heading", name="Buat PIN baru")).to_be_visible()
    expect(page.get_by_label("NIK")).to_have_value("3201015705900003")
    expect(page.get_by_label("Tanggal lahir")).to_have_value("17-05-1990")
    expect(page.get_by_label("Kode")).to_be_focused()
    assert "3201015705900003" not in page.url
    page.get_by_label("NIK").fill("")
    page.get_by_label("Tanggal lahir").fill("")
    page.get_by_role("button", name="Simpan PIN").click()
    for text in ("NIK wajib diisi.", "Tanggal lahir wajib diisi.", "Kode wajib diisi.", "PIN wajib diisi."):
        expect(page.get_by_text(text, exact=True)).to_be_visible()
    _no_sideways_scroll(page)
    shot(page, "kecil-atur-pin-kosong")
    assert page.problems == []
