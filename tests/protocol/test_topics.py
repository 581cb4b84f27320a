"""MQTT topic names: exact wire form, round trips, invalid node ids and kinds, foreign topics."""

from __future__ import annotations

import pytest
from paho.mqtt.client import topic_matches_sub

from protocol import topics
from protocol.topics import Topic

NODE = "pkm-cibinong"
UP_KINDS = ["events", "pull", "status", "snapshot", "health"]
DOWN_KINDS = ["changes", "ack"]
NODES = [NODE, "ab", "pkm-01", "0-edge", "a" * 63]


def test_kind_sets_are_the_documented_ones():
    assert set(UP_KINDS) == topics.UP_KINDS
    assert set(DOWN_KINDS) == topics.DOWN_KINDS


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        pytest.param(topics.up(NODE, "events"), "rosma/v1/node/pkm-cibinong/up/events", id="up-events"),
        pytest.param(topics.up(NODE, "status"), "rosma/v1/node/pkm-cibinong/up/status", id="up-status"),
        pytest.param(topics.down(NODE, "changes"), "rosma/v1/node/pkm-cibinong/down/changes", id="down-changes"),
        pytest.param(topics.down(NODE, "ack"), "rosma/v1/node/pkm-cibinong/down/ack", id="down-ack"),
        pytest.param(topics.node_down_filter(NODE), "rosma/v1/node/pkm-cibinong/down/#", id="node-down-filter"),
        pytest.param(topics.all_up_filter(), "rosma/v1/node/+/up/#", id="all-up-filter"),
        pytest.param(topics.all_up_filter("sync"), "$share/sync/rosma/v1/node/+/up/#", id="shared-up-filter"),
    ],
)
def test_exact_wire_form(topic, expected):
    # The broker ACL (pattern rosma/v1/node/%u/...) depends on this exact layout.
    assert topic == expected


@pytest.mark.parametrize("node", NODES)
@pytest.mark.parametrize("kind", UP_KINDS)
def test_up_round_trip(node, kind):
    topic = topics.up(node, kind)
    assert topics.parse(topic) == Topic(node, "up", kind)
    assert topic.split("/") == ["rosma", "v1", "node", node, "up", kind]
    assert "+" not in topic and "#" not in topic


@pytest.mark.parametrize("node", NODES)
@pytest.mark.parametrize("kind", DOWN_KINDS)
def test_down_round_trip(node, kind):
    topic = topics.down(node, kind)
    assert topics.parse(topic) == Topic(node, "down", kind)
    assert topic.split("/") == ["rosma", "v1", "node", node, "down", kind]
    assert "+" not in topic and "#" not in topic


@pytest.mark.parametrize("kind", UP_KINDS)
def test_up_topics_reach_central_and_not_the_node_down_filter(kind):
    topic = topics.up(NODE, kind)
    assert topic_matches_sub(topics.all_up_filter(), topic)
    assert not topic_matches_sub(topics.node_down_filter(NODE), topic)


@pytest.mark.parametrize("kind", DOWN_KINDS)
def test_down_topics_reach_only_their_node(kind):
    topic = topics.down(NODE, kind)
    assert topic_matches_sub(topics.node_down_filter(NODE), topic)
    assert not topic_matches_sub(topics.node_down_filter("pkm-bojonggede"), topic)
    assert not topic_matches_sub(topics.all_up_filter(), topic)


def test_node_filter_does_not_match_a_node_with_the_same_prefix():
    assert not topic_matches_sub(topics.node_down_filter("pkm"), topics.down("pkm-cibinong", "ack"))


BAD_NODES = [
    pytest.param("PKM-Cibinong", id="uppercase"),
    pytest.param("pkm/cibinong", id="slash"),
    pytest.param("pkm+", id="plus"),
    pytest.param("+", id="plus-only"),
    pytest.param("pkm#", id="hash"),
    pytest.param("#", id="hash-only"),
    pytest.param("", id="empty"),
    pytest.param(None, id="none"),
    pytest.param("a", id="one-character"),
    pytest.param("a" * 64, id="too-long-64"),
    pytest.param("-pkm", id="leading-hyphen"),
    pytest.param("pkm cibinong", id="space"),
    pytest.param("pkm_cibinong", id="underscore"),
    pytest.param("pkm.cibinong", id="dot"),
    pytest.param("pkm\x00", id="nul"),
    pytest.param("\npkm", id="leading-newline"),
    pytest.param("pkmé", id="non-ascii"),
    pytest.param("$sys", id="dollar"),
]


@pytest.mark.parametrize("node", BAD_NODES)
@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda n: topics.up(n, "events"), id="up"),
        pytest.param(lambda n: topics.down(n, "ack"), id="down"),
        pytest.param(topics.node_down_filter, id="down-filter"),
    ],
)
def test_invalid_node_id_is_refused(build, node):
    with pytest.raises(ValueError):
        build(node)


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda n: topics.up(n, "events"), id="up"),
        pytest.param(lambda n: topics.down(n, "ack"), id="down"),
        pytest.param(lambda n: topics.parse(f"rosma/v1/node/{n}/up/events"), id="parse"),
    ],
)
def test_node_id_with_trailing_newline_is_refused(build):
    with pytest.raises(ValueError):
        build("pkm-cibinong\n")


@pytest.mark.parametrize(
    ("build", "kind"),
    [
        pytest.param(topics.up, "changes", id="up-with-down-kind-changes"),
        pytest.param(topics.up, "ack", id="up-with-down-kind-ack"),
        pytest.param(topics.down, "events", id="down-with-up-kind-events"),
        pytest.param(topics.down, "status", id="down-with-up-kind-status"),
        pytest.param(topics.up, "", id="up-empty-kind"),
        pytest.param(topics.up, "#", id="up-hash-kind"),
        pytest.param(topics.down, "+", id="down-plus-kind"),
        pytest.param(topics.up, "Events", id="up-capitalised"),
        pytest.param(topics.up, "events/extra", id="up-kind-with-slash"),
    ],
)
def test_unknown_kind_is_refused(build, kind):
    with pytest.raises(ValueError):
        build(NODE, kind)


@pytest.mark.parametrize(
    "topic",
    [
        pytest.param("", id="empty"),
        pytest.param("rosma/v1/node/pkm-cibinong/up", id="missing-kind"),
        pytest.param("rosma/v1/node/pkm-cibinong/up/events/extra", id="extra-level"),
        pytest.param("/rosma/v1/node/pkm-cibinong/up/events", id="leading-slash"),
        pytest.param("rosma/v1/node/pkm-cibinong/up/events/", id="trailing-slash"),
        pytest.param("rosma/v2/node/pkm-cibinong/up/events", id="other-version"),
        pytest.param("rosma/v1/nodes/pkm-cibinong/up/events", id="other-root"),
        pytest.param("frigate/events", id="foreign-app"),
        pytest.param("$SYS/broker/clients/connected", id="broker-sys"),
        pytest.param("$share/sync/rosma/v1/node/pkm-cibinong/up/events", id="shared-prefix"),
        pytest.param("rosma/v1/node/+/up/events", id="wildcard-node"),
        pytest.param("rosma/v1/node/pkm-cibinong/up/#", id="wildcard-kind"),
        pytest.param("rosma/v1/node/PKM/up/events", id="uppercase-node"),
        pytest.param("rosma/v1/node//up/events", id="empty-node"),
        pytest.param("rosma/v1/node/pkm-cibinong/sideways/events", id="bad-direction"),
        pytest.param("rosma/v1/node/pkm-cibinong/UP/events", id="uppercase-direction"),
        pytest.param("rosma/v1/node/pkm-cibinong/up/changes", id="down-kind-on-up"),
        pytest.param("rosma/v1/node/pkm-cibinong/down/events", id="up-kind-on-down"),
        pytest.param("rosma/v1/node/pkm-cibinong/down/unknown", id="unknown-kind"),
    ],
)
def test_parse_refuses_anything_not_built_here(topic):
    with pytest.raises(ValueError):
        topics.parse(topic)
