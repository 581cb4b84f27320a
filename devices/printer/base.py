"""Printer port: the interface every ticket printer adapter implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devices.printer.ticket import TicketLayout

# Messages shown to staff or on the kiosk (Bahasa Indonesia).
MSG_READY = "Printer siap"
MSG_PAPER_LOW = "Kertas hampir habis"
MSG_PAPER_OUT = "Kertas habis"
MSG_DISCONNECTED = "Printer tidak terhubung"
ERR_PAPER_OUT = "Kertas printer habis"
ERR_DISCONNECTED = "Printer tidak terhubung"
ERR_NOT_RESPONDING = "Printer tidak merespons"
ERR_FILE_WRITE = "Tiket gagal disimpan ke berkas"


@dataclass(frozen=True)
class PrinterStatus:
    """Printer state for a status page or health check.

    ``message`` is Indonesian and can be shown as is.
    """

    ok: bool
    message: str


class PrinterError(Exception):
    """A ticket could not be printed.

    ``str(error)`` is an Indonesian message meant for staff or the kiosk screen,
    e.g. "Kertas printer habis" or "Printer tidak terhubung".
    """


class PrinterPort(ABC):
    """A ticket printer.

    Implementations are safe to call from several threads. Nothing here may block
    forever: every transport uses finite timeouts.
    """

    @abstractmethod
    def print_ticket(self, layout: TicketLayout) -> None:
        """Print one ticket.

        Raises PrinterError (Indonesian message) if the printer is unplugged,
        out of paper, does not answer in time, or the output cannot be written.
        """

    @abstractmethod
    def status(self) -> PrinterStatus:
        """Return the current state; never raises.

        Transports that cannot read a paper sensor report "Printer siap" when
        the device is reachable.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the device; the port stays usable (it reopens lazily)."""
