"""Serial scanners: a pty plays the scanner, a TCP socket the pyserial URL form."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

import pytest

from devices.scanner import ScannerError, open_scanner

SYNC = "rosma-sync"


class PtyScanner:
    """The scanner end of a pty: the test types into the master."""

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        self.path = os.ttyname(self._slave)
        self.closed = False

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def close_master(self) -> None:
        if not self.closed:
            os.close(self.master)
            self.closed = True

    def close(self) -> None:
        self.close_master()
        os.close(self._slave)


@pytest.fixture
def pty_scanner():
    fake = PtyScanner()
    yield fake
    fake.close()


def wait_reading(run, fake) -> None:
    """pyserial flushes input when it opens the port: type markers until one arrives."""
    deadline = time.monotonic() + 3
    while SYNC not in run.scans:
        assert time.monotonic() < deadline, f"scanner never started reading (error: {run.error!r})"
        fake.type(SYNC.encode() + b"\n")
        time.sleep(0.05)


def scans_after_sync(run) -> list[str]:
    return [text for text in run.scans if text != SYNC]


def wait_for_text(run, text: str, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in run.scans and time.monotonic() < deadline:
        time.sleep(0.01)


def test_scans_arrive_in_order(run_scanner, pty_scanner):
    run = run_scanner(open_scanner(f"serial://{pty_scanner.path}?baudrate=9600"))
    wait_reading(run, pty_scanner)

    pty_scanner.type(b"RS1:ABC\r\n")
    pty_scanner.type(b"second\n")
    wait_for_text(run, "second")

    assert scans_after_sync(run) == ["RS1:ABC", "second"]


def test_split_writes_and_lone_cr_terminators(run_scanner, pty_scanner):
    run = run_scanner(open_scanner(f"serial://{pty_scanner.path}"))
    wait_reading(run, pty_scanner)

    for chunk in (b"RS1:", b"A B", b"\rsame\r", b"same\r\n\r\n", b"end\n"):
        pty_scanner.type(chunk)
        time.sleep(0.02)
    wait_for_text(run, "end")

    assert scans_after_sync(run) == ["RS1:A B", "same", "same", "end"]


def test_stop_returns_promptly(run_scanner, pty_scanner):
    run = run_scanner(open_scanner(f"serial://{pty_scanner.path}"))
    wait_reading(run, pty_scanner)

    assert run.stop_and_join() < 0.5
    assert run.error is None


def test_oversized_scan_is_dropped_without_logging_its_text(run_scanner, pty_scanner, caplog):
    caplog.set_level(logging.WARNING)
    run = run_scanner(open_scanner(f"serial://{pty_scanner.path}"))
    wait_reading(run, pty_scanner)

    pty_scanner.type(b"S" * 2048 + b"\n")
    pty_scanner.type(b"P" * 9000 + b"\n")
    pty_scanner.type(b"Q" * 2049 + b"\n")
    pty_scanner.type(b"after\n")
    wait_for_text(run, "after")

    assert scans_after_sync(run) == ["S" * 2048, "after"]
    assert caplog.text.count("dropped") == 2
    assert "PPPP" not in caplog.text and "QQQQ" not in caplog.text


def test_unplugged_while_running_raises(run_scanner, pty_scanner):
    run = run_scanner(open_scanner(f"serial://{pty_scanner.path}"))
    wait_reading(run, pty_scanner)

    pty_scanner.close_master()

    assert run.wait_finished() < 1
    assert isinstance(run.error, ScannerError)
    assert str(run.error) == "Pemindai QR terputus"


def test_missing_device_raises_in_indonesian(tmp_path):
    scanner = open_scanner(f"serial://{tmp_path}/ttyACM9")

    with pytest.raises(ScannerError) as info:
        scanner.run(lambda text: None, threading.Event())
    assert str(info.value) == "Pemindai QR tidak terhubung"


def test_device_held_by_another_reader_is_busy(run_scanner, pty_scanner):
    first = run_scanner(open_scanner(f"serial://{pty_scanner.path}"))
    wait_reading(first, pty_scanner)

    with pytest.raises(ScannerError, match="Pemindai QR sedang dipakai program lain"):
        open_scanner(f"serial://{pty_scanner.path}").run(lambda text: None, threading.Event())


class Failing:
    """A scan handler with a bug on one particular scan."""

    def __init__(self, scanner) -> None:
        self.scanner = scanner

    def run(self, on_scan, stop) -> None:
        def handler(text: str) -> None:
            if text == "boom":
                raise RuntimeError("handler bug")
            on_scan(text)

        self.scanner.run(handler, stop)


def test_handler_error_does_not_stop_the_scanner(run_scanner, pty_scanner, caplog):
    run = run_scanner(Failing(open_scanner(f"serial://{pty_scanner.path}")))
    wait_reading(run, pty_scanner)

    pty_scanner.type(b"boom\nfine\n")
    wait_for_text(run, "fine")

    assert scans_after_sync(run) == ["fine"]
    assert run.thread.is_alive()
    assert "Scan handler failed for a 4-character scan" in caplog.text


class SerialBridge:
    """A TCP serial bridge (like a ser2net box) with one scanner behind it."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._conn: socket.socket | None = None
        self._accepted = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        try:
            self._conn, _ = self._server.accept()
        except OSError:
            return  # closed before the scanner connected
        self._accepted.set()

    def type(self, data: bytes) -> None:
        if self._accepted.wait(0.05):
            self._conn.sendall(data)

    def close(self) -> None:
        self._thread.join(0.1)
        if self._conn is not None:
            self._conn.close()
        self._server.close()


def test_pyserial_socket_url(run_scanner):
    bridge = SerialBridge()
    try:
        run = run_scanner(open_scanner(f"serial+socket://127.0.0.1:{bridge.port}"))
        wait_reading(run, bridge)
        bridge.type(b"RS1:NET\r\ntwo\n")
        wait_for_text(run, "two")

        assert scans_after_sync(run) == ["RS1:NET", "two"]

        bridge.close()  # the bridge goes away

        assert run.wait_finished() < 1
        assert isinstance(run.error, ScannerError)
    finally:
        bridge.close()
