"""In-memory printer for tests, with fault injection in the Mopidy style."""

from __future__ import annotations

import threading

from devices.printer.base import (
    ERR_COVER_OPEN,
    ERR_DISCONNECTED,
    ERR_OFFLINE,
    ERR_PAPER_OUT,
    STATE_COVER_OPEN,
    STATE_DISCONNECTED,
    STATE_OFFLINE,
    STATE_PAPER_LOW,
    STATE_PAPER_OUT,
    STATE_READY,
    PrinterError,
    PrinterPort,
    PrinterStatus,
)
from devices.printer.ticket import TicketLayout, render_ticket

_ERRORS = {
    STATE_PAPER_OUT: ERR_PAPER_OUT,
    STATE_COVER_OPEN: ERR_COVER_OPEN,
    STATE_OFFLINE: ERR_OFFLINE,
    STATE_DISCONNECTED: ERR_DISCONNECTED,
}


class FakePrinter(PrinterPort):
    """Records tickets instead of printing them.

    ``printed`` holds the layouts and ``output`` the matching render_ticket bytes.
    The trigger_fake_* helpers set the state status() reports; while it is paper
    out, cover open, offline or unplugged, print_ticket raises PrinterError and
    records nothing (paper low still prints). status() reads a "device", so
    ``can_poll`` is True.
    """

    can_poll = True

    def __init__(self, profile: str = "TM-T20II") -> None:
        self.profile = profile
        self.printed: list[TicketLayout] = []
        self.output: list[bytes] = []
        self.closed = False
        self._state = STATE_READY
        self._lock = threading.Lock()

    def print_ticket(self, layout: TicketLayout) -> None:
        """Record the ticket, or raise PrinterError if a fault is triggered."""
        data = render_ticket(layout, self.profile)
        with self._lock:
            if self._state in _ERRORS:
                raise PrinterError(_ERRORS[self._state])
            self.printed.append(layout)
            self.output.append(data)

    def status(self) -> PrinterStatus:
        """Reflect the triggered fault, if any."""
        with self._lock:
            return PrinterStatus.for_state(self._state)

    def close(self) -> None:
        """Mark closed; printing still works afterwards, like the real adapters."""
        self.closed = True

    def _set(self, state: str) -> None:
        with self._lock:
            self._state = state

    def trigger_fake_out_of_paper(self) -> None:
        """Make the printer report "Kertas habis" until restored."""
        self._set(STATE_PAPER_OUT)

    def trigger_fake_paper_low(self) -> None:
        """Make the printer report "Kertas hampir habis" (it still prints) until restored."""
        self._set(STATE_PAPER_LOW)

    def trigger_fake_cover_open(self) -> None:
        """Make the printer report "Tutup printer terbuka" until restored."""
        self._set(STATE_COVER_OPEN)

    def trigger_fake_offline(self) -> None:
        """Make the printer report "Printer offline" until restored."""
        self._set(STATE_OFFLINE)

    def trigger_fake_unplugged(self) -> None:
        """Make the printer report "Printer tidak terhubung" until restored."""
        self._set(STATE_DISCONNECTED)

    def trigger_fake_restore(self) -> None:
        """Clear any triggered fault."""
        self._set(STATE_READY)
