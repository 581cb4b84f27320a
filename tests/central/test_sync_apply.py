"""Central applying edge events: once per (node, seq), in order, whatever the network does."""

from __future__ import annotations

import pytest

from central import db as central_db
from central.models import EdgeEvent, Node, Puskesmas, Visit
from central.sync import apply_batch
from protocol import messages


@pytest.fixture
def node(tmp_path):
    central_db.connect(f"sqlite:///{tmp_path / 'c.db'}")
    pkm = Puskesmas.create(code="cibinong", name="Puskesmas Cibinong", address="Cibinong", kecamatan="Cibinong")
    yield Node.create(node_id="pkm-cibinong", puskesmas=pkm)
    central_db.database.close()


def issued(seq, key, label):
    return messages.EventRecord(
        seq,
        messages.TICKET_ISSUED,
        "2026-11-26T08:00:00+07:00",
        {
            "ticket": key,
            "day": "2026-11-26",
            "queue": "REG-A",
            "label": label,
            "kind": "walkin",
            "payer": "UMUM",
            "poli": None,
            "rid": None,
            "issued_at": "2026-11-26T08:00:00+07:00",
            "parent": None,
        },
    )


def called(seq, key):
    return messages.EventRecord(
        seq,
        messages.TICKET_CALLED,
        "2026-11-26T08:05:00+07:00",
        {"ticket": key, "label": "A001", "destination": "Loket 1", "at": "2026-11-26T08:05:00+07:00"},
    )


def batch(*events):
    return messages.EventBatch(tuple(events))


def test_in_order_batch_is_stored_and_acked(node):
    assert apply_batch(node, batch(issued(1, "k1", "A001"), called(2, "k1"))) == 2
    v = Visit.get(Visit.ticket_key == "k1")
    assert v.state == "called" and v.destination == "Loket 1"


def test_repeats_are_ignored(node):
    apply_batch(node, batch(issued(1, "k1", "A001")))
    assert apply_batch(node, batch(issued(1, "k1", "A001"), called(2, "k1"))) == 2
    assert apply_batch(node, batch(issued(1, "k1", "A001"), called(2, "k1"))) == 2
    assert EdgeEvent.select().count() == 2 and Visit.select().count() == 1


def test_a_gap_stops_the_batch_until_the_missing_event_is_resent(node):
    apply_batch(node, batch(issued(1, "k1", "A001")))
    assert apply_batch(node, batch(issued(3, "k2", "A002"))) == 1  # seq 2 lost on the way
    assert Visit.select().count() == 1
    assert apply_batch(node, batch(called(2, "k1"), issued(3, "k2", "A002"))) == 3
    assert Visit.select().count() == 2


def test_serving_and_cancelled_update_the_visit(node):
    at = "2026-11-26T08:10:00+07:00"
    apply_batch(
        node,
        batch(
            issued(1, "k1", "A001"),
            called(2, "k1"),
            messages.EventRecord(3, messages.TICKET_SERVING, at, {"ticket": "k1", "at": at}),
            issued(4, "k2", "A002"),
            messages.EventRecord(5, messages.TICKET_CANCELLED, at, {"ticket": "k2", "at": at}),
        ),
    )
    assert Visit.get(Visit.ticket_key == "k1").state == "serving"
    assert Visit.get(Visit.ticket_key == "k1").serving_at == at
    assert Visit.get(Visit.ticket_key == "k2").state == "cancelled"
