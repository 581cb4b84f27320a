"""In-process event bus joining the web app, the device workers and the sync client.

Subscribers get their own bounded queue; a slow subscriber (e.g. a TV that lost its
connection) loses old events rather than blocking the queue. Events are dicts with a "type";
the bus numbers them ("id") and keeps the last few hundred, so a screen that reconnects can
be sent what it missed (SSE Last-Event-ID).
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections import deque

log = logging.getLogger(__name__)


class Subscription:
    def __init__(self, bus: Bus, maxsize: int):
        self._bus = bus
        self.queue: queue.Queue = queue.Queue(maxsize)

    def get(self, timeout: float) -> dict | None:
        """Next event, or None after ``timeout`` seconds."""
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
        self._history: deque = deque(maxlen=history)

    def since(self, last_id: int) -> list[dict]:
        """Events after ``last_id`` still in the history, oldest first."""
        with self._lock:
            return [e for e in self._history if e["id"] > last_id]

    def subscribe(self, maxsize: int = 256) -> Subscription:
        sub = Subscription(self, maxsize)
        with self._lock:
            self._subs.append(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def publish(self, event: dict) -> None:
        with self._lock:
            event = {**event, "id": next(self._ids)}
            self._history.append(event)
            subs = list(self._subs)
        for sub in subs:
            try:
                sub.queue.put_nowait(event)
            except queue.Full:
                try:
                    sub.queue.get_nowait()
                    sub.queue.put_nowait(event)
                except (queue.Empty, queue.Full):
                    log.warning("dropped an event for a slow subscriber")
