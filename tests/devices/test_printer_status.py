"""Printer status: DLE EOT decoding, PrinterStatus states, the fakes, and the serial adapter via a pty."""

from __future__ import annotations

import array
import fcntl
import os
import select
import termios
import threading
import time

import pytest

from devices.printer import (
    FakePrinter,
    PrinterError,
    PrinterStatus,
    VirtualPrinter,
    open_printer,
    render_ticket,
)
from devices.printer.escpos_printer import is_status_byte, status_from_bytes
from devices.printer.virtual import STATUS_REPLIES

READY = ("ready", True, "Printer siap")
PAPER_LOW = ("paper_low", True, "Kertas hampir habis")
PAPER_OUT = ("paper_out", False, "Kertas habis")
COVER_OPEN = ("cover_open", False, "Tutup printer terbuka")
OFFLINE = ("offline", False, "Printer offline")
DISCONNECTED = ("disconnected", False, "Printer tidak terhubung")
UNKNOWN = ("unknown", True, "Status printer tidak diketahui")


def as_tuple(status: PrinterStatus) -> tuple[str, bool, str]:
    return status.state, status.ok, status.message


def wait_until(predicate, timeout: float = 3.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            return False
        pause.wait(interval)
    return True


# --- pure decoding ---------------------------------------------------------


@pytest.mark.parametrize(
    ("printer", "offline_cause", "paper", "expected"),
    [
        pytest.param(0x12, None, 0x12, READY, id="ready"),
        pytest.param(0x12, 0x12, 0x12, READY, id="ready-all-three"),
        pytest.param(0x16, None, 0x12, READY, id="drawer-pin-high-is-still-ready"),
        pytest.param(None, None, 0x12, READY, id="only-the-paper-sensor-answers"),
        pytest.param(0x12, None, 0x1E, PAPER_LOW, id="paper-near-end"),
        pytest.param(0x12, None, 0x16, PAPER_LOW, id="paper-near-end-one-bit"),
        pytest.param(0x1A, 0x32, 0x7E, PAPER_OUT, id="paper-out-tm-t20"),
        pytest.param(0x12, None, 0x72, PAPER_OUT, id="paper-end-sensor-while-online"),
        pytest.param(0x1A, 0x32, None, PAPER_OUT, id="paper-end-stop-sensor-unanswered"),
        pytest.param(0x1A, 0x16, 0x12, COVER_OPEN, id="cover-open"),
        pytest.param(0x1A, 0x36, 0x7E, COVER_OPEN, id="cover-open-wins-over-paper-end"),
        pytest.param(0x1A, 0x52, 0x12, OFFLINE, id="offline-by-error"),
        pytest.param(0x1A, 0x1A, 0x12, OFFLINE, id="offline-feed-button"),
        pytest.param(0x1A, 0x12, 0x12, OFFLINE, id="offline-without-cause"),
        pytest.param(0x1A, None, 0x12, OFFLINE, id="offline-cause-unanswered"),
        pytest.param(0x1A, 0x52, 0x1E, OFFLINE, id="offline-wins-over-near-end"),
        pytest.param(None, None, None, UNKNOWN, id="nothing-answered"),
        pytest.param(0x00, 0xFF, 0x80, UNKNOWN, id="bytes-without-fixed-bits-are-no-answer"),
        pytest.param(0x00, None, 0x72, PAPER_OUT, id="garbled-printer-byte-ignored"),
    ],
)
def test_status_bytes_decode(printer, offline_cause, paper, expected):
    assert as_tuple(status_from_bytes(printer, offline_cause, paper)) == expected


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        pytest.param(0x12, True, id="ready"),
        pytest.param(0x7E, True, id="all-variable-bits"),
        pytest.param(0x1A, True, id="offline"),
        pytest.param(0x10, False, id="bit-1-clear"),
        pytest.param(0x02, False, id="bit-4-clear"),
        pytest.param(0x13, False, id="bit-0-set"),
        pytest.param(0x92, False, id="bit-7-set"),
        pytest.param(None, False, id="none"),
    ],
)
def test_fixed_bits(value, valid):
    assert is_status_byte(value) is valid


# Written out from the Epson DLE EOT tables, not copied from the virtual printer's code.
@pytest.mark.parametrize(
    ("state", "replies", "expected"),
    [
        pytest.param("ready", "12 12 12 12", READY, id="ready"),
        pytest.param("paper_low", "12 12 12 1e", PAPER_LOW, id="paper-low"),
        pytest.param("paper_out", "1a 32 12 7e", PAPER_OUT, id="paper-out"),
        pytest.param("cover_open", "1a 16 12 12", COVER_OPEN, id="cover-open"),
        pytest.param("offline", "1a 52 52 12", OFFLINE, id="offline"),
    ],
)
def test_virtual_printer_answers_like_a_tm_t20(state, replies, expected):
    answers = STATUS_REPLIES[state]
    assert bytes(answers[n] for n in (1, 2, 3, 4)).hex(" ") == replies
    assert all(is_status_byte(value) for value in answers.values())
    assert as_tuple(status_from_bytes(answers[1], answers[2], answers[4])) == expected


# --- PrinterStatus -----------------------------------------------------------


@pytest.mark.parametrize(
    ("ok", "message", "state"),
    [
        pytest.param(True, "Printer siap", "ready", id="ready"),
        pytest.param(True, "Kertas hampir habis", "paper_low", id="paper-low"),
        pytest.param(False, "Kertas habis", "paper_out", id="paper-out"),
        pytest.param(False, "Printer tidak terhubung", "disconnected", id="disconnected"),
        pytest.param(True, "Printer tidak dipakai", "ready", id="other-ok-message"),
        pytest.param(False, "Tiket gagal disimpan ke berkas", "disconnected", id="other-failure"),
        pytest.param(True, "Kertas habis", "ready", id="message-contradicting-ok"),
    ],
)
def test_state_defaults_from_the_old_two_fields(ok, message, state):
    status = PrinterStatus(ok, message)
    assert status.state == state
    assert status == PrinterStatus(ok, message, state)


def test_for_state_gives_the_indonesian_message():
    assert PrinterStatus.for_state("cover_open") == PrinterStatus(False, "Tutup printer terbuka", "cover_open")
    assert PrinterStatus.for_state("unknown").ok
    assert PrinterStatus.for_state("ready", "Printer tidak dipakai").message == "Printer tidak dipakai"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: PrinterStatus(True, "x", "jammed"), id="unknown-state"),
        pytest.param(lambda: PrinterStatus(True, "x", "paper_out"), id="ok-contradicts-state"),
        pytest.param(lambda: PrinterStatus(False, "x", "unknown"), id="unknown-is-ok"),
        pytest.param(lambda: PrinterStatus.for_state("jammed"), id="for-state-unknown"),
    ],
)
def test_bad_state_is_a_value_error(make):
    with pytest.raises(ValueError):
        make()


# --- can_poll and the FakePrinter --------------------------------------------


@pytest.mark.parametrize(
    ("uri", "can_poll"),
    [
        pytest.param("usb://0416:5011", True, id="usb"),
        pytest.param("serial:///dev/ttyUSB0", True, id="serial"),
        pytest.param("tcp://192.0.2.1:9100", True, id="tcp"),
        pytest.param("file:///var/lib/rosma/tickets/", False, id="file-directory"),
        pytest.param("file:///dev/usb/lp0", False, id="file-device"),
        pytest.param("none", False, id="none"),
    ],
)
def test_can_poll(uri, can_poll):
    assert open_printer(uri).can_poll is can_poll


@pytest.mark.parametrize(
    ("trigger", "expected", "error"),
    [
        pytest.param("trigger_fake_out_of_paper", PAPER_OUT, "Kertas printer habis", id="out-of-paper"),
        pytest.param("trigger_fake_cover_open", COVER_OPEN, "Tutup printer terbuka", id="cover-open"),
        pytest.param("trigger_fake_offline", OFFLINE, "Printer offline", id="offline"),
        pytest.param("trigger_fake_unplugged", DISCONNECTED, "Printer tidak terhubung", id="unplugged"),
    ],
)
def test_fake_printer_faults(layout, trigger, expected, error):
    printer = FakePrinter()
    assert printer.can_poll
    getattr(printer, trigger)()

    assert as_tuple(printer.status()) == expected
    with pytest.raises(PrinterError) as info:
        printer.print_ticket(layout)
    assert str(info.value) == error
    assert printer.printed == []

    printer.trigger_fake_restore()
    printer.print_ticket(layout)
    assert as_tuple(printer.status()) == READY and printer.printed == [layout]


def test_fake_printer_paper_low_still_prints(layout):
    printer = FakePrinter()
    printer.trigger_fake_paper_low()
    printer.print_ticket(layout)
    assert as_tuple(printer.status()) == PAPER_LOW and printer.printed == [layout]


# --- serial adapter against the virtual printer behind a pty -----------------


class PtyVirtualPrinter:
    """A VirtualPrinter session on the master end of a pty; ``mute`` = never answers."""

    def __init__(self, mute: bool = False) -> None:
        self.printer = VirtualPrinter()
        self.session = self.printer.open_session()
        self.mute = mute
        self.master, self._slave = os.openpty()
        self.path = os.ttyname(self._slave)
        self.received = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not select.select([self.master], [], [], 0.05)[0]:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            self.received += chunk
            answers = self.session.receive(chunk)
            if answers and not self.mute:
                os.write(self.master, answers)

    def send_stray(self, data: bytes) -> None:
        """Put bytes in the adapter's input buffer, as a late answer would."""
        os.write(self.master, data)
        waiting = array.array("i", [0])

        def arrived() -> bool:
            fcntl.ioctl(self._slave, termios.FIONREAD, waiting)
            return waiting[0] >= len(data)

        assert wait_until(arrived)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.session.close()
        os.close(self.master)
        os.close(self._slave)


@pytest.fixture
def pty_virtual():
    made: list[PtyVirtualPrinter] = []

    def make(mute: bool = False) -> PtyVirtualPrinter:
        made.append(PtyVirtualPrinter(mute))
        return made[-1]

    yield make
    for fake in made:
        fake.close()


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        pytest.param("ready", READY, id="ready"),
        pytest.param("paper_low", PAPER_LOW, id="paper-low"),
        pytest.param("paper_out", PAPER_OUT, id="paper-out"),
        pytest.param("cover_open", COVER_OPEN, id="cover-open"),
        pytest.param("offline", OFFLINE, id="offline"),
    ],
)
def test_serial_status_of_each_state(pty_virtual, state, expected):
    fake = pty_virtual()
    fake.printer.set_state(state)
    printer = open_printer(f"serial://{fake.path}?dsrdtr=0")
    try:
        started = time.monotonic()
        assert as_tuple(printer.status()) == expected
        assert time.monotonic() - started < 0.5
    finally:
        printer.close()


def test_serial_refuses_while_out_of_paper_and_prints_after_refill(pty_virtual, layout):
    fake = pty_virtual()
    printer = open_printer(f"serial://{fake.path}?dsrdtr=0")
    try:
        fake.printer.trigger_fake_out_of_paper()
        with pytest.raises(PrinterError, match="^Kertas printer habis$"):
            printer.print_ticket(layout)

        fake.printer.trigger_fake_restore()
        printer.print_ticket(layout)
        tickets = fake.printer.wait_tickets(1)
    finally:
        printer.close()

    assert tickets == [render_ticket(layout)]
    assert fake.printer.discarded_bytes == 0


def test_serial_stale_input_does_not_shift_the_answers(pty_virtual):
    fake = pty_virtual()
    printer = open_printer(f"serial://{fake.path}?dsrdtr=0")
    try:
        assert printer.status().state == "ready"  # opens the port; it stays open
        fake.send_stray(b"\x1a")  # a late "offline" answer still waiting to be read
        assert as_tuple(printer.status()) == READY
    finally:
        printer.close()


def test_serial_printer_that_never_answers_is_unknown_but_prints(pty_virtual, layout):
    fake = pty_virtual(mute=True)
    printer = open_printer(f"serial://{fake.path}?dsrdtr=0")
    try:
        started = time.monotonic()
        status = printer.status()
        elapsed = time.monotonic() - started
        printer.print_ticket(layout)
        tickets = fake.printer.wait_tickets(1)
    finally:
        printer.close()

    assert as_tuple(status) == UNKNOWN
    assert 0.9 < elapsed < 1.6
    assert tickets == [render_ticket(layout)]
