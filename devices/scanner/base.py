"""Scanner port: the interface every QR/barcode scanner adapter implements."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable

logger = logging.getLogger(__name__)

MAX_SCAN_CHARS = 2048
# How long a blocking read may wait before run() looks at the stop event again.
POLL_SECONDS = 0.2

ERR_MISSING = "Pemindai QR tidak terhubung"
ERR_LOST = "Pemindai QR terputus"
ERR_BUSY = "Pemindai QR sedang dipakai program lain"


class ScannerError(Exception):
    """The scanner is missing or went away; ``str(error)`` is Indonesian for staff."""


class ScannerPort(ABC):
    """A QR/barcode scanner that delivers complete scans as text."""

    @abstractmethod
    def run(self, on_scan: Callable[[str], None], stop: threading.Event) -> None:
        """Deliver every complete scan to ``on_scan`` until ``stop`` is set.

        Blocks; notices ``stop`` within about 0.5 s. Raises ScannerError when the
        device is missing or disappears (the caller restarts with backoff). Scans
        longer than 2048 characters are dropped with a warning; repeated scans are
        all delivered. An exception from ``on_scan`` is logged and does not stop
        the scanner.
        """


def deliver(on_scan: Callable[[str], None], text: str, source: str) -> None:
    """Pass one scan to the callback, enforcing the size limit.

    Scanned text may be private: only its length is ever logged.
    """
    if not text:
        return
    if len(text) > MAX_SCAN_CHARS:
        logger.warning(
            "Scan from %s dropped: %d characters (limit %d)",
            source,
            len(text),
            MAX_SCAN_CHARS,
        )
        return
    try:
        on_scan(text)
    except Exception:  # noqa: BLE001 - a handler bug must not kill the scanner loop
        logger.exception("Scan handler failed for a %d-character scan from %s", len(text), source)


class LineSplitter:
    """Turns a byte stream into scans terminated by CR, LF or CR LF.

    Bytes are decoded as UTF-8 (invalid bytes become U+FFFD). A line that grows
    past the size limit is discarded up to its terminator (with a warning naming
    only its length), so memory stays bounded whatever the device sends.
    """

    def __init__(self, source: str, max_chars: int = MAX_SCAN_CHARS) -> None:
        self.source = source
        self.max_bytes = max_chars * 4  # UTF-8 needs at most 4 bytes per character
        self._buffer = bytearray()
        self._dropped = 0

    def feed(self, chunk: bytes) -> list[str]:
        """Return the scans completed by ``chunk``, in order (never empty strings)."""
        scans: list[str] = []
        for byte in chunk:
            if byte in (0x0A, 0x0D):
                if self._dropped:
                    logger.warning(
                        "Scan from %s dropped: %d bytes (limit %d characters)",
                        self.source,
                        self._dropped,
                        MAX_SCAN_CHARS,
                    )
                elif self._buffer:
                    scans.append(self._buffer.decode("utf-8", errors="replace"))
                self._buffer.clear()
                self._dropped = 0
            elif self._dropped:
                self._dropped += 1
            else:
                self._buffer.append(byte)
                if len(self._buffer) > self.max_bytes:
                    self._dropped = len(self._buffer)
                    self._buffer.clear()
        return scans
