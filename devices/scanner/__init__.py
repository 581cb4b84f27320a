"""QR/barcode scanner: adapters chosen by URI, a key decoder and a fake."""

from devices.scanner.base import ScannerError, ScannerPort
from devices.scanner.fake import FakeScanner
from devices.scanner.keys import KeyDecoder
from devices.scanner.registry import open_scanner

__all__ = ["FakeScanner", "KeyDecoder", "ScannerError", "ScannerPort", "open_scanner"]
