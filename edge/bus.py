"""In-process event bus joining the web app, the device workers and the sync client.

Messages are objects: the typed events of ``protocol.events`` (every queue change) and the
node's own notices (``edge.notices``: device status, a printed ticket, a scan). Subscribers say
which types they want (classes; a base class takes its subclasses) and get their own bounded
queue: a slow subscriber (a TV that lost its connection) loses old messages rather than
blocking the queue. The bus numbers what it carries and keeps the last few hundred, so a screen
that reconnects can be sent what it missed (SSE Last-Event-ID).
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Posted:
    """One message as the bus carried it: its number and the object."""

    id: int
    message: Any


class Subscription:
    def __init__(self, bus: Bus, types: tuple[type, ...], maxsize: int):
        self._bus = bus
        self.types = types
        self.queue: queue.Queue[Posted] = queue.Queue(maxsize)

    def wants(self, message: Any) -> bool:
        return not self.types or isinstance(message, self.types)

    def get(self, timeout: float) -> Posted | None:
        """Next message, or None after ``timeout`` seconds."""
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._bus._remove(self)


class Bus:
    def __init__(self, history: int = 500):
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._history: deque[Posted] = deque(maxlen=history)

    @property
    def last_id(self) -> int:
        """The number of the newest message (0 before the first)."""
        with self._lock:
            return self._history[-1].id if self._history else 0

    def since(self, last_id: int, types: tuple[type, ...] = ()) -> list[Posted]:
        """Messages after ``last_id`` (of ``types``, if given) still in the history, oldest first."""
        with self._lock:
            return [p for p in self._history if p.id > last_id and (not types or isinstance(p.message, types))]

    def subscribe(self, *types: type, maxsize: int = 256) -> Subscription:
        """A subscription to messages of ``types`` (all messages when none are given)."""
        sub = Subscription(self, types, maxsize)
        with self._lock:
            self._subs.append(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def publish(self, message: Any) -> Posted:
        # numbered and delivered under one lock: every subscriber sees the numbers in order (a
        # screen that skips ids it has passed would otherwise lose one); put_nowait never blocks
        with self._lock:
            posted = Posted(next(self._ids), message)
            self._history.append(posted)
            for sub in self._subs:
                if sub.wants(message):
                    self._deliver(sub, posted)
        return posted

    @staticmethod
    def _deliver(sub: Subscription, posted: Posted) -> None:
        try:
            sub.queue.put_nowait(posted)
        except queue.Full:
            try:
                sub.queue.get_nowait()
                sub.queue.put_nowait(posted)
            except (queue.Empty, queue.Full):
                log.warning("dropped a message for a slow subscriber")
