"""Human-readable renderings of a decoded ticket: plain text and a PNG-ready picture."""

from __future__ import annotations

from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont
from qrcode import QRCode

from devices.printer.decode import Cut, DecodedTicket, NativeQr, Picture, TextLine

_BASE_FONT_PX = 22  # roughly the 12x24 dot font A of an 80 mm printer
_MARGIN = 16


def ticket_text(decoded: DecodedTicket, columns: int = 48) -> str:
    """Render the ticket as plain text, centred lines centred within ``columns``.

    QR codes appear as "[QR: <payload>]", other images as "[gambar WxH]", the cut as
    a dashed "potong" line.
    """
    out: list[str] = []
    for element in decoded.elements:
        if isinstance(element, TextLine):
            if element.align == "center":
                out.append(element.text.center(columns).rstrip())
            elif element.align == "right":
                out.append(element.text.rjust(columns))
            else:
                out.append(element.text)
        elif isinstance(element, Picture):
            labels = [f"[QR: {text}]" for text in element.qr_texts]
            labels = labels or [f"[gambar {element.image.width}x{element.image.height}]"]
            out.extend(label.center(columns).rstrip() for label in labels)
        elif isinstance(element, NativeQr):
            out.append(f"[QR: {element.text}]".center(columns).rstrip())
        elif isinstance(element, Cut):
            out.append(" potong ".center(columns, "-"))
    return "\n".join(out).strip("\n") + "\n"


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _text_image(line: TextLine, paper_width: int) -> Image.Image:
    font = _font(_BASE_FONT_PX * line.height)
    stroke = line.height if line.bold else 0  # emphasis scales with the glyphs
    height = int(font.getbbox("Ag")[3]) + 4 * line.height + 2 * stroke
    if not line.text:
        return Image.new("L", (1, height), 255)
    width = max(1, int(font.getlength(line.text)) + 2 + 2 * stroke)
    img = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(img)
    draw.text((1 + stroke, stroke), line.text, font=font, fill=0, stroke_width=stroke)
    if line.width != line.height:
        img = img.resize((max(1, width * line.width // line.height), height))
    if img.width > paper_width:
        img = img.resize((paper_width, max(1, img.height * paper_width // img.width)))
    return img


def _native_qr_image(text: str) -> Image.Image:
    code = QRCode(box_size=6, border=1)
    code.add_data(text)
    code.make(fit=True)
    return code.make_image().get_image().convert("L")


def ticket_png(decoded: DecodedTicket, width: int = 576) -> Image.Image:
    """Draw the ticket as a greyscale image ``width`` dots wide (576 = 80 mm paper).

    Text uses Pillow's default font, scaled like the printer's character sizes;
    raster images are pasted as printed. Save it with ``.save(path, "PNG")``.
    """
    blocks: list[tuple[Image.Image, str]] = []
    for element in decoded.elements:
        if isinstance(element, TextLine):
            blocks.append((_text_image(element, width), element.align))
        elif isinstance(element, Picture):
            blocks.append((element.image.convert("L"), "center"))
        elif isinstance(element, NativeQr):
            blocks.append((_native_qr_image(element.text), "center"))
        elif isinstance(element, Cut):
            blocks.append((_cut_line(width), "left"))
    paper = max([width] + [img.width for img, _ in blocks])
    height = sum(img.height for img, _ in blocks) + 2 * _MARGIN
    canvas = Image.new("L", (paper + 2 * _MARGIN, height), 255)
    y = _MARGIN
    for img, align in blocks:
        x = {"center": (paper - img.width) // 2, "right": paper - img.width}.get(align, 0)
        canvas.paste(img, (_MARGIN + x, y))
        y += img.height
    return canvas


def _cut_line(width: int) -> Image.Image:
    img = Image.new("L", (width, 9), 255)
    draw = ImageDraw.Draw(img)
    for x in range(0, width, 12):
        draw.line((x, 4, x + 6, 4), fill=96)
    return img
