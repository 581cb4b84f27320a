"""The monthly report of one puskesmas as a PDF (fpdf2, A4 portrait) for its kepala to print and sign.

It holds: the puskesmas name and the month in the heading, a summary, a bar chart of visits per
day drawn with fpdf2's own lines and rectangles, every KPI table of ``central.kpi.report`` for
the month, and a signature block ("Mengetahui, Kepala Puskesmas ..., (nama), NIP").

fpdf2's core fonts (Helvetica) cover Latin-1 only: Indonesian needs nothing more, and any other
character (a name typed with an emoji, a typographic dash) is mapped to a near Latin-1 form or
replaced by "?", never an error.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from central import kpi
from central.models import Puskesmas, Staff

MONTHS = (
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
)
NEAR = str.maketrans(
    {
        "\u2013": "-",
        "\u2014": "-",
        "\u2011": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
        "\u2264": "<=",
        "\u2265": ">=",
        "\u2192": "->",
        "\u00a0": " ",
    }
)
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
TEAL = (15, 118, 110)
GREY = (110, 110, 110)
LIGHT = (225, 236, 235)


def latin1(value) -> str:
    """Text the core fonts can show."""
    text = "" if value is None else str(value)
    return text.translate(NEAR).encode("latin-1", "replace").decode("latin-1")


def fit(pdf: FPDF, text: str, width: float) -> str:
    """``text`` cut (with "...") to fit ``width`` in the current font."""
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "...") > width:
        text = text[:-1]
    return text.rstrip() + "..."


def cell_text(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "Ya" if value else "Tidak"
    if isinstance(value, dt.datetime):
        return value.strftime("%d-%m-%Y %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%d-%m-%Y")
    if isinstance(value, float):
        text = format(round(value, 1), "f").rstrip("0").rstrip(".") if value == value else "-"
        return text.replace(".", ",")
    if isinstance(value, int):
        return f"{value:,}".replace(",", ".")
    if isinstance(value, str) and ISO_DAY.fullmatch(value):
        return f"{value[8:10]}-{value[5:7]}-{value[:4]}"
    return latin1(value)


def month_title(first: dt.date) -> str:
    return f"{MONTHS[first.month - 1]} {first.year}"


def visits_per_day(report: kpi.Report) -> dict[dt.date, int]:
    """Kunjungan per day, from the report's ``harian`` table (``central.kpi`` defines a visit)."""
    return {dt.date.fromisoformat(str(row[0])): row[1] for row in report.tables["harian"].rows}


def summary(report: kpi.Report) -> list[tuple[str, str]]:
    """The month in a few figures, each from the report's tables."""
    days = report.tables["harian"].rows
    total, reservations, walkins, bpjs, umum = (sum(row[i] for row in days) for i in range(1, 6))
    noshow = report.tables["tidak_hadir"].rows[-1]  # "Semua": every step

    def share(n: int) -> str:
        part = kpi.percent(n, total)
        return cell_text(n) + ("" if part is None else f" ({cell_text(part)}%)")

    called, absent, rate = noshow[1], noshow[2], noshow[3]
    return [
        ("Jumlah kunjungan", cell_text(total)),
        ("Reservasi", share(reservations)),
        ("Datang langsung", share(walkins)),
        ("BPJS", share(bpjs)),
        ("Umum", share(umum)),
        (
            "Tidak hadir saat dipanggil",
            f"{cell_text(absent)} dari {cell_text(called)}" + ("" if rate is None else f" ({cell_text(rate)}%)"),
        ),
    ]


def kepala_name(place: Puskesmas) -> str:
    """The name of the puskesmas's kepala when exactly one active account says so."""
    heads = list(
        Staff.select().where(
            (Staff.puskesmas == place.id) & (Staff.role == "kepala_puskesmas") & (Staff.active == True)  # noqa: E712
        )
    )
    return heads[0].name if len(heads) == 1 else ""


class Report(FPDF):
    def __init__(self, footer_text: str):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.footer_text = footer_text
        self.set_margins(18, 16, 18)
        self.set_auto_page_break(True, margin=18)
        self.set_title(latin1(footer_text))
        self.set_creator("Rosma")

    def footer(self):
        self.set_y(-12)
        self.set_font("Helvetica", "", 7.5)
        self.set_text_color(*GREY)
        pages = f"Halaman {self.page_no()} dari {{nb}}"
        room = self.w - self.l_margin - self.r_margin - self.get_string_width("Halaman 999 dari 999") - 4
        self.cell(room, 5, fit(self, latin1(self.footer_text), room), align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, pages, align="R")
        self.set_text_color(0, 0, 0)

    def heading(self, text: str, size: float = 11.5) -> None:
        if self.will_page_break(20):
            self.add_page()
        self.ln(3)
        self.set_font("Helvetica", "B", size)
        self.set_text_color(*TEAL)
        self.cell(0, 7, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0, 0, 0)


TICKS = 4


def _nice_max(value: int) -> int:
    """The top of the scale: ``TICKS`` whole steps of 1, 2 or 5 times a power of ten."""
    if value <= TICKS:
        return TICKS
    power = 10 ** int(math.log10(value / TICKS))
    for mult in (1, 2, 5, 10):
        if value <= TICKS * mult * power:
            return TICKS * mult * power
    return TICKS * 10 * power


def bar_chart(pdf: Report, per_day: dict[dt.date, int], height: float = 52) -> None:
    """Visits per day as bars, with a scale and the day of the month under each bar."""
    if pdf.will_page_break(height + 16):
        pdf.add_page()
    left = pdf.l_margin + 10
    width = pdf.w - pdf.r_margin - left
    top = pdf.get_y() + 3
    bottom = top + height
    peak = _nice_max(max(per_day.values(), default=0))
    pdf.set_font("Helvetica", "", 6.5)
    pdf.set_draw_color(210, 210, 210)
    pdf.set_line_width(0.2)
    for i in range(TICKS + 1):
        y = bottom - height * i / TICKS
        pdf.line(left, y, left + width, y)
        pdf.set_xy(pdf.l_margin - 2, y - 2)
        pdf.cell(11, 4, cell_text(peak * i // TICKS), align="R")
    slot = width / max(1, len(per_day))
    bar = slot * 0.68
    pdf.set_fill_color(*TEAL)
    for i, (day, n) in enumerate(per_day.items()):
        x = left + i * slot + (slot - bar) / 2
        h = height * n / peak if peak else 0
        if h > 0:
            pdf.rect(x, bottom - h, bar, h, style="F")
            if slot >= 5:
                pdf.set_xy(x - 1, bottom - h - 3.6)
                pdf.set_font("Helvetica", "", 5.5)
                pdf.cell(bar + 2, 3.4, str(n), align="C")
        pdf.set_font("Helvetica", "", 6.5)
        pdf.set_xy(x - 1, bottom + 0.8)
        weekend = day.isoweekday() == 7
        if weekend:
            pdf.set_text_color(180, 40, 30)
        pdf.cell(bar + 2, 3.6, str(day.day), align="C")
        pdf.set_text_color(0, 0, 0)
    pdf.set_draw_color(120, 120, 120)
    pdf.line(left, bottom, left + width, bottom)
    pdf.set_xy(pdf.l_margin, bottom + 5)
    pdf.set_font("Helvetica", "", 7)
    pdf.set_text_color(*GREY)
    pdf.cell(0, 4, "Tanggal (merah: hari Minggu). Angka di atas batang: jumlah kunjungan hari itu.")
    pdf.set_text_color(0, 0, 0)
    pdf.set_fill_color(255, 255, 255)
    pdf.set_xy(pdf.l_margin, bottom + 10)


def key_values(pdf: Report, rows: list[tuple[str, str]]) -> None:
    pdf.set_font("Helvetica", "", 9.5)
    with pdf.table(
        col_widths=(60, 60),
        width=120,
        align="LEFT",
        first_row_as_headings=False,
        line_height=5.6,
        borders_layout="HORIZONTAL_LINES",
    ) as table:
        for label, value in rows:
            row = table.row()
            row.cell(latin1(label))
            row.cell(latin1(value), align="RIGHT")


def kpi_table(pdf: Report, table) -> None:
    pdf.heading(table.title, size=10.5)
    if not table.rows:
        pdf.set_font("Helvetica", "I", 9)
        pdf.cell(0, 6, "Tidak ada data pada bulan ini.", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        return
    n = len(table.columns)
    rows = [list(values)[:n] + [None] * (n - len(values)) for values in table.rows]
    numeric = [all(r[i] is None or isinstance(r[i], int | float) for r in rows) for i in range(n)]
    widths = []
    for i, column in enumerate(table.columns):
        longest = max((len(cell_text(r[i])) for r in rows), default=1)
        words = max((len(w) for w in str(column).split()), default=1)
        widths.append(max(8, min(40, longest), round(words * 1.3) + 1) + (0 if numeric[i] else 4))
    pdf.set_font("Helvetica", "", 8 if n <= 7 else 7)
    pdf.set_fill_color(255, 255, 255)
    with pdf.table(
        col_widths=widths,
        text_align=["RIGHT" if numeric[i] else "LEFT" for i in range(n)],
        headings_style=FontFace(emphasis="BOLD", fill_color=LIGHT),
        cell_fill_color=(246, 250, 249),
        cell_fill_mode="ROWS",
        line_height=4.6,
        borders_layout="SINGLE_TOP_LINE",
        repeat_headings=1,
    ) as out:
        head = out.row()
        for column in table.columns:
            head.cell(latin1(column))
        for values in rows:
            row = out.row()
            for value in values:
                row.cell(cell_text(value))


def signature(pdf: Report, place: Puskesmas, signed_on: dt.date) -> None:
    if pdf.will_page_break(75):  # room for a name wrapped on three lines
        pdf.add_page()
    pdf.ln(8)
    x = pdf.w - pdf.r_margin - 78
    pdf.set_font("Helvetica", "", 10)
    lines = [
        f"Bogor, {signed_on.day} {MONTHS[signed_on.month - 1]} {signed_on.year}",
        "Mengetahui,",
        f"Kepala {place.name}",
    ]
    for line in lines:  # a long puskesmas name wraps inside the signature column
        pdf.set_x(x)
        pdf.multi_cell(78, 5.5, latin1(line), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(22)
    name = kepala_name(place)
    pdf.set_x(x)
    pdf.set_font("Helvetica", "BU" if name else "B", 10)
    blank = "(" + "." * 52 + ")"
    pdf.multi_cell(78, 5.5, latin1(f"( {name} )" if name else blank), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(0.5)
    pdf.set_x(x)
    pdf.set_font("Helvetica", "", 10)
    pdf.cell(78, 5.5, "NIP. ....................................................", align="C")


def monthly(place: Puskesmas, first: dt.date, generated: dt.datetime, by: str = "") -> bytes:
    """The PDF of ``place`` for the month starting on ``first``."""
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    until = min(last, generated.date())  # a running month: up to today
    title = month_title(first)
    footer = f"{place.name} - laporan bulanan {title} - dibuat {generated:%d-%m-%Y %H.%M} WIB" + (
        f" oleh {by}" if by else ""
    )
    pdf = Report(footer)
    pdf.add_page()
    pdf.set_font("Helvetica", "", 9)
    pdf.set_text_color(*GREY)
    pdf.cell(0, 5, "DINAS KESEHATAN KABUPATEN BOGOR", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 8, "LAPORAN BULANAN KUNJUNGAN", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "B", 13)
    pdf.multi_cell(0, 7, latin1(place.name), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 9.5)
    pdf.multi_cell(0, 5, latin1(place.address), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "B", 11)
    period = f"Bulan {title}"
    if until < last:
        period += f" (sampai {until.day} {MONTHS[until.month - 1]} {until.year})"
    pdf.cell(0, 7, latin1(period), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    y = pdf.get_y() + 1
    pdf.set_draw_color(*TEAL)
    pdf.set_line_width(0.6)
    pdf.line(pdf.l_margin, y, pdf.w - pdf.r_margin, y)
    pdf.set_line_width(0.2)
    pdf.ln(3)

    report = kpi.report([place.id], first, until)
    pdf.heading("Ringkasan")
    key_values(pdf, summary(report))
    pdf.heading("Kunjungan per hari")
    bar_chart(pdf, visits_per_day(report))
    for table in report.tables.values():
        kpi_table(pdf, table)
    pdf.set_font("Helvetica", "", 7.5)
    pdf.set_text_color(*GREY)
    pdf.ln(2)
    pdf.multi_cell(
        0,
        4,
        "Kunjungan: setiap pasien datang langsung atau reservasi yang check-in (nomor poli lanjutan dari "
        "loket tidak dihitung lagi). Waktu tunggu: nomor diambil sampai dipanggil pertama; waktu layanan: "
        "dipanggil (atau mulai dilayani) sampai selesai; p50/p90: separuh/90% pasien paling lama sekian menit. "
        "Tidak hadir dihitung dari nomor yang dipanggil. Semua jam dalam WIB. Data tanpa identitas pasien.",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_text_color(0, 0, 0)
    signature(pdf, place, last if generated.date() > last else generated.date())
    return bytes(pdf.output())
