"""Queue ticket layout and its rendering to ESC/POS bytes (pure, no I/O)."""

from __future__ import annotations

import logging
import textwrap
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from escpos.capabilities import BaseProfile, get_profile
from escpos.constants import QR_ECLEVEL_M
from escpos.escpos import Escpos
from escpos.printer import Dummy
from qrcode import QRCode
from qrcode.constants import ERROR_CORRECT_M
from qrcode.exceptions import DataOverflowError

logger = logging.getLogger(__name__)

_DAY_NAMES = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
_ZONE_NAMES = {7: "WIB", 8: "WITA", 9: "WIT"}
THANK_YOU = "Terima kasih, mohon menunggu panggilan"
HEADING = "NOMOR ANTRIAN"
# QR module size in printer dots (0.75 mm at 203 dpi): easy for phone cameras.
_QR_MAX_BOX = 6
_QR_MIN_BOX = 3  # 0.375 mm modules: smaller ones are hard for phone cameras
_NUMBER_SIZE = 4


@dataclass(frozen=True)
class TicketLayout:
    """Everything printed on one queue ticket.

    ``issued_at`` must be timezone-aware (normally Asia/Jakarta); it is printed in
    its own zone, e.g. "Rabu, 25-11-2026 08:31 WIB". Raises ValueError for a naive
    ``issued_at`` or a negative ``waiting_ahead``.
    """

    puskesmas_name: str
    puskesmas_address: str
    number: str
    queue_name: str
    payer: str
    issued_at: datetime
    waiting_ahead: int
    note: str = ""
    qr_text: str | None = None

    def __post_init__(self) -> None:
        if self.issued_at.tzinfo is None or self.issued_at.utcoffset() is None:
            raise ValueError("TicketLayout.issued_at must be timezone-aware")
        if self.waiting_ahead < 0:
            raise ValueError("TicketLayout.waiting_ahead must not be negative")


def format_issued_at(moment: datetime) -> str:
    """Format an aware datetime as "Rabu, 25-11-2026 08:31 WIB" (WITA/WIT for +8/+9)."""
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("datetime must be timezone-aware")
    minutes = int(offset.total_seconds()) // 60
    zone = _ZONE_NAMES.get(minutes // 60) if minutes % 60 == 0 else None
    if zone is None:
        sign = "+" if minutes >= 0 else "-"
        zone = f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return f"{_DAY_NAMES[moment.weekday()]}, {moment:%d-%m-%Y %H:%M} {zone}"


@cache
def profile_geometry(profile: str) -> tuple[int, int]:
    """Return (paper width in dots, font A columns) of a python-escpos profile name.

    Raises ValueError for an unknown profile or one without a known paper width
    (python-escpos print()s to stdout when it renders images for those).
    """
    try:
        prof = get_profile(profile)
    except KeyError:
        raise ValueError(f"Unknown printer profile {profile!r}") from None
    return _geometry(prof, profile)


def _geometry(prof: BaseProfile, label: str) -> tuple[int, int]:
    width = prof.profile_data.get("media", {}).get("width", {}).get("pixels")
    if not isinstance(width, int):
        raise ValueError(
            f"Printer profile {label!r} has no known paper width; "
            "use a concrete model such as 'TM-T20II' (80 mm) or 'POS-5890' (58 mm)"
        )
    return width, prof.get_columns("a")


def _clean(text: str) -> str:
    # Fields may hold user data: control characters would inject printer commands.
    return "".join(ch if ch.isprintable() else " " for ch in text).strip()


def _lines(printer: Escpos, text: str, columns: int) -> None:
    for line in textwrap.wrap(_clean(text), max(columns, 1)) or [""]:
        printer.textln(line)


def _qr_box_size(text: str, width: int) -> int | None:
    """Dots per QR module so the code fits the paper, or None if it cannot fit."""
    code = QRCode(border=1, error_correction=ERROR_CORRECT_M)
    code.add_data(text)
    try:
        code.make(fit=True)
    except (DataOverflowError, ValueError):
        return None
    box = min(_QR_MAX_BOX, width // (code.modules_count + 2))
    return box if box >= _QR_MIN_BOX else None


def render_ticket(layout: TicketLayout, profile: str = "TM-T20II") -> bytes:
    """Render a ticket to ESC/POS bytes for the given python-escpos profile.

    Pure: no device is touched. The output starts with ESC @ and ends with one cut
    (profiles without a cutter, e.g. POS-5890, only get the paper feed). A QR text
    too long for the paper is left out (logged as an error). Raises ValueError only
    for an unknown profile or one without a known paper width.
    """
    profile_geometry(profile)
    printer = Dummy(profile=profile)
    write_ticket(printer, layout)
    return printer.output


def write_ticket(p: Escpos, layout: TicketLayout) -> None:
    """Send the ticket's commands to any python-escpos printer (uses its profile).

    render_ticket() is this on a Dummy; raises ValueError like render_ticket.
    """
    width, columns = _geometry(p.profile, p.profile.profile_data.get("name", "?"))
    p.hw("INIT")
    p.set(align="center", bold=True)
    _lines(p, layout.puskesmas_name, columns)
    p.set(bold=False)
    if layout.puskesmas_address.strip():
        _lines(p, layout.puskesmas_address, columns)
    p.textln("-" * columns)
    p.ln()
    p.textln(HEADING)
    number = _clean(layout.number)
    size = max(1, min(_NUMBER_SIZE, columns // max(len(number), 1)))
    p.set(bold=True, custom_size=True, width=size, height=size)
    p.textln(number)
    queue_name = _clean(layout.queue_name)
    wide = len(queue_name) * 2 <= columns
    # ESC ! (sent for any size change) clears bold: set bold in the same call.
    p.set(bold=True, double_height=True, double_width=wide)
    _lines(p, queue_name, columns // 2 if wide else columns)
    p.set(normal_textsize=True, bold=False)
    p.textln(f"Jenis pasien: {_clean(layout.payer)}")
    p.ln()
    p.textln(format_issued_at(layout.issued_at))
    p.textln(f"Menunggu: {layout.waiting_ahead} orang")
    if layout.note.strip():
        _lines(p, layout.note, columns)
    box = _qr_box_size(layout.qr_text, width) if layout.qr_text else None
    if box:
        p.qr(layout.qr_text, ec=QR_ECLEVEL_M, size=box, native=False, center=True)
    else:
        if layout.qr_text:
            # A ticket without its QR is still usable; refusing to print is worse.
            logger.error(
                "QR text of %d characters does not fit the paper; printed without QR",
                len(layout.qr_text),
            )
        p.ln()
    _lines(p, THANK_YOU, columns)
    p.cut()
