"""A small ESC/POS decoder for the commands python-escpos emits (tests, previews)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from PIL import Image

logger = logging.getLogger(__name__)

ESC, GS, DLE, LF, CR, HT = 0x1B, 0x1D, 0x10, 0x0A, 0x0D, 0x09
# ESC commands with one parameter byte that only change state we do not render.
_ESC_ONE_ARG_IGNORED = frozenset(b"-M{3=GJVr+A")
_GS_ONE_ARG_IGNORED = frozenset(b"Bb|Hfhw")
_CODEPAGES = {
    0: "cp437",
    2: "cp850",
    3: "cp860",
    4: "cp863",
    5: "cp865",
    16: "cp1252",
    17: "cp866",
    18: "cp852",
    19: "cp858",
}
_ALIGN = {0: "left", 48: "left", 1: "center", 49: "center", 2: "right", 50: "right"}


@dataclass(frozen=True)
class TextLine:
    """One printed line with the style it started with (width/height: multipliers)."""

    text: str
    align: str = "left"
    width: int = 1
    height: int = 1
    bold: bool = False


@dataclass(frozen=True)
class Cut:
    """A paper cut."""


@dataclass
class Picture:
    """A printed raster image and the QR payloads found in it (needs zxing-cpp)."""

    image: Image.Image
    qr_texts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NativeQr:
    """A QR code the printer draws itself (GS ( k)."""

    text: str


@dataclass
class DecodedTicket:
    """What a printer would have produced.

    ``lines`` are the non-empty text lines (stripped), ``qr_texts`` the QR payloads
    (native ones always, raster ones only when zxing-cpp is importable), ``images``
    the raster images, ``unknown`` the hex of commands the decoder does not know.
    ``elements`` keeps everything in paper order (TextLine, Picture, NativeQr, Cut;
    blank lines are TextLine("")) for previews.
    """

    lines: list[str] = field(default_factory=list)
    qr_texts: list[str] = field(default_factory=list)
    images: list = field(default_factory=list)
    cuts: int = 0
    unknown: list[str] = field(default_factory=list)
    elements: list = field(default_factory=list)


class _Decoder:
    def __init__(self, data: bytes, read_qr: bool = True) -> None:
        self.data = data
        self.pos = 0
        self.read_qr = read_qr
        self.cut_ends: list[int] = []
        self.out = DecodedTicket()
        self._reset()
        self.pending: list[str] = []
        self.raw = bytearray()
        self.line_style: tuple[str, int, int, bool] | None = None
        self.stored_qr = ""

    def _reset(self) -> None:
        self.align, self.width, self.height, self.bold = "left", 1, 1, False
        self.codepage = "cp437"

    def take(self, count: int) -> bytes:
        chunk = self.data[self.pos : self.pos + count]
        if len(chunk) < count:
            raise EOFError
        self.pos += count
        return chunk

    def _flush_raw(self) -> None:
        if self.raw:
            self.pending.append(bytes(self.raw).decode(self.codepage, errors="replace"))
            self.raw.clear()

    def end_line(self) -> None:
        self._flush_raw()
        text = "".join(self.pending).strip()
        style = self.line_style or (self.align, self.width, self.height, self.bold)
        self.out.elements.append(TextLine(text, *style))
        if text:
            self.out.lines.append(text)
        self.pending, self.line_style = [], None

    def _end_open_line(self) -> None:
        if self.raw or self.pending:
            self.end_line()

    def add_image(self, img: Image.Image) -> None:
        self._end_open_line()
        self.out.images.append(img)
        self.out.elements.append(Picture(img))

    def run(self) -> DecodedTicket:
        while self.pos < len(self.data):
            start = self.pos
            byte = self.take(1)[0]
            try:
                if byte == LF:
                    self.end_line()
                elif byte == ESC:
                    self.esc()
                elif byte == GS:
                    self.gs()
                elif byte == DLE:
                    self.dle()
                elif byte == CR:
                    pass
                elif byte >= 0x20 or byte == HT:
                    if self.line_style is None:
                        self.line_style = (
                            self.align,
                            self.width,
                            self.height,
                            self.bold,
                        )
                    self.raw.append(byte)
                else:
                    self.out.unknown.append(bytes([byte]).hex())
            except EOFError:
                self.out.unknown.append("truncated " + self.data[start:].hex(" "))
                break
        self._end_open_line()
        if self.read_qr:
            self._read_raster_qr()
        return self.out

    def esc(self) -> None:
        cmd = self.take(1)[0]
        if cmd == ord("@"):
            self._end_open_line()
            self._reset()
        elif cmd == ord("!"):
            mode = self.take(1)[0]
            self.width = 2 if mode & 0x20 else 1
            self.height = 2 if mode & 0x10 else 1
            self.bold = bool(mode & 0x08)
        elif cmd in (ord("E"), ord("G")):
            self.bold = bool(self.take(1)[0] & 1)
        elif cmd == ord("a"):
            self.align = _ALIGN.get(self.take(1)[0], "left")
        elif cmd == ord("t"):
            self._flush_raw()
            self.codepage = _CODEPAGES.get(self.take(1)[0], "cp437")
        elif cmd == ord("d"):
            feed = self.take(1)[0]
            self._end_open_line()
            self.out.elements.extend(TextLine("") for _ in range(feed))
        elif cmd == ord("2"):
            pass
        elif cmd == ord("p"):
            self.take(3)
        elif cmd in _ESC_ONE_ARG_IGNORED:
            self.take(1)
        else:
            self.out.unknown.append(bytes([ESC, cmd]).hex(" "))

    def gs(self) -> None:
        cmd = self.take(1)[0]
        if cmd == ord("!"):
            size = self.take(1)[0]
            self.width, self.height = (size >> 4) + 1, (size & 0x07) + 1
        elif cmd == ord("V"):
            mode = self.take(1)[0]
            if mode in (65, 66, 97, 98, 103, 104):
                self.take(1)
            self._end_open_line()
            self.out.cuts += 1
            self.out.elements.append(Cut())
            self.cut_ends.append(self.pos)
        elif cmd == ord("v"):
            self.raster()
        elif cmd == ord("("):
            self.gs_paren()
        elif cmd in _GS_ONE_ARG_IGNORED:
            self.take(1)
        else:
            self.out.unknown.append(bytes([GS, cmd]).hex(" "))

    def dle(self) -> None:
        cmd = self.take(1)[0]
        if cmd == 0x04:  # DLE EOT n: real-time status request, prints nothing
            self.take(1)
        else:
            self.out.unknown.append(bytes([DLE, cmd]).hex(" "))

    def raster(self) -> None:
        header = self.take(6)  # '0' m xL xH yL yH
        if header[0] != ord("0"):
            self.out.unknown.append(bytes([GS, ord("v"), header[0]]).hex(" "))
            return
        width_bytes = header[2] | header[3] << 8
        height = header[4] | header[5] << 8
        self.add_image(_bits_to_image(self.take(width_bytes * height), width_bytes, height))

    def gs_paren(self) -> None:
        kind = self.take(1)[0]
        size = int.from_bytes(self.take(2), "little")
        payload = self.take(size)
        if kind == ord("k") and len(payload) >= 3 and payload[:2] == b"1P":
            self.stored_qr = payload[3:].decode("utf-8", errors="replace")
            self.out.qr_texts.append(self.stored_qr)
        elif kind == ord("k") and payload[:2] == b"1Q":
            self._end_open_line()
            self.out.elements.append(NativeQr(self.stored_qr))
        elif kind == ord("L") and len(payload) >= 10 and payload[1] == ord("p"):
            width = payload[6] | payload[7] << 8
            height = payload[8] | payload[9] << 8
            width_bytes = (width + 7) // 8
            self.add_image(_bits_to_image(payload[10:], width_bytes, height))
        elif kind not in (ord("k"), ord("L")):
            self.out.unknown.append(bytes([GS, ord("("), kind]).hex(" "))

    def _read_raster_qr(self) -> None:
        pictures = [el for el in self.out.elements if isinstance(el, Picture)]
        if not pictures:
            return
        try:
            import zxingcpp
        except ImportError:
            logger.debug("zxing-cpp not installed; raster QR codes are not decoded")
            return
        for picture in pictures:
            img = picture.image
            # A white margin helps when the code touches the raster edge (border=1).
            framed = Image.new("L", (img.width + 16, img.height + 16), 255)
            framed.paste(img.convert("L"), (8, 8))
            for result in zxingcpp.read_barcodes(framed, formats=zxingcpp.BarcodeFormat.QRCode):
                picture.qr_texts.append(result.text)
                self.out.qr_texts.append(result.text)


def _bits_to_image(bits: bytes, width_bytes: int, height: int) -> Image.Image:
    # ESC/POS raster: bit 1 = black dot; PIL mode "1": bit 1 = white.
    inverted = bytes(b ^ 0xFF for b in bits[: width_bytes * height])
    return Image.frombytes("1", (width_bytes * 8, height), inverted)


def decode_escpos(data: bytes) -> DecodedTicket:
    """Decode ESC/POS bytes into text lines, QR payloads, images and cuts.

    Never raises for bad input: commands it does not know (or that are cut
    short) are listed in ``unknown`` as hex.
    """
    return _Decoder(data).run()


def cut_offsets(data: bytes) -> list[int]:
    """Offsets just past each complete cut command (GS V) in ``data``.

    Commands are parsed as decode_escpos does, so GS V bytes inside image or QR
    data are not taken for a cut; a command cut short at the end of ``data``
    ends the scan. Used to split a byte stream into tickets.
    """
    decoder = _Decoder(data, read_qr=False)
    decoder.run()
    return decoder.cut_ends
