"""Pick the scanner adapter from a config URI."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

import serial

from devices.scanner.base import ScannerPort
from devices.scanner.fake import NullScanner
from devices.scanner.serial_scanner import SerialScanner


def open_scanner(uri: str) -> ScannerPort:
    """Create the scanner adapter for ``uri``; the device is opened by run(), not here.

    Forms:

    - ``serial:///dev/ttyACM0?baudrate=9600``: a serial device path (baudrate
      defaults to 9600; CDC-ACM scanners ignore it)
    - ``serial+<pyserial URL>``: any pyserial URL handler, written with a
      ``serial+`` prefix, e.g. ``serial+socket://192.0.2.10:4001`` or
      ``serial+rfc2217://host:port``; the rest is passed to serial.serial_for_url
    - ``evdev:///dev/input/by-id/usb-<vendor>_<model>-event-kbd``: a keyboard-emulating scanner
    - ``none``: no scanner; run() just waits for stop

    Raises ValueError naming the URI when it is malformed or the scheme unknown.
    """
    text = uri.strip()
    if text == "none":
        return NullScanner()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme.startswith("serial+"):
        inner = text[len("serial+") :]
        try:
            serial.serial_for_url(inner, do_not_open=True)
        except ValueError as exc:
            raise ValueError(f"Scanner URI {uri!r} is invalid: {exc}") from None
        return SerialScanner(inner, is_url=True)
    if scheme not in ("serial", "evdev"):
        raise ValueError(f"Unknown scanner URI {uri!r}: use serial://, serial+<pyserial URL>, evdev:// or none")
    path = unquote(parts.path)
    if parts.netloc or not path.startswith("/") or path == "/" or parts.fragment:
        raise ValueError(f"Scanner URI {uri!r} is invalid: expected {scheme}:///absolute/device/path")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    allowed = {"baudrate"} if scheme == "serial" else set()
    if set(query) - allowed:
        unknown = ", ".join(sorted(set(query) - allowed))
        raise ValueError(f"Scanner URI {uri!r}: unknown option(s) {unknown}")
    if scheme == "evdev":
        from devices.scanner.evdev_scanner import EvdevScanner  # python-evdev only for this scanner

        return EvdevScanner(path)
    try:
        baudrate = int(query.get("baudrate", "9600"))
    except ValueError:
        raise ValueError(f"Scanner URI {uri!r}: baudrate must be a number") from None
    return SerialScanner(path, baudrate=baudrate)
