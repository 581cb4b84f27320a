"""The node's small persistent facts (change-feed checkpoint, database incarnation, last clock
seen), in the ``KeyValue`` table. Call inside or outside a transaction."""

from __future__ import annotations

from edge.models import KeyValue

CHANGE_SEQ = "change_seq"  # highest change-feed seq applied
INCARNATION = "incarnation"  # this database's identity, made by migration 2
CLOCK_SEEN = "clock_seen"  # latest wall-clock time this node has seen


def get(key: str, default: str = "") -> str:
    row = KeyValue.get_or_none(KeyValue.key == key)
    return row.value if row else default


def put(key: str, value: str) -> None:
    KeyValue.insert(key=key, value=value).on_conflict(
        conflict_target=[KeyValue.key], update={KeyValue.value: value}
    ).execute()


def change_seq() -> int:
    return int(get(CHANGE_SEQ, "0"))


def incarnation() -> str:
    return get(INCARNATION)
