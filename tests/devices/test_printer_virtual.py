"""The virtual ESC/POS printer, driven over real TCP by the project's own tcp:// adapter."""

from __future__ import annotations

import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from devices.printer import (
    PrinterError,
    PrinterStatus,
    VirtualPrinter,
    decode_escpos,
    open_printer,
    render_ticket,
)
from devices.printer.virtual import main

REPO = Path(__file__).resolve().parents[2]
QUERIES = b"\x10\x04\x01\x10\x04\x02\x10\x04\x03\x10\x04\x04"  # DLE EOT 1, 2, 3, 4


def wait_until(predicate, timeout: float = 3.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            return False
        pause.wait(interval)
    return True


def recv_exactly(sock: socket.socket, count: int, timeout: float = 3.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture
def virtual(tmp_path):
    printers: list[VirtualPrinter] = []

    def start(**kwargs) -> VirtualPrinter:
        kwargs.setdefault("directory", tmp_path / "tickets")
        printer = VirtualPrinter(**kwargs)
        printer.start()
        printers.append(printer)
        return printer

    yield start
    for printer in printers:
        printer.stop()


# --- status over TCP ---------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        pytest.param("ready", PrinterStatus(True, "Printer siap", "ready"), id="ready"),
        pytest.param("paper_low", PrinterStatus(True, "Kertas hampir habis", "paper_low"), id="paper-low"),
        pytest.param("paper_out", PrinterStatus(False, "Kertas habis", "paper_out"), id="paper-out"),
        pytest.param("cover_open", PrinterStatus(False, "Tutup printer terbuka", "cover_open"), id="cover-open"),
        pytest.param("offline", PrinterStatus(False, "Printer offline", "offline"), id="offline"),
    ],
)
def test_each_state_reads_back(virtual, state, expected):
    fake = virtual(state=state)
    printer = open_printer(fake.uri)

    started = time.monotonic()
    assert printer.status() == expected
    assert time.monotonic() - started < 0.5
    assert fake.wait_for(lambda: fake.sessions_closed == 1)
    assert fake.tickets == [] and fake.partials == []  # a status read is no ticket


def test_raw_answers_to_dle_eot_1_to_4(virtual):
    fake = virtual(state="paper_out")
    with socket.create_connection(("127.0.0.1", fake.port)) as sock:
        sock.sendall(QUERIES)
        assert recv_exactly(sock, 4).hex(" ") == "1a 32 12 7e"
        fake.trigger_fake_cover_open()
        sock.sendall(QUERIES)
        assert recv_exactly(sock, 4).hex(" ") == "1a 16 12 12"


def test_status_of_a_stopped_printer_is_disconnected_quickly(virtual, closed_port):
    fake = virtual()
    printer = open_printer(fake.uri)
    assert printer.status().state == "ready"
    fake.stop()

    for uri in (fake.uri, f"tcp://127.0.0.1:{closed_port}"):
        started = time.monotonic()
        assert open_printer(uri).status() == PrinterStatus(False, "Printer tidak terhubung", "disconnected")
        assert time.monotonic() - started < 1
    started = time.monotonic()
    assert printer.status().state == "disconnected"
    assert time.monotonic() - started < 1


# --- printing ----------------------------------------------------------------


def test_ticket_prints_and_is_saved(virtual, tmp_path, layout):
    fake = virtual()
    open_printer(fake.uri).print_ticket(layout)

    (ticket,) = fake.wait_tickets(1)
    assert ticket == render_ticket(layout)  # the status queries before it are not part of it
    decoded = decode_escpos(ticket)
    assert "A007" in decoded.lines and "Menunggu: 3 orang" in decoded.lines
    assert decoded.cuts == 1 and decoded.unknown == []

    directory = tmp_path / "tickets"
    assert sorted(os.listdir(directory)) == ["ticket-0001.escpos", "ticket-0001.png", "ticket-0001.txt"]
    assert (directory / "ticket-0001.escpos").read_bytes() == ticket
    assert "A007" in (directory / "ticket-0001.txt").read_text(encoding="utf-8")
    with Image.open(directory / "ticket-0001.png") as picture:
        assert picture.height > picture.width


def test_qr_ticket_keeps_its_qr(virtual, qr_layout):
    fake = virtual(directory=None)
    open_printer(fake.uri).print_ticket(qr_layout)

    (ticket,) = fake.wait_tickets(1)
    decoded = decode_escpos(ticket)
    assert decoded.qr_texts == [qr_layout.qr_text] and decoded.cuts == 1


def test_paper_out_refuses_then_refill_prints_again(virtual, layout):
    fake = virtual()
    printer = open_printer(fake.uri)
    fake.trigger_fake_out_of_paper()

    with pytest.raises(PrinterError) as info:
        printer.print_ticket(layout)
    assert str(info.value) == "Kertas printer habis"
    assert fake.wait_for(lambda: fake.sessions_closed == 1)
    assert fake.tickets == [] and fake.discarded_bytes == 0  # the ticket was never sent
    assert printer.status().state == "paper_out"

    fake.trigger_fake_restore()
    printer.print_ticket(layout)
    assert fake.wait_tickets(1) == [render_ticket(layout)]
    assert printer.status() == PrinterStatus(True, "Printer siap")


@pytest.mark.parametrize(
    ("trigger", "error"),
    [
        pytest.param("trigger_fake_cover_open", "Tutup printer terbuka", id="cover-open"),
        pytest.param("trigger_fake_offline", "Printer offline", id="offline"),
    ],
)
def test_cover_open_and_offline_refuse(virtual, layout, trigger, error):
    fake = virtual()
    getattr(fake, trigger)()

    with pytest.raises(PrinterError) as info:
        open_printer(fake.uri).print_ticket(layout)
    assert str(info.value) == error
    assert fake.wait_for(lambda: fake.sessions_closed == 1)
    assert fake.tickets == []


def test_paper_low_still_prints(virtual, layout):
    fake = virtual(state="paper_low")
    printer = open_printer(fake.uri)
    printer.print_ticket(layout)

    assert fake.wait_tickets(1) == [render_ticket(layout)]
    assert printer.status().state == "paper_low"


def test_data_sent_while_out_of_paper_is_discarded(virtual, layout):
    fake = virtual(state="paper_out")
    ticket = render_ticket(layout)
    with socket.create_connection(("127.0.0.1", fake.port)) as sock:
        sock.sendall(b"\x10\x04\x04" + ticket)  # a client that ignores the answer
        assert recv_exactly(sock, 1) == b"\x7e"
    assert fake.wait_for(lambda: fake.sessions_closed == 1)

    assert fake.tickets == [] and fake.partials == []
    assert fake.discarded_bytes == len(ticket)


def test_two_tickets_on_one_connection(virtual, layout, qr_layout):
    fake = virtual()
    with socket.create_connection(("127.0.0.1", fake.port)) as sock:
        sock.sendall(render_ticket(layout) + render_ticket(qr_layout))
    assert fake.wait_tickets(2) == [render_ticket(layout), render_ticket(qr_layout)]
    assert sorted(os.listdir(fake.directory))[-1] == "ticket-0002.txt"


# --- robustness --------------------------------------------------------------


@pytest.mark.parametrize("reset", [pytest.param(False, id="close"), pytest.param(True, id="reset")])
def test_survives_a_client_that_disconnects_mid_ticket(virtual, qr_layout, layout, reset):
    fake = virtual()
    ticket = render_ticket(qr_layout)
    sock = socket.create_connection(("127.0.0.1", fake.port))
    with sock:
        sock.sendall(ticket[: len(ticket) // 2])
        if reset:  # abortive close: the printer sees ECONNRESET
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert fake.wait_for(lambda: fake.sessions_closed == 1)
    assert fake.tickets == []
    assert fake.partials == [ticket[: len(ticket) // 2]]

    open_printer(fake.uri).print_ticket(layout)
    assert fake.wait_tickets(1) == [render_ticket(layout)]


def test_an_idle_client_does_not_block_others(virtual, layout):
    fake = virtual()
    with socket.create_connection(("127.0.0.1", fake.port)) as idle:
        idle.sendall(b"\x1b@half a tick")
        printer = open_printer(fake.uri)
        assert printer.status().state == "ready"
        printer.print_ticket(layout)
        assert fake.wait_tickets(1) == [render_ticket(layout)]


def test_idle_timeout_ends_a_silent_connection(virtual):
    fake = virtual(idle_timeout=0.2)
    with socket.create_connection(("127.0.0.1", fake.port)) as sock:
        sock.sendall(b"\x1b@abc")
        assert fake.wait_for(lambda: fake.sessions_closed == 1)
        assert recv_exactly(sock, 1) == b""  # the printer hung up
    assert fake.partials == [b"\x1b@abc"]


def test_stop_ends_open_connections(virtual):
    fake = virtual()
    with socket.create_connection(("127.0.0.1", fake.port)) as sock:
        sock.sendall(b"\x1b@abc\x10\x04\x01")
        assert recv_exactly(sock, 1) == b"\x12"  # the connection is being served
        started = time.monotonic()
        fake.stop()
        assert time.monotonic() - started < 1
        assert fake.sessions_closed == 1 and fake.partials == [b"\x1b@abc\x10\x04\x01"]


def test_context_manager_picks_a_free_port(layout):
    with VirtualPrinter() as fake:
        assert fake.port != 0
        open_printer(fake.uri).print_ticket(layout)
        assert len(fake.wait_tickets(1)) == 1
    assert open_printer(fake.uri).status().state == "disconnected"


# --- the byte stream itself ----------------------------------------------------


def test_query_split_across_reads_is_answered_once():
    session = VirtualPrinter().open_session()
    assert session.receive(b"\x10") == b""
    assert session.receive(b"\x04") == b""
    assert session.receive(b"\x01\x10\x04") == b"\x12"
    assert session.receive(b"\x04") == b"\x12"
    session.close()


def test_cut_bytes_inside_an_image_do_not_split_the_ticket():
    printer = VirtualPrinter()
    # GS v 0: a 2-byte wide, 3-line raster whose data contains GS V 0 (a cut's bytes).
    raster = b"\x1dv0\x00\x02\x00\x03\x00" + b"\x1dV\x00\xff\x00\x00"
    ticket = b"\x1b@" + raster + b"A007\n" + b"\x1bd\x06\x1dV\x00"
    session = printer.open_session()
    for start in range(0, len(ticket), 5):  # arrives in small pieces
        session.receive(ticket[start : start + 5])
    session.close()

    assert printer.tickets == [ticket] and printer.partials == []
    assert decode_escpos(ticket).cuts == 1


def test_status_only_stream_leaves_nothing_behind():
    printer = VirtualPrinter()
    session = printer.open_session()
    assert session.receive(QUERIES) == b"\x12\x12\x12\x12"
    session.close()
    assert printer.tickets == [] and printer.partials == [] and printer.discarded_bytes == 0


def test_unknown_state_is_refused():
    with pytest.raises(ValueError, match="jammed"):
        VirtualPrinter(state="jammed")
    with pytest.raises(ValueError, match="jammed"):
        VirtualPrinter().set_state("jammed")


# --- control file --------------------------------------------------------------


def test_control_file_changes_are_picked_up(virtual, tmp_path, layout):
    control = tmp_path / "printer.state"
    fake = virtual(control_path=control)
    printer = open_printer(fake.uri)
    assert printer.status().state == "ready"  # no file yet: the initial state

    def shows(state: str) -> bool:
        return printer.status().state == state

    control.write_text("paper_out\n")
    assert wait_until(lambda: shows("paper_out"), timeout=2)
    with pytest.raises(PrinterError, match="^Kertas printer habis$"):
        printer.print_ticket(layout)

    control.write_text("cover-open")
    assert wait_until(lambda: shows("cover_open"), timeout=2)

    control.write_text("jammed, please help")  # not a state: ignored
    assert not wait_until(lambda: not shows("cover_open"), timeout=0.5)

    control.write_text("ready")
    assert wait_until(lambda: shows("ready"), timeout=2)
    printer.print_ticket(layout)
    assert len(fake.wait_tickets(1)) == 1

    fake.trigger_fake_offline()  # set_state wins until the file changes again
    assert shows("offline")
    control.unlink()
    assert not wait_until(lambda: not shows("offline"), timeout=0.5)


# --- command line ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "word"),
    [
        pytest.param(["--state", "jammed"], "jammed", id="state"),
        pytest.param(["--profile", "NoSuchPrinter"], "NoSuchPrinter", id="profile"),
    ],
)
def test_main_rejects_bad_options(capsys, argv, word):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert word in capsys.readouterr().err


def test_main_reports_a_port_in_use(capsys):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        assert main(["--port", str(busy.getsockname()[1])]) == 1
    assert "Cannot listen" in capsys.readouterr().err


def test_command_line_runs_until_sigterm(tmp_path, layout):
    control = tmp_path / "state"
    control.write_text("offline")
    process = subprocess.Popen(
        [sys.executable, "-m", "devices.printer.virtual", "--port", "0"]
        + ["--dir", str(tmp_path / "out"), "--control", str(control)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert select.select([process.stdout], [], [], 30)[0], "no address printed"
        line = process.stdout.readline()
        assert line.startswith("Virtual printer listening on tcp://127.0.0.1:"), line
        printer = open_printer(line.split()[-1])

        assert printer.status().state == "offline"
        with pytest.raises(PrinterError, match="^Printer offline$"):
            printer.print_ticket(layout)

        control.write_text("ready")
        assert wait_until(lambda: printer.status().state == "ready", timeout=2)
        printer.print_ticket(layout)
        ticket = tmp_path / "out" / "ticket-0001.png"
        assert wait_until(ticket.exists)

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        stderr = process.stderr.read()
        process.stdout.close()
        process.stderr.close()
    assert (tmp_path / "out" / "ticket-0001.escpos").read_bytes() == render_ticket(layout)
    assert "RuntimeWarning" not in stderr and "Traceback" not in stderr, stderr
