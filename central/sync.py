"""Central's sync worker on a transport port (``infra.mqtt``): stores edge events once,
acknowledges them, feeds changes down.

Up: an event batch is stored and applied in seq order by ``central.ingest``; a seq already
stored is a repeat and skipped; a gap stops the batch. The ack always names the highest
contiguous seq stored for the batch's edge database, so the edge resends exactly what is
missing. Down: a pull is answered from the change feed after the edge's checkpoint, and a poll
pushes new changes to nodes as soon as they are written. Messages are routed by type through
a handler table; malformed ones are logged and dropped; the worker keeps running.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time

from peewee import InterfaceError, OperationalError, fn

from central import bpjs_membership, bpjs_reports, feed, ingest, kpi_rollup, push, services
from central import db as central_db
from central.models import Change, Node, database, utcnow
from infra.config import warn_if_cleartext
from infra.mqtt import Message, Settings, Transport
from protocol import messages, topics

log = logging.getLogger(__name__)

STALL_S = 60.0
# Several sync workers (each its own broker user) share the edges' batches and pulls through one
# MQTT v5 shared subscription: each message goes to one of them. A node's batches may reach two
# workers at once; ingest locks the node's row and applies only the next contiguous seq, so they
# are applied in order and once. The retained kinds (presence, snapshot, health) are read by
# every worker on its own subscription: a shared one is never sent retained messages.
SHARE_GROUP = "rosma-sync"
SHARED_KINDS = (topics.UP_EVENTS, topics.UP_PULL)
OWN_KINDS = (topics.UP_STATUS, topics.UP_SNAPSHOT, topics.UP_HEALTH)


def up_filters(shared_subscriptions: bool = True) -> list[str]:
    """The worker's subscriptions: shared for batches and pulls, its own for the retained kinds.
    Without shared subscriptions (an MQTT 3.1.1 broker such as RabbitMQ 3.10: one worker) every
    kind is the worker's own."""
    every = topics.all_up_filter()  # rosma/v1/node/+/up/#
    if not shared_subscriptions:
        return [every]
    shared = topics.all_up_filter(SHARE_GROUP)
    return [shared[: -len("#")] + kind for kind in SHARED_KINDS] + [every[: -len("#")] + kind for kind in OWN_KINDS]


def mqtt_settings(config) -> Settings:
    """How central's sync worker connects to the broker (TLS when ``mqtt_ca`` is set)."""
    warn_if_cleartext(config.mqtt_host, config.mqtt_ca)
    return Settings(
        host=config.mqtt_host,
        port=config.mqtt_port,
        username=config.mqtt_username,
        password=config.mqtt_password,
        client_id=config.mqtt_username,
        tls_ca=config.mqtt_ca,
        tls_cert=config.mqtt_cert,
        tls_key=config.mqtt_key,
        protocol=config.mqtt_protocol,
    )


class CentralSync:
    """The worker; ``start()`` connects and runs in background threads until ``close()``."""

    POLL_S = 1.0
    ROLLUP_S = 60.0
    BPJS_S = 1.0
    MEMBERSHIP_S = 15.0

    def __init__(self, transport: Transport):
        self.transport = transport
        transport.on_connect = self._on_connect
        transport.on_disconnect = self._on_disconnect
        transport.on_message = self._on_message
        transport.on_refused = self._on_refused
        self.handlers = {
            messages.EventBatch: self._events,
            messages.PullRequest: self._pull,
            messages.Presence: self._presence,
            messages.QueueSnapshot: self._snapshot,
            messages.NodeStatus: self._health,
        }
        self.pushed: dict[int, int] = {}  # node pk -> highest change seq sent since connect
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.connected = threading.Event()
        self.alive_at = time.monotonic()
        self.poller = threading.Thread(target=self._poll, name="central-feed", daemon=True)
        self.rollup = threading.Thread(target=self._roll_up, name="central-kpi", daemon=True)
        self.bpjs = threading.Thread(target=self._report_bpjs, name="central-bpjs", daemon=True)
        self.membership = threading.Thread(target=self._recheck_membership, name="central-peserta", daemon=True)
        self.pusher = threading.Thread(target=self._send_push, name="central-push", daemon=True)

    def start(self) -> None:
        try:
            ingest.apply_deferred()
        except (OperationalError, InterfaceError) as exc:
            log.error("could not apply kept events at start-up: %s", exc)
            database.close()
        shared = getattr(getattr(self.transport, "settings", None), "protocol", 5) == 5  # $share is MQTT 5
        for topic_filter in up_filters(shared):
            self.transport.subscribe(topic_filter, qos=1)
        self.transport.start()
        self.poller.start()
        self.rollup.start()
        self.bpjs.start()
        self.membership.start()
        self.pusher.start()

    def problems(self) -> list[str]:
        """What is wrong (empty when healthy), for the systemd watchdog and the health page."""
        if not self.poller.is_alive() or time.monotonic() - self.alive_at > STALL_S:
            return ["sync worker is stuck or stopped"]
        try:
            database.execute_sql("SELECT 1")
        except (OperationalError, InterfaceError):
            database.close()
            return ["sync database does not answer"]
        if not central_db.schema_ok(database.obj):
            return ["database schema does not match this release"]
        return []

    def healthy(self) -> bool:
        return not self.problems()

    def close(self) -> None:
        self.stop.set()
        self.transport.stop()

    # ---- transport callbacks -------------------------------------------------------------
    def _on_connect(self) -> None:
        with self.lock:
            self.pushed.clear()
        self.connected.set()
        log.info("central sync connected")

    def _on_disconnect(self, reason: str) -> None:
        self.connected.clear()
        log.warning("central sync disconnected: %s", reason)

    def _on_refused(self, operation: str, topic: str, reason: str) -> None:
        log.error("the broker refused %s on %s: %s (check the central user's ACL)", operation, topic, reason)

    def _on_message(self, msg: Message) -> None:
        try:
            t = topics.parse(msg.topic)
            if t.direction != "up":
                return
            node = Node.live().where(Node.node_id == t.node_id).first()
            if node is None:
                log.warning("message from unknown node %s dropped", t.node_id)
                return
            body = messages.decode(t.kind, msg.payload)
            handler = self.handlers.get(type(body))
            if handler is None:
                raise messages.MessageError(f"{t.kind} is not for central")
            handler(node, body)
        except (OperationalError, InterfaceError) as exc:
            # the database went away (restart, network): drop this thread's connection so the
            # next message reconnects; the edge resends what was not acknowledged
            log.error("database error while handling %s: %s", msg.topic, exc)
            database.close()
        except (ValueError, KeyError, TypeError, messages.MessageError) as exc:
            log.warning("dropped a malformed message on %s: %s", msg.topic, exc)
        except Exception:
            log.exception("failed to handle a message on %s", msg.topic)

    # ---- handlers ------------------------------------------------------------------------
    def _events(self, node: Node, batch: messages.EventBatch) -> None:
        upto = ingest.apply_batch(node, batch)
        if batch.events:
            log.info(
                "node %s: events %d..%d received, stored up to %d",
                node.node_id,
                batch.events[0].seq,
                batch.events[-1].seq,
                upto,
            )
        self._publish(node, topics.DOWN_ACK, messages.Ack(upto, batch.incarnation))

    def _pull(self, node: Node, body: messages.PullRequest) -> None:
        self._send_changes(node, body.after)

    def _presence(self, node: Node, body: messages.Presence) -> None:
        now = utcnow()
        Node.update(online=body.online, last_seen=now, snapshot_rev=Node.snapshot_rev + 1).where(
            Node.id == node.id
        ).execute()
        # offline since the first "offline" heard (a retained repeat keeps the first time)
        if body.online:
            Node.update(offline_since=None).where(Node.id == node.id).execute()
        else:
            Node.update(offline_since=now).where((Node.id == node.id) & Node.offline_since.is_null()).execute()
        log.info("node %s is %s", node.node_id, "online" if body.online else "offline")

    def _snapshot(self, node: Node, body: messages.QueueSnapshot) -> None:
        Node.update(
            snapshot=json.dumps({"at": body.at, "queues": body.queues}),
            snapshot_rev=Node.snapshot_rev + 1,  # what the phone streams watch
            last_seen=utcnow(),
        ).where(Node.id == node.id).execute()

    def _health(self, node: Node, body: messages.NodeStatus) -> None:
        """Store the node's health for the fleet view, with its clock skew measured on receipt.

        A retained repeat (central restarted, the node is offline) keeps the skew measured when
        the message was new: it says nothing about the node's clock now.
        """
        now = utcnow()
        sent = dt.datetime.fromisoformat(body.at)
        sent = sent.astimezone(dt.UTC).replace(tzinfo=None) if sent.tzinfo else sent
        try:
            before = json.loads(node.status) if node.status else {}
        except ValueError:
            before = {}
        if before.get("at") == body.at and "skew_s" in before:
            skew, received = before["skew_s"], before.get("received_at", "")
        else:
            skew, received = round((sent - now).total_seconds(), 1), now.isoformat(timespec="seconds")
        stored = {
            "at": body.at,
            "version": body.version,
            "backlog": body.backlog,
            "oldest_s": body.oldest_s,
            "last_sync": body.last_sync,
            "uptime_s": body.uptime_s,
            "devices": body.devices,
            "skew_s": skew,
            "received_at": received,
        }
        Node.update(status=json.dumps(stored, ensure_ascii=False), status_at=now).where(Node.id == node.id).execute()

    def _send_changes(self, node: Node, after: int) -> None:
        rows, head = feed.changes_after(node, after)
        batch = messages.ChangeBatch(
            tuple(messages.ChangeRecord(c.seq, c.type, json.loads(c.data), c.v) for c in rows), head
        )
        self._publish(node, topics.DOWN_CHANGES, batch)
        with self.lock:
            self.pushed[node.id] = max(self.pushed.get(node.id, 0), rows[-1].seq if rows else after)

    def _publish(self, node: Node, kind: str, msg) -> None:
        self.transport.publish(topics.down(node.node_id, kind), messages.encode(msg), qos=1)

    def _poll(self) -> None:
        """Push changes written by the web process to online nodes.

        A node central has not talked to since it (re)connected gets an empty batch naming the
        head seq: an edge that is behind answers with a pull from its own checkpoint.
        """
        while not self.stop.wait(self.POLL_S):
            self.alive_at = time.monotonic()
            if not self.connected.is_set() or not self.transport.connected:
                continue
            try:
                self._push_new_changes()
            except (OperationalError, InterfaceError) as exc:
                log.error("database error in the change-feed poll: %s", exc)
                database.close()
            except Exception:
                log.exception("change-feed poll failed")

    def _roll_up(self) -> None:
        """Keep the kabupaten's KPI rollup current (``central.kpi_rollup``): at start, then
        every ``ROLLUP_S``. A report never waits for it (what is not built is read from visits)."""
        while True:
            try:
                kpi_rollup.refresh()
            except (OperationalError, InterfaceError) as exc:
                log.error("database error while building the KPI rollup: %s", exc)
                database.close()
            except Exception:
                log.exception("building the KPI rollup failed")
            if self.stop.wait(self.ROLLUP_S):
                return

    def _report_bpjs(self) -> None:
        """Send the due Antrean FKTP reports (``central.bpjs_reports``) every ``BPJS_S``; BPJS
        being down or slow only delays them (each row keeps its own retry time)."""
        while not self.stop.wait(self.BPJS_S):
            try:
                bpjs_reports.send_due()
            except (OperationalError, InterfaceError) as exc:
                log.error("database error while sending BPJS reports: %s", exc)
                database.close()
            except Exception:
                log.exception("sending BPJS reports failed")

    def _send_push(self) -> None:
        """Send the due Web Push notifications and WhatsApp / SMS reminders (``central.push``), and
        queue the day-before reminders, every ``BPJS_S``."""
        while not self.stop.wait(self.BPJS_S):
            try:
                push.send_due()
                push.remind_tomorrow(services.now_wib())
                push.send_reminders_due()
            except (OperationalError, InterfaceError) as exc:
                log.error("database error while sending push notifications: %s", exc)
                database.close()
            except Exception:
                log.exception("sending push notifications failed")

    def _recheck_membership(self) -> None:
        """Settle the BPJS bookings made while PCare could not be reached ("tertunda",
        ``central.bpjs_membership``): every ``MEMBERSHIP_S``, each at most once a minute."""
        while not self.stop.wait(self.MEMBERSHIP_S):
            try:
                bpjs_membership.recheck_pending(services.now_wib())
            except (OperationalError, InterfaceError) as exc:
                log.error("database error while checking BPJS memberships again: %s", exc)
                database.close()
            except Exception:
                log.exception("checking BPJS memberships again failed")

    def _push_new_changes(self) -> None:
        heads = dict(Change.select(Change.node, fn.MAX(Change.seq)).group_by(Change.node).tuples())
        with self.lock:
            watched = dict(self.pushed)
        for node in Node.live().where(Node.online | Node.id.in_(list(watched))):
            head = heads.get(node.id, 0)
            if node.id not in watched:
                self._publish(node, topics.DOWN_CHANGES, messages.ChangeBatch((), head))
                with self.lock:
                    self.pushed.setdefault(node.id, head)
            elif head > watched[node.id]:
                self._send_changes(node, watched[node.id])
