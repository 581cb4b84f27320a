"""Queue ticket layout and its rendering to ESC/POS bytes (pure, no I/O)."""

from __future__ import annotations

import logging
import textwrap
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from escpos.capabilities import BaseProfile, get_profile
from escpos.escpos import Escpos
from PIL import Image
from qrcode import QRCode
from qrcode.constants import ERROR_CORRECT_M
from qrcode.exceptions import DataOverflowError

logger = logging.getLogger(__name__)

_DAY_NAMES = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
_ZONE_NAMES = {7: "WIB", 8: "WITA", 9: "WIT"}
THANK_YOU = "Terima kasih, mohon menunggu panggilan"
HEADING = "NOMOR ANTREAN"
LIVE_HINT = ("Pantau antrean dari HP:", "pindai QR ini")
# why a ticket goes first (edge Ticket.priority_class), as printed after "Prioritas: "
PRIORITY_NAMES = {"lansia": "Lansia", "disabilitas": "Disabilitas", "ibu_hamil": "Ibu hamil"}
# QR module size in printer dots (0.75 mm at 203 dpi): easy for phone cameras.
_QR_MAX_BOX = 6
_QR_MIN_BOX = 3  # 0.375 mm modules: smaller ones are hard for phone cameras
_QR_BORDER = 2  # white modules around the code: the text above and below stays clear of it
_NUMBER_SIZE = 4
# Cheap 58 mm printers know few code pages: typographic punctuation is printed as ASCII.
_PLAIN = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


@dataclass(frozen=True)
class TicketLayout:
    """Everything printed on one queue ticket.

    ``issued_at`` must be timezone-aware (normally Asia/Jakarta); it is printed in
    its own zone, e.g. "Rabu, 25-11-2026 08.31 WIB". Raises ValueError for a naive
    ``issued_at`` or a negative ``waiting_ahead``.

    ``live_url`` is the ticket's own live page (``<central>/t/<token>``): printed as a QR
    code with a hint above it and the address as text below it, so a patient without a
    camera app can type it. ``qr_text`` is any other QR payload, used only without a
    ``live_url``. ``priority_class`` (lansia, disabilitas, ibu_hamil) prints "Prioritas:
    ...", ``estimate`` its own line (e.g. "Perkiraan dipanggil: 15-25 menit").
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
    live_url: str = ""
    priority_class: str = ""
    estimate: str = ""

    def __post_init__(self) -> None:
        if self.issued_at.tzinfo is None or self.issued_at.utcoffset() is None:
            raise ValueError("TicketLayout.issued_at must be timezone-aware")
        if self.waiting_ahead < 0:
            raise ValueError("TicketLayout.waiting_ahead must not be negative")


def format_issued_at(moment: datetime) -> str:
    """Format an aware datetime as "Rabu, 25-11-2026 08.31 WIB" (WITA/WIT for +8/+9).

    Indonesian writes the time with a dot between hour and minute."""
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("datetime must be timezone-aware")
    minutes = int(offset.total_seconds()) // 60
    zone = _ZONE_NAMES.get(minutes // 60) if minutes % 60 == 0 else None
    if zone is None:
        sign = "+" if minutes >= 0 else "-"
        zone = f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return f"{_DAY_NAMES[moment.weekday()]}, {moment:%d-%m-%Y %H.%M} {zone}"


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
    return "".join(ch if ch.isprintable() else " " for ch in text.translate(_PLAIN)).strip()


def _lines(printer: Escpos, text: str, columns: int) -> None:
    for line in textwrap.wrap(_clean(text), max(columns, 1)) or [""]:
        printer.textln(line)


def short_url(url: str) -> str:
    """The address as printed under the QR: without "https://" (browsers add it); an http://
    address keeps its scheme, or a browser would try https first."""
    return url.removeprefix("https://")


def priority_name(priority_class: str) -> str:
    """ "Lansia", "Disabilitas", "Ibu hamil"; another class as written (``_`` as a space)."""
    code = _clean(priority_class)
    return PRIORITY_NAMES.get(code, code.replace("_", " ").capitalize())


def _url_lines(printer: Escpos, url: str, columns: int) -> None:
    # An address has no spaces to wrap at: on narrow paper it breaks before its "/t/<token>",
    # so the token stays in one piece, and anything longer is cut at the paper's width.
    url = _clean(url)
    head, sep, tail = url.rpartition("/t/")
    parts = [url] if len(url) <= columns or not sep else [head, sep[:-1] + "/" + tail]
    step = max(columns, 1)
    for part in parts:
        for start in range(0, len(part), step):
            printer.textln(part[start : start + step])


def _qr_image(text: str, width: int) -> Image.Image | None:
    """The QR code as printed (modules as large as fit the paper), or None if it cannot fit."""
    code = QRCode(border=_QR_BORDER, error_correction=ERROR_CORRECT_M)
    code.add_data(text)
    try:
        code.make(fit=True)
    except (DataOverflowError, ValueError):
        return None
    box = min(_QR_MAX_BOX, width // (code.modules_count + 2 * _QR_BORDER))
    if box < _QR_MIN_BOX:
        return None
    code.box_size = box
    return code.make_image().get_image().convert("RGB")


class _Buffer(Escpos):
    """The commands sent to it, collected (python-escpos' ``Dummy``, without importing
    ``escpos.printer``, which imports every device backend: USB, serial, CUPS, LP)."""

    def __init__(self, profile: str) -> None:
        super().__init__(profile=profile)
        self._parts: list[bytes] = []

    def _raw(self, msg: bytes) -> None:
        self._parts.append(msg)

    @property
    def output(self) -> bytes:
        return b"".join(self._parts)

    def close(self) -> None:
        pass


def render_ticket(layout: TicketLayout, profile: str = "TM-T20II") -> bytes:
    """Render a ticket to ESC/POS bytes for the given python-escpos profile.

    Pure: no device is touched. The output starts with ESC @ and ends with one cut
    (profiles without a cutter, e.g. POS-5890, only get the paper feed). A QR text
    too long for the paper is left out (logged as an error). Raises ValueError only
    for an unknown profile or one without a known paper width.
    """
    profile_geometry(profile)
    printer = _Buffer(profile)
    write_ticket(printer, layout)
    return printer.output


def write_ticket(p: Escpos, layout: TicketLayout) -> None:
    """Send the ticket's commands to any python-escpos printer (uses its profile).

    render_ticket() is this on a buffer; raises ValueError like render_ticket.
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
    if layout.priority_class.strip():
        _lines(p, f"Prioritas: {priority_name(layout.priority_class)}", columns)
    p.ln()
    p.textln(format_issued_at(layout.issued_at))
    p.textln(f"Menunggu: {layout.waiting_ahead} orang")
    if layout.estimate.strip():
        _lines(p, layout.estimate, columns)
    if layout.note.strip():
        _lines(p, layout.note, columns)
    live_url = _clean(layout.live_url)
    qr_text = live_url or layout.qr_text
    image = _qr_image(qr_text, width) if qr_text else None
    p.ln()
    if live_url:
        hint = " ".join(LIVE_HINT)
        for line in [hint] if len(hint) <= columns else LIVE_HINT:  # 58 mm: where the sentence breaks
            p.textln(line)
    if image is not None:
        p.image(image, center=True)  # a raster image: every printer draws it the same
    elif qr_text:
        # A ticket without its QR is still usable; refusing to print is worse.
        logger.error("QR text of %d characters does not fit the paper; printed without QR", len(qr_text))
    if live_url:
        _url_lines(p, short_url(live_url), columns)
    p.ln()
    _lines(p, THANK_YOU, columns)
    p.cut()
