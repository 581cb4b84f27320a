"""FakePrinter: records tickets and injects the faults a kiosk must handle."""

from __future__ import annotations

import pytest

from devices.printer import (
    FakePrinter,
    PrinterError,
    PrinterStatus,
    decode_escpos,
    render_ticket,
)


def test_records_layouts_and_rendered_bytes(layout, qr_layout):
    printer = FakePrinter()
    printer.print_ticket(layout)
    printer.print_ticket(qr_layout)

    assert printer.printed == [layout, qr_layout]
    assert printer.output == [render_ticket(layout), render_ticket(qr_layout)]
    assert "A007" in decode_escpos(printer.output[0]).lines
    assert printer.status() == PrinterStatus(True, "Printer siap")


@pytest.mark.parametrize(
    ("trigger", "error", "status"),
    [
        pytest.param(
            "trigger_fake_out_of_paper",
            "Kertas printer habis",
            "Kertas habis",
            id="out-of-paper",
        ),
        pytest.param(
            "trigger_fake_unplugged",
            "Printer tidak terhubung",
            "Printer tidak terhubung",
            id="unplugged",
        ),
    ],
)
def test_fault_raises_and_records_nothing(layout, trigger, error, status):
    printer = FakePrinter()
    getattr(printer, trigger)()

    with pytest.raises(PrinterError) as info:
        printer.print_ticket(layout)

    assert str(info.value) == error
    assert printer.printed == [] and printer.output == []
    assert printer.status() == PrinterStatus(False, status)


def test_restore_prints_again(layout):
    printer = FakePrinter()
    printer.trigger_fake_out_of_paper()
    with pytest.raises(PrinterError):
        printer.print_ticket(layout)

    printer.trigger_fake_restore()
    printer.print_ticket(layout)

    assert printer.printed == [layout]
    assert printer.status().ok


def test_uses_the_configured_profile(layout):
    printer = FakePrinter(profile="POS-5890")
    printer.print_ticket(layout)

    assert printer.output == [render_ticket(layout, "POS-5890")]


def test_close_is_recorded_and_harmless(layout):
    printer = FakePrinter()
    printer.close()
    printer.print_ticket(layout)
    assert printer.closed and printer.printed == [layout]
