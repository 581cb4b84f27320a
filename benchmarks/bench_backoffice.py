"""The back office at the scale of a kabupaten-year, on PostgreSQL.

Makes a fresh database on the server at ``ROSMA_BENCH_PG_URL`` (default: the local server as
user postgres), migrates it to central's schema and fills it with a kabupaten-year: 101
puskesmas x 300 open days (Monday to Saturday) x 300 visit rows a day, about 9 million rows of
``visit`` with every column central's ingest fills (times as the events' ISO text, waiting, slot
and service seconds, counters, staff, a loket ticket's poli), and the reservations behind the
reservation visits. The rows are made by ``INSERT ... SELECT`` over ``generate_series`` (not the
ORM), one puskesmas per statement, then stored day by day as edges deliver them (``CLUSTER``).

A day of one puskesmas: 120 walk-ins, each a loket ticket (``REG-A`` Umum / ``REG-B`` BPJS,
about 70% BPJS, sent on to a poli) and the poli ticket that continues it, and 60 reservation
check-ins at their poli; the morning peak around 08:20, loket waits of 2-40 minutes, poli
service of 3-15 minutes, about 4% no-shows at the poli; a few more reservations a day are
cancelled or never come.

Then it measures, each the median of ``--runs`` runs: ``central.kpi.report`` for one puskesmas
and for every puskesmas over the year, ``central.kpi.live_today`` for one puskesmas, and the
visits export (``central.exports``) of one puskesmas as CSV and XLSX for a month and for the
year. The database is dropped at the end (``--keep`` keeps it and prints its URL).

    python -m benchmarks.bench_backoffice [--puskesmas 101] [--days 300] [--per-day 300] [--runs 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
FIRST_DAY = dt.date(2025, 1, 2)  # the year measured is 2025
POLIS = (
    ("UMUM", "Poli Umum", "U"),
    ("KIA", "Poli KIA", "K"),
    ("LANSIA", "Poli Lansia", "L"),
    ("GIGI", "Poli Gigi", "G"),
)

# a poli code from a uniform random value r (about 48% Umum, 20% KIA, 17% Lansia, 15% Gigi)
POLI_OF = "CASE WHEN {r} < 0.48 THEN 'UMUM' WHEN {r} < 0.68 THEN 'KIA' WHEN {r} < 0.85 THEN 'LANSIA' ELSE 'GIGI' END"
NAME_OF = (
    "CASE {c} WHEN 'UMUM' THEN 'Poli Umum' WHEN 'KIA' THEN 'Poli KIA' WHEN 'LANSIA' THEN 'Poli Lansia' "
    "ELSE 'Poli Gigi' END"
)
PREFIX_OF = "CASE {c} WHEN 'UMUM' THEN 'U' WHEN 'KIA' THEN 'K' WHEN 'LANSIA' THEN 'L' ELSE 'G' END"
ISO = """to_char({t}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"+07:00"')"""

# One puskesmas's visits: %(p)s puskesmas id, %(node)s node id, %(code)s its code, %(first)s the
# first day, %(days)s open days, %(walkins)s and %(reserved)s a day.
VISITS_SQL = f"""
WITH days AS (
    SELECT d::date AS day, row_number() OVER (ORDER BY d) AS dn
    FROM generate_series(%(first)s::date, %(first)s::date + 500, interval '1 day') AS d
    WHERE extract(isodow FROM d) <> 7
    ORDER BY d
    LIMIT %(days)s
),
walk_raw AS (
    SELECT day, dn, j,
        random() < 0.7 AS bpjs,
        random() < 0.07 AS priority,
        random() AS r_poli,
        CASE WHEN random() < 0.75  -- the rush about 08:20, reflected at 07:15; the rest spread over the morning
            THEN least(270, abs(65 + (random() + random() + random() - 1.5) * 70) - 15)
            ELSE random() * 280 - 10 END AS arrive_min,
        120 + 2280 * power(random(), 2.2) AS w1,
        60 + 240 * random() AS s1,
        120 + 2280 * power(random(), 1.8) AS w2,
        180 + 720 * power(random(), 1.6) AS s2,
        random() < 0.7 AS serving,
        random() < 0.04 AS no_show,
        1 + floor(random() * 2)::int AS loket
    FROM days, generate_series(1, %(walkins)s) AS j
),
walk AS (
    SELECT w.*,
        {POLI_OF.format(r="w.r_poli")} AS poli,
        row_number() OVER (PARTITION BY w.dn, w.bpjs ORDER BY w.arrive_min, w.j) AS number,
        date_trunc('milliseconds', w.day + time '07:30' + make_interval(secs => w.arrive_min * 60)) AS t0
    FROM walk_raw AS w
),
walk_t AS (
    SELECT w.*,
        w.t0 + make_interval(secs => round(w.w1)) AS t1,
        w.t0 + make_interval(secs => round(w.w1) + round(w.s1)) AS t2,
        w.t0 + make_interval(secs => round(w.w1) + round(w.s1) + round(w.w2)) AS t3,
        (CASE WHEN w.bpjs THEN 'B' ELSE 'A' END) || lpad(w.number::text, 3, '0') AS label
    FROM walk AS w
),
res_raw AS (
    SELECT day, dn, k,
        random() < 0.7 AS bpjs,
        random() AS r_poli,
        8 + floor(power(random(), 1.4) * 4)::int AS hour,
        random() * 45 - 10 AS early_min,
        (random() + random() + random() - 1.5) * 16 + 6 AS late_min,
        180 + 720 * power(random(), 1.6) AS s2,
        random() < 0.7 AS serving,
        random() < 0.04 AS no_show
    FROM days, generate_series(1, %(reserved)s) AS k
),
res AS (
    SELECT r.*,
        {POLI_OF.format(r="r.r_poli")} AS poli,
        r.day + make_interval(hours => r.hour) AS slot_start,
        date_trunc('milliseconds', r.day + make_interval(hours => r.hour) - make_interval(secs => r.early_min * 60))
            AS t0
    FROM res_raw AS r
),
res_t AS (
    SELECT r.*,
        row_number() OVER (PARTITION BY r.dn, r.poli ORDER BY r.t0, r.k) AS number,
        date_trunc('milliseconds', greatest(r.t0 + interval '2 minutes', least(r.t0 + interval '40 minutes',
            r.slot_start + make_interval(secs => r.late_min * 60)))) AS t1
    FROM res AS r
)
INSERT INTO visit (node_id, ticket_key, puskesmas_id, label, queue, poli, payer, rid, day, issued_at, called_at,
    serving_at, done_at, destination, state, kind, slot, priority, parent, counter, called_by, done_by,
    wait_s, slot_wait_s, service_s)
SELECT %(node)s, 'w' || dn || '-' || j, %(p)s, label, CASE WHEN bpjs THEN 'REG-B' ELSE 'REG-A' END, poli,
    CASE WHEN bpjs THEN 'BPJS' ELSE 'UMUM' END, NULL::text, day, {ISO.format(t="t0")}, {ISO.format(t="t1")},
    NULL::text, {ISO.format(t="t2")}, 'Loket ' || loket, 'transferred', 'walkin', NULL::text, priority, NULL::text,
    'loket-' || loket, CASE WHEN loket = 1 THEN 'loket.' ELSE 'loket2.' END || %(code)s, '',
    round(w1)::int, NULL::int, round(s1)::int
FROM walk_t
UNION ALL
SELECT %(node)s, 'p' || dn || '-' || j, %(p)s, label, 'POLI-' || poli, poli,
    CASE WHEN bpjs THEN 'BPJS' ELSE 'UMUM' END, NULL, day, {ISO.format(t="t2")}, {ISO.format(t="t3")},
    CASE WHEN serving AND NOT no_show THEN {ISO.format(t="t3 + interval '40 seconds'")} END,
    CASE WHEN no_show THEN {ISO.format(t="t3 + interval '4 minutes'")}
        ELSE {ISO.format(t="t3 + make_interval(secs => round(s2) + CASE WHEN serving THEN 40 ELSE 0 END)")} END,
    {NAME_OF.format(c="poli")}, CASE WHEN no_show THEN 'no_show' ELSE 'done' END, 'transfer', NULL, priority,
    'w' || dn || '-' || j, 'poli-' || poli, 'poli.' || lower(poli) || '.' || %(code)s,
    CASE WHEN no_show THEN '' ELSE 'poli.' || lower(poli) || '.' || %(code)s END,
    round(w2)::int, NULL::int, CASE WHEN no_show THEN NULL ELSE round(s2)::int END
FROM walk_t
UNION ALL
SELECT %(node)s, 'r' || dn || '-' || k, %(p)s, {PREFIX_OF.format(c="poli")} || lpad(number::text, 3, '0'),
    'POLI-' || poli, poli, CASE WHEN bpjs THEN 'BPJS' ELSE 'UMUM' END, 'b' || %(p)s || '-' || dn || '-' || k, day,
    {ISO.format(t="t0")}, {ISO.format(t="t1")},
    CASE WHEN serving AND NOT no_show THEN {ISO.format(t="t1 + interval '40 seconds'")} END,
    CASE WHEN no_show THEN {ISO.format(t="t1 + interval '4 minutes'")}
        ELSE {ISO.format(t="t1 + make_interval(secs => round(s2) + CASE WHEN serving THEN 40 ELSE 0 END)")} END,
    {NAME_OF.format(c="poli")}, CASE WHEN no_show THEN 'no_show' ELSE 'done' END, 'reservation',
    lpad(hour::text, 2, '0') || ':00-' || lpad((hour + 1)::text, 2, '0') || ':00', false, NULL, 'poli-' || poli,
    'poli.' || lower(poli) || '.' || %(code)s,
    CASE WHEN no_show THEN '' ELSE 'poli.' || lower(poli) || '.' || %(code)s END,
    floor(extract(epoch FROM t1 - t0) + 0.5)::int, floor(extract(epoch FROM t1 - slot_start) + 0.5)::int,
    CASE WHEN no_show THEN NULL ELSE round(s2)::int END
FROM res_t
"""

# The reservations behind one puskesmas's reservation visits, and a few a day that were
# cancelled or never came.
RESERVATIONS_SQL = """
INSERT INTO reservation (rid, patient_id, puskesmas_id, poli_id, date, slot, payer, bpjs_no, status, qr_text,
    created_at, checked_in_at, ticket_label, cancelled_at, conflict)
SELECT v.rid, %(patient)s, %(p)s, poli.id, v.day, v.slot, v.payer, NULL,
    CASE WHEN v.state = 'done' THEN 'done' ELSE 'checked_in' END, '',
    (v.day - 3) + time '19:00', (v.issued_at::timestamptz AT TIME ZONE 'UTC'), v.label, NULL, ''
FROM visit AS v JOIN poli ON poli.puskesmas_id = v.puskesmas_id AND poli.code = v.poli
WHERE v.puskesmas_id = %(p)s AND v.kind = 'reservation'
UNION ALL
SELECT 'x' || %(p)s || '-' || d.day || '-' || n, %(patient)s, %(p)s,
    (SELECT id FROM poli WHERE puskesmas_id = %(p)s AND code = 'UMUM'), d.day,
    lpad((8 + n %% 4)::text, 2, '0') || ':00-' || lpad((9 + n %% 4)::text, 2, '0') || ':00',
    CASE WHEN n %% 3 = 0 THEN 'UMUM' ELSE 'BPJS' END, NULL,
    CASE WHEN n <= 5 THEN 'cancelled' ELSE 'active' END, '', (d.day - 4) + time '20:00', NULL, NULL,
    CASE WHEN n <= 5 THEN (d.day - 1) + time '12:00' END, ''
FROM (SELECT DISTINCT day FROM visit WHERE puskesmas_id = %(p)s) AS d, generate_series(1, %(extra)s) AS n
"""


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def create_database(admin_url: str) -> str:
    """A new, empty database on the server of ``admin_url``; returns its URL."""
    import psycopg2

    name = "rosma_bench_" + secrets.token_hex(4)
    conn = psycopg2.connect(admin_url, connect_timeout=5)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return _with_db(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    import psycopg2

    name = urlsplit(url).path.lstrip("/")
    assert name.startswith("rosma_bench_")
    conn = psycopg2.connect(admin_url, connect_timeout=5)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def generate(
    url: str,
    puskesmas: int = 101,
    days: int = 300,
    per_day: int = 300,
    first_day: dt.date = FIRST_DAY,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Migrate the database at ``url`` to central's schema and fill it; returns what was made.

    ``per_day`` visit rows per puskesmas and day: two fifths walk-ins (a loket ticket and its
    poli ticket each), one fifth reservation check-ins."""
    from central import db as central_db
    from central.models import Node, Patient, Poli, Puskesmas, database

    walkins = per_day * 2 // 5
    reserved = per_day - 2 * walkins
    db = central_db.connect(url)
    with database.atomic():
        patient = Patient.create(
            nik="3201011705900001",
            name="Pasien Uji Beban",
            birth_date=dt.date(1990, 5, 17),
            sex="L",
            address="-",
            phone="081200000000",
        )
        places = []
        for i in range(1, puskesmas + 1):
            code = f"pkm{i:03d}"
            place = Puskesmas.create(
                code=code, name=f"Puskesmas Uji {i:03d}", address="Kabupaten Bogor", kecamatan=f"Kecamatan {i:03d}"
            )
            for order, (poli, name, prefix) in enumerate(POLIS):
                Poli.create(puskesmas=place, code=poli, name=name, prefix=prefix, slot_quota=20, order=order)
            node = Node.create(node_id=f"pkm-{code}", puskesmas=place, incarnation=f"bench-{code}")
            places.append((place, node))
    cur = db.cursor()
    cur.execute("SET synchronous_commit = off")
    for n, (place, node) in enumerate(places, 1):
        params = {
            "p": place.id,
            "node": node.id,
            "code": place.code,
            "first": first_day,
            "days": days,
            "walkins": walkins,
            "reserved": reserved,
            "patient": patient.id,
            "extra": max(1, reserved // 8),
        }
        with database.atomic():
            cur = db.cursor()
            cur.execute(VISITS_SQL, params)
            cur.execute(RESERVATIONS_SQL, params)
        if progress is not None:
            progress(n, len(places))
    cur = db.cursor()
    # edges deliver day by day, every puskesmas together: store the rows in that order (they
    # were made puskesmas by puskesmas), so a puskesmas's year is spread over the table as in
    # production and a query for it reads the pages it would read there
    cur.execute("CREATE INDEX bench_visit_day ON visit (day, puskesmas_id)")
    cur.execute("CLUSTER visit USING bench_visit_day")
    cur.execute("DROP INDEX bench_visit_day")
    cur.execute("ANALYZE visit")
    cur.execute("ANALYZE reservation")
    cur.execute("SELECT count(*), min(day), max(day) FROM visit")
    visits, start, end = cur.fetchone()
    cur.execute("SELECT count(*) FROM reservation")
    (reservations,) = cur.fetchone()
    return {"visits": visits, "reservations": reservations, "start": start, "end": end, "puskesmas": len(places)}


def roll_up(today: dt.date) -> tuple[dict, int]:
    """Build the kabupaten's KPI rollup (``central.kpi_rollup``) of every day before ``today``."""
    from central import kpi_rollup
    from central.models import KpiCell

    built = kpi_rollup.refresh(today=today, settle_s=0)
    return built, KpiCell.select().count()


def _median(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def measure(runs: int = 3) -> list[tuple[str, float, float | None]]:
    """Time the dashboard's period queries and the exports on the bound database: rows of
    (what, median seconds, target seconds or None)."""
    from peewee import fn

    from central import exports, kpi
    from central.models import Puskesmas, Visit

    start, end = Visit.select(fn.MIN(Visit.day), fn.MAX(Visit.day)).scalar(as_tuple=True)
    ids = [p.id for p in Puskesmas.select(Puskesmas.id).order_by(Puskesmas.id)]
    one = Puskesmas.get_by_id(ids[0])
    year_start, year_end = dt.date(start.year, 1, 1), dt.date(start.year, 12, 31)
    month_start = dt.date(end.year, end.month, 1)
    live_at = dt.datetime.combine(end, dt.time(10, 0), kpi.WIB)

    def csv(f):
        return lambda: sum(len(c) for c in exports.csv_chunks(exports.visits_sheet(f)))

    def xlsx(f):
        def run():
            with tempfile.TemporaryDirectory() as d:
                exports.write_xlsx(os.path.join(d, "kunjungan.xlsx"), [exports.visits_sheet(f)])

        return run

    month = exports.VisitFilter((one.id,), month_start, end)
    year = exports.VisitFilter((one.id,), year_start, year_end)
    last30 = (end - dt.timedelta(days=29), end)
    prev_end = month_start - dt.timedelta(days=1)
    prev = (prev_end.replace(day=1), prev_end)  # the last whole month
    halves = ((prev[0] - dt.timedelta(days=1)).replace(day=15), prev[0].replace(day=14))
    rows = [
        ("kpi.report: 1 puskesmas x 1 year", _median(lambda: kpi.report([one.id], year_start, year_end), runs), 1.0),
        (
            "kpi.report: 1 puskesmas x 1 year, poli UMUM, BPJS",
            _median(lambda: kpi.report([one.id], year_start, year_end, poli="UMUM", payer="BPJS"), runs),
            1.0,
        ),
        ("kpi.report: all puskesmas x 1 year", _median(lambda: kpi.report(ids, year_start, year_end), runs), 3.0),
        ("kpi.report: all puskesmas x last 30 days", _median(lambda: kpi.report(ids, *last30), runs), 3.0),
        (
            "kpi.report: all puskesmas x 15th to 14th (two half months)",
            _median(lambda: kpi.report(ids, *halves), runs),
            3.0,
        ),
        (
            "kpi.report: all puskesmas x 1 month, BPJS (from the visits)",
            _median(lambda: kpi.report(ids, *prev, payer="BPJS"), runs),
            3.0,
        ),
        (
            "kpi.report: all puskesmas x 1 month, poli UMUM (from the visits)",
            _median(lambda: kpi.report(ids, *prev, poli="UMUM"), runs),
            3.0,
        ),
        ("kpi.live_today: 1 puskesmas", _median(lambda: kpi.live_today(one, now=live_at), runs), 1.0),
        (
            f"export visits CSV: 1 puskesmas x 1 month ({exports.count_visits(month):,} rows)",
            _median(csv(month), runs),
            None,
        ),
        ("export visits XLSX: 1 puskesmas x 1 month", _median(xlsx(month), runs), None),
        (
            f"export visits CSV: 1 puskesmas x 1 year ({exports.count_visits(year):,} rows)",
            _median(csv(year), runs),
            None,
        ),
        ("export visits XLSX: 1 puskesmas x 1 year", _median(xlsx(year), runs), None),
    ]
    return rows


def table(rows: list[tuple[str, float, float | None]], runs: int) -> str:
    out = [f"| measured (median of {runs}) | seconds | target |", "|---|---|---|"]
    for what, seconds, target in rows:
        verdict = "" if target is None else f"≤ {target:g} s {'met' if seconds <= target else 'MISSED'}"
        out.append(f"| {what} | {seconds:.3f} | {verdict} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--puskesmas", type=int, default=101)
    parser.add_argument("--days", type=int, default=300)
    parser.add_argument("--per-day", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the database (its URL is printed)")
    args = parser.parse_args(argv)
    admin = os.environ.get("ROSMA_BENCH_PG_URL", PG_DEFAULT)
    url = create_database(admin)
    try:
        t0 = time.perf_counter()
        made = generate(
            url,
            args.puskesmas,
            args.days,
            args.per_day,
            progress=lambda n, total: (
                print(f"  generated {n}/{total} puskesmas", file=sys.stderr, flush=True)
                if n % 10 == 0 or n == total
                else None
            ),
        )
        took = time.perf_counter() - t0
        print(
            f"Generated {made['visits']:,} visits and {made['reservations']:,} reservations of {made['puskesmas']} "
            f"puskesmas, {made['start']} to {made['end']}, in {took:.0f} s (PostgreSQL)."
        )
        t0 = time.perf_counter()
        built, cells = roll_up(made["end"] + dt.timedelta(days=1))
        print(
            f"Built the kabupaten's KPI rollup ({built['days']} days, {built['months']} months, {built['years']} "
            f"year(s); {cells:,} cells) in {time.perf_counter() - t0:.0f} s, as central's sync worker does in the "
            "background."
        )
        print()
        print(table(measure(args.runs), args.runs))
    finally:
        from central.models import database

        if not database.is_closed():
            database.close()
        if args.keep:
            print(f"database kept: {url}", file=sys.stderr)
        else:
            drop_database(admin, url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
