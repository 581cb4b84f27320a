"""open_scanner: URI forms and the errors for bad ones."""

from __future__ import annotations

import pytest

from devices.scanner import ScannerPort, open_scanner
from devices.scanner.evdev_scanner import EvdevScanner
from devices.scanner.serial_scanner import SerialScanner


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        pytest.param("serial:///dev/ttyACM0?baudrate=9600", SerialScanner, id="serial"),
        pytest.param("serial:///dev/ttyACM0", SerialScanner, id="serial-default-baudrate"),
        pytest.param("serial+socket://192.0.2.10:4001", SerialScanner, id="pyserial-socket-url"),
        pytest.param("serial+rfc2217://192.0.2.10:2217", SerialScanner, id="pyserial-rfc2217-url"),
        pytest.param(
            "evdev:///dev/input/by-id/usb-Scanner_QR-event-kbd",
            EvdevScanner,
            id="evdev",
        ),
        pytest.param("none", ScannerPort, id="none"),
    ],
)
def test_valid_uris_open_lazily(uri, kind):
    # None of these devices exist here: opening must still succeed.
    assert isinstance(open_scanner(uri), kind)


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("", id="empty"),
        pytest.param("/dev/ttyACM0", id="bare-path"),
        pytest.param("hid:///dev/hidraw0", id="unknown-scheme"),
        pytest.param("serial://ttyACM0", id="serial-relative"),
        pytest.param("serial:///dev/ttyACM0?baudrate=fast", id="bad-baudrate"),
        pytest.param("serial:///dev/ttyACM0?parity=E", id="unknown-option"),
        pytest.param("serial+nosuch://host:1", id="unknown-pyserial-handler"),
        pytest.param("evdev://input/event3", id="evdev-relative"),
        pytest.param("evdev:///dev/input/event3?grab=0", id="evdev-option"),
    ],
)
def test_bad_uri_is_a_value_error_naming_it(uri):
    with pytest.raises(ValueError) as info:
        open_scanner(uri)
    assert repr(uri) in str(info.value)
