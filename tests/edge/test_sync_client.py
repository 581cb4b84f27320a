"""The edge sync client's bookkeeping, without a broker: acks and change batches."""

from __future__ import annotations

import pytest

from edge import db as edge_db
from edge.bus import Bus
from edge.config import from_dict
from edge.models import Outbox, Reservation
from edge.sync import SyncClient, get_state
from edge.workers import DeviceStatus
from protocol import messages


@pytest.fixture
def client(tmp_path):
    cfg = from_dict(
        {
            "node_id": "pkm-test",
            "puskesmas_code": "cibinong",
            "polis": [{"code": "UMUM", "name": "Poli Umum", "prefix": "U"}],
            "data_dir": str(tmp_path),
        }
    )
    edge_db.connect(cfg.db_path)
    bus = Bus()
    c = SyncClient(cfg, bus, DeviceStatus(bus))
    c._pull = lambda: c.pulls.append(int(get_state("change_seq")))  # no broker: record pulls
    c.pulls = []
    yield c
    edge_db.database.close()


def test_ack_marks_only_what_central_stored(client):
    for _ in range(3):
        Outbox.create(type=messages.TICKET_ISSUED, at="-", data="{}")
    client._acked(2)
    assert [o.delivered for o in Outbox.select().order_by(Outbox.seq)] == [True, True, False]


def test_ack_beyond_the_outbox_marks_nothing_and_alerts(client):
    Outbox.create(type=messages.TICKET_ISSUED, at="-", data="{}")
    client._acked(48000)  # a different node's checkpoint under the same id
    assert Outbox.select().where(Outbox.delivered).count() == 0
    assert client.status.snapshot()["sync"]["ok"] is False


def change(seq, rid, status="active"):
    return messages.ChangeRecord(
        seq,
        messages.RESERVATION_UPSERT,
        {"rid": rid, "poli": "UMUM", "date": "2026-11-26", "slot": "08:00-09:00", "payer": "UMUM", "status": status},
    )


def test_changes_apply_once_in_order_and_a_gap_asks_again(client):
    client._apply_changes(messages.ChangeBatch((change(1, "a"), change(2, "b")), head=2))
    client._apply_changes(messages.ChangeBatch((change(1, "a"), change(2, "b")), head=2))  # repeat
    assert Reservation.select().count() == 2 and get_state("change_seq") == "2"
    client._apply_changes(messages.ChangeBatch((change(4, "d"),), head=4))  # 3 went missing
    assert get_state("change_seq") == "2" and client.pulls == [2]
    client._apply_changes(messages.ChangeBatch((change(3, "a", "cancelled"), change(4, "d")), head=4))
    assert get_state("change_seq") == "4"
    assert Reservation.get(Reservation.rid == "a").status == "cancelled"
