"""MQTT topic names: the only place a Rosma topic string is built or parsed.

A node writes ``rosma/v1/node/{node_id}/up/{kind}`` and reads
``rosma/v1/node/{node_id}/down/{kind}``. Topics carry node ids and message kinds only,
never personal data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "rosma/v1/node"
NODE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}\Z")  # \Z: "$" would allow a trailing newline

# Up (edge -> central)
UP_EVENTS = "events"  # outbox batch
UP_PULL = "pull"  # "send me the change feed after seq N"
UP_STATUS = "status"  # retained online/offline presence (last will)
UP_SNAPSHOT = "snapshot"  # retained live queue snapshot
UP_HEALTH = "health"  # retained device and sync status (fleet view); an older central drops it
UP_KINDS = frozenset({UP_EVENTS, UP_PULL, UP_STATUS, UP_SNAPSHOT, UP_HEALTH})

# Down (central -> edge)
DOWN_CHANGES = "changes"  # change-feed batch
DOWN_ACK = "ack"  # highest outbox seq central has stored
DOWN_KINDS = frozenset({DOWN_CHANGES, DOWN_ACK})


@dataclass(frozen=True)
class Topic:
    """A parsed Rosma topic."""

    node_id: str
    direction: str  # "up" or "down"
    kind: str


def _check_node(node_id: str) -> str:
    if not NODE_ID_RE.match(node_id or ""):
        raise ValueError(f"invalid node id: {node_id!r}")
    return node_id


def up(node_id: str, kind: str) -> str:
    """Topic a node publishes ``kind`` on."""
    if kind not in UP_KINDS:
        raise ValueError(f"unknown up kind: {kind!r}")
    return f"{PREFIX}/{_check_node(node_id)}/up/{kind}"


def down(node_id: str, kind: str) -> str:
    """Topic central publishes ``kind`` on for one node."""
    if kind not in DOWN_KINDS:
        raise ValueError(f"unknown down kind: {kind!r}")
    return f"{PREFIX}/{_check_node(node_id)}/down/{kind}"


def node_down_filter(node_id: str) -> str:
    """Subscription filter for everything addressed to one node."""
    return f"{PREFIX}/{_check_node(node_id)}/down/#"


def all_up_filter(share_group: str | None = None) -> str:
    """Central's subscription filter for every node's up topics.

    With ``share_group`` it becomes an MQTT shared subscription, so several central sync
    workers split the load.
    """
    base = f"{PREFIX}/+/up/#"
    return f"$share/{share_group}/{base}" if share_group else base


def parse(topic: str) -> Topic:
    """Parse a Rosma topic; raises ValueError for anything else."""
    parts = topic.split("/")
    if len(parts) != 6 or "/".join(parts[:3]) != PREFIX:
        raise ValueError(f"not a rosma topic: {topic!r}")
    node_id, direction, kind = parts[3], parts[4], parts[5]
    _check_node(node_id)
    kinds = UP_KINDS if direction == "up" else DOWN_KINDS if direction == "down" else None
    if kinds is None or kind not in kinds:
        raise ValueError(f"unknown topic kind: {topic!r}")
    return Topic(node_id, direction, kind)
