"""Ticket rendering: what ends up on paper, read back with the in-repo decoder."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import zxingcpp
from escpos.printer import File

from devices.printer import decode_escpos, render_ticket, ticket_png, ticket_text
from devices.printer.decode import TextLine
from devices.printer.ticket import format_issued_at, write_ticket


def test_round_trip_shows_what_the_patient_reads(layout):
    decoded = decode_escpos(render_ticket(layout))

    assert decoded.lines == [
        "Puskesmas Kecamatan Tanah Abang",
        "Jl. KH Mas Mansyur No. 30, Jakarta Pusat",
        "-" * 48,
        "NOMOR ANTREAN",
        "A007",
        "Loket Pendaftaran",
        "Jenis pasien: BPJS",
        "Rabu, 25-11-2026 08.31 WIB",
        "Menunggu: 3 orang",
        "Reservasi 08:00-09:00",
        "Terima kasih, mohon menunggu panggilan",
    ]
    assert decoded.cuts == 1
    assert decoded.unknown == []
    assert decoded.images == [] and decoded.qr_texts == []


def test_bytes_start_with_init_and_end_with_the_cut(layout):
    data = render_ticket(layout)

    assert data.startswith(b"\x1b@")
    assert data.endswith(b"\x1dV\x00")


def _line(decoded, text: str) -> TextLine:
    return next(el for el in decoded.elements if getattr(el, "text", None) == text)


def test_number_and_queue_name_stand_out(layout):
    decoded = decode_escpos(render_ticket(layout))

    number = _line(decoded, "A007")
    assert (number.width, number.height, number.align) == (4, 4, "center")
    assert number.bold
    queue = _line(decoded, "Loket Pendaftaran")
    assert (queue.width, queue.height, queue.bold) == (2, 2, True)
    payer = _line(decoded, "Jenis pasien: BPJS")
    assert (payer.width, payer.height, payer.bold) == (1, 1, False)


def test_qr_on_the_ticket_scans_back_to_the_same_text(qr_layout):
    decoded = decode_escpos(render_ticket(qr_layout))

    assert len(decoded.images) == 1
    image = decoded.images[0].convert("L")
    results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert [r.text for r in results] == [qr_layout.qr_text]
    assert decoded.qr_texts == [qr_layout.qr_text]
    assert decoded.cuts == 1 and decoded.unknown == []
    assert decoded.lines[-1] == "Terima kasih, mohon menunggu panggilan"


def test_qr_is_a_raster_image_not_a_native_printer_command(qr_layout):
    data = render_ticket(qr_layout)

    assert b"\x1dv0" in data
    assert b"\x1d(k" not in data


def test_escpos_file_printer_writes_the_same_bytes(tmp_path, qr_layout):
    target = tmp_path / "ticket.bin"
    printer = File(str(target), profile="TM-T20II")
    write_ticket(printer, qr_layout)
    printer.close()

    assert target.read_bytes() == render_ticket(qr_layout)


def test_ticket_text_is_readable(qr_layout):
    text = ticket_text(decode_escpos(render_ticket(qr_layout)))

    assert "A007" in text
    assert "Menunggu: 3 orang" in text
    assert f"[QR: {qr_layout.qr_text}]" in text
    assert "potong" in text


def test_ticket_png_looks_like_a_paper_ticket(qr_layout):
    image = ticket_png(decode_escpos(render_ticket(qr_layout)))

    assert image.height > image.width
    assert image.width >= 576
    # Mostly white paper with some black print on it.
    histogram = image.convert("L").histogram()
    assert histogram[255] > sum(histogram) / 2
    assert histogram[0] > 0


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        pytest.param(
            datetime(2026, 11, 25, 8, 31, tzinfo=ZoneInfo("Asia/Jakarta")),
            "Rabu, 25-11-2026 08.31 WIB",
            id="jakarta-wib",
        ),
        pytest.param(
            datetime(2026, 11, 29, 23, 5, tzinfo=ZoneInfo("Asia/Jakarta")),
            "Minggu, 29-11-2026 23.05 WIB",
            id="sunday-night",
        ),
        pytest.param(
            datetime(2026, 11, 27, 7, 0, tzinfo=ZoneInfo("Asia/Makassar")),
            "Jumat, 27-11-2026 07.00 WITA",
            id="makassar-wita",
        ),
        pytest.param(
            datetime(2026, 11, 23, 9, 15, tzinfo=ZoneInfo("Asia/Jayapura")),
            "Senin, 23-11-2026 09.15 WIT",
            id="jayapura-wit",
        ),
        pytest.param(
            datetime(2026, 11, 24, 1, 0, tzinfo=UTC),
            "Selasa, 24-11-2026 01.00 UTC+00:00",
            id="utc-offset-shown",
        ),
    ],
)
def test_issued_at_format(moment, expected):
    assert format_issued_at(moment) == expected


def test_naive_issued_at_is_rejected(layout):
    with pytest.raises(ValueError, match="timezone-aware"):
        dataclasses.replace(layout, issued_at=datetime(2026, 11, 25, 8, 31))


def test_control_characters_in_fields_cannot_inject_printer_commands(layout):
    hostile = dataclasses.replace(layout, note="Reservasi\x1b@\x1dV\x00 08:00\n", queue_name="Poli\rUmum")
    decoded = decode_escpos(render_ticket(hostile))

    assert decoded.cuts == 1
    assert decoded.unknown == []
    assert "Reservasi @ V  08:00" in decoded.lines
    assert "Poli Umum" in decoded.lines


@pytest.mark.parametrize(
    ("profile", "columns"),
    [pytest.param("TM-T20II", 48, id="80mm"), pytest.param("POS-5890", 32, id="58mm")],
)
def test_every_line_fits_the_paper(profile, columns, layout):
    long = dataclasses.replace(layout, queue_name="Poli Kesehatan Ibu dan Anak", number="KIA-0123")
    decoded = decode_escpos(render_ticket(long, profile))

    for element in decoded.elements:
        if isinstance(element, TextLine):
            assert len(element.text) * element.width <= columns, element
    assert "KIA-0123" in decoded.lines


def test_58mm_printer_without_cutter_gets_no_cut_command(layout):
    decoded = decode_escpos(render_ticket(layout, "POS-5890"))

    assert decoded.cuts == 0
    assert decoded.unknown == []


@pytest.mark.parametrize(
    "profile",
    [
        pytest.param("NoSuchPrinter", id="unknown-profile"),
        pytest.param("default", id="no-paper-width"),
    ],
)
def test_unusable_profile_is_a_clear_error(profile, layout):
    with pytest.raises(ValueError, match=profile):
        render_ticket(layout, profile)


def test_decoder_reports_unknown_commands():
    decoded = decode_escpos(b"\x1b@Halo\n\x1bZ\x1d\x99\x1dV")

    assert decoded.lines[0] == "Halo"
    assert decoded.unknown == ["1b 5a", "1d 99", "truncated 1d 56"]


def test_decoder_reads_native_qr():
    from escpos.printer import Dummy

    printer = Dummy(profile="TM-T20II")
    printer.qr("RS1:ABC", native=True)
    decoded = decode_escpos(printer.output)

    assert decoded.qr_texts == ["RS1:ABC"]
    assert decoded.unknown == []
    assert "[QR: RS1:ABC]" in ticket_text(decoded)


def test_waiting_zero_and_no_note(layout):
    quiet = dataclasses.replace(layout, waiting_ahead=0, note="", issued_at=layout.issued_at + timedelta(days=1))
    lines = decode_escpos(render_ticket(quiet)).lines

    assert "Menunggu: 0 orang" in lines
    assert "Kamis, 26-11-2026 08.31 WIB" in lines
    assert "Reservasi 08:00-09:00" not in lines


@pytest.mark.parametrize(
    ("profile", "length"),
    [
        pytest.param("TM-T20II", 5000, id="beyond-qr-capacity"),
        pytest.param("POS-5890", 1500, id="too-dense-for-58mm"),
    ],
)
def test_qr_too_long_still_prints_the_ticket_without_it(layout, profile, length, caplog):
    decoded = decode_escpos(render_ticket(dataclasses.replace(layout, qr_text="x" * length), profile))

    assert decoded.images == []
    assert "A007" in decoded.lines and decoded.cuts == (1 if profile == "TM-T20II" else 0)
    assert "printed without QR" in caplog.text
    assert "xxxx" not in caplog.text


def test_negative_waiting_count_is_rejected(layout):
    with pytest.raises(ValueError, match="waiting_ahead"):
        dataclasses.replace(layout, waiting_ahead=-1)
