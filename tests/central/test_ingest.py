"""Central storing and applying edge events: once per (node, database, seq), in order, within
the node's own puskesmas, whatever the network does and whichever side was upgraded first."""

from __future__ import annotations

import datetime as dt

import pytest

from central import db as central_db
from central import ingest
from central.ingest import apply_batch, apply_deferred
from central.models import EdgeEvent, Node, NodeAlert, NodeStream, Patient, Poli, Puskesmas, Reservation, Visit
from protocol import events
from protocol.events import Actor, ReservationCheckedIn, TicketCalled, TicketDone, TicketIssued
from protocol.messages import EventBatch, EventRecord

AT = "2026-11-26T08:00:00.000+07:00"


@pytest.fixture
def node(db_config):
    """A node of Puskesmas Cibinong, on SQLite and on PostgreSQL (which refuses what SQLite lets pass)."""
    central_db.connect(db_config.database_url)
    pkm = Puskesmas.create(code="cibinong", name="Puskesmas Cibinong", address="Cibinong", kecamatan="Cibinong")
    Poli.create(puskesmas=pkm, code="UMUM", name="Poli Umum", prefix="U", slot_quota=1)
    yield Node.create(node_id="pkm-cibinong", puskesmas=pkm)
    central_db.database.close()


def record(seq: int, event: events.Event) -> EventRecord:
    return EventRecord(seq, event.NAME, event.at, events.to_data(event), event.VERSION)


def issued(seq, key, label, **kw):
    e = TicketIssued(
        ticket=key,
        day="2026-11-26",
        queue="REG-A",
        label=label,
        number=1,
        kind="walkin",
        payer="UMUM",
        at=AT,
        actor=events.KIOSK,
        **kw,
    )
    return record(seq, e)


def called(seq, key, at="2026-11-26T08:05:00.250+07:00", recall=False):
    e = TicketCalled(
        ticket=key,
        label="A001",
        destination="Loket 1",
        counter="loket-1",
        recall=recall,
        at=at,
        actor=Actor("loket-1", "staff-7"),
    )
    return record(seq, e)


def batch(*recs, incarnation="db-1"):
    return EventBatch(tuple(recs), incarnation)


def test_in_order_batch_is_stored_applied_and_acked(node):
    assert apply_batch(node, batch(issued(1, "k1", "A001"), called(2, "k1"))) == 2
    v = Visit.get(Visit.ticket_key == "k1")
    assert (v.state, v.destination, v.counter, v.called_by) == ("called", "Loket 1", "loket-1", "staff-7")
    assert v.called_at == "2026-11-26T08:05:00.250+07:00" and v.issued_at == AT
    assert [e.status for e in EdgeEvent.select()] == ["applied", "applied"]


def test_a_recall_keeps_the_first_call_time(node):
    apply_batch(node, batch(issued(1, "k1", "A001"), called(2, "k1")))
    apply_batch(node, batch(called(3, "k1", at="2026-11-26T08:09:00.000+07:00", recall=True)))
    assert Visit.get(Visit.ticket_key == "k1").called_at == "2026-11-26T08:05:00.250+07:00"


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
    at = "2026-11-26T08:10:00.000+07:00"
    apply_batch(
        node,
        batch(
            issued(1, "k1", "A001"),
            called(2, "k1"),
            record(3, events.TicketServing(ticket="k1", at=at)),
            issued(4, "k2", "A002"),
            record(5, events.TicketCancelled(ticket="k2", at=at)),
        ),
    )
    assert Visit.get(Visit.ticket_key == "k1").state == "serving"
    assert Visit.get(Visit.ticket_key == "k1").serving_at == at
    assert Visit.get(Visit.ticket_key == "k2").state == "cancelled"


def test_every_event_type_has_a_handler():
    assert set(ingest.HANDLERS) == set(events.EVENT_TYPES)


# ---- an edge newer than central ------------------------------------------------------------------
OLD_CENTRAL = {name: cls for name, cls in events.BY_NAME.items() if name != events.TicketServing.NAME}


def test_an_unknown_event_type_is_stored_acked_and_applied_after_the_upgrade(node):
    serving = record(3, events.TicketServing(ticket="k1", at="2026-11-26T08:07:00.000+07:00"))
    done = record(4, TicketDone(ticket="k1", at="2026-11-26T08:15:00.000+07:00"))
    other = issued(5, "k2", "A002")
    upto = apply_batch(
        node, batch(issued(1, "k1", "A001"), called(2, "k1"), serving, done, other), registry=OLD_CENTRAL
    )
    assert upto == 5  # acknowledged: the edge's outbox moves on
    status = {e.seq: e.status for e in EdgeEvent.select()}
    assert status == {1: "applied", 2: "applied", 3: "deferred", 4: "deferred", 5: "applied"}  # k1 waits, in order
    assert Visit.get(Visit.ticket_key == "k1").state == "called"
    assert apply_deferred() == 2  # central upgraded: it knows the type now
    v = Visit.get(Visit.ticket_key == "k1")
    assert (v.state, v.serving_at, v.done_at) == (
        "done",
        "2026-11-26T08:07:00.000+07:00",
        "2026-11-26T08:15:00.000+07:00",
    )


def test_the_events_after_a_kept_ticket_issue_are_kept_too_and_applied_in_order(node):
    newer_issue = issued(1, "k1", "A001")
    newer_issue = EventRecord(1, newer_issue.type, newer_issue.at, newer_issue.data, v=2)  # a later edge's version
    apply_batch(node, batch(newer_issue, called(2, "k1"), record(3, TicketDone(ticket="k1", at=AT))))
    assert {e.status for e in EdgeEvent.select()} == {"deferred"} and Visit.select().count() == 0
    TicketIssued.VERSION, before = 2, TicketIssued.VERSION  # central learns version 2
    try:
        assert apply_deferred() == 3
    finally:
        TicketIssued.VERSION = before
    v = Visit.get(Visit.ticket_key == "k1")
    assert (v.state, v.called_at) == ("done", "2026-11-26T08:05:00.250+07:00")


def test_an_event_about_a_ticket_central_does_not_know_yet_is_kept_not_lost(node):
    assert apply_batch(node, batch(called(1, "nope"), issued(2, "k1", "A001"))) == 2
    assert EdgeEvent.get(EdgeEvent.seq == 1).status == "deferred"
    assert Visit.get(Visit.ticket_key == "k1").state == "waiting"  # the rest goes on


def test_a_newer_version_is_deferred_and_an_extra_field_is_ignored(node):
    newer = EventRecord(2, "ticket.called", AT, {"ticket": "k1", "label": "A001", "destination": "Loket 1"}, v=9)
    extra = issued(1, "k1", "A001")
    extra = EventRecord(extra.seq, extra.type, extra.at, {**extra.data, "bpjs_status": "pending"}, extra.v)
    assert apply_batch(node, batch(extra, newer)) == 2
    assert Visit.get(Visit.ticket_key == "k1").state == "waiting"
    assert [e.status for e in EdgeEvent.select().order_by(EdgeEvent.seq)] == ["applied", "deferred"]
    assert '"bpjs_status"' in EdgeEvent.get(EdgeEvent.seq == 1).data  # kept for later


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"label": "A001"}, id="missing-ticket"),
        pytest.param({"ticket": 7, "label": "A001", "destination": "Loket 1"}, id="ticket-not-text"),
        pytest.param({"ticket": "k1", "label": "A00000001", "destination": "Loket 1"}, id="label-too-long"),
        pytest.param({"ticket": "k1", "label": "A001", "destination": "L" * 41}, id="room-too-long"),
        pytest.param({"ticket": "k1", "label": "A\x00", "destination": "Loket 1"}, id="nul-character"),
        pytest.param({"ticket": "k1", "label": "A001", "destination": "Loket 1", "at": "kemarin"}, id="at-not-a-time"),
    ],
)
def test_a_malformed_event_is_rejected_acked_and_does_not_block(node, data):
    apply_batch(node, batch(issued(1, "k1", "A001")))
    assert apply_batch(node, batch(EventRecord(2, "ticket.called", AT, data), called(3, "k1"))) == 3
    assert EdgeEvent.get(EdgeEvent.seq == 2).status == "rejected"
    assert Visit.get(Visit.ticket_key == "k1").state == "called"


def test_a_ticket_issued_on_an_impossible_day_is_rejected_not_stalling_the_node(node):
    bad = issued(1, "k1", "A001")
    bad = EventRecord(1, bad.type, bad.at, {**bad.data, "day": "26-11-2026"})
    assert apply_batch(node, batch(bad, issued(2, "k2", "A002"))) == 2
    assert EdgeEvent.get(EdgeEvent.seq == 1).status == "rejected"
    assert [v.label for v in Visit.select()] == ["A002"]


def test_release_0_1_0_edge_events_still_apply(node):
    """An edge not yet upgraded sends the old shapes: no versions, no actor, ``at`` beside the data."""
    old = EventBatch(
        (
            EventRecord(
                1,
                "ticket.issued",
                "2026-11-26T08:00:00+07:00",
                {
                    "ticket": "k1",
                    "day": "2026-11-26",
                    "queue": "REG-A",
                    "label": "A001",
                    "kind": "walkin",
                    "payer": "UMUM",
                    "poli": None,
                    "rid": None,
                    "issued_at": "2026-11-26T08:00:00+07:00",
                    "parent": None,
                },
            ),
            EventRecord(
                2,
                "ticket.called",
                "2026-11-26T08:05:00+07:00",
                {
                    "ticket": "k1",
                    "label": "A001",
                    "destination": "Loket 1",
                    "at": "2026-11-26T08:05:00+07:00",
                    "recall": False,
                },
            ),
            EventRecord(
                3,
                "ticket.transferred",
                "2026-11-26T08:06:00+07:00",
                {"ticket": "k1", "at": "2026-11-26T08:06:00+07:00"},
            ),
        )
    )
    assert apply_batch(node, old) == 3
    assert Visit.get(Visit.ticket_key == "k1").state == "transferred"
    assert NodeStream.get(NodeStream.node == node).incarnation == ""


# ---- only within the node's own puskesmas -------------------------------------------------------
def _reservation(pkm, rid, status="active"):
    patient = Patient.get_or_none(Patient.nik == "3201011705900001") or Patient.create(
        nik="3201011705900001", name="B", birth_date=dt.date(1990, 5, 17), sex="L", address="-", phone="0812"
    )
    poli = Poli.get_or_none(Poli.puskesmas == pkm) or Poli.create(puskesmas=pkm, code="UMUM", name="U", prefix="U")
    return Reservation.create(
        rid=rid,
        patient=patient,
        puskesmas=pkm,
        poli=poli,
        date=dt.date(2026, 11, 26),
        slot="08:00-09:00",
        payer="UMUM",
        qr_text="-",
        status=status,
    )


def test_a_node_cannot_touch_another_puskesmas_reservation(node):
    ciawi = Puskesmas.create(code="ciawi", name="Puskesmas Ciawi", address="Ciawi", kecamatan="Ciawi")
    theirs = _reservation(ciawi, "theirs0000000001")
    apply_batch(
        node,
        batch(
            issued(1, "k1", "U001", rid=theirs.rid),
            record(2, ReservationCheckedIn(rid=theirs.rid, ticket="k1", label="U001", at=AT)),
            called(3, "k1"),
            record(4, TicketDone(ticket="k1", at=AT)),
        ),
    )
    assert Reservation.get_by_id(theirs.id).status == "active"  # not checked in, not done


# ---- a reservation cancelled at central while the offline edge checked it in ---------------------
def test_a_check_in_after_a_cancellation_stands_and_both_are_kept(node):
    mine = _reservation(node.puskesmas, "mine000000000001", status="cancelled")
    Reservation.update(cancelled_at=dt.datetime(2026, 11, 26, 1, 0)).where(Reservation.id == mine.id).execute()
    apply_batch(node, batch(record(1, ReservationCheckedIn(rid=mine.rid, ticket="k1", label="U001", at=AT))))
    r = Reservation.get_by_id(mine.id)
    assert (r.status, r.ticket_label, r.conflict) == ("checked_in", "U001", ingest.CONFLICT_CANCELLED)
    assert r.cancelled_at is not None  # the cancellation is still on record


def test_a_check_in_after_a_cancellation_into_a_slot_rebooked_meanwhile_is_flagged_over_quota(node):
    mine = _reservation(node.puskesmas, "mine000000000001", status="cancelled")
    _reservation(node.puskesmas, "other00000000001")  # took the freed place (quota 1)
    apply_batch(node, batch(record(1, ReservationCheckedIn(rid=mine.rid, ticket="k1", label="U001", at=AT))))
    assert Reservation.get_by_id(mine.id).conflict == ingest.CONFLICT_OVER_QUOTA


# ---- a replaced edge database ---------------------------------------------------------------------
def test_a_new_database_behind_the_same_node_keeps_its_own_history_and_raises_an_alert(node):
    assert apply_batch(node, batch(issued(1, "k1", "A001"), issued(2, "k2", "A002"), incarnation="sd-1")) == 2
    # the SD card died; the node restarts with an empty database: seq 1 again, a new incarnation
    assert apply_batch(node, batch(issued(1, "k9", "A001"), incarnation="sd-2")) == 1
    assert Visit.select().count() == 3  # not taken for a repeat
    assert {(s.incarnation, s.up_seq) for s in NodeStream.select()} == {("sd-1", 2), ("sd-2", 1)}
    alert = NodeAlert.get()
    assert alert.kind == "new-incarnation" and "sd-1" in alert.message and "sd-2" in alert.message


def test_a_release_0_1_0_history_continues_when_its_upgraded_edge_names_its_database(node):
    NodeStream.create(node=node, incarnation="", up_seq=0)
    apply_batch(node, batch(issued(1, "k1", "A001"), incarnation=""))
    assert apply_batch(node, batch(issued(1, "k1", "A001"), issued(2, "k2", "A002"), incarnation="named")) == 2
    assert NodeAlert.select().count() == 0 and NodeStream.get().incarnation == "named"
    assert EdgeEvent.select().where(EdgeEvent.incarnation == "named").count() == 2


def test_a_new_database_behind_a_release_0_1_0_history_is_not_taken_for_it(node):
    """An upgraded 0.1.0 edge resends only what central lacks; a fresh one starts at seq 1."""
    NodeStream.create(node=node, incarnation="", up_seq=500)
    assert apply_batch(node, batch(issued(1, "k1", "A001"), incarnation="fresh")) == 1
    assert Visit.get(Visit.ticket_key == "k1").label == "A001"  # not dropped as a repeat of seq 1
    assert {(s.incarnation, s.up_seq) for s in NodeStream.select()} == {("", 500), ("fresh", 1)}
    assert NodeAlert.get().kind == "new-incarnation"
