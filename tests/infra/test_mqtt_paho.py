"""``PahoTransport`` against a real Mosquitto (``LocalBroker``: Rosma's password file, ACL, config and TLS listener).

Waits are on conditions with deadlines. "Subscribed" is proven by ordering: Mosquitto handles
one connection's packets in order, so once a message a client published AFTER subscribing
has arrived somewhere, its subscription is active. "Nothing else arrived" is checked with a
marker published afterwards: Mosquitto delivers to a subscriber in order.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from infra.mqtt.base import Message, Settings
from infra.mqtt.paho import PahoTransport
from protocol import topics
from provisioning import broker as mb
from provisioning import tls
from provisioning.local_broker import LocalBroker, find_executable

pytestmark = pytest.mark.e2e

TIMEOUT = 5.0  # seconds for any broker round trip
EVENTS_A = topics.up("pkm-a", topics.UP_EVENTS)
EVENTS_B = topics.up("pkm-b", topics.UP_EVENTS)
STATUS_A = topics.up("pkm-a", topics.UP_STATUS)
ACK_A = topics.down("pkm-a", topics.DOWN_ACK)
PROBE = topics.up("central", topics.UP_EVENTS)  # central may write and read all of rosma/v1/
OFFLINE = Message(STATUS_A, b"offline", retain=True)


class Recorder:
    """What a transport's callbacks saw; tests wait on it with deadlines."""

    def __init__(self, transport: PahoTransport) -> None:
        self.t = transport
        self.cond = threading.Condition()
        self.connects = 0
        self.disconnects: list[str] = []
        self.messages: list[Message] = []
        self.refused: list[tuple[str, str, str]] = []
        self.unheard: list[str] = []
        self._read = 0
        transport.on_connect = self._on_connect
        transport.on_disconnect = self._on_disconnect
        transport.on_message = self._on_message
        transport.on_refused = self._on_refused
        transport.on_unheard = self._on_unheard

    def wait(self, what: str, ready: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        with self.cond:
            assert self.cond.wait_for(ready, timeout), f"timed out waiting for {what}: {self.summary()}"

    def receive_until(self, payload: bytes, timeout: float = TIMEOUT) -> list[Message]:
        """Messages not yet read, up to and including the first one with ``payload``."""

        def arrived() -> bool:
            return any(m.payload == payload for m in self.messages[self._read :])

        self.wait(f"message {payload!r}", arrived, timeout)
        with self.cond:
            new = self.messages[self._read :]
            end = next(i for i, m in enumerate(new) if m.payload == payload) + 1
            self._read += end
            return new[:end]

    def summary(self) -> str:
        return (
            f"connects={self.connects} disconnects={self.disconnects} refused={self.refused} messages={self.messages}"
        )

    def _on_connect(self) -> None:
        with self.cond:
            self.connects += 1
            self.cond.notify_all()

    def _on_disconnect(self, reason: str) -> None:
        with self.cond:
            self.disconnects.append(reason)
            self.cond.notify_all()

    def _on_message(self, message: Message) -> None:
        with self.cond:
            self.messages.append(message)
            self.cond.notify_all()

    def _on_refused(self, op: str, topic: str, reason: str) -> None:
        with self.cond:
            self.refused.append((op, topic, reason))
            self.cond.notify_all()

    def _on_unheard(self, topic: str) -> None:
        with self.cond:
            self.unheard.append(topic)
            self.cond.notify_all()


@pytest.fixture
def passwords() -> dict[str, str]:
    return {name: secrets.token_urlsafe(16) for name in ("central", "central-2", "pkm-a", "pkm-b")}


@pytest.fixture
def broker(tmp_path, passwords) -> Iterator[LocalBroker]:
    assert find_executable("mosquitto") is not None, "mosquitto is not installed (make test installs it)"
    running = LocalBroker(tmp_path / "broker", passwords, central_user=["central", "central-2"]).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def make(broker, passwords) -> Iterator[Callable[..., Recorder]]:
    """Factory ``make(username, *filters, start=True, **settings)``; every transport is stopped afterwards."""
    made: list[PahoTransport] = []

    def build(username: str, *filters: str, start: bool = True, **overrides) -> Recorder:
        fields = {
            "host": broker.host,
            "port": broker.port,
            "username": username,
            "password": passwords[username],
            "tls_ca": str(broker.ca_path),
        }
        transport = PahoTransport(Settings(**{**fields, **overrides}))
        made.append(transport)
        rec = Recorder(transport)
        for f in filters:
            transport.subscribe(f)
        if start:
            transport.start()
        return rec

    yield build
    for transport in made:
        transport.stop()


@pytest.fixture
def connected(make) -> Callable[..., Recorder]:
    """Like ``make`` but waits for on_connect."""

    def build(username: str, *filters: str, **overrides) -> Recorder:
        rec = make(username, *filters, **overrides)
        rec.wait("connect", lambda: rec.connects >= 1)
        return rec

    return build


@pytest.fixture
def central(connected) -> Recorder:
    """Central, subscribed to every node's up topics, its subscription proven active."""
    rec = connected("central", topics.all_up_filter())
    assert rec.t.publish(PROBE, b"central-ready")
    rec.receive_until(b"central-ready")
    return rec


def node_ready(node: Recorder, central: Recorder, marker: bytes) -> None:
    """Prove the node's subscriptions are active: it sent ``marker`` after them, central got it."""
    assert node.t.publish(topics.up(node.t.settings.username, topics.UP_EVENTS), marker)
    central.receive_until(marker)


# ---- basics ------------------------------------------------------------------------------------


def test_round_trip(central, connected):
    node = connected("pkm-a", topics.node_down_filter("pkm-a"))

    assert node.t.publish(EVENTS_A, b"ev-1")
    assert central.receive_until(b"ev-1") == [Message(EVENTS_A, b"ev-1")]
    assert central.t.publish(ACK_A, b"ack-1")
    assert node.receive_until(b"ack-1") == [Message(ACK_A, b"ack-1")]
    assert node.t.connected and node.refused == [] and node.disconnects == []


def test_publish_before_connect_returns_false(make):
    node = make("pkm-a", start=False)

    assert node.t.publish(EVENTS_A, b"x") is False


def test_stop_is_idempotent_and_final(connected):
    node = connected("pkm-a")

    node.t.stop()
    node.t.stop()

    assert not node.t.connected and node.disconnects == ["Normal disconnection"]
    with pytest.raises(RuntimeError):
        node.t.start()


def test_retained_message_goes_to_a_later_subscriber(central, connected):
    node = connected("pkm-a")
    assert node.t.publish(STATUS_A, b"online", retain=True)
    node_ready(node, central, b"after-retained")  # same connection: the retained one was stored first

    later = connected("central-2", STATUS_A)

    assert later.receive_until(b"online") == [Message(STATUS_A, b"online", retain=True)]


def test_retained_sent_on_a_shared_subscription_and_overlaps_deliver_twice(central):
    """Two Mosquitto 2.0.11 behaviours MemoryBroker copies."""
    assert central.t.publish(STATUS_A, b"online", retain=True)
    central.receive_until(b"online")  # through the all-up subscription (live copy)

    central.t.subscribe(topics.all_up_filter(share_group="sync"))
    assert central.receive_until(b"online") == [Message(STATUS_A, b"online", retain=True)]
    assert central.t.publish(PROBE, b"twice")

    assert central.receive_until(b"twice") == [Message(PROBE, b"twice")]
    assert central.receive_until(b"twice") == [Message(PROBE, b"twice")]


SHARED = topics.all_up_filter(share_group="sync")


def shared_workers(connected) -> list[Recorder]:
    """Two central workers on one shared subscription, both proven subscribed, in that order."""
    first = connected("central", SHARED, ACK_A, STATUS_A)
    assert first.t.publish(ACK_A, b"first-ready")
    first.receive_until(b"first-ready")
    second = connected("central-2", SHARED)
    assert second.t.publish(ACK_A, b"second-ready")  # after its SUBSCRIBE on the same connection
    first.receive_until(b"second-ready")
    return [first, second]


def events(messages: list[Message]) -> list[bytes]:
    return [m.payload for m in messages if m.topic == EVENTS_A]


def test_shared_subscription_queues_an_absent_members_turn(connected, make):
    """Mosquitto 2.0.11 keeps a stopped worker with a live session in the round robin (MemoryBroker copies it)."""
    first, second = shared_workers(connected)
    second.t.stop()
    node = connected("pkm-a")

    for i in range(4):
        assert node.t.publish(EVENTS_A, b"m%d" % i)
    assert node.t.publish(STATUS_A, b"marker")

    assert events(first.receive_until(b"marker")) == [b"m0", b"m2"]
    assert events(make("central-2").receive_until(b"m3")) == [b"m1", b"m3"]


def test_shared_subscription_member_that_may_not_read_swallows_its_turn(connected):
    """Any client may join central's share group; Mosquitto 2.0.11 gives it turns it may not read."""
    first = connected("central", SHARED, ACK_A, STATUS_A)
    assert first.t.publish(ACK_A, b"first-ready")  # its SUBSCRIBEs went first: it heads the group
    first.receive_until(b"first-ready")
    intruder = connected("pkm-b", SHARED)
    assert intruder.t.publish(topics.up("pkm-b", topics.UP_EVENTS), b"joined")  # after its SUBSCRIBE
    first.receive_until(b"joined")
    node = connected("pkm-a")

    for i in range(4):
        assert node.t.publish(EVENTS_A, b"m%d" % i)
    assert node.t.publish(STATUS_A, b"marker")

    assert events(first.receive_until(b"marker")) == [b"m1", b"m3"]  # "joined" took the first turn
    assert intruder.messages == []


# ---- refusals ----------------------------------------------------------------------------------


def test_refused_login_never_calls_on_connect(make, caplog):
    caplog.set_level(logging.DEBUG, logger="infra.mqtt.paho")
    node = make("pkm-a", password="wrong-password")

    node.wait("two refused logins (it keeps retrying)", lambda: len(node.refused) >= 2)

    assert node.connects == 0 and not node.t.connected and node.disconnects == []
    assert set(node.refused) == {("connect", "", "Not authorized")}
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and "refused the login" in r.getMessage()]
    assert len(errors) == 1, "a repeated refusal is logged at ERROR once"


def test_publish_the_acl_denies_calls_on_refused(central, connected, caplog):
    caplog.set_level(logging.ERROR, logger="infra.mqtt.paho")
    node = connected("pkm-a")

    assert node.t.publish(EVENTS_B, b"forged") is True  # sent; the PUBACK refuses it
    node.wait("refusal", lambda: node.refused)
    assert node.t.publish(EVENTS_A, b"marker")

    assert node.refused == [("publish", EVENTS_B, "Not authorized")]
    assert f"broker refused publish on {EVENTS_B}: Not authorized" in caplog.messages
    assert central.receive_until(b"marker") == [Message(EVENTS_A, b"marker")]
    assert node.t.connected, "a refused publish does not cost the connection"


def test_a_publish_nobody_subscribes_to_is_reported_unheard(connected):
    """Mosquitto answers PUBACK 16 "No matching subscribers": the sender learns nobody got it."""
    node = connected("pkm-a")

    assert node.t.publish(EVENTS_A, b"nobody listens") is True
    node.wait("PUBACK 16", lambda: node.unheard)

    assert node.unheard == [EVENTS_A] and node.refused == []
    worker = connected("central", SHARED)  # a sync worker on the shared subscription
    assert worker.t.publish(PROBE, b"worker-ready")  # its SUBSCRIBE went first
    worker.receive_until(b"worker-ready")
    assert node.t.publish(EVENTS_A, b"heard")
    assert worker.receive_until(b"heard")[-1] == Message(EVENTS_A, b"heard")
    assert node.t.publish(EVENTS_A, b"marker")  # PUBACKs come in order: "heard" was answered before
    worker.receive_until(b"marker")
    node.wait("the marker's PUBACK", lambda: not node.t._pending_pub)
    assert node.unheard == [EVENTS_A], "a message a subscriber got is not reported"


def test_shared_subscriptions_are_gone_after_a_broker_restart_and_publishes_say_so(broker, connected):
    """Mosquitto 2.0.11 restores a persisted session's plain subscriptions, not its shared ones:
    until the worker subscribes again, the edges' batches reach no one (and PUBACK 16 says so)."""
    worker = connected("central", SHARED, STATUS_A)
    assert worker.t.publish(STATUS_A, b"worker-ready")
    worker.receive_until(b"worker-ready")
    worker.t.stop()
    broker.stop()
    broker.run(broker.directory / mb.CONFIG_NAME)
    node = connected("pkm-a")

    assert node.t.publish(EVENTS_A, b"lost")
    node.wait("PUBACK 16", lambda: node.unheard)
    assert node.unheard == [EVENTS_A]


def test_denied_qos0_publish_is_silent(central, connected):
    """MQTT v5 has no PUBACK for QoS 0: a denied one vanishes without a refusal."""
    node = connected("pkm-a")

    assert node.t.publish(EVENTS_B, b"forged", qos=0)
    node_ready(node, central, b"marker")

    assert node.refused == []


def test_a_refusal_that_beats_publish_to_the_lock_is_still_reported():
    """The PUBACK may be handled on the network thread before publish() has recorded its mid."""
    transport = PahoTransport(Settings(username="pkm-a"))
    seen = []
    transport.on_refused = lambda *args: seen.append(args)

    transport._on_publish(transport._client, None, 7, ReasonCode(PacketTypes.PUBACK, "Not authorized"), None)
    transport._track(transport._pending_pub, 7, EVENTS_B, "publish")
    transport._on_publish(transport._client, None, 8, ReasonCode(PacketTypes.PUBACK, "Success"), None)  # QoS 0

    assert seen == [("publish", EVENTS_B, "Not authorized")]
    assert transport._early == {} and transport._pending_pub == {}
    transport.stop()


# ---- outages -----------------------------------------------------------------------------------


def test_reconnects_after_a_broker_restart_and_resubscribes(broker, central, connected):
    # session_expiry=0: the broker forgets the subscription, so only the re-sent SUBSCRIBE can deliver
    node = connected("pkm-a", topics.node_down_filter("pkm-a"), session_expiry=0)
    node_ready(node, central, b"before")

    broker.stop()
    node.wait("disconnect", lambda: node.disconnects)
    assert node.disconnects == ["connection lost"] and not node.t.connected
    assert node.t.publish(EVENTS_A, b"while-down") is False
    broker.run(broker.directory / mb.CONFIG_NAME)  # same port, same files
    back = time.monotonic()
    node.wait("reconnect", lambda: node.connects == 2, timeout=node.t.settings.reconnect_max + TIMEOUT)
    central.wait("central reconnect", lambda: central.connects == 2, timeout=TIMEOUT)

    assert time.monotonic() - back < node.t.settings.reconnect_max + 2
    node_ready(node, central, b"after")
    assert central.t.publish(ACK_A, b"ack-after")
    assert node.receive_until(b"ack-after") == [Message(ACK_A, b"ack-after")]


def test_queued_messages_survive_a_broker_restart(broker, central, connected, make):
    """clean_start=False + Session Expiry: Mosquitto persists the session and its QoS 1 queue."""
    node = connected("pkm-a", topics.node_down_filter("pkm-a"))
    node_ready(node, central, b"subscribed")
    node.t.stop()
    assert central.t.publish(ACK_A, b"queued")
    assert central.t.publish(PROBE, b"sent")  # same connection: "queued" was handled first
    central.receive_until(b"sent")

    broker.stop()
    broker.run(broker.directory / mb.CONFIG_NAME)
    again = make("pkm-a")  # no subscribe: the resumed session has it

    assert again.receive_until(b"queued") == [Message(ACK_A, b"queued")]


def test_will_on_unclean_close_not_on_stop(broker, connected):
    central = connected("central", "rosma/v1/node/pkm-a/up/#")
    assert central.t.publish(EVENTS_A, b"ready")
    central.receive_until(b"ready")
    node = connected("pkm-a", will=OFFLINE)
    assert node.t.publish(STATUS_A, b"online", retain=True)
    central.receive_until(b"online")
    # Central may get "online" before the node gets its PUBACK (over TLS often); a shutdown before
    # the PUBACK makes paho re-send "online" (DUP) after the reconnect, one "online" too many below.
    poll_until(lambda: not node.t._pending_pub, "the node's PUBACK for 'online'")

    # Unclean: the socket closes without DISCONNECT, as when the process is killed.
    node.t._client.socket().shutdown(socket.SHUT_RDWR)

    assert central.receive_until(b"offline") == [Message(STATUS_A, b"offline")]
    node.wait("reconnect by itself", lambda: node.connects == 2, timeout=node.t.settings.reconnect_max + TIMEOUT)
    assert node.disconnects == ["connection lost"]
    assert node.t.publish(STATUS_A, b"online", retain=True)
    central.receive_until(b"online")

    seen = broker.log_path.read_text().count("Client pkm-a disconnected.")
    node.t.stop()
    poll_until(lambda: broker.log_path.read_text().count("Client pkm-a disconnected.") > seen, "the broker's log")
    assert central.t.publish(EVENTS_A, b"marker")

    assert central.receive_until(b"marker") == [Message(EVENTS_A, b"marker")]
    central.t.subscribe(STATUS_A)
    assert central.receive_until(b"online") == [Message(STATUS_A, b"online", retain=True)]


def poll_until(ready: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Poll ``ready`` until a deadline: the broker's log file has no change event to wait on."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        threading.Event().wait(0.02)


# ---- logging -----------------------------------------------------------------------------------


def test_logs_hold_no_password_or_payload(central, connected, passwords, caplog):
    caplog.set_level(logging.DEBUG)
    node = connected("pkm-a")

    assert node.t.publish(EVENTS_A, b"NIK-3171234567890001")
    central.receive_until(b"NIK-3171234567890001")
    node.t.stop()

    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Sending PUBLISH" in text  # paho's packet log is on, at DEBUG
    assert passwords["pkm-a"] not in text and "3171234567890001" not in text
    assert passwords["pkm-a"] not in repr(node.t.settings)


# ---- TLS ---------------------------------------------------------------------------------------


@pytest.fixture
def tls_broker(tmp_path) -> Iterator[tuple[LocalBroker, dict[str, str]]]:
    """Mosquitto whose TLS listener requires client certificates (CN = username) with Rosma's ACL."""
    assert find_executable("mosquitto") is not None, "mosquitto is not installed (make test installs it)"
    local = LocalBroker(tmp_path / "tls", {}, require_certificate=True).start()
    node_cert, node_key = local.client_cert("pkm-a")
    other_ca = tls.make_ca(tmp_path / "other-ca")
    files = {
        "ca": str(local.ca_path),
        "other_ca": str(other_ca.cert),
        "node_cert": str(node_cert),
        "node_key": str(node_key),
    }
    try:
        yield local, files
    finally:
        local.stop()


class _Flag(logging.Handler):
    """Sets ``event`` when a record containing ``needle`` is logged."""

    def __init__(self, needle: str) -> None:
        super().__init__()
        self.needle = needle
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.needle in record.getMessage():
            self.event.set()


@pytest.fixture
def tls_transports() -> Iterator[list[PahoTransport]]:
    made: list[PahoTransport] = []
    yield made
    for transport in made:
        transport.stop()


def test_tls_with_a_client_certificate(tls_broker, tls_transports):
    local, files = tls_broker
    settings = Settings(
        port=local.port, username="pkm-a", tls_ca=files["ca"], tls_cert=files["node_cert"], tls_key=files["node_key"]
    )
    tls_transports.append(node_transport := PahoTransport(settings))
    node = Recorder(node_transport)

    node.t.start()
    node.wait("connect over TLS", lambda: node.connects == 1)
    assert node.t.publish(EVENTS_A, b"own")
    assert node.t.publish(EVENTS_B, b"forged")  # the certificate's CN is the identity the ACL sees
    node.wait("refusal", lambda: node.refused)

    assert node.refused == [("publish", EVENTS_B, "Not authorized")]  # in order: "own" was accepted


@pytest.mark.parametrize(
    ("host", "ca"),
    [
        pytest.param("localhost", "ca", id="host-name-not-in-certificate"),
        pytest.param("127.0.0.1", "other_ca", id="server-signed-by-another-ca"),
    ],
)
def test_tls_refuses_a_broker_it_cannot_verify(tls_broker, tls_transports, host, ca):
    local, files = tls_broker
    # A renewed server certificate naming 127.0.0.1 but not "localhost", served from the reload on.
    server_ca = tls.make_ca(local.tls_dir)
    tls.make_server_cert(server_ca, local.tls_dir, ["mqtt.rosma.test", "127.0.0.1"], include_loopback=False)
    local.reload()
    flag = _Flag("cannot reach broker")
    logging.getLogger("infra.mqtt.paho").addHandler(flag)
    try:
        settings = Settings(
            host=host,
            port=local.port,
            username="pkm-a",
            tls_ca=files[ca],
            tls_cert=files["node_cert"],
            tls_key=files["node_key"],
        )
        tls_transports.append(node_transport := PahoTransport(settings))
        node = Recorder(node_transport)
        node.t.start()

        assert flag.event.wait(TIMEOUT), "no failed connection attempt logged"
    finally:
        logging.getLogger("infra.mqtt.paho").removeHandler(flag)
    assert node.connects == 0 and not node.t.connected
