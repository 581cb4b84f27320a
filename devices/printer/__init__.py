"""Ticket printer: ESC/POS layout, printer adapters chosen by URI, a decoder and a fake.

Importing this package first imports python-escpos with its import-time side
effects undone (see ``_escpos_import``): ESCPOS_CAPABILITIES_PICKLE_DIR defaults
to ``<system temp dir>/rosma-escpos``, no stray temp directory is left behind and
the root logger is not configured behind the application's back.

``VirtualPrinter`` (devices.printer.virtual) is imported on first use, so that
``python -m devices.printer.virtual`` does not find itself already imported.
"""

from devices.printer._escpos_import import import_escpos_quietly

import_escpos_quietly()

from devices.printer.base import (  # noqa: E402
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
from devices.printer.decode import DecodedTicket, decode_escpos  # noqa: E402
from devices.printer.fake import FakePrinter  # noqa: E402
from devices.printer.preview import ticket_png, ticket_text  # noqa: E402
from devices.printer.registry import open_printer  # noqa: E402
from devices.printer.ticket import TicketLayout, render_ticket  # noqa: E402

__all__ = [
    "STATE_COVER_OPEN",
    "STATE_DISCONNECTED",
    "STATE_OFFLINE",
    "STATE_PAPER_LOW",
    "STATE_PAPER_OUT",
    "STATE_READY",
    "STATE_UNKNOWN",
    "DecodedTicket",
    "FakePrinter",
    "PrinterError",
    "PrinterPort",
    "PrinterStatus",
    "TicketLayout",
    "VirtualPrinter",
    "decode_escpos",
    "open_printer",
    "render_ticket",
    "ticket_png",
    "ticket_text",
]


def __getattr__(name: str):
    if name == "VirtualPrinter":
        from devices.printer.virtual import VirtualPrinter

        return VirtualPrinter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
