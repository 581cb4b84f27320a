"""MQTT message schemas between edge and central, and their one serialiser.

Every message is a frozen dataclass with a stable ``NAME`` equal to its topic kind. ``encode``
turns one into JSON bytes; ``decode`` validates bytes received on a topic kind and raises
MessageError for anything malformed, so a bad message is dropped, never half-applied.
Payloads carry ids, codes and times; never NIK, name, date of birth or BPJS number.

An event batch carries the edge outbox rows as records (``type``, ``v``, ``data``): what a
record means is ``protocol.events``' business, so an event type this side does not know is
still a well-formed message (see the compatibility rule there). The same holds for change
records and ``protocol.changes``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_BYTES = 256 * 1024
MAX_VERSION = 2**31 - 1  # a version is stored as a 32-bit integer
# what a record type and time may look like: a dotted lower-case name, an ISO 8601 moment
TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\Z")
MAX_TYPE = 40
AT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T[0-9:.]{5,15}(Z|[+-]\d{2}:\d{2})?\Z")
INCARNATION_RE = re.compile(r"^[A-Za-z0-9_-]{0,64}\Z")


class MessageError(ValueError):
    """A message could not be decoded or failed validation."""


@dataclass(frozen=True)
class EventRecord:
    """One edge outbox row: ``seq`` grows by one per edge database, with no gaps."""

    seq: int
    type: str  # protocol.events name
    at: str  # ISO 8601 with offset
    data: dict
    v: int = 1  # the event type's version


@dataclass(frozen=True)
class EventBatch:
    """Outbox rows of one edge database, in seq order.

    ``incarnation`` names that database (made when it was created): an edge whose database was
    replaced starts again at seq 1 under a new incarnation, and central keeps the two histories
    apart instead of taking the new events for repeats. Empty from edges older than 0.2.
    """

    NAME = "events"
    events: tuple[EventRecord, ...]
    incarnation: str = ""


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
    type: str  # protocol.changes name
    data: dict
    v: int = 1


@dataclass(frozen=True)
class ChangeBatch:
    """Change-feed rows for one node, in seq order; ``head`` is the newest seq central has."""

    NAME = "changes"
    changes: tuple[ChangeRecord, ...]
    head: int


@dataclass(frozen=True)
class Ack:
    """Central has stored every event of this node's database ``incarnation`` up to ``upto``."""

    NAME = "ack"
    upto: int
    incarnation: str = ""


@dataclass(frozen=True)
class NodeStatus:
    """The node's health for the fleet view, retained: software, clock, outbox and devices.

    ``at`` is the node's wall clock when sending (central computes the skew on receipt);
    ``backlog`` counts undelivered outbox rows, ``oldest_s`` the age of the oldest of them;
    ``last_sync`` is when central last answered (an ack or a change batch), "" if never;
    ``devices`` maps printer / scanner / audio to ``{"ok": bool, "message": str}`` (Indonesian,
    for staff). Nothing about patients or tickets. Fields a newer node adds are ignored.
    """

    NAME = "health"
    at: str
    version: str
    backlog: int
    oldest_s: int = 0
    last_sync: str = ""
    uptime_s: int = 0
    devices: dict = field(default_factory=dict)


MESSAGE_TYPES = {m.NAME: m for m in (EventBatch, PullRequest, Presence, QueueSnapshot, ChangeBatch, Ack, NodeStatus)}
DEVICE_NAMES = ("printer", "scanner", "audio")


def encode(msg: Any) -> bytes:
    """Serialise a message dataclass to JSON bytes; raises MessageError if it is too large."""
    body = dataclasses.asdict(msg)
    body["m"] = msg.NAME
    out = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    if len(out) > MAX_BYTES:
        raise MessageError(f"{msg.NAME} message too large: {len(out)} bytes")
    return out


def _int(v: Any, name: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise MessageError(f"{name} must be a non-negative integer")
    return v


def _str(v: Any, name: str, limit: int = 200) -> str:
    if not isinstance(v, str) or len(v) > limit:
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


def _type(v: Any) -> str:
    if not isinstance(v, str) or len(v) > MAX_TYPE or not TYPE_RE.match(v):
        raise MessageError(f"invalid record type {v!r}"[:120])
    return v


def _at(v: Any) -> str:
    if not isinstance(v, str) or len(v) > 40 or not AT_RE.match(v):
        raise MessageError("at must be an ISO 8601 time")
    return v


def _incarnation(body: dict) -> str:
    v = body.get("incarnation", "")
    if not isinstance(v, str) or not INCARNATION_RE.match(v):
        raise MessageError("incarnation must be up to 64 letters, digits, - or _")
    return v


def _version(body: dict) -> int:
    v = body.get("v", 1)
    if not 1 <= _int(v, "v") <= MAX_VERSION:
        raise MessageError("v must be 1..2147483647")
    return v


def _events(body: dict) -> EventBatch:
    events = []
    for e in _list(body.get("events"), "events"):
        e = _dict(e, "event")
        events.append(
            EventRecord(
                _int(e.get("seq"), "seq"),
                _type(e.get("type")),
                _at(e.get("at")),
                _dict(e.get("data"), "data"),
                _version(e),
            )
        )
    seqs = [e.seq for e in events]
    if seqs != sorted(set(seqs)):
        raise MessageError("event seqs must be strictly increasing")
    return EventBatch(tuple(events), _incarnation(body))


def _changes(body: dict) -> ChangeBatch:
    changes = []
    for c in _list(body.get("changes"), "changes"):
        c = _dict(c, "change")
        changes.append(
            ChangeRecord(_int(c.get("seq"), "seq"), _type(c.get("type")), _dict(c.get("data"), "data"), _version(c))
        )
    return ChangeBatch(tuple(changes), _int(body.get("head"), "head"))


def _presence(body: dict) -> Presence:
    if not isinstance(body.get("online"), bool):
        raise MessageError("online must be a boolean")
    return Presence(body["online"])


def _devices(v: Any) -> dict:
    out = {}
    for name, d in _dict(v if v is not None else {}, "devices").items():
        if name not in DEVICE_NAMES:
            continue  # a device a newer node reports: not this release's business
        d = _dict(d, "device")
        if not isinstance(d.get("ok"), bool):
            raise MessageError("device ok must be a boolean")
        out[name] = {"ok": d["ok"], "message": _str(d.get("message", ""), "device message", 120)}
    return out


def _health(body: dict) -> NodeStatus:
    last_sync = body.get("last_sync", "")
    return NodeStatus(
        at=_at(body.get("at")),
        version=_str(body.get("version"), "version", 40),
        backlog=_int(body.get("backlog"), "backlog"),
        oldest_s=_int(body.get("oldest_s", 0), "oldest_s"),
        last_sync=_at(last_sync) if last_sync else "",
        uptime_s=_int(body.get("uptime_s", 0), "uptime_s"),
        devices=_devices(body.get("devices")),
    )


_DECODERS: dict[str, Callable[[dict], Any]] = {
    EventBatch.NAME: _events,
    ChangeBatch.NAME: _changes,
    PullRequest.NAME: lambda b: PullRequest(_int(b.get("after"), "after")),
    Ack.NAME: lambda b: Ack(_int(b.get("upto"), "upto"), _incarnation(b)),
    Presence.NAME: _presence,
    QueueSnapshot.NAME: lambda b: QueueSnapshot(_str(b.get("at"), "at"), _list(b.get("queues"), "queues")),
    NodeStatus.NAME: _health,
}


def decode(kind: str, payload: bytes) -> Any:
    """Decode a message received on topic kind ``kind``; raises MessageError."""
    if len(payload) > MAX_BYTES:
        raise MessageError(f"message too large: {len(payload)} bytes")
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # deep nesting: RecursionError
        raise MessageError(f"not JSON: {exc.__class__.__name__}") from None
    body = _dict(body, "message")
    if body.get("m") != kind or kind not in _DECODERS:
        raise MessageError(f"message kind {body.get('m')!r} does not match topic kind {kind!r}")
    return _DECODERS[kind](body)
