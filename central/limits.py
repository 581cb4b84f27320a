"""Rate limits shared by every web process: counters in the database (``ThrottleBucket``), so
several web processes count together and a restart forgets nothing.

A bucket is a key (what is limited and for whom, the whom hashed: never a NIK or an address in
clear) with a count in a fixed window, and optionally a block until a moment. ``Limit`` names
the window and how many hits it allows; ``Backoff`` turns repeated failures into a growing
block (progressive delay). Times are naive UTC like every DateTimeField here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from peewee import Case, IntegrityError

from central.models import ThrottleBucket, database, utcnow


class Limited(Exception):
    """A limit is reached; ``wait_s`` is how long until the next try may pass."""

    def __init__(self, wait_s: float):
        super().__init__(f"limited for {wait_s:.0f} s")
        self.wait_s = max(1.0, wait_s)

    @property
    def minutes(self) -> int:
        return int(self.wait_s // 60) + 1


@dataclass(frozen=True)
class Limit:
    name: str
    allowed: int  # hits per window
    window_s: int


@dataclass(frozen=True)
class Backoff:
    """After ``free`` failures, each further one blocks for base * 2**k seconds, up to ``cap``."""

    name: str
    free: int
    base_s: int
    cap_s: int
    window_s: int


_PEPPER = b"rosma-limits"  # bucket names only need to be stable and not reveal their input


def who(value: str) -> str:
    """A stable, non-reversible name for a NIK, an address or a device in a bucket key."""
    return hmac.new(_PEPPER, (value or "").encode(), hashlib.sha256).hexdigest()[:24]


def _key(name: str, *parts: str) -> str:
    return ":".join([name, *(who(p) for p in parts)])[:120]


def _bucket(key: str, window_s: int, now: dt.datetime) -> ThrottleBucket:
    row = ThrottleBucket.get_or_none(ThrottleBucket.key == key)
    if row is None:
        try:
            with database.atomic():
                row = ThrottleBucket.create(key=key, count=0, window_start=now)
        except IntegrityError:  # another process created it a moment ago
            row = ThrottleBucket.get(ThrottleBucket.key == key)
    if row.window_start <= now - dt.timedelta(seconds=window_s):
        ThrottleBucket.update(count=0, window_start=now).where(ThrottleBucket.id == row.id).execute()
        row.count, row.window_start = 0, now
    return row


def blocked(name: str, *parts: str, now: dt.datetime | None = None) -> float:
    """Seconds the bucket is still blocked for (0 when not)."""
    now = now or utcnow()
    row = ThrottleBucket.get_or_none(ThrottleBucket.key == _key(name, *parts))
    if row is None or row.blocked_until is None or row.blocked_until <= now:
        return 0.0
    return (row.blocked_until - now).total_seconds()


def check(limit: Limit, *parts: str, now: dt.datetime | None = None) -> None:
    """Raise Limited if the window is full (or the bucket blocked); does not count."""
    now = now or utcnow()
    wait = blocked(limit.name, *parts, now=now)
    if wait:
        raise Limited(wait)
    row = ThrottleBucket.get_or_none(ThrottleBucket.key == _key(limit.name, *parts))
    if row and row.window_start > now - dt.timedelta(seconds=limit.window_s) and row.count >= limit.allowed:
        raise Limited((row.window_start + dt.timedelta(seconds=limit.window_s) - now).total_seconds())


def _add(row_id: int, by: int) -> int:
    """Add to a bucket's count in one statement and return the new count: two processes counting
    at the same moment each see their own result (no read-then-write race)."""
    rows = list(
        ThrottleBucket.update(count=ThrottleBucket.count + by)
        .where(ThrottleBucket.id == row_id)
        .returning(ThrottleBucket.count)
        .execute()
    )
    return rows[0].count if rows else 0


def hit(limit: Limit, *parts: str, now: dt.datetime | None = None) -> int:
    """Count one hit; raises Limited (without counting) when the window is already full.

    The count is taken before the checked action runs, atomically: of many requests at the same
    moment exactly ``allowed`` pass. ``release`` gives a hit back when the action did not happen.
    One statement in the usual case: the bucket is made, its window renewed and the hit counted
    together (a blocked bucket is left as it is).
    """
    now = now or utcnow()
    key = _key(limit.name, *parts)
    blocked_now = ThrottleBucket.blocked_until.is_null(False) & (ThrottleBucket.blocked_until > now)
    expired = ThrottleBucket.window_start <= now - dt.timedelta(seconds=limit.window_s)
    row = (
        ThrottleBucket.insert(key=key, count=1, window_start=now)
        .on_conflict(
            conflict_target=[ThrottleBucket.key],
            update={
                ThrottleBucket.count: Case(
                    None, ((blocked_now, ThrottleBucket.count), (expired, 1)), ThrottleBucket.count + 1
                ),
                ThrottleBucket.window_start: Case(
                    None, ((blocked_now, ThrottleBucket.window_start), (expired, now)), ThrottleBucket.window_start
                ),
            },
        )
        .returning(ThrottleBucket.id, ThrottleBucket.count, ThrottleBucket.window_start, ThrottleBucket.blocked_until)
        .objects()
        .execute()
    )
    row = list(row)[0]
    blocked_until = _as_datetime(row.blocked_until)
    if blocked_until is not None and blocked_until > now:
        raise Limited((blocked_until - now).total_seconds())
    if row.count > limit.allowed:
        _add(row.id, -1)
        window_start = _as_datetime(row.window_start)
        raise Limited((window_start + dt.timedelta(seconds=limit.window_s) - now).total_seconds())
    return row.count


def _as_datetime(value) -> dt.datetime | None:
    """A RETURNING value as a datetime (SQLite gives back the stored text)."""
    if value is None or isinstance(value, dt.datetime):
        return value
    return ThrottleBucket.window_start.python_value(value)


def release(limit: Limit, *parts: str) -> None:
    """Give back a hit whose action did not take place (e.g. a booking refused as full)."""
    ThrottleBucket.update(count=ThrottleBucket.count - 1).where(
        (ThrottleBucket.key == _key(limit.name, *parts)) & (ThrottleBucket.count > 0)
    ).execute()


def _delay(backoff: Backoff, count: int) -> float:
    return min(backoff.cap_s, backoff.base_s * 2 ** (count - backoff.free - 1))


def attempt(backoff: Backoff, *parts: str, now: dt.datetime | None = None) -> int:
    """Reserve one try before judging it (a PIN check takes tens of milliseconds: tries sent all
    at once must not all be judged). Raises Limited when the bucket is blocked, or when tries in
    flight already took the allowance; returns this try's number for ``failed_try``.
    A try that succeeds gives its reservation back (``succeeded``)."""
    now = now or utcnow()
    wait = blocked(backoff.name, *parts, now=now)
    if wait:
        raise Limited(wait)
    row = _bucket(_key(backoff.name, *parts), backoff.window_s, now)
    count = _add(row.id, 1)
    if count > backoff.free + 1:
        _block(row.id, now + dt.timedelta(seconds=_delay(backoff, count)))
        raise Limited(_delay(backoff, count))
    return count


def failed_try(backoff: Backoff, count: int, *parts: str, now: dt.datetime | None = None) -> None:
    """A reserved try (number ``count``) failed: past ``free`` failures the bucket blocks."""
    if count > backoff.free:
        now = now or utcnow()
        row = ThrottleBucket.get_or_none(ThrottleBucket.key == _key(backoff.name, *parts))
        if row is not None:
            _block(row.id, now + dt.timedelta(seconds=_delay(backoff, count)))


def succeeded(backoff: Backoff, *parts: str, forget: bool = False) -> None:
    """A reserved try succeeded: take its reservation back (``forget``: clear the bucket)."""
    if forget:
        reset(backoff.name, *parts)
    else:
        release(Limit(backoff.name, 0, backoff.window_s), *parts)


def _block(row_id: int, until: dt.datetime) -> None:
    """Block until ``until``, never shortening a longer block set meanwhile."""
    ThrottleBucket.update(blocked_until=until).where(
        (ThrottleBucket.id == row_id)
        & (ThrottleBucket.blocked_until.is_null(True) | (ThrottleBucket.blocked_until < until))
    ).execute()


def failed(backoff: Backoff, *parts: str, now: dt.datetime | None = None) -> None:
    """Record a failure that was not reserved with ``attempt``; past ``free`` failures the bucket
    is blocked for a growing time."""
    now = now or utcnow()
    row = _bucket(_key(backoff.name, *parts), backoff.window_s, now)
    count = _add(row.id, 1)
    if count > backoff.free:
        _block(row.id, now + dt.timedelta(seconds=_delay(backoff, count)))


def reset(name: str, *parts: str) -> None:
    ThrottleBucket.delete().where(ThrottleBucket.key == _key(name, *parts)).execute()


def purge(older_than: dt.timedelta = dt.timedelta(days=2)) -> int:
    """Drop buckets nobody touched for a while (their windows are long over)."""
    limit = utcnow() - older_than
    return (
        ThrottleBucket.delete()
        .where(
            (ThrottleBucket.window_start < limit)
            & (ThrottleBucket.blocked_until.is_null(True) | (ThrottleBucket.blocked_until < limit))
        )
        .execute()
    )


# ---- the limits -------------------------------------------------------------------------------
# logging in: one account from one device backs off after 3 wrong tries; an account from devices
# it has never signed in on is blocked after 10 wrong tries an hour (strangers cannot lock the
# owner out of her own device: that bucket is not hers); one address sweeping many accounts
# stops after 20 wrong tries in 10 minutes; all logins together slow down under a flood
LOGIN_ACCOUNT_DEVICE = Backoff("login-acct-dev", free=3, base_s=30, cap_s=15 * 60, window_s=3600)
LOGIN_ACCOUNT = Backoff("login-acct", free=10, base_s=15 * 60, cap_s=60 * 60, window_s=3600)
LOGIN_CLIENT = Backoff("login-client", free=20, base_s=10 * 60, cap_s=60 * 60, window_s=600)
LOGIN_GLOBAL = Limit("login-global-fail", allowed=600, window_s=60)
# changing the PIN: wrong current PINs, per account (a stolen session must not be a PIN oracle)
PIN_CHANGE = Backoff("pin-change", free=5, base_s=60, cap_s=60 * 60, window_s=3600)
# staff sign-in: besides the address and account+address buckets, one account guessed from many
# addresses slows down (it is never locked for long: the loket must open in the morning)
STAFF_ACCOUNT = Backoff("staff-acct", free=10, base_s=60, cap_s=15 * 60, window_s=3600)
# registering: a handful per address, a ceiling for the whole site (fake accounts drain slots)
REGISTER_CLIENT = Limit("register-client", allowed=5, window_s=3600)
REGISTER_GLOBAL = Limit("register-global", allowed=300, window_s=3600)
# one-time codes: few per account and per address (each costs a message and annoys the owner)
OTP_ACCOUNT = Limit("otp-acct", allowed=3, window_s=3600)
OTP_CLIENT = Limit("otp-client", allowed=10, window_s=3600)
# booking: per address, and per account (besides one per puskesmas per day and the active cap)
BOOK_CLIENT = Limit("book-client", allowed=10, window_s=3600)
BOOK_ACCOUNT = Limit("book-acct", allowed=6, window_s=24 * 3600)
