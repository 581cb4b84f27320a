"""open_printer: every URI scheme, against files, a pty and a fake network printer."""

from __future__ import annotations

import logging
import os
import select
import threading
import time

import pytest
from PIL import Image

from devices.printer import (
    PrinterError,
    PrinterPort,
    PrinterStatus,
    decode_escpos,
    open_printer,
    render_ticket,
)
from devices.printer.file_printer import RawFilePrinter

PAPER_OK, PAPER_NEAR_END, PAPER_OUT = b"\x12", b"\x1e", b"\x72"
# What the adapter asks before a ticket: DLE EOT 1 (printer), DLE EOT 2 (offline
# cause, only when offline) and DLE EOT 4 (roll paper sensor).
READY_QUERIES = b"\x10\x04\x01\x10\x04\x04"
OFFLINE_QUERIES = b"\x10\x04\x01\x10\x04\x02\x10\x04\x04"
FIRST_QUERY = b"\x10\x04\x01"
CUT = b"\x1dV\x00"


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("usb://0416:5011", id="usb"),
        pytest.param("usb://04b8:0e15?timeout=2&in_ep=0x81&out_ep=0x02", id="usb-endpoints"),
        pytest.param("serial:///dev/ttyUSB0?baudrate=19200", id="serial"),
        pytest.param("tcp://192.0.2.1:9100", id="tcp"),
        pytest.param("tcp://printer.local", id="tcp-default-port"),
        pytest.param("file:///dev/usb/lp0", id="file-device"),
        pytest.param("file:///var/lib/rosma/tickets/", id="file-directory"),
        pytest.param("none", id="none"),
    ],
)
def test_opening_never_touches_the_device(uri):
    # None of these devices exist here: opening must still succeed (lazy).
    assert isinstance(open_printer(uri), PrinterPort)


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("", id="empty"),
        pytest.param("lpt://printer", id="unknown-scheme"),
        pytest.param("/dev/usb/lp0", id="bare-path"),
        pytest.param("usb://416:5011", id="usb-short-id"),
        pytest.param("usb://0416", id="usb-no-product"),
        pytest.param("usb://0416:5011?timeout=0", id="usb-zero-timeout"),
        pytest.param("usb://0416:5011?speed=9", id="usb-unknown-option"),
        pytest.param("serial://ttyUSB0", id="serial-relative-path"),
        pytest.param("serial:///dev/ttyUSB0?baudrate=fast", id="serial-bad-baudrate"),
        pytest.param("tcp://:9100", id="tcp-no-host"),
        pytest.param("tcp://printer:99999", id="tcp-port-out-of-range"),
        pytest.param("file://relative/path", id="file-relative"),
        pytest.param("file://", id="file-no-path"),
    ],
)
def test_bad_uri_is_a_value_error_naming_it(uri):
    with pytest.raises(ValueError) as info:
        open_printer(uri)
    assert repr(uri) in str(info.value)


def test_bad_profile_is_rejected_at_open():
    with pytest.raises(ValueError, match="NoSuchPrinter"):
        open_printer("none", profile="NoSuchPrinter")


def test_none_prints_nothing_and_is_ok(layout):
    printer = open_printer("none")
    printer.print_ticket(layout)
    assert printer.status().ok


# --- file:// ---------------------------------------------------------------


def test_directory_gets_numbered_ticket_files(tmp_path, layout):
    directory = tmp_path / "tickets"
    printer = open_printer(f"file://{directory}/")
    printer.print_ticket(layout)
    printer.print_ticket(layout)

    assert sorted(os.listdir(directory)) == [
        f"ticket-{n:04d}.{ext}" for n in (1, 2) for ext in ("escpos", "png", "txt")
    ]
    assert (directory / "ticket-0001.escpos").read_bytes() == render_ticket(layout)
    assert "A007" in (directory / "ticket-0002.txt").read_text(encoding="utf-8")
    with Image.open(directory / "ticket-0002.png") as picture:
        assert picture.height > picture.width


def test_directory_numbering_continues_after_a_restart(tmp_path, layout):
    open_printer(f"file://{tmp_path}/").print_ticket(layout)
    open_printer(f"file://{tmp_path}").print_ticket(layout)  # existing dir, no slash
    (tmp_path / "ticket-0007.txt").write_text("left over")

    open_printer(f"file://{tmp_path}").print_ticket(layout)

    assert (tmp_path / "ticket-0002.escpos").exists()
    assert (tmp_path / "ticket-0008.escpos").exists()
    assert (tmp_path / "ticket-0007.txt").read_text() == "left over"


def test_unwritable_directory_is_a_printer_error(tmp_path, layout):
    (tmp_path / "blocker").write_text("a file where the directory should be")
    printer = open_printer(f"file://{tmp_path}/blocker/tickets/")

    with pytest.raises(PrinterError, match="Tiket gagal disimpan ke berkas"):
        printer.print_ticket(layout)
    assert not printer.status().ok


def test_single_file_gets_raw_bytes_appended(tmp_path, layout, qr_layout):
    target = tmp_path / "lp0.bin"
    target.write_bytes(b"old")
    printer = open_printer(f"file://{target}")
    printer.print_ticket(layout)
    printer.print_ticket(qr_layout)

    assert target.read_bytes() == b"old" + render_ticket(layout) + render_ticket(qr_layout)
    assert printer.status() == PrinterStatus(True, "Printer siap")


def test_character_device_is_written_like_a_usblp_printer(layout):
    printer = open_printer("file:///dev/null")

    printer.print_ticket(layout)
    assert printer.status().ok


def test_fifo_without_reader_is_not_connected(tmp_path, layout):
    os.mkfifo(tmp_path / "lp0")

    with pytest.raises(PrinterError, match="Printer tidak terhubung"):
        open_printer(f"file://{tmp_path}/lp0").print_ticket(layout)


def test_stalled_device_times_out_instead_of_hanging(tmp_path, qr_layout):
    fifo = tmp_path / "lp0"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # never reads: a stuck printer
    try:
        printer = RawFilePrinter(str(fifo), "TM-T20II", timeout=0.3)
        started = time.monotonic()
        with pytest.raises(PrinterError, match="Printer tidak merespons"):
            for _ in range(20):  # fills the pipe buffer
                printer.print_ticket(qr_layout)
        assert time.monotonic() - started < 2
    finally:
        os.close(reader)


def test_unplugged_usblp_device_is_a_printer_error(layout):
    printer = open_printer("file:///dev/usb/rosma-test-lp9")

    with pytest.raises(PrinterError, match="Printer tidak terhubung"):
        printer.print_ticket(layout)
    assert printer.status() == PrinterStatus(False, "Printer tidak terhubung")


# --- tcp:// ----------------------------------------------------------------


def test_tcp_ticket_reaches_the_printer(network_printer, layout):
    fake = network_printer()
    started = time.monotonic()
    open_printer(fake.uri).print_ticket(layout)

    assert time.monotonic() - started < 0.5
    (job,) = fake.wait_jobs(1)
    assert job == READY_QUERIES + render_ticket(layout)
    decoded = decode_escpos(job)
    assert "A007" in decoded.lines and "Menunggu: 3 orang" in decoded.lines
    assert decoded.cuts == 1 and decoded.unknown == []


def test_tcp_out_of_paper_prints_nothing(network_printer, layout):
    fake = network_printer(paper=PAPER_OUT)
    printer = open_printer(fake.uri)

    with pytest.raises(PrinterError) as info:
        printer.print_ticket(layout)

    assert str(info.value) == "Kertas printer habis"
    assert fake.wait_jobs(1) == [OFFLINE_QUERIES]
    assert printer.status() == PrinterStatus(False, "Kertas habis")


def test_tcp_paper_near_end_still_prints(network_printer, layout, caplog):
    fake = network_printer(paper=PAPER_NEAR_END)
    printer = open_printer(fake.uri)
    with caplog.at_level(logging.WARNING):
        printer.print_ticket(layout)

    assert fake.wait_jobs(1)[0].endswith(CUT)
    assert "paper near end" in caplog.text
    assert printer.status() == PrinterStatus(True, "Kertas hampir habis")


def test_tcp_printer_that_never_answers_status_still_prints(network_printer, layout):
    fake = network_printer(paper=None)
    started = time.monotonic()
    open_printer(f"{fake.uri}?timeout=0.4").print_ticket(layout)

    assert time.monotonic() - started < 2
    # The first unanswered query uses up the status time: the others are not sent.
    assert fake.wait_jobs(1) == [FIRST_QUERY + render_ticket(layout)]


def test_tcp_status_ready(network_printer):
    assert open_printer(network_printer().uri).status() == PrinterStatus(True, "Printer siap")


def test_tcp_closed_port_fails_fast_in_indonesian(closed_port, layout):
    printer = open_printer(f"tcp://127.0.0.1:{closed_port}")
    started = time.monotonic()

    with pytest.raises(PrinterError) as info:
        printer.print_ticket(layout)

    assert str(info.value) == "Printer tidak terhubung"
    assert time.monotonic() - started < 1
    assert printer.status() == PrinterStatus(False, "Printer tidak terhubung")


def test_tcp_unreachable_host_gives_up_after_the_timeout(layout):
    printer = open_printer("tcp://192.0.2.1:9100?timeout=0.3")  # TEST-NET-1: never answers
    started = time.monotonic()

    with pytest.raises(PrinterError, match="Printer tidak terhubung"):
        printer.print_ticket(layout)
    assert time.monotonic() - started < 2


def test_tcp_printer_coming_online_later_works_without_reopening(network_printer, closed_port, layout):
    printer = open_printer(f"tcp://127.0.0.1:{closed_port}")
    with pytest.raises(PrinterError):
        printer.print_ticket(layout)

    fake = network_printer()
    printer = open_printer(fake.uri)
    printer.print_ticket(layout)
    printer.print_ticket(layout)
    assert len(fake.wait_jobs(2)) == 2


# --- usb:// and serial:// --------------------------------------------------


def test_usb_printer_not_plugged_in(layout):
    printer = open_printer("usb://0416:5011")

    with pytest.raises(PrinterError, match="Printer tidak terhubung"):
        printer.print_ticket(layout)
    assert printer.status() == PrinterStatus(False, "Printer tidak terhubung")


def test_serial_device_missing(tmp_path, layout):
    printer = open_printer(f"serial://{tmp_path}/ttyUSB9")

    with pytest.raises(PrinterError, match="Printer tidak terhubung"):
        printer.print_ticket(layout)


class PtyPrinter:
    """The printer end of a pty: records bytes and answers DLE EOT n for roll sensor ``paper``."""

    def __init__(self, paper: bytes, answer_status) -> None:
        self.paper = paper
        self._answer_status = answer_status
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
            before = len(self.received)
            self.received += chunk
            if answers := self._answer_status(self.received, before, self.paper):
                os.write(self.master, answers)

    def wait_for(self, tail: bytes, timeout: float = 3.0) -> bytes:
        deadline = time.monotonic() + timeout
        while not self.received.endswith(tail) and time.monotonic() < deadline:
            time.sleep(0.01)
        return bytes(self.received)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        os.close(self.master)
        os.close(self._slave)


@pytest.fixture
def pty_printer(answer_status):
    made: list[PtyPrinter] = []

    def make(paper: bytes = PAPER_OK) -> PtyPrinter:
        made.append(PtyPrinter(paper, answer_status))
        return made[-1]

    yield make
    for printer in made:
        printer.close()


def test_serial_ticket_reaches_the_printer(pty_printer, qr_layout):
    fake = pty_printer()
    printer = open_printer(f"serial://{fake.path}?baudrate=19200&dsrdtr=0")
    try:
        started = time.monotonic()
        printer.print_ticket(qr_layout)
        # The one-byte status answer must not make every ticket wait for a timeout.
        assert time.monotonic() - started < 0.5
        received = fake.wait_for(CUT)
    finally:
        printer.close()

    assert received == READY_QUERIES + render_ticket(qr_layout)
    assert decode_escpos(received).qr_texts == [qr_layout.qr_text]


def test_serial_out_of_paper_prints_nothing(pty_printer, layout):
    fake = pty_printer(PAPER_OUT)
    printer = open_printer(f"serial://{fake.path}")
    try:
        with pytest.raises(PrinterError, match="Kertas printer habis"):
            printer.print_ticket(layout)
        time.sleep(0.1)
    finally:
        printer.close()

    assert bytes(fake.received) == OFFLINE_QUERIES
