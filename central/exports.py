"""Exports of the back office: visits and the KPI tables as CSV and XLSX, for a period and puskesmas.

- CSV is UTF-8 with a byte order mark (Excel then reads the letters right) and CRLF line ends.
  Two dialects: ``comma`` (the default: comma between fields, a point in decimals; what most
  programs read) and ``excel-id`` (semicolon between fields, a comma in decimals: what Excel with
  Indonesian regional settings opens straight into columns).
- XLSX is written by xlsxwriter in constant-memory mode into a temporary file, then streamed:
  one sheet per table, a bold header row, column widths, dates and times as real dates.
- A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
  leading apostrophe, so a spreadsheet never runs it as a formula (CSV/formula injection).
- Rows are read from the database one day at a time, so a year of one puskesmas (about 90,000
  visits) or of the whole kabupaten never sits in memory at once.

A visit row holds no NIK, name, birth date or BPJS number: the ticket label, times, poli,
payer, kind, state, counter and the staff member's username only.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import xlsxwriter

from central import kpi
from central.core.calendar import WIB, parse_date
from central.models import Poli, Puskesmas, Visit

MAX_DAYS = 366

PAYERS = {"BPJS": "BPJS", "UMUM": "Umum"}
KINDS = {"reservation": "Reservasi", "walkin": "Datang langsung", "transfer": "Datang langsung (lanjutan dari loket)"}
STATES = {
    "waiting": "Menunggu",
    "called": "Dipanggil",
    "serving": "Sedang dilayani",
    "done": "Selesai",
    "no_show": "Tidak hadir",
    "cancelled": "Dibatalkan",
    "transferred": "Diteruskan ke poli",
}
STEPS = {"pendaftaran": "Pendaftaran (loket)", "poli": "Poli"}

DIALECTS = {"comma": (",", "."), "excel-id": (";", ",")}

# (key, header, width in characters) of the visits export, in column order
VISIT_COLUMNS = (
    ("puskesmas", "Puskesmas", 24),
    ("label", "Nomor antrean", 14),
    ("day", "Tanggal", 12),
    ("step", "Layanan", 19),
    ("poli", "Poli", 20),
    ("payer", "Cara bayar", 11),
    ("kind", "Jenis kunjungan", 22),
    ("state", "Status", 18),
    ("issued", "Ambil nomor (WIB)", 19),
    ("called", "Dipanggil (WIB)", 19),
    ("serving", "Mulai dilayani (WIB)", 19),
    ("done", "Selesai (WIB)", 19),
    ("wait", "Waktu tunggu (menit)", 13),
    ("service", "Waktu layanan (menit)", 13),
    ("counter", "Loket / ruang", 14),
    ("staff", "Petugas", 18),
)
TIME_KEYS = ("issued", "called", "serving", "done")


class FilterError(Exception):
    """Bad filters: ``fields`` maps each field to an Indonesian message."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


@dataclass(frozen=True)
class VisitFilter:
    """Which visits: of these puskesmas, WIB days ``start``..``end`` inclusive, optionally one poli,
    payer (BPJS / UMUM) and state."""

    puskesmas_ids: tuple[int, ...]
    start: dt.date
    end: dt.date
    poli: str | None = None
    payer: str | None = None
    state: str | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass
class Sheet:
    """A table to write: a title (the sheet name), headers and rows of plain values."""

    title: str
    columns: list[str]
    rows: Iterable[list]
    widths: list[int] = field(default_factory=list)


def parse_filter(
    args: Mapping[str, str], places: list[Puskesmas], today: dt.date, *, start_key: str = "from", end_key: str = "to"
) -> VisitFilter:
    """Filters from a form or query string for visits of ``places`` (already checked against the
    staff member's scope). An empty period means the last 30 days up to ``today``. Raises
    FilterError with a message per bad field."""
    errors: dict[str, str] = {}
    raw_start = (args.get(start_key) or "").strip()
    raw_end = (args.get(end_key) or "").strip()
    start = parse_date(raw_start) if raw_start else None
    end = parse_date(raw_end) if raw_end else None
    if raw_start and start is None:
        errors[start_key] = "Tanggal awal tidak valid. Contoh: 2026-11-01 atau 01-11-2026."
    if raw_end and end is None:
        errors[end_key] = "Tanggal akhir tidak valid. Contoh: 2026-11-30 atau 30-11-2026."
    if not errors:
        end = end or (today if start is None or start <= today else start)
        start = start or max(end - dt.timedelta(days=29), dt.date(2000, 1, 1))
        if start > end:
            errors[end_key] = "Tanggal akhir tidak boleh sebelum tanggal awal."
        elif (end - start).days + 1 > MAX_DAYS:
            errors[end_key] = f"Periode paling panjang {MAX_DAYS} hari. Persingkat periodenya."
    poli = (args.get("poli") or "").strip().upper() or None
    if poli is not None:
        known = Poli.select().where((Poli.puskesmas.in_([p.id for p in places])) & (Poli.code == poli)).exists()
        if len(poli) > 16 or not known:
            errors["poli"] = "Poli tidak dikenal di puskesmas yang dipilih."
    payer = (args.get("payer") or "").strip().upper() or None
    if payer is not None and payer not in PAYERS:
        errors["payer"] = "Cara bayar harus BPJS atau Umum."
    state = (args.get("state") or "").strip().lower() or None
    if state is not None and state not in STATES:
        errors["state"] = "Status tidak dikenal. Pilih salah satu: " + ", ".join(STATES.values()) + "."
    if errors:
        raise FilterError(errors)
    return VisitFilter(tuple(p.id for p in places), start, end, poli, payer, state)


def _where(f: VisitFilter):
    cond = Visit.puskesmas.in_(list(f.puskesmas_ids)) & (Visit.day >= f.start) & (Visit.day <= f.end)
    if f.poli:
        cond &= Visit.poli == f.poli
    if f.payer:
        cond &= Visit.payer == f.payer
    if f.state:
        cond &= Visit.state == f.state
    return cond


def count_visits(f: VisitFilter) -> int:
    return Visit.select().where(_where(f)).count()


def visit_page(f: VisitFilter, offset: int, limit: int) -> list[Visit]:
    """One page of visits, ordered by day, then as they came in (the order of the exports)."""
    return list(Visit.select().where(_where(f)).order_by(Visit.day, Visit.id).offset(offset).limit(limit))


def iter_visits(f: VisitFilter) -> Iterator[Visit]:
    """Every matching visit: day by day, puskesmas by puskesmas, then as they came in (by id).

    One query per day (a few hundred rows a puskesmas; the (puskesmas, day) index finds them),
    sorted here: an ORDER BY id would let SQLite walk the whole table in id order instead."""
    for i in range(f.days):
        day = f.start + dt.timedelta(days=i)
        one = VisitFilter(f.puskesmas_ids, day, day, f.poli, f.payer, f.state)
        rows = list(Visit.select(*COLUMNS).where(_where(one)).namedtuples())
        rows.sort(key=lambda v: (v.puskesmas_id, v.id))
        yield from rows


# what an export reads of a visit (plain rows: a model instance per row costs more than the rest)
COLUMNS = (
    Visit.id,
    Visit.puskesmas.alias("puskesmas_id"),
    Visit.label,
    Visit.day,
    Visit.queue,
    Visit.poli,
    Visit.payer,
    Visit.kind,
    Visit.state,
    Visit.slot,
    Visit.issued_at,
    Visit.called_at,
    Visit.serving_at,
    Visit.done_at,
    Visit.counter,
    Visit.called_by,
    Visit.done_by,
    Visit.wait_s,
    Visit.slot_wait_s,
    Visit.service_s,
)


def _as_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def wib(stamp: str | None) -> dt.datetime | None:
    """An event time (ISO 8601 with its zone) as a naive WIB date and time, whole seconds."""
    if not stamp:
        return None
    if stamp.endswith("+07:00") and len(stamp) >= 19:  # what edges send: already WIB
        try:
            return dt.datetime.fromisoformat(stamp[:19])
        except ValueError:
            return None
    try:
        moment = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=WIB)
    return moment.astimezone(WIB).replace(tzinfo=None, microsecond=0)


def timings(v: Visit) -> dict[str, int | None]:
    """The visit's waiting and service seconds as ``central.kpi`` defines them: the figures
    ingest stored, computed the same way for a row that has none yet."""
    stored = {"wait_s": v.wait_s, "slot_wait_s": v.slot_wait_s, "service_s": v.service_s}
    if all(value is not None for value in stored.values()):
        return stored
    computed = kpi.timings(v)
    return {k: stored[k] if stored[k] is not None else computed[k] for k in stored}


class Names:
    """Puskesmas and poli names, looked up once per export."""

    def __init__(self, puskesmas_ids: Iterable[int]):
        ids = list(puskesmas_ids)
        self.puskesmas = {p.id: p.name for p in Puskesmas.select().where(Puskesmas.id.in_(ids))}
        self.poli = {(p.puskesmas_id, p.code): p.name for p in Poli.select().where(Poli.puskesmas.in_(ids))}

    def poli_name(self, v: Visit) -> str:
        if not v.poli:
            return ""
        return self.poli.get((v.puskesmas_id, v.poli), v.poli)


def visit_record(v: Visit, names: Names) -> dict:
    """One visit as the export and the API show it: times as WIB datetimes, minutes with one
    decimal (``central.kpi.minutes``). A loket ticket's poli is the one it sent the patient to."""
    t = timings(v)
    return {
        "puskesmas": names.puskesmas.get(v.puskesmas_id, ""),
        "label": v.label,
        "day": _as_date(v.day),
        "step": STEPS["pendaftaran"] if (v.queue or "").startswith("REG-") else STEPS["poli"],
        "poli": names.poli_name(v),
        "payer": PAYERS.get(v.payer, v.payer),
        "kind": KINDS.get(v.kind, v.kind or "Datang langsung"),
        "state": STATES.get(v.state, v.state),
        "issued": wib(v.issued_at),
        "called": wib(v.called_at),
        "serving": wib(v.serving_at),
        "done": wib(v.done_at),
        "wait": kpi.minutes(t["wait_s"]),
        "service": kpi.minutes(t["service_s"]),
        "counter": v.counter or "",
        "staff": v.called_by or v.done_by or "",
    }


def visits_sheet(f: VisitFilter) -> Sheet:
    names = Names(f.puskesmas_ids)
    keys = [c[0] for c in VISIT_COLUMNS]

    def rows() -> Iterator[list]:
        for v in iter_visits(f):
            record = visit_record(v, names)
            yield [record[k] for k in keys]

    return Sheet("Kunjungan", [c[1] for c in VISIT_COLUMNS], rows(), [c[2] for c in VISIT_COLUMNS])


ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def table_sheet(table: kpi.Table) -> Sheet:
    """A KPI table as a sheet: its values as they are, a day written YYYY-MM-DD made a date."""
    widths = [max(10, min(40, len(str(c)) + 2)) for c in table.columns]
    for row in table.rows[:200]:
        for i, value in enumerate(row[: len(widths)]):
            widths[i] = max(widths[i], min(40, len(_text(value, ".")) + 2))
    rows = [[_day_or(value) for value in row] for row in table.rows]
    return Sheet(table.title, list(table.columns), rows, widths)


def _day_or(value):
    if isinstance(value, str) and ISO_DAY.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value
    return value


# ---- cells ----------------------------------------------------------------------------------------
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def guard(text: str) -> str:
    """Text that a spreadsheet shows as text, never runs as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def _text(value, decimal: str) -> str:
    if type(value) is str:
        return guard(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Ya" if value else "Tidak"
    if isinstance(value, dt.datetime):
        return value.isoformat(" ", "seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        text = format(round(value, 2), "f").rstrip("0").rstrip(".") if value == value else ""
        return (text if text not in ("", "-0") else "0" if text else "").replace(".", decimal)
    if isinstance(value, int):
        return str(value)
    return guard(str(value))


# ---- CSV ------------------------------------------------------------------------------------------
def csv_chunks(sheet: Sheet, dialect: str = "comma", rows_per_chunk: int = 500) -> Iterator[bytes]:
    """The sheet as CSV bytes (BOM first), a few hundred rows per chunk."""
    sep, decimal = DIALECTS.get(dialect, DIALECTS["comma"])
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=sep, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([guard(str(c)) for c in sheet.columns])
    yield ("\ufeff" + buffer.getvalue()).encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    for n, row in enumerate(sheet.rows, 1):
        writer.writerow([_text(value, decimal) for value in row])
        if n % rows_per_chunk == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


# ---- XLSX -----------------------------------------------------------------------------------------
SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\']")


def _sheet_name(title: str, used: set[str]) -> str:
    """A sheet name (at most 31 characters, none of []:*?/\\'): the title without its
    parenthesis, cut at a word; unique in the workbook."""
    base = " ".join(SHEET_NAME_BAD.sub(" ", re.sub(r"\s*\([^)]*\)", "", title)).split())
    if len(base) > 31:
        base = base[:31].rsplit(" ", 1)[0]
    base = base or "Tabel"
    name, n = base, 2
    while name.lower() in used:
        suffix = f" ({n})"
        name, n = base[: 31 - len(suffix)] + suffix, n + 1
    used.add(name.lower())
    return name


def sheet_names(titles: Iterable[str]) -> list[str]:
    """The sheet names ``write_xlsx`` gives tables with these titles, in order."""
    used: set[str] = set()
    return [_sheet_name(t, used) for t in titles]


def write_xlsx(path: str, sheets: Iterable[Sheet], notes: list[tuple[str, str]] | None = None) -> None:
    """Write ``sheets`` (rows consumed once, in order) and an optional "Keterangan" sheet to ``path``."""
    book = xlsxwriter.Workbook(path, {"constant_memory": True, "tmpdir": os.path.dirname(path) or None})
    try:
        bold = book.add_format({"bold": True, "bg_color": "#E6F2F1", "bottom": 1, "text_wrap": True, "valign": "top"})
        date_format = book.add_format({"num_format": "dd-mm-yyyy"})
        time_format = book.add_format({"num_format": "dd-mm-yyyy hh:mm:ss"})
        number_format = book.add_format({"num_format": "0.0"})
        used: set[str] = set()
        for sheet in sheets:
            ws = book.add_worksheet(_sheet_name(sheet.title, used))
            for col, width in enumerate(sheet.widths):
                ws.set_column(col, col, width)
            ws.set_row(0, 30)
            for col, header in enumerate(sheet.columns):
                ws.write_string(0, col, guard(str(header)), bold)
            ws.freeze_panes(1, 0)
            for r, row in enumerate(sheet.rows, 1):
                for col, value in enumerate(row):
                    if value is None:
                        continue
                    if isinstance(value, bool):
                        ws.write_string(r, col, "Ya" if value else "Tidak")
                    elif isinstance(value, dt.datetime):
                        ws.write_datetime(r, col, value, time_format)
                    elif isinstance(value, dt.date):
                        ws.write_datetime(r, col, dt.datetime.combine(value, dt.time()), date_format)
                    elif isinstance(value, float):
                        ws.write_number(r, col, value, number_format)
                    elif isinstance(value, int):
                        ws.write_number(r, col, value)
                    else:
                        ws.write_string(r, col, guard(str(value)))
        if notes:
            ws = book.add_worksheet(_sheet_name("Keterangan", used))
            ws.set_column(0, 0, 24)
            ws.set_column(1, 1, 80)
            for r, (label, text) in enumerate(notes):
                ws.write_string(r, 0, guard(label), bold)
                ws.write_string(r, 1, guard(text))
    finally:
        book.close()


def xlsx_chunks(sheets: Iterable[Sheet], notes: list[tuple[str, str]] | None = None) -> Iterator[bytes]:
    """Write the workbook to a private temporary file, then stream it and remove the file."""
    folder = tempfile.mkdtemp(prefix="rosma-export-")
    path = os.path.join(folder, "export.xlsx")
    try:
        write_xlsx(path, sheets, notes)
        with open(path, "rb") as handle:
            while block := handle.read(64 * 1024):
                yield block
    finally:
        for name in os.listdir(folder):
            os.unlink(os.path.join(folder, name))
        os.rmdir(folder)


def notes(f: VisitFilter, names: list[str], generated: dt.datetime, by: str) -> list[tuple[str, str]]:
    """The "Keterangan" sheet: what the workbook holds."""
    extra = []
    if f.poli:
        extra.append(("Poli", f.poli))
    if f.payer:
        extra.append(("Cara bayar", PAYERS[f.payer]))
    if f.state:
        extra.append(("Status", STATES[f.state]))
    return [
        ("Puskesmas", ", ".join(names)),
        ("Periode", f"{f.start:%d-%m-%Y} s.d. {f.end:%d-%m-%Y} ({f.days} hari)"),
        *extra,
        ("Dibuat", f"{generated:%d-%m-%Y %H.%M} WIB oleh {by}"),
        ("Waktu", "Semua jam dalam WIB (Asia/Jakarta). Waktu tunggu: ambil nomor sampai dipanggil pertama."),
        ("Waktu layanan", "Dipanggil (atau mulai dilayani) sampai selesai, untuk kunjungan yang dilayani."),
        ("Privasi", "Tanpa NIK, nama, tanggal lahir, atau nomor BPJS pasien."),
    ]


def filename(kind: str, codes: list[str], f: VisitFilter, ext: str) -> str:
    """A download name such as ``kunjungan-cibinong-2026-11-01-2026-11-30.csv``."""
    place = codes[0] if len(codes) == 1 else "kabupaten"
    safe = re.sub(r"[^a-z0-9-]+", "-", f"{kind}-{place}".lower()).strip("-")
    return f"{safe}-{f.start.isoformat()}-{f.end.isoformat()}.{ext}"
