"""The edge sync client on the in-memory broker (real topic matching, no network): publishing,
acks and their timeout, gaps, resends, routing, reconnects, refusals and unknown changes."""

from __future__ import annotations

import json
import logging

import pytest

from edge import db as edge_db
from edge import state
from edge import sync as edge_sync
from edge.app import mqtt_settings
from edge.bus import Bus
from edge.config import from_dict
from edge.models import DeferredChange, Outbox, Reservation
from edge.sync import SyncClient
from edge.workers import DeviceStatus
from infra.mqtt import Settings
from infra.mqtt.memory import MemoryBroker
from protocol import changes, messages, topics

NODE = "pkm-test"
UP_EVENTS = topics.up(NODE, topics.UP_EVENTS)
UP_PULL = topics.up(NODE, topics.UP_PULL)
DOWN = topics.node_down_filter(NODE)


class Central:
    """Plays central on the broker: records what the node sends and answers as told."""

    def __init__(self, broker: MemoryBroker):
        self.t = broker.transport(Settings(username="central"))
        self.got: list[tuple[str, object]] = []
        self.t.on_message = lambda m: self.got.append((m.topic, messages.decode(topics.parse(m.topic).kind, m.payload)))
        self.t.subscribe(topics.all_up_filter())
        self.t.start()

    def send(self, kind: str, msg) -> None:
        self.t.publish(topics.down(NODE, kind), messages.encode(msg))

    def of(self, kind: str) -> list:
        return [m for topic, m in self.got if topics.parse(topic).kind == kind]


@pytest.fixture
def broker():
    b = MemoryBroker()
    b.apply_rosma_acl()
    return b


@pytest.fixture
def node(tmp_path, broker):
    cfg = from_dict(
        {
            "node_id": NODE,
            "puskesmas_code": "cibinong",
            "qr_public_keys": {
                "56475aa75463474c": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
            },  # a key: an edge without one checks nobody in
            "polis": [{"code": "UMUM", "name": "Poli Umum", "prefix": "U"}],
            "data_dir": str(tmp_path),
        }
    )
    edge_db.connect(cfg.db_path)
    bus = Bus()
    board = {"day": "2026-11-26", "queues": {}, "counters": {}, "recent": []}
    client = SyncClient(cfg, bus, DeviceStatus(bus), broker.transport(mqtt_settings(cfg)), board=lambda: board)
    client.board_value = board
    yield client
    client.transport.stop()
    edge_db.database.close()


def outbox(n: int) -> None:
    for i in range(n):
        Outbox.create(type="ticket.cancelled", at="2026-11-26T08:00:00.000+07:00", data=json.dumps({"ticket": f"k{i}"}))


def delivered() -> list[bool]:
    return [o.delivered for o in Outbox.select().order_by(Outbox.seq)]


def test_connect_says_online_asks_for_changes_and_publishes_the_snapshot(broker, node):
    central = Central(broker)
    node.start(threads=False)
    assert node.connected.is_set()
    assert central.of("pull") == [messages.PullRequest(0)]
    retained = broker.retained
    assert messages.decode("status", retained[topics.up(NODE, "status")].payload) == messages.Presence(True)
    assert topics.up(NODE, "snapshot") in retained


def test_a_batch_carries_the_database_incarnation_and_one_is_in_flight_at_a_time(broker, node):
    central = Central(broker)
    outbox(3)
    node.start(threads=False)
    assert node.send_batch() is True
    assert node.send_batch() is False  # waiting for the ack
    (batch,) = central.of("events")
    assert [e.seq for e in batch.events] == [1, 2, 3]
    assert batch.incarnation == state.incarnation() and len(batch.incarnation) == 16


def test_ack_marks_only_what_central_stored(broker, node):
    central = Central(broker)
    outbox(3)
    node.start(threads=False)
    node.send_batch()
    central.send("ack", messages.Ack(2, node.incarnation))
    assert delivered() == [True, True, False]


def test_an_ack_for_another_database_of_this_node_marks_nothing(broker, node):
    central = Central(broker)
    outbox(2)
    node.start(threads=False)
    central.send("ack", messages.Ack(2, "some-other-db"))
    assert delivered() == [False, False]


def test_ack_beyond_the_outbox_marks_nothing_and_alerts(broker, node):
    central = Central(broker)
    outbox(1)
    node.start(threads=False)
    central.send("ack", messages.Ack(48000, node.incarnation))  # a different node's checkpoint under this id
    assert delivered() == [False]
    assert node.status.snapshot()["sync"]["ok"] is False


def test_a_lost_batch_is_sent_again_after_the_ack_timeout(broker, node, monkeypatch):
    central = Central(broker)
    outbox(2)
    node.start(threads=False)
    broker.drop_next(UP_EVENTS)
    node.send_batch()
    assert central.of("events") == []  # lost on the way
    assert node.send_batch() is False  # still within the timeout
    monkeypatch.setattr(edge_sync, "ACK_TIMEOUT_S", 0.0)
    assert node.send_batch() is True
    assert [e.seq for e in central.of("events")[0].events] == [1, 2]


def test_a_reconnect_resends_what_was_not_acknowledged_and_republishes_presence_and_snapshot(broker, node):
    central = Central(broker)
    outbox(2)
    node.start(threads=False)
    node.send_batch()
    broker.stop()
    assert not node.connected.is_set()
    node.board_value["counters"] = {"Loket 1": "A007"}  # the queue moved while the link was down
    broker.start()
    assert node.send_batch() is True  # the batch in flight was forgotten on reconnect
    assert len(central.of("events")) == 2
    snap = messages.decode("snapshot", broker.retained[topics.up(NODE, "snapshot")].payload)
    assert snap.queues[0]["counters"] == {"Loket 1": "A007"}
    assert messages.decode("status", broker.retained[topics.up(NODE, "status")].payload).online is True


def test_the_will_says_offline_when_the_link_dies(broker, node):
    Central(broker)
    node.start(threads=False)
    broker.drop(NODE)
    assert messages.decode("status", broker.retained[topics.up(NODE, "status")].payload).online is False


def change(seq, rid, status="active", type_=changes.ReservationChanged.NAME):
    data = {"rid": rid, "poli": "UMUM", "date": "2026-11-26", "slot": "08:00-09:00", "payer": "UMUM", "status": status}
    return messages.ChangeRecord(seq, type_, data)


def test_changes_apply_once_in_order_and_a_gap_asks_again(broker, node):
    central = Central(broker)
    node.start(threads=False)
    central.send("changes", messages.ChangeBatch((change(1, "a"), change(2, "b")), head=2))
    central.send("changes", messages.ChangeBatch((change(1, "a"), change(2, "b")), head=2))  # repeat
    assert Reservation.select().count() == 2 and state.change_seq() == 2
    central.send("changes", messages.ChangeBatch((change(4, "d"),), head=4))  # 3 went missing
    assert state.change_seq() == 2 and central.of("pull")[-1] == messages.PullRequest(2)
    central.send("changes", messages.ChangeBatch((change(3, "a", "cancelled"), change(4, "d")), head=4))
    assert state.change_seq() == 4
    assert Reservation.get(Reservation.rid == "a").status == "cancelled"


def test_a_change_of_a_type_this_release_does_not_know_is_kept_and_applied_after_the_upgrade(tmp_path, broker, node):
    central = Central(broker)
    node.change_registry = {}  # an edge older than central: it knows no change type yet
    node.start(threads=False)
    central.send("changes", messages.ChangeBatch((change(1, "a"), change(2, "b")), head=2))
    assert state.change_seq() == 2  # the feed moved on: nothing stalls
    assert Reservation.select().count() == 0 and DeferredChange.select().count() == 2
    node.change_registry = None  # upgraded
    assert node.apply_deferred() == 2
    assert Reservation.select().count() == 2 and DeferredChange.select().count() == 0


def test_a_malformed_change_is_skipped_and_the_feed_goes_on(broker, node, caplog):
    central = Central(broker)
    node.start(threads=False)
    bad = messages.ChangeRecord(1, changes.ReservationChanged.NAME, {"rid": "a"})
    central.send("changes", messages.ChangeBatch((bad, change(2, "b")), head=2))
    assert state.change_seq() == 2 and [r.rid for r in Reservation.select()] == ["b"]
    assert "malformed" in caplog.text


@pytest.mark.parametrize(
    "topic, payload",
    [
        pytest.param(topics.down(NODE, "ack"), b"{not json", id="not-json"),
        pytest.param(topics.down(NODE, "ack"), b'{"m":"changes","changes":[],"head":0}', id="kind-mismatch"),
        pytest.param(topics.down(NODE, "ack"), b'{"m":"ack","upto":-1}', id="negative-ack"),
    ],
)
def test_malformed_messages_are_dropped_and_logged(broker, node, caplog, topic, payload):
    central = Central(broker)
    outbox(1)
    node.start(threads=False)
    caplog.set_level(logging.WARNING)
    central.t.publish(topic, payload)
    assert "dropped a malformed message" in caplog.text and delivered() == [False]


def test_another_nodes_traffic_never_reaches_this_node(broker, node):
    central = Central(broker)
    outbox(1)
    node.start(threads=False)
    central.t.publish(topics.down("pkm-other", "ack"), messages.encode(messages.Ack(1, node.incarnation)))
    assert delivered() == [False]


def test_a_publish_the_broker_refuses_is_logged_and_shown_to_staff(broker, node, caplog):
    Central(broker)
    broker.acl = lambda username, op, topic: op == "subscribe" or not topic.endswith("/up/events")
    outbox(1)
    node.start(threads=False)
    node.send_batch()
    assert "the broker refused publish on rosma/v1/node/pkm-test/up/events: Not authorized" in caplog.text
    assert node.status.snapshot()["sync"] == {
        "ok": False,
        "message": "Server pusat menolak pesan dari node ini; hubungi admin Dinkes",
    }
