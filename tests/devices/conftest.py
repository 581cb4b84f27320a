"""Printer and scanner fixtures: sample tickets, a fake network printer, a runner."""

from __future__ import annotations

import dataclasses
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
PAPER_QUERY = b"\x10\x04\x04"  # DLE EOT 4, what python-escpos paper_status() sends


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

    It answers DLE EOT 4 with ``paper`` (None = never answers), like an Epson printer.
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
                    queries = received.count(PAPER_QUERY) - received[:before].count(PAPER_QUERY)
                    if self.paper is not None and queries > 0:
                        conn.sendall(self.paper * queries)
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
