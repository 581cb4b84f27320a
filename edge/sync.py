"""The edge's sync client, on a transport port (``infra.mqtt``: Mosquitto through paho in
production, an in-memory broker in unit tests).

Up: outbox rows (typed events) are published in seq order, up to ``WINDOW`` batches in flight,
tagged with this database's incarnation; only central's ack (cumulative: the highest seq it has
stored for that incarnation) marks rows delivered, so a lost message, a broker crash or a
restart of either side just means the rows are sent again (central ignores repeats). What is in
flight is sent again from the first unacknowledged row when no ack has moved on for a timeout
that follows the acks' own pace (``ACK_FACTOR`` times the time an ack takes, at least
``ACK_MIN_S``; ``ACK_TIMEOUT_S`` before one was timed), so a busy central is not sent its work
twice.
Down: on every connect the edge asks for the change feed after its checkpoint; changes are
applied in seq order, each batch with its checkpoint in one transaction, so a repeat or a gap
can never apply a change twice or skip one. A change of a type this release does not know is
kept and applied after the node's upgrade; the feed never stalls on it.
Live: on every (re)connect, and after every queue change, the node publishes its retained
presence and queue snapshot, so the patients' phone page is right again at once.
Health: its retained ``NodeStatus`` (software version, clock, outbox backlog, last sync,
printer / scanner / audio) for the fleet view, on connect, when a device changes, soon after
the backlog changes and at least every ``HEALTH_EVERY_S`` while connected.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from importlib import metadata

from peewee import fn

from edge import state
from edge.bus import Bus
from edge.config import MAX_LOKETS, POLI_CODE_RE, PREFIX_RE, REGISTRATION_PREFIXES, EdgeConfig
from edge.models import (
    CheckIn,
    ClosedDay,
    DeferredChange,
    Outbox,
    Poli,
    QrKey,
    Reservation,
    Site,
    Staff,
    StaffSession,
    database,
)
from edge.notices import DeviceChanged, ReservationsChanged
from infra.mqtt import Message, Transport
from protocol import changes, events, messages, topics
from protocol.changes import (
    HolidayChanged,
    PoliChanged,
    QrKeyChanged,
    ReservationChanged,
    SiteChanged,
    StaffChanged,
)
from protocol.clock import WIB

log = logging.getLogger(__name__)

BATCH = 100
WINDOW = 4  # batches in flight at once
ACK_TIMEOUT_S = 30.0  # until an ack was timed: a reconnect storm queues first acks for seconds,
# and a batch nobody got is known at once (PUBACK 16), so this only covers a message lost on the way
ACK_MIN_S = 3.0  # the adapted timeout is never shorter
ACK_FACTOR = 3.0  # times the time an ack takes
# Events the broker gave to no one (no sync worker subscribed): one batch is sent again this soon,
# then twice as late each time nobody hears it, up to the cap, until central speaks again.
UNHEARD_RETRY_S = 0.5
UNHEARD_RETRY_MAX_S = 30.0
PULL_EVERY_S = 300.0
STALL_S = 60.0  # a sync thread that has not looped for this long is stuck (watchdog)
HEALTH_EVERY_S = 60.0  # the node's health is published at least this often while connected
HEALTH_GAP_S = 5.0  # and a backlog change at most this often
LAST_SYNC = "last_sync"  # edge.state key: when central last answered (ISO, WIB)


def software_version() -> str:
    """This release's version, as installed."""
    try:
        return metadata.version("rosma")
    except metadata.PackageNotFoundError:
        return "0"


def _one_line(text) -> str:
    """A text for one line on the TV: control characters (a line break too) become spaces."""
    return "".join(" " if ord(c) < 32 or 127 <= ord(c) < 160 else c for c in str(text or "")).strip()


class SyncClient:
    def __init__(self, config: EdgeConfig, bus: Bus, status, transport: Transport, board=None, change_registry=None):
        self.config = config
        self.board = board  # callable returning the public queue board, published as a snapshot
        self.bus = bus
        self.status = status
        self.node = config.node_id
        self.transport = transport
        self.incarnation = state.incarnation()
        self.connected = threading.Event()
        self.wake = threading.Event()
        self.stop = threading.Event()
        self.in_flight: list[tuple[int, int, float]] = []  # (first seq, last seq, monotonic sent) per batch
        self.progress_at = 0.0  # monotonic: the last ack that moved on (or the oldest batch's send)
        self.ack_s = 0.0  # how long an ack takes, smoothed (0: not timed yet)
        self.resends = 0  # batches sent again after a timeout
        self.unheard = 0  # event batches the broker gave to no one
        self.retry_at = 0.0  # monotonic: not before this are batches sent again after nobody heard them
        self.retry_s = 0.0  # the delay of the next such retry (0: central was heard last)
        self.clock = time.monotonic  # of the ack timing (tests move it)
        self.lock = threading.Lock()
        self.alive_at = {"sync": time.monotonic(), "sync-bus": time.monotonic()}
        self.started_at = time.monotonic()
        self.health_at = 0.0  # monotonic time of the last health published (0: none yet)
        self.health_dirty = threading.Event()  # the backlog or last sync changed since then
        self.handlers = {messages.Ack: self._acked, messages.ChangeBatch: self._apply_changes}
        self.change_handlers = {
            ReservationChanged: self._upsert_reservation,
            StaffChanged: self._upsert_staff,
            QrKeyChanged: self._upsert_key,
            SiteChanged: self._upsert_site,
            PoliChanged: self._upsert_poli,
            HolidayChanged: self._upsert_holiday,
        }
        self.change_registry = change_registry  # the change types this release knows (tests play an older one)
        transport.on_connect = self._on_connect
        transport.on_disconnect = self._on_disconnect
        transport.on_message = self._on_message
        transport.on_refused = self._on_refused
        transport.on_unheard = self._on_unheard
        self.threads = [
            threading.Thread(target=self._pump, name="sync", daemon=True),
            threading.Thread(target=self._watch_bus, name="sync-bus", daemon=True),
        ]

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self, threads: bool = True) -> None:
        """Connect and run; ``threads=False`` leaves the pump and bus watcher to the caller (tests)."""
        self.status.set("sync", False, "Belum terhubung ke server pusat")
        self.apply_deferred()
        self.transport.subscribe(topics.node_down_filter(self.node), qos=1)
        self.transport.start()
        if threads:
            for t in self.threads:
                t.start()

    def close(self) -> None:
        self.stop.set()
        self.wake.set()
        if self.connected.is_set():
            self._publish(topics.UP_STATUS, messages.Presence(False), retain=True)
        self.transport.stop()

    def healthy(self, now: float | None = None) -> bool:
        """Both sync threads run and have looped recently (for the watchdog)."""
        now = time.monotonic() if now is None else now
        return all(t.is_alive() for t in self.threads) and all(now - at < STALL_S for at in self.alive_at.values())

    # ---- transport callbacks (the transport's thread) ------------------------------------
    def _on_connect(self) -> None:
        log.info("connected to the broker")
        self._publish(topics.UP_STATUS, messages.Presence(True), retain=True)
        self.publish_snapshot()
        self.publish_health()
        self._pull()
        with self.lock:
            self.in_flight = []  # what was in flight may be lost with the connection: sent again
        self.connected.set()
        self.status.set("sync", True, "Terhubung ke server pusat")
        self.wake.set()

    def _on_disconnect(self, reason: str) -> None:
        self.connected.clear()
        log.warning("disconnected from the broker: %s", reason)
        self.status.set("sync", False, "Terputus dari server pusat; antrean tetap berjalan")

    def _on_refused(self, operation: str, topic: str, reason: str) -> None:
        log.error("the broker refused %s on %s: %s (check this node's broker ACL)", operation, topic, reason)
        self.status.set("sync", False, "Server pusat menolak pesan dari node ini; hubungi admin Dinkes")

    def _on_unheard(self, topic: str) -> None:
        """A batch reached no sync worker (central's workers are down or, after a broker restart,
        not yet subscribed again: Mosquitto does not keep shared subscriptions across a restart).
        Nothing is on its way, so waiting for its ack timeout would only stall the backlog: what
        is in flight is forgotten and sent again shortly, or as soon as central speaks."""
        if not topic.endswith("/" + topics.UP_EVENTS):
            return  # a pull is repeated by central's first push; presence, health, snapshot are retained
        with self.lock:
            self.unheard += 1
            if self.in_flight:
                log.info(
                    "no sync worker got events %d..%d; sending them again", self.in_flight[0][0], self.in_flight[-1][1]
                )
            self.in_flight = []
            now = self.clock()
            if not self.retry_s:
                self.retry_s = UNHEARD_RETRY_S
            elif now >= self.retry_at:  # the probe was not heard either (not the rest of one burst)
                self.retry_s = min(UNHEARD_RETRY_MAX_S, self.retry_s * 2)
            else:
                return
            self.retry_at = now + self.retry_s
        self.wake.set()

    def _on_message(self, msg: Message) -> None:
        try:
            topic = topics.parse(msg.topic)
            if topic.node_id != self.node or topic.direction != "down":
                raise messages.MessageError("not addressed to this node")
            body = messages.decode(topic.kind, msg.payload)
            handler = self.handlers.get(type(body))
            if handler is None:
                raise messages.MessageError(f"{topic.kind} is not for an edge")
            with self.lock:
                self.retry_at = self.retry_s = 0.0  # central is listening again
            self.wake.set()
            handler(body)
            self._synced()
        except (ValueError, messages.MessageError) as exc:
            log.warning("dropped a malformed message on %s: %s", msg.topic, exc)
        except Exception:
            log.exception("failed to handle a message on %s", msg.topic)

    def _publish(self, kind: str, msg, qos: int = 1, retain: bool = False) -> bool:
        return self.transport.publish(topics.up(self.node, kind), messages.encode(msg), qos=qos, retain=retain)

    # ---- down: change feed ---------------------------------------------------------------
    def _pull(self) -> None:
        self._publish(topics.UP_PULL, messages.PullRequest(state.change_seq()))

    def _apply_changes(self, batch: messages.ChangeBatch) -> None:
        applied = 0
        gap = False
        with database.atomic("IMMEDIATE"):
            last = state.change_seq()
            for ch in batch.changes:
                if ch.seq <= last:
                    continue
                if ch.seq != last + 1:
                    gap = True
                    break
                self._apply_change(ch)
                last = ch.seq
                applied += 1
            state.put(state.CHANGE_SEQ, str(last))
        if applied:
            log.info("applied %d changes (checkpoint %d)", applied, last)
            self.bus.publish(ReservationsChanged(applied))
            self.publish_snapshot()  # queue names and poli may have changed (the phones' board)
        if gap or batch.head > last:
            self._pull()

    def _apply_change(self, record: messages.ChangeRecord) -> None:
        try:
            change = changes.from_data(record.type, record.data, record.v, self.change_registry)
        except events.UnknownEvent:
            log.warning(
                "change %d is of a type this release does not know (%s); kept for after the upgrade",
                record.seq,
                record.type,
            )
            DeferredChange.insert(
                seq=record.seq, type=record.type, v=record.v, data=json.dumps(record.data)
            ).on_conflict_ignore().execute()
            return
        except events.EventError as exc:
            log.error("change %d is malformed and was skipped: %s", record.seq, exc)
            return
        self.change_handlers[type(change)](change)

    def apply_deferred(self) -> int:
        """Apply the kept changes this release now knows (after an upgrade); returns how many."""
        done = 0
        for row in DeferredChange.select().order_by(DeferredChange.seq):
            try:
                change = changes.from_data(row.type, json.loads(row.data), row.v, self.change_registry)
            except events.UnknownEvent:
                continue
            except events.EventError as exc:
                log.error("kept change %d is malformed and was dropped: %s", row.seq, exc)
                row.delete_instance()
                continue
            with database.atomic("IMMEDIATE"):
                self.change_handlers[type(change)](change)
                row.delete_instance()
            done += 1
        if done:
            log.info("applied %d changes kept from before the upgrade", done)
        return done

    @staticmethod
    def _upsert_reservation(change: ReservationChanged) -> None:
        fields = {
            "poli": change.poli,
            "date": change.date,
            "slot": change.slot,
            "payer": change.payer,
            "status": change.status,
            "idents": change.idents,
            "membership": change.membership,
        }
        if change.status == "cancelled" and CheckIn.select().where(CheckIn.rid == change.rid).exists():
            log.info("a reservation checked in here was cancelled at central; the check-in stands")
        Reservation.insert(rid=change.rid, **fields).on_conflict(
            conflict_target=[Reservation.rid], update=fields
        ).execute()

    @staticmethod
    def _upsert_staff(change: StaffChanged) -> None:
        fields = {
            "name": change.name,
            "role": change.role,
            "polis": change.polis,
            "password_hash": change.password_hash,
            "active": change.active,
        }
        Staff.insert(username=change.username, **fields).on_conflict(
            conflict_target=[Staff.username], update=fields
        ).execute()
        if not change.active:
            StaffSession.update(revoked=True).where(StaffSession.username == change.username).execute()

    @staticmethod
    def _upsert_key(change: QrKeyChanged) -> None:
        fields = {"public_b64": change.public_key, "trusted_until": change.trusted_until}
        QrKey.insert(kid=change.kid, **fields).on_conflict(conflict_target=[QrKey.kid], update=fields).execute()
        log.info("QR key %s trusted%s", change.kid, f" until {change.trusted_until}" if change.trusted_until else "")

    # The back office's site, poli and closed days: upserts (a repeat changes nothing), applied in
    # the batch's transaction with the checkpoint; the pages read them on every request.
    @staticmethod
    def _upsert_site(change: SiteChanged) -> None:
        fields = {
            "name": change.name.strip()[:120],
            "address": change.address.strip()[:250],
            "phone": change.phone.strip()[:40],
            "hours": change.hours.strip()[:200],
            "lokets": change.lokets,
            "running_text": _one_line(change.running_text)[:200],
        }
        if not isinstance(change.lokets, int) or not 1 <= change.lokets <= MAX_LOKETS:
            log.error("site change with %r lokets ignored (must be 1..%d)", change.lokets, MAX_LOKETS)
            return
        if not fields["name"]:
            log.error("site change without a name ignored")
            return
        Site.insert(id=1, **fields).on_conflict(conflict_target=[Site.id], update=fields).execute()
        log.info("site details from central: %s, %d loket", fields["name"], change.lokets)

    @staticmethod
    def _upsert_poli(change: PoliChanged) -> None:
        name = change.name.strip()
        if not POLI_CODE_RE.match(change.code) or not PREFIX_RE.match(change.prefix) or not name:
            log.error("poli change %r ignored: bad code, prefix or name", change.code)
            return
        if change.prefix in REGISTRATION_PREFIXES:
            log.error("poli change %r ignored: prefix %s is the registration queues'", change.code, change.prefix)
            return
        fields = {"name": name[:80], "prefix": change.prefix, "active": bool(change.active), "order": change.order}
        Poli.insert(code=change.code, **fields).on_conflict(conflict_target=[Poli.code], update=fields).execute()
        log.info("poli %s from central (%s)", change.code, "active" if change.active else "inactive")

    @staticmethod
    def _upsert_holiday(change: HolidayChanged) -> None:
        try:
            day = dt.date.fromisoformat(change.date).isoformat()
        except (TypeError, ValueError):
            log.error("closed-day change with date %r ignored", change.date)
            return
        fields = {"name": change.name.strip()[:120] or "Hari libur", "closed": bool(change.closed)}
        ClosedDay.insert(date=day, **fields).on_conflict(conflict_target=[ClosedDay.date], update=fields).execute()

    # ---- up: outbox ----------------------------------------------------------------------
    def _acked(self, ack: messages.Ack) -> None:
        if ack.incarnation and ack.incarnation != self.incarnation:
            log.warning("ignored an ack for another database of this node (%s)", ack.incarnation)
            return
        highest = Outbox.select(fn.MAX(Outbox.seq)).scalar() or 0
        if ack.upto > highest:
            # central has more of this node than the node ever wrote: it is a different node
            # behind the same id (re-provisioned without a fresh record). Never mark on that.
            log.error("central acknowledged seq %d but the outbox ends at %d; not marking anything", ack.upto, highest)
            self.status.set("sync", False, "Server pusat mencatat node ini berbeda; hubungi admin Dinkes")
            return
        with database.atomic("IMMEDIATE"):
            n = Outbox.update(delivered=True).where((Outbox.seq <= ack.upto) & (~Outbox.delivered)).execute()
        now = self.clock()
        with self.lock:
            done = [b for b in self.in_flight if b[1] <= ack.upto]
            if done:
                sample = now - done[-1][2]
                self.ack_s = sample if not self.ack_s else 0.7 * self.ack_s + 0.3 * sample
                self.in_flight = self.in_flight[len(done) :]
                self.progress_at = now
        if n:
            log.info("central acknowledged events up to %d", ack.upto)
        self.wake.set()

    def _watch_bus(self) -> None:
        sub = self.bus.subscribe(events.Event, DeviceChanged)
        while not self.stop.is_set():
            self.alive_at["sync-bus"] = time.monotonic()
            posted = sub.get(timeout=1.0)
            if posted is None:
                continue
            if isinstance(posted.message, DeviceChanged):
                if posted.message.device in messages.DEVICE_NAMES:
                    self.publish_health()
                continue
            self.health_dirty.set()  # a new outbox row
            self.wake.set()
            self.publish_snapshot()

    def _pump(self) -> None:
        last_pull = time.monotonic()
        while not self.stop.is_set():
            self.alive_at["sync"] = time.monotonic()
            with self.lock:
                retry_in = self.retry_at - self.clock()  # a batch nobody heard is due again
            self.wake.wait(timeout=min(2.0, retry_in) if retry_in > 0 else 2.0)
            self.wake.clear()
            if not self.connected.is_set():
                continue
            if time.monotonic() - last_pull > PULL_EVERY_S:  # safety net besides central's pushes
                self._pull()
                last_pull = time.monotonic()
            try:
                while self.send_batch():  # fill the window
                    pass
            except Exception:
                log.exception("outbox pump failed")
            since = time.monotonic() - self.health_at
            if since >= HEALTH_EVERY_S or (self.health_dirty.is_set() and since >= HEALTH_GAP_S):
                self.publish_health()

    def ack_timeout(self) -> float:
        """Seconds without an ack moving on before what is in flight is sent again."""
        with self.lock:
            timed = self.ack_s
        return max(ACK_MIN_S, ACK_FACTOR * timed) if timed else ACK_TIMEOUT_S

    def send_batch(self) -> bool:
        """Publish the next batch of undelivered rows if the window has room; True if sent.

        When no ack has moved on for ``ack_timeout()``, the batches in flight are forgotten and
        sending starts again at the first undelivered row."""
        timeout = self.ack_timeout()
        now = self.clock()
        with self.lock:
            if self.in_flight and now - max(self.progress_at, self.in_flight[0][2]) >= timeout:
                log.warning(
                    "no ack for events %d..%d in %.1f s; sending them again",
                    self.in_flight[0][0],
                    self.in_flight[-1][1],
                    timeout,
                )
                self.resends += len(self.in_flight)
                self.in_flight = []
            if self.retry_s and (self.in_flight or now < self.retry_at):
                return False  # nobody heard the last batch: one at a time, after the delay
            if len(self.in_flight) >= WINDOW:
                return False
            after = self.in_flight[-1][1] if self.in_flight else 0
        rows = list(Outbox.select().where(~Outbox.delivered & (Outbox.seq > after)).order_by(Outbox.seq).limit(BATCH))
        if not rows:
            return False
        batch = messages.EventBatch(
            tuple(messages.EventRecord(r.seq, r.type, r.at, json.loads(r.data), r.v) for r in rows), self.incarnation
        )
        entry = (rows[0].seq, rows[-1].seq, self.clock())
        with self.lock:  # in flight before it is sent: its PUBACK or ack may come back at once
            if not self.in_flight:
                self.progress_at = entry[2]
            self.in_flight.append(entry)
        if not self._publish(topics.UP_EVENTS, batch):
            with self.lock:
                if entry in self.in_flight:
                    self.in_flight.remove(entry)
            log.warning("could not publish events; will retry")
            return False
        log.info("sent events %d..%d", rows[0].seq, rows[-1].seq)
        return True

    def publish_snapshot(self) -> None:
        """Publish the live queue board (retained) for patients' phones."""
        if self.board is None or not self.transport.connected:
            return
        board = {**self.board(), "at": dt.datetime.now(WIB).isoformat(timespec="seconds")}  # phones: "data pukul …"
        self._publish(topics.UP_SNAPSHOT, messages.QueueSnapshot(board["day"], [board]), qos=0, retain=True)

    def pending(self) -> int:
        return Outbox.select().where(~Outbox.delivered).count()

    # ---- health (fleet view) -------------------------------------------------------------
    def _synced(self) -> None:
        """Central answered: remember when (kept across restarts)."""
        state.put(LAST_SYNC, dt.datetime.now(WIB).isoformat(timespec="seconds"))
        self.health_dirty.set()

    def health(self) -> messages.NodeStatus:
        """This node's health now: no patient, ticket or staff data."""
        now = dt.datetime.now(WIB)
        backlog = self.pending()
        oldest_s = 0
        oldest = Outbox.select(Outbox.at).where(~Outbox.delivered).order_by(Outbox.seq).first()
        if oldest is not None:
            try:
                oldest_s = max(0, int((now - dt.datetime.fromisoformat(oldest.at)).total_seconds()))
            except (ValueError, TypeError):
                oldest_s = 0
        devices = {}
        for name in messages.DEVICE_NAMES:
            got = self.status.get(name)
            if got is not None:
                devices[name] = {"ok": got[0], "message": got[1][:120]}
        return messages.NodeStatus(
            at=now.isoformat(timespec="milliseconds"),
            version=software_version(),
            backlog=backlog,
            oldest_s=oldest_s,
            last_sync=state.get(LAST_SYNC),
            uptime_s=int(time.monotonic() - self.started_at),
            devices=devices,
        )

    def publish_health(self) -> bool:
        """Publish the node's health (retained); False when not connected or it failed."""
        if not self.transport.connected:
            return False
        self.health_dirty.clear()
        self.health_at = time.monotonic()
        try:
            return self._publish(topics.UP_HEALTH, self.health(), retain=True)
        except Exception:  # the fleet view must never stop the queue's sync
            log.exception("could not publish the node's health")
            return False
