"""Ticket printer: ESC/POS layout, printer adapters chosen by URI, a decoder and a fake.

Importing this package first imports python-escpos with its import-time side
effects undone (see ``_escpos_import``): ESCPOS_CAPABILITIES_PICKLE_DIR defaults
to ``<system temp dir>/rosma-escpos``, no stray temp directory is left behind and
the root logger is not configured behind the application's back.
"""

from devices.printer._escpos_import import import_escpos_quietly

import_escpos_quietly()

from devices.printer.base import PrinterError, PrinterPort, PrinterStatus  # noqa: E402
from devices.printer.decode import DecodedTicket, decode_escpos  # noqa: E402
from devices.printer.fake import FakePrinter  # noqa: E402
from devices.printer.preview import ticket_png, ticket_text  # noqa: E402
from devices.printer.registry import open_printer  # noqa: E402
from devices.printer.ticket import TicketLayout, render_ticket  # noqa: E402

__all__ = [
    "DecodedTicket",
    "FakePrinter",
    "PrinterError",
    "PrinterPort",
    "PrinterStatus",
    "TicketLayout",
    "decode_escpos",
    "open_printer",
    "render_ticket",
    "ticket_png",
    "ticket_text",
]
