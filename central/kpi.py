"""The back office's figures (Dashboard kunjungan, exports, the back-office API), computed one way.

Everything here comes from the ``visit`` rows that ``central.ingest`` builds from the edges'
typed events, and from ``reservation`` rows; nothing is estimated.

Definitions (the same on SQLite and PostgreSQL, tested in tests/central/test_kpi.py):

- A **kunjungan** (visit) is a patient's arrival: a ticket of kind ``walkin`` (taken at the
  kiosk or loket, queued at registration) or ``reservation`` (a QR check-in, queued at its poli).
  A ``transfer`` ticket (the poli ticket a registered walk-in is sent on with) continues a
  kunjungan and is not counted again. Its poli is the ticket's poli; a loket ticket's poli is
  the one it was transferred to (``central.ingest`` keeps it), none if it never was.
- Steps: **pendaftaran** is every ticket of a registration queue (``REG-*``), **poli** every
  ticket of a poli queue (``POLI-*``).
- Times are whole seconds between the events' exact times (ISO 8601 with milliseconds),
  rounded half up (``seconds``): **tunggu** (waiting) is ticket issued -> first call
  (``Visit.wait_s``); for a reservation, **dari awal slot** is the slot's start (08:00 of
  "08:00-09:00", WIB, on the visit's day) -> first call (``Visit.slot_wait_s``, negative when
  called early); **layanan** (service) is serving (else the call) -> done or transferred
  (``Visit.service_s``; a no-show or a cancelled ticket has none).
- Percentiles are **nearest-rank**: p50 / p90 of n values sorted ascending is the value at
  rank ceil(p/100 * n) (1-based); PostgreSQL's ``percentile_disc`` is exactly that, SQLite's
  values are ranked in Python the same way.
- Tables give minutes with one decimal (seconds / 60 rounded half up) and percentages with one
  decimal (rounded half up); None where there is nothing to measure.
- No-show rate: tickets marked no-show / tickets called, per step.
- Quality targets (``targets``): per step, the share of called tickets whose waiting time is
  at most ``menit`` minutes, and whether it reaches the ``persen`` the kepala puskesmas set.
- Hour of day is the hour (WIB) of the ticket's issue time.

Nothing here reads or returns NIK, birth date or BPJS numbers.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from peewee import PostgresqlDatabase, fn

from central import audit, services
from central.models import Poli, Puskesmas, Reservation, Staff, Visit, database

WIB = dt.timezone(dt.timedelta(hours=7))
MAX_DAYS = 731  # the longest period one report covers
PERCENTILES = (50, 90)

PAYERS = {"BPJS": "BPJS", "UMUM": "Umum"}
KINDS = {"reservation": "Reservasi", "walkin": "Datang langsung"}
STEPS = {"pendaftaran": "Pendaftaran (loket)", "poli": "Poli", "reservasi": "Reservasi (dari awal slot)"}
# the step each quality target measures, and what it says
TARGET_TEXT = {
    "pendaftaran": "Tunggu pendaftaran ≤ {menit} menit untuk {persen}% pasien",
    "poli": "Tunggu poli ≤ {menit} menit untuk {persen}% pasien",
    "reservasi": "Pasien reservasi dipanggil ≤ {menit} menit setelah awal slot untuk {persen}% pasien",
}
DEFAULT_TARGETS = {
    "pendaftaran": {"menit": 5, "persen": 90},
    "poli": {"menit": 30, "persen": 80},
    "reservasi": {"menit": 15, "persen": 80},
}
TARGET_LIMITS = {"menit": (1, 240), "persen": (1, 100)}


class KpiError(ValueError):
    """Bad input (a period, a filter, a target): ``fields`` maps each field to its message."""

    def __init__(self, fields: dict[str, str], message: str = "Ada isian yang perlu diperbaiki."):
        super().__init__(message)
        self.message = message
        self.fields = fields


class KpiTooWide(KpiError):
    """A filtered report of several puskesmas over a longer period than ``FILTERED_MAX_DAYS``."""


# A poli or payer filter over several puskesmas reads their visits themselves (the kabupaten's
# rollup, ``central.kpi_rollup``, holds every visit together): a month of a kabupaten answers in
# about 2-4 s, a year would take half a minute, so such a report is kept to a month.
FILTERED_MAX_DAYS = 31
TOO_WIDE = (
    "Untuk lebih dari satu puskesmas, saringan poli atau cara bayar dipakai untuk paling lama "
    f"{FILTERED_MAX_DAYS} hari. Pendekkan periodenya, pilih satu puskesmas, atau hapus saringan."
)


# ---- exact times ---------------------------------------------------------------------------------


def seconds(start: str | dt.datetime | None, end: str | dt.datetime | None) -> int | None:
    """Whole seconds from ``start`` to ``end`` (ISO 8601 strings or aware datetimes), rounded
    half up (1.5 s -> 2, -1.5 s -> -1); None if either is missing or unreadable."""
    if start is None or end is None:
        return None
    try:
        a = start if isinstance(start, dt.datetime) else dt.datetime.fromisoformat(start)
        b = end if isinstance(end, dt.datetime) else dt.datetime.fromisoformat(end)
        delta = b - a
    except (TypeError, ValueError):
        return None
    ms = (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000
    return (ms + 500) // 1000


def slot_start(day: dt.date | str, slot: str | None) -> dt.datetime | None:
    """The start of a reservation slot ("08:00-09:00") on ``day``, in WIB; None if unreadable."""
    if not slot:
        return None
    try:
        day = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))
        hh, mm = slot.split("-", 1)[0].split(":")
        return dt.datetime.combine(day, dt.time(int(hh), int(mm)), WIB)
    except (TypeError, ValueError):
        return None


def timings(visit) -> dict[str, int | None]:
    """``wait_s``, ``slot_wait_s`` and ``service_s`` of a visit row (see the module doc)."""
    wait = seconds(visit.issued_at, visit.called_at)
    slot_wait = None
    if visit.kind == "reservation" and visit.called_at:
        slot_wait = seconds(slot_start(visit.day, visit.slot), visit.called_at)
    service = None
    if visit.state in ("done", "transferred") and visit.done_at:
        service = seconds(visit.serving_at or visit.called_at, visit.done_at)
    return {"wait_s": wait, "slot_wait_s": slot_wait, "service_s": service}


# ---- small exact helpers -------------------------------------------------------------------------


def nearest_rank(values: list[int], p: int) -> int | None:
    """The p-th percentile (nearest rank) of ``values`` sorted ascending."""
    if not values:
        return None
    rank = max(1, -(-p * len(values) // 100))
    return values[rank - 1]


def minutes(s: int | None) -> float | None:
    """Seconds as minutes with one decimal, rounded half up."""
    if s is None:
        return None
    return float((Decimal(s) / 60).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def percent(part: int, whole: int) -> float | None:
    """``part`` of ``whole`` in percent, one decimal, rounded half up; None for nothing."""
    if not whole:
        return None
    return float((Decimal(100 * part) / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


# ---- the period and the report -------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Days ``start`` to ``end``, both included."""

    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def dates(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range(self.days)]

    @classmethod
    def parse(cls, start: str | None, end: str | None, today: dt.date | None = None) -> Period:
        """A period from form fields ``from`` / ``to`` (YYYY-MM-DD or DD-MM-YYYY); empty: the
        last 30 days up to today. Raises KpiError with Indonesian messages per field."""
        today = today or services.now_wib().date()
        errors: dict[str, str] = {}
        a = _date(start, "from", errors) if (start or "").strip() else today - dt.timedelta(days=29)
        b = _date(end, "to", errors) if (end or "").strip() else today
        if not errors and a > b:
            errors["to"] = "Tanggal akhir tidak boleh sebelum tanggal awal."
        if not errors and (b - a).days + 1 > MAX_DAYS:
            errors["to"] = f"Rentang paling panjang {MAX_DAYS} hari."
        if errors:
            raise KpiError(errors, "Periode tidak valid. Periksa tanggalnya.")
        return cls(a, b)


def _date(text: str | None, name: str, errors: dict[str, str]) -> dt.date | None:
    text = (text or "").strip()
    for fmt in ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y"):
        try:
            d = dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        if 2000 <= d.year <= 2100:
            return d
    errors[name] = "Tanggal tidak dikenali. Tulis tanggal-bulan-tahun, seperti 26-11-2026."
    return None


@dataclass
class Table:
    """One KPI table: plain values only, so the dashboard, CSV/XLSX/PDF and the API show the same."""

    key: str
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"key": self.key, "title": self.title, "columns": self.columns, "rows": self.rows}


@dataclass
class Report:
    """The KPI tables for some puskesmas over a period (see ``report``)."""

    puskesmas: list[Puskesmas]
    period: Period
    poli: str | None
    payer: str | None
    tables: dict[str, Table]

    def as_dict(self) -> dict:
        return {
            "puskesmas": [p.code for p in self.puskesmas],
            "start": self.period.start.isoformat(),
            "end": self.period.end.isoformat(),
            "poli": self.poli,
            "payer": self.payer,
            "tables": {k: t.as_dict() for k, t in self.tables.items()},
        }


# ---- SQL -----------------------------------------------------------------------------------------


class _Where:
    """The WHERE clause shared by one report's queries (parameters in the database's style)."""

    def __init__(
        self,
        ids: list[int],
        period: Period,
        poli: str | None,
        payer: str | None,
        ranges: list[tuple[dt.date, dt.date]] | None = None,
    ):
        ph = database.obj.param
        self.ph = ph
        ranges = ranges if ranges is not None else [(period.start, period.end)]
        days = " OR ".join([f"(v.day >= {ph} AND v.day <= {ph})"] * len(ranges)) or "1 = 0"
        parts = [f"v.puskesmas_id IN ({', '.join([ph] * len(ids))})", f"({days})"]
        params: list = [*ids, *[d.isoformat() for r in ranges for d in r]]
        if poli:
            parts.append(f"v.poli = {ph}")
            params.append(poli)
        if payer:
            parts.append(f"v.payer = {ph}")
            params.append(payer)
        self.sql = " AND ".join(parts)
        self.params = params
        self.cache: dict[tuple, dict] = {}


def _postgres() -> bool:
    return isinstance(database.obj, PostgresqlDatabase)


def _rows(sql: str, params: list) -> list[tuple]:
    return list(database.execute_sql(sql, params).fetchall())


STEP_SQL = "CASE WHEN SUBSTR(v.queue, 1, 4) = 'REG-' THEN 'pendaftaran' ELSE 'poli' END"
ARRIVAL = "v.kind IN ('walkin', 'reservation')"
HOUR_SQL = "SUBSTR(v.issued_at, 12, 2)"


def tenths(column: str) -> str:
    """SQL: a seconds column as the tenths of a minute the tables show (``minutes``: half away
    from zero), in integers only, the same on SQLite and PostgreSQL."""
    return f"(CASE WHEN {column} >= 0 THEN ({column} + 3) / 6 ELSE -((3 - {column}) / 6) END)"


def _pct(where: _Where, groups: list[str], column: str, extra: str = "") -> dict[tuple, tuple]:
    """{group values: (n, p50 minutes, p90 minutes)} of a seconds column over the report's rows.

    Nearest rank over the seconds, taken from a histogram of the values at the resolution shown
    (tenths of a minute): rounding keeps the order, so the rank's value rounds to the same figure,
    and the database only counts (a hash aggregate) instead of sorting every value. The same
    histogram summed over days (``central.kpi_rollup``) gives the same figures."""
    hist = _histogram(where, groups, column, extra)
    out: dict[tuple, tuple] = {}
    for key, pairs in hist.items():
        pairs = sorted((b, c) for b, _o, c in pairs)
        n = sum(c for _b, c in pairs)
        out[key] = (n, *[_tenth(_rank_value(pairs, n, p)) for p in PERCENTILES])
    return out


def _histogram(where: _Where, groups: list[str], column: str, extra: str = "") -> dict[tuple, list]:
    """{group values: [(tenths bucket, above its nominal value 0/1, count)]} (see ``_within``)."""
    for kind in ("pct", "pcto"):
        spec = (kind, tuple(groups), column, extra)
        if spec in where.cache:
            return where.cache[spec]
    return _query(where, [("pcto", tuple(groups), column, extra)])[0]


def _within(hist: dict[tuple, list], key: tuple, menit: int) -> tuple[int, int]:
    """(n, how many at most ``menit`` minutes) of one group of a histogram with the ``o`` flag.

    A value s has bucket b = round(s / 6), and o = 1 when b is a whole minute's bucket and s > 6 b:
    below bucket 10 m every value is under m minutes, above it every value is over, and in bucket
    10 m exactly those with o = 0 are within (s <= 60 m): the count is exact at whole seconds."""
    limit = 10 * menit
    n = within = 0
    for b, o, c in hist.get(key, ()):
        n += c
        if b < limit or (b == limit and not o):
            within += c
    return n, within


def _rank_value(pairs: list[tuple[int, int]], n: int, p: int) -> int:
    """The value at nearest rank ceil(p/100 * n) of a sorted histogram [(value, count)]."""
    rank = max(1, -(-p * n // 100))
    seen = 0
    for value, count in pairs:
        seen += count
        if seen >= rank:
            return value
    return pairs[-1][0]


def _tenth(b: int) -> float:
    return float(Decimal(b) / 10)


def _counts(where: _Where, groups: list[str], extra: str = "") -> dict[tuple, int]:
    spec = ("count", tuple(groups), None, extra)
    if spec in where.cache:
        return where.cache[spec]
    return _query(where, [spec])[0]


WIDTH = 4  # the most group values a grouping has (and the rollup's columns g1..g4)


def union_sql(where_sql: str, specs: list[tuple]) -> str:
    """SQL giving every grouping of ``specs`` over the rows matching ``where_sql``, as rows of
    (q: the spec's index, g1..g4 as text, b: tenths bucket or NULL, o: 0/1, n: count).

    The rows are read once (a CTE of the columns needed: materialised, held in memory by the
    ``work_mem`` ``report`` sets on PostgreSQL) and each grouping is a branch of one UNION ALL.
    ``central.kpi_rollup`` stores the same rows per day and month."""
    # what the branches compute is computed once per row in the CTE
    derived = {
        STEP_SQL: "v.step",
        HOUR_SQL: "v.hour",
        REG: "v.step = 'pendaftaran'",
        POLI_Q: "v.ispoli = 1",
        CALLED: "v.called = 1",
        **{tenths(c): f"v.{c[2:]}_b" for c in ("v.wait_s", "v.slot_wait_s", "v.service_s")},
    }

    def fast(expr: str) -> str:
        for slow, quick in derived.items():
            expr = expr.replace(slow, quick)
        return expr

    branches = []
    for i, (kind, groups, column, extra) in enumerate(specs):
        conds = [fast(c) for c in (extra, f"{column} IS NOT NULL" if kind != "count" else "") if c]
        groups = [fast(g) for g in groups]
        cols = [f"CAST({g} AS TEXT)" for g in groups] + ["CAST(NULL AS TEXT)"] * (WIDTH - len(groups))
        cols = [f"{c} AS g{j}" for j, c in enumerate(cols, 1)]
        bucket = fast(tenths(column)) if kind != "count" else "CAST(NULL AS INTEGER)"
        # only a whole minute's bucket needs the flag (``_within``): the others are not split
        over = (
            f"CASE WHEN {bucket} = {bucket} / 10 * 10 AND {column} > 6 * {bucket} THEN 1 ELSE 0 END"
            if kind == "pcto"
            else "0"
        )
        keys = ", ".join([*groups, *([bucket] if kind != "count" else []), *([over] if kind == "pcto" else [])])
        branches.append(
            f"SELECT {i} AS q, {', '.join(cols)}, {bucket} AS b, {over} AS o, COUNT(*) AS n FROM base v"
            f"{(' WHERE ' + ' AND '.join(conds)) if conds else ''} GROUP BY {keys}"
        )
    hint = "MATERIALIZED " if _postgres() else ""
    return (
        f"WITH base AS {hint}(SELECT v.puskesmas_id, v.day, v.poli, v.payer, v.kind, v.state, v.counter, "
        f"v.called_by, v.wait_s, v.slot_wait_s, v.service_s, {STEP_SQL} AS step, {HOUR_SQL} AS hour, "
        f"CASE WHEN {POLI_Q} THEN 1 ELSE 0 END AS ispoli, CASE WHEN {CALLED} THEN 1 ELSE 0 END AS called, "
        + ", ".join(f"{tenths(c)} AS {c[2:]}_b" for c in ("v.wait_s", "v.slot_wait_s", "v.service_s"))
        + f" FROM visit v WHERE {where_sql}) "
        + " UNION ALL ".join(branches)
    )


def _prefetch(where: _Where, specs: list[tuple]) -> None:
    """Run many groupings at once (``union_sql``); the answers wait in ``where.cache`` in the
    shape ``_counts`` and ``_histogram`` give."""
    for spec, result in zip(specs, _query(where, specs), strict=True):
        merge(where.cache, spec, result)


def _query(where: _Where, specs: list[tuple]) -> list[dict]:
    return collect(_rows(union_sql(where.sql, specs), where.params), specs)


def collect(rows, specs: list[tuple]) -> list[dict]:
    """The rows of ``union_sql`` (or of the rollup) as one result per spec: counts
    {group values: n}, histograms {group values: [(b, o, n)]}."""
    results: list[dict] = [defaultdict(list) if kind != "count" else {} for kind, *_rest in specs]
    # per spec: how many group values, and which of them are numbers (the UNION ALL carries text)
    shapes = [(len(groups), [j for j, g in enumerate(groups) if _numeric(g)]) for _k, groups, _c, _e in specs]
    for row in rows:
        i = int(row[0])
        width, numbers = shapes[i]
        key = row[1 : 1 + width]
        if numbers:
            key = list(key)
            for j in numbers:
                if key[j] is not None:
                    key[j] = int(key[j])
        key = tuple(key)
        if specs[i][0] != "count":
            results[i][key].append((int(row[-3]), int(row[-2]), int(row[-1])))
        else:
            results[i][key] = results[i].get(key, 0) + int(row[-1])
    return results


def merge(cache: dict, spec: tuple, result: dict) -> None:
    """Add one spec's result to what ``cache`` already holds for it (another part of the period)."""
    have = cache.get(spec)
    if have is None:
        cache[spec] = result
        return
    for key, value in result.items():
        if spec[0] == "count":
            have[key] = have.get(key, 0) + value
        else:
            have.setdefault(key, []).extend(value)


def _numeric(group: str) -> bool:
    """Whether a grouping's values are numbers (given back as such)."""
    return group == "v.puskesmas_id" or group.endswith("THEN 1 ELSE 0 END")


def _mins(triple: tuple | None) -> list:
    """[n, p50 minutes, p90 minutes] of a ``_pct`` triple; [0, None, None] for nothing."""
    if triple is None:
        return [0, None, None]
    return list(triple)


def _sum(d: dict[tuple, int], pred) -> int:
    return sum(n for k, n in d.items() if pred(k))


# ---- the report ----------------------------------------------------------------------------------


def report(
    puskesmas_ids: list[int],
    start: dt.date,
    end: dt.date,
    poli: str | None = None,
    payer: str | None = None,
) -> Report:
    """Every KPI table for these puskesmas over ``start``..``end`` (both included), optionally for
    one poli code and one payer ("BPJS" / "UMUM"). Tables, by key: harian, poli, cara_bayar,
    jenis, tunggu_poli, tunggu_jam, layanan_poli, petugas, tidak_hadir, reservasi, target, and
    puskesmas (comparison) when there is more than one. Raises KpiError for a bad filter."""
    period = Period(start, end)
    errors: dict[str, str] = {}
    if start > end:
        errors["to"] = "Tanggal akhir tidak boleh sebelum tanggal awal."
    elif period.days > MAX_DAYS:
        errors["to"] = f"Rentang paling panjang {MAX_DAYS} hari."
    if payer is not None and payer not in PAYERS:
        errors["payer"] = "Cara bayar harus BPJS atau Umum."
    if poli is not None and (not isinstance(poli, str) or not poli or len(poli) > 16):
        errors["poli"] = "Poli tidak dikenali."
    places = list(Puskesmas.select().where(Puskesmas.id.in_(list(puskesmas_ids))).order_by(Puskesmas.name))
    if not places:
        errors["puskesmas"] = "Pilih puskesmas."
    if errors:
        raise KpiError(errors)
    if len(places) > 1 and (poli or payer) and period.days > FILTERED_MAX_DAYS:
        raise KpiTooWide({"to": TOO_WIDE}, TOO_WIDE)
    ids = [p.id for p in places]
    where = _Where(ids, period, poli, payer)
    _load(where, ids, period, poli, payer)
    names = _poli_names(ids)
    tables: dict[str, Table] = {}

    # arrivals by day, kind, payer (and puskesmas, for the comparison)
    arrivals = _counts(where, ["v.puskesmas_id", "v.day", "v.kind", "v.payer"], ARRIVAL)
    by_day: dict[str, list[int]] = {d.isoformat(): [0, 0, 0, 0, 0] for d in period.dates()}
    for (_pid, day, kind, pay), n in arrivals.items():
        row = by_day.setdefault(_iso(day), [0, 0, 0, 0, 0])
        row[0] += n
        row[1 if kind == "reservation" else 2] += n
        row[3 if pay == "BPJS" else 4] += n
    tables["harian"] = Table(
        "harian",
        "Kunjungan per hari",
        ["Tanggal", "Kunjungan", "Reservasi", "Datang langsung", "BPJS", "Umum"],
        [[day, *row] for day, row in sorted(by_day.items())],
    )
    total = _sum(arrivals, lambda k: True)

    # poli queues: tickets per poli and outcome
    states = _counts(where, ["v.poli", "v.kind", "v.state"], "SUBSTR(v.queue, 1, 5) = 'POLI-'")
    polis = sorted({k[0] for k in states}, key=lambda c: (names.get(c, (99, c))[0], c or ""))
    rows = []
    for code in polis:
        rows.append(
            [
                _poli_label(names, code),
                _sum(states, lambda k, c=code: k[0] == c),
                _sum(states, lambda k, c=code: k[0] == c and k[1] == "reservation"),
                _sum(states, lambda k, c=code: k[0] == c and k[1] == "transfer"),
                _sum(states, lambda k, c=code: k[0] == c and k[2] == "done"),
                _sum(states, lambda k, c=code: k[0] == c and k[2] == "no_show"),
                _sum(states, lambda k, c=code: k[0] == c and k[2] == "cancelled"),
                _sum(states, lambda k, c=code: k[0] == c and k[2] in ("waiting", "called", "serving")),
            ]
        )
    tables["poli"] = Table(
        "poli",
        "Kunjungan per poli",
        ["Poli", "Pasien", "Reservasi", "Dari loket", "Selesai", "Tidak hadir", "Batal", "Belum selesai"],
        rows,
    )

    tables["cara_bayar"] = Table(
        "cara_bayar",
        "Kunjungan per cara bayar",
        ["Cara bayar", "Kunjungan", "Persen"],
        [
            [label, n, percent(n, total)]
            for code, label in PAYERS.items()
            for n in [_sum(arrivals, lambda k, c=code: k[3] == c)]
        ],
    )
    tables["jenis"] = Table(
        "jenis",
        "Reservasi dan datang langsung",
        ["Jenis", "Kunjungan", "Persen"],
        [
            [label, n, percent(n, total)]
            for code, label in KINDS.items()
            for n in [_sum(arrivals, lambda k, c=code: k[2] == c)]
        ],
    )

    # waiting per step/poli, and from the slot's start for reservations
    wait_step = _pct(where, [STEP_SQL, "v.poli"], "v.wait_s")
    wait_reg = _pct(where, [STEP_SQL], "v.wait_s")
    slot_wait = _pct(where, ["v.poli"], "v.slot_wait_s", "SUBSTR(v.queue, 1, 5) = 'POLI-'")
    service_step = _pct(where, [STEP_SQL, "v.poli"], "v.service_s")
    service_reg = _pct(where, [STEP_SQL], "v.service_s")
    wait_polis = sorted(
        {k[1] for k in wait_step if k[0] == "poli"} | {k[0] for k in slot_wait},
        key=lambda c: (names.get(c, (99, c))[0], c or ""),
    )
    rows = [[STEPS["pendaftaran"], *_mins(wait_reg.get(("pendaftaran",))), None, None, None]]
    for code in wait_polis:
        rows.append([_poli_label(names, code), *_mins(wait_step.get(("poli", code))), *_mins(slot_wait.get((code,)))])
    tables["tunggu_poli"] = Table(
        "tunggu_poli",
        "Waktu tunggu (tiket diambil sampai dipanggil) per layanan",
        [
            "Layanan",
            "Dipanggil",
            "Tunggu p50 (menit)",
            "Tunggu p90 (menit)",
            "Reservasi dipanggil",
            "Dari awal slot p50 (menit)",
            "Dari awal slot p90 (menit)",
        ],
        rows,
    )

    by_hour = _pct(where, [HOUR_SQL, STEP_SQL], "v.wait_s")
    hours = sorted({k[0] for k in by_hour})
    tables["tunggu_jam"] = Table(
        "tunggu_jam",
        "Waktu tunggu per jam tiket diambil",
        [
            "Jam",
            "Pendaftaran dipanggil",
            "Pendaftaran p50 (menit)",
            "Pendaftaran p90 (menit)",
            "Poli dipanggil",
            "Poli p50 (menit)",
            "Poli p90 (menit)",
        ],
        [[f"{h}:00", *_mins(by_hour.get((h, "pendaftaran"))), *_mins(by_hour.get((h, "poli")))] for h in hours],
    )

    service_polis = sorted({k[1] for k in service_step if k[0] == "poli"}, key=lambda c: (names.get(c, (99, c))[0], c))
    rows = [[STEPS["pendaftaran"], *_mins(service_reg.get(("pendaftaran",)))]]
    rows += [[_poli_label(names, c), *_mins(service_step.get(("poli", c)))] for c in service_polis]
    tables["layanan_poli"] = Table(
        "layanan_poli",
        "Waktu layanan (dipanggil/dilayani sampai selesai) per layanan",
        ["Layanan", "Selesai dilayani", "Layanan p50 (menit)", "Layanan p90 (menit)"],
        rows,
    )

    # per counter and staff member: a puskesmas's own concern (the kabupaten compares puskesmas)
    if len(places) == 1:
        tables["petugas"] = _staff_table(where)

    # no-shows among the called, per step
    called = _counts(where, [STEP_SQL, "v.poli", "v.state"], "v.called_at IS NOT NULL")
    rows = []
    for label, pred in [(STEPS["pendaftaran"], lambda k: k[0] == "pendaftaran")] + [
        (_poli_label(names, c), lambda k, c=c: k[0] == "poli" and k[1] == c)
        for c in sorted({k[1] for k in called if k[0] == "poli"}, key=lambda c: (names.get(c, (99, c))[0], c))
    ]:
        n = _sum(called, pred)
        ns = _sum(called, lambda k, p=pred: p(k) and k[2] == "no_show")
        rows.append([label, n, ns, percent(ns, n)])
    n_all = _sum(called, lambda k: True)
    ns_all = _sum(called, lambda k: k[2] == "no_show")
    rows.append(["Semua", n_all, ns_all, percent(ns_all, n_all)])
    tables["tidak_hadir"] = Table(
        "tidak_hadir", "Tidak hadir saat dipanggil", ["Layanan", "Dipanggil", "Tidak hadir", "Persen tidak hadir"], rows
    )

    tables["reservasi"] = _reservations(ids, period, poli, payer)
    tables["target"] = _target_table(places, where)
    if len(places) > 1:
        tables["puskesmas"] = _comparison(places, where, arrivals)
    return Report(places, period, poli, payer, tables)


def _staff_table(where: _Where) -> Table:
    staff_wait = _pct(where, ["v.counter", "v.called_by"], "v.wait_s")
    staff_service = _pct(where, ["v.counter", "v.called_by"], "v.service_s")
    who = _staff_names({k[1] for k in staff_wait} | {k[1] for k in staff_service})
    keys = sorted(set(staff_wait) | set(staff_service), key=lambda k: (k[0] or "", k[1] or ""))
    return Table(
        "petugas",
        "Per loket/ruang dan petugas",
        [
            "Loket/ruang",
            "Petugas",
            "Dipanggil",
            "Tunggu p50 (menit)",
            "Tunggu p90 (menit)",
            "Selesai dilayani",
            "Layanan p50 (menit)",
            "Layanan p90 (menit)",
        ],
        [
            [k[0] or "-", who.get(k[1] or "", k[1] or "-"), *_mins(staff_wait.get(k)), *_mins(staff_service.get(k))]
            for k in keys
        ],
    )


REG = "SUBSTR(v.queue, 1, 4) = 'REG-'"
POLI_Q = "SUBSTR(v.queue, 1, 5) = 'POLI-'"
CALLED = "v.called_at IS NOT NULL"


def specs(many: bool) -> list[tuple]:
    """Every grouping ``report`` asks for (read at once by ``_prefetch``), for one puskesmas or
    for several (the comparison instead of the per-staff table). The kabupaten's list is what
    ``central.kpi_rollup`` keeps per day and month: change it, and bump ``ROLLUP_VERSION``."""
    pct = [
        ((STEP_SQL, "v.poli"), "v.wait_s", ""),
        ((STEP_SQL,), "v.wait_s", ""),
        (("v.poli",), "v.slot_wait_s", POLI_Q),
        ((STEP_SQL, "v.poli"), "v.service_s", ""),
        ((STEP_SQL,), "v.service_s", ""),
        ((HOUR_SQL, STEP_SQL), "v.wait_s", ""),
    ]
    if not many:
        pct += [(("v.counter", "v.called_by"), "v.wait_s", ""), (("v.counter", "v.called_by"), "v.service_s", "")]
    # waits per puskesmas with the flag that makes "within m minutes" exact (``_within``): the
    # quality targets, and the comparison
    pcto = [(("v.puskesmas_id", STEP_SQL), "v.wait_s", ""), (("v.puskesmas_id",), "v.slot_wait_s", POLI_Q)]
    counts = [
        (("v.puskesmas_id", "v.day", "v.kind", "v.payer"), ARRIVAL),
        (("v.poli", "v.kind", "v.state"), POLI_Q),
        ((STEP_SQL, "v.poli", "v.state"), CALLED),
    ]
    if many:
        counts.append((("v.puskesmas_id", "v.state"), CALLED))
    return (
        [("pct", g, c, e) for g, c, e in pct]
        + [("pcto", g, c, e) for g, c, e in pcto]
        + [("count", g, None, e) for g, e in counts]
    )


ROLLUP_VERSION = 1  # of specs(True): a rollup built for another version is built again


def _load(where: _Where, ids: list[int], period: Period, poli: str | None, payer: str | None) -> None:
    """Read every grouping of the report into ``where.cache``: for every puskesmas together
    without a filter, whatever days and months ``central.kpi_rollup`` holds current come from
    it, the rest from the visits; otherwise everything from the visits."""
    many = len(ids) > 1
    wanted = specs(many)
    if _postgres():
        # the period's rows and the hash aggregates over them stay in memory
        database.execute_sql("SET work_mem = '256MB'")
    if many and poli is None and payer is None:
        from central import kpi_rollup

        plan = kpi_rollup.plan(ids, period)
        if plan is not None:
            for spec, result in zip(wanted, kpi_rollup.read(plan, wanted), strict=True):
                merge(where.cache, spec, result)
            if plan.raw:
                part = _Where(ids, period, poli, payer, plan.raw)
                _prefetch(part, wanted)
                for spec in wanted:
                    merge(where.cache, spec, part.cache[spec])
            for spec in wanted:
                where.cache.setdefault(spec, {} if spec[0] == "count" else defaultdict(list))
            return
    _prefetch(where, wanted)


def _iso(day) -> str:
    return day.isoformat() if isinstance(day, dt.date) else str(day)


def _poli_names(ids: list[int]) -> dict[str, tuple[int, str]]:
    names: dict[str, tuple[int, str]] = {}
    for p in Poli.select().where(Poli.puskesmas.in_(ids)).order_by(Poli.order, Poli.code):
        names.setdefault(p.code, (p.order, p.name))
    return names


def _poli_label(names: dict, code: str | None) -> str:
    if code is None:
        return "(tanpa poli)"
    return names[code][1] if code in names else code


def _staff_names(ids: set) -> dict[str, str]:
    """Staff ids in events (an account's id or username) to their names."""
    keys = {str(i) for i in ids if i}
    if not keys:
        return {}
    out: dict[str, str] = {}
    numeric = [int(k) for k in keys if k.isdigit() and len(k) < 10]
    query = Staff.select(Staff.id, Staff.username, Staff.name).where(
        Staff.username.in_(list(keys)) | (Staff.id.in_(numeric) if numeric else False)
    )
    for s in query:
        for k in (str(s.id), s.username):
            if k in keys:
                out[k] = s.name
    return out


def _reservations(ids: list[int], period: Period, poli: str | None, payer: str | None) -> Table:
    """Reservations for days in the period by their status: made, cancelled, checked in."""
    q = Reservation.select(Reservation.date, Reservation.status, Reservation.id).where(
        Reservation.puskesmas.in_(ids) & (Reservation.date >= period.start) & (Reservation.date <= period.end)
    )
    if poli:
        q = q.join(Poli).where(Poli.code == poli)
    if payer:
        q = q.where(Reservation.payer == payer)
    counts: dict[tuple[str, str], int] = {}
    for day, status, n in (
        q.select(Reservation.date, Reservation.status, fn.COUNT(Reservation.id))
        .group_by(Reservation.date, Reservation.status)
        .tuples()
    ):
        counts[(_iso(day), status)] = n
    rows = []
    for day in sorted({d for d, _ in counts}):
        made = sum(n for (d, _s), n in counts.items() if d == day)
        cancelled = counts.get((day, "cancelled"), 0)
        came = counts.get((day, "checked_in"), 0) + counts.get((day, "done"), 0)
        rows.append([day, made, cancelled, came, percent(came, made - cancelled)])
    made = sum(r[1] for r in rows)
    cancelled = sum(r[2] for r in rows)
    came = sum(r[3] for r in rows)
    rows.append(["Jumlah", made, cancelled, came, percent(came, made - cancelled)])
    return Table(
        "reservasi",
        "Reservasi dibuat dan check-in",
        ["Tanggal", "Dibuat", "Dibatalkan", "Check-in", "Persen check-in (dari yang tidak batal)"],
        rows,
    )


MEASURED = {  # what each quality target measures: a histogram of ``specs``
    "pendaftaran": ((("v.puskesmas_id", STEP_SQL), "v.wait_s", ""), "pendaftaran"),
    "poli": ((("v.puskesmas_id", STEP_SQL), "v.wait_s", ""), "poli"),
    "reservasi": ((("v.puskesmas_id",), "v.slot_wait_s", POLI_Q), None),
}


def _target_table(places: list[Puskesmas], where: _Where) -> Table:
    """Per step, the called tickets within each puskesmas's own target (summed over them)."""
    sets = {p.id: targets(p) for p in places}
    rows = []
    for step, ((groups, column, extra), label) in MEASURED.items():
        hist = _histogram(where, list(groups), column, extra)
        n = within = 0
        for pid, t in sets.items():
            a, b = _within(hist, (pid, label) if label else (pid,), t[step]["menit"])
            n += a
            within += b
        texts = {TARGET_TEXT[step].format(**t[step]) for t in sets.values()}
        goal = {t[step]["persen"] for t in sets.values()}
        share = percent(within, n)
        reached = None
        if n and len(goal) == 1:
            reached = "Ya" if within * 100 >= next(iter(goal)) * n else "Tidak"
        rows.append(
            [
                STEPS[step],
                texts.pop() if len(texts) == 1 else "Target tiap puskesmas",
                n,
                within,
                share,
                next(iter(goal)) if len(goal) == 1 else None,
                reached,
            ]
        )
    return Table(
        "target",
        "Target mutu layanan",
        ["Tahap", "Target", "Dipanggil", "Dalam target", "Persen dalam target", "Target persen", "Tercapai"],
        rows,
    )


def _comparison(places: list[Puskesmas], where: _Where, arrivals: dict[tuple, int]) -> Table:
    waits = _pct(where, ["v.puskesmas_id", STEP_SQL], "v.wait_s")
    called = _counts(where, ["v.puskesmas_id", "v.state"], "v.called_at IS NOT NULL")
    # [visits, reservations, BPJS, called, no-shows] per puskesmas, in one pass over each
    per: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for (pid, _day, kind, pay), count in arrivals.items():
        row = per[pid]
        row[0] += count
        row[1] += count if kind == "reservation" else 0
        row[2] += count if pay == "BPJS" else 0
    for (pid, state), count in called.items():
        per[pid][3] += count
        per[pid][4] += count if state == "no_show" else 0
    rows = []
    for p in places:
        n, res, bpjs, c, ns = per[p.id]
        reg = waits.get((p.id, "pendaftaran"))
        pol = waits.get((p.id, "poli"))
        rows.append(
            [
                p.name,
                n,
                percent(res, n),
                percent(bpjs, n),
                *_mins(reg)[1:],
                *_mins(pol)[1:],
                percent(ns, c),
            ]
        )
    return Table(
        "puskesmas",
        "Perbandingan puskesmas",
        [
            "Puskesmas",
            "Kunjungan",
            "Persen reservasi",
            "Persen BPJS",
            "Tunggu pendaftaran p50 (menit)",
            "Tunggu pendaftaran p90 (menit)",
            "Tunggu poli p50 (menit)",
            "Tunggu poli p90 (menit)",
            "Persen tidak hadir",
        ],
        rows,
    )


# ---- today, live ---------------------------------------------------------------------------------


def live_today(puskesmas: Puskesmas, now: dt.datetime | None = None) -> dict:
    """Today's queues at a puskesmas as central knows them from its edge's events:
    ``{"now": ISO time, "day": ISO date, "queues": [{"queue", "name", "waiting", "called",
    "served", "no_show", "cancelled"}], "totals": {same counts}}``. ``called`` counts tickets
    called or being served now; ``served`` those done or sent on to a poli."""
    now = now or services.now_wib()
    day = now.date()
    names = {f"POLI-{c}": n for c, (_o, n) in _poli_names([puskesmas.id]).items()}
    order = {f"POLI-{p.code}": p.order for p in Poli.select().where(Poli.puskesmas == puskesmas.id)}
    rows = (
        Visit.select(Visit.queue, Visit.state, fn.COUNT(Visit.id))
        .where((Visit.puskesmas == puskesmas.id) & (Visit.day == day))
        .group_by(Visit.queue, Visit.state)
        .tuples()
    )
    buckets = {"waiting": "waiting", "called": "called", "serving": "called", "done": "served"}
    buckets.update(transferred="served", no_show="no_show", cancelled="cancelled")
    empty = {"waiting": 0, "called": 0, "served": 0, "no_show": 0, "cancelled": 0}
    queues: dict[str, dict] = {}
    for queue, state, n in rows:
        q = queues.setdefault(queue, {"queue": queue, "name": _queue_name(queue, names), **empty})
        q[buckets.get(state, "served")] += n
    listed = sorted(
        queues.values(), key=lambda q: (not q["queue"].startswith("REG-"), order.get(q["queue"], 0), q["queue"])
    )
    totals = {k: sum(q[k] for q in listed) for k in empty}
    return {"now": now.isoformat(timespec="seconds"), "day": day.isoformat(), "queues": listed, "totals": totals}


def _queue_name(queue: str, names: dict[str, str]) -> str:
    if queue.startswith("REG-"):
        return f"Pendaftaran {'BPJS' if queue == 'REG-B' else 'Umum'} ({queue[4:]})"
    return names.get(queue, queue)


# ---- quality targets -----------------------------------------------------------------------------


def targets(puskesmas: Puskesmas) -> dict[str, dict[str, int]]:
    """The puskesmas's quality targets, ``{"pendaftaran": {"menit": 5, "persen": 90}, "poli":
    {...}, "reservasi": {...}}`` (stored as this JSON in ``Puskesmas.targets``; a step not set
    has the default in ``DEFAULT_TARGETS``)."""
    out = {k: dict(v) for k, v in DEFAULT_TARGETS.items()}
    try:
        stored = json.loads(puskesmas.targets or "{}")
    except ValueError:
        stored = {}
    if isinstance(stored, dict):
        for step, values in stored.items():
            if step in out and isinstance(values, dict):
                for k, (lo, hi) in TARGET_LIMITS.items():
                    v = values.get(k)
                    if isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi:
                        out[step][k] = v
    return out


def set_targets(staff: Staff | None, puskesmas: Puskesmas, values: dict) -> dict[str, dict[str, int]]:
    """Store new targets from a form: fields ``<step>_menit`` and ``<step>_persen`` (whole
    numbers: minutes 1-240, percent 1-100). Raises KpiError with a message per bad field and
    changes nothing then; audits the change (entity ``targets``)."""
    errors: dict[str, str] = {}
    new = targets(puskesmas)
    for step in DEFAULT_TARGETS:
        for k, (lo, hi) in TARGET_LIMITS.items():
            name = f"{step}_{k}"
            raw = values.get(name)
            text = str(raw).strip() if raw is not None else ""
            unit = "menit" if k == "menit" else "persen"
            if not text:
                errors[name] = "Wajib diisi."
                continue
            if not (text.isascii() and text.isdigit()) or len(text) > 4:
                errors[name] = f"Tulis bilangan bulat {unit}, misalnya {DEFAULT_TARGETS[step][k]}."
                continue
            v = int(text)
            if not lo <= v <= hi:
                errors[name] = f"Harus antara {lo} dan {hi} {unit}."
                continue
            new[step][k] = v
    if errors:
        raise KpiError(errors)
    before = targets(puskesmas)
    with database.atomic():
        Puskesmas.update(targets=json.dumps(new, sort_keys=True)).where(Puskesmas.id == puskesmas.id).execute()
        if new != before:
            audit.record(staff, "targets", puskesmas.code, "update", before, new, puskesmas.id)
    puskesmas.targets = json.dumps(new, sort_keys=True)
    return new
