"""Back office: Dashboard kunjungan (``/petugas/dasbor``) and the quality targets, for admin
kabupaten, admin puskesmas and kepala puskesmas (``VIEWERS``); petugas get 403.

- ``GET /petugas/dasbor/``: today live and a period (``from``, ``to``, ``poli``, ``payer``) of one
  puskesmas (``puskesmas=<code>``; staff of a puskesmas only their own, another gives 403), or
  for admin kabupaten the whole kabupaten (``puskesmas=semua``, the default) comparing puskesmas.
  Every figure comes from ``central.kpi`` (the same tables as the exports and the API); each
  chart has its table beside it. Bad input: the page with a field error (400), never a 500.
- ``GET /petugas/dasbor/langsung.json?puskesmas=<code>``: today live (``kpi.live_today``), what
  the page refreshes itself with.
- ``GET|POST /petugas/dasbor/target?puskesmas=<code>``: the puskesmas's quality targets, set by
  its kepala or an admin; checked per field and audited.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, flash, g, jsonify, redirect, render_template, request, url_for

from central import kpi, services
from central.models import Poli, Puskesmas
from central.web import staff as staff_pages
from central.web.backoffice import KABUPATEN, VIEWERS, pick, scope
from central.web.errors import http_error

bp = Blueprint("dashboard", __name__, url_prefix="/petugas/dasbor")
bp.before_request(staff_pages._load_staff)

ALL = "semua"
# the charts: table key -> (chart type, the columns drawn, as (index, label)), the label column first
CHARTS = {
    "harian": ("line", [(2, "Reservasi"), (3, "Datang langsung")]),
    "poli": ("bar", [(1, "Pasien")]),
    "cara_bayar": ("doughnut", [(1, "Kunjungan")]),
    "jenis": ("doughnut", [(1, "Kunjungan")]),
    "tunggu_poli": ("bar", [(2, "p50 (menit)"), (3, "p90 (menit)")]),
    "tunggu_jam": ("bar", [(2, "Pendaftaran p50"), (5, "Poli p50")]),
    "layanan_poli": ("bar", [(2, "p50 (menit)"), (3, "p90 (menit)")]),
    "tidak_hadir": ("bar", [(3, "Persen tidak hadir")]),
    "target": ("bar", [(4, "Persen dalam target"), (5, "Target persen")]),
    "puskesmas": ("bar", [(1, "Kunjungan")]),
}
# the order of the sections, and the tables shown without a chart
ORDER = (
    "puskesmas",
    "harian",
    "target",
    "tunggu_poli",
    "tunggu_jam",
    "layanan_poli",
    "poli",
    "cara_bayar",
    "jenis",
    "tidak_hadir",
    "reservasi",
    "petugas",
)


def today() -> dt.date:
    return services.now_wib().date()


def _places(code: str | None) -> list[Puskesmas]:
    """One puskesmas by code (403 outside the staff member's own), or every one for ``semua``
    (admin kabupaten only, and its default)."""
    code = (code or "").strip().lower()[:40]
    if not code and g.staff.role in KABUPATEN:
        code = ALL
    if code == ALL:
        if g.staff.role not in KABUPATEN:
            raise http_error(403, "Hanya Admin Dinas Kesehatan yang boleh melihat semua puskesmas.")
        places = scope(g.staff)
        if not places:
            raise http_error(404, "Belum ada puskesmas.")
        return places
    return [pick(g.staff, code)]


def _values() -> dict[str, str]:
    return {k: (request.args.get(k) or "").strip()[:40] for k in ("puskesmas", "from", "to", "poli", "payer")}


def _chart(table: kpi.Table) -> dict | None:
    """What dashboard.js draws for a table: labels and number series (None: no chart)."""
    spec = CHARTS.get(table.key)
    rows = [r for r in table.rows if r and r[0] not in ("Jumlah", "Semua")]
    if spec is None or not rows:
        return None
    kind, series = spec
    datasets = [{"label": label, "data": [r[i] for r in rows]} for i, label in series]
    if all(v in (None, 0) for d in datasets for v in d["data"]):
        return None
    unit = "menit" if table.key in ("tunggu_poli", "tunggu_jam", "layanan_poli") else ""
    if table.key in ("tidak_hadir", "target"):
        unit = "%"
    labels = [str(r[0]) for r in rows]
    if table.key == "harian":
        labels = [f"{x[8:10]}/{x[5:7]}" for x in labels]
    spec = {"type": kind, "labels": labels, "datasets": datasets, "unit": unit}
    if table.key == "target":
        spec["max"] = 100
    if table.key == "puskesmas":
        spec["horizontal"] = True  # one bar per puskesmas, a hundred of them for the kabupaten
    return spec


def _numeric(table: kpi.Table) -> list[bool]:
    """Which columns hold numbers (right-aligned)."""
    flags = []
    for i in range(len(table.columns)):
        values = [r[i] for r in table.rows if r[i] is not None]
        flags.append(i > 0 and all(isinstance(v, (int, float)) for v in values))
    return flags


def _summary(report: kpi.Report) -> list[tuple[str, str, str]]:
    """The headline figures: (label, value, note)."""
    t = report.tables

    def cell(key, row, col):
        rows = t[key].rows
        return rows[row][col] if len(rows) > row else None

    visits = sum(r[1] for r in t["harian"].rows)
    reservasi = cell("jenis", 0, 2)
    bpjs = cell("cara_bayar", 0, 2)
    reg = cell("tunggu_poli", 0, 2)
    noshow = t["tidak_hadir"].rows[-1][3] if t["tidak_hadir"].rows else None
    met = [r for r in t["target"].rows if r[6] == "Ya"]
    return [
        ("Kunjungan", f"{visits:,}".replace(",", "."), f"{report.period.days} hari"),
        ("Reservasi", _num(reservasi, "%"), "dari semua kunjungan"),
        ("BPJS", _num(bpjs, "%"), "dari semua kunjungan"),
        ("Tunggu pendaftaran", _num(reg, " menit"), "median (p50)"),
        ("Tidak hadir", _num(noshow, "%"), "dari yang dipanggil"),
        ("Target mutu tercapai", f"{len(met)} dari {len(t['target'].rows)}", "tahap layanan"),
    ]


def _num(value, unit: str = "") -> str:
    """A figure as Indonesians write it (decimal comma); a dash for nothing."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.1f}".replace(".", ",") + unit
    return f"{value:,}".replace(",", ".") + unit


@bp.app_template_filter("kpi_angka")
def _angka(value) -> str:
    """A table cell: numbers as Indonesians write them, a dash for nothing, text as it is."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _num(value)
    return "–" if value is None else str(value)


DAYS = ("Sen", "Sel", "Rab", "Kam", "Jum", "Sab", "Min")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")


@bp.app_template_filter("kpi_tanggal")
def _tanggal(value) -> str:
    """An ISO date of a table, short: ``Kam 26 Nov 2026``."""
    try:
        d = dt.date.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return f"{DAYS[d.weekday()]} {d.day} {MONTHS[d.month - 1]} {d.year}"


@bp.route("/")
@staff_pages.roles(*VIEWERS)
def index():
    values = _values()
    places = _places(values["puskesmas"])
    kabupaten = len(places) > 1 or values["puskesmas"].lower() == ALL
    errors: dict[str, str] = {}
    report = None
    period = None
    try:
        period = kpi.Period.parse(values["from"], values["to"], today())
    except kpi.KpiError as e:
        errors.update(e.fields)
    poli = values["poli"] or None
    polis = _polis(places)
    if poli and poli not in {c for c, _n in polis}:
        errors["poli"] = "Poli ini tidak ada di puskesmas yang dipilih."
    payer = values["payer"].upper() or None
    if payer and payer not in kpi.PAYERS:
        errors["payer"] = "Cara bayar harus BPJS atau Umum."
    if not errors:
        try:
            report = kpi.report([p.id for p in places], period.start, period.end, poli, payer)
        except kpi.KpiError as e:
            errors.update(e.fields)
    if period is not None:
        # shown day-month-year as people write dates (a date field shows mm/dd/yyyy in an
        # English browser); kpi.Period.parse takes this form and ISO alike
        values["from"], values["to"] = period.start.strftime("%d-%m-%Y"), period.end.strftime("%d-%m-%Y")
    else:
        values["from"] = values["from"] or ""
    sections, charts = [], {}
    if report is not None:
        for key in ORDER:
            if key in report.tables:
                table = report.tables[key]
                chart = _chart(table)
                sections.append(
                    {
                        "table": table,
                        "chart": chart,
                        "numeric": _numeric(table),
                        "wide": len(table.columns) > 4,
                        "long": len(table.rows) > 12,
                    }
                )
                if chart:
                    charts[key] = chart
    downloads = None
    if report is not None and "reports.index" in current_app.view_functions:
        query = {k: values[k] for k in ("from", "to", "poli", "payer") if values[k]}
        downloads = url_for("reports.index", puskesmas=ALL if kabupaten else places[0].code, **query)
    live = None if kabupaten else kpi.live_today(places[0])
    live_places = _live_kabupaten(places) if kabupaten else None
    return render_template(
        "dashboard.html",
        places=scope(g.staff),
        chosen=places,
        kabupaten=kabupaten,
        may_all=g.staff.role in KABUPATEN,
        values=dict(values, puskesmas=ALL if kabupaten else places[0].code),
        errors=errors,
        polis=polis,
        payers=kpi.PAYERS,
        report=report,
        summary=_summary(report) if report is not None else None,
        sections=sections,
        charts=charts,
        downloads=downloads,
        live=live,
        live_places=live_places,
        may_set_targets=not kabupaten,
    ), (400 if errors else 200)


def _polis(places: list[Puskesmas]) -> list[tuple[str, str]]:
    seen: dict[str, tuple[int, str]] = {}
    for p in Poli.select().where(Poli.puskesmas.in_([x.id for x in places])).order_by(Poli.order, Poli.code):
        seen.setdefault(p.code, (p.order, p.name))
    return [(code, name) for code, (_o, name) in sorted(seen.items(), key=lambda kv: (kv[1][0], kv[0]))]


def _live_kabupaten(places: list[Puskesmas]) -> list[tuple[Puskesmas, dict]]:
    return [(p, kpi.live_today(p)["totals"]) for p in places]


@bp.route("/langsung.json")
@staff_pages.roles(*VIEWERS)
def live():
    code = (request.args.get("puskesmas") or "").strip()
    if not code and g.staff.role in KABUPATEN:
        return jsonify({"error": "Pilih satu puskesmas.", "fields": {"puskesmas": "Wajib diisi."}}), 400
    return jsonify(kpi.live_today(pick(g.staff, code)))


@bp.route("/target", methods=["GET", "POST"])
@staff_pages.roles(*VIEWERS)
def targets():
    code = (request.values.get("puskesmas") or "").strip()[:40]
    if not code and g.staff.role in KABUPATEN:
        first = scope(g.staff)
        if not first:
            raise http_error(404, "Belum ada puskesmas.")
        code = first[0].code
    place = pick(g.staff, code)
    current = kpi.targets(place)
    values = {f"{s}_{k}": str(v[k]) for s, v in current.items() for k in ("menit", "persen")}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values.update({k: (request.form.get(k) or "").strip()[:10] for k in values})
        try:
            kpi.set_targets(g.staff, place, request.form)
        except kpi.KpiError as e:
            errors = e.fields
        else:
            flash("Target mutu disimpan.", "ok")
            return redirect(url_for("dashboard.targets", puskesmas=place.code))
    return render_template(
        "dashboard_targets.html",
        place=place,
        places=scope(g.staff),
        values=values,
        errors=errors,
        steps=kpi.STEPS,
        limits=kpi.TARGET_LIMITS,
    ), (400 if errors else 200)
