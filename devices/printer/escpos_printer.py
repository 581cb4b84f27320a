"""ESC/POS printers on USB, serial and TCP, with a paper check before every ticket."""

from __future__ import annotations

import logging
import socket
import threading
import time
from abc import abstractmethod

from escpos.escpos import Escpos
from escpos.printer import Network, Serial, Usb

from devices.printer.base import (
    ERR_DISCONNECTED,
    ERR_NOT_RESPONDING,
    ERR_PAPER_OUT,
    MSG_DISCONNECTED,
    MSG_PAPER_LOW,
    MSG_PAPER_OUT,
    MSG_READY,
    PrinterError,
    PrinterPort,
    PrinterStatus,
)
from devices.printer.ticket import TicketLayout, render_ticket

logger = logging.getLogger(__name__)

PAPER_OUT, PAPER_LOW = 0, 1
# Reading the paper sensor must not delay a ticket much when a printer never answers.
STATUS_TIMEOUT = 1.0


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or "timeout" in type(exc).__name__.lower()


class EscposPrinter(PrinterPort):
    """Base for python-escpos transports that can read the paper sensor (DLE EOT 4).

    Subclasses connect lazily: an unplugged printer only shows up as PrinterError
    (or a not-ok status) when used. A printer that does not answer the status query
    is treated as having paper (python-escpos reports 2 for "no answer").
    """

    keep_open = True

    def __init__(self, name: str, profile: str, timeout: float) -> None:
        self.name = name
        self.profile = profile
        self.timeout = timeout
        self._lock = threading.Lock()
        self._device: Escpos | None = None

    @abstractmethod
    def _connect(self) -> Escpos:
        """Open the transport; may raise anything the driver raises."""

    def _read_paper(self, device: Escpos) -> int | None:
        """Return paper_status() (2 ok, 1 low, 0 out), or None when unknown."""
        try:
            return device.paper_status()
        except Exception as exc:  # noqa: BLE001 - some printers cannot report; the write decides
            logger.info("Printer %s gave no paper status (%s)", self.name, type(exc).__name__)
            return None

    def _device_or_connect(self) -> Escpos:
        if self._device is None:
            try:
                self._device = self._connect()
            except Exception as exc:  # noqa: BLE001 - driver errors vary (pyusb, pyserial, socket)
                logger.warning("Printer %s cannot be opened: %s", self.name, exc)
                raise PrinterError(ERR_DISCONNECTED) from exc
        return self._device

    def _release(self) -> None:
        device, self._device = self._device, None
        if device is not None:
            try:
                self._finish(device)
            except Exception:  # noqa: BLE001 - closing a broken device must not mask the real error
                logger.debug("Closing printer %s failed", self.name, exc_info=True)

    def _finish(self, device: Escpos) -> None:
        device.close()

    def print_ticket(self, layout: TicketLayout) -> None:
        """Print one ticket; PrinterError if unplugged, out of paper or stalled."""
        data = render_ticket(layout, self.profile)
        with self._lock:
            started = time.monotonic()
            device = self._device_or_connect()
            try:
                paper = self._read_paper(device)
                if paper == PAPER_OUT:
                    raise PrinterError(ERR_PAPER_OUT)
                if paper == PAPER_LOW:
                    logger.warning("Printer %s: paper near end", self.name)
                device._raw(data)
            except PrinterError:
                if not self.keep_open:
                    self._release()
                raise
            except Exception as exc:  # noqa: BLE001 - see _device_or_connect
                logger.warning("Printer %s failed while printing: %s", self.name, exc)
                self._release()
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
        """Read the paper sensor; never raises."""
        with self._lock:
            try:
                paper = self._read_paper(self._device_or_connect())
            except Exception:  # noqa: BLE001 - status must never raise
                logger.debug("Status of printer %s unavailable", self.name, exc_info=True)
                self._release()
                return PrinterStatus(False, MSG_DISCONNECTED)
            finally:
                if not self.keep_open:
                    self._release()
        if paper == PAPER_OUT:
            return PrinterStatus(False, MSG_PAPER_OUT)
        if paper == PAPER_LOW:
            return PrinterStatus(True, MSG_PAPER_LOW)
        return PrinterStatus(True, MSG_READY)

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

    def _connect(self) -> Escpos:
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


class _StatusSerial(Serial):
    """python-escpos Serial whose status read ends with the one-byte answer."""

    def _read(self) -> bytes:
        # Serial._read asks for 16 bytes, so it always sat out the whole timeout.
        return self.device.read(1)


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

    def _connect(self) -> Escpos:
        device = _StatusSerial(
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


class NetworkPrinter(EscposPrinter):
    """Raw TCP (port 9100) printer; one connection per ticket so others can print."""

    keep_open = False

    def __init__(self, host: str, port: int, profile: str, timeout: float = 5.0) -> None:
        super().__init__(f"tcp://{host}:{port}", profile, timeout)
        self.host, self.port = host, port

    def _connect(self) -> Escpos:
        device = Network(self.host, port=self.port, timeout=self.timeout, profile=self.profile)
        # Connect ourselves: Network.open() leaks its socket when the connection fails.
        device.device = socket.create_connection((self.host, self.port), timeout=self.timeout)
        return device

    def _read_paper(self, device: Escpos) -> int | None:
        sock: socket.socket = device.device
        sock.settimeout(min(STATUS_TIMEOUT, self.timeout))
        try:
            return super()._read_paper(device)
        finally:
            sock.settimeout(self.timeout)

    def _finish(self, device: Escpos) -> None:
        sock: socket.socket = device._device
        try:
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
            device.close()
