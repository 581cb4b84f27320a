"""The kabupaten's KPI rollup: every puskesmas's visits together, counted per day and per month.

A report for every puskesmas of the kabupaten (``central.kpi.report`` without a poli or payer
filter) groups the visits sixteen ways (``central.kpi.specs(True)``): counts, and histograms of
waiting and service seconds at tenths of a minute. Counts and histograms add up over days, so
the same groupings computed once per day (``KpiCell`` rows of grain "d"), per month (grain "m",
the sum of its days) and per year ("y", the sum of its months) give a year's report from a few
hundred thousand cells instead of nine million visits, with exactly the same figures:
percentiles are read from the summed histogram as from the visits' own.

Freshness: ``KpiStamp`` holds, per day, month and year, a generation ``gen`` that ``central.ingest``
raises in the same transaction as any change to a visit of that day (``note`` then ``flush``), and
the generation the cells were built from (``built``). A report uses the cells of a day or month
only when ``built == gen``; for anything else (today, a day an edge delivered late, a month not
built yet) it reads the visits, so its figures never depend on whether the rollup has caught up.

``refresh`` (run by central's sync worker every minute) builds what is missing or out of date, for
days before today, whole months before this one and whole years before this one (grain "y", the
sum of its months). A stamp is made in one pass and its day built
in a later one, so an ingest transaction that began before the stamp existed has committed (its
change is then in what the build reads).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field

from peewee import PostgresqlDatabase

from central import kpi, services
from central.models import KpiCell, KpiStamp, Puskesmas, Visit, database, utcnow

log = logging.getLogger(__name__)

MONTH_IN_DAYS = 4  # a month's cells cost about as much to read as four days' cells
SETTLE_S = 30.0  # a stamp is at least this old before its day is built (see the module doc)

_pending = threading.local()


def _day(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def _month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _month_end(first: dt.date) -> dt.date:
    nxt = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return nxt - dt.timedelta(days=1)


# ---- ingest's side ---------------------------------------------------------------------------------


def note(day) -> None:
    """A visit of ``day`` changes in the current transaction (``flush`` before it commits)."""
    days = getattr(_pending, "days", None)
    if days is None:
        days = _pending.days = set()
    try:
        days.add(_day(day))
    except (TypeError, ValueError):
        return


def flush() -> None:
    """Raise the generation of every day noted since the last flush, and of its month and year:
    one statement."""
    days = getattr(_pending, "days", None)
    if not days:
        return
    _pending.days = set()
    months = {_month(d) for d in days}
    years = {dt.date(d.year, 1, 1) for d in days}
    KpiStamp.update(gen=KpiStamp.gen + 1).where(
        ((KpiStamp.grain == "d") & KpiStamp.start.in_(sorted(days)))
        | ((KpiStamp.grain == "m") & KpiStamp.start.in_(sorted(months)))
        | ((KpiStamp.grain == "y") & KpiStamp.start.in_(sorted(years)))
    ).execute()


def discard() -> None:
    """Forget what was noted (the transaction rolled back)."""
    _pending.days = set()


# ---- the report's side -----------------------------------------------------------------------------


@dataclass
class Plan:
    """Where a period's figures come from: years, months and days of cells, and day ranges of visits."""

    years: list[dt.date] = field(default_factory=list)
    months: list[dt.date] = field(default_factory=list)
    days: list[dt.date] = field(default_factory=list)
    less: list[dt.date] = field(default_factory=list)  # days of those months outside the period
    raw: list[tuple[dt.date, dt.date]] = field(default_factory=list)


def _all_ids() -> set[int]:
    return {p.id for p in Puskesmas.select(Puskesmas.id)}


def plan(ids: list[int], period: kpi.Period) -> Plan | None:
    """How to read ``period`` for these puskesmas from the rollup; None when it cannot serve
    them (not every puskesmas) or holds nothing current for the period."""
    if set(ids) != _all_ids():
        return None
    fresh = {
        (grain, _day(start))
        for grain, start in KpiStamp.select(KpiStamp.grain, KpiStamp.start)
        .where(
            (KpiStamp.start >= dt.date(period.start.year, 1, 1))
            & (KpiStamp.start <= _month_end(_month(period.end)))
            & (KpiStamp.built == KpiStamp.gen)
            & (KpiStamp.version == kpi.ROLLUP_VERSION)
        )
        .tuples()
    }
    if not fresh:
        return None
    out = Plan()
    raw_days: list[dt.date] = []
    day = period.start
    while day <= period.end:
        year_end = dt.date(day.year, 12, 31)
        if day.month == 1 and day.day == 1 and year_end <= period.end and ("y", day) in fresh:
            out.years.append(day)
            day = year_end + dt.timedelta(days=1)
            continue
        first = _month(day)
        last = _month_end(first)
        if day == first and last <= period.end and ("m", first) in fresh:
            out.months.append(first)
            day = last + dt.timedelta(days=1)
            continue
        if ("m", first) in fresh:
            # most of a month: the month's cells less those of the days outside the period
            upto = min(last, period.end)
            inside = (upto - day).days + 1
            outside = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
            outside = [d for d in outside if d < day or d > upto]
            if len(outside) + MONTH_IN_DAYS < inside and all(("d", d) in fresh for d in outside):
                out.months.append(first)
                out.less += outside
                day = upto + dt.timedelta(days=1)
                continue
        (out.days if ("d", day) in fresh else raw_days).append(day)
        day += dt.timedelta(days=1)
    if not (out.years or out.months or out.days):
        return None
    for d in raw_days:
        if out.raw and out.raw[-1][1] + dt.timedelta(days=1) == d:
            out.raw[-1] = (out.raw[-1][0], d)
        else:
            out.raw.append((d, d))
    return out


def read(p: Plan, specs: list[tuple]) -> list[dict]:
    """The cells of the plan's months and days summed, one result per spec (``kpi.collect``)."""
    ph = database.obj.param
    parts, params = [], []
    if p.years:
        parts.append(f"(c.grain = 'y' AND c.start IN ({', '.join([ph] * len(p.years))}))")
        params += [y.isoformat() for y in p.years]
    if p.months:
        parts.append(f"(c.grain = 'm' AND c.start IN ({', '.join([ph] * len(p.months))}))")
        params += [m.isoformat() for m in p.months]
    if p.days or p.less:
        days = p.days + p.less
        parts.append(f"(c.grain = 'd' AND c.start IN ({', '.join([ph] * len(days))}))")
        params += [d.isoformat() for d in days]
    total = "SUM(c.n)"
    if p.less:  # subtracted: the month's cells count them
        less = ", ".join([ph] * len(p.less))
        total = f"SUM(CASE WHEN c.grain = 'd' AND c.start IN ({less}) THEN -c.n ELSE c.n END)"
        params = [d.isoformat() for d in p.less] + params + [d.isoformat() for d in p.less]
    sql = (
        f"SELECT c.q, c.g1, c.g2, c.g3, c.g4, c.b, c.o, {total} FROM kpicell c "
        f"WHERE c.q < {len(specs)} AND ({' OR '.join(parts)}) GROUP BY c.q, c.g1, c.g2, c.g3, c.g4, c.b, c.o"
        + (f" HAVING {total} <> 0" if p.less else "")
    )
    return kpi.collect(database.execute_sql(sql, params).fetchall(), specs)


# ---- building --------------------------------------------------------------------------------------


def _lock(stamp_id: int) -> KpiStamp:
    """Take the stamp's row for this transaction (a second builder waits) and read it again."""
    KpiStamp.update(version=KpiStamp.version).where(KpiStamp.id == stamp_id).execute()
    return KpiStamp.get_by_id(stamp_id)


def _current(stamp: KpiStamp) -> bool:
    return stamp.built == stamp.gen and stamp.version == kpi.ROLLUP_VERSION


def build_day(stamp_id: int, ids: list[int]) -> None:
    """(Re)build one day's cells from its visits."""
    with database.atomic():
        stamp = _lock(stamp_id)
        if _current(stamp):
            return
        gen = stamp.gen  # read before the visits: a change after this makes the stamp stale again
        day = _day(stamp.start)
        KpiCell.delete().where((KpiCell.grain == "d") & (KpiCell.start == day)).execute()
        period = kpi.Period(day, day)
        where = kpi._Where(ids, period, None, None)
        union = kpi.union_sql(where.sql, kpi.specs(True))
        ph = database.obj.param
        database.execute_sql(
            "INSERT INTO kpicell (start, grain, q, g1, g2, g3, g4, b, o, n) "
            f"SELECT {ph}, 'd', u.q, u.g1, u.g2, u.g3, u.g4, u.b, u.o, u.n FROM ({union}) u",
            [day.isoformat(), *where.params],
        )
        KpiStamp.update(built=gen, version=kpi.ROLLUP_VERSION).where(KpiStamp.id == stamp.id).execute()


CHILD = {"m": "d", "y": "m"}  # a month is the sum of its days, a year of its months


def _end(grain: str, first: dt.date) -> dt.date:
    return _month_end(first) if grain == "m" else dt.date(first.year, 12, 31)


def _parts(grain: str, first: dt.date) -> int:
    return (_end(grain, first) - first).days + 1 if grain == "m" else 12


def build_sum(stamp_id: int) -> bool:
    """(Re)build one month's cells as the sum of its days' cells, or a year's of its months';
    False (nothing done) while one of those is not current."""
    with database.atomic():
        stamp = _lock(stamp_id)
        if _current(stamp):
            return True
        gen = stamp.gen
        grain, first = stamp.grain, _day(stamp.start)
        child, last = CHILD[grain], _end(grain, first)
        current = (
            KpiStamp.select()
            .where(
                (KpiStamp.grain == child)
                & (KpiStamp.start >= first)
                & (KpiStamp.start <= last)
                & (KpiStamp.built == KpiStamp.gen)
                & (KpiStamp.version == kpi.ROLLUP_VERSION)
            )
            .count()
        )
        if current != _parts(grain, first):
            return False
        KpiCell.delete().where((KpiCell.grain == grain) & (KpiCell.start == first)).execute()
        ph = database.obj.param
        database.execute_sql(
            "INSERT INTO kpicell (start, grain, q, g1, g2, g3, g4, b, o, n) "
            f"SELECT {ph}, {ph}, c.q, c.g1, c.g2, c.g3, c.g4, c.b, c.o, SUM(c.n) FROM kpicell c "
            f"WHERE c.grain = {ph} AND c.start >= {ph} AND c.start <= {ph} "
            "GROUP BY c.q, c.g1, c.g2, c.g3, c.g4, c.b, c.o",
            [first.isoformat(), grain, child, first.isoformat(), last.isoformat()],
        )
        KpiStamp.update(built=gen, version=kpi.ROLLUP_VERSION).where(KpiStamp.id == stamp.id).execute()
        return True


def _first_day() -> dt.date | None:
    """The first day with a visit (through the (puskesmas, day) index, one look per puskesmas)."""
    firsts = []
    for p in Puskesmas.select(Puskesmas.id):
        row = Visit.select(Visit.day).where(Visit.puskesmas == p.id).order_by(Visit.day).limit(1).tuples().first()
        if row:
            firsts.append(_day(row[0]))
    return min(firsts) if firsts else None


def refresh(today: dt.date | None = None, settle_s: float = SETTLE_S, progress=None) -> dict:
    """Make stamps for every day from the first visit's month up to yesterday and every whole
    month before this one, and build those that are missing or out of date. Returns counts
    ``{"days": built, "months": built, "stamps": made}``."""
    today = today or services.now_wib().date()
    first = _first_day()
    done = {"days": 0, "months": 0, "years": 0, "stamps": 0}
    if first is None:
        return done
    # from the first visit's year, but not more than two years back (older periods are rare;
    # a report reads their visits)
    start = dt.date(max(first.year, today.year - 2), 1, 1)
    have = {
        (grain, _day(s)): (i, made)
        for i, grain, s, made in KpiStamp.select(KpiStamp.id, KpiStamp.grain, KpiStamp.start, KpiStamp.created_at)
        .where(KpiStamp.start >= start)
        .tuples()
    }
    wanted = []
    d = start
    while d < today:
        wanted.append(("d", d))
        if d == _month(d) and _month_end(d) < today:
            wanted.append(("m", d))
        if d.month == 1 and d.day == 1 and dt.date(d.year, 12, 31) < today:
            wanted.append(("y", d))
        d += dt.timedelta(days=1)
    missing = [w for w in wanted if w not in have]
    if missing:
        with database.atomic():
            for grain, s in missing:
                KpiStamp.insert(start=s, grain=grain).on_conflict_ignore().execute()
        done["stamps"] = len(missing)
        have = {
            (grain, _day(s)): (i, made)
            for i, grain, s, made in KpiStamp.select(KpiStamp.id, KpiStamp.grain, KpiStamp.start, KpiStamp.created_at)
            .where(KpiStamp.start >= start)
            .tuples()
        }
    stale = {
        (grain, _day(s))
        for grain, s in KpiStamp.select(KpiStamp.grain, KpiStamp.start)
        .where(
            (KpiStamp.start >= start) & ((KpiStamp.built != KpiStamp.gen) | (KpiStamp.version != kpi.ROLLUP_VERSION))
        )
        .tuples()
    }
    settled = utcnow() - dt.timedelta(seconds=settle_s)  # younger stamps wait for the next pass
    ids = sorted(_all_ids())
    todo_days = [w for w in wanted if w[0] == "d" and w in stale and _made(have[w][1]) <= settled]
    for n, (_g, s) in enumerate(todo_days, 1):
        build_day(have[("d", s)][0], ids)
        done["days"] += 1
        if progress is not None:
            progress("d", n, len(todo_days))
    for level, key in (("m", "months"), ("y", "years")):
        for grain, s in wanted:
            if grain == level and (grain, s) in stale and build_sum(have[(grain, s)][0]):
                done[key] += 1
    if done["days"] or done["months"] or done["years"]:
        if isinstance(database.obj, PostgresqlDatabase):
            database.execute_sql("ANALYZE kpicell")  # the planner's row estimates follow the rollup
        log.info("KPI rollup: %(days)d day(s), %(months)d month(s), %(years)d year(s) built", done)
    return done


def _made(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return dt.datetime.fromisoformat(str(value))
