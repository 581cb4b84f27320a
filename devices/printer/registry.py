"""Pick the printer adapter from a config URI."""

from __future__ import annotations

import os
import re
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from devices.printer.base import PrinterPort
from devices.printer.escpos_printer import NetworkPrinter, SerialPrinter, UsbPrinter
from devices.printer.file_printer import DirectoryPrinter, NullPrinter, RawFilePrinter
from devices.printer.ticket import profile_geometry

_USB_IDS = re.compile(r"^([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$")
_ALLOWED = {
    "usb": {"timeout", "in_ep", "out_ep"},
    "serial": {"baudrate", "timeout", "dsrdtr"},
    "tcp": {"timeout"},
    "file": set(),
}


def open_printer(uri: str, profile: str = "TM-T20II") -> PrinterPort:
    """Create the printer adapter for ``uri``; nothing is opened yet.

    Forms (timeouts in seconds):

    - ``usb://0416:5011`` (hex vendor:product), query ``timeout`` (5), ``in_ep``,
      ``out_ep`` (e.g. ``0x81``, for printers that do not use 0x82/0x01)
    - ``serial:///dev/ttyUSB0?baudrate=19200``, query ``baudrate`` (9600),
      ``timeout`` (5), ``dsrdtr`` (1 or 0, default 1)
    - ``tcp://host:9100`` (port defaults to 9100), query ``timeout`` (5)
    - ``file:///dir/`` or an existing directory: numbered ticket-NNNN.escpos/.txt/.png
    - ``file:///dev/usb/lp0`` or any other file: raw bytes appended
    - ``none``: prints nothing

    Raises ValueError naming the URI when it is malformed or the scheme unknown,
    and for an unknown or width-less python-escpos profile.
    """
    profile_geometry(profile)
    if uri.strip() == "none":
        return NullPrinter()
    parts = urlsplit(uri.strip())
    scheme = parts.scheme.lower()
    if scheme not in _ALLOWED:
        raise ValueError(f"Unknown printer URI {uri!r}: use usb://, serial://, tcp://, file:// or none")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = set(query) - _ALLOWED[scheme]
    if unknown:
        raise ValueError(f"Printer URI {uri!r}: unknown option(s) {', '.join(sorted(unknown))}")
    try:
        if scheme == "usb":
            return _usb(parts.netloc, query, profile)
        if scheme == "serial":
            path = unquote(parts.path)
            if parts.netloc or not path or path == "/":
                raise ValueError("expected serial:///path/to/device")
            return SerialPrinter(
                path,
                profile,
                baudrate=int(query.get("baudrate", "9600")),
                timeout=_seconds(query),
                dsrdtr=_flag(query.get("dsrdtr", "1")),
            )
        if scheme == "tcp":
            if not parts.hostname:
                raise ValueError("expected tcp://host:port")
            return NetworkPrinter(parts.hostname, parts.port or 9100, profile, timeout=_seconds(query))
        return _file(parts, profile)
    except ValueError as exc:
        if str(exc).startswith(f"Printer URI {uri!r}"):
            raise
        raise ValueError(f"Printer URI {uri!r} is invalid: {exc}") from None


def _usb(netloc: str, query: dict[str, str], profile: str) -> PrinterPort:
    match = _USB_IDS.match(netloc)
    if not match:
        raise ValueError("expected usb://VVVV:PPPP with hexadecimal vendor and product ids")
    return UsbPrinter(
        int(match.group(1), 16),
        int(match.group(2), 16),
        profile,
        timeout=_seconds(query),
        in_ep=int(query.get("in_ep", "0x82"), 0),
        out_ep=int(query.get("out_ep", "0x01"), 0),
    )


def _file(parts: SplitResult, profile: str) -> PrinterPort:
    if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
        raise ValueError("expected file:///absolute/path")
    path = unquote(parts.path)
    if not path or path == "/":
        raise ValueError("expected file:///absolute/path")
    if path.endswith("/") or os.path.isdir(path):
        return DirectoryPrinter(path.rstrip("/") or "/", profile)
    return RawFilePrinter(path, profile)


def _seconds(query: dict[str, str]) -> float:
    value = float(query.get("timeout", "5"))
    if not 0 < value <= 600:
        raise ValueError("timeout must be between 0 and 600 seconds")
    return value


def _flag(value: str) -> bool:
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise ValueError(f"expected 1 or 0, got {value!r}")
