"""EvdevScanner run loop with a stand-in input device (no /dev/input in CI)."""

from __future__ import annotations

import contextlib
import errno
import os
import queue

import pytest
from evdev import InputEvent
from evdev import ecodes as e

from devices.scanner import ScannerError, open_scanner
from devices.scanner.evdev_scanner import EvdevScanner


class StandInDevice:
    """Quacks like evdev.InputDevice: selectable fd, read, grab, ungrab, close."""

    def __init__(self, grab_errno: int | None = None) -> None:
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        self.fd = self._r
        self.events: queue.Queue[InputEvent] = queue.Queue()
        self.grab_errno = grab_errno
        self.grabbed = False
        self.closed = False
        self.unplugged = False

    def type(self, text: str) -> None:
        codes = {ch: getattr(e, f"KEY_{ch.upper()}") for ch in "abcdefghijklmnopqrstuvwxyz0123456789"}
        codes.update({"\n": e.KEY_ENTER, "-": e.KEY_MINUS})
        for i, ch in enumerate(text):
            for value in (1, 0):
                self.events.put(InputEvent(1_700_000_000, i * 2000 + value, e.EV_KEY, codes[ch], value))
                self.events.put(InputEvent(1_700_000_000, i * 2000 + value, e.EV_SYN, e.SYN_REPORT, 0))
        os.write(self._w, b"x")

    def unplug(self) -> None:
        self.unplugged = True
        os.write(self._w, b"x")

    def read(self):
        if self.unplugged:
            raise OSError(errno.ENODEV, "No such device")
        with contextlib.suppress(BlockingIOError):
            os.read(self._r, 4096)
        if self.events.empty():
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        while not self.events.empty():
            yield self.events.get()

    def grab(self) -> None:
        if self.grab_errno is not None:
            raise OSError(self.grab_errno, os.strerror(self.grab_errno))
        self.grabbed = True

    def ungrab(self) -> None:
        if not self.grabbed:
            raise OSError(errno.EINVAL, "not grabbed")
        self.grabbed = False

    def close(self) -> None:
        if not self.closed:
            os.close(self._r)
            os.close(self._w)
            self.closed = True


@pytest.fixture
def device():
    stand_in = StandInDevice()
    yield stand_in
    stand_in.close()


def scanner_for(device: StandInDevice) -> EvdevScanner:
    return EvdevScanner("/dev/input/by-id/usb-Test_Scanner-event-kbd", open_device=lambda path: device)


def test_grabs_and_delivers_scans(run_scanner, device):
    run = run_scanner(scanner_for(device))
    device.type("rs1-abc\n")
    device.type("second\n")

    assert run.wait_for(2) == ["rs1-abc", "second"]
    assert device.grabbed


def test_stop_returns_promptly_and_releases_the_device(run_scanner, device):
    run = run_scanner(scanner_for(device))
    device.type("x\n")
    run.wait_for(1)

    assert run.stop_and_join() < 0.5
    assert run.error is None
    assert not device.grabbed and device.closed


def test_unplug_raises_scanner_error(run_scanner, device):
    run = run_scanner(scanner_for(device))
    device.type("a\n")
    run.wait_for(1)

    device.unplug()

    assert run.wait_finished() < 0.5
    assert isinstance(run.error, ScannerError)
    assert str(run.error) == "Pemindai QR terputus"


def test_device_grabbed_by_another_program(run_scanner):
    busy = StandInDevice(grab_errno=errno.EBUSY)
    run = run_scanner(scanner_for(busy))

    assert run.wait_finished() < 0.5
    assert str(run.error) == "Pemindai QR sedang dipakai program lain"
    assert busy.closed


@pytest.mark.parametrize(
    "existing_file",
    [pytest.param(False, id="missing"), pytest.param(True, id="not-an-input-device")],
)
def test_real_evdev_on_a_wrong_path(tmp_path, run_scanner, existing_file):
    path = tmp_path / "usb-Scanner-event-kbd"
    if existing_file:
        path.write_text("")
    run = run_scanner(open_scanner(f"evdev://{path}"))

    assert run.wait_finished() < 0.5
    assert isinstance(run.error, ScannerError)
    assert str(run.error) == "Pemindai QR tidak terhubung"
