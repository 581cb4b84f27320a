"""Ticket printer: ESC/POS layout, printer adapters chosen by URI, a decoder and a fake.

Importing this package sets ESCPOS_CAPABILITIES_PICKLE_DIR (unless already set) to
``<system temp dir>/rosma-escpos`` before python-escpos is imported, because
python-escpos otherwise leaves a new temp directory behind in every process.
"""

import logging as _logging
import os as _os
import tempfile as _tempfile

_pickle_dir = _os.environ.setdefault(
    "ESCPOS_CAPABILITIES_PICKLE_DIR", _os.path.join(_tempfile.gettempdir(), "rosma-escpos")
)
try:
    # escpos writes its capabilities cache there at import and fails if the directory is missing.
    _os.makedirs(_pickle_dir, exist_ok=True)
except OSError as _exc:
    _logging.getLogger(__name__).warning("Cannot create escpos cache dir %s: %s", _pickle_dir, _exc)

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
