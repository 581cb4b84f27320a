"""Login throttling: NIK + date of birth is a weak secret, so guessing must be slow.

Pure and in memory (one central web process); counts failures per key in a sliding window.
A key is a NIK (as a hash) or a client address. Times are monotonic seconds.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque


def key_for(kind: str, value: str) -> str:
    """A key that does not keep the NIK or address itself in memory."""
    return kind + ":" + hashlib.sha256(value.encode()).hexdigest()[:24]


class Throttle:
    def __init__(self, max_failures: int, window_s: float):
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def wait_s(self, key: str, now: float) -> float:
        """Seconds until ``key`` may try again; 0 when it may try now."""
        with self._lock:
            q = self._recent(key, now)
            if len(q) < self.max_failures:
                return 0.0
            return q[0] + self.window_s - now

    def failed(self, key: str, now: float) -> None:
        with self._lock:
            self._recent(key, now).append(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


class LoginGuard:
    """Both login throttles: 5 wrong tries per NIK in 15 minutes, 20 per client address in
    10 minutes (OWASP ASVS 2.2.1). One per app (``app.extensions["rosma.login_guard"]``)."""

    def __init__(self):
        self.nik = Throttle(5, 15 * 60)
        self.client = Throttle(20, 10 * 60)

    def wait_s(self, nik: str, client: str, now: float) -> float:
        return max(self.nik.wait_s(key_for("nik", nik), now), self.client.wait_s(key_for("client", client), now))

    def failed(self, nik: str, client: str, now: float) -> None:
        self.nik.failed(key_for("nik", nik), now)
        self.client.failed(key_for("client", client), now)

    def succeeded(self, nik: str) -> None:
        self.nik.succeeded(key_for("nik", nik))
