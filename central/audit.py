"""The back office's audit log: who changed what, when, with the values before and after.

Call ``record`` inside the transaction that makes the change, so the two stand or fall together.
"""

from __future__ import annotations

import json

from central.models import AuditLog, Staff


def record(
    staff: Staff | None,
    entity: str,
    key: str,
    action: str,
    before: dict | None,
    after: dict | None,
    puskesmas_id: int | None = None,
) -> AuditLog:
    """Store one change. ``before``/``after`` are plain dicts (never a password or its hash)."""
    return AuditLog.create(
        staff=staff,
        actor=staff.username if staff is not None else "cli",
        puskesmas=puskesmas_id,
        entity=entity,
        entity_key=key[:80],
        action=action,
        before=json.dumps(before, ensure_ascii=False, sort_keys=True, default=str) if before is not None else "",
        after=json.dumps(after, ensure_ascii=False, sort_keys=True, default=str) if after is not None else "",
    )


def diff(before: dict | None, after: dict | None) -> list[tuple[str, object, object]]:
    """The fields that differ, as (field, before, after), for the audit page."""
    before, after = before or {}, after or {}
    keys = sorted(set(before) | set(after))
    return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]
