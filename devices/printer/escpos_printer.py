"""ESC/POS printers on USB, serial and TCP, with a real-time status read before every ticket.

The status comes from the real-time status commands DLE EOT n (10 04 n), which an
Epson-compatible printer answers with one byte even while it is offline. Every
answer has bits 1 and 4 set and bits 0 and 7 clear; the other bits (Epson ESC/POS
command reference, DLE EOT):

- n=1 printer status: bit 3 = offline.
- n=2 offline cause: bit 2 = cover open, bit 3 = paper being fed with the FEED
  button, bit 5 = printing stopped by a paper end, bit 6 = an error occurred.
- n=4 roll paper sensor: bits 2 and 3 = paper near end, bits 5 and 6 = paper end.

python-escpos' paper_status() cannot be used as is: it returns 2 ("paper
adequate") when the printer answers nothing.

python-escpos' device classes are imported when a printer is first connected: importing
``escpos.printer`` loads every backend it has (pyusb, pyserial, CUPS, LP), and a node uses one.
"""

from __future__ import annotations

import functools
import logging
import socket
import threading
import time
from abc import abstractmethod

from escpos.escpos import Escpos

from devices.printer.base import (
    ERR_COVER_OPEN,
    ERR_DISCONNECTED,
    ERR_NOT_RESPONDING,
    ERR_OFFLINE,
    ERR_PAPER_OUT,
    STATE_COVER_OPEN,
    STATE_DISCONNECTED,
    STATE_OFFLINE,
    STATE_PAPER_LOW,
    STATE_PAPER_OUT,
    STATE_READY,
    STATE_UNKNOWN,
    PrinterError,
    PrinterPort,
    PrinterStatus,
)
from devices.printer.ticket import TicketLayout, render_ticket

logger = logging.getLogger(__name__)

# Kept for code that imported them: python-escpos paper_status() values.
PAPER_OUT, PAPER_LOW = 0, 1
# The whole status read (all queries together) must not delay a ticket or a
# status poll much when a printer never answers.
STATUS_TIMEOUT = 1.0

DLE_EOT = b"\x10\x04"
RT_PRINTER, RT_OFFLINE_CAUSE, RT_ERROR, RT_PAPER = 1, 2, 3, 4
FIXED_MASK, FIXED_BITS = 0x93, 0x12  # bits 0, 1, 4, 7 of every answer: 0, 1, 1, 0
BIT_OFFLINE = 0x08  # n=1 bit 3
BIT_COVER_OPEN = 0x04  # n=2 bit 2
BIT_FEED_BUTTON = 0x08  # n=2 bit 3
BIT_PAPER_END_STOP = 0x20  # n=2 bit 5
BIT_ERROR = 0x40  # n=2 bit 6
BITS_NEAR_END = 0x0C  # n=4 bits 2, 3
BITS_PAPER_END = 0x60  # n=4 bits 5, 6

# A ticket sent in these states would be held or lost by the printer.
_REFUSE = {
    STATE_PAPER_OUT: ERR_PAPER_OUT,
    STATE_COVER_OPEN: ERR_COVER_OPEN,
    STATE_OFFLINE: ERR_OFFLINE,
}


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or "timeout" in type(exc).__name__.lower()


def is_status_byte(value: int | None) -> bool:
    """True for a plausible DLE EOT answer (bits 1 and 4 set, bits 0 and 7 clear)."""
    return value is not None and 0 <= value <= 0xFF and value & FIXED_MASK == FIXED_BITS


def status_from_bytes(
    printer: int | None,
    offline_cause: int | None = None,
    paper: int | None = None,
) -> PrinterStatus:
    """Turn the answers to DLE EOT 1, 2 and 4 into a PrinterStatus (pure).

    None (or a byte without the fixed bits) means "not answered". No answer at all
    gives "unknown". A named offline cause wins over a plain offline: cover open
    first (an open cover also hides the paper), then paper end (from n=2 bit 5 or
    n=4 bits 5/6), then offline (n=1 bit 3, or the FEED button / error bits of
    n=2), then paper near end, else ready. Either bit of a two-bit sensor field
    counts.
    """
    printer, offline_cause, paper = (b if is_status_byte(b) else None for b in (printer, offline_cause, paper))
    cause = offline_cause or 0
    if printer is None and offline_cause is None and paper is None:
        return PrinterStatus.for_state(STATE_UNKNOWN)
    if cause & BIT_COVER_OPEN:
        return PrinterStatus.for_state(STATE_COVER_OPEN)
    if cause & BIT_PAPER_END_STOP or (paper or 0) & BITS_PAPER_END:
        return PrinterStatus.for_state(STATE_PAPER_OUT)
    if (printer or 0) & BIT_OFFLINE or cause & (BIT_FEED_BUTTON | BIT_ERROR):
        return PrinterStatus.for_state(STATE_OFFLINE)
    if (paper or 0) & BITS_NEAR_END:
        return PrinterStatus.for_state(STATE_PAPER_LOW)
    return PrinterStatus.for_state(STATE_READY)


class EscposPrinter(PrinterPort):
    """Base for python-escpos transports that answer DLE EOT status queries.

    Subclasses connect lazily: an unplugged printer only shows up as PrinterError
    (or a "disconnected" status) when used. Before every ticket the status is
    read; paper out, cover open and offline refuse the ticket. A printer that
    answers no status query at all is reported as "unknown" and still prints.
    """

    keep_open = True
    can_poll = True

    def __init__(self, name: str, profile: str, timeout: float) -> None:
        self.name = name
        self.profile = profile
        self.timeout = timeout
        self._lock = threading.Lock()
        self._device: Escpos | None = None
        self._last_state: str | None = None

    @abstractmethod
    def _connect(self, timeout: float) -> Escpos:
        """Open the transport (``timeout``: connect limit where there is one); may raise anything."""

    def _set_read_timeout(self, device: Escpos, seconds: float) -> None:
        """Make the next status read give up after ``seconds``."""

    def _restore_timeout(self, device: Escpos) -> None:
        """Undo _set_read_timeout for ordinary writes."""

    def _discard_input(self, device: Escpos) -> None:
        """Drop stale input (a late answer) so answers pair with their queries."""

    def _empty_answer(self) -> None:
        """Called when a read returned no bytes; the default means "timed out"."""

    def _query(self, device: Escpos, n: int, timeout: float) -> int | None:
        """Send DLE EOT n; return the answer byte, or None if none came within ``timeout``."""
        self._set_read_timeout(device, timeout)
        try:
            answer = device.query_status(DLE_EOT + bytes([n]))
        except Exception as exc:
            if _is_timeout(exc):
                return None
            raise
        if not answer:
            self._empty_answer()
            return None
        value = answer[-1]
        if not is_status_byte(value):
            logger.debug("Printer %s: DLE EOT %d answered %s, not a status byte", self.name, n, bytes(answer).hex())
        return value

    def _read_status(self, device: Escpos) -> PrinterStatus:
        """Ask DLE EOT 1, then 2 (unless plainly online), then 4, all within STATUS_TIMEOUT.

        Raises whatever the transport raises for a broken connection; a query that
        is not answered in time uses up the budget, so the rest are skipped.
        """
        self._discard_input(device)
        deadline = time.monotonic() + min(STATUS_TIMEOUT, self.timeout)
        answers: dict[int, int | None] = {}
        try:
            for n in (RT_PRINTER, RT_OFFLINE_CAUSE, RT_PAPER):
                printer = answers.get(RT_PRINTER)
                if n == RT_OFFLINE_CAUSE and is_status_byte(printer) and not printer & BIT_OFFLINE:
                    continue  # online: there is no offline cause to ask for
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                answers[n] = self._query(device, n, remaining)
        finally:
            self._restore_timeout(device)
        return status_from_bytes(answers.get(RT_PRINTER), answers.get(RT_OFFLINE_CAUSE), answers.get(RT_PAPER))

    def _note(self, status: PrinterStatus) -> None:
        """Log state changes only: status() is polled every few seconds."""
        if status.state == self._last_state:
            return
        self._last_state = status.state
        level = logging.INFO if status.ok and status.state != STATE_UNKNOWN else logging.WARNING
        logger.log(level, "Printer %s is now %s", self.name, status.state)

    def _device_or_connect(self, timeout: float, quiet: bool = False) -> Escpos:
        if self._device is None:
            try:
                self._device = self._connect(timeout)
            except Exception as exc:  # noqa: BLE001 - driver errors vary (pyusb, pyserial, socket)
                # Status polls stay quiet: _note() logs the change to "disconnected" once.
                level = logging.DEBUG if quiet else logging.WARNING
                logger.log(level, "Printer %s cannot be opened: %s", self.name, exc)
                raise PrinterError(ERR_DISCONNECTED) from exc
        return self._device

    def _release(self, graceful: bool = True) -> None:
        device, self._device = self._device, None
        if device is not None:
            try:
                self._finish(device, graceful)
            except Exception:  # noqa: BLE001 - closing a broken device must not mask the real error
                logger.debug("Closing printer %s failed", self.name, exc_info=True)

    def _finish(self, device: Escpos, graceful: bool) -> None:
        device.close()

    def print_ticket(self, layout: TicketLayout) -> None:
        """Print one ticket; PrinterError if unplugged, out of paper, cover open, offline or stalled."""
        data = render_ticket(layout, self.profile)
        with self._lock:
            started = time.monotonic()
            try:
                device = self._device_or_connect(self.timeout)
            except PrinterError:
                self._note(PrinterStatus.for_state(STATE_DISCONNECTED))
                raise
            try:
                status = self._read_status(device)
                self._note(status)
                if status.state in _REFUSE:
                    raise PrinterError(_REFUSE[status.state])
                if status.state == STATE_PAPER_LOW:
                    logger.warning("Printer %s: paper near end", self.name)
                device._raw(data)
            except PrinterError:
                if not self.keep_open:
                    self._release()
                raise
            except Exception as exc:  # noqa: BLE001 - see _device_or_connect
                logger.warning("Printer %s failed while printing: %s", self.name, exc)
                self._release()
                self._note(PrinterStatus.for_state(STATE_DISCONNECTED))
                message = ERR_NOT_RESPONDING if _is_timeout(exc) else ERR_DISCONNECTED
                raise PrinterError(message) from exc
            if not self.keep_open:
                self._release()
            logger.info(
                "Printed %d bytes on %s in %.2f s",
                len(data),
                self.name,
                time.monotonic() - started,
            )

    def status(self) -> PrinterStatus:
        """Read the printer's real-time status (at most about STATUS_TIMEOUT); never raises."""
        with self._lock:
            try:
                status = self._read_status(self._device_or_connect(min(STATUS_TIMEOUT, self.timeout), quiet=True))
            except Exception:  # noqa: BLE001 - status must never raise
                logger.debug("Status of printer %s unavailable", self.name, exc_info=True)
                self._release(graceful=False)
                status = PrinterStatus.for_state(STATE_DISCONNECTED)
            finally:
                if not self.keep_open:
                    self._release(graceful=False)
            self._note(status)
        return status

    def close(self) -> None:
        """Release the device; the next print reopens it."""
        with self._lock:
            self._release()


class UsbPrinter(EscposPrinter):
    """USB printer through pyusb (needs system libusb-1.0 and device permission)."""

    def __init__(
        self,
        vendor: int,
        product: int,
        profile: str,
        timeout: float = 5.0,
        in_ep: int = 0x82,
        out_ep: int = 0x01,
    ) -> None:
        super().__init__(f"usb://{vendor:04x}:{product:04x}", profile, timeout)
        self.vendor, self.product, self.in_ep, self.out_ep = (
            vendor,
            product,
            in_ep,
            out_ep,
        )

    def _connect(self, timeout: float) -> Escpos:
        from escpos.printer import Usb

        # timeout=0 in python-escpos means "wait forever"; pass a finite one (ms).
        device = Usb(
            self.vendor,
            self.product,
            timeout=max(1, int(self.timeout * 1000)),
            in_ep=self.in_ep,
            out_ep=self.out_ep,
            profile=self.profile,
        )
        device.open()
        return device

    def _set_read_timeout(self, device: Escpos, seconds: float) -> None:
        # Usb._read() uses the pyusb device's default timeout (ms).
        device.device.default_timeout = max(1, int(seconds * 1000))

    def _restore_timeout(self, device: Escpos) -> None:
        device.device.default_timeout = max(1, int(self.timeout * 1000))

    def _discard_input(self, device: Escpos) -> None:
        for _ in range(4):
            try:
                if not device.device.read(self.in_ep, 64, 10):
                    return
            except Exception as exc:
                if _is_timeout(exc):
                    return
                raise


@functools.cache
def _status_serial() -> type[Escpos]:
    from escpos.printer import Serial

    class _StatusSerial(Serial):
        """python-escpos Serial whose status read ends with the one-byte answer."""

        def _read(self) -> bytes:
            # Serial._read asks for 16 bytes, so it always sat out the whole timeout.
            return self.device.read(1)

    return _StatusSerial


class SerialPrinter(EscposPrinter):
    """Serial (RS-232 or USB-serial) printer through pyserial."""

    def __init__(
        self,
        path: str,
        profile: str,
        baudrate: int = 9600,
        timeout: float = 5.0,
        dsrdtr: bool = True,
    ) -> None:
        super().__init__(f"serial://{path}", profile, timeout)
        self.path, self.baudrate, self.dsrdtr = path, baudrate, dsrdtr

    def _connect(self, timeout: float) -> Escpos:
        device = _status_serial()(
            self.path,
            baudrate=self.baudrate,
            timeout=min(STATUS_TIMEOUT, self.timeout),
            dsrdtr=self.dsrdtr,
            profile=self.profile,
        )
        device.open()
        # python-escpos sets no write timeout: with flow control a dead printer
        # would block the writer forever.
        device.device.write_timeout = self.timeout
        return device

    def _set_read_timeout(self, device: Escpos, seconds: float) -> None:
        device.device.timeout = seconds

    def _restore_timeout(self, device: Escpos) -> None:
        device.device.timeout = min(STATUS_TIMEOUT, self.timeout)

    def _discard_input(self, device: Escpos) -> None:
        device.device.reset_input_buffer()


class NetworkPrinter(EscposPrinter):
    """Raw TCP (port 9100) printer; one connection per ticket or status read so others can print."""

    keep_open = False

    def __init__(self, host: str, port: int, profile: str, timeout: float = 5.0) -> None:
        super().__init__(f"tcp://{host}:{port}", profile, timeout)
        self.host, self.port = host, port

    def _connect(self, timeout: float) -> Escpos:
        from escpos.printer import Network

        device = Network(self.host, port=self.port, timeout=self.timeout, profile=self.profile)
        # Connect ourselves: Network.open() leaks its socket when the connection fails.
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        sock.settimeout(self.timeout)
        device.device = sock
        return device

    def _set_read_timeout(self, device: Escpos, seconds: float) -> None:
        device.device.settimeout(seconds)

    def _restore_timeout(self, device: Escpos) -> None:
        device.device.settimeout(self.timeout)

    def _empty_answer(self) -> None:
        # recv() returns b"" only at end of stream: the printer hung up.
        raise ConnectionResetError("printer closed the connection")

    def _finish(self, device: Escpos, graceful: bool) -> None:
        sock: socket.socket = device._device
        try:
            if graceful:
                # Half-close and drain: closing with unread input sends RST, which can
                # make the printer drop data it has not processed yet.
                sock.shutdown(socket.SHUT_WR)
                sock.settimeout(0.3)
                deadline = time.monotonic() + 0.3
                while time.monotonic() < deadline and sock.recv(256):
                    pass
        except OSError:
            pass
        finally:
            # Not device.close(): it logs "Closing Network connection" on the root
            # logger at INFO, which every status poll would repeat.
            sock.close()
            device.device = False
