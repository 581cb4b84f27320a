"""Printer port: the interface every ticket printer adapter implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devices.printer.ticket import TicketLayout

# Machine-readable printer states (PrinterStatus.state).
STATE_READY = "ready"
STATE_PAPER_LOW = "paper_low"
STATE_PAPER_OUT = "paper_out"
STATE_COVER_OPEN = "cover_open"
STATE_OFFLINE = "offline"
STATE_DISCONNECTED = "disconnected"
STATE_UNKNOWN = "unknown"  # reachable, but the printer never answers status queries

# Messages shown to staff or on the kiosk (Bahasa Indonesia).
MSG_READY = "Printer siap"
MSG_PAPER_LOW = "Kertas hampir habis"
MSG_PAPER_OUT = "Kertas habis"
MSG_COVER_OPEN = "Tutup printer terbuka"
MSG_OFFLINE = "Printer offline"
MSG_DISCONNECTED = "Printer tidak terhubung"
MSG_UNKNOWN = "Status printer tidak diketahui"
MSG_NOT_USED = "Printer tidak dipakai"
# PrinterError messages (Bahasa Indonesia).
ERR_PAPER_OUT = "Kertas printer habis"
ERR_COVER_OPEN = "Tutup printer terbuka"
ERR_OFFLINE = "Printer offline"
ERR_DISCONNECTED = "Printer tidak terhubung"
ERR_NOT_RESPONDING = "Printer tidak merespons"
ERR_FILE_WRITE = "Tiket gagal disimpan ke berkas"

# state -> (ok, default message)
STATES: dict[str, tuple[bool, str]] = {
    STATE_READY: (True, MSG_READY),
    STATE_PAPER_LOW: (True, MSG_PAPER_LOW),
    STATE_PAPER_OUT: (False, MSG_PAPER_OUT),
    STATE_COVER_OPEN: (False, MSG_COVER_OPEN),
    STATE_OFFLINE: (False, MSG_OFFLINE),
    STATE_DISCONNECTED: (False, MSG_DISCONNECTED),
    STATE_UNKNOWN: (True, MSG_UNKNOWN),
}
_STATE_OF_MESSAGE = {message: state for state, (_, message) in STATES.items()}


@dataclass(frozen=True)
class PrinterStatus:
    """Printer state for a status page or health check.

    ``message`` is Indonesian and can be shown as is. ``state`` is one of the
    STATE_* names; ``ok`` is False exactly for paper_out, cover_open, offline and
    disconnected. When ``state`` is left out it is inferred from the message (a
    standard MSG_* text) or else from ``ok`` ("ready" or "disconnected"), so
    ``PrinterStatus(True, "Printer siap")`` still means what it always did.
    Raises ValueError for an unknown state or one that contradicts ``ok``.
    """

    ok: bool
    message: str
    state: str = ""

    def __post_init__(self) -> None:
        if not self.state:
            inferred = _STATE_OF_MESSAGE.get(self.message)
            if inferred is None or STATES[inferred][0] != self.ok:
                inferred = STATE_READY if self.ok else STATE_DISCONNECTED
            object.__setattr__(self, "state", inferred)
        if self.state not in STATES:
            raise ValueError(f"Unknown printer state {self.state!r}; expected one of {', '.join(STATES)}")
        if STATES[self.state][0] != self.ok:
            raise ValueError(f"Printer state {self.state!r} needs ok={STATES[self.state][0]}")

    @classmethod
    def for_state(cls, state: str, message: str | None = None) -> PrinterStatus:
        """The status for a STATE_* name, with its standard Indonesian message unless given."""
        if state not in STATES:
            raise ValueError(f"Unknown printer state {state!r}; expected one of {', '.join(STATES)}")
        ok, default = STATES[state]
        return cls(ok, message or default, state)


class PrinterError(Exception):
    """A ticket could not be printed.

    ``str(error)`` is an Indonesian message meant for staff or the kiosk screen,
    e.g. "Kertas printer habis" or "Printer tidak terhubung".
    """


class PrinterPort(ABC):
    """A ticket printer.

    Implementations are safe to call from several threads. Nothing here may block
    forever: every transport uses finite timeouts.

    ``can_poll`` is True when status() reads the real device (USB, serial and TCP
    ESC/POS printers, the FakePrinter), so polling it every few seconds shows
    paper-out, cover-open and offline while nothing prints. It is False when the
    status is constant or only says whether a file is writable (file://, none);
    polling those is pointless.
    """

    can_poll: bool = False

    @abstractmethod
    def print_ticket(self, layout: TicketLayout) -> None:
        """Print one ticket.

        Raises PrinterError (Indonesian message) if the printer is unplugged,
        out of paper, has its cover open, is offline, does not answer in time, or
        the output cannot be written.
        """

    @abstractmethod
    def status(self) -> PrinterStatus:
        """Return the current state; never raises.

        On a real transport this talks to the printer and may take up to about
        1 s (a printer that accepts the connection but never answers reports
        state "unknown", ok=True, after that time; one that cannot be reached
        reports "disconnected"). Adapters without a status channel report "ready"
        when the device is reachable.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the device; the port stays usable (it reopens lazily)."""
