"""The back office under attack and careless use: sessions and tokens that must end, forms posted
without their token or from another site, and bad input that must get an Indonesian field error
and change nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

import html
import importlib.util
import re
import subprocess
from pathlib import Path

import pytest

from central import staff
from central.models import Puskesmas, Staff

_spec = importlib.util.spec_from_file_location("export_days", Path(__file__).with_name("test_exports.py"))
days = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(days)
_bspec = importlib.util.spec_from_file_location("bo_browser", Path(__file__).with_name("test_backoffice_browser.py"))
bo_browser = importlib.util.module_from_spec(_bspec)
_bspec.loader.exec_module(bo_browser)
site, browser = bo_browser.site, bo_browser.browser  # the real-Chromium fixtures

PASSWORD = "kata-sandi-rahasia"
NEW_PASSWORD = "sandi-baru-yang-panjang"


@pytest.fixture
def clock_start() -> str:
    """Central's clock in these tests: after the visits of 26-27 November 2026 they report on."""
    return "2026-12-02T08:00:00+07:00"


def token(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def sign_in(client, username: str, password: str = PASSWORD):
    page = client.get("/petugas/masuk")
    r = client.post("/petugas/masuk", data={"csrf_token": token(page), "username": username, "password": password})
    assert r.status_code == 302, r.text
    return r


def post(client, path: str, data: dict):
    page = client.get(path)
    return client.post(path, data={"csrf_token": token(page), **data})


@pytest.fixture
def people(app):
    staff.add("admin.cibinong", "Dewi Admin", "admin_puskesmas", "cibinong", "", PASSWORD)
    staff.add("kepala.cibinong", "dr. Siti", "kepala_puskesmas", "cibinong", "", PASSWORD)
    staff.add("dinkes", "Dinas", "admin_kabupaten", None, "", PASSWORD)


def bearer(client, username: str, password: str = PASSWORD) -> dict:
    r = client.post("/api/v1/bo/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.json
    return {"Authorization": "Bearer " + r.json["token"]}


def test_a_password_reset_by_an_admin_ends_the_accounts_api_tokens(app, people):
    """A kepala's password leaked: her admin resets it; whoever holds a token made with the old
    password must lose it at once, as her web sessions are."""
    thief = app.test_client()
    stolen = bearer(thief, "kepala.cibinong")
    assert thief.get("/api/v1/bo/visits", headers=stolen).status_code == 200
    admin = app.test_client()
    sign_in(admin, "admin.cibinong")
    r = post(
        admin,
        "/petugas/admin/petugas/kepala.cibinong",
        {"action": "sandi", "password": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert r.status_code == 302, r.text
    r = thief.get("/api/v1/bo/visits", headers=stolen)
    assert r.status_code == 401
    assert r.json["error"] == "Token tidak sah atau sudah kedaluwarsa. Silakan masuk lagi."
    fresh = bearer(app.test_client(), "kepala.cibinong", NEW_PASSWORD)  # the new password works
    assert app.test_client().get("/api/v1/bo/visits", headers=fresh).status_code == 200


# ---- the monthly PDF with the longest names the admin pages allow ---------------------------------
LONG_NAME = "UPT Puskesmas Cibinong Kecamatan Cibinong Kabupaten Bogor Wilayah Pelayanan Kesehatan Timur Jalan Raya"
LONG_KEPALA = "dr. Siti Rahmawati Kusumaningtyas Wijayakusuma Purnamasari Hadiningrat, M.Kes., Sp.KKLP"


def _pdf_words(data: bytes, tmp_path) -> tuple[float, list[tuple[float, float, str]]]:
    """The page width and every word with its left and right edge, as pdftotext reads them."""
    path = tmp_path / "laporan.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", "-bbox", str(path), "-"], check=True, capture_output=True, text=True).stdout
    width = float(re.search(r'<page width="([\d.]+)"', out).group(1))
    words = re.findall(r'<word xMin="([-\d.]+)" yMin="[-\d.]+" xMax="([-\d.]+)" yMax="[-\d.]+">([^<]*)</word>', out)
    return width, [(float(a), float(b), html.unescape(w)) for a, b, w in words]


def test_the_monthly_pdf_keeps_long_names_on_the_page(app, people, tmp_path):
    """A puskesmas name and a kepala's name as long as the admin pages allow wrap inside the page
    (title, signature, footer) instead of running off its edge; a character the PDF fonts lack
    (an emoji) does not stop the report."""
    days.history()
    assert len(LONG_NAME) <= 120 and len(LONG_KEPALA + " 😀") <= 120
    Puskesmas.update(name=LONG_NAME).where(Puskesmas.code == "cibinong").execute()
    Staff.update(name=LONG_KEPALA + " 😀").where(Staff.username == "kepala.cibinong").execute()
    client = app.test_client()
    sign_in(client, "kepala.cibinong")
    r = client.get("/petugas/laporan/bulanan.pdf?bulan=2026-11")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    width, words = _pdf_words(r.data, tmp_path)
    margin = 30  # points; the report's margins are 18 mm (51 pt)
    outside = [w for w in words if w[0] < margin or w[1] > width - margin]
    assert outside == []
    text = " ".join(w[2] for w in words)
    assert LONG_NAME in text  # the heading, whole
    assert "Kepala " + LONG_NAME in text  # above the signature, whole
    assert "( " + LONG_KEPALA + " ? )" in text
    assert re.search(r"Halaman 1 dari \d", text)


def _week() -> dict:
    form = {}
    for day in range(1, 8):
        opened, closed = ("07:30", "14:00") if day <= 6 else ("", "")
        form.update(
            {f"h{day}_open": opened, f"h{day}_close": closed, f"h{day}_break_start": "", f"h{day}_break_end": ""}
        )
    return form


@pytest.mark.parametrize("code", ["audit", "petugas", "dinkes", "semua"])
def test_a_new_puskesmas_may_not_take_a_code_the_back_office_uses(app, people, code):
    """``/petugas/admin/audit`` is the audit log and ``/petugas/admin/petugas`` the accounts, so a
    puskesmas coded so could never be opened again; ``dinkes`` and ``semua`` are filter values."""
    client = app.test_client()
    sign_in(client, "dinkes")
    form = {"code": code, "name": "Puskesmas Baru", "address": "Jl. Baru 1", "kecamatan": "Baru", "lokets": "2"}
    r = post(client, "/petugas/admin/puskesmas/baru", {**form, **_week()})
    assert r.status_code == 400
    assert f"Kode {code} dipakai halaman back office. Pilih kode lain" in r.text
    assert not Puskesmas.select().where(Puskesmas.code == code).exists()
    r = post(client, "/petugas/admin/puskesmas/baru", {**form, **_week(), "code": "baru"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/petugas/admin/baru")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Rina \u202egnp.exe", "Nama mengandung karakter yang tidak diizinkan."),
        ("Rina\u200b Loket", "Nama mengandung karakter yang tidak diizinkan."),
        ("R" * 10240, "Nama maksimal 120 karakter."),
        ("   ", "Nama wajib diisi."),
    ],
)
def test_a_staff_name_with_hidden_or_too_many_characters_is_a_field_error(app, people, name, message):
    """A name turned around by a bidi control (or padded with invisible characters) would show
    something else than it is on the staff list and in the audit log."""
    client = app.test_client()
    sign_in(client, "admin.cibinong")
    form = {"username": "rina.loket", "name": name, "role": "petugas_loket", "password": PASSWORD}
    r = post(client, "/petugas/admin/petugas", {**form, "password2": PASSWORD})
    assert r.status_code == 400 and message in r.text
    assert not Staff.select().where(Staff.username == "rina.loket").exists()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("kunjungan.csv", "text/csv; charset=utf-8"),
        ("kpi/poli.csv", "text/csv; charset=utf-8"),
        ("kunjungan.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ],
)
def test_an_export_of_a_month_to_come_is_an_empty_table_with_one_plain_content_type(app, people, path, content_type):
    """A period with no visits (next month) still downloads its header row, and the file says
    its type once (``charset`` twice makes some programs guess the encoding)."""
    client = app.test_client()
    sign_in(client, "kepala.cibinong")
    r = client.get(f"/petugas/laporan/{path}?from=01-01-2027&to=31-01-2027")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == content_type
    if path.endswith(".csv"):
        lines = r.data.decode("utf-8-sig").splitlines()
        assert len(lines) == 1 and lines[0].startswith(("Puskesmas,Nomor antrean", "Poli,"))


def test_a_kepala_and_another_puskesmas_admin_are_refused_with_a_valid_form_token(app, people):
    """The form token is right (taken from a page they may open); the role or the puskesmas is not."""
    from central.models import AuditLog, Change

    staff.add("admin.ciawi", "Asep", "admin_puskesmas", "ciawi", "", PASSWORD)
    cibinong = Puskesmas.get(code="cibinong")
    audited = AuditLog.select().where(AuditLog.puskesmas == cibinong.id).count()
    changes = Change.select().where(Change.type.in_(["site.upsert", "poli.upsert"])).count()
    kepala = app.test_client()
    sign_in(kepala, "kepala.cibinong")
    csrf = token(kepala.get("/petugas/laporan/"))
    r = kepala.post("/petugas/admin/cibinong", data={"csrf_token": csrf, "name": "Diubah", "lokets": "9"})
    assert r.status_code == 403
    other = app.test_client()
    sign_in(other, "admin.ciawi")
    csrf = token(other.get("/petugas/admin/ciawi"))
    r = other.post("/petugas/admin/cibinong", data={"csrf_token": csrf, "name": "Diubah", "lokets": "9"})
    assert r.status_code == 403 and "Anda hanya boleh membuka data puskesmas Anda sendiri." in r.text
    r = other.post("/petugas/admin/cibinong/poli/UMUM", data={"csrf_token": csrf, "slot_quota": "0"})
    assert r.status_code == 403
    for action in ("nonaktifkan", "sandi"):
        r = other.post(
            "/petugas/admin/petugas/kepala.cibinong",
            data={"csrf_token": csrf, "action": action, "password": NEW_PASSWORD, "password2": NEW_PASSWORD},
        )
        assert r.status_code == 403
    r = other.post("/petugas/admin/petugas/dinkes", data={"csrf_token": csrf, "action": "nonaktifkan"})
    assert r.status_code == 403
    # an account "for" cibinong made by the ciawi admin lands in ciawi
    form = {"username": "susup", "name": "Susup", "role": "petugas_loket", "puskesmas": "cibinong"}
    r = other.post(
        "/petugas/admin/petugas", data={"csrf_token": csrf, **form, "password": PASSWORD, "password2": PASSWORD}
    )
    assert r.status_code == 302
    assert Staff.get(Staff.username == "susup").puskesmas.code == "ciawi"
    assert Staff.get(Staff.username == "kepala.cibinong").active
    assert Puskesmas.get(code="cibinong").lokets == cibinong.lokets
    assert AuditLog.select().where(AuditLog.puskesmas == cibinong.id).count() == audited
    assert Change.select().where(Change.type.in_(["site.upsert", "poli.upsert"])).count() == changes
    assert sign_in(app.test_client(), "kepala.cibinong").status_code == 302  # her password is unchanged


@pytest.mark.parametrize(("width", "height", "size"), [(1280, 800, "laptop"), (390, 844, "phone")])
def test_in_a_browser_a_bidi_staff_name_is_refused_next_to_its_field(browser, width, height, size):
    page = browser(width, height)
    page.goto("/petugas/masuk")
    page.get_by_label("Nama pengguna").fill("admin.puskesmas")
    page.get_by_label("Kata sandi").fill(PASSWORD)
    page.get_by_role("button", name="Masuk").click()
    bo_browser.expect(page.get_by_role("heading", name="Halo")).to_be_visible()
    page.goto("/petugas/admin/petugas")
    page.get_by_label("Nama pengguna").fill("rina.loket")
    page.get_by_label("Nama lengkap").fill("Rina \u202egnp.exe")
    page.get_by_label("Kata sandi awal").fill(PASSWORD)
    page.get_by_label("Ulangi kata sandi").fill(PASSWORD)
    page.get_by_role("button", name="Buat akun").click()
    error = page.locator(".field.has-error", has=page.get_by_label("Nama lengkap"))
    bo_browser.expect(error).to_contain_text("Nama mengandung karakter yang tidak diizinkan.")
    bo_browser.expect(page.get_by_role("alert")).to_contain_text("Belum ada yang disimpan.")
    error.scroll_into_view_if_needed()
    page.screenshot(path=str(bo_browser.SHOTS / f"attacks-staff-name-{size}.png"), full_page=True)
    assert page.problems == []
