"""In-memory printer for tests, with fault injection in the Mopidy style."""

from __future__ import annotations

import threading

from devices.printer.base import (
    ERR_DISCONNECTED,
    ERR_PAPER_OUT,
    MSG_DISCONNECTED,
    MSG_PAPER_OUT,
    MSG_READY,
    PrinterError,
    PrinterPort,
    PrinterStatus,
)
from devices.printer.ticket import TicketLayout, render_ticket


class FakePrinter(PrinterPort):
    """Records tickets instead of printing them.

    ``printed`` holds the layouts and ``output`` the matching render_ticket bytes.
    While a fault is triggered, print_ticket raises PrinterError and records nothing.
    """

    def __init__(self, profile: str = "TM-T20II") -> None:
        self.profile = profile
        self.printed: list[TicketLayout] = []
        self.output: list[bytes] = []
        self.closed = False
        self._fault: str | None = None
        self._lock = threading.Lock()

    def print_ticket(self, layout: TicketLayout) -> None:
        """Record the ticket, or raise PrinterError if a fault is triggered."""
        data = render_ticket(layout, self.profile)
        with self._lock:
            if self._fault == "paper":
                raise PrinterError(ERR_PAPER_OUT)
            if self._fault == "unplugged":
                raise PrinterError(ERR_DISCONNECTED)
            self.printed.append(layout)
            self.output.append(data)

    def status(self) -> PrinterStatus:
        """Reflect the triggered fault, if any."""
        with self._lock:
            fault = self._fault
        if fault == "paper":
            return PrinterStatus(False, MSG_PAPER_OUT)
        if fault == "unplugged":
            return PrinterStatus(False, MSG_DISCONNECTED)
        return PrinterStatus(True, MSG_READY)

    def close(self) -> None:
        """Mark closed; printing still works afterwards, like the real adapters."""
        self.closed = True

    def trigger_fake_out_of_paper(self) -> None:
        """Make the printer report "Kertas habis" until restored."""
        with self._lock:
            self._fault = "paper"

    def trigger_fake_unplugged(self) -> None:
        """Make the printer report "Printer tidak terhubung" until restored."""
        with self._lock:
            self._fault = "unplugged"

    def trigger_fake_restore(self) -> None:
        """Clear any triggered fault."""
        with self._lock:
            self._fault = None
