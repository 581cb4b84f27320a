"""Table tests for the queue core: ticket transitions, labels, calling order and slot times."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from edge.core import queue
from edge.core.queue import TransitionError, Waiting

WIB = ZoneInfo("Asia/Jakarta")
DAY = dt.date(2026, 11, 26)

STATES = ["waiting", "called", "serving", "done", "no_show", "cancelled", "transferred"]
ACTIONS = ["call", "recall", "serve", "finish", "no_show", "transfer", "cancel"]

# Written out by hand (not derived from queue.TRANSITIONS): what staff may do, from where.
ALLOWED = {
    ("waiting", "call"): "called",
    ("waiting", "cancel"): "cancelled",
    ("called", "recall"): "called",
    ("called", "serve"): "serving",
    ("called", "finish"): "done",
    ("called", "no_show"): "no_show",
    ("called", "transfer"): "transferred",
    ("serving", "finish"): "done",
    ("serving", "transfer"): "transferred",
}
REFUSED = [(s, a) for s, a in itertools.product(STATES, ACTIONS) if (s, a) not in ALLOWED]

# What staff read when an action is refused.
LABELS = {
    "waiting": "menunggu",
    "called": "dipanggil",
    "serving": "dilayani",
    "done": "selesai",
    "no_show": "tidak hadir",
    "cancelled": "batal",
    "transferred": "diteruskan",
}


def at(hh: int, mm: int, ss: int = 0, us: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, 26, hh, mm, ss, us, tzinfo=WIB)


# ---- transitions -----------------------------------------------------------------------------


def test_tables_cover_every_state_and_action():
    assert set(STATES) == queue.ACTIVE_STATES | queue.FINAL_STATES
    assert not queue.ACTIVE_STATES & queue.FINAL_STATES
    assert set(ACTIONS) == set(queue.TRANSITIONS)
    assert len(ALLOWED) + len(REFUSED) == 49


@pytest.mark.parametrize(
    ("state", "action", "target"), [pytest.param(s, a, t, id=f"{s}-{a}") for (s, a), t in ALLOWED.items()]
)
def test_allowed_transition(state, action, target):
    assert queue.transition(state, action) == target


@pytest.mark.parametrize(("state", "action"), [pytest.param(s, a, id=f"{s}-{a}-refused") for s, a in REFUSED])
def test_refused_transition_tells_staff_the_state_in_indonesian(state, action):
    with pytest.raises(TransitionError) as exc:
        queue.transition(state, action)
    assert str(exc.value) == f"Tidak bisa, status antrean ini {LABELS[state]}."


@pytest.mark.parametrize("state", ["done", "no_show", "cancelled", "transferred"])
def test_a_final_ticket_cannot_be_touched(state):
    assert state in queue.FINAL_STATES
    for action in ACTIONS:
        with pytest.raises(TransitionError):
            queue.transition(state, action)


@pytest.mark.parametrize(
    ("state", "action", "message"),
    [
        pytest.param("waiting", "delete", "Aksi tidak dikenal: delete", id="unknown-action"),
        pytest.param("waiting", "", "Aksi tidak dikenal: ", id="empty-action"),
        pytest.param("waiting", "Call", "Aksi tidak dikenal: Call", id="capitalised-action"),
        pytest.param("lost", "call", "Tidak bisa, status antrean ini lost.", id="unknown-state"),
    ],
)
def test_unknown_action_or_state_is_refused(state, action, message):
    with pytest.raises(TransitionError) as exc:
        queue.transition(state, action)
    assert str(exc.value) == message


def test_transition_error_is_a_value_error():
    with pytest.raises(ValueError):
        queue.transition("done", "call")


def test_a_whole_visit():
    state = "waiting"
    for action, expected in [("call", "called"), ("recall", "called"), ("serve", "serving"), ("finish", "done")]:
        state = queue.transition(state, action)
        assert state == expected


# ---- labels and queue names ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "number", "text"),
    [
        pytest.param("A", 1, "A001", id="first"),
        pytest.param("A", 7, "A007", id="one-digit"),
        pytest.param("B", 42, "B042", id="two-digits"),
        pytest.param("U", 100, "U100", id="three-digits"),
        pytest.param("A", 999, "A999", id="a999"),
        pytest.param("A", 1000, "A1000", id="a1000-grows"),
        pytest.param("KG", 12345, "KG12345", id="two-letter-prefix"),
    ],
)
def test_label(prefix, number, text):
    assert queue.label(prefix, number) == text


@pytest.mark.parametrize("number", [pytest.param(0, id="zero"), pytest.param(-1, id="negative")])
def test_label_refuses_numbers_below_one(number):
    with pytest.raises(ValueError):
        queue.label("A", number)


def test_registration_queues_and_prefixes():
    assert queue.REG_PREFIX == {"REG-A": "A", "REG-B": "B"}
    assert queue.poli_queue("UMUM") == "POLI-UMUM"


# ---- reservation sort time -------------------------------------------------------------------

SLOT = at(8, 0)


@pytest.mark.parametrize(
    ("arrived", "expected"),
    [
        pytest.param(at(7, 15), SLOT, id="early-keeps-slot"),
        pytest.param(at(8, 0), SLOT, id="on-time-keeps-slot"),
        pytest.param(at(8, 10), SLOT, id="10-min-late-keeps-slot"),
        pytest.param(at(8, 14, 59, 999999), SLOT, id="just-under-15-min-keeps-slot"),
        pytest.param(at(8, 15), SLOT, id="exactly-15-min-late-keeps-slot"),
        pytest.param(at(8, 15, 0, 1), at(8, 15, 0, 1), id="15-min-1-us-late-uses-arrival"),
        pytest.param(at(8, 16), at(8, 16), id="16-min-late-uses-arrival"),
        pytest.param(at(10, 30), at(10, 30), id="hours-late-uses-arrival"),
    ],
)
def test_reservation_sort_time(arrived, expected):
    assert queue.reservation_sort_time(SLOT, arrived) == expected


def test_grace_is_compared_as_instants_not_wall_clock():
    # The edge may hold arrival times in UTC: 01:15Z is 08:15 WIB, still within grace.
    arrived_utc = dt.datetime(2026, 11, 26, 1, 15, tzinfo=dt.UTC)
    assert queue.reservation_sort_time(SLOT, arrived_utc) == SLOT
    late_utc = dt.datetime(2026, 11, 26, 1, 16, tzinfo=dt.UTC)
    assert queue.reservation_sort_time(SLOT, late_utc) == late_utc


# ---- slot start ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slot", "hh", "mm"),
    [
        pytest.param("08:00-09:00", 8, 0, id="first-slot"),
        pytest.param("11:00-12:00", 11, 0, id="last-slot"),
        pytest.param("07:30-08:30", 7, 30, id="half-hour"),
    ],
)
def test_slot_start(slot, hh, mm):
    start = queue.slot_start(DAY, slot, WIB)
    assert start == dt.datetime(2026, 11, 26, hh, mm, tzinfo=WIB)
    assert start.utcoffset() == dt.timedelta(hours=7)


def test_slot_start_is_in_the_given_time_zone():
    wib = queue.slot_start(DAY, "08:00-09:00", WIB)
    utc = queue.slot_start(DAY, "08:00-09:00", dt.UTC)
    assert wib.astimezone(dt.UTC) == dt.datetime(2026, 11, 26, 1, 0, tzinfo=dt.UTC)
    assert utc - wib == dt.timedelta(hours=7)


@pytest.mark.parametrize(
    "slot",
    [
        pytest.param("", id="empty"),
        pytest.param("0800-0900", id="no-colon"),
        pytest.param("xx:00-09:00", id="letters"),
        pytest.param("25:00-26:00", id="hour-25"),
        pytest.param("08:60-09:00", id="minute-60"),
        pytest.param("08:00:00-09:00:00", id="seconds"),
        pytest.param("-08:00", id="leading-dash"),
    ],
)
def test_slot_start_refuses_a_bad_slot(slot):
    with pytest.raises(ValueError):
        queue.slot_start(DAY, slot, WIB)


# ---- ordering --------------------------------------------------------------------------------


def w(key: str, number: int, sort_time: dt.datetime, priority: bool = False) -> Waiting:
    return Waiting(key, number, priority, sort_time)


@pytest.mark.parametrize(
    ("tickets", "expected"),
    [
        pytest.param(
            [w("a", 1, at(7, 30)), w("b", 2, at(7, 45), priority=True)], ["b", "a"], id="priority-beats-earlier-arrival"
        ),
        pytest.param([w("a", 5, at(7, 31)), w("b", 9, at(7, 30))], ["b", "a"], id="earlier-time-beats-lower-number"),
        pytest.param([w("a", 4, at(7, 30)), w("b", 3, at(7, 30))], ["b", "a"], id="same-time-lower-number-first"),
        pytest.param(
            [w("p2", 7, at(8, 0), True), w("p1", 8, at(7, 50), True), w("n", 1, at(7, 0))],
            ["p1", "p2", "n"],
            id="priority-patients-ordered-by-time",
        ),
        pytest.param(
            [
                # reservation for 08:00 that came at 07:40 sorts at its slot, after a 07:45 walk-in
                w("res-early", 1, queue.reservation_sort_time(at(8, 0), at(7, 40))),
                w("walk-in", 2, at(7, 45)),
            ],
            ["walk-in", "res-early"],
            id="early-reservation-waits-for-its-slot",
        ),
        pytest.param(
            [
                w("walk-in", 2, at(8, 5)),
                w("res-10-late", 1, queue.reservation_sort_time(at(8, 0), at(8, 10))),
            ],
            ["res-10-late", "walk-in"],
            id="slightly-late-reservation-keeps-its-place",
        ),
        pytest.param(
            [
                w("walk-in", 2, at(8, 5)),
                w("res-20-late", 1, queue.reservation_sort_time(at(8, 0), at(8, 20))),
            ],
            ["walk-in", "res-20-late"],
            id="late-reservation-loses-its-slot",
        ),
        pytest.param(
            [w("utc", 1, dt.datetime(2026, 11, 26, 0, 50, tzinfo=dt.UTC)), w("wib", 2, at(7, 55))],
            ["utc", "wib"],
            id="mixed-time-zones-compare-as-instants",
        ),
    ],
)
def test_calling_order(tickets, expected):
    assert [t.key for t in queue.ordered(tickets)] == expected
    assert queue.next_to_call(tickets).key == expected[0]
    assert [t.key for t in queue.ordered(list(reversed(tickets)))] == expected


def test_next_to_call_on_an_empty_queue_is_none():
    assert queue.next_to_call([]) is None
    assert queue.ordered([]) == []


def test_ordered_does_not_change_the_callers_list():
    tickets = [w("b", 2, at(8, 0)), w("a", 1, at(7, 0))]
    queue.ordered(tickets)
    assert [t.key for t in tickets] == ["b", "a"]
