"""``MemoryBroker``: an in-memory MQTT broker, and ``MemoryTransport``, the port on it, for unit tests.

It behaves like Mosquitto 2.0.11 with MQTT v5 where the sync code can tell (each point
checked against the real broker): real topic matching (``topic_matches``), one copy per
matching subscription, retained messages (sent on every SUBSCRIBE, a shared one too), last
wills (also when the broker stops), shared subscriptions (round robin over every member
with a session: an absent member's turn waits in its session), sessions that keep
subscriptions and queue QoS 1 messages while a client is away, and a denied QoS 1 publish
reported as "Not authorized". It is deterministic: nothing happens on another thread or
later by itself; a dropped client reconnects when the test calls ``start()``.

Delivery is synchronous: when ``publish`` (or ``start``, ``stop``, ...) returns, every
resulting callback has run, on the caller's thread, under the broker's lock. Callbacks may
publish again; such work is queued and run in order by the outermost call (a trampoline),
so a handler that answers a message never recurses. With ``raise_errors`` (the default) the
first exception raised by a callback is re-raised by the outermost call once the queue is
empty; ``errors`` keeps all of them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial

from infra.mqtt.base import (
    OP_CONNECT,
    OP_PUBLISH,
    OP_SUBSCRIBE,
    Message,
    Settings,
    Transport,
    check_payload,
    check_qos,
    check_topic,
    split_filter,
    topic_matches,
)
from protocol.topics import PREFIX

log = logging.getLogger(__name__)

NOT_AUTHORIZED = "Not authorized"
CENTRAL_TOPIC_FILTER = "rosma/v1/#"  # as provisioning.broker: central users read and write everything


class _Session:
    """What the broker keeps for one client id (MQTT Session State)."""

    def __init__(self, client_id: str, username: str, expiry: int) -> None:
        self.client_id = client_id
        self.username = username
        self.expiry = expiry  # seconds after a disconnect; 0 = ends with the connection
        self.subs: dict[str, int] = {}  # filter (with any $share prefix) -> granted QoS
        self.queue: deque[tuple[Message, int]] = deque()  # QoS 1 messages kept while disconnected
        self.disconnected_at: float | None = None


class MemoryBroker:
    """An in-memory broker; ``transport(settings)`` makes clients for it. It starts up.

    Hooks (None = allow everything):

    - ``acl(username, op, topic) -> bool`` with op ``"publish"`` or ``"subscribe"`` (the topic
      is then the filter). A denied QoS >= 1 publish calls that client's ``on_refused``; a
      denied QoS 0 one is dropped silently, like Mosquitto with MQTT v5.
    - ``read_acl(username, topic) -> bool``: checked for every delivery (Mosquitto's ``read``).
    - ``auth(username, password) -> bool``: a refused login calls ``on_refused("connect", "", ...)``.

    ``apply_rosma_acl()`` installs Rosma's broker ACL. Test controls: ``stop()``, ``start()``,
    ``drop(client_id)``, ``drop_next(filter, n)``; records: ``published``, ``dropped``,
    ``errors``, ``retained``, ``queued(client_id)``. ``clock`` (seconds) decides session expiry.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_queued: int = 1000,
        raise_errors: bool = True,
    ) -> None:
        self.acl: Callable[[str, str, str], bool] | None = None
        self.read_acl: Callable[[str, str], bool] | None = None
        self.auth: Callable[[str, str], bool] | None = None
        self.clock = clock
        self.max_queued = max_queued  # per session, like Mosquitto's max_queued_messages
        self.raise_errors = raise_errors
        self.published: list[tuple[str, Message]] = []  # (username, message as published) accepted
        self.dropped: list[tuple[str, Message]] = []  # accepted, then lost by drop_next
        self.errors: list[Exception] = []  # raised by callbacks
        self._up = True
        self._lock = threading.RLock()
        self._transports: list[MemoryTransport] = []  # started and not stopped, in start order
        self._online: dict[str, MemoryTransport] = {}  # client id -> connected transport
        self._sessions: dict[str, _Session] = {}
        self._retained: dict[str, tuple[Message, int]] = {}
        self._drops: list[list] = []  # [filter, messages still to lose]
        self._round_robin: dict[tuple[str, str], int] = {}
        self._work: deque[Callable[[], None]] = deque()
        self._draining = False

    # ---- clients ---------------------------------------------------------------------------
    def transport(self, settings: Settings | None = None) -> MemoryTransport:
        """A new, not yet started client of this broker."""
        return MemoryTransport(self, settings or Settings())

    # ---- test controls ---------------------------------------------------------------------
    @property
    def up(self) -> bool:
        """False between ``stop()`` and ``start()``."""
        return self._up

    def start(self) -> None:
        """Bring the broker up (if down) and connect every started transport that is not connected.

        Each one re-subscribes, then gets ``on_connect``, then its queued session messages,
        then retained messages for its subscriptions. Also the way to "retry" after a refused
        login or after ``drop()`` (the paho adapter retries by itself after its backoff).
        """

        def work() -> None:
            self._up = True
            for t in list(self._transports):
                self._connect(t)

        self._run(work)

    def stop(self) -> None:
        """Take the broker down: every client gets ``on_disconnect("broker stopped")``, wills are sent.

        Retained messages and unexpired sessions survive (Mosquitto with persistence).
        Publishes return False until ``start()``.
        """

        def work() -> None:
            if not self._up:
                return
            self._up = False
            for t in list(self._online.values()):
                self._disconnect(t, "broker stopped", will=True)

        self._run(work)

    def drop(self, client_id: str) -> None:
        """Cut one client's connection uncleanly: its will is sent, it gets ``on_disconnect("connection lost")``.

        It stays disconnected until ``start()``. Raises KeyError if it is not connected.
        """

        def work() -> None:
            t = self._online.get(client_id)
            if t is None:
                raise KeyError(f"{client_id!r} is not connected")
            self._disconnect(t, "connection lost", will=True)

        self._run(work)

    def drop_next(self, topic_filter: str, n: int = 1) -> None:
        """Silently lose the next ``n`` accepted messages matching ``topic_filter`` (to test resends).

        The publisher sees success; the message is in ``published`` and ``dropped``, is not
        retained and reaches no one.
        """
        split_filter(topic_filter)
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        with self._lock:
            self._drops.append([topic_filter, n])

    def apply_rosma_acl(self, central_users: Iterable[str] = ("central",)) -> None:
        """Install the ACL that ``provisioning.broker.acl_text`` gives Mosquitto.

        A node (username = node id) may publish only on ``rosma/v1/node/<id>/up/#`` and
        receives only ``rosma/v1/node/<id>/down/#``; central users read and write
        ``rosma/v1/#``. Every SUBSCRIBE is granted, as Mosquitto 2.0's acl_file does; what a
        client may not read is filtered out on delivery.
        """
        central = frozenset(central_users)

        def allowed(username: str, direction: str, topic: str) -> bool:
            if username in central and topic_matches(CENTRAL_TOPIC_FILTER, topic):
                return True
            if not username or any(ch in username for ch in "/+#"):
                return False
            return topic_matches(f"{PREFIX}/{username}/{direction}/#", topic)

        self.acl = lambda username, op, topic: op == OP_SUBSCRIBE or allowed(username, "up", topic)
        self.read_acl = lambda username, topic: allowed(username, "down", topic)

    @property
    def retained(self) -> dict[str, Message]:
        """Retained messages by topic (a copy)."""
        with self._lock:
            return {topic: msg for topic, (msg, _) in self._retained.items()}

    @property
    def connected_clients(self) -> tuple[str, ...]:
        """Client ids connected now, in connect order."""
        with self._lock:
            return tuple(self._online)

    def queued(self, client_id: str) -> list[Message]:
        """Messages the session of a disconnected ``client_id`` holds for its next connect."""
        with self._lock:
            session = self._sessions.get(client_id)
            return [msg for msg, _ in session.queue] if session else []

    # ---- the trampoline --------------------------------------------------------------------
    def _run(self, work: Callable[[], object]) -> object:
        with self._lock:
            result = work()
            self._drain()
            return result

    def _drain(self) -> None:
        if self._draining:
            return  # a callback's publish: the outermost call runs the queued work
        self._draining = True
        first: Exception | None = None
        try:
            while self._work:
                item = self._work.popleft()
                try:
                    item()
                except Exception as exc:
                    log.exception("a callback raised during delivery")
                    self.errors.append(exc)
                    first = first or exc
        finally:
            self._draining = False
        if first is not None and self.raise_errors:
            raise first

    # ---- connection state (called under the lock) ------------------------------------------
    def _connect(self, t: MemoryTransport) -> None:
        if not self._up or t._connected or not t._started or t._stopped:
            return
        s = t.settings
        if self.auth is not None and not self.auth(s.username, s.password):
            self._work.append(partial(t._refused, OP_CONNECT, "", NOT_AUTHORIZED))
            return
        old = self._online.get(t.client_id)
        if old is not None:
            self._disconnect(old, "Session taken over", will=True)
        self._expire_sessions()
        session = self._sessions.get(t.client_id)
        if session is None:
            session = self._sessions[t.client_id] = _Session(t.client_id, s.username, s.session_expiry)
        session.username, session.expiry, session.disconnected_at = s.username, s.session_expiry, None
        self._online[t.client_id] = t
        t._connected = True
        registered = [(f, q) for f, q in t._subs.items() if self._register(t, session, f, q)]
        self._work.append(t._connected_callback)
        backlog = list(session.queue)
        session.queue.clear()
        for msg, qos in backlog:
            self._work.append(partial(self._hand_over, t, session, msg, qos))
        for topic_filter, qos in registered:
            self._send_retained(t, session, topic_filter, qos)

    def _disconnect(self, t: MemoryTransport, reason: str, will: bool) -> None:
        if self._online.get(t.client_id) is t:
            del self._online[t.client_id]
        t._connected = False
        session = self._sessions.get(t.client_id)
        if session is not None:
            session.disconnected_at = self.clock()
            if session.expiry == 0:
                del self._sessions[t.client_id]
        if will and t.settings.will is not None:
            w = t.settings.will
            if self.acl is None or self.acl(t.settings.username, OP_PUBLISH, w.topic):
                self._accept(t.settings.username, Message(w.topic, bytes(w.payload), w.retain), 1)
        self._work.append(partial(t._disconnected_callback, reason))

    def _expire_sessions(self) -> None:
        now = self.clock()
        for client_id, session in list(self._sessions.items()):
            gone = session.disconnected_at
            if client_id not in self._online and gone is not None and now - gone >= session.expiry:
                del self._sessions[client_id]

    # ---- subscriptions ---------------------------------------------------------------------
    def _subscribe(self, t: MemoryTransport, topic_filter: str, qos: int) -> None:
        t._subs[topic_filter] = qos
        if not t._connected:
            return
        session = self._sessions[t.client_id]
        if self._register(t, session, topic_filter, qos):
            self._send_retained(t, session, topic_filter, qos)

    def _register(self, t: MemoryTransport, session: _Session, topic_filter: str, qos: int) -> bool:
        if self.acl is not None and not self.acl(t.settings.username, OP_SUBSCRIBE, topic_filter):
            session.subs.pop(topic_filter, None)
            self._work.append(partial(t._refused, OP_SUBSCRIBE, topic_filter, NOT_AUTHORIZED))
            return False
        session.subs[topic_filter] = qos
        return True

    def _send_retained(self, t: MemoryTransport, session: _Session, topic_filter: str, qos: int) -> None:
        # Mosquitto 2.0.11 sends retained messages on every SUBSCRIBE, a re-sent or shared one too.
        for topic, (msg, retained_qos) in list(self._retained.items()):
            if topic_matches(topic_filter, topic) and self._can_read(session.username, topic):
                self._work.append(partial(self._hand_over, t, session, msg, min(qos, retained_qos)))

    # ---- messages --------------------------------------------------------------------------
    def _publish(self, t: MemoryTransport, topic: str, payload: bytes, qos: int, retain: bool) -> bool:
        if not t._connected:
            return False
        username = t.settings.username
        if self.acl is not None and not self.acl(username, OP_PUBLISH, topic):
            if qos:  # QoS 0 has no PUBACK to carry the refusal
                self._work.append(partial(t._refused, OP_PUBLISH, topic, NOT_AUTHORIZED))
            return True
        if not self._accept(username, Message(topic, bytes(payload), retain), qos) and qos:
            # Mosquitto's PUBACK 16 "No matching subscribers"
            self._work.append(partial(t._unheard, topic))
        return True

    def _accept(self, username: str, msg: Message, qos: int) -> bool:
        """Route a published message; False when no subscription matched it."""
        self.published.append((username, msg))
        for drop in self._drops:
            if topic_matches(drop[0], msg.topic):
                drop[1] -= 1
                self._drops = [d for d in self._drops if d[1] > 0]
                self.dropped.append((username, msg))
                return True  # lost on the way: the sender cannot tell
        if msg.retain:
            if msg.payload:
                self._retained[msg.topic] = (Message(msg.topic, msg.payload, True), qos)
            else:
                self._retained.pop(msg.topic, None)
        return self._route(Message(msg.topic, msg.payload, False), qos)

    def _route(self, msg: Message, qos: int) -> bool:
        self._expire_sessions()
        matched = False
        groups: dict[tuple[str, str], list[tuple[_Session, int]]] = {}
        for session in list(self._sessions.values()):
            for topic_filter, sub_qos in session.subs.items():
                if not topic_matches(topic_filter, msg.topic):
                    continue
                matched = True
                group, inner = split_filter(topic_filter)
                if group is None:
                    if self._can_read(session.username, msg.topic):
                        self._deliver(session, msg, min(qos, sub_qos))  # one copy per subscription, as Mosquitto
                elif not inner.startswith("$"):  # Mosquitto 2.0.11 never delivers through a shared "$..." filter
                    groups.setdefault((group, inner), []).append((session, sub_qos))
        # Mosquitto 2.0.11's round robin counts every member with a session: an absent one
        # (session not expired) gets its turn queued, and a member that may not read the topic
        # gets its turn and the message is lost.
        for key, members in groups.items():
            turn = self._round_robin.get(key, 0)
            self._round_robin[key] = turn + 1
            session, sub_qos = members[turn % len(members)]
            if self._can_read(session.username, msg.topic):
                self._deliver(session, msg, min(qos, sub_qos))
        return matched

    def _can_read(self, username: str, topic: str) -> bool:
        return self.read_acl is None or self.read_acl(username, topic)

    def _deliver(self, session: _Session, msg: Message, qos: int) -> None:
        t = self._online.get(session.client_id)
        if t is not None:
            self._work.append(partial(self._hand_over, t, session, msg, qos))
        else:
            self._keep(session, msg, qos)

    def _hand_over(self, t: MemoryTransport, session: _Session, msg: Message, qos: int) -> None:
        if self._online.get(t.client_id) is t:
            t._message_callback(msg)
        else:  # disconnected after the message was routed to it
            self._keep(session, msg, qos)

    def _keep(self, session: _Session, msg: Message, qos: int) -> None:
        if qos < 1 or session.expiry == 0 or self._sessions.get(session.client_id) is not session:
            return  # QoS 0 is not queued for an absent client (Mosquitto's queue_qos0_messages false)
        if len(session.queue) >= self.max_queued:
            log.warning("session %s: queue full; dropped a message on %s", session.client_id, msg.topic)
            return
        session.queue.append((msg, qos))


class MemoryTransport(Transport):
    """A client of a ``MemoryBroker``; see ``Transport`` and the module docstring."""

    def __init__(self, broker: MemoryBroker, settings: Settings) -> None:
        super().__init__()
        self.broker = broker
        self.settings = settings
        self.client_id = settings.effective_client_id
        self._subs: dict[str, int] = {}
        self._connected = False
        self._started = False
        self._stopped = False

    def start(self) -> None:
        def work() -> None:
            if self._stopped:
                raise RuntimeError("transport stopped; create a new one")
            if self._started:
                return
            self._started = True
            self.broker._transports.append(self)
            self.broker._connect(self)

        self.broker._run(work)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> bool:
        check_topic(topic)
        check_qos(qos)
        payload = check_payload(payload)
        return bool(self.broker._run(lambda: self.broker._publish(self, topic, payload, qos, retain)))

    def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        split_filter(topic_filter)
        check_qos(qos)
        self.broker._run(lambda: self.broker._subscribe(self, topic_filter, qos))

    def stop(self) -> None:
        def work() -> None:
            if self._stopped:
                return
            self._stopped = True
            if self in self.broker._transports:
                self.broker._transports.remove(self)
            if self._connected:
                self.broker._disconnect(self, "Normal disconnection", will=False)

        self.broker._run(work)

    @property
    def connected(self) -> bool:
        return self._connected

    # ---- called by the broker's trampoline -------------------------------------------------
    def _connected_callback(self) -> None:
        self.on_connect()

    def _disconnected_callback(self, reason: str) -> None:
        self.on_disconnect(reason)

    def _message_callback(self, msg: Message) -> None:
        self.on_message(msg)

    def _unheard(self, topic: str) -> None:
        self.on_unheard(topic)

    def _refused(self, op: str, topic: str, reason: str) -> None:
        if op == OP_CONNECT:
            log.error("broker refused the login of %s: %s", self.settings.username, reason)
        elif op == OP_SUBSCRIBE:
            log.error("broker refused subscription to %s: %s", topic, reason)
        else:
            log.error("broker refused publish on %s: %s", topic, reason)
        self.on_refused(op, topic, reason)
