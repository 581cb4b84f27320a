"""The ticket's link to its live page: a QR a phone reads off the printed paper, the same address
as text under it, on 58 mm and 80 mm paper; a ticket without a link prints as before."""

from __future__ import annotations

import dataclasses

import pytest

from devices.printer import decode_escpos, render_ticket, ticket_png
from devices.printer.decode import Picture, TextLine
from devices.printer.ticket import LIVE_HINT, profile_geometry, short_url
from devices.scanner.image import read_qr_codes

TOKEN = "Xq3_b-9KzT0aLmN4"  # secrets.token_urlsafe(12) shapes: letters, digits, - and _
URL = f"https://antrean.bogorkab.go.id/t/{TOKEN}"
PAPERS = [pytest.param("TM-T20II", id="80mm"), pytest.param("POS-5890", id="58mm")]


def printed(layout, profile):
    decoded = decode_escpos(render_ticket(layout, profile))
    width, columns = profile_geometry(profile)
    return decoded, ticket_png(decoded, width), columns


def _after(lines: list[str], first: str) -> list[str]:
    return lines[lines.index(first) :]


def _thanks(lines: list[str]) -> int:
    """Where the thank-you starts (two lines on 58 mm paper)."""
    return next(i for i, line in enumerate(lines) if line.startswith("Terima kasih"))


@pytest.mark.parametrize("profile", PAPERS)
def test_a_phone_reads_the_live_page_address_off_the_printed_ticket(layout, profile, tmp_path):
    ticket = dataclasses.replace(layout, live_url=URL)
    decoded, png, columns = printed(ticket, profile)
    png.save(tmp_path / "ticket.png", "PNG")

    assert read_qr_codes(png) == [URL]  # off the whole ticket as drawn, not the QR image alone
    assert len(decoded.images) == 1 and decoded.unknown == []
    # the address as text under the QR, for a phone without a camera app; nothing cut off
    lines = decoded.lines
    hint_lines = [" ".join(LIVE_HINT)] if len(" ".join(LIVE_HINT)) <= columns else list(LIVE_HINT)
    start = lines.index(hint_lines[0])
    assert lines[start : start + len(hint_lines)] == hint_lines
    address = lines[start + len(hint_lines) : _thanks(lines)]
    assert "".join(address) == "antrean.bogorkab.go.id/t/" + TOKEN
    assert any(TOKEN in line for line in address)  # the token is never split over two lines
    for element in decoded.elements:
        if isinstance(element, TextLine):
            assert len(element.text) * element.width <= columns, element
        if isinstance(element, Picture):
            assert element.image.width <= profile_geometry(profile)[0]
    # paper order: number, hint, QR, address, thank-you
    kinds = [type(e).__name__ for e in decoded.elements if not (isinstance(e, TextLine) and not e.text)]
    texts = [getattr(e, "text", None) for e in decoded.elements if not (isinstance(e, TextLine) and not e.text)]
    qr_at = kinds.index("Picture")
    assert texts[qr_at - 1] == hint_lines[-1] and texts[qr_at + 1] == address[0]
    assert texts.index("A007") < qr_at


@pytest.mark.parametrize("profile", PAPERS)
def test_a_ticket_without_a_link_prints_as_before(layout, profile):
    decoded, png, _columns = printed(layout, profile)

    assert decoded.images == [] and read_qr_codes(png) == []
    assert not any("Pantau antrean" in line or "/t/" in line for line in decoded.lines)
    assert decoded.lines[_thanks(decoded.lines) - 1] == "Reservasi 08:00-09:00"


def test_the_heading_and_the_time_are_written_the_indonesian_way(layout):
    lines = decode_escpos(render_ticket(layout)).lines

    assert "NOMOR ANTREAN" in lines and "NOMOR ANTRIAN" not in lines
    assert "Rabu, 25-11-2026 08.31 WIB" in lines


@pytest.mark.parametrize(
    ("priority_class", "line"),
    [
        pytest.param("lansia", "Prioritas: Lansia", id="lansia"),
        pytest.param("disabilitas", "Prioritas: Disabilitas", id="disabilitas"),
        pytest.param("ibu_hamil", "Prioritas: Ibu hamil", id="ibu-hamil"),
    ],
)
def test_a_priority_patients_ticket_says_why(layout, priority_class, line):
    lines = decode_escpos(render_ticket(dataclasses.replace(layout, priority_class=priority_class))).lines

    assert lines[lines.index("Jenis pasien: BPJS") + 1] == line


def test_no_priority_line_for_everyone_else(layout):
    assert not any(line.startswith("Prioritas") for line in decode_escpos(render_ticket(layout)).lines)


@pytest.mark.parametrize("profile", PAPERS)
def test_the_estimate_has_its_own_line_in_plain_characters(layout, profile):
    ticket = dataclasses.replace(layout, estimate="Perkiraan dipanggil: 15\u201325 menit", live_url=URL)
    decoded, png, _columns = printed(ticket, profile)

    # a cheap 58 mm printer has no en dash: it is printed as "-"
    assert _after(decoded.lines, "Menunggu: 3 orang")[1] == "Perkiraan dipanggil: 15-25 menit"
    assert read_qr_codes(png) == [URL]


def test_an_http_address_keeps_its_scheme_and_a_long_one_is_cut_at_the_papers_width(layout):
    url = f"http://192.168.1.20:8080/rosma/puskesmas-kabupaten-bogor/t/{TOKEN}"
    decoded, png, columns = printed(dataclasses.replace(layout, live_url=url), "POS-5890")

    assert short_url(url) == url and short_url(URL) == URL.removeprefix("https://")
    assert read_qr_codes(png) == [url]
    start = decoded.lines.index(LIVE_HINT[-1]) + 1
    address = decoded.lines[start : _thanks(decoded.lines)]
    assert "".join(address) == url and all(len(line) <= columns for line in address)
    assert address[-1] == f"/t/{TOKEN}"


def test_the_link_wins_over_another_qr_text(qr_layout):
    decoded, png, _columns = printed(dataclasses.replace(qr_layout, live_url=URL), "TM-T20II")

    assert read_qr_codes(png) == [URL]
