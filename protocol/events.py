"""Typed events: every state change at the edge, as one named, versioned, frozen dataclass.

The edge's queue core returns these; ``QueueService`` writes the ticket row and the outbox row
from the same object and publishes it on the edge's bus; central applies it through a table of
handlers keyed by type. KPIs (waiting and service times), BPJS Antrean reporting and SATUSEHAT
encounters are computed from them, so each carries who did it (``actor``) and the exact time
(``at``, ISO 8601 with milliseconds and the +07:00 offset). Payloads carry ids, ticket numbers,
room names and codes; never NIK, name, date of birth or BPJS number, with one exception kept
off every topic and stream: ``BpjsMembershipChecked``, which central needs for Antrean FKTP.

One serialiser: ``to_data(event)`` gives the JSON-ready dict stored in the outbox and sent up;
``from_data(name, data, version)`` decodes by name and checks every field's type.

Compatibility rule (tested in tests/protocol/test_events.py and tests/central/test_sync_apply.py):

- Adding a field with a default is compatible and keeps ``VERSION``; a reader ignores fields it
  does not know (central keeps the raw event, so nothing is lost).
- Removing a field or changing its meaning bumps ``VERSION``.
- A reader that does not know an event's name, or gets a newer version than it knows, raises
  ``UnknownEvent``: central then stores the event, acknowledges it and applies it after its own
  upgrade. An edge newer than central is never blocked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar

MAX_TEXT = 200  # no field is longer; a longer one is not ours
# the longest each field may be (what the receiving tables hold), by field name
LIMITS = {
    "ticket": 40,
    "to_ticket": 40,
    "parent": 40,
    "rid": 32,
    "label": 8,
    "queue": 40,
    "kind": 12,
    "payer": 4,
    "poli": 16,
    "to_poli": 16,
    "slot": 11,
    "destination": 40,
    "counter": 40,
    "day": 10,
    "at": 40,
    "staff": 40,
    "date": 10,
    "status": 12,
    "username": 40,
    "role": 20,
    "polis": 200,
    "password_hash": 200,
    "kid": 16,
    "public_key": 64,
    "trusted_until": 40,
    "address": 250,
    "phone": 40,
    "hours": 200,
    "code": 16,
    "prefix": 2,
    "idents": 100,
    "number": 16,
    "kartu": 13,
    "nik": 16,
    "membership": 16,
    "priority_class": 12,
    "token": 24,
    "running_text": 200,
}


class EventError(ValueError):
    """An event's data is malformed (missing field, wrong type, too long)."""


class UnknownEvent(EventError):
    """The event's name is not known here, or its version is newer than this code knows."""


@dataclass(frozen=True)
class Actor:
    """Who did it: the place (``kiosk``, ``scanner``, ``loket-1``, ``poli-UMUM``, ``system``) and,
    once staff accounts exist, the signed-in staff member's id."""

    counter: str = ""
    staff: str = ""


KIOSK = Actor("kiosk")
SCANNER = Actor("scanner")
SYSTEM = Actor("system")


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every edge event. ``NAME`` is stable on the wire; ``VERSION`` as in the module doc."""

    NAME: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1

    at: str  # when it happened: ISO 8601, milliseconds, +07:00
    actor: Actor = Actor()

    @property
    def at_datetime(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.at)


@dataclass(frozen=True, kw_only=True)
class TicketEvent(Event):
    """An event about one ticket (``ticket`` is the edge's random ticket key)."""

    ticket: str


@dataclass(frozen=True, kw_only=True)
class TicketIssued(TicketEvent):
    """A ticket was taken: a walk-in at the kiosk or loket, a reservation check-in, or the poli
    ticket a registered walk-in is sent on with (``kind`` transfer, ``parent`` its loket ticket)."""

    NAME: ClassVar[str] = "ticket.issued"

    day: str  # the WIB date the queue runs on
    queue: str  # REG-A, REG-B, POLI-<code>
    label: str  # A007, U003
    number: int = 0  # number within (day, queue); 0 for a transfer, which keeps its label
    kind: str  # walkin, reservation, transfer
    payer: str  # UMUM, BPJS
    poli: str | None = None
    rid: str | None = None  # reservation id for a check-in
    slot: str | None = None  # reserved slot, e.g. "08:00-09:00", for slot-start waiting times
    priority: bool = False
    parent: str | None = None  # for a transfer: the ticket it continues
    # why it goes first: lansia, disabilitas, ibu_hamil ("" for none, or from an older edge)
    priority_class: str = ""
    token: str = ""  # the ticket's live-page token, printed as its QR ("" from an older edge)


@dataclass(frozen=True, kw_only=True)
class TicketCalled(TicketEvent):
    """A ticket was called to a counter (``recall``: called again, the first call's time stands)."""

    NAME: ClassVar[str] = "ticket.called"

    label: str
    destination: str  # room name as announced: "Loket 1", "Poli Umum"
    counter: str = ""  # counter id: loket-1, poli-UMUM ("" from release 0.1.0 edges)
    recall: bool = False


@dataclass(frozen=True, kw_only=True)
class TicketServing(TicketEvent):
    """The called patient is being served."""

    NAME: ClassVar[str] = "ticket.serving"


@dataclass(frozen=True, kw_only=True)
class TicketDone(TicketEvent):
    """Service finished."""

    NAME: ClassVar[str] = "ticket.done"


@dataclass(frozen=True, kw_only=True)
class TicketNoShow(TicketEvent):
    """Called, and did not come."""

    NAME: ClassVar[str] = "ticket.no_show"


@dataclass(frozen=True, kw_only=True)
class TicketCancelled(TicketEvent):
    """Taken off the queue before being called."""

    NAME: ClassVar[str] = "ticket.cancelled"


@dataclass(frozen=True, kw_only=True)
class TicketTransferred(TicketEvent):
    """Registered at the loket and sent on to a poli as ticket ``to_ticket`` (same label)."""

    NAME: ClassVar[str] = "ticket.transferred"

    to_ticket: str = ""  # "" from release 0.1.0 edges (their TicketIssued names the parent)
    to_poli: str = ""


@dataclass(frozen=True, kw_only=True)
class ReservationCheckedIn(Event):
    """A reservation's QR pass was used at the kiosk; ``ticket`` is the poli ticket it got."""

    NAME: ClassVar[str] = "reservation.checked_in"

    rid: str
    ticket: str
    label: str


@dataclass(frozen=True, kw_only=True)
class KioskFeedbackGiven(Event):
    """A patient rated the service at the kiosk ("Bagaimana layanan kami?"): ``rating`` 1 (sangat
    buruk) to 5 (sangat baik) and, if she chose one, the poli she visited. Nothing personal."""

    NAME: ClassVar[str] = "feedback.kiosk"

    rating: int
    poli: str = ""  # poli code, "" when not chosen


@dataclass(frozen=True, kw_only=True)
class BpjsMembershipChecked(TicketEvent):
    """A BPJS patient at the kiosk or loket gave her card number or NIK for ``ticket`` and the edge
    checked it with PCare (or could not: ``membership`` tertunda, or "" without BPJS settings).

    The one event that holds such numbers: central needs them to report the ticket to Antrean
    FKTP. It travels only inside the edge's encrypted link and central's database; it is never on
    a topic, a screen's event stream or in a log. A later check of the same ticket (staff pressed
    "Periksa ulang") is another such event; the newest ``at`` stands.
    """

    NAME: ClassVar[str] = "bpjs.checked"

    kartu: str = ""  # the 13-digit card number: as given, or PCare's for a NIK; "" when unknown
    nik: str = ""  # the 16-digit NIK, when she gave it (or PCare returned it)
    membership: str = ""  # aktif, tidak_aktif, fktp_lain, tidak_terdaftar, tertunda, "" (not checked)
    note: str = ""  # what PCare said, for the loket (Indonesian)


EVENT_TYPES: tuple[type[Event], ...] = (
    TicketIssued,
    TicketCalled,
    TicketServing,
    TicketDone,
    TicketNoShow,
    TicketCancelled,
    TicketTransferred,
    ReservationCheckedIn,
    KioskFeedbackGiven,
    BpjsMembershipChecked,
)
BY_NAME: dict[str, type[Event]] = {cls.NAME: cls for cls in EVENT_TYPES}


def now_text(moment: dt.datetime) -> str:
    """The form of every ``at``: ISO 8601 with milliseconds and the zone offset."""
    if moment.tzinfo is None:
        raise ValueError("event times must carry their zone")
    return moment.isoformat(timespec="milliseconds")


def to_data(event: Event) -> dict:
    """The event as a JSON-ready dict (its fields; the name and version travel beside it)."""
    return dataclasses.asdict(event)


def from_data(name: str, data: Any, version: int = 1, registry: dict[str, type[Event]] | None = None) -> Event:
    """Decode an event by name; raises UnknownEvent (unknown name or newer version) or EventError.

    Fields this code does not know are ignored (see the compatibility rule); every known field
    is type-checked. ``registry`` defaults to every event type of this release (a test passes a
    smaller one to play an older central).
    """
    return decode_by_name(BY_NAME if registry is None else registry, name, data, version)


def decode_by_name(registry: dict[str, type], name: str, data: Any, version: int):
    """Look ``name`` up in ``registry`` and build it from ``data`` (shared by events and changes)."""
    cls = registry.get(name)
    if cls is None:
        raise UnknownEvent(f"unknown type {name!r}")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise EventError(f"{name}: invalid version {version!r}")
    if version > cls.VERSION:
        raise UnknownEvent(f"{name} version {version} is newer than {cls.VERSION}")
    return build(cls, data, name)


def build(cls: type, data: Any, where: str):
    """An instance of dataclass ``cls`` from a decoded JSON object, every field type-checked;
    unknown keys are ignored. Raises EventError."""
    if not isinstance(data, dict):
        raise EventError(f"{where}: expected an object")
    hints = _hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise EventError(f"{where}: missing field {f.name!r}")
            continue
        values[f.name] = _check(hints[f.name], data[f.name], f"{where}.{f.name}", LIMITS.get(f.name, MAX_TEXT))
    for name in ("day", "date"):  # ISO dates: a receiver stores them as dates
        if isinstance(values.get(name), str) and not _is_date(values[name]):
            raise EventError(f"{where}.{name}: expected an ISO date (YYYY-MM-DD)")
    if isinstance(values.get("at"), str):
        try:
            if dt.datetime.fromisoformat(values["at"]).tzinfo is None:
                raise ValueError
        except ValueError:
            raise EventError(f"{where}.at: expected an ISO 8601 time with its zone") from None
    return cls(**values)


def _is_date(text: str) -> bool:
    try:
        return dt.date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


def _check(hint: Any, value: Any, where: str, limit: int = MAX_TEXT) -> Any:
    if hint is Actor:
        return build(Actor, value, where)
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None and type(None) in options:
        return None
    for option in options:
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is str and isinstance(value, str):
            if len(value) > limit or "\x00" in value:
                raise EventError(f"{where}: text too long or with a NUL character")
            return value
    raise EventError(f"{where}: expected {hint}, got {type(value).__name__}")


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]
