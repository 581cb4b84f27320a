"""Scanners without hardware: a scripted fake for tests, and a no-op one."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from devices.scanner.base import (
    ERR_LOST,
    POLL_SECONDS,
    ScannerError,
    ScannerPort,
    deliver,
)


class FakeScanner(ScannerPort):
    """Delivers pushed texts from run(), like a scanner that was just used.

    push() may be called before or during run(). trigger_fake_unplugged() makes
    the running (and every later) run() raise ScannerError until
    trigger_fake_restore(). The 2048-character limit applies as on real scanners.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[str] = queue.Queue()
        self._unplugged = threading.Event()
        self.running = threading.Event()

    def push(self, text: str) -> None:
        """Queue one scan (without terminator)."""
        self._queue.put(text)

    def trigger_fake_unplugged(self) -> None:
        """Make run() raise ScannerError("Pemindai QR terputus")."""
        self._unplugged.set()

    def trigger_fake_restore(self) -> None:
        """Plug the fake back in."""
        self._unplugged.clear()

    def run(self, on_scan: Callable[[str], None], stop: threading.Event) -> None:
        """Deliver pushed scans until ``stop`` is set; ``running`` is set meanwhile."""
        self.running.set()
        try:
            while not stop.is_set():
                if self._unplugged.is_set():
                    raise ScannerError(ERR_LOST)
                try:
                    text = self._queue.get(timeout=POLL_SECONDS / 4)
                except queue.Empty:
                    continue
                deliver(on_scan, text, "fake")
        finally:
            self.running.clear()


class NullScanner(ScannerPort):
    """No scanner: run() only waits for ``stop``."""

    def run(self, on_scan: Callable[[str], None], stop: threading.Event) -> None:
        """Return once ``stop`` is set."""
        stop.wait()
