"""MQTT message schemas between edge and central, and their one serialiser.

Every message is a frozen dataclass with a stable ``NAME`` equal to its topic kind. ``encode``
turns one into JSON bytes; ``decode`` validates bytes received on a topic kind and raises
MessageError for anything malformed, so a bad message is dropped, never half-applied.
Payloads carry ids, codes and times; never NIK, name, date of birth or BPJS number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MAX_BYTES = 256 * 1024

# Event types the edge sends up (outbox rows).
TICKET_ISSUED = "ticket.issued"
TICKET_CALLED = "ticket.called"
TICKET_SERVING = "ticket.serving"
TICKET_CANCELLED = "ticket.cancelled"
TICKET_DONE = "ticket.done"
TICKET_NO_SHOW = "ticket.no_show"
TICKET_TRANSFERRED = "ticket.transferred"
RESERVATION_CHECKED_IN = "reservation.checked_in"
EVENT_TYPES = frozenset(
    {
        TICKET_ISSUED,
        TICKET_CALLED,
        TICKET_SERVING,
        TICKET_DONE,
        TICKET_NO_SHOW,
        TICKET_CANCELLED,
        TICKET_TRANSFERRED,
        RESERVATION_CHECKED_IN,
    }
)

# Change types central sends down (change-feed rows).
RESERVATION_UPSERT = "reservation.upsert"
CHANGE_TYPES = frozenset({RESERVATION_UPSERT})


class MessageError(ValueError):
    """A message could not be decoded or failed validation."""


@dataclass(frozen=True)
class EventRecord:
    """One edge outbox row: ``seq`` grows by one per node, with no gaps."""

    seq: int
    type: str
    at: str  # ISO 8601 with offset
    data: dict


@dataclass(frozen=True)
class EventBatch:
    NAME = "events"
    events: tuple[EventRecord, ...]


@dataclass(frozen=True)
class PullRequest:
    """Edge asks for every change after ``after`` (its checkpoint)."""

    NAME = "pull"
    after: int


@dataclass(frozen=True)
class Presence:
    NAME = "status"
    online: bool


@dataclass(frozen=True)
class QueueSnapshot:
    """Live queue state for patients' phones: ticket numbers and room names only."""

    NAME = "snapshot"
    at: str
    queues: list = field(default_factory=list)


@dataclass(frozen=True)
class ChangeRecord:
    seq: int
    type: str
    data: dict


@dataclass(frozen=True)
class ChangeBatch:
    """Change-feed rows for one node, in seq order; ``head`` is the newest seq central has."""

    NAME = "changes"
    changes: tuple[ChangeRecord, ...]
    head: int


@dataclass(frozen=True)
class Ack:
    """Central has stored every event of this node up to and including ``upto``."""

    NAME = "ack"
    upto: int


MESSAGE_TYPES = {m.NAME: m for m in (EventBatch, PullRequest, Presence, QueueSnapshot, ChangeBatch, Ack)}


def encode(msg: Any) -> bytes:
    """Serialise a message dataclass to JSON bytes."""
    if isinstance(msg, EventBatch):
        body = {"events": [vars(e) for e in msg.events]}
    elif isinstance(msg, ChangeBatch):
        body = {"changes": [vars(c) for c in msg.changes], "head": msg.head}
    else:
        body = dict(vars(msg))
    body["m"] = msg.NAME
    out = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    if len(out) > MAX_BYTES:
        raise MessageError(f"{msg.NAME} message too large: {len(out)} bytes")
    return out


def _int(v: Any, name: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise MessageError(f"{name} must be a non-negative integer")
    return v


def _str(v: Any, name: str) -> str:
    if not isinstance(v, str) or len(v) > 200:
        raise MessageError(f"{name} must be a short string")
    return v


def _dict(v: Any, name: str) -> dict:
    if not isinstance(v, dict):
        raise MessageError(f"{name} must be an object")
    return v


def _list(v: Any, name: str) -> list:
    if not isinstance(v, list):
        raise MessageError(f"{name} must be a list")
    return v


def decode(kind: str, payload: bytes) -> Any:
    """Decode a message received on topic kind ``kind``; raises MessageError."""
    if len(payload) > MAX_BYTES:
        raise MessageError(f"message too large: {len(payload)} bytes")
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MessageError(f"not JSON: {exc.__class__.__name__}") from None
    body = _dict(body, "message")
    if body.get("m") != kind or kind not in MESSAGE_TYPES:
        raise MessageError(f"message kind {body.get('m')!r} does not match topic kind {kind!r}")
    try:
        if kind == EventBatch.NAME:
            events = []
            for e in _list(body.get("events"), "events"):
                e = _dict(e, "event")
                if not isinstance(e.get("type"), str) or e["type"] not in EVENT_TYPES:
                    raise MessageError(f"unknown event type {e.get('type')!r}")
                events.append(
                    EventRecord(
                        _int(e.get("seq"), "seq"), e["type"], _str(e.get("at"), "at"), _dict(e.get("data"), "data")
                    )
                )
            seqs = [e.seq for e in events]
            if seqs != sorted(set(seqs)):
                raise MessageError("event seqs must be strictly increasing")
            return EventBatch(tuple(events))
        if kind == ChangeBatch.NAME:
            changes = []
            for c in _list(body.get("changes"), "changes"):
                c = _dict(c, "change")
                if not isinstance(c.get("type"), str) or c["type"] not in CHANGE_TYPES:
                    raise MessageError(f"unknown change type {c.get('type')!r}")
                changes.append(ChangeRecord(_int(c.get("seq"), "seq"), c["type"], _dict(c.get("data"), "data")))
            return ChangeBatch(tuple(changes), _int(body.get("head"), "head"))
        if kind == PullRequest.NAME:
            return PullRequest(_int(body.get("after"), "after"))
        if kind == Ack.NAME:
            return Ack(_int(body.get("upto"), "upto"))
        if kind == Presence.NAME:
            if not isinstance(body.get("online"), bool):
                raise MessageError("online must be a boolean")
            return Presence(body["online"])
        return QueueSnapshot(_str(body.get("at"), "at"), _list(body.get("queues"), "queues"))
    except KeyError as exc:
        raise MessageError(f"missing field {exc}") from None
