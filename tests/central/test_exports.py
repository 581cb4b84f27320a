"""Exports of visits and KPI tables (central.exports), read back as a user would open them: the CSV
as text (with its byte order mark and separator), the XLSX with openpyxl; and the monthly PDF
(central.pdf_report) as text through pdftotext and as pictures through pdftoppm. On SQLite and
PostgreSQL, from a day of typed edge events with known times."""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

from central import exports, pdf_report
from central.ingest import apply_batch
from central.models import Node, Poli, Puskesmas, Staff
from protocol import events
from protocol.events import (
    Actor,
    TicketCalled,
    TicketDone,
    TicketIssued,
    TicketNoShow,
    TicketServing,
    TicketTransferred,
)
from protocol.messages import EventBatch, EventRecord

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "var" / "screenshots" / "backoffice"
DAY = dt.date(2026, 11, 26)  # a Thursday
NEXT = dt.date(2026, 11, 27)


class Edge:
    """A puskesmas's edge as central sees it: typed events sent up in order."""

    def __init__(self, code: str):
        place = Puskesmas.get(Puskesmas.code == code)
        self.node = Node.create(node_id=f"pkm-{code}", puskesmas=place)
        self.seq = 0
        self.pending: list[EventRecord] = []

    def send(self, event: events.Event) -> None:
        self.seq += 1
        self.pending.append(EventRecord(self.seq, event.NAME, event.at, events.to_data(event), event.VERSION))

    def flush(self) -> None:
        assert apply_batch(self.node, EventBatch(tuple(self.pending), "db-1")) == self.seq
        self.pending = []


def at(day: dt.date, hm: str) -> str:
    return f"{day.isoformat()}T{hm}:00.000+07:00"


def issue(edge, key, label, day, hm, queue="REG-A", kind="walkin", payer="UMUM", **kw):
    edge.send(
        TicketIssued(
            ticket=key,
            day=day.isoformat(),
            queue=queue,
            label=label,
            number=1,
            kind=kind,
            payer=payer,
            at=at(day, hm),
            actor=events.KIOSK,
            **kw,
        )
    )


def call(edge, key, label, day, hm, counter, staff):
    edge.send(
        TicketCalled(
            ticket=key, label=label, destination=counter, counter=counter, at=at(day, hm), actor=Actor(counter, staff)
        )
    )


def history():
    """A day at Puskesmas Cibinong with known times, one visit the next day, one at Ciawi.

    A001 walk-in Umum: issued 08:00, called 08:05 (loket-1, rina), sent on to Poli Umum 08:08;
    its poli ticket: issued 08:08, called 08:20 (poli-UMUM, dr.andi), serving 08:21, done 08:31.
    B001 walk-in BPJS: issued 08:10, called 08:22, no-show 08:25.
    K001 reservation BPJS, Poli KIA (named "=1+2" by an admin), slot 09:00-10:00: checked in
    08:50, called 09:10 at counter "@ruang" by drg.sari, done 09:40.
    A002 walk-in Umum: issued 09:00, still waiting.
    """
    edge = Edge("cibinong")
    Poli.update(name="=1+2").where(
        (Poli.code == "KIA") & (Poli.puskesmas == Puskesmas.get(Puskesmas.code == "cibinong"))
    ).execute()
    issue(edge, "t1", "A001", DAY, "08:00")
    call(edge, "t1", "A001", DAY, "08:05", "loket-1", "rina")
    issue(edge, "t2", "A001", DAY, "08:08", queue="POLI-UMUM", kind="transfer", poli="UMUM", parent="t1")
    edge.send(
        TicketTransferred(
            ticket="t1", to_ticket="t2", to_poli="UMUM", at=at(DAY, "08:08"), actor=Actor("loket-1", "rina")
        )
    )
    issue(edge, "t3", "B001", DAY, "08:10", queue="REG-B", payer="BPJS")
    call(edge, "t2", "A001", DAY, "08:20", "poli-UMUM", "dr.andi")
    edge.send(TicketServing(ticket="t2", at=at(DAY, "08:21"), actor=Actor("poli-UMUM", "dr.andi")))
    call(edge, "t3", "B001", DAY, "08:22", "loket-1", "rina")
    edge.send(TicketNoShow(ticket="t3", at=at(DAY, "08:25"), actor=Actor("loket-1", "rina")))
    edge.send(TicketDone(ticket="t2", at=at(DAY, "08:31"), actor=Actor("poli-UMUM", "dr.andi")))
    issue(
        edge, "t4", "K001", DAY, "08:50", queue="POLI-KIA", kind="reservation", payer="BPJS", poli="KIA",
        rid="r-1", slot="09:00-10:00",
    )  # fmt: skip
    call(edge, "t4", "K001", DAY, "09:10", "@ruang", "drg.sari")
    edge.send(TicketDone(ticket="t4", at=at(DAY, "09:40"), actor=Actor("@ruang", "drg.sari")))
    issue(edge, "t5", "A002", DAY, "09:00")
    issue(edge, "t6", "A001", NEXT, "07:45")
    edge.flush()
    other = Edge("ciawi")
    issue(other, "c1", "A001", DAY, "08:00")
    other.flush()


def cibinong():
    return Puskesmas.get(Puskesmas.code == "cibinong")


def fltr(args: dict, *codes: str) -> exports.VisitFilter:
    places = [Puskesmas.get(Puskesmas.code == c) for c in (codes or ("cibinong",))]
    return exports.parse_filter(args, places, today=NEXT)


def read_csv(data: bytes, sep: str = ",") -> list[list[str]]:
    assert data.startswith("\ufeff".encode()), "no byte order mark: Excel would garble the letters"
    text = data.decode("utf-8-sig")
    assert "\r\n" in text
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=sep))


def visits_csv(f: exports.VisitFilter, dialect="comma") -> list[list[str]]:
    return read_csv(b"".join(exports.csv_chunks(exports.visits_sheet(f), dialect)), DIALECT_SEP[dialect])


DIALECT_SEP = {"comma": ",", "excel-id": ";"}


def by_header(rows: list[list[str]]) -> list[dict]:
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_the_visits_csv_shows_each_visit_with_its_times_and_minutes(app):
    history()
    rows = by_header(visits_csv(fltr({"from": "2026-11-26", "to": "2026-11-26"})))
    assert [(r["Nomor antrean"], r["Layanan"], r["Poli"], r["Status"]) for r in rows] == [
        ("A001", "Pendaftaran (loket)", "Poli Umum", "Diteruskan ke poli"),  # the poli it sent her to
        ("A001", "Poli", "Poli Umum", "Selesai"),
        ("B001", "Pendaftaran (loket)", "", "Tidak hadir"),
        ("K001", "Poli", "'=1+2", "Selesai"),
        ("A002", "Pendaftaran (loket)", "", "Menunggu"),
    ]
    loket, poli, noshow, reservation, waiting = rows
    assert loket["Ambil nomor (WIB)"] == "2026-11-26 08:00:00"
    assert loket["Dipanggil (WIB)"] == "2026-11-26 08:05:00"
    assert (loket["Waktu tunggu (menit)"], loket["Waktu layanan (menit)"]) == ("5", "3")
    assert (loket["Loket / ruang"], loket["Petugas"], loket["Cara bayar"]) == ("loket-1", "rina", "Umum")
    assert (poli["Waktu tunggu (menit)"], poli["Waktu layanan (menit)"], poli["Petugas"]) == ("12", "10", "dr.andi")
    assert poli["Mulai dilayani (WIB)"] == "2026-11-26 08:21:00"
    assert poli["Jenis kunjungan"] == "Datang langsung (lanjutan dari loket)"
    assert (noshow["Waktu tunggu (menit)"], noshow["Waktu layanan (menit)"], noshow["Cara bayar"]) == ("12", "", "BPJS")
    assert (reservation["Jenis kunjungan"], reservation["Waktu tunggu (menit)"]) == ("Reservasi", "20")
    assert (reservation["Waktu layanan (menit)"], reservation["Loket / ruang"]) == ("30", "'@ruang")
    assert waiting["Dipanggil (WIB)"] == "" and waiting["Waktu tunggu (menit)"] == ""
    assert {r["Puskesmas"] for r in rows} == {"Puskesmas Cibinong"}
    assert {r["Tanggal"] for r in rows} == {"2026-11-26"}


def test_no_identity_of_a_patient_is_in_the_visits_export(app, ani):
    history()
    rows = visits_csv(fltr({"from": "2026-11-26", "to": "2026-11-27"}))
    header = " ".join(rows[0]).lower()
    for word in ("nik", "nama", "lahir", "peserta"):
        assert word not in header
    text = "\n".join(",".join(r) for r in rows)
    assert ani.nik not in text and ani.name not in text


def test_filters_narrow_the_visits(app):
    history()
    labels = lambda args, *codes: [r[1] for r in visits_csv(fltr(args, *codes))[1:]]  # noqa: E731
    assert labels({"from": "2026-11-26", "to": "2026-11-27"}) == ["A001", "A001", "B001", "K001", "A002", "A001"]
    assert labels({"from": "2026-11-27", "to": "2026-11-27"}) == ["A001"]
    assert labels({"from": "2026-11-26", "to": "2026-11-26", "payer": "bpjs"}) == ["B001", "K001"]
    # Poli Umum: the loket ticket that sent A001 there and her poli ticket
    assert labels({"from": "2026-11-26", "to": "2026-11-26", "poli": "umum"}) == ["A001", "A001"]
    assert labels({"from": "2026-11-26", "to": "2026-11-26", "state": "done"}) == ["A001", "K001"]
    assert labels({"from": "2026-11-26", "to": "2026-11-26"}, "ciawi") == ["A001"]
    both = visits_csv(fltr({"from": "2026-11-26", "to": "2026-11-26"}, "cibinong", "ciawi"))
    assert sorted({r[0] for r in both[1:]}) == ["Puskesmas Ciawi", "Puskesmas Cibinong"]


@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        ({"from": "2026-11-27", "to": "2026-11-01"}, "to", "Tanggal akhir tidak boleh sebelum tanggal awal."),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "to", "Periode paling panjang 366 hari."),
        ({"from": "2026-02-31"}, "from", "Tanggal awal tidak valid."),
        ({"to": "besok"}, "to", "Tanggal akhir tidak valid."),
        ({"poli": "JANTUNG"}, "poli", "Poli tidak dikenal"),
        ({"payer": "ASURANSI"}, "payer", "Cara bayar harus BPJS atau Umum."),
        ({"state": "hilang"}, "state", "Status tidak dikenal."),
    ],
)
def test_bad_filters_say_what_is_wrong_in_indonesian(app, args, field, message):
    with pytest.raises(exports.FilterError) as caught:
        fltr(args)
    assert list(caught.value.fields) == [field]
    assert caught.value.fields[field].startswith(message)


def test_a_period_of_exactly_366_days_and_the_default_of_30_days(app):
    assert fltr({"from": "2025-11-27", "to": "2026-11-27"}).days == 366
    default = fltr({})
    assert (default.start, default.end) == (NEXT - dt.timedelta(days=29), NEXT)


def test_the_indonesian_excel_csv_uses_semicolons_and_decimal_commas(app):
    history()
    edge = Edge("cisarua")
    issue(edge, "s1", "A001", DAY, "08:00")
    edge.send(
        TicketCalled(
            ticket="s1",
            label="A001",
            destination="Loket 1",
            counter="loket-1",
            at=f"{DAY.isoformat()}T08:02:30.000+07:00",
            actor=Actor("loket-1", "rina"),
        )
    )
    edge.flush()
    rows = by_header(visits_csv(fltr({"from": "2026-11-26", "to": "2026-11-26"}, "cisarua"), "excel-id"))
    assert rows[0]["Waktu tunggu (menit)"] == "2,5"
    comma = by_header(visits_csv(fltr({"from": "2026-11-26", "to": "2026-11-26"}, "cisarua")))
    assert comma[0]["Waktu tunggu (menit)"] == "2.5"


@pytest.mark.parametrize("text", ['=HYPERLINK("http://x")', "+62 812", "-1+1", "@SUM(A1)", "\tx", "\rx"])
def test_a_cell_that_a_spreadsheet_would_run_as_a_formula_is_kept_as_text(text):
    guarded = exports.guard(text)
    assert guarded == "'" + text
    sheet = exports.Sheet("T", [text], [[text, 5, -3.5]])
    rows = read_csv(b"".join(exports.csv_chunks(sheet)))
    assert rows == [["'" + text], ["'" + text, "5", "-3.5"]]
    assert exports.guard("Poli Umum") == "Poli Umum"


def test_the_visits_xlsx_has_a_bold_header_widths_real_dates_and_guarded_text(app, tmp_path):
    history()
    f = fltr({"from": "2026-11-26", "to": "2026-11-27"})
    path = tmp_path / "kunjungan.xlsx"
    path.write_bytes(
        b"".join(
            exports.xlsx_chunks(
                [exports.visits_sheet(f)],
                exports.notes(f, ["Puskesmas Cibinong"], dt.datetime(2026, 11, 28, 9, 0), "kepala.cibinong"),
            )
        )
    )
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Kunjungan", "Keterangan"]
    ws = book["Kunjungan"]
    header = [c.value for c in ws[1]]
    assert header == [c[1] for c in exports.VISIT_COLUMNS]
    assert all(c.font.bold for c in ws[1])
    assert ws.column_dimensions["A"].width > 20
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
    assert len(rows) == 6
    first = dict(zip(header, rows[0], strict=True))
    assert first["Tanggal"] == dt.datetime(2026, 11, 26)
    assert first["Ambil nomor (WIB)"] == dt.datetime(2026, 11, 26, 8, 0)
    assert ws.cell(row=2, column=header.index("Tanggal") + 1).number_format == "dd-mm-yyyy"
    assert first["Waktu tunggu (menit)"] == 5
    kia = dict(zip(header, rows[3], strict=True))
    assert kia["Poli"] == "'=1+2" and kia["Loket / ruang"] == "'@ruang"
    assert ws.cell(row=5, column=header.index("Poli") + 1).data_type == "s"
    notes = {row[0].value: row[1].value for row in book["Keterangan"].iter_rows()}
    assert notes["Puskesmas"] == "Puskesmas Cibinong"
    assert notes["Periode"] == "26-11-2026 s.d. 27-11-2026 (2 hari)"
    assert "NIK" in notes["Privasi"]


def test_a_long_period_is_read_day_by_day_and_every_visit_comes_once_in_order(app):
    edge = Edge("cibinong")
    for i in range(25):
        day = DAY - dt.timedelta(days=i % 5)
        issue(edge, f"k{i}", f"A{i:03d}", day, f"08:{i:02d}")
    edge.flush()
    f = fltr({"from": "2026-11-01", "to": "2026-11-27"})
    seen = [(exports._as_date(v.day), v.label) for v in exports.iter_visits(f)]
    assert sorted(label for _, label in seen) == [f"A{i:03d}" for i in range(25)]
    assert seen == sorted(seen)  # by day, then as they came in
    assert exports.count_visits(f) == 25


def test_kpi_tables_export_the_figures_of_kpi_report(app, tmp_path):
    from central import kpi

    history()
    report = kpi.report([cibinong().id], DAY, NEXT)
    assert report.tables, "the KPI report has no tables"
    path = tmp_path / "kpi.xlsx"
    path.write_bytes(b"".join(exports.xlsx_chunks([exports.table_sheet(t) for t in report.tables.values()])))
    book = openpyxl.load_workbook(path)
    assert len(book.sheetnames) == len(report.tables)
    for name, table in zip(book.sheetnames, report.tables.values(), strict=True):
        ws = book[name]
        assert [c.value for c in ws[1]] == [exports.guard(str(c)) for c in table.columns]
        got = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
        assert got == [[_xlsx_value(v) for v in row] for row in table.rows], table.key
        rows = read_csv(b"".join(exports.csv_chunks(exports.table_sheet(table))))
        assert rows[1:] == [[exports._text(v, ".") for v in row] for row in table.rows]


def _xlsx_value(value):
    if isinstance(value, bool):
        return "Ya" if value else "Tidak"
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time())
    if isinstance(value, str) and exports.ISO_DAY.fullmatch(value):
        return dt.datetime.fromisoformat(value)
    if isinstance(value, str):
        return exports.guard(value) if value else None
    return value


# ---- the monthly PDF ------------------------------------------------------------------------------
def _pdftotext(path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext is required (apt install poppler-utils)", pytrace=False)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


def test_the_monthly_pdf_names_the_puskesmas_month_totals_and_has_a_signature_block(app, tmp_path):
    history()
    place = cibinong()
    Staff.create(
        username="kepala.cibinong", name="dr. Siti Rahma", role="kepala_puskesmas", puskesmas=place, password_hash="x"
    )
    Puskesmas.update(name="Puskesmas Cibinong \u2013 Kota \U0001f3e5").where(Puskesmas.id == place.id).execute()
    data = pdf_report.monthly(
        Puskesmas.get_by_id(place.id), dt.date(2026, 11, 1), dt.datetime(2026, 12, 1, 8, 30), "Admin"
    )
    assert data.startswith(b"%PDF")
    path = tmp_path / "bulanan.pdf"
    path.write_bytes(data)
    text = _pdftotext(path)
    assert "LAPORAN BULANAN KUNJUNGAN" in text
    assert "Puskesmas Cibinong - Kota ?" in text  # a dash made plain, an emoji replaced
    assert "Bulan November 2026" in text
    lines = {" ".join(line.split()) for line in text.splitlines()}
    # 5 visits that day and 1 the next: the poli ticket of A001 continues its loket ticket
    assert "Jumlah kunjungan 5" in lines, sorted(lines)
    assert "Reservasi 1 (20%)" in lines
    assert "Datang langsung 4 (80%)" in lines
    assert "BPJS 2 (40%)" in lines
    assert "Tidak hadir saat dipanggil 1 dari 4 (25%)" in lines  # 4 tickets called, 1 did not come
    assert "Mengetahui," in text and "NIP." in text
    assert "( dr. Siti Rahma )" in text
    assert "Bogor, 30 November 2026" in text
    for word in ("NIK", "lahir"):
        assert word not in text.replace("tanpa identitas", "")
    _render(path, "pdf-bulanan")


def test_a_running_month_is_reported_up_to_today_and_an_empty_month_still_renders(app, tmp_path):
    place = cibinong()
    data = pdf_report.monthly(place, dt.date(2026, 12, 1), dt.datetime(2026, 12, 10, 8, 0))
    path = tmp_path / "empty.pdf"
    path.write_bytes(data)
    text = _pdftotext(path)
    assert "sampai 10 Desember 2026" in text
    assert "Jumlah kunjungan 0" in {" ".join(line.split()) for line in text.splitlines()}
    assert "(....." in text  # no kepala account: a line to write the name on
    assert "Bogor, 10 Desember 2026" in text


def test_the_monthly_pdf_per_day_chart_counts_each_day_as_the_kpi_report_does(app):
    from central import kpi

    history()
    per_day = pdf_report.visits_per_day(kpi.report([cibinong().id], dt.date(2026, 11, 1), dt.date(2026, 11, 30)))
    assert len(per_day) == 30
    # A001's poli ticket continues its loket ticket: 4 arrivals that day, 1 the next
    assert per_day[DAY] == 4 and per_day[NEXT] == 1 and sum(per_day.values()) == 5


def _render(path: Path, name: str) -> None:
    """Pictures of the PDF's pages for a person to look at."""
    if shutil.which("pdftoppm") is None:
        pytest.fail("pdftoppm is required (apt install poppler-utils)", pytrace=False)
    SHOTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-png", "-r", "80", str(path), str(SHOTS / f"reports-{name}")], check=True)
    assert list(SHOTS.glob(f"reports-{name}-*.png"))
