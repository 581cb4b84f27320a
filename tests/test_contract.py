"""The contract between edge and central: the edge's real outbox rows, made by ``QueueService``,
applied by central's ``ingest.apply_batch``, give central the same day the edge had."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from central import db as central_db
from central import feed
from central.ingest import apply_batch
from central.models import EdgeEvent, Node, Patient, Poli, Puskesmas, Reservation, Visit
from edge import db as edge_db
from edge import state
from edge.bus import Bus
from edge.config import from_dict
from edge.models import Outbox, Ticket
from edge.services import QueueService
from protocol import events, messages, qrpass
from protocol.clock import Clock
from protocol.events import Actor

KEY = qrpass.SigningKey.generate()
DAY = "2026-11-26"


@pytest.fixture
def both(tmp_path):
    central_db.connect(f"sqlite:///{tmp_path / 'central.db'}")
    pkm = Puskesmas.create(code="cibinong", name="Puskesmas Cibinong", address="-", kecamatan="Cibinong")
    umum = Poli.create(puskesmas=pkm, code="UMUM", name="Poli Umum", prefix="U")
    Poli.create(puskesmas=pkm, code="GIGI", name="Poli Gigi", prefix="G")
    node = Node.create(node_id="pkm-cibinong", puskesmas=pkm)
    patient = Patient.create(
        nik="3201011705900001", name="B", birth_date=dt.date(1990, 5, 17), sex="L", address="-", phone="081234567890"
    )
    reservation = Reservation.create(
        rid="r0000000000000001",
        patient=patient,
        puskesmas=pkm,
        poli=umum,
        date=dt.date(2026, 11, 26),
        slot="09:00-10:00",
        payer="BPJS",
        qr_text="-",
    )
    feed.publish_reservation(reservation)
    cfg = from_dict(
        {
            "node_id": "pkm-cibinong",
            "puskesmas_code": "cibinong",
            "qr_public_keys": {KEY.kid: KEY.public_b64()},
            "polis": [
                {"code": "UMUM", "name": "Poli Umum", "prefix": "U"},
                {"code": "GIGI", "name": "Poli Gigi", "prefix": "G"},
            ],
            "data_dir": str(tmp_path / "edge"),
        }
    )
    edge_db.connect(cfg.db_path)
    svc = QueueService(cfg, Bus(), Clock(f"{DAY}T08:30:00+07:00"))
    yield svc, node, reservation
    edge_db.database.close()
    central_db.database.close()


def outbox_batch() -> messages.EventBatch:
    """What the edge's sync client sends: its outbox rows, as they are stored."""
    rows = Outbox.select().order_by(Outbox.seq)
    records = tuple(messages.EventRecord(r.seq, r.type, r.at, json.loads(r.data), r.v) for r in rows)
    return messages.EventBatch(records, state.incarnation())


def test_a_day_at_the_edge_arrives_at_central_exactly(both):
    svc, node, reservation = both
    text = qrpass.sign(
        qrpass.Pass(reservation.rid, "cibinong", "UMUM", DAY, "09:00-10:00", "BPJS", int(time.time()) + 86400 * 30), KEY
    )
    a = svc.issue_walkin("UMUM")
    b = svc.issue_walkin("BPJS", priority=True, actor=Actor("loket-1"))
    u = svc.check_in(text)
    svc.call_next("loket-1", actor=Actor("loket-1", "staff-3"))  # b first: priority
    svc.act(b.key, "transfer", to_poli="GIGI", actor=Actor("loket-1", "staff-3"))
    svc.call_next("loket-2")
    svc.act(a.key, "no_show")
    svc.call_next("poli-UMUM")
    svc.act(u.key, "serve")
    svc.act(u.key, "finish")
    g = svc.call_next("poli-GIGI")
    svc.act(g.key, "recall")

    batch = outbox_batch()
    assert apply_batch(node, batch) == len(batch.events)
    assert {e.status for e in EdgeEvent.select()} == {"applied"}
    for t in Ticket.select():
        v = Visit.get(Visit.ticket_key == t.key)
        assert (v.label, v.queue, v.state, v.payer, v.kind, v.priority) == (
            t.label,
            t.queue,
            t.state,
            t.payer,
            t.kind,
            t.priority,
        )
        assert (v.issued_at, v.called_at, v.serving_at) == (t.issued_at, t.called_at, t.serving_at)
        assert v.counter == t.counter and v.parent == t.parent
    assert Visit.get(Visit.ticket_key == b.key).called_by == "staff-3"
    assert Visit.get(Visit.parent == b.key).label == b.label  # the transfer continues the same number
    r = Reservation.get_by_id(reservation.id)
    assert (r.status, r.ticket_label) == ("done", "U001")
    # every event names who did it and when, to the millisecond
    for e in batch.events:
        event = events.from_data(e.type, e.data, e.v)
        assert event.actor.counter and len(event.at) == len("2026-11-26T08:30:00.000+07:00")


def test_repeating_the_whole_outbox_changes_nothing(both):
    svc, node, _ = both
    t = svc.issue_walkin("UMUM")
    svc.call_next("loket-1")
    svc.act(t.key, "finish")
    batch = outbox_batch()
    apply_batch(node, batch)
    before = [(v.state, v.called_at, v.done_at) for v in Visit.select()]
    assert apply_batch(node, batch) == 3
    assert [(v.state, v.called_at, v.done_at) for v in Visit.select()] == before
    assert EdgeEvent.select().count() == 3
