"""The queue rules of a puskesmas day: numbering, ordering and ticket state changes.

Pure: no database, no I/O. Every change is decided here and returned as a typed event
(``protocol.events``); the service layer stores the ticket row and the outbox row from that
same event and publishes it.

Queues: walk-ins take a registration number in ``REG-A`` (Umum) or ``REG-B`` (BPJS) and are
called to a loket; after registration they go on to a poli queue ``POLI-<code>`` keeping their
number. A reservation check-in goes straight to its poli queue with a poli number (e.g. U003).

Ordering within a queue, explicit and tested:
1. priority patients (lansia, disabilitas, ibu hamil) first;
2. then by sort time: a walk-in's time of arrival; a reservation's slot start, or its arrival
   if it came more than ``LATE_GRACE`` after the slot started (late arrivals lose their slot);
3. then by number.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from protocol.events import (
    Actor,
    Event,
    TicketCalled,
    TicketCancelled,
    TicketDone,
    TicketIssued,
    TicketNoShow,
    TicketServing,
    TicketTransferred,
)

REG_UMUM = "REG-A"
REG_BPJS = "REG-B"
REG_QUEUES = (REG_UMUM, REG_BPJS)
REG_PREFIX = {REG_UMUM: "A", REG_BPJS: "B"}
LATE_GRACE = dt.timedelta(minutes=15)

WAITING, CALLED, SERVING, DONE = "waiting", "called", "serving", "done"
NO_SHOW, CANCELLED, TRANSFERRED = "no_show", "cancelled", "transferred"
ACTIVE_STATES = frozenset({WAITING, CALLED, SERVING})
FINAL_STATES = frozenset({DONE, NO_SHOW, CANCELLED, TRANSFERRED})

# action -> (states it may start from, state it leads to)
TRANSITIONS = {
    "call": ({WAITING}, CALLED),
    "recall": ({CALLED}, CALLED),
    "serve": ({CALLED}, SERVING),
    "finish": ({CALLED, SERVING}, DONE),
    "no_show": ({CALLED}, NO_SHOW),
    "transfer": ({CALLED, SERVING}, TRANSFERRED),
    "cancel": ({WAITING}, CANCELLED),
}

STATE_LABELS = {
    WAITING: "menunggu",
    CALLED: "dipanggil",
    SERVING: "dilayani",
    DONE: "selesai",
    NO_SHOW: "tidak hadir",
    CANCELLED: "batal",
    TRANSFERRED: "diteruskan",
}


class TransitionError(ValueError):
    """The action is not allowed in the ticket's state; ``str(e)`` is for staff (Indonesian)."""


def transition(state: str, action: str) -> str:
    """The state after ``action``; raises TransitionError if it is not allowed."""
    if action not in TRANSITIONS:
        raise TransitionError(f"Aksi tidak dikenal: {action}")
    sources, target = TRANSITIONS[action]
    if state not in sources:
        raise TransitionError(f"Tidak bisa, status antrean ini {STATE_LABELS.get(state, state)}.")
    return target


# the event each plain action records
ACTION_EVENTS = {"serve": TicketServing, "finish": TicketDone, "no_show": TicketNoShow, "cancel": TicketCancelled}
# the state a ticket is in after each event
STATE_AFTER: dict[type[Event], str] = {
    TicketIssued: WAITING,
    TicketCalled: CALLED,
    TicketServing: SERVING,
    TicketDone: DONE,
    TicketNoShow: NO_SHOW,
    TicketCancelled: CANCELLED,
    TicketTransferred: TRANSFERRED,
}


@dataclass(frozen=True)
class TicketFacts:
    """What the rules need to know about a ticket to decide an action on it."""

    key: str
    label: str
    state: str
    destination: str | None = None
    counter: str | None = None


def call(t: TicketFacts, counter: str, destination: str, actor: Actor, at: str) -> TicketCalled:
    """Call a waiting ticket to a counter; raises TransitionError."""
    transition(t.state, "call")
    return TicketCalled(ticket=t.key, label=t.label, destination=destination, counter=counter, at=at, actor=actor)


def act(t: TicketFacts, action: str, actor: Actor, at: str) -> Event:
    """recall, serve, finish, no_show or cancel a ticket; raises TransitionError.

    A recall is a call again to the same place (the first call's time stands).
    """
    transition(t.state, action)
    if action == "recall":
        return TicketCalled(
            ticket=t.key,
            label=t.label,
            destination=t.destination or "",
            counter=t.counter or "",
            recall=True,
            at=at,
            actor=actor,
        )
    return ACTION_EVENTS[action](ticket=t.key, at=at, actor=actor)


def transfer(t: TicketFacts, to_ticket: str, to_poli: str, actor: Actor, at: str) -> TicketTransferred:
    """Send a registered ticket on to a poli, where it continues as ``to_ticket``; raises TransitionError."""
    transition(t.state, "transfer")
    return TicketTransferred(ticket=t.key, to_ticket=to_ticket, to_poli=to_poli, at=at, actor=actor)


def state_after(event: Event) -> str:
    """The state a ticket is in after ``event``."""
    return STATE_AFTER[type(event)]


def poli_queue(poli_code: str) -> str:
    """Queue name of a poli."""
    return f"POLI-{poli_code}"


def label(prefix: str, number: int) -> str:
    """Printed/announced ticket number: prefix + at least three digits, e.g. A007."""
    if number < 1:
        raise ValueError("ticket numbers start at 1")
    return f"{prefix}{number:03d}"


def reservation_sort_time(slot_start: dt.datetime, arrived: dt.datetime) -> dt.datetime:
    """Where a checked-in reservation sorts: its slot, unless it came too late for it."""
    return slot_start if arrived <= slot_start + LATE_GRACE else arrived


def slot_start(date: dt.date, slot: str, tz: dt.tzinfo) -> dt.datetime:
    """Start of a slot like "08:00-09:00" on ``date``; raises ValueError for a bad slot."""
    hh, mm = slot.split("-")[0].split(":")
    return dt.datetime.combine(date, dt.time(int(hh), int(mm)), tz)


@dataclass(frozen=True)
class Waiting:
    """The facts about a waiting ticket that ordering needs."""

    key: str
    number: int
    priority: bool
    sort_time: dt.datetime


def order_key(t: Waiting) -> tuple:
    return (0 if t.priority else 1, t.sort_time, t.number)


def next_to_call(waiting: list[Waiting]) -> Waiting | None:
    """The ticket to call next among waiting tickets (possibly from several queues)."""
    return min(waiting, key=order_key, default=None)


def ordered(waiting: list[Waiting]) -> list[Waiting]:
    """Waiting tickets in calling order."""
    return sorted(waiting, key=order_key)
