"""Printer and scanner fixtures: sample tickets, a fake network printer, a runner."""

from __future__ import annotations

import dataclasses
import re
import socket
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

import devices.printer  # noqa: F401 - sets the escpos cache dir before any test imports escpos
from devices.printer import TicketLayout

JAKARTA = ZoneInfo("Asia/Jakarta")
PAPER_OK, PAPER_NEAR_END, PAPER_OUT = b"\x12", b"\x1e", b"\x72"
STATUS_QUERY = re.compile(rb"\x10\x04([\x01-\x04])")  # DLE EOT n


def status_answers(received: bytes | bytearray, before: int, paper: bytes) -> bytes:
    """Answers to the DLE EOT queries completed by ``received[before:]``.

    An Epson printer whose roll sensor reads ``paper`` (DLE EOT 4) is offline
    (DLE EOT 1 bit 3) with a paper-end stop (DLE EOT 2 bit 5) when the paper is out.
    """
    out = paper[0] & 0x60 != 0
    replies = {1: b"\x1a" if out else b"\x12", 2: b"\x32" if out else b"\x12", 3: b"\x12", 4: paper}
    return b"".join(replies[m.group(1)[0]] for m in STATUS_QUERY.finditer(received) if m.end() > before)


@pytest.fixture
def layout() -> TicketLayout:
    return TicketLayout(
        puskesmas_name="Puskesmas Kecamatan Tanah Abang",
        puskesmas_address="Jl. KH Mas Mansyur No. 30, Jakarta Pusat",
        number="A007",
        queue_name="Loket Pendaftaran",
        payer="BPJS",
        issued_at=datetime(2026, 11, 25, 8, 31, tzinfo=JAKARTA),
        waiting_ahead=3,
        note="Reservasi 08:00-09:00",
    )


@pytest.fixture
def qr_layout(layout: TicketLayout) -> TicketLayout:
    return dataclasses.replace(layout, qr_text="https://antrian.example.id/t/A007?k=9f3c")


class FakeNetworkPrinter:
    """A raw-TCP (port 9100) printer on 127.0.0.1 recording each connection's bytes.

    It answers DLE EOT 1, 2, 3 and 4 for the roll sensor state ``paper`` (the DLE EOT 4
    answer; None = never answers anything), like an Epson printer.
    """

    def __init__(self, paper: bytes | None = PAPER_OK) -> None:
        self.paper = paper
        self.jobs: list[bytes] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def uri(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                received = bytearray()
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    before = len(received)
                    received += chunk
                    if self.paper is not None and (answers := status_answers(received, before, self.paper)):
                        conn.sendall(answers)
                self.jobs.append(bytes(received))

    def wait_jobs(self, count: int, timeout: float = 3.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while len(self.jobs) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.jobs

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._server.close()


@pytest.fixture
def network_printer():
    printers: list[FakeNetworkPrinter] = []

    def start(paper: bytes | None = PAPER_OK) -> FakeNetworkPrinter:
        printers.append(FakeNetworkPrinter(paper))
        return printers[-1]

    yield start
    for printer in printers:
        printer.close()


@pytest.fixture
def answer_status():
    """status_answers(received, before, paper), for fakes defined in test modules."""
    return status_answers


@pytest.fixture
def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]


class ScannerRun:
    """Runs a ScannerPort in a thread; records scans and the exception it ended with."""

    def __init__(self, scanner) -> None:
        self.scanner = scanner
        self.scans: list[str] = []
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.scanner.run(self.scans.append, self.stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc

    def wait_for(self, count: int, timeout: float = 3.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while len(self.scans) < count and time.monotonic() < deadline and self.thread.is_alive():
            time.sleep(0.01)
        return self.scans

    def wait_finished(self, timeout: float = 3.0) -> float:
        """Return how long it took the run() thread to end."""
        started = time.monotonic()
        self.thread.join(timeout)
        return time.monotonic() - started

    def stop_and_join(self) -> float:
        self.stop.set()
        return self.wait_finished()


@pytest.fixture
def run_scanner():
    runs: list[ScannerRun] = []

    def start(scanner) -> ScannerRun:
        runs.append(ScannerRun(scanner))
        return runs[-1]

    yield start
    for run in runs:
        run.stop_and_join()
