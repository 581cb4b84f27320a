"""USB HID scanners that type like a keyboard, read through evdev (grabbed)."""

from __future__ import annotations

import contextlib
import errno
import logging
import select
import threading
from collections.abc import Callable
from typing import Any

from devices.scanner.base import (
    ERR_BUSY,
    ERR_LOST,
    ERR_MISSING,
    POLL_SECONDS,
    ScannerError,
    ScannerPort,
    deliver,
)
from devices.scanner.keys import KeyDecoder

logger = logging.getLogger(__name__)


def _open_input_device(path: str) -> Any:
    from evdev import InputDevice

    return InputDevice(path)


class EvdevScanner(ScannerPort):
    """Reads a scanner from /dev/input (prefer a /dev/input/by-id/...-event-kbd path).

    run() grabs the device so its keystrokes do not reach the kiosk browser or a
    console. The service user needs read access (group ``input``). After an unplug
    run() raises ScannerError; a later run() re-opens and grabs again.
    """

    def __init__(self, path: str, open_device: Callable[[str], Any] = _open_input_device) -> None:
        self.path = path
        self._open_device = open_device

    def run(self, on_scan: Callable[[str], None], stop: threading.Event) -> None:
        """Deliver scans until ``stop``; ScannerError if missing, busy or unplugged."""
        try:
            device = self._open_device(self.path)
        except OSError as exc:
            logger.warning("Scanner %s cannot be opened: %s", self.path, exc)
            raise ScannerError(ERR_MISSING) from exc
        try:
            try:
                device.grab()
            except OSError as exc:
                logger.warning("Scanner %s cannot be grabbed: %s", self.path, exc)
                raise ScannerError(ERR_BUSY if exc.errno == errno.EBUSY else ERR_LOST) from exc
            logger.info("Scanner %s opened and grabbed", self.path)
            self._loop(device, on_scan, stop)
        finally:
            for release in (device.ungrab, device.close):
                with contextlib.suppress(OSError):  # already gone after an unplug
                    release()

    def _loop(self, device: Any, on_scan: Callable[[str], None], stop: threading.Event) -> None:
        decoder = KeyDecoder()
        while not stop.is_set():
            try:
                # A dead fd stays "readable"; read() then raises ENODEV: loop ends.
                ready, _, _ = select.select([device.fd], [], [], POLL_SECONDS)
                if not ready:
                    continue
                events = list(device.read())
            except BlockingIOError:
                continue
            except OSError as exc:
                logger.warning("Scanner %s lost: %s", self.path, exc)
                raise ScannerError(ERR_LOST) from exc
            for event in events:
                text = decoder.feed(event.type, event.code, event.value, event.timestamp())
                if text is not None:
                    deliver(on_scan, text, self.path)
