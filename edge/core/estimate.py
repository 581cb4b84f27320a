"""Waiting-time estimates: "perkiraan 10–20 menit" from how fast a queue is being called.

Pure: stdlib only, no database, no I/O. The service side (``edge.estimates``) reads the
tickets and hands the times in.

The model. A queue's pace is the gap between successive first calls in that queue, whoever
calls (all its counters together: three doctors calling from one poli make gaps a third as
long). Only *busy* gaps count: a gap is measured only when somebody was already waiting at
the earlier call (otherwise it measures how fast patients arrive, not how fast they are
called). Gaps over ``MAX_GAP`` minutes, and any gap that overlaps the midday break window
``BREAK``, are left out: they are breaks, not pace.

Where the gaps come from:

- today's busy gaps, the recent ones weighing more (a gap ``HALF_LIFE`` gaps older weighs half);
- when today has fewer than ``MIN_TODAY`` gaps: the same weekday of past weeks, the gaps
  starting within ``BAND`` minutes of the time of day asked about if there are at least
  ``MIN_HISTORY`` of those, else all of them;
- neither: no estimate (``None``, and ``words`` gives "").

The estimate for a patient with ``ahead`` people before her is the sum of ``ahead + 1`` gaps.
Its spread has two parts: the gaps' own variance (grows with ``ahead``), and how well the mean
gap is known (the mean's variance from the effective number of gaps, plus a share of the mean
for how much the pace may drift; larger for another day's history). The sum is taken as a gamma
variable with that mean and variance, and the ``LEVEL`` (80 %) interval is read off with the
Wilson–Hilferty approximation, then rounded outward to whole ``STEP`` (5) minutes. Fewer data
or more people ahead give a wider range. When the puskesmas takes a midday break, a wait that
runs into it is lengthened by the break.

API::

    service_gaps(calls, window=BREAK, max_gap=MAX_GAP) -> list[Gap]
        calls: (issued_at, called_at) of one queue's called tickets of one day (aware datetimes)
    took_break(calls, window=BREAK, min_len=MAX_GAP) -> bool
        whether that day's calls stopped for a break overlapping ``window``
    same_band(history, at, band=BAND, min_n=MIN_HISTORY) -> list[float]
        the history gaps (minutes) to use at time of day ``at``
    Pace.from_gaps(today: list[float], history: list[float]) -> Pace | None
        today's gaps in time order (oldest first); None when neither is enough
    estimate(pace, ahead, now=None, breaks=()) -> tuple[int, int] | None
        whole minutes, multiples of 5, lo < hi; (0, 5) means less than 5 minutes
    words(rng) -> str
        "perkiraan 10–20 menit", "perkiraan kurang dari 5 menit",
        "perkiraan lebih dari 2 jam", "" for None
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

MAX_GAP = 30.0  # minutes: a longer gap between calls is a break
BREAK = (dt.time(12, 0), dt.time(13, 0))  # the midday break window (istirahat)
MIN_TODAY = 4  # today's gaps needed before today's pace is used
MIN_HISTORY = 8  # history gaps needed (in the hour band, else in all)
HALF_LIFE = 8.0  # gaps: today's weights halve every HALF_LIFE gaps back
BAND = 60.0  # minutes either side of the time of day for history gaps
DRIFT_TODAY = 0.15  # relative sd of today's mean gap over the coming wait
DRIFT_HISTORY = 0.35  # relative sd of another day's mean gap as a guess for today
MIN_CV = 0.3  # gaps are never taken as more regular than this (coefficient of variation)
LEVEL = 0.80
STEP = 5
LONG = 120  # minutes: "lebih dari 2 jam" once the low end reaches it

_Z = {0.80: 1.2815515655446004, 0.90: 1.6448536269514722, 0.50: 0.6744897501960817}


class Gap(NamedTuple):
    """One busy gap: when it started (the earlier call) and its length in minutes."""

    at: dt.datetime
    minutes: float


def _overlaps(start: dt.datetime, end: dt.datetime, window: tuple[dt.time, dt.time] | None) -> bool:
    if window is None:
        return False
    w0 = dt.datetime.combine(start.date(), window[0], start.tzinfo)
    w1 = dt.datetime.combine(start.date(), window[1], start.tzinfo)
    return start < w1 and end > w0


def _busy_pairs(calls: Iterable[tuple[dt.datetime, dt.datetime]]):
    """(earlier call, later call) for successive calls with somebody waiting at the earlier one."""
    rows = sorted(calls, key=lambda c: c[1])
    # earliest issue time among the tickets called at or after each position
    suffix = [dt.datetime.max.replace(tzinfo=dt.UTC)] * (len(rows) + 1)
    for i in range(len(rows) - 1, -1, -1):
        suffix[i] = min(suffix[i + 1], rows[i][0])
    for i in range(1, len(rows)):
        prev, this = rows[i - 1][1], rows[i][1]
        if suffix[i] <= prev:
            yield prev, this


def service_gaps(
    calls: Iterable[tuple[dt.datetime, dt.datetime]],
    window: tuple[dt.time, dt.time] | None = BREAK,
    max_gap: float = MAX_GAP,
) -> list[Gap]:
    """The busy gaps of one queue's day, in time order, without breaks."""
    out = []
    for prev, this in _busy_pairs(calls):
        minutes = (this - prev).total_seconds() / 60
        if minutes > max_gap or _overlaps(prev, this, window):
            continue
        out.append(Gap(prev, minutes))
    return out


def took_break(
    calls: Iterable[tuple[dt.datetime, dt.datetime]],
    window: tuple[dt.time, dt.time] = BREAK,
    min_len: float = MAX_GAP,
) -> bool:
    """Whether the calls stopped for at least ``min_len`` minutes, with patients waiting,
    across the break window (so this puskesmas breaks at midday)."""
    return any(
        (this - prev).total_seconds() / 60 >= min_len and _overlaps(prev, this, window)
        for prev, this in _busy_pairs(calls)
    )


def same_band(history: Sequence[Gap], at: dt.datetime, band: float = BAND, min_n: int = MIN_HISTORY) -> list[float]:
    """History gap lengths for time of day ``at``: those starting within ``band`` minutes of
    it when there are ``min_n`` of them, else all."""
    minute = at.hour * 60 + at.minute
    near = [g.minutes for g in history if abs(g.at.hour * 60 + g.at.minute - minute) <= band]
    return near if len(near) >= min_n else [g.minutes for g in history]


@dataclass(frozen=True)
class Pace:
    """How fast a queue is called: mean and variance of one gap (minutes), how many gaps it
    rests on (effective count), the relative drift of the mean, and where it came from."""

    mean: float
    var: float
    n: float
    drift: float
    source: str  # "today" or "history"

    @classmethod
    def from_gaps(cls, today: Sequence[float], history: Sequence[float]) -> Pace | None:
        if len(today) >= MIN_TODAY:
            last = len(today) - 1
            weights = [0.5 ** ((last - i) / HALF_LIFE) for i in range(len(today))]
            return cls._weighted(list(today), weights, DRIFT_TODAY, "today")
        if len(history) >= MIN_HISTORY:
            return cls._weighted(list(history), [1.0] * len(history), DRIFT_HISTORY, "history")
        return None

    @classmethod
    def _weighted(cls, gaps: list[float], weights: list[float], drift: float, source: str) -> Pace:
        total = sum(weights)
        mean = sum(w * g for w, g in zip(weights, gaps, strict=True)) / total
        n = total * total / sum(w * w for w in weights)
        var = sum(w * (g - mean) ** 2 for w, g in zip(weights, gaps, strict=True)) / total
        var *= n / (n - 1) if n > 1 else 1.0
        mean = max(mean, 0.1)  # a burst of simultaneous calls is not an infinite pace
        var = max(var, (MIN_CV * mean) ** 2)
        return cls(mean=mean, var=var, n=n, drift=drift, source=source)


def _interval(pace: Pace, ahead: int, level: float) -> tuple[float, float]:
    k = ahead + 1
    total = k * pace.mean
    mean_var = pace.var / pace.n + (pace.drift * pace.mean) ** 2
    var = k * pace.var + k * k * mean_var
    shape = total * total / var
    z = _Z[level]
    c = 1 - 1 / (9 * shape)
    s = z / (3 * math.sqrt(shape))
    return total * max(c - s, 0.0) ** 3, total * (c + s) ** 3


def _through_breaks(now: dt.datetime, minutes: float, breaks: Iterable[tuple[dt.time, dt.time]]) -> float:
    """Wall-clock minutes from ``now`` until ``minutes`` of calling time have passed."""
    for b0, b1 in sorted(breaks):
        start = dt.datetime.combine(now.date(), b0, now.tzinfo)
        end = dt.datetime.combine(now.date(), b1, now.tzinfo)
        if now >= end:
            continue
        if now >= start:  # in the break now: nothing moves until it ends
            minutes += (end - now).total_seconds() / 60
        elif now + dt.timedelta(minutes=minutes) > start:
            minutes += (end - start).total_seconds() / 60
    return minutes


def estimate(
    pace: Pace | None,
    ahead: int,
    now: dt.datetime | None = None,
    breaks: Iterable[tuple[dt.time, dt.time]] = (),
    level: float = LEVEL,
) -> tuple[int, int] | None:
    """The ``level`` range of the wait, in whole minutes rounded outward to ``STEP``, for a
    patient with ``ahead`` people before her; None without a pace. ``breaks`` (with ``now``)
    lengthen a wait that runs into them."""
    if pace is None or ahead < 0:
        return None
    lo, hi = _interval(pace, ahead, level)
    if now is not None:
        breaks = list(breaks)
        lo, hi = _through_breaks(now, lo, breaks), _through_breaks(now, hi, breaks)
    lo_r = int(math.floor(lo / STEP + 1e-9)) * STEP
    hi_r = int(math.ceil(hi / STEP - 1e-9)) * STEP
    return lo_r, max(hi_r, lo_r + STEP)


def words(rng: tuple[int, int] | Sequence[int] | None) -> str:
    """The range as the ticket, the phone page and the TV say it."""
    if rng is None:
        return ""
    lo, hi = rng
    if lo >= LONG:
        return "perkiraan lebih dari 2 jam"
    if lo <= 0:
        return f"perkiraan kurang dari {hi} menit"
    return f"perkiraan {lo}–{hi} menit"
