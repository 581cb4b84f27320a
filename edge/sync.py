"""The edge's MQTT sync client.

Up: outbox rows are published in seq order, one batch in flight at a time; only central's
ack (the highest seq it has stored) marks rows delivered, so a lost message, a broker crash or
a restart of either side just means the batch is sent again (central ignores repeats).
Down: on every connect the edge asks for the change feed after its checkpoint; changes are
applied in seq order, each batch with its checkpoint in one transaction, so a repeat or a gap
can never apply a change twice or skip one.
"""

from __future__ import annotations

import json
import logging
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from peewee import fn

from edge.bus import Bus
from edge.config import EdgeConfig
from edge.models import Outbox, Reservation, SyncState, database
from protocol import messages, topics

log = logging.getLogger(__name__)

BATCH = 100
ACK_TIMEOUT_S = 10.0
PULL_EVERY_S = 300.0


def get_state(key: str, default: str = "0") -> str:
    row = SyncState.get_or_none(SyncState.key == key)
    return row.value if row else default


def set_state(key: str, value: str) -> None:
    SyncState.insert(key=key, value=value).on_conflict(
        conflict_target=[SyncState.key], update={SyncState.value: value}
    ).execute()


class SyncClient:
    def __init__(self, config: EdgeConfig, bus: Bus, status, board=None):
        self.config = config
        self.board = board  # callable returning the public queue board, published as a snapshot
        self.bus = bus
        self.status = status
        self.node = config.node_id
        self.connected = threading.Event()
        self.wake = threading.Event()
        self.stop = threading.Event()
        self.in_flight_until = 0.0  # seq of the batch in flight (0: none)
        self.in_flight_at = 0.0
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.node, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(config.mqtt_username or self.node, config.mqtt_password)
        self.client.will_set(
            topics.up(self.node, topics.UP_STATUS), messages.encode(messages.Presence(False)), qos=1, retain=True
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=15)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.thread = threading.Thread(target=self._pump, name="sync", daemon=True)
        self.bus_thread = threading.Thread(target=self._watch_bus, name="sync-bus", daemon=True)

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self.status.set("sync", False, "Belum terhubung ke server pusat")
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 86400
        self.client.connect_async(
            self.config.mqtt_host, self.config.mqtt_port, keepalive=20, clean_start=False, properties=props
        )
        self.client.loop_start()
        self.thread.start()
        self.bus_thread.start()

    def close(self) -> None:
        self.stop.set()
        self.wake.set()
        if self.connected.is_set():
            self.client.publish(
                topics.up(self.node, topics.UP_STATUS), messages.encode(messages.Presence(False)), qos=1, retain=True
            )
        self.client.disconnect()
        self.client.loop_stop()

    # ---- MQTT callbacks (paho's network thread) ------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            self.status.set("sync", False, "Server pusat menolak koneksi (cek kredensial)")
            return
        log.info("connected to the broker")
        client.subscribe(topics.node_down_filter(self.node), qos=1)
        client.publish(
            topics.up(self.node, topics.UP_STATUS), messages.encode(messages.Presence(True)), qos=1, retain=True
        )
        self._pull()
        with self.lock:
            self.in_flight_until = 0
        self.connected.set()
        self.status.set("sync", True, "Terhubung ke server pusat")
        self.wake.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.connected.clear()
        log.warning("disconnected from the broker: %s", reason_code)
        self.status.set("sync", False, "Terputus dari server pusat; antrian tetap berjalan")

    def _on_message(self, client, userdata, msg):
        try:
            topic = topics.parse(msg.topic)
            if topic.node_id != self.node or topic.direction != "down":
                raise messages.MessageError("not addressed to this node")
            body = messages.decode(topic.kind, msg.payload)
            if isinstance(body, messages.Ack):
                self._acked(body.upto)
            elif isinstance(body, messages.ChangeBatch):
                self._apply_changes(body)
        except (ValueError, messages.MessageError) as exc:
            log.warning("dropped a malformed message on %s: %s", msg.topic, exc)
        except Exception:
            log.exception("failed to handle a message on %s", msg.topic)

    # ---- down: change feed ---------------------------------------------------------------
    def _pull(self) -> None:
        after = int(get_state("change_seq"))
        self.client.publish(topics.up(self.node, topics.UP_PULL), messages.encode(messages.PullRequest(after)), qos=1)

    def _apply_changes(self, batch: messages.ChangeBatch) -> None:
        applied = 0
        gap = False
        with database.atomic("IMMEDIATE"):
            last = int(get_state("change_seq"))
            for ch in batch.changes:
                if ch.seq <= last:
                    continue
                if ch.seq != last + 1:
                    gap = True
                    break
                if ch.type == messages.RESERVATION_UPSERT:
                    self._upsert_reservation(ch.data)
                last = ch.seq
                applied += 1
            set_state("change_seq", str(last))
        if applied:
            log.info("applied %d changes (checkpoint %d)", applied, last)
            self.bus.publish({"type": "reservations"})
        if gap or batch.head > last:
            self._pull()

    @staticmethod
    def _upsert_reservation(d: dict) -> None:
        fields = {k: str(d[k]) for k in ("poli", "date", "slot", "payer", "status")}
        Reservation.insert(rid=str(d["rid"]), **fields).on_conflict(
            conflict_target=[Reservation.rid], update=fields
        ).execute()

    # ---- up: outbox ----------------------------------------------------------------------
    def _acked(self, upto: int) -> None:
        highest = Outbox.select(fn.MAX(Outbox.seq)).scalar() or 0
        if upto > highest:
            # central has more of this node than the node ever wrote: it is a different node
            # behind the same id (re-provisioned without a fresh record). Never mark on that.
            log.error("central acknowledged seq %d but the outbox ends at %d; not marking anything", upto, highest)
            self.status.set("sync", False, "Server pusat mencatat node ini berbeda; hubungi admin Dinkes")
            return
        with database.atomic("IMMEDIATE"):
            n = Outbox.update(delivered=True).where((Outbox.seq <= upto) & (~Outbox.delivered)).execute()
        with self.lock:
            if upto >= self.in_flight_until:
                self.in_flight_until = 0
        if n:
            log.info("central acknowledged events up to %d", upto)
        self.wake.set()

    def _watch_bus(self) -> None:
        sub = self.bus.subscribe()
        while not self.stop.is_set():
            ev = sub.get(timeout=1.0)
            if ev and ev.get("type") == "outbox":
                self.wake.set()
            if ev and ev.get("type") == "queue" and self.board is not None:
                self.publish_snapshot(self.board())

    def _pump(self) -> None:
        last_pull = time.monotonic()
        while not self.stop.is_set():
            self.wake.wait(timeout=2.0)
            self.wake.clear()
            if not self.connected.is_set():
                continue
            if time.monotonic() - last_pull > PULL_EVERY_S:  # safety net besides central's pushes
                self._pull()
                last_pull = time.monotonic()
            try:
                self._send_batch()
            except Exception:
                log.exception("outbox pump failed")

    def _send_batch(self) -> None:
        with self.lock:
            if self.in_flight_until and time.monotonic() - self.in_flight_at < ACK_TIMEOUT_S:
                return
        rows = list(Outbox.select().where(~Outbox.delivered).order_by(Outbox.seq).limit(BATCH))
        if not rows:
            return
        batch = messages.EventBatch(tuple(messages.EventRecord(r.seq, r.type, r.at, json.loads(r.data)) for r in rows))
        info = self.client.publish(topics.up(self.node, topics.UP_EVENTS), messages.encode(batch), qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning("could not publish events (rc=%s); will retry", info.rc)
            return
        with self.lock:
            self.in_flight_until = rows[-1].seq
            self.in_flight_at = time.monotonic()
        log.info("sent events %d..%d", rows[0].seq, rows[-1].seq)

    def publish_snapshot(self, board: dict) -> None:
        """Publish the live queue board (retained) for patients' phones."""
        if self.connected.is_set():
            msg = messages.QueueSnapshot(board["day"], [board])
            self.client.publish(topics.up(self.node, topics.UP_SNAPSHOT), messages.encode(msg), qos=0, retain=True)

    def pending(self) -> int:
        return Outbox.select().where(~Outbox.delivered).count()
