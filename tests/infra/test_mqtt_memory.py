"""``MemoryBroker`` and ``MemoryTransport``: the in-memory broker behaves like Mosquitto 2.0.11 (MQTT v5)."""

from __future__ import annotations

import logging
import sys
import threading

import pytest

from infra.mqtt.base import Message, Settings
from infra.mqtt.memory import MemoryBroker, MemoryTransport
from protocol import topics

EVENTS_A = topics.up("pkm-a", topics.UP_EVENTS)
EVENTS_B = topics.up("pkm-b", topics.UP_EVENTS)
STATUS_A = topics.up("pkm-a", topics.UP_STATUS)
ACK_A = topics.down("pkm-a", topics.DOWN_ACK)
ACK_B = topics.down("pkm-b", topics.DOWN_ACK)
OFFLINE = Message(STATUS_A, b"offline", retain=True)


class Client:
    """A transport plus everything its callbacks saw, in order."""

    def __init__(self, transport: MemoryTransport) -> None:
        self.t = transport
        self.events: list[tuple] = []
        transport.on_connect = lambda: self.events.append(("connect",))
        transport.on_disconnect = lambda reason: self.events.append(("disconnect", reason))
        transport.on_message = lambda m: self.events.append(("message", m))
        transport.on_refused = lambda op, topic, reason: self.events.append(("refused", op, topic, reason))
        transport.on_unheard = lambda topic: self.events.append(("unheard", topic))

    @property
    def messages(self) -> list[Message]:
        return [e[1] for e in self.events if e[0] == "message"]

    @property
    def payloads(self) -> list[bytes]:
        return [m.payload for m in self.messages]

    def kinds(self) -> list[str]:
        return [e[0] for e in self.events]

    def clear(self) -> None:
        self.events.clear()


@pytest.fixture
def broker() -> MemoryBroker:
    return MemoryBroker()


@pytest.fixture
def client(broker):
    """Factory ``client(username, subscribe=(...), start=True, **settings)``."""

    def make(username: str, *filters: str, start: bool = True, **settings) -> Client:
        c = Client(broker.transport(Settings(username=username, **settings)))
        for f in filters:
            c.t.subscribe(f)
        if start:
            c.t.start()
        return c

    return make


# ---- connect, publish, subscribe -----------------------------------------------------------


def test_round_trip(broker, client):
    central = client("central", topics.all_up_filter())
    node = client("pkm-a")

    assert node.t.publish(EVENTS_A, b"ev-1")

    assert central.events == [("connect",), ("message", Message(EVENTS_A, b"ev-1"))]
    assert node.t.connected and broker.connected_clients == ("central", "pkm-a")
    assert broker.published == [("pkm-a", Message(EVENTS_A, b"ev-1"))]


def test_publish_before_start_is_refused(client):
    node = client("pkm-a", start=False)

    assert node.t.publish(EVENTS_A, b"x") is False
    assert not node.t.connected and node.events == []


def test_start_while_broker_down_connects_when_it_comes_up(broker, client):
    broker.stop()
    node = client("pkm-a", ACK_A)
    central = client("central")

    assert not node.t.connected and node.events == []
    broker.start()
    central.t.publish(ACK_A, b"a")

    assert node.kinds() == ["connect", "message"]


@pytest.mark.parametrize(
    ("topic_filter", "topic", "delivered"),
    [
        pytest.param("rosma/v1/node/+/up/#", EVENTS_A, True, id="plus-and-hash"),
        pytest.param("rosma/v1/node/+/up", EVENTS_A, False, id="plus-one-level-only"),
        pytest.param("rosma/v1/node/pkm-a/up/events/#", EVENTS_A, True, id="hash-matches-parent"),
        pytest.param("#", "$SYS/x", False, id="hash-not-dollar"),
        pytest.param("$share/g/rosma/#", EVENTS_A, True, id="shared"),
    ],
)
def test_real_topic_matching(client, topic_filter, topic, delivered):
    sub = client("sub", topic_filter)

    client("pub").t.publish(topic, b"x")

    assert sub.payloads == ([b"x"] if delivered else [])


def test_one_copy_per_matching_subscription(client):
    """Mosquitto delivers overlapping subscriptions once each: QoS 1 consumers must dedupe anyway."""
    sub = client("central", "rosma/v1/#", topics.all_up_filter())

    client("pkm-a").t.publish(EVENTS_A, b"x")

    assert sub.payloads == [b"x", b"x"]


def test_invalid_topic_and_filter_raise(client):
    node = client("pkm-a")

    with pytest.raises(ValueError):
        node.t.publish("a/+", b"x")
    with pytest.raises(ValueError):
        node.t.subscribe("a/#/b")
    with pytest.raises(ValueError):
        node.t.publish(EVENTS_A, b"x", qos=3)


def test_payload_must_be_bytes(client):
    node = client("pkm-a")

    with pytest.raises(TypeError):
        node.t.publish(EVENTS_A, "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        node.t.publish(EVENTS_A, 5)  # type: ignore[arg-type]  # bytes(5) would be five NULs
    assert node.t.publish(EVENTS_A, bytearray(b"ok"))


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"port": 0}, id="port-zero"),
        pytest.param({"port": True}, id="port-bool"),
        pytest.param({"host": ""}, id="empty-host"),
        pytest.param({"keepalive": 0}, id="keepalive-off"),
        pytest.param({"session_expiry": -1}, id="negative-expiry"),
        pytest.param({"reconnect_min": 0}, id="reconnect-min-zero"),
        pytest.param({"reconnect_min": 5, "reconnect_max": 4}, id="reconnect-max-below-min"),
        pytest.param({"will": Message("a/+", b"x")}, id="will-wildcard"),
        pytest.param({"will": Message("a", "offline")}, id="will-str-payload"),
        pytest.param({"tls_cert": "node.crt"}, id="client-cert-without-ca"),
        pytest.param({"tls_ca": "ca.crt", "tls_key": "node.key"}, id="key-without-cert"),
    ],
)
def test_settings_reject(fields):
    with pytest.raises((ValueError, TypeError)):
        Settings(**fields)


def test_settings_defaults_and_secret():
    s = Settings(username="pkm-a", password="s3cret-pw")

    assert s.effective_client_id == "pkm-a" and Settings(username="a", client_id="b").effective_client_id == "b"
    assert (s.keepalive, s.session_expiry, s.reconnect_min, s.reconnect_max) == (20, 86400, 0.5, 2.0)
    assert "s3cret-pw" not in repr(s)


def test_stop_is_idempotent_and_final(client):
    node = client("pkm-a")

    node.t.stop()
    node.t.stop()

    assert node.events == [("connect",), ("disconnect", "Normal disconnection")]
    with pytest.raises(RuntimeError):
        node.t.start()


# ---- retained messages ---------------------------------------------------------------------


def test_retained_message_goes_to_later_subscribers(broker, client):
    node = client("pkm-a")
    node.t.publish(STATUS_A, b"online", retain=True)

    central = client("central", topics.all_up_filter())
    node.t.publish(STATUS_A, b"busy", retain=False)  # live, and does not replace the retained one

    assert central.messages == [Message(STATUS_A, b"online", retain=True), Message(STATUS_A, b"busy")]
    assert broker.retained == {STATUS_A: Message(STATUS_A, b"online", retain=True)}


def test_live_copy_of_a_retained_publish_has_retain_false(client):
    central = client("central", STATUS_A)

    client("pkm-a").t.publish(STATUS_A, b"online", retain=True)

    assert central.messages == [Message(STATUS_A, b"online", retain=False)]


def test_empty_retained_payload_clears(broker, client):
    node = client("pkm-a")
    node.t.publish(STATUS_A, b"online", retain=True)
    node.t.publish(STATUS_A, b"", retain=True)

    assert broker.retained == {}
    assert client("central", STATUS_A).messages == []


def test_retained_sent_again_on_every_subscribe_and_to_shared_subscriptions(client):
    """Mosquitto 2.0.11 sends retained messages for a repeated SUBSCRIBE and a shared one too."""
    client("pkm-a").t.publish(STATUS_A, b"online", retain=True)
    central = client("central", STATUS_A, topics.all_up_filter(share_group="sync"))

    central.t.subscribe(STATUS_A)

    assert central.payloads == [b"online"] * 3


# ---- last will -----------------------------------------------------------------------------


def test_will_sent_when_the_connection_is_cut(broker, client):
    central = client("central", STATUS_A)
    node = client("pkm-a", will=OFFLINE)

    broker.drop("pkm-a")

    assert central.messages == [Message(STATUS_A, b"offline")]
    assert broker.retained[STATUS_A].payload == b"offline"
    assert node.events[-1] == ("disconnect", "connection lost") and not node.t.connected


def test_no_will_on_clean_stop(broker, client):
    central = client("central", STATUS_A)
    node = client("pkm-a", will=OFFLINE)

    node.t.stop()

    assert central.messages == [] and broker.retained == {}


def test_wills_sent_when_the_broker_stops(broker, client):
    """Like Mosquitto: a broker shutdown publishes every connected client's will."""
    client("pkm-a", will=OFFLINE)
    central = client("central", STATUS_A)

    broker.stop()
    broker.start()

    assert broker.retained[STATUS_A].payload == b"offline"
    assert central.events == [
        ("connect",),
        ("disconnect", "broker stopped"),
        ("connect",),
        ("message", Message(STATUS_A, b"offline")),  # queued in central's session
        ("message", Message(STATUS_A, b"offline", retain=True)),  # re-subscribe
    ]


def test_drop_unknown_client_raises(broker):
    with pytest.raises(KeyError):
        broker.drop("pkm-x")


def test_same_client_id_takes_over_the_session(client):
    central = client("central", STATUS_A)
    first = client("pkm-a", ACK_A, will=OFFLINE)
    second = client("pkm-a", ACK_A)

    client("central").t.publish(ACK_A, b"ack")

    assert first.events == [("connect",), ("disconnect", "Session taken over")]
    assert second.payloads == [b"ack"] and central.payloads == [b"offline"]


# ---- shared subscriptions ------------------------------------------------------------------


def test_shared_subscription_round_robin(client):
    shared = topics.all_up_filter(share_group="sync")
    workers = [client("central", shared), client("central-2", shared)]
    node = client("pkm-a")

    for i in range(6):
        node.t.publish(EVENTS_A, b"m%d" % i)

    assert workers[0].payloads == [b"m0", b"m2", b"m4"]
    assert workers[1].payloads == [b"m1", b"m3", b"m5"]


def test_shared_subscription_keeps_an_absent_members_turn(broker, client):
    """Mosquitto 2.0.11: a stopped worker whose session lives on still gets every other message, queued."""
    shared = topics.all_up_filter(share_group="sync")
    workers = [client("central", shared), client("central-2", shared)]
    workers[1].t.stop()

    for i in range(4):
        client("pkm-a").t.publish(EVENTS_A, b"m%d" % i)

    assert workers[0].payloads == [b"m0", b"m2"]
    assert [m.payload for m in broker.queued("central-2")] == [b"m1", b"m3"]


def test_shared_subscription_member_without_a_session_leaves_the_group(client):
    shared = topics.all_up_filter(share_group="sync")
    workers = [client("central", shared), client("central-2", shared, session_expiry=0)]
    workers[1].t.stop()

    for i in range(3):
        client("pkm-a").t.publish(EVENTS_A, b"m%d" % i)

    assert workers[0].payloads == [b"m0", b"m1", b"m2"]


def test_shared_subscription_member_that_may_not_read_loses_its_turn(broker, client):
    """Mosquitto 2.0.11 picks the member first and applies the read ACL after: that message is lost."""
    broker.apply_rosma_acl()
    shared = topics.all_up_filter(share_group="sync")
    central = client("central", shared)
    client("pkm-b", shared)

    for i in range(4):
        client("pkm-a").t.publish(EVENTS_A, b"m%d" % i)

    assert central.payloads == [b"m0", b"m2"]


def test_shared_subscription_queues_for_absent_members(broker, client):
    shared = topics.all_up_filter(share_group="sync")
    worker = client("central", shared)
    worker.t.stop()

    client("pkm-a").t.publish(EVENTS_A, b"m0")

    assert broker.queued("central") == [Message(EVENTS_A, b"m0")]


def test_a_qos1_publish_no_subscription_matches_is_reported_unheard(broker, client):
    """Like Mosquitto's PUBACK 16; a QoS 0 publish has no PUBACK, a queued one was heard."""
    node = client("pkm-a")
    node.t.publish(EVENTS_A, b"m0")
    node.t.publish(EVENTS_A, b"m1", qos=0)
    assert node.events == [("connect",), ("unheard", EVENTS_A)]

    worker = client("central", topics.all_up_filter(share_group="sync"))
    worker.t.stop()  # absent, its session kept: the message waits in its queue
    node.t.publish(EVENTS_A, b"m2")
    assert node.events == [("connect",), ("unheard", EVENTS_A)]
    assert broker.queued("central") == [Message(EVENTS_A, b"m2")]


def test_shared_dollar_filter_receives_nothing_like_mosquitto(client):
    sub = client("sub", "$share/g/$x/#", "$x/#")

    client("pub").t.publish("$x/y", b"x")

    assert sub.payloads == [b"x"]  # through "$x/#" only


# ---- ACL -----------------------------------------------------------------------------------


def test_denied_publish_is_refused_and_not_delivered(broker, client, caplog):
    broker.apply_rosma_acl()
    central = client("central", topics.all_up_filter())
    node = client("pkm-a")

    with caplog.at_level(logging.ERROR, logger="infra.mqtt.memory"):
        assert node.t.publish(EVENTS_B, b"forged") is True  # queued; the refusal comes as a callback
    node.t.publish(EVENTS_A, b"real")

    assert node.events[1:] == [("refused", "publish", EVENTS_B, "Not authorized")]
    assert central.payloads == [b"real"]
    assert broker.published == [("pkm-a", Message(EVENTS_A, b"real"))]
    assert f"broker refused publish on {EVENTS_B}: Not authorized" in caplog.messages


def test_denied_qos0_publish_is_dropped_silently(broker, client):
    broker.apply_rosma_acl()
    node = client("pkm-a")

    assert node.t.publish(EVENTS_B, b"forged", qos=0)

    assert node.kinds() == ["connect"] and broker.published == []


def test_rosma_acl_filters_reads_like_mosquitto(broker, client):
    """Every SUBSCRIBE is granted; a node receives only its own down topics."""
    broker.apply_rosma_acl()
    spy = client("pkm-a", "rosma/v1/#")
    central = client("central", "rosma/v1/#")

    client("pkm-b").t.publish(EVENTS_B, b"b-up")
    central.t.publish(ACK_B, b"for-b")
    central.t.publish(ACK_A, b"for-a")

    assert spy.payloads == [b"for-a"] and spy.kinds().count("refused") == 0
    assert central.payloads == [b"b-up", b"for-b", b"for-a"]


def test_denied_subscribe_is_refused(broker, client):
    broker.acl = lambda username, op, topic: op != "subscribe" or not topic.startswith("secret")
    node = client("pkm-a", "secret/#")

    client("central").t.publish("secret/x", b"x")

    assert node.events == [("refused", "subscribe", "secret/#", "Not authorized"), ("connect",)]


def test_refused_login_never_connects(broker, client):
    broker.auth = lambda username, password: password == "right"
    node = client("pkm-a", password="wrong")

    assert node.events == [("refused", "connect", "", "Not authorized")] and not node.t.connected

    broker.auth = None
    broker.start()  # the paho adapter retries by itself; here the test says when
    assert node.t.connected and node.kinds()[-1] == "connect"


# ---- outages, reconnects, sessions ---------------------------------------------------------


def test_outage_then_reconnect_resubscribes_before_on_connect(broker, client):
    central = client("central")
    node = client("pkm-a", ACK_A)
    node.t.on_connect = lambda: node.events.append(("connect", central.t.publish(ACK_A, b"hello")))

    broker.stop()
    assert node.events[-1] == ("disconnect", "broker stopped")
    assert central.t.publish(ACK_A, b"lost") is False and not node.t.connected
    node.clear()
    broker.start()

    assert node.events == [("connect", True), ("message", Message(ACK_A, b"hello"))]


def test_stopped_transport_is_not_reconnected(broker, client):
    node = client("pkm-a")
    node.t.stop()

    broker.stop()
    broker.start()

    assert not node.t.connected and broker.connected_clients == ()


def test_session_queues_qos1_while_disconnected(broker, client):
    client("pkm-a", ACK_A).t.stop()
    central = client("central")

    central.t.publish(ACK_A, b"q1", qos=1)
    central.t.publish(ACK_A, b"q0", qos=0)
    assert broker.queued("pkm-a") == [Message(ACK_A, b"q1")]
    again = client("pkm-a")  # no subscribe: the session still has it

    assert again.events == [("connect",), ("message", Message(ACK_A, b"q1"))]
    assert broker.queued("pkm-a") == []


def test_on_connect_comes_before_queued_and_retained_messages(client):
    client("pkm-a", ACK_A).t.stop()
    central = client("central")
    central.t.publish(ACK_A, b"retained", retain=True)
    central.t.publish(ACK_A, b"queued")

    again = client("pkm-a", ACK_A)

    assert again.events == [
        ("connect",),
        ("message", Message(ACK_A, b"retained")),  # the session's queue: live copies
        ("message", Message(ACK_A, b"queued")),
        ("message", Message(ACK_A, b"retained", retain=True)),  # then the re-sent SUBSCRIBE
    ]


def test_session_without_expiry_ends_on_disconnect(broker, client):
    client("pkm-a", ACK_A, session_expiry=0).t.stop()

    client("central").t.publish(ACK_A, b"lost")

    assert broker.queued("pkm-a") == [] and client("pkm-a").payloads == []


def test_session_expires(client):
    now = [1000.0]
    broker = MemoryBroker(clock=lambda: now[0])
    node = Client(broker.transport(Settings(username="pkm-a", session_expiry=60)))
    node.t.subscribe(ACK_A)
    node.t.start()
    node.t.stop()
    central = broker.transport(Settings(username="central"))
    central.start()

    central.publish(ACK_A, b"kept")
    assert broker.queued("pkm-a") == [Message(ACK_A, b"kept")]
    now[0] += 61
    central.publish(ACK_A, b"lost")

    assert broker.queued("pkm-a") == []  # the session, with its queue, is gone
    node.t = broker.transport(Settings(username="pkm-a"))
    node.t.on_message = lambda m: node.events.append(("message", m))
    node.t.start()
    central.publish(ACK_A, b"after")
    assert node.messages == []  # no subscription survived either


def test_session_queue_is_bounded(client):
    broker = MemoryBroker(max_queued=2)
    node = broker.transport(Settings(username="pkm-a"))
    node.subscribe(ACK_A)
    node.start()
    node.stop()
    central = broker.transport(Settings(username="central"))
    central.start()

    for i in range(3):
        central.publish(ACK_A, b"m%d" % i)

    assert [m.payload for m in broker.queued("pkm-a")] == [b"m0", b"m1"]


def test_message_routed_to_a_client_that_drops_meanwhile_stays_in_its_session(broker, client):
    central = client("central", "x/#")
    node = client("pkm-a", "x/#")
    central.t.on_message = lambda m: broker.drop("pkm-a")  # runs before pkm-a's copy is handed over

    client("pub").t.publish("x/1", b"x")

    assert node.events[-1] == ("disconnect", "connection lost")
    assert broker.queued("pkm-a") == [Message("x/1", b"x")]


def test_drop_next_loses_matching_messages(broker, client):
    central = client("central", topics.all_up_filter())
    node = client("pkm-a")
    broker.drop_next(EVENTS_A, n=2)

    results = [node.t.publish(EVENTS_A, b"e%d" % i) for i in range(3)]
    node.t.publish(STATUS_A, b"s")

    assert results == [True, True, True]
    assert central.payloads == [b"e2", b"s"]
    assert [m.payload for _, m in broker.dropped] == [b"e0", b"e1"]
    assert len(broker.published) == 4


# ---- trampoline and errors -----------------------------------------------------------------


def test_handler_that_publishes_does_not_recurse(broker, client):
    """A reply published from on_message is delivered after what was already queued, in order."""
    depth = []
    central = client("central", topics.all_up_filter())
    node = client("pkm-a", ACK_A)

    def answer(m: Message) -> None:
        depth.append(len(_stack()))
        seq = int(m.payload)
        if seq < 2000:
            central.t.publish(ACK_A, str(seq + 1).encode())

    def echo(m: Message) -> None:
        depth.append(len(_stack()))
        node.t.publish(EVENTS_A, m.payload)

    central.t.on_message = answer
    node.t.on_message = echo
    node.t.publish(EVENTS_A, b"0")

    assert len(depth) == 2 * 2001 - 1
    assert max(depth) - min(depth) <= 1  # flat: every delivery runs from the same outer loop


def _stack() -> list:
    frames, frame = [], sys._getframe()
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return frames


def test_deliveries_keep_publish_order(client):
    order = []
    a = client("pkm-a", ACK_A)
    b = client("pkm-b", ACK_B)
    central = client("central")
    a.t.on_message = lambda m: (order.append(("a", m.payload)), central.t.publish(ACK_B, b"from-a"))
    b.t.on_message = lambda m: order.append(("b", m.payload))

    central.t.publish(ACK_A, b"1")

    assert order == [("a", b"1"), ("b", b"from-a")]


def test_callback_error_is_raised_after_the_queue_drains(broker, client):
    bad = client("bad", "x/#")
    good = client("good", "x/#")
    bad.t.on_message = lambda m: 1 / 0

    with pytest.raises(ZeroDivisionError):
        client("pub").t.publish("x/1", b"x")

    assert good.payloads == [b"x"] and len(broker.errors) == 1


def test_callback_errors_only_recorded_without_raise_errors():
    broker = MemoryBroker(raise_errors=False)
    t = broker.transport(Settings(username="bad"))
    t.on_message = lambda m: 1 / 0
    t.subscribe("x")
    t.start()

    assert t.publish("x", b"x") is True
    assert [type(e) for e in broker.errors] == [ZeroDivisionError]


def test_publishes_from_threads_are_serialised(broker, client):
    central = client("central", topics.all_up_filter())
    nodes = [client(f"pkm-{i}") for i in range(4)]

    def burst(node: Client) -> None:
        for n in range(200):
            node.t.publish(topics.up(node.t.client_id, topics.UP_EVENTS), b"%d" % n)

    threads = [threading.Thread(target=burst, args=(n,)) for n in nodes]
    for th in threads:
        th.start()
    for th in threads:
        th.join()

    assert len(central.messages) == 800
    for node in nodes:
        mine = [m.payload for m in central.messages if m.topic == topics.up(node.t.client_id, topics.UP_EVENTS)]
        assert mine == [b"%d" % n for n in range(200)]


def test_the_fake_does_not_import_paho():
    import subprocess

    code = "import sys, infra.mqtt, infra.mqtt.memory; print('paho' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert out.strip() == "False"
