"""Back office: reports and exports (``/petugas/laporan``), for admin kabupaten, admin puskesmas and
kepala puskesmas (``VIEWERS``), each within their own puskesmas (admin kabupaten: any, or all).

- ``GET /petugas/laporan/``: choose puskesmas, period and filters; with a period chosen, it
  also counts the visits and lists the KPI tables with their downloads.
- ``GET /petugas/laporan/kunjungan.csv`` / ``kunjungan.xlsx``: the visits (``central.exports``).
- ``GET /petugas/laporan/kpi.xlsx``: every KPI table, one sheet each; ``kpi/<key>.csv``: one table.
- ``GET /petugas/laporan/bulanan.pdf?puskesmas=<code>&bulan=YYYY-MM``: the monthly report to sign.

Downloads are plain GETs (they change nothing). Bad input re-renders the page with a field
error in Bahasa Indonesia (400), never a 500.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from flask import Blueprint, Response, g, render_template, request, stream_with_context

from central import exports, kpi, pdf_report, services
from central.models import Poli, Puskesmas
from central.web import staff as staff_pages
from central.web.backoffice import KABUPATEN, VIEWERS, pick, scope
from central.web.errors import http_error

log = logging.getLogger(__name__)

bp = Blueprint("reports", __name__, url_prefix="/petugas/laporan")
bp.before_request(staff_pages._load_staff)

ALL = "semua"
XLSX_MAX_ROWS = 200_000  # two years of one puskesmas; a sheet holds 1,048,576 rows, but that file takes minutes
MONTHS = (
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
)
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class FormError(Exception):
    def __init__(self, fields: dict[str, str]):
        super().__init__(", ".join(fields))
        self.fields = fields


def today() -> dt.date:
    return services.now_wib().date()


def places_for(staff, code: str | None) -> list[Puskesmas]:
    """The puskesmas a request is about: one by code (403 outside the staff member's scope), or
    every puskesmas for ``semua`` (admin kabupaten only)."""
    code = (code or "").strip().lower()
    if not code and staff.role in KABUPATEN:
        code = ALL
    if code == ALL:
        if staff.role not in KABUPATEN:
            raise http_error(403, "Hanya Admin Dinas Kesehatan yang boleh melihat semua puskesmas.")
        places = scope(staff)
        if not places:
            raise http_error(404, "Belum ada puskesmas.")
        return places
    if len(code) > 32:
        raise http_error(404, "Puskesmas tidak ditemukan.")
    return [pick(staff, code)]


def _values() -> dict:
    keys = ("puskesmas", "from", "to", "poli", "payer", "state", "dialect", "bulan")
    return {k: (request.args.get(k) or "").strip()[:40] for k in keys}


def _filter() -> tuple[list[Puskesmas], exports.VisitFilter]:
    places = places_for(g.staff, request.args.get("puskesmas"))
    try:
        return places, exports.parse_filter(request.args, places, today())
    except exports.FilterError as e:
        raise FormError(e.fields) from None


def _page(errors: dict | None = None, status: int = 200, summary: dict | None = None):
    places = scope(g.staff)
    values = _values()
    if not values["puskesmas"] and g.staff.role not in KABUPATEN and places:
        values["puskesmas"] = places[0].code
    if not values["bulan"]:
        first = today().replace(day=1)
        values["bulan"] = (first - dt.timedelta(days=1)).strftime("%Y-%m")
    polis = sorted(
        {(p.code, p.name) for p in Poli.select().where(Poli.puskesmas.in_([p.id for p in places]))},
        key=lambda item: item[1],
    )
    if summary is not None:  # the dates the summary is for, as people write them
        values["from"] = summary["filter"].start.strftime("%d-%m-%Y")
        values["to"] = summary["filter"].end.strftime("%d-%m-%Y")
    return render_template(
        "reports.html",
        months=recent_months(today()),
        places=places,
        kabupaten=g.staff.role in KABUPATEN,
        polis=polis,
        payers=exports.PAYERS,
        states=exports.STATES,
        values=values,
        errors=errors or {},
        summary=summary,
        today=today(),
    ), status


@bp.errorhandler(FormError)
def _form_error(e: FormError):
    return _page(e.fields, 400)


@bp.route("/")
@staff_pages.roles(*VIEWERS)
def index():
    """The form; once a period is chosen, the number of visits and the KPI tables to download."""
    if not any(request.args.get(k) for k in ("from", "to", "poli", "payer", "state")):
        return _page()
    places, f = _filter()
    summary = {"places": places, "filter": f, "visits": exports.count_visits(f), "tables": [], "note": ""}
    try:
        summary["tables"] = _kpi_tables(places, f)
    except FormError as e:
        if TOO_WIDE_KEY not in e.fields:
            raise
        summary["note"] = e.fields[TOO_WIDE_KEY]  # the visits can still be downloaded
    return _page(summary=summary)


TOO_WIDE_KEY = "kpi"


def _kpi_tables(places: list[Puskesmas], f: exports.VisitFilter) -> list:
    return list(_report(places, f).tables.values())


def _report(places: list[Puskesmas], f: exports.VisitFilter) -> kpi.Report:
    """The dashboard's KPI tables for the filter (the state filter does not apply to them)."""
    try:
        return kpi.report([p.id for p in places], f.start, f.end, poli=f.poli, payer=f.payer)
    except kpi.KpiTooWide as e:
        raise FormError({TOO_WIDE_KEY: e.message}) from None
    except kpi.KpiError as e:
        raise FormError(e.fields) from None


def _download(chunks, name: str, mimetype: str) -> Response:
    response = Response(stream_with_context(chunks), content_type=mimetype)  # as given: no second charset
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _log(what: str, places: list[Puskesmas], f: exports.VisitFilter) -> None:
    log.info(
        "staff %s downloaded %s of %d puskesmas, %s..%s",
        g.staff.id,
        what,
        len(places),
        f.start.isoformat(),
        f.end.isoformat(),
    )


@bp.route("/kunjungan.csv")
@staff_pages.roles(*VIEWERS)
def visits_csv():
    """The visits of the period as CSV (``dialect=excel-id`` for semicolons and decimal commas)."""
    places, f = _filter()
    dialect = request.args.get("dialect") or "comma"
    if dialect not in exports.DIALECTS:
        raise FormError({"dialect": "Format CSV tidak dikenal."})
    _log("visits.csv", places, f)
    name = exports.filename("kunjungan", [p.code for p in places], f, "csv")
    return _download(exports.csv_chunks(exports.visits_sheet(f), dialect), name, "text/csv; charset=utf-8")


@bp.route("/kunjungan.xlsx")
@staff_pages.roles(*VIEWERS)
def visits_xlsx():
    """The visits of the period as an XLSX workbook (with a "Keterangan" sheet)."""
    places, f = _filter()
    if exports.count_visits(f) > XLSX_MAX_ROWS:
        too_many = "Lebih dari 200.000 kunjungan: terlalu banyak untuk XLSX. Persingkat periode atau unduh CSV."
        raise FormError({"to": too_many})
    _log("visits.xlsx", places, f)
    name = exports.filename("kunjungan", [p.code for p in places], f, "xlsx")
    notes = exports.notes(f, [p.name for p in places], services.now_wib(), g.staff.username)
    return _download(exports.xlsx_chunks([exports.visits_sheet(f)], notes), name, XLSX_TYPE)


@bp.route("/kpi.xlsx")
@staff_pages.roles(*VIEWERS)
def kpi_xlsx():
    """Every KPI table of the period, one sheet each."""
    places, f = _filter()
    report = _report(places, f)
    _log("kpi.xlsx", places, f)
    name = exports.filename("kpi", [p.code for p in places], f, "xlsx")
    notes = exports.notes(f, [p.name for p in places], services.now_wib(), g.staff.username)
    sheets = [exports.table_sheet(t) for t in report.tables.values()]
    return _download(exports.xlsx_chunks(sheets, notes), name, XLSX_TYPE)


@bp.route("/kpi/<key>.csv")
@staff_pages.roles(*VIEWERS)
def kpi_csv(key: str):
    """One KPI table of the period as CSV."""
    places, f = _filter()
    dialect = request.args.get("dialect") or "comma"
    if dialect not in exports.DIALECTS:
        raise FormError({"dialect": "Format CSV tidak dikenal."})
    table = _report(places, f).tables.get(key)
    if table is None:
        raise http_error(404, "Tabel KPI tidak ditemukan.")
    _log(f"kpi {key}.csv", places, f)
    name = exports.filename(f"kpi-{key}", [p.code for p in places], f, "csv")
    return _download(exports.csv_chunks(exports.table_sheet(table), dialect), name, "text/csv; charset=utf-8")


MONTH_RE = re.compile(r"(\d{4})-(\d{2})")


def parse_month(text: str) -> dt.date | None:
    """The first day of a month given as ``YYYY-MM`` (or ``MM-YYYY``), or None."""
    text = (text or "").strip()
    match = MONTH_RE.fullmatch(text)
    if match:
        year, month = int(match.group(1)), int(match.group(2))
    else:
        other = re.fullmatch(r"(\d{2})[-/](\d{4})", text)
        if not other:
            return None
        month, year = int(other.group(1)), int(other.group(2))
    if not (2000 <= year <= 2100 and 1 <= month <= 12):
        return None
    return dt.date(year, month, 1)


def month_name(first: dt.date) -> str:
    return f"{MONTHS[first.month - 1]} {first.year}"


def recent_months(day: dt.date, count: int = 25) -> list[tuple[str, str]]:
    """(YYYY-MM, "November 2026") of this month and the ``count - 1`` before it, newest first."""
    out, first = [], day.replace(day=1)
    for _ in range(count):
        out.append((first.strftime("%Y-%m"), month_name(first)))
        first = (first - dt.timedelta(days=1)).replace(day=1)
    return out


@bp.route("/bulanan.pdf")
@staff_pages.roles(*VIEWERS)
def monthly_pdf():
    """The monthly report of one puskesmas, to print and sign."""
    code = (request.args.get("puskesmas") or "").strip().lower()
    if code in ("", ALL) and g.staff.role in KABUPATEN:
        raise FormError({"puskesmas_pdf": "Laporan bulanan dibuat per puskesmas. Pilih satu puskesmas."})
    place = places_for(g.staff, code)[0]
    first = parse_month(request.args.get("bulan") or "")
    if first is None:
        raise FormError({"bulan": "Bulan tidak valid. Pilih bulan dan tahun, contoh: 2026-11."})
    if first > today():
        raise FormError({"bulan": "Bulan itu belum dimulai. Pilih bulan ini atau sebelumnya."})
    log.info("staff %s downloaded the monthly report %s of puskesmas %s", g.staff.id, first.strftime("%Y-%m"), place.id)
    data = pdf_report.monthly(place, first, generated=services.now_wib(), by=g.staff.name)
    response = Response(data, mimetype="application/pdf")
    name = f"laporan-bulanan-{place.code}-{first:%Y-%m}.pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
