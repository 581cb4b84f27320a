"""Waiting-time estimates per queue from the edge's tickets (the rules are ``edge.core.estimate``).

    queue_estimates(day, queues, waiting, now) -> {
        queue: {
            "estimate_next": [lo, hi] | None,  # for a ticket taken now (joins behind everybody waiting)
            "estimates": [[lo, hi] | None, ...],  # one per entry of waiting[queue] (at most 200)
        }
    }

``waiting[queue]`` is that queue's waiting tickets in calling order (labels or keys: only their
positions matter); the i-th has i people ahead. Ranges are whole minutes (``estimate.words``
turns one into "perkiraan 10–20 menit").

Today's gaps come from the first calls (``called_at``) in each queue up to ``now``: one query per
call. The history (the same weekday of the previous ``WEEKS`` weeks) does not change during a day
and is kept in memory per (database, day, queue), read with one query for the queues not yet kept.
A puskesmas is taken to break at midday when most of those past days show the break.
"""

from __future__ import annotations

import datetime as dt

from edge.core import estimate
from edge.models import Ticket
from protocol.clock import WIB

WEEKS = 4
MAX_ENTRIES = 200


class _History:
    __slots__ = ("gaps", "breaks")

    def __init__(self, gaps: list[estimate.Gap], breaks: bool):
        self.gaps = gaps
        self.breaks = breaks


_cache: dict[tuple[str, str, str], _History] = {}


def clear_cache() -> None:
    _cache.clear()


def _t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _calls_by_queue(rows) -> dict[tuple[str, str], list[tuple[dt.datetime, dt.datetime]]]:
    out: dict[tuple[str, str], list[tuple[dt.datetime, dt.datetime]]] = {}
    for r in rows:
        out.setdefault((r.day, r.queue), []).append((_t(r.issued_at), _t(r.called_at)))
    return out


def _history(day: dt.date, queues: list[str]) -> dict[str, _History]:
    db = str(Ticket._meta.database.database)
    key = day.isoformat()
    missing = [q for q in queues if (db, key, q) not in _cache]
    if missing:
        for k in [k for k in _cache if k[0] == db and k[1] != key]:  # an earlier day's
            del _cache[k]
        days = [(day - dt.timedelta(weeks=w)).isoformat() for w in range(1, WEEKS + 1)]
        rows = (
            Ticket.select(Ticket.day, Ticket.queue, Ticket.issued_at, Ticket.called_at)
            .where(Ticket.day.in_(days) & Ticket.queue.in_(missing) & Ticket.called_at.is_null(False))
            .namedtuples()
        )
        calls = _calls_by_queue(rows)
        for q in missing:
            per_day = [calls[(d, q)] for d in days if (d, q) in calls]
            gaps = [g for c in per_day for g in estimate.service_gaps(c)]
            breaks = sum(estimate.took_break(c) for c in per_day)
            _cache[(db, key, q)] = _History(gaps, bool(per_day) and 2 * breaks >= len(per_day))
    return {q: _cache[(db, key, q)] for q in queues}


def queue_estimates(
    day: dt.date, queues: list[str], waiting: dict[str, list[str]], now: dt.datetime
) -> dict[str, dict]:
    """Estimates for each of ``queues`` (see the module docstring for the shape)."""
    if not queues:
        return {}
    rows = (
        Ticket.select(Ticket.day, Ticket.queue, Ticket.issued_at, Ticket.called_at)
        .where((Ticket.day == day.isoformat()) & Ticket.queue.in_(list(queues)) & Ticket.called_at.is_null(False))
        .namedtuples()
    )
    now = now.astimezone(WIB)
    today = {q: [c for c in calls if c[1] <= now] for (_d, q), calls in _calls_by_queue(rows).items()}
    history = _history(day, list(queues))
    out = {}
    for q in queues:
        h = history[q]
        gaps = [g.minutes for g in estimate.service_gaps(today.get(q, []))]
        pace = estimate.Pace.from_gaps(gaps, estimate.same_band(h.gaps, now))
        breaks = [estimate.BREAK] if h.breaks else []
        ahead = len(waiting.get(q, []))

        def one(i: int, pace=pace, breaks=breaks) -> list[int] | None:
            rng = estimate.estimate(pace, i, now, breaks)
            return list(rng) if rng else None

        out[q] = {
            "estimate_next": one(ahead),
            "estimates": [one(i) for i in range(min(ahead, MAX_ENTRIES))],
        }
    return out
