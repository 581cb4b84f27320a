"""Wall-clock time in Asia/Jakarta (WIB): the day queues run on and reservations are for.

A clock may start at a configured moment and then run at normal speed; training setups and
end-to-end tests use this so that "today" is a known day at any hour. Production leaves it
unset and reads the system clock (kept right by NTP).
"""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

WIB = ZoneInfo("Asia/Jakarta")


class Clock:
    """``now()`` is timezone-aware in WIB; ``today()`` is the WIB date."""

    def __init__(self, start: str = ""):
        self._start = dt.datetime.fromisoformat(start).astimezone(WIB) if start else None
        self._mono0 = time.monotonic()

    @property
    def simulated(self) -> bool:
        return self._start is not None

    def now(self) -> dt.datetime:
        if self._start is None:
            return dt.datetime.now(WIB)
        return self._start + dt.timedelta(seconds=time.monotonic() - self._mono0)

    def today(self) -> dt.date:
        return self.now().date()

    def timestamp(self) -> float:
        return self.now().timestamp()
