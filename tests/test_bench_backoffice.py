"""The back-office benchmark's generator at a small scale (2 puskesmas x 3 days) on PostgreSQL:
its rows are visits as central's ingest would keep them, so the figures it measures are real."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
from pathlib import Path

import psycopg2
import pytest

from central import kpi
from central.models import Reservation, Visit, database

# benchmarks/ is not an installed package: load the module from its file
_spec = importlib.util.spec_from_file_location(
    "bench_backoffice", Path(__file__).resolve().parents[1] / "benchmarks" / "bench_backoffice.py"
)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="module")
def generated():
    admin = os.environ.get("ROSMA_TEST_PG_URL", PG_DEFAULT)
    try:
        url = bench.create_database(admin)
    except psycopg2.OperationalError as e:
        pytest.fail(f"PostgreSQL is required but not reachable (set ROSMA_TEST_PG_URL): {e}", pytrace=False)
    try:
        made = bench.generate(url, puskesmas=2, days=3, per_day=300)
        yield made
    finally:
        if not database.is_closed():
            database.close()
        bench.drop_database(admin, url)


def _t(text):
    return dt.datetime.fromisoformat(text) if text else None


def test_the_generator_makes_the_visits_asked_for(generated):
    assert generated["puskesmas"] == 2
    assert generated["visits"] == 2 * 3 * 300 == Visit.select().count()
    # three open days from 2 January 2025 (a Thursday): Thursday, Friday, Saturday; never a Sunday
    days = sorted({v.day for v in Visit.select(Visit.day)})
    assert days == [dt.date(2025, 1, 2), dt.date(2025, 1, 3), dt.date(2025, 1, 4)]
    assert (generated["start"], generated["end"]) == (days[0], days[-1])


def test_every_row_is_a_visit_as_the_ingest_keeps_it(generated):
    visits = list(Visit.select())
    by_key = {(v.node_id, v.ticket_key): v for v in visits}
    for v in visits:
        issued, called, serving, done = _t(v.issued_at), _t(v.called_at), _t(v.serving_at), _t(v.done_at)
        assert issued.date() == v.day and called > issued and done > called
        assert serving is None or called < serving < done
        assert 120 <= v.wait_s <= 40 * 60 + 1, v.ticket_key
        # the stored seconds are those central.kpi computes from the times
        assert kpi.timings(v) == {"wait_s": v.wait_s, "slot_wait_s": v.slot_wait_s, "service_s": v.service_s}
        assert v.counter and v.called_by and v.destination and v.poli
        if v.kind == "transfer":
            parent = by_key[(v.node_id, v.parent)]
            assert parent.state == "transferred" and parent.label == v.label and parent.done_at == v.issued_at
            assert parent.poli == v.poli  # a loket ticket keeps the poli it sent the patient to
        if v.state == "done" and v.queue.startswith("POLI-"):
            assert 3 * 60 <= v.service_s <= 15 * 60 + 1 and v.done_by == v.called_by
    loket = [v for v in visits if v.queue.startswith("REG-")]
    assert all((v.queue == "REG-B") == (v.payer == "BPJS") for v in loket)
    assert 0.6 <= sum(v.payer == "BPJS" for v in loket) / len(loket) <= 0.8
    assert sum(dt.time(7, 15) <= _t(v.issued_at).time() <= dt.time(9, 30) for v in loket) / len(loket) > 0.5
    no_show = [v for v in visits if v.state == "no_show"]
    assert 0 < len(no_show) / len(visits) < 0.1 and all(v.service_s is None for v in no_show)
    # numbers are never reused within a day and queue
    labels = [(v.node_id, v.day, v.queue, v.label) for v in visits if v.kind != "transfer"]
    assert len(labels) == len(set(labels))


def test_reservations_match_their_visits_and_the_kpis_count_them(generated):
    reserved = {v.rid: v for v in Visit.select().where(Visit.kind == "reservation")}
    rows = list(Reservation.select())
    came = [r for r in rows if r.status in ("checked_in", "done")]
    assert {r.rid for r in came} == set(reserved)
    for r in came:
        v = reserved[r.rid]
        assert (r.date, r.slot, r.payer, r.ticket_label) == (v.day, v.slot, v.payer, v.label)
        assert r.status == ("done" if v.state == "done" else "checked_in") and r.checked_in_at is not None
    assert {r.status for r in rows} - {"checked_in", "done"} == {"cancelled", "active"}

    places = sorted({v.puskesmas_id for v in reserved.values()})
    report = kpi.report(places, dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    daily = {row[0]: row for row in report.tables["harian"].rows if row[1]}
    # a kunjungan is a walk-in or a check-in: 2 puskesmas x (120 + 60) a day
    assert sorted(daily) == ["2025-01-02", "2025-01-03", "2025-01-04"]
    assert [row[1] for row in daily.values()] == [2 * 180] * 3
    assert sum(row[2] for row in daily.values()) == len(reserved)


def test_the_rollup_of_the_generated_days_gives_the_figures_of_the_visits(generated, monkeypatch):
    from central import kpi_rollup
    from central.models import Puskesmas

    ids = [p.id for p in Puskesmas.select()]
    start, end = generated["start"], generated["end"]
    raw = kpi.report(ids, start, end).as_dict()
    built, cells = bench.roll_up(end + dt.timedelta(days=1))
    assert built["days"] >= 3 and cells > 0
    plan = kpi_rollup.plan(ids, kpi.Period(start, end))
    assert plan is not None and plan.days == [start, start + dt.timedelta(days=1), end] and not plan.raw
    assert kpi.report(ids, start, end).as_dict() == raw
