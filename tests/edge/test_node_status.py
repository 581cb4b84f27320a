"""The edge's health for the fleet view (``NodeStatus``), on the in-memory broker: published
retained on connect, again when the printer runs out of paper or the outbox changes, the last
sync kept across a restart, and nothing about patients or tickets in it."""

from __future__ import annotations

import datetime as dt
import json
import threading
from importlib import metadata

import pytest

from devices.printer.fake import FakePrinter
from edge import db as edge_db
from edge import sync as edge_sync
from edge.app import mqtt_settings
from edge.bus import Bus
from edge.config import from_dict
from edge.models import Outbox
from edge.services import QueueService
from edge.sync import SyncClient
from edge.workers import DeviceStatus, PrinterWorker
from infra.mqtt import Settings
from infra.mqtt.memory import MemoryBroker
from protocol import messages, topics
from protocol.clock import WIB, Clock

NODE = "pkm-test"
HEALTH = topics.up(NODE, topics.UP_HEALTH)


class Central:
    """Plays central: keeps every health message and lets a test wait for one it expects."""

    def __init__(self, broker: MemoryBroker):
        self.t = broker.transport(Settings(username="central"))
        self.health: list[messages.NodeStatus] = []
        self.raw: list[bytes] = []
        self.cond = threading.Condition()
        self.t.on_message = self._got
        self.t.subscribe(topics.all_up_filter())
        self.t.start()

    def _got(self, m) -> None:
        t = topics.parse(m.topic)
        msg = messages.decode(t.kind, m.payload)
        if t.kind == topics.UP_HEALTH:
            with self.cond:
                self.health.append(msg)
                self.raw.append(m.payload)
                self.cond.notify_all()

    def wait_for(self, pred, timeout: float = 10.0) -> messages.NodeStatus:
        with self.cond:
            ok = self.cond.wait_for(lambda: any(pred(h) for h in self.health), timeout)
            assert ok, f"no such health message; got {self.health}"
            return next(h for h in self.health if pred(h))

    def send(self, kind: str, msg) -> None:
        self.t.publish(topics.down(NODE, kind), messages.encode(msg))


@pytest.fixture
def broker():
    b = MemoryBroker()
    b.apply_rosma_acl()
    return b


@pytest.fixture
def config(tmp_path):
    return from_dict(
        {
            "node_id": NODE,
            "puskesmas_code": "cibinong",
            "qr_public_keys": {"56475aa75463474c": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="},
            "polis": [{"code": "UMUM", "name": "Poli Umum", "prefix": "U"}],
            "data_dir": str(tmp_path),
        }
    )


@pytest.fixture
def node(config, broker):
    edge_db.connect(config.db_path)
    bus = Bus()
    status = DeviceStatus(bus)
    client = SyncClient(config, bus, status, broker.transport(mqtt_settings(config)))
    yield client
    client.stop.set()
    client.wake.set()
    for t in client.threads:
        if t.is_alive():
            t.join(5)
    client.transport.stop()
    edge_db.database.close()


def outbox(n: int, at: str) -> None:
    for i in range(n):
        Outbox.create(type="ticket.cancelled", at=at, data=json.dumps({"ticket": f"tiket-rahasia-{i}"}))


def test_connect_publishes_the_health_retained_with_version_clock_and_devices(broker, node):
    central = Central(broker)
    node.status.set("scanner", True, "Pemindai QR siap")
    node.status.set("audio", False, "Kartu suara tidak ditemukan")
    node.status.set("sync", True, "Terhubung")  # not a device of the fleet view
    node.start(threads=False)
    (health,) = central.health
    assert health.version == metadata.version("rosma") and health.backlog == 0 and health.oldest_s == 0
    sent = dt.datetime.fromisoformat(health.at)
    assert sent.utcoffset() == dt.timedelta(hours=7)
    assert abs((sent - dt.datetime.now(WIB)).total_seconds()) < 5
    assert health.devices == {
        "scanner": {"ok": True, "message": "Pemindai QR siap"},
        "audio": {"ok": False, "message": "Kartu suara tidak ditemukan"},
    }
    retained = broker.retained[HEALTH]
    assert messages.decode(topics.UP_HEALTH, retained.payload) == health
    assert set(json.loads(retained.payload)) == {
        "m", "at", "version", "backlog", "oldest_s", "last_sync", "uptime_s", "devices"
    }  # fmt: skip


def test_paper_out_is_published_at_once_and_paper_back_too(broker, node, config):
    central = Central(broker)
    service = QueueService(config, node.bus, Clock())
    worker = PrinterWorker(threading.Event(), service, node.status, "none", "TM-T20II")
    fake = FakePrinter()
    worker.printer = fake
    node.start(threads=False)
    node.threads[1].start()  # the bus watcher: device changes reach the sync client through the bus
    worker._read_status()  # what the printer worker does every 2 s while idle
    central.wait_for(lambda h: h.devices.get("printer", {}).get("ok") is True)
    fake.trigger_fake_out_of_paper()
    worker._read_status()
    out = central.wait_for(lambda h: h.devices.get("printer") == {"ok": False, "message": "Kertas habis"})
    assert (
        messages.decode(topics.UP_HEALTH, broker.retained[HEALTH].payload).devices["printer"] == out.devices["printer"]
    )
    fake.trigger_fake_restore()
    worker._read_status()
    back = central.wait_for(lambda h: h is not out and h.devices["printer"]["ok"] and h.at >= out.at)
    assert back.devices["printer"]["message"] == "Printer siap"


def test_the_backlog_and_its_oldest_event_are_counted_and_an_ack_empties_them(broker, node, monkeypatch):
    monkeypatch.setattr(edge_sync, "HEALTH_GAP_S", 0.0)
    central = Central(broker)
    twelve_min_ago = (dt.datetime.now(WIB) - dt.timedelta(minutes=12)).isoformat(timespec="milliseconds")
    outbox(120, twelve_min_ago)
    node.start(threads=False)
    first = central.health[0]
    assert first.backlog == 120 and 12 * 60 - 5 <= first.oldest_s <= 12 * 60 + 5 and first.last_sync == ""
    assert all(b"tiket-rahasia" not in raw for raw in central.raw)  # no ticket, patient or staff data
    node.send_batch()
    node.threads[0].start()  # the pump publishes the new health soon after the ack
    central.send("ack", messages.Ack(100, node.incarnation))
    after = central.wait_for(lambda h: h.backlog == 20)
    assert after.last_sync
    assert abs((dt.datetime.fromisoformat(after.last_sync) - dt.datetime.now(WIB)).total_seconds()) < 5


def test_the_last_sync_is_kept_across_a_restart_and_unconnected_publishes_nothing(broker, node, config):
    central = Central(broker)
    outbox(1, dt.datetime.now(WIB).isoformat())
    assert node.publish_health() is False  # not connected yet: nothing sent, nothing raised
    assert central.health == []
    node.start(threads=False)
    node.send_batch()
    central.send("ack", messages.Ack(1, node.incarnation))
    synced = node.health().last_sync
    assert synced
    node.transport.stop()
    again = SyncClient(config, Bus(), DeviceStatus(Bus()), broker.transport(mqtt_settings(config)))
    again.start(threads=False)
    latest = central.health[-1]
    assert latest.last_sync == synced and latest.backlog == 0 and latest.uptime_s < 5
    again.transport.stop()
