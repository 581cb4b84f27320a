"""Reading QR codes from a picture (a downloaded reservation QR, a screenshot, a rendered ticket).

Only the QR format is decoded: with every format enabled, zxing-cpp occasionally also finds a
phantom one-dimensional symbol (ITF, Codabar) in the QR's modules, and a caller taking the first
result would take the wrong one.
"""

from __future__ import annotations

from PIL import Image


def read_qr_codes(image: Image.Image) -> list[str]:
    """The texts of every QR code in ``image``; empty when there is none.

    Needs zxing-cpp (a test extra, installed by ``make demo`` and ``make test``); raises
    ImportError without it.
    """
    import zxingcpp

    found = zxingcpp.read_barcodes(image.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)
    return [r.text for r in found]
