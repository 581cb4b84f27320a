"""The kabupaten's KPI rollup gives exactly the figures the visits give, for any period, on SQLite
and PostgreSQL; a late event makes its day out of date at once, and the next refresh catches up."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest

from central import db as central_db
from central import kpi, kpi_rollup
from central.ingest import apply_batch
from central.models import KpiCell, KpiStamp, Node, Poli, Puskesmas, Visit
from protocol import events
from protocol.events import Actor, TicketCalled, TicketIssued
from protocol.messages import EventBatch, EventRecord

FIRST = dt.date(2025, 12, 15)
LAST = dt.date(2026, 2, 10)
TODAY = dt.date(2026, 2, 11)  # the rollup covers days before today, months and years before this one
QUEUES = ["REG-A", "REG-B", "POLI-UMUM", "POLI-GIGI"]
# waits around whole minutes, the edges of the quality targets (5, 20, 30 minutes), early slots
WAITS = [None, 0, 2, 3, 57, 63, 297, 299, 300, 301, 302, 303, 1197, 1200, 1202, 1800, 1803, 2400, 3600]
SLOT_WAITS = [None, -600, -9, -3, 0, 3, 897, 900, 902, 1500]


def _visits(rng: random.Random, places: list[tuple[Puskesmas, Node]]) -> list[dict]:
    rows = []
    day = FIRST
    while day <= LAST:
        for place, node in places:
            for j in range(rng.randint(0, 14)):
                queue = rng.choice(QUEUES)
                kind = "walkin" if queue.startswith("REG-") else rng.choice(["reservation", "transfer", "walkin"])
                hour = rng.choice(["07", "08", "09", "10", "13"])
                wait = rng.choice(WAITS)
                state = rng.choice(["done", "done", "no_show", "waiting", "transferred", "cancelled", "serving"])
                rows.append(
                    {
                        "node": node.id,
                        "ticket_key": f"{day}-{j}",
                        "puskesmas": place.id,
                        "label": f"A{j:03d}",
                        "queue": queue,
                        "poli": None
                        if queue.startswith("REG-") and rng.random() < 0.3
                        else rng.choice(["UMUM", "GIGI"]),
                        "payer": rng.choice(["BPJS", "UMUM"]),
                        "day": day,
                        "issued_at": f"{day}T{hour}:{rng.randint(0, 59):02d}:00.000+07:00",
                        "called_at": None if wait is None else f"{day}T11:00:00.000+07:00",
                        "state": state,
                        "kind": kind,
                        "slot": "08:00-09:00" if kind == "reservation" else None,
                        "counter": rng.choice([None, "loket-1", "loket-2", "poli-umum"]),
                        "called_by": rng.choice(["", "siti", "budi"]),
                        "wait_s": wait,
                        "slot_wait_s": rng.choice(SLOT_WAITS) if kind == "reservation" and wait is not None else None,
                        "service_s": rng.choice([None, 5, 177, 183, 600]) if state == "done" else None,
                    }
                )
        day += dt.timedelta(days=1)
    return rows


@pytest.fixture
def kabupaten(db_config):
    central_db.connect(db_config.database_url)
    places = []
    for code, menit in [("cibinong", 5), ("ciawi", 20), ("citeureup", 30)]:
        p = Puskesmas.create(code=code, name=f"Puskesmas {code.title()}", address="-", kecamatan=code)
        p.targets = json.dumps(
            {"pendaftaran": {"menit": menit, "persen": 90}, "reservasi": {"menit": 15, "persen": 80}}
        )
        p.save()
        Poli.create(puskesmas=p, code="UMUM", name="Poli Umum", prefix="U", order=1)
        Poli.create(puskesmas=p, code="GIGI", name="Poli Gigi", prefix="G", order=2)
        places.append((p, Node.create(node_id=f"pkm-{code}", puskesmas=p)))
    rows = _visits(random.Random(7), places)
    for i in range(0, len(rows), 500):
        Visit.insert_many(rows[i : i + 500]).execute()
    yield {"ids": [p.id for p, _n in places], "places": places}
    central_db.database.close()


PERIODS = [
    (dt.date(2025, 1, 1), dt.date(2025, 12, 31)),  # a whole year
    (dt.date(2025, 12, 1), dt.date(2026, 1, 31)),  # two whole months
    (dt.date(2025, 12, 20), dt.date(2026, 1, 18)),  # 30 days across a month and a year
    (dt.date(2026, 1, 7), dt.date(2026, 1, 7)),  # one day
    (dt.date(2025, 6, 1), dt.date(2026, 2, 11)),  # from an empty time up to today
    (dt.date(2026, 2, 1), dt.date(2026, 2, 11)),  # this month: days, and today from the visits
    (dt.date(2026, 1, 12), dt.date(2026, 2, 10)),  # the last 30 days before today
]


def _raw(ids, a, b, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(kpi_rollup, "plan", lambda ids, period: None)
        return kpi.report(ids, a, b).as_dict()


def test_the_rollup_gives_the_very_figures_of_the_visits(kabupaten, monkeypatch):
    ids = kabupaten["ids"]
    expected = {p: _raw(ids, *p, monkeypatch) for p in PERIODS}
    assert expected[PERIODS[1]]["tables"]["harian"]["rows"], "the fixture has visits"
    assert kpi_rollup.plan(ids, kpi.Period(*PERIODS[1])) is None  # nothing built yet

    # the first pass makes the stamps; their days are built once they have settled
    made = kpi_rollup.refresh(today=TODAY)
    assert made["stamps"] > 400 and made["days"] == 0
    built = kpi_rollup.refresh(today=TODAY, settle_s=0)
    assert built == {"days": (TODAY - dt.date(2025, 1, 1)).days, "months": 13, "years": 1, "stamps": 0}
    assert kpi_rollup.refresh(today=TODAY, settle_s=0) == {"days": 0, "months": 0, "years": 0, "stamps": 0}
    assert not KpiStamp.select().where(KpiStamp.start >= TODAY).exists()  # today is never rolled up

    year = kpi_rollup.plan(ids, kpi.Period(*PERIODS[0]))
    assert year.years == [dt.date(2025, 1, 1)] and not year.months and not year.days and not year.raw
    # 12 days of December from their own cells; 18 of January as January less its other 13 days
    across = kpi_rollup.plan(ids, kpi.Period(*PERIODS[2]))
    assert across.days == [dt.date(2025, 12, d) for d in range(20, 32)] and not across.raw
    assert across.months == [dt.date(2026, 1, 1)] and across.less == [dt.date(2026, 1, d) for d in range(19, 32)]
    assert kpi_rollup.plan(ids, kpi.Period(*PERIODS[6])).less == [dt.date(2026, 1, d) for d in range(1, 12)]
    assert kpi_rollup.plan(ids, kpi.Period(*PERIODS[1])).months == [dt.date(2025, 12, 1), dt.date(2026, 1, 1)]
    assert kpi_rollup.plan(ids, kpi.Period(*PERIODS[5])).raw == [(TODAY, TODAY)]
    for period in PERIODS:
        assert kpi.report(ids, *period).as_dict() == expected[period], period

    # a filter, or not every puskesmas, reads the visits
    assert kpi_rollup.plan(ids[:2], kpi.Period(*PERIODS[1])) is None


def _event_batch(node: Node, events_: list[events.Event], incarnation: str = "inc-late") -> EventBatch:
    records = tuple(EventRecord(i, e.NAME, e.at, events.to_data(e), e.VERSION) for i, e in enumerate(events_, 1))
    return EventBatch(records, incarnation)


def test_a_late_event_is_in_the_figures_at_once_and_in_the_rollup_after_the_next_refresh(kabupaten, monkeypatch):
    ids = kabupaten["ids"]
    kpi_rollup.refresh(today=TODAY, settle_s=0)
    period = (dt.date(2026, 1, 1), dt.date(2026, 1, 31))
    before = kpi.report(ids, *period).as_dict()
    assert kpi_rollup.plan(ids, kpi.Period(*period)).months == [dt.date(2026, 1, 1)]

    # an edge that was offline delivers a ticket of 15 January, called after 301 s
    _place, node = kabupaten["places"][0]
    day = "2026-01-15"
    late = [
        TicketIssued(
            ticket="late-1", day=day, queue="REG-A", label="A099", number=99, kind="walkin", payer="UMUM",
            at=f"{day}T08:00:00.000+07:00",
        ),
        TicketCalled(
            ticket="late-1", label="A099", counter="loket-1", destination="Loket 1", actor=Actor(staff="siti"),
            at=f"{day}T08:05:01.000+07:00",
        ),
    ]  # fmt: skip
    assert apply_batch(node, _event_batch(node, late)) == 2
    stale = kpi_rollup.plan(ids, kpi.Period(*period))
    assert stale.months == [] and (dt.date(2026, 1, 15), dt.date(2026, 1, 15)) in stale.raw
    after = kpi.report(ids, *period).as_dict()
    assert after == _raw(ids, *period, monkeypatch)
    visits = lambda rep: sum(r[1] for r in rep["tables"]["harian"]["rows"])  # noqa: E731
    assert visits(after) == visits(before) + 1
    # 301 s misses Cibinong's 5 minutes: one more called, none more within
    reg_before, reg_after = before["tables"]["target"]["rows"][0], after["tables"]["target"]["rows"][0]
    assert (reg_after[2], reg_after[3]) == (reg_before[2] + 1, reg_before[3])

    assert kpi_rollup.refresh(today=TODAY, settle_s=0) == {"days": 1, "months": 1, "years": 0, "stamps": 0}
    assert kpi_rollup.plan(ids, kpi.Period(*period)).months == [dt.date(2026, 1, 1)]
    assert kpi.report(ids, *period).as_dict() == after

    # a late ticket of last year: its day, month and year are out of date together
    year = (dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    last_year = kpi.report(ids, *year).as_dict()
    day = "2025-12-30"
    older = [
        TicketIssued(
            ticket="late-2", day=day, queue="POLI-GIGI", label="G099", number=99, kind="reservation",
            payer="BPJS", poli="GIGI", slot="08:00-09:00", at=f"{day}T07:50:00.000+07:00",
        ),
    ]  # fmt: skip
    assert apply_batch(node, _event_batch(node, older, "inc-older")) == 1
    stale = kpi_rollup.plan(ids, kpi.Period(*year))
    assert stale.years == [] and dt.date(2025, 12, 1) not in stale.months and len(stale.months) == 11
    assert (dt.date(2025, 12, 30), dt.date(2025, 12, 30)) in stale.raw
    now = kpi.report(ids, *year).as_dict()
    assert now == _raw(ids, *year, monkeypatch) != last_year
    assert kpi_rollup.refresh(today=TODAY, settle_s=0) == {"days": 1, "months": 1, "years": 1, "stamps": 0}
    assert kpi_rollup.plan(ids, kpi.Period(*year)).years == [dt.date(2025, 1, 1)]
    assert kpi.report(ids, *year).as_dict() == now


def test_a_rollup_of_another_shape_is_not_used_and_is_built_again(kabupaten, monkeypatch):
    ids = kabupaten["ids"]
    kpi_rollup.refresh(today=TODAY, settle_s=0)
    cells = KpiCell.select().count()
    monkeypatch.setattr(kpi, "ROLLUP_VERSION", kpi.ROLLUP_VERSION + 1)
    assert kpi_rollup.plan(ids, kpi.Period(*PERIODS[1])) is None
    again = kpi_rollup.refresh(today=TODAY, settle_s=0)
    assert again["months"] == 13 and again["years"] == 1
    assert KpiCell.select().count() == cells  # rebuilt in place, nothing doubled


def test_a_filtered_report_of_several_puskesmas_is_kept_to_a_month(kabupaten):
    ids = kabupaten["ids"]
    month = kpi.report(ids, dt.date(2026, 1, 1), dt.date(2026, 1, 31), payer="BPJS")
    assert sum(r[5] for r in month.tables["harian"].rows) == 0  # BPJS only: no Umum visit
    with pytest.raises(kpi.KpiTooWide) as e:
        kpi.report(ids, dt.date(2025, 12, 1), dt.date(2026, 1, 31), poli="UMUM")
    assert "paling lama 31 hari" in e.value.fields["to"]
    # one puskesmas, or no filter: any period
    assert kpi.report(ids[:1], dt.date(2025, 1, 1), dt.date(2026, 1, 31), poli="UMUM").tables["harian"].rows
    assert kpi.report(ids, dt.date(2025, 1, 1), dt.date(2026, 1, 31)).tables["harian"].rows
