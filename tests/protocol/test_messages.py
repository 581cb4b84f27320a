"""Edge/central MQTT messages: round trips, wire form and every way decode refuses a payload."""

from __future__ import annotations

import json

import pytest

from protocol import messages, topics
from protocol.messages import (
    Ack,
    ChangeBatch,
    ChangeRecord,
    EventBatch,
    EventRecord,
    MessageError,
    Presence,
    PullRequest,
    QueueSnapshot,
)

AT = "2026-11-26T08:15:02+07:00"
EVENTS = EventBatch(
    (
        EventRecord(7, "ticket.issued", AT, {"key": "t-1", "label": "A001", "queue": "REG-A", "priority": False}),
        EventRecord(8, "ticket.called", AT, {"key": "t-1", "counter": "Loket 1"}),
        EventRecord(9, "ticket.done", AT, {"key": "t-1"}),
        EventRecord(10, "ticket.no_show", AT, {"key": "t-2"}),
        EventRecord(11, "ticket.transferred", AT, {"key": "t-3", "to": "POLI-UMUM"}),
        EventRecord(12, "reservation.checked_in", AT, {"rid": "3f9c0a7d21b4e865", "label": "U003"}),
    )
)
CHANGES = ChangeBatch(
    (
        ChangeRecord(41, "reservation.upsert", {"rid": "3f9c0a7d21b4e865", "poli": "UMUM", "status": "active"}),
        ChangeRecord(42, "reservation.upsert", {"rid": "9a8b7c6d5e4f3a2b", "poli": "KIA", "status": "cancelled"}),
    ),
    head=42,
)
SNAPSHOT = QueueSnapshot(AT, [{"queue": "POLI-UMUM", "name": "Poli Umum – Ruang 2", "called": "U003", "waiting": 4}])

ALL = [
    pytest.param(EVENTS, id="events"),
    pytest.param(EventBatch(()), id="events-empty"),
    pytest.param(PullRequest(0), id="pull-from-start"),
    pytest.param(PullRequest(41), id="pull"),
    pytest.param(Presence(True), id="status-online"),
    pytest.param(Presence(False), id="status-offline"),
    pytest.param(SNAPSHOT, id="snapshot"),
    pytest.param(QueueSnapshot(AT), id="snapshot-empty"),
    pytest.param(CHANGES, id="changes"),
    pytest.param(ChangeBatch((), 0), id="changes-empty"),
    pytest.param(Ack(12), id="ack"),
]


@pytest.mark.parametrize("msg", ALL)
def test_round_trip(msg):
    assert messages.decode(msg.NAME, messages.encode(msg)) == msg


def test_message_names_are_exactly_the_topic_kinds():
    assert set(messages.MESSAGE_TYPES) == topics.UP_KINDS | topics.DOWN_KINDS
    for kind in topics.UP_KINDS:
        topics.up("pkm-cibinong", messages.MESSAGE_TYPES[kind].NAME)
    for kind in topics.DOWN_KINDS:
        topics.down("pkm-cibinong", messages.MESSAGE_TYPES[kind].NAME)


@pytest.mark.parametrize(
    ("msg", "wire"),
    [
        pytest.param(Ack(12, "db-1"), {"m": "ack", "upto": 12, "incarnation": "db-1"}, id="ack"),
        pytest.param(PullRequest(41), {"m": "pull", "after": 41}, id="pull"),
        pytest.param(Presence(False), {"m": "status", "online": False}, id="status"),
        pytest.param(
            EventBatch((EventRecord(1, "ticket.called", AT, {"key": "t-1"}),), "db-1"),
            {
                "m": "events",
                "events": [{"seq": 1, "type": "ticket.called", "at": AT, "data": {"key": "t-1"}, "v": 1}],
                "incarnation": "db-1",
            },
            id="events",
        ),
        pytest.param(
            ChangeBatch((ChangeRecord(5, "reservation.upsert", {"rid": "r"}),), 9),
            {
                "m": "changes",
                "changes": [{"seq": 5, "type": "reservation.upsert", "data": {"rid": "r"}, "v": 1}],
                "head": 9,
            },
            id="changes",
        ),
        pytest.param(QueueSnapshot(AT, []), {"m": "snapshot", "at": AT, "queues": []}, id="snapshot"),
    ],
)
def test_wire_form(msg, wire):
    # The other side may run an older release: field names are the contract.
    assert json.loads(messages.encode(msg)) == wire


def test_encode_is_compact_utf8():
    raw = messages.encode(SNAPSHOT)
    assert b"Ruang 2" in raw and "–".encode() in raw  # not \u2013 escapes
    assert b", " not in raw and b": " not in raw


def _snapshot_of_size(size: int) -> bytes:
    """A well-formed snapshot payload of exactly ``size`` bytes."""
    overhead = len(_j_compact({"at": AT, "queues": [""], "m": "snapshot"}))
    raw = _j_compact({"at": AT, "queues": ["x" * (size - overhead)], "m": "snapshot"})
    assert len(raw) == size
    return raw


def _j_compact(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def test_largest_allowed_message_is_accepted():
    raw = _snapshot_of_size(messages.MAX_BYTES)
    assert messages.decode("snapshot", raw) == QueueSnapshot(AT, json.loads(raw)["queues"])


def test_decode_refuses_one_byte_over_the_limit():
    with pytest.raises(MessageError):
        messages.decode("snapshot", _snapshot_of_size(messages.MAX_BYTES + 1))


def test_encode_refuses_an_oversized_message():
    with pytest.raises(MessageError):
        messages.encode(QueueSnapshot(AT, ["x" * messages.MAX_BYTES]))


def test_decode_refuses_a_huge_non_json_payload_before_parsing():
    with pytest.raises(MessageError, match="too large"):
        messages.decode("events", b"[" * (messages.MAX_BYTES + 1))


def _event(**change) -> dict:
    e = {"seq": 1, "type": "ticket.issued", "at": AT, "data": {"key": "t-1"}}
    e.update(change)
    return {k: v for k, v in e.items() if v is not _MISSING}


def _change(**change) -> dict:
    c = {"seq": 1, "type": "reservation.upsert", "data": {"rid": "r"}}
    c.update(change)
    return {k: v for k, v in c.items() if v is not _MISSING}


_MISSING = object()


def _j(obj) -> bytes:
    return json.dumps(obj).encode()


BAD = [
    # not a message at all
    pytest.param("ack", b"", id="empty-payload"),
    pytest.param("ack", b"not json", id="not-json"),
    pytest.param("ack", b'{"m":"ack","upto":1', id="truncated-json"),
    pytest.param("ack", b'{"m":"ack","upto":1,"x":"\xff"}', id="invalid-utf8"),
    pytest.param("ack", b"\xc3\x28", id="invalid-utf8-only"),
    pytest.param("ack", b"[]", id="json-array"),
    pytest.param("ack", b"12", id="json-number"),
    pytest.param("ack", b"null", id="json-null"),
    # kind
    pytest.param("ack", messages.encode(PullRequest(1)), id="kind-mismatch-pull-on-ack"),
    pytest.param("changes", messages.encode(EVENTS), id="kind-mismatch-events-on-changes"),
    pytest.param("ack", _j({"upto": 1}), id="kind-missing"),
    pytest.param("ack", _j({"m": None, "upto": 1}), id="kind-null"),
    pytest.param("ack", _j({"m": ["ack"], "upto": 1}), id="kind-list"),
    pytest.param("bogus", _j({"m": "bogus"}), id="unknown-kind"),
    pytest.param("", _j({"m": ""}), id="empty-kind"),
    # events
    pytest.param("events", _j({"m": "events", "events": [_event(type="")]}), id="event-type-empty"),
    pytest.param("events", _j({"m": "events", "events": [_event(type="t" * 81)]}), id="event-type-too-long"),
    pytest.param("events", _j({"m": "events", "events": [_event(v=0)]}), id="event-version-zero"),
    pytest.param("events", _j({"m": "events", "events": [_event(v="1")]}), id="event-version-string"),
    pytest.param("events", _j({"m": "events", "events": [], "incarnation": 7}), id="incarnation-number"),
    pytest.param("events", _j({"m": "events", "events": [_event(type=None)]}), id="event-type-null"),
    pytest.param("events", _j({"m": "events", "events": [_event(type=_MISSING)]}), id="event-type-missing"),
    pytest.param("events", _j({"m": "events", "events": [_event(seq="1")]}), id="seq-string"),
    pytest.param("events", _j({"m": "events", "events": [_event(seq=1.0)]}), id="seq-float"),
    pytest.param("events", _j({"m": "events", "events": [_event(seq=-1)]}), id="seq-negative"),
    pytest.param("events", _j({"m": "events", "events": [_event(seq=True)]}), id="seq-bool"),
    pytest.param("events", _j({"m": "events", "events": [_event(seq=None)]}), id="seq-null"),
    pytest.param("events", _j({"m": "events", "events": [_event(seq=_MISSING)]}), id="seq-missing"),
    pytest.param("events", _j({"m": "events", "events": [_event(seq=2), _event(seq=1)]}), id="seqs-decreasing"),
    pytest.param("events", _j({"m": "events", "events": [_event(seq=3), _event(seq=3)]}), id="seqs-repeated"),
    pytest.param(
        "events", _j({"m": "events", "events": [_event(seq=1), _event(seq=5), _event(seq=4)]}), id="seqs-not-monotonic"
    ),
    pytest.param("events", _j({"m": "events", "events": [_event(at=_MISSING)]}), id="event-at-missing"),
    pytest.param("events", _j({"m": "events", "events": [_event(at=1764119702)]}), id="event-at-number"),
    pytest.param("events", _j({"m": "events", "events": [_event(at="x" * 201)]}), id="event-at-too-long"),
    pytest.param("events", _j({"m": "events", "events": [_event(data=_MISSING)]}), id="event-data-missing"),
    pytest.param("events", _j({"m": "events", "events": [_event(data=[1])]}), id="event-data-list"),
    pytest.param("events", _j({"m": "events", "events": [_event(data="t-1")]}), id="event-data-string"),
    pytest.param("events", _j({"m": "events", "events": ["ticket.issued"]}), id="event-not-object"),
    pytest.param("events", _j({"m": "events"}), id="events-missing"),
    pytest.param("events", _j({"m": "events", "events": {"1": _event()}}), id="events-object"),
    pytest.param("events", _j({"m": "events", "events": None}), id="events-null"),
    # changes
    pytest.param("changes", _j({"m": "changes", "changes": [_change(type="")], "head": 1}), id="change-type-empty"),
    pytest.param("changes", _j({"m": "changes", "changes": [_change(seq="1")], "head": 1}), id="change-seq-string"),
    pytest.param("changes", _j({"m": "changes", "changes": [_change(seq=-5)], "head": 1}), id="change-seq-negative"),
    pytest.param("changes", _j({"m": "changes", "changes": [_change(seq=False)], "head": 1}), id="change-seq-bool"),
    pytest.param("changes", _j({"m": "changes", "changes": [_change(data=None)], "head": 1}), id="change-data-null"),
    pytest.param("changes", _j({"m": "changes", "changes": [_change()]}), id="head-missing"),
    pytest.param("changes", _j({"m": "changes", "changes": [], "head": "1"}), id="head-string"),
    pytest.param("changes", _j({"m": "changes", "changes": [], "head": -1}), id="head-negative"),
    pytest.param("changes", _j({"m": "changes", "head": 1}), id="changes-missing"),
    pytest.param("changes", _j({"m": "changes", "changes": "[]", "head": 1}), id="changes-string"),
    # pull / ack
    pytest.param("pull", _j({"m": "pull"}), id="after-missing"),
    pytest.param("pull", _j({"m": "pull", "after": "41"}), id="after-string"),
    pytest.param("pull", _j({"m": "pull", "after": -1}), id="after-negative"),
    pytest.param("pull", _j({"m": "pull", "after": 1.5}), id="after-float"),
    pytest.param("ack", _j({"m": "ack"}), id="upto-missing"),
    pytest.param("ack", _j({"m": "ack", "upto": True}), id="upto-bool"),
    pytest.param("ack", _j({"m": "ack", "upto": 12.0}), id="upto-float"),
    pytest.param("ack", b'{"m":"ack","upto":NaN}', id="upto-nan"),
    # status
    pytest.param("status", _j({"m": "status"}), id="online-missing"),
    pytest.param("status", _j({"m": "status", "online": "true"}), id="online-string"),
    pytest.param("status", _j({"m": "status", "online": 1}), id="online-int"),
    pytest.param("status", _j({"m": "status", "online": None}), id="online-null"),
    # snapshot
    pytest.param("snapshot", _j({"m": "snapshot", "queues": []}), id="snapshot-at-missing"),
    pytest.param("snapshot", _j({"m": "snapshot", "at": AT}), id="snapshot-queues-missing"),
    pytest.param("snapshot", _j({"m": "snapshot", "at": AT, "queues": {}}), id="snapshot-queues-object"),
    pytest.param("snapshot", _j({"m": "snapshot", "at": None, "queues": []}), id="snapshot-at-null"),
]


@pytest.mark.parametrize(("kind", "payload"), BAD)
def test_decode_refuses_malformed_messages(kind, payload):
    with pytest.raises(MessageError):
        messages.decode(kind, payload)


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        pytest.param("events", _j({"m": "events", "events": [_event(type=["ticket.issued"])]}), id="event-type-list"),
        pytest.param("events", _j({"m": "events", "events": [_event(type={})]}), id="event-type-object"),
        pytest.param("changes", _j({"m": "changes", "changes": [_change(type=[])], "head": 1}), id="change-type-list"),
    ],
)
def test_decode_refuses_unhashable_type_with_message_error(kind, payload):
    with pytest.raises(MessageError):
        messages.decode(kind, payload)


def test_message_error_is_a_value_error():
    # Both sync loops drop a message on ValueError; a MessageError must be one.
    assert issubclass(MessageError, ValueError)


def test_types_this_side_does_not_know_are_still_well_formed_messages():
    """An edge newer than central (or a central newer than the edge) must not be refused at the
    message layer: what a type means is protocol.events' and protocol.changes' business."""
    batch = messages.decode("events", _j({"m": "events", "events": [_event(type="ticket.rated", v=3)]}))
    assert (batch.events[0].type, batch.events[0].v, batch.incarnation) == ("ticket.rated", 3, "")
    feed = messages.decode("changes", _j({"m": "changes", "changes": [_change(type="holiday.upsert")], "head": 1}))
    assert feed.changes[0].type == "holiday.upsert"


def test_deeply_nested_json_is_refused_not_a_crash():
    with pytest.raises(MessageError):
        messages.decode("events", b'{"m":"events","events":' + b"[" * 100_000 + b"]" * 100_000 + b"}")


def test_a_bad_event_rejects_the_whole_batch():
    good = _event(seq=1)
    bad = _event(seq=2, data="t-1")
    with pytest.raises(MessageError):
        messages.decode("events", _j({"m": "events", "events": [good, bad]}))


def test_decoded_batches_are_immutable_tuples():
    batch = messages.decode("events", messages.encode(EVENTS))
    assert isinstance(batch.events, tuple)
    assert [e.seq for e in batch.events] == [7, 8, 9, 10, 11, 12]
    changes = messages.decode("changes", messages.encode(CHANGES))
    assert isinstance(changes.changes, tuple)
    assert changes.head == 42
