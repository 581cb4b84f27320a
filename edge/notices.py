"""What the edge's parts tell each other on the bus besides the queue's typed events.

Frozen dataclasses like ``protocol.events``, but local: they never leave the node except as the
event stream's notices to its own screens, which carry ticket numbers and room names only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceChanged:
    """A device's health changed (``message`` is for staff, Indonesian)."""

    device: str  # printer, scanner, audio, sync, clock, database
    ok: bool
    message: str


@dataclass(frozen=True)
class ScanRecorded:
    """The kiosk's scanner read a QR (or a patient typed one): the outcome, never the text."""

    id: int
    ok: bool
    code: str
    message: str
    label: str | None


@dataclass(frozen=True)
class PrintQueued:
    """A ticket is waiting to be printed (a new ticket or a reprint)."""

    ticket: str


@dataclass(frozen=True)
class TicketPrinted:
    ticket: str
    label: str


@dataclass(frozen=True)
class PrintFailed:
    """A ticket did not print (``message`` Indonesian); ``final``: it will not be retried by itself."""

    ticket: str
    label: str
    message: str
    final: bool = False


@dataclass(frozen=True)
class Announced:
    label: str
    destination: str


@dataclass(frozen=True)
class AnnouncementFailed:
    label: str
    message: str


@dataclass(frozen=True)
class ReservationsChanged:
    """Reservations arrived from central's change feed."""

    applied: int
