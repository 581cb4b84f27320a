"""``topic_matches``: a table of MQTT matching rules, and the same rules cross-checked against Mosquitto.

The cross-check subscribes one paho client to every filter, each with its own MQTT v5
Subscription Identifier, publishes every topic, and reads which subscriptions each message
came through; that set must be exactly the filters ``topic_matches`` says match.
"""

from __future__ import annotations

import itertools
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from infra.mqtt.base import check_topic, split_filter, topic_matches
from provisioning import broker as mb
from provisioning.local_broker import LocalBroker, find_executable

TIMEOUT = 5.0


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        pytest.param("a/b", "a/b", True, id="exact"),
        pytest.param("a/b", "a/B", False, id="case-sensitive"),
        pytest.param("a/b", "a/b/c", False, id="exact-no-prefix"),
        pytest.param("a/+", "a/b", True, id="plus-one-level"),
        pytest.param("a/+", "a/", True, id="plus-empty-level"),
        pytest.param("a/+", "a", False, id="plus-needs-the-level"),
        pytest.param("a/+", "a/b/c", False, id="plus-only-one-level"),
        pytest.param("+/+", "/", True, id="plus-plus-two-empty-levels"),
        pytest.param("+", "/a", False, id="plus-not-two-levels"),
        pytest.param("/+", "/a", True, id="leading-empty-level"),
        pytest.param("a/+/c", "a//c", True, id="plus-empty-middle"),
        pytest.param("a/#", "a", True, id="hash-matches-parent"),
        pytest.param("a/#", "a/", True, id="hash-empty-child"),
        pytest.param("a/#", "a/b/c", True, id="hash-many-levels"),
        pytest.param("a/#", "ab", False, id="hash-not-a-string-prefix"),
        pytest.param("a/b/#", "a", False, id="hash-parent-of-parent"),
        pytest.param("#", "a/b", True, id="hash-everything"),
        pytest.param("#", "/", True, id="hash-empty-levels"),
        pytest.param("+/#", "a", True, id="plus-hash-one-level"),
        pytest.param("#", "$SYS/broker", False, id="hash-not-dollar"),
        pytest.param("+/broker", "$SYS/broker", False, id="plus-not-dollar"),
        pytest.param("$SYS/#", "$SYS/broker", True, id="dollar-explicit"),
        pytest.param("$SYS/#", "$SYS", True, id="dollar-parent"),
        pytest.param("$SYS/+", "$SYS/broker", True, id="dollar-plus-below"),
        pytest.param("a/#", "a/$b", True, id="dollar-below-first-level"),
        pytest.param("$share/g/a/+", "a/b", True, id="shared"),
        pytest.param("$share/g/#", "a/b", True, id="shared-hash"),
        pytest.param("$share/g/#", "$SYS/x", False, id="shared-hash-not-dollar"),
        pytest.param("$share/g/a/#", "$share/g/a/b", False, id="shared-prefix-not-matched-literally"),
        pytest.param("rosma/v1/node/+/up/#", "rosma/v1/node/pkm-a/up/events", True, id="rosma-all-up"),
        pytest.param("rosma/v1/node/+/up/#", "rosma/v1/node/pkm-a/down/ack", False, id="rosma-up-not-down"),
        pytest.param("rosma/v1/node/pkm-a/down/#", "rosma/v1/node/pkm-b/down/ack", False, id="rosma-other-node"),
    ],
)
def test_topic_matches(topic_filter, topic, expected):
    assert topic_matches(topic_filter, topic) is expected


@pytest.mark.parametrize(
    "topic_filter",
    [
        pytest.param("", id="empty"),
        pytest.param("a/#/b", id="hash-not-last"),
        pytest.param("a/b#", id="hash-in-level"),
        pytest.param("a/+b", id="plus-in-level"),
        pytest.param("a\0b", id="nul"),
        pytest.param("$share/g", id="shared-without-filter"),
        pytest.param("$share/g/", id="shared-empty-filter"),
        pytest.param("$share//a", id="shared-empty-group"),
        pytest.param("$share/g+/a", id="shared-wildcard-group"),
    ],
)
def test_invalid_filter(topic_filter):
    with pytest.raises(ValueError):
        split_filter(topic_filter)
    with pytest.raises(ValueError):
        topic_matches(topic_filter, "a")


@pytest.mark.parametrize(
    "topic",
    [
        pytest.param("", id="empty"),
        pytest.param("a/+", id="plus"),
        pytest.param("a/#", id="hash"),
        pytest.param("a\0", id="nul"),
        pytest.param("x" * 65536, id="too-long"),
    ],
)
def test_invalid_topic(topic):
    with pytest.raises(ValueError):
        check_topic(topic)
    with pytest.raises(ValueError):
        topic_matches("#", topic)


def test_split_filter():
    assert split_filter("$share/sync/rosma/v1/node/+/up/#") == ("sync", "rosma/v1/node/+/up/#")
    assert split_filter("a/+/#") == (None, "a/+/#")


# ---- cross-check against Mosquitto -------------------------------------------------------

FILTERS = [
    "#",
    "+",
    "+/+",
    "/+",
    "+/#",
    "a",
    "a/#",
    "a/+",
    "a/+/c",
    "a/b/#",
    "a/+/#",
    "+/b/#",
    "a//c",
    "A/#",
    "$x/#",
    "$x/+",
    "+/y",
    "$x",
    "$share/g/a/#",
    "$share/g/+/b",
    "$share/g/#",
    "$share/g/$x/#",
    "$share/g/$x/+",
    "$share/g/$x",
]
TOPICS = ["a", "a/", "a/b", "a/b/c", "a//c", "/a", "/", "b/a", "A/b", "a/b/c/d", "x/y", "$x", "$x/y", "$x/y/z", "$x/a"]
DONE = "done/marker"
USER = "probe"
# A permissive ACL: this is about matching, not Rosma's rules. "#" does not cover $-topics.
ACL = f"user {USER}\ntopic readwrite #\ntopic readwrite $x/#\n"


@pytest.fixture(scope="module")
def mosquitto_matches(tmp_path_factory) -> set[tuple[str, str]]:
    """(filter, topic) pairs Mosquitto delivered."""
    assert find_executable("mosquitto") is not None, "mosquitto is not installed (make test installs it)"
    directory = tmp_path_factory.mktemp("xcheck")
    password = "cross-check-password"
    local = LocalBroker(directory, {USER: password})
    mb.write_password_file(directory / mb.PASSWD_NAME, local.users)
    (directory / mb.ACL_NAME).write_text(ACL)
    local.run(mb.write_broker_config(directory, local.port, tls=local.tls_files()))
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=USER, protocol=mqtt.MQTTv5)
    client.username_pw_set(USER, password)
    client.tls_set(ca_certs=str(local.ca_path))
    cond = threading.Condition()
    got: dict[str, set[int]] = {}
    acked: set[int] = set()
    state: dict[str, object] = {}

    def on_connect(c, userdata, flags, reason_code, properties):
        with cond:
            state["connack"] = reason_code
            cond.notify_all()

    def on_subscribe(c, userdata, mid, reason_codes, properties):
        with cond:
            assert not any(r.is_failure for r in reason_codes), reason_codes
            acked.add(mid)
            cond.notify_all()

    def on_message(c, userdata, msg):
        with cond:
            got.setdefault(msg.topic, set()).update(msg.properties.SubscriptionIdentifier)
            cond.notify_all()

    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    try:
        client.connect("127.0.0.1", local.port)
        client.loop_start()
        with cond:
            assert cond.wait_for(lambda: "connack" in state, TIMEOUT), "no CONNACK"
        assert not state["connack"].is_failure, state["connack"]
        mids = []
        for number, topic_filter in enumerate([*FILTERS, DONE], start=1):
            props = Properties(PacketTypes.SUBSCRIBE)
            props.SubscriptionIdentifier = number
            rc, mid = client.subscribe(topic_filter, qos=1, properties=props)
            assert rc == mqtt.MQTT_ERR_SUCCESS
            mids.append(mid)
        with cond:
            assert cond.wait_for(lambda: acked >= set(mids), TIMEOUT), "no SUBACK"
        for topic in [*TOPICS, DONE]:
            assert client.publish(topic, b"x", qos=1).rc == mqtt.MQTT_ERR_SUCCESS
        done_id = len(FILTERS) + 1
        # Mosquitto queues every copy of a message before any copy of the next one.
        with cond:
            assert cond.wait_for(lambda: done_id in got.get(DONE, ()), TIMEOUT), f"marker not received: {got}"
    finally:
        client.disconnect()
        client.loop_stop()
        client.on_connect = client.on_subscribe = client.on_message = None
        local.stop()
    return {(FILTERS[i - 1], topic) for topic, ids in got.items() if topic != DONE for i in ids if i <= len(FILTERS)}


def mosquitto_quirk(topic_filter: str) -> bool:
    """Mosquitto 2.0.11 never delivers through a shared subscription whose filter starts with "$".

    MQTT 5 says ``$share/g/$x/#`` receives ``$x/y``; ``topic_matches`` follows the standard
    and ``MemoryBroker`` follows Mosquitto. Rosma shares only ``rosma/v1/node/+/up/#``.
    """
    group, inner = split_filter(topic_filter)
    return group is not None and inner.startswith("$")


def test_topic_matches_agrees_with_mosquitto(mosquitto_matches):
    ours = {(f, t) for f, t in itertools.product(FILTERS, TOPICS) if topic_matches(f, t)}
    quirk = {(f, t) for f, t in ours if mosquitto_quirk(f)}

    assert sorted(ours - mosquitto_matches - quirk) == [], "topic_matches says yes, Mosquitto did not deliver"
    assert sorted(mosquitto_matches - ours) == [], "Mosquitto delivered, topic_matches says no"
    assert quirk and not quirk & mosquitto_matches, "Mosquitto's shared-$ quirk changed: update MemoryBroker"
    assert len(ours) > 40  # a real mix of matches and misses
