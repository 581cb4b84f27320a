"""QR/barcode scanner: adapters chosen by URI, a key decoder and a fake.

``KeyDecoder`` (and with it python-evdev, which brings asyncio) is imported on first use: a
node whose scanner is serial never loads it.
"""

from devices.scanner.base import ScannerError, ScannerPort
from devices.scanner.fake import FakeScanner
from devices.scanner.registry import open_scanner

__all__ = ["FakeScanner", "KeyDecoder", "ScannerError", "ScannerPort", "open_scanner"]


def __getattr__(name: str):
    if name == "KeyDecoder":
        from devices.scanner.keys import KeyDecoder

        return KeyDecoder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
