"""Central's MQTT sync worker: stores edge events once, acknowledges them, feeds changes down.

Up: an event batch is applied in seq order; a seq already stored is a repeat and skipped; a
gap stops the batch. The ack always names the highest contiguous seq stored, so the edge
resends exactly what is missing. Down: a pull is answered from the change feed after the
edge's checkpoint, and a poll pushes new changes to nodes as soon as they are written.
Malformed messages are logged and dropped; the worker keeps running.
"""

from __future__ import annotations

import json
import logging
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from peewee import InterfaceError, OperationalError, fn

from central import feed
from central.models import Change, EdgeEvent, Node, Reservation, Visit, database, utcnow
from protocol import messages, topics

log = logging.getLogger(__name__)


def apply_batch(node: Node, batch: messages.EventBatch) -> int:
    """Store and apply a batch for ``node``; returns the node's contiguous up_seq afterwards."""
    with database.atomic():
        node = Node.get_by_id(node.id)
        last = node.up_seq
        for ev in batch.events:
            if ev.seq <= last:
                continue
            if ev.seq != last + 1:
                log.info("node %s: gap at seq %d (have %d); waiting for resend", node.node_id, ev.seq, last)
                break
            EdgeEvent.create(node=node, seq=ev.seq, type=ev.type, at=ev.at, data=json.dumps(ev.data))
            _apply_event(node, ev)
            last = ev.seq
        if last != node.up_seq:
            Node.update(up_seq=last, last_seen=utcnow()).where(Node.id == node.id).execute()
    return last


def _apply_event(node: Node, ev: messages.EventRecord) -> None:
    d = ev.data
    if ev.type == messages.TICKET_ISSUED:
        Visit.insert(
            node=node,
            ticket_key=d["ticket"],
            puskesmas=node.puskesmas_id,
            label=d["label"],
            queue=d["queue"],
            poli=d.get("poli"),
            payer=d["payer"],
            rid=d.get("rid"),
            day=d["day"],
            issued_at=d["issued_at"],
        ).on_conflict_ignore().execute()
        return
    if ev.type == messages.RESERVATION_CHECKED_IN:
        Reservation.update(status="checked_in", checked_in_at=utcnow(), ticket_label=d.get("label")).where(
            (Reservation.rid == d["rid"]) & (Reservation.puskesmas == node.puskesmas_id)
        ).execute()
        return
    visit = Visit.get_or_none((Visit.node == node) & (Visit.ticket_key == d["ticket"]))
    if visit is None:
        log.warning("node %s: event %s for an unknown ticket", node.node_id, ev.type)
        return
    if ev.type == messages.TICKET_CALLED:
        visit.called_at = visit.called_at or d["at"]
        visit.destination = d.get("destination")
        visit.state = "called"
    elif ev.type == messages.TICKET_DONE:
        visit.done_at, visit.state = d["at"], "done"
        if visit.rid:
            Reservation.update(status="done").where(Reservation.rid == visit.rid).execute()
    elif ev.type == messages.TICKET_SERVING:
        visit.serving_at, visit.state = d["at"], "serving"
    elif ev.type == messages.TICKET_NO_SHOW:
        visit.done_at, visit.state = d["at"], "no_show"
    elif ev.type == messages.TICKET_CANCELLED:
        visit.done_at, visit.state = d["at"], "cancelled"
    elif ev.type == messages.TICKET_TRANSFERRED:
        visit.done_at, visit.state = d["at"], "transferred"
    visit.save()


class CentralSync:
    """The worker; ``start()`` connects and runs in background threads until ``close()``."""

    POLL_S = 1.0

    def __init__(self, host: str, port: int, username: str, password: str, client_id: str | None = None):
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or username, protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=15)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.host, self.port = host, port
        self.pushed: dict[int, int] = {}  # node pk -> highest change seq sent since connect
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.connected = threading.Event()
        self.poller = threading.Thread(target=self._poll, name="central-feed", daemon=True)

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 86400
        # clean_start=False on every connect: Mosquitto keeps the session across its restarts
        self.client.connect_async(self.host, self.port, keepalive=20, clean_start=False, properties=props)
        self.client.loop_start()
        self.poller.start()

    def healthy(self) -> bool:
        """True while the poller runs and the database answers (for the systemd watchdog)."""
        if not self.poller.is_alive():
            return False
        try:
            database.execute_sql("SELECT 1")
            return True
        except (OperationalError, InterfaceError):
            database.close()
            return False

    def close(self) -> None:
        self.stop.set()
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("broker refused central: %s", reason_code)
            return
        client.subscribe(topics.all_up_filter(), qos=1)
        with self.lock:
            self.pushed.clear()
        self.connected.set()
        log.info("central sync connected")

    def _on_message(self, client, userdata, msg):
        try:
            t = topics.parse(msg.topic)
            if t.direction != "up":
                return
            node = Node.get_or_none(Node.node_id == t.node_id)
            if node is None:
                log.warning("message from unknown node %s dropped", t.node_id)
                return
            body = messages.decode(t.kind, msg.payload)
            self._handle(node, body)
        except (OperationalError, InterfaceError) as exc:
            # the database went away (restart, network): drop this thread's connection so the
            # next message reconnects; the edge resends what was not acknowledged
            log.error("database error while handling %s: %s", msg.topic, exc)
            database.close()
        except (ValueError, KeyError, TypeError, messages.MessageError) as exc:
            log.warning("dropped a malformed message on %s: %s", msg.topic, exc)
        except Exception:
            log.exception("failed to handle a message on %s", msg.topic)

    def _handle(self, node: Node, body) -> None:
        if isinstance(body, messages.EventBatch):
            upto = apply_batch(node, body)
            self._publish(node, topics.DOWN_ACK, messages.Ack(upto))
        elif isinstance(body, messages.PullRequest):
            self._send_changes(node, body.after)
        elif isinstance(body, messages.Presence):
            Node.update(online=body.online, last_seen=utcnow()).where(Node.id == node.id).execute()
            log.info("node %s is %s", node.node_id, "online" if body.online else "offline")
        elif isinstance(body, messages.QueueSnapshot):
            Node.update(snapshot=json.dumps({"at": body.at, "queues": body.queues}), last_seen=utcnow()).where(
                Node.id == node.id
            ).execute()

    def _send_changes(self, node: Node, after: int) -> None:
        rows, head = feed.changes_after(node, after)
        batch = messages.ChangeBatch(
            tuple(messages.ChangeRecord(c.seq, c.type, json.loads(c.data)) for c in rows), head
        )
        self._publish(node, topics.DOWN_CHANGES, batch)
        with self.lock:
            self.pushed[node.id] = max(self.pushed.get(node.id, 0), rows[-1].seq if rows else after)

    def _publish(self, node: Node, kind: str, msg) -> None:
        self.client.publish(topics.down(node.node_id, kind), messages.encode(msg), qos=1)

    def _poll(self) -> None:
        """Push changes written by the web process to online nodes.

        A node central has not talked to since it (re)connected gets an empty batch naming the
        head seq: an edge that is behind answers with a pull from its own checkpoint.
        """
        while not self.stop.wait(self.POLL_S):
            if not self.connected.is_set() or not self.client.is_connected():
                continue
            try:
                self._push_new_changes()
            except (OperationalError, InterfaceError) as exc:
                log.error("database error in the change-feed poll: %s", exc)
                database.close()
            except Exception:
                log.exception("change-feed poll failed")

    def _push_new_changes(self) -> None:
        heads = dict(Change.select(Change.node, fn.MAX(Change.seq)).group_by(Change.node).tuples())
        with self.lock:
            watched = dict(self.pushed)
        for node in Node.select().where(Node.online | Node.id.in_(list(watched))):
            head = heads.get(node.id, 0)
            if node.id not in watched:
                self._publish(node, topics.DOWN_CHANGES, messages.ChangeBatch((), head))
                with self.lock:
                    self.pushed.setdefault(node.id, head)
            elif head > watched[node.id]:
                self._send_changes(node, watched[node.id])
