"""Waiting-time estimates per queue from tickets on a real edge SQLite database."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from edge import db as edge_db
from edge import estimates
from edge.core import estimate as core
from edge.models import Ticket
from protocol.clock import WIB

DAY = dt.date(2026, 11, 23)  # a Monday
UMUM = "POLI-UMUM"
_keys = itertools.count(1)


@pytest.fixture(autouse=True)
def db(tmp_path):
    estimates.clear_cache()
    edge_db.connect(tmp_path / "edge.db")
    yield
    edge_db.database.close()
    estimates.clear_cache()


def at(day: dt.date, hhmm: str, minutes: float = 0) -> dt.datetime:
    hh, mm = hhmm.split(":")
    return dt.datetime.combine(day, dt.time(int(hh), int(mm)), WIB) + dt.timedelta(minutes=minutes)


def text(t: dt.datetime) -> str:
    return t.isoformat(timespec="milliseconds")


def ticket(day: dt.date, queue: str, issued: dt.datetime, called: dt.datetime | None) -> Ticket:
    n = next(_keys)
    return Ticket.create(
        key=f"k{n}",
        day=day.isoformat(),
        queue=queue,
        number=n,
        label=f"U{n:03d}",
        kind="walkin",
        payer="UMUM",
        state="done" if called else "waiting",
        sort_time=text(issued),
        issued_at=text(issued),
        called_at=text(called) if called else None,
    )


def called_every(day: dt.date, queue: str, start: str, minutes: float, n: int) -> None:
    """``n`` tickets all issued at 07:00 and called every ``minutes`` from ``start``."""
    for i in range(n):
        ticket(day, queue, at(day, "07:00"), at(day, start, i * minutes))


def labels(n: int) -> list[str]:
    return [f"W{i:03d}" for i in range(n)]


def test_todays_pace_gives_ranges_aligned_with_the_waiting(db):
    called_every(DAY, UMUM, "08:00", 4, 12)  # last call 08:44
    got = estimates.queue_estimates(DAY, [UMUM], {UMUM: labels(6)}, at(DAY, "08:45"))
    assert set(got) == {UMUM}
    rows = got[UMUM]["estimates"]
    assert len(rows) == 6
    assert rows[0] == [0, 10]
    assert all(lo % 5 == 0 and hi % 5 == 0 and lo < hi for lo, hi in rows)
    assert [hi - lo for lo, hi in rows] == sorted(hi - lo for lo, hi in rows)
    # the next ticket taken joins behind the six waiting
    pace = core.Pace.from_gaps([4.0] * 11, [])
    assert got[UMUM]["estimate_next"] == list(core.estimate(pace, 6))
    assert rows[5] == list(core.estimate(pace, 5))


def test_a_queue_without_anybody_waiting(db):
    called_every(DAY, UMUM, "08:00", 4, 12)
    got = estimates.queue_estimates(DAY, [UMUM], {}, at(DAY, "08:45"))
    assert got[UMUM]["estimates"] == []
    assert got[UMUM]["estimate_next"] == [0, 10]


def test_estimates_stop_at_200(db):
    called_every(DAY, UMUM, "08:00", 1, 12)
    got = estimates.queue_estimates(DAY, [UMUM], {UMUM: labels(250)}, at(DAY, "08:15"))
    assert len(got[UMUM]["estimates"]) == estimates.MAX_ENTRIES == 200
    assert got[UMUM]["estimate_next"][0] >= got[UMUM]["estimates"][-1][0]


def test_neither_today_nor_history_gives_none(db):
    called_every(DAY, UMUM, "08:00", 4, 3)  # two gaps only
    got = estimates.queue_estimates(DAY, [UMUM, "REG-A"], {UMUM: labels(3)}, at(DAY, "08:10"))
    assert got[UMUM] == {"estimate_next": None, "estimates": [None, None, None]}
    assert got["REG-A"] == {"estimate_next": None, "estimates": []}
    assert core.words(got[UMUM]["estimate_next"]) == ""


def test_too_little_today_uses_the_same_weekday_of_past_weeks(db):
    for weeks in (1, 3):
        called_every(DAY - dt.timedelta(weeks=weeks), UMUM, "08:00", 6, 10)
    called_every(DAY, UMUM, "08:00", 2, 3)  # today: too few gaps
    got = estimates.queue_estimates(DAY, [UMUM], {UMUM: labels(10)}, at(DAY, "08:05"))
    history = core.Pace.from_gaps([], [6.0] * 18)
    assert got[UMUM]["estimates"][9] == list(core.estimate(history, 9))


@pytest.mark.parametrize("days_back", [1, 6, 35, -7])
def test_other_days_are_not_history(db, days_back):
    called_every(DAY - dt.timedelta(days=days_back), UMUM, "08:00", 6, 20)
    got = estimates.queue_estimates(DAY, [UMUM], {UMUM: labels(2)}, at(DAY, "08:05"))
    assert got[UMUM]["estimate_next"] is None


def test_history_of_another_queue_is_not_used(db):
    called_every(DAY - dt.timedelta(weeks=1), "POLI-GIGI", "08:00", 6, 20)
    got = estimates.queue_estimates(DAY, [UMUM], {UMUM: labels(2)}, at(DAY, "08:05"))
    assert got[UMUM]["estimate_next"] is None


def test_history_keeps_to_the_hour_band(db):
    past = DAY - dt.timedelta(weeks=2)
    called_every(past, UMUM, "08:00", 2, 15)  # fast mornings
    called_every(past, UMUM, "10:30", 10, 10)  # slow late mornings
    early = estimates.queue_estimates(DAY, [UMUM], {UMUM: labels(5)}, at(DAY, "08:10"))
    estimates.clear_cache()
    late = estimates.queue_estimates(DAY, [UMUM], {UMUM: labels(5)}, at(DAY, "10:45"))
    assert early[UMUM]["estimates"][4][1] < late[UMUM]["estimates"][4][0]


def test_calls_after_now_are_not_known_yet(db):
    called_every(DAY, UMUM, "08:00", 4, 3)
    called_every(DAY, UMUM, "09:00", 4, 10)  # later this morning
    got = estimates.queue_estimates(DAY, [UMUM], {UMUM: labels(2)}, at(DAY, "08:10"))
    assert got[UMUM]["estimate_next"] is None


def test_a_call_with_nobody_waiting_before_it_is_not_pace(db):
    # each patient arrives after the previous call and is called at once: the gaps are arrivals
    for i in range(10):
        ticket(DAY, UMUM, at(DAY, "08:00", 10 * i + 1), at(DAY, "08:00", 10 * i + 2))
    got = estimates.queue_estimates(DAY, [UMUM], {UMUM: labels(1)}, at(DAY, "10:00"))
    assert got[UMUM]["estimate_next"] is None


def test_now_in_another_zone_is_taken_in_wib(db):
    called_every(DAY, UMUM, "08:00", 4, 12)
    wib = estimates.queue_estimates(DAY, [UMUM], {UMUM: labels(3)}, at(DAY, "08:45"))
    utc = estimates.queue_estimates(DAY, [UMUM], {UMUM: labels(3)}, at(DAY, "08:45").astimezone(dt.UTC))
    assert wib == utc


def test_history_is_read_once_per_day_and_queue(db):
    past = DAY - dt.timedelta(weeks=1)
    called_every(past, UMUM, "08:00", 6, 20)
    first = estimates.queue_estimates(DAY, [UMUM], {UMUM: labels(3)}, at(DAY, "08:05"))
    Ticket.delete().where(Ticket.day == past.isoformat()).execute()
    assert estimates.queue_estimates(DAY, [UMUM], {UMUM: labels(3)}, at(DAY, "08:06")) == first
    estimates.clear_cache()
    assert estimates.queue_estimates(DAY, [UMUM], {UMUM: labels(3)}, at(DAY, "08:07"))[UMUM]["estimate_next"] is None


def test_a_wait_into_the_midday_break_is_longer_where_the_puskesmas_breaks(db):
    for weeks in (1, 2, 3):
        past = DAY - dt.timedelta(weeks=weeks)
        called_every(past, UMUM, "11:00", 4, 15)  # to 11:56
        called_every(past, UMUM, "13:00", 4, 10)  # after the break, with patients waiting
    called_every(DAY, UMUM, "11:00", 4, 10)
    got = estimates.queue_estimates(DAY, [UMUM], {UMUM: labels(10)}, at(DAY, "11:40"))
    plain = core.estimate(core.Pace.from_gaps([4.0] * 9, []), 9)
    lo, hi = got[UMUM]["estimates"][9]
    assert lo >= plain[0] + 55 and hi >= plain[1] + 55


def test_no_break_shift_where_the_puskesmas_calls_through_midday(db):
    for weeks in (1, 2):
        called_every(DAY - dt.timedelta(weeks=weeks), UMUM, "11:00", 4, 40)  # through 13:36
    called_every(DAY, UMUM, "11:00", 4, 10)
    got = estimates.queue_estimates(DAY, [UMUM], {UMUM: labels(10)}, at(DAY, "11:40"))
    assert got[UMUM]["estimates"][9] == list(core.estimate(core.Pace.from_gaps([4.0] * 9, []), 9))


def test_queues_are_estimated_each_from_their_own_calls(db):
    called_every(DAY, "REG-A", "07:30", 2, 10)
    called_every(DAY, "REG-B", "07:30", 6, 10)
    got = estimates.queue_estimates(
        DAY, ["REG-A", "REG-B"], {"REG-A": labels(10), "REG-B": labels(10)}, at(DAY, "09:00")
    )
    assert got["REG-A"]["estimates"][9][1] < got["REG-B"]["estimates"][9][0]
