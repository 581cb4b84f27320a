"""A ticket with an event kept for later keeps the rest of its events waiting too, whether the
kept one came in the same batch or in an earlier one; the other tickets go on."""

from __future__ import annotations

import pytest

from central import db as central_db
from central.ingest import apply_batch, apply_deferred
from central.models import EdgeEvent, Node, Poli, Puskesmas, Visit
from protocol import events
from protocol.events import Actor, TicketCalled, TicketDone, TicketIssued
from protocol.messages import EventBatch, EventRecord

AT = "2026-11-26T08:00:00.000+07:00"
OLD_CENTRAL = {name: cls for name, cls in events.BY_NAME.items() if name != events.TicketServing.NAME}


@pytest.fixture
def node(db_config):
    central_db.connect(db_config.database_url)
    pkm = Puskesmas.create(code="cibinong", name="Puskesmas Cibinong", address="Cibinong", kecamatan="Cibinong")
    Poli.create(puskesmas=pkm, code="UMUM", name="Poli Umum", prefix="U", slot_quota=1)
    yield Node.create(node_id="pkm-cibinong", puskesmas=pkm)
    central_db.database.close()


def rec(seq: int, event: events.Event) -> EventRecord:
    return EventRecord(seq, event.NAME, event.at, events.to_data(event), event.VERSION)


def issued(seq: int, key: str) -> EventRecord:
    e = TicketIssued(
        ticket=key,
        day="2026-11-26",
        queue="REG-A",
        label="A001",
        number=1,
        kind="walkin",
        payer="UMUM",
        at=AT,
        actor=events.KIOSK,
    )
    return rec(seq, e)


def called(seq: int, key: str) -> EventRecord:
    e = TicketCalled(ticket=key, label="A001", destination="Loket 1", counter="loket-1", at=AT, actor=Actor("loket-1"))
    return rec(seq, e)


def serving(seq: int, key: str) -> EventRecord:
    return rec(seq, events.TicketServing(ticket=key, at="2026-11-26T08:07:00.000+07:00"))


def done(seq: int, key: str) -> EventRecord:
    return rec(seq, TicketDone(ticket=key, at="2026-11-26T08:15:00.000+07:00"))


def statuses() -> dict[int, str]:
    return {e.seq: e.status for e in EdgeEvent.select()}


def test_an_event_kept_in_an_earlier_batch_keeps_its_tickets_next_events(node):
    assert apply_batch(node, EventBatch((issued(1, "k1"), called(2, "k1"), serving(3, "k1")), "db"), OLD_CENTRAL) == 3
    assert apply_batch(node, EventBatch((done(4, "k1"), issued(5, "k2"), called(6, "k2")), "db"), OLD_CENTRAL) == 6
    assert statuses() == {1: "applied", 2: "applied", 3: "deferred", 4: "deferred", 5: "applied", 6: "applied"}
    assert Visit.get(Visit.ticket_key == "k1").state == "called"  # not done before it was served
    assert apply_deferred() == 2
    assert Visit.get(Visit.ticket_key == "k1").state == "done"
    # nothing kept any more: the next batch applies at once
    assert apply_batch(node, EventBatch((done(7, "k2"),), "db")) == 7
    assert statuses()[7] == "applied" and Visit.get(Visit.ticket_key == "k2").state == "done"


def test_an_event_kept_in_the_same_batch_keeps_its_tickets_next_events(node):
    batch = EventBatch((called(1, "k1"), issued(2, "k1"), issued(3, "k2"), called(4, "k2")), "db")
    assert apply_batch(node, batch) == 4
    assert statuses() == {1: "deferred", 2: "deferred", 3: "applied", 4: "applied"}  # k1 in its order, later
    assert Visit.get(Visit.ticket_key == "k2").state == "called"
    assert not Visit.select().where(Visit.ticket_key == "k1").exists()
