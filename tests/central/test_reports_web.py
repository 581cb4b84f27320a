"""Reports and downloads at /petugas/laporan, per role: the form, the summary, every download read
back as its user would open it, field errors in Bahasa Indonesia; on SQLite and PostgreSQL. Then
the page in a real Chromium on a laptop and a phone, with a download through the browser and
screenshots in var/screenshots/backoffice/reports-*.png."""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import re
import subprocess
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import expect

from central import exports, kpi, staff
from central.app import build
from central.models import Poli, Puskesmas
from tests.central.live import SHOTS, every_error, open_tab

_spec = importlib.util.spec_from_file_location("export_days", Path(__file__).with_name("test_exports.py"))
days = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(days)

PASSWORD = "kata-sandi-rahasia"
PERIOD = "from=2026-11-26&to=2026-11-27"


@pytest.fixture
def clock_start() -> str:
    """Central's clock in these tests: after the visits of 26-27 November 2026 they report on."""
    return "2026-12-02T08:00:00+07:00"


def accounts() -> None:
    staff.add("kepala.cibinong", "dr. Siti Rahma", "kepala_puskesmas", "cibinong", "", PASSWORD)
    staff.add("admin.ciawi", "Asep", "admin_puskesmas", "ciawi", "", PASSWORD)
    staff.add("dinkes", "Dinas Kesehatan", "admin_kabupaten", None, "", PASSWORD)
    staff.add("loket.cibinong", "Rina", "petugas_loket", "cibinong", "", PASSWORD)
    staff.add("poli.cibinong", "Dewi", "petugas_poli", "cibinong", "UMUM", PASSWORD)


@pytest.fixture
def people(app):
    accounts()
    days.history()


def sign_in(client, username: str) -> None:
    page = client.get("/petugas/masuk")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/petugas/masuk", data={"csrf_token": token, "username": username, "password": PASSWORD})
    assert r.status_code == 302


def test_signed_out_goes_to_sign_in_and_the_front_office_roles_are_refused(client, people):
    r = client.get("/petugas/laporan/kunjungan.csv?" + PERIOD)
    assert r.status_code == 302 and "/petugas/masuk" in r.headers["Location"]
    for username in ("loket.cibinong", "poli.cibinong"):
        sign_in(client, username)
        for path in (
            "/petugas/laporan/",
            "/petugas/laporan/kunjungan.csv",
            "/petugas/laporan/bulanan.pdf?bulan=2026-11",
        ):
            r = client.get(path)
            assert r.status_code == 403, (username, path)
            assert "Peran Anda tidak boleh membuka halaman ini." in r.text
        assert "Laporan" not in client.get("/petugas/").text


def test_a_kepala_sees_her_own_puskesmas_only(client, people):
    sign_in(client, "kepala.cibinong")
    page = client.get("/petugas/laporan/")
    assert page.status_code == 200
    assert "Laporan dan unduhan" in page.text and 'href="/petugas/laporan/"' in page.text  # in the menu
    assert "Puskesmas Cibinong" in page.text and "Puskesmas Ciawi" not in page.text
    assert "Semua puskesmas" not in page.text
    for path in (
        "/petugas/laporan/kunjungan.csv?puskesmas=ciawi",
        "/petugas/laporan/bulanan.pdf?puskesmas=ciawi&bulan=2026-11",
    ):
        r = client.get(path)
        assert r.status_code == 403 and "Anda hanya boleh membuka data puskesmas Anda sendiri." in r.text
    assert client.get("/petugas/laporan/kpi.xlsx?puskesmas=semua").status_code == 403


def test_the_summary_counts_the_visits_and_lists_the_kpi_tables(client, people):
    sign_in(client, "kepala.cibinong")
    page = client.get("/petugas/laporan/?" + PERIOD)
    assert page.status_code == 200
    assert '<span id="visit-count">6</span> kunjungan' in page.text
    assert "26-11-2026 s.d. 27-11-2026 (2 hari)" in page.text
    assert "Kunjungan per hari" in page.text and "/petugas/laporan/kpi/harian.csv?" in page.text
    page = client.get("/petugas/laporan/?" + PERIOD + "&state=done")
    assert '<span id="visit-count">2</span>' in page.text


def test_the_visits_csv_download(client, people):
    sign_in(client, "kepala.cibinong")
    r = client.get("/petugas/laporan/kunjungan.csv?" + PERIOD + "&payer=BPJS")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.headers["Content-Disposition"] == 'attachment; filename="kunjungan-cibinong-2026-11-26-2026-11-27.csv"'
    assert r.data.startswith("\ufeff".encode())
    lines = r.data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Puskesmas,Nomor antrean,Tanggal,Layanan,Poli,Cara bayar")
    assert [line.split(",")[1] for line in lines[1:]] == ["B001", "K001"]
    r = client.get("/petugas/laporan/kunjungan.csv?" + PERIOD + "&dialect=excel-id")
    assert r.data.decode("utf-8-sig").splitlines()[0].startswith("Puskesmas;Nomor antrean;")


def test_the_xlsx_downloads_open_in_a_spreadsheet(client, people):
    sign_in(client, "kepala.cibinong")
    r = client.get("/petugas/laporan/kunjungan.xlsx?" + PERIOD)
    assert r.status_code == 200 and r.headers["Content-Disposition"].endswith('.xlsx"')
    book = openpyxl.load_workbook(io.BytesIO(r.data))
    assert book.sheetnames == ["Kunjungan", "Keterangan"]
    assert book["Kunjungan"].max_row == 7  # header + 6 visits
    notes = {row[0].value: row[1].value for row in book["Keterangan"].iter_rows()}
    assert notes["Dibuat"].endswith("WIB oleh kepala.cibinong")
    r = client.get("/petugas/laporan/kpi.xlsx?" + PERIOD)
    book = openpyxl.load_workbook(io.BytesIO(r.data))
    report = kpi.report([Puskesmas.get(Puskesmas.code == "cibinong").id], dt.date(2026, 11, 26), dt.date(2026, 11, 27))
    titles = [t.title for t in report.tables.values()]
    assert book.sheetnames[:-1] == exports.sheet_names(titles)
    assert "Waktu tunggu per layanan" in book.sheetnames  # "(tiket diambil sampai dipanggil)" left out
    harian = book["Kunjungan per hari"]
    assert [c.value for c in harian[2]] == [dt.datetime(2026, 11, 26), 4, 1, 3, 2, 2]


def test_one_kpi_table_as_csv_with_the_dashboard_figures(client, people):
    sign_in(client, "kepala.cibinong")
    r = client.get("/petugas/laporan/kpi/tidak_hadir.csv?" + PERIOD)
    assert r.status_code == 200
    lines = r.data.decode("utf-8-sig").splitlines()
    assert lines[0] == "Layanan,Dipanggil,Tidak hadir,Persen tidak hadir"
    assert lines[-1] == "Semua,4,1,25"
    assert client.get("/petugas/laporan/kpi/rahasia.csv?" + PERIOD).status_code == 404


def test_the_monthly_pdf_download(client, people, tmp_path):
    sign_in(client, "kepala.cibinong")
    r = client.get("/petugas/laporan/bulanan.pdf?bulan=2026-11")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    assert r.headers["Content-Disposition"] == 'attachment; filename="laporan-bulanan-cibinong-2026-11.pdf"'
    path = tmp_path / "r.pdf"
    path.write_bytes(r.data)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout
    assert "Puskesmas Cibinong" in text and "Bulan November 2026" in text
    assert "Jumlah kunjungan 5" in {" ".join(line.split()) for line in text.splitlines()}
    assert "( dr. Siti Rahma )" in text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-11-27&to=2026-11-01", "Tanggal akhir tidak boleh sebelum tanggal awal."),
        ("from=2025-01-01&to=2026-11-01", "Periode paling panjang 366 hari."),
        ("from=31-02-2026", "Tanggal awal tidak valid."),
        ("poli=JANTUNG", "Poli tidak dikenal di puskesmas yang dipilih."),
        ("payer=ASURANSI", "Cara bayar harus BPJS atau Umum."),
    ],
)
def test_bad_input_is_a_field_error_on_the_page(client, people, query, message):
    sign_in(client, "kepala.cibinong")
    for path in ("/petugas/laporan/", "/petugas/laporan/kunjungan.csv", "/petugas/laporan/kunjungan.xlsx"):
        r = client.get(f"{path}?{query}")
        assert r.status_code == 400, path
        assert r.mimetype == "text/html"
        assert message in r.text and 'aria-invalid="true"' in r.text
        assert "Ada isian yang perlu diperbaiki." in r.text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("bulan=2026-13", "Bulan tidak valid."),
        ("bulan=", "Bulan tidak valid."),
        ("bulan=2099-01", "Bulan itu belum dimulai."),
    ],
)
def test_a_bad_month_is_a_field_error(client, people, query, message):
    sign_in(client, "kepala.cibinong")
    r = client.get("/petugas/laporan/bulanan.pdf?" + query)
    assert r.status_code == 400 and message in r.text
    assert 'id="bulan-error"' in r.text


def test_the_kabupaten_chooses_all_or_one_puskesmas(client, people):
    sign_in(client, "dinkes")
    page = client.get("/petugas/laporan/")
    assert "Semua puskesmas" in page.text and "Puskesmas Ciawi" in page.text
    r = client.get("/petugas/laporan/kunjungan.csv?" + PERIOD)  # all by default
    assert r.headers["Content-Disposition"].endswith('filename="kunjungan-kabupaten-2026-11-26-2026-11-27.csv"')
    rows = r.data.decode("utf-8-sig").splitlines()[1:]
    assert sorted({row.split(",")[0] for row in rows}) == ["Puskesmas Ciawi", "Puskesmas Cibinong"]
    r = client.get("/petugas/laporan/kpi.xlsx?puskesmas=semua&" + PERIOD)
    assert "Perbandingan puskesmas" in openpyxl.load_workbook(io.BytesIO(r.data)).sheetnames
    r = client.get("/petugas/laporan/bulanan.pdf?puskesmas=&bulan=2026-11")
    assert r.status_code == 400 and "Laporan bulanan dibuat per puskesmas. Pilih satu puskesmas." in r.text
    assert client.get("/petugas/laporan/bulanan.pdf?puskesmas=ciawi&bulan=2026-11").status_code == 200


def test_text_from_admins_is_escaped(client, people):
    Poli.update(name='<img src=x onerror="alert(1)">').where(Poli.code == "GIGI").execute()
    sign_in(client, "kepala.cibinong")
    page = client.get("/petugas/laporan/?" + PERIOD)
    assert "<img src=x" not in page.text and "&lt;img src=x onerror=" in page.text


# ---- in a real browser ----------------------------------------------------------------------------
@pytest.fixture
def site(central_config, serve):
    """The app under waitress on a free port, on SQLite, with accounts and a day of visits."""
    app = build(central_config)
    accounts()
    days.history()
    return serve(app)


def _browse(chromium, site, width: int, height: int, username: str):
    tab = open_tab(chromium, site, (width, height), console=every_error, accept_downloads=True)
    tab.goto("/petugas/masuk")
    tab.fill("#username", username)
    tab.fill("#password", PASSWORD)
    tab.get_by_role("button", name="Masuk").click()
    expect(tab.get_by_role("navigation", name="Menu petugas")).to_be_visible()
    return tab


@pytest.mark.parametrize(("size", "width", "height"), [("laptop", 1280, 800), ("phone", 390, 844)])
def test_the_reports_page_in_chromium(site, chromium, size, width, height):
    tab = _browse(chromium, site, width, height, "kepala.cibinong")
    tab.get_by_role("navigation", name="Menu petugas").get_by_role("link", name="Laporan").click()
    expect(tab.get_by_role("heading", name="Laporan dan unduhan")).to_be_visible()
    tab.screenshot(path=str(SHOTS / f"reports-index-{size}.png"), full_page=True)
    tab.fill("#from", "26-11-2026")  # as people write dates, day first
    tab.fill("#to", "27/11/2026")
    tab.get_by_role("button", name="Tampilkan ringkasan").click()
    expect(tab.locator("#visit-count")).to_have_text("6")
    expect(tab.locator("#to")).to_have_value("27-11-2026")
    expect(tab.get_by_role("link", name="Unduh CSV Tidak hadir saat dipanggil")).to_be_visible()
    tab.screenshot(path=str(SHOTS / f"reports-summary-{size}.png"), full_page=True)
    with tab.expect_download() as caught:
        tab.get_by_role("button", name="Unduh kunjungan (CSV)").click()
    download = caught.value
    assert download.suggested_filename == "kunjungan-cibinong-2026-11-26-2026-11-27.csv"
    assert Path(download.path()).read_bytes().decode("utf-8-sig").count("\n") == 7
    tab.select_option("#bulan", label="November 2026")
    with tab.expect_download() as caught:
        tab.get_by_role("button", name="Unduh laporan bulanan (PDF)").click()
    assert caught.value.suggested_filename == "laporan-bulanan-cibinong-2026-11.pdf"
    tab.fill("#from", "27-11-2026")
    tab.fill("#to", "01-11-2026")
    tab.get_by_role("button", name="Unduh kunjungan (XLSX)").click()
    expect(tab.locator("#to-error")).to_have_text("Tanggal akhir tidak boleh sebelum tanggal awal.")
    tab.screenshot(path=str(SHOTS / f"reports-error-{size}.png"), full_page=True)
    overflow = tab.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, "the page scrolls sideways"
    assert [p for p in tab.problems if "status of 400" not in p] == []  # the refused form answers 400


def test_the_kabupaten_reports_page_on_a_laptop(site, chromium):
    tab = _browse(chromium, site, 1280, 800, "dinkes")
    tab.goto("/petugas/laporan/?puskesmas=semua&" + PERIOD)
    expect(tab.locator("#visit-count")).to_have_text("7")
    expect(tab.locator("#summary")).to_contain_text("Perbandingan puskesmas")
    tab.screenshot(path=str(SHOTS / "reports-kabupaten-laptop.png"), full_page=True)
    assert tab.problems == []


def test_an_xlsx_of_too_many_visits_is_refused_with_the_way_out(client, people, monkeypatch):
    from central.web import reports

    monkeypatch.setattr(reports, "XLSX_MAX_ROWS", 5)
    sign_in(client, "kepala.cibinong")
    r = client.get("/petugas/laporan/kunjungan.xlsx?" + PERIOD)  # 6 visits
    assert r.status_code == 400 and "terlalu banyak untuk XLSX" in r.text and "unduh CSV" in r.text
    assert client.get("/petugas/laporan/kunjungan.csv?" + PERIOD).status_code == 200
