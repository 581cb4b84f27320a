"""Throttle counters under requests that arrive at the same moment (several web threads, as
waitress runs them), on SQLite and PostgreSQL: a limit lets exactly its allowance through, and a
burst of tries is not all judged before the first failure is counted."""

from __future__ import annotations

import threading

import pytest

from central import limits
from central.models import database

BURST = 16


def together(work) -> list:
    """Run ``work`` in BURST threads released at the same instant; return their results."""
    barrier = threading.Barrier(BURST)
    results: list = [None] * BURST

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work()
        except limits.Limited:
            results[i] = "limited"
        finally:
            database.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(BURST)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_a_burst_of_hits_lets_exactly_the_allowance_through(app):
    rule = limits.Limit("test-burst", allowed=5, window_s=3600)
    results = together(lambda: limits.hit(rule, "198.51.100.1"))
    assert sorted(r for r in results if r != "limited") == [1, 2, 3, 4, 5]
    assert results.count("limited") == BURST - 5


def test_a_burst_of_tries_is_not_all_judged(app):
    rule = limits.Backoff("test-tries", free=3, base_s=30, cap_s=900, window_s=3600)
    results = together(lambda: limits.attempt(rule, "nik", "device"))
    judged = [r for r in results if r != "limited"]
    assert sorted(judged) == [1, 2, 3, 4]  # the free tries and the one that blocks: no more
    for count in judged:
        limits.failed_try(rule, count, "nik", "device")
    assert limits.blocked(rule.name, "nik", "device") > 0


def test_a_hit_given_back_frees_its_place(app):
    rule = limits.Limit("test-release", allowed=1, window_s=3600)
    limits.hit(rule, "acct")
    limits.release(rule, "acct")  # the booking was refused: it does not count
    assert limits.hit(rule, "acct") == 1


def test_a_window_over_starts_again_and_a_blocked_bucket_counts_nothing(app):
    import datetime as dt

    from central.models import ThrottleBucket, utcnow

    limit = limits.Limit("test-window", allowed=2, window_s=60)
    start = utcnow()
    assert [limits.hit(limit, "a", now=start), limits.hit(limit, "a", now=start)] == [1, 2]
    with pytest.raises(limits.Limited):
        limits.hit(limit, "a", now=start)
    assert ThrottleBucket.get().count == 2  # the refused hit was given back
    later = start + dt.timedelta(seconds=61)
    assert limits.hit(limit, "a", now=later) == 1
    ThrottleBucket.update(blocked_until=later + dt.timedelta(minutes=5)).execute()
    with pytest.raises(limits.Limited) as blocked:
        limits.hit(limit, "a", now=later)
    assert blocked.value.wait_s >= 299
    assert ThrottleBucket.get().count == 1
