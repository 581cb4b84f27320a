"""The edge node's typed configuration: the provisioning bundle plus local settings.

Read from one TOML file (``rosma provision`` writes it). Every field has a default and a
description; unknown keys and wrong types fail at start-up with the field's name.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from protocol import topics


def _f(default, doc: str):
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata={"doc": doc})
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class EdgeConfig:
    node_id: str = _f("", "this node's id, also its broker username")
    puskesmas_code: str = _f("", "code of the puskesmas this node serves (QR passes must name it)")
    puskesmas_name: str = _f("", "name printed on tickets and shown on screens")
    puskesmas_address: str = _f("", "address printed on tickets")
    mqtt_host: str = _f("127.0.0.1", "MQTT broker host")
    mqtt_port: int = _f(1883, "MQTT broker port")
    mqtt_username: str = _f("", "broker username (the node id)")
    mqtt_password: str = _f("", "broker password")
    qr_public_keys: dict = _f({}, "trusted QR signing keys: key id -> base64 Ed25519 public key")
    polis: list = _f([], "polis: list of {code, name, prefix}")
    lokets: int = _f(2, "number of registration counters (loket)")
    printer_uri: str = _f("none", "ticket printer: usb://VID:PID, serial://, tcp://host:9100, file:///path or none")
    printer_profile: str = _f("TM-T20II", "python-escpos printer profile")
    scanner_uri: str = _f("none", "QR scanner: serial:///dev/ttyACM0, evdev:///dev/input/by-id/... or none")
    audio_uri: str = _f("none", "announcements: alsa:default, wavdir:///path or none")
    http_host: str = _f("127.0.0.1", "address the kiosk/staff/TV pages listen on")
    http_port: int = _f(8081, "port the kiosk/staff/TV pages listen on")
    data_dir: str = _f("var/edge", "directory for the database and voice clips")
    clock_start: str = _f("", "training/testing only: ISO datetime the clock starts at; empty = system clock")
    log_level: str = _f("INFO", "logging level")

    def __post_init__(self):
        if not topics.NODE_ID_RE.match(self.node_id):
            raise ValueError("config field node_id: must match [a-z0-9][a-z0-9-]{1,62}")
        if not self.puskesmas_code:
            raise ValueError("config field puskesmas_code: required")
        if not self.polis:
            raise ValueError("config field polis: at least one poli is required")
        for p in self.polis:
            if not isinstance(p, dict) or not {"code", "name", "prefix"} <= set(p):
                raise ValueError("config field polis: each poli needs code, name and prefix")
            if p["prefix"] in ("A", "B"):
                raise ValueError("config field polis: prefixes A and B are for registration")
        if not 1 <= self.lokets <= 20:
            raise ValueError("config field lokets: must be 1..20")
        for name in ("http_port", "mqtt_port"):
            if not 0 < getattr(self, name) < 65536:
                raise ValueError(f"config field {name}: must be a TCP port")

    def poli(self, code: str) -> dict | None:
        return next((p for p in self.polis if p["code"] == code), None)

    @property
    def db_path(self) -> Path:
        return Path(self.data_dir) / "edge.db"

    @property
    def clips_dir(self) -> Path:
        return Path(self.data_dir) / "clips"


def load(path: str | Path) -> EdgeConfig:
    """Read the config file; raises ValueError naming a bad field, OSError if unreadable."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    return from_dict(data)


def from_dict(data: dict) -> EdgeConfig:
    fields = {f.name: f for f in dataclasses.fields(EdgeConfig)}
    for key, value in data.items():
        if key not in fields:
            raise ValueError(f"config field {key}: unknown field")
        f = fields[key]
        want = type(f.default) if f.default is not dataclasses.MISSING else type(f.default_factory())
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise ValueError(f"config field {key}: expected {want.__name__}")
    return EdgeConfig(**data)
