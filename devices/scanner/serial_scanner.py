"""Scanners that talk over a serial line (USB CDC-ACM, RS-232) or a pyserial URL."""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable

import serial

from devices.scanner.base import (
    ERR_BUSY,
    ERR_LOST,
    ERR_MISSING,
    POLL_SECONDS,
    LineSplitter,
    ScannerError,
    ScannerPort,
    deliver,
)

logger = logging.getLogger(__name__)


class SerialScanner(ScannerPort):
    """Reads CR/LF-terminated scans from a serial device.

    ``port`` is a device path (opened exclusively) or any pyserial URL such as
    ``socket://host:port`` or ``rfc2217://host:port``. Nothing is opened until run().
    """

    def __init__(self, port: str, baudrate: int = 9600, is_url: bool = False) -> None:
        self.port = port
        self.baudrate = baudrate
        self.is_url = is_url

    def _open(self) -> serial.SerialBase:
        if self.is_url:
            return serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=POLL_SECONDS)
        return serial.Serial(self.port, baudrate=self.baudrate, timeout=POLL_SECONDS, exclusive=True)

    def run(self, on_scan: Callable[[str], None], stop: threading.Event) -> None:
        """Deliver scans until ``stop``; ScannerError if the port is missing or lost."""
        try:
            port = self._open()
        except (serial.SerialException, OSError, ValueError) as exc:
            logger.warning("Scanner %s cannot be opened: %s", self.port, exc)
            # pyserial reports a failed exclusive lock with the flock errno.
            busy = getattr(exc, "errno", None) in (errno.EWOULDBLOCK, errno.EBUSY)
            raise ScannerError(ERR_BUSY if busy else ERR_MISSING) from exc
        logger.info("Scanner %s opened", self.port)
        splitter = LineSplitter(self.port)
        try:
            while not stop.is_set():
                # Read what is there, or wait up to POLL_SECONDS for one byte.
                chunk = port.read(port.in_waiting or 1)
                for text in splitter.feed(chunk):
                    deliver(on_scan, text, self.port)
        except (serial.SerialException, OSError) as exc:
            logger.warning("Scanner %s lost: %s", self.port, exc)
            raise ScannerError(ERR_LOST) from exc
        finally:
            try:
                port.close()
            except (serial.SerialException, OSError):
                logger.debug("Closing scanner %s failed", self.port, exc_info=True)
