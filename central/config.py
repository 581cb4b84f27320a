"""Central's typed configuration, read from a TOML file and validated at start-up."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path


def _f(default, doc: str):
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class CentralConfig:
    database_url: str = _f("sqlite:///var/central/central.db", "sqlite:///path (embedded) or postgresql://user@host/db")
    secret_key: str = _f("", "Flask session and API token signing secret; must be set, 32+ characters")
    http_host: str = _f("127.0.0.1", "address the patient site listens on")
    http_port: int = _f(8080, "port the patient site listens on")
    mqtt_host: str = _f("127.0.0.1", "MQTT broker host")
    mqtt_port: int = _f(1883, "MQTT broker port")
    mqtt_username: str = _f("central", "broker username of the central sync worker")
    mqtt_password: str = _f("", "broker password of the central sync worker")
    booking_days: int = _f(7, "how many days ahead patients may reserve")
    seed: bool = _f(False, "load the Kabupaten Bogor seed puskesmas on start if the database is empty")
    embedded_sync: bool = _f(False, "run the MQTT sync worker inside the web process (embedded default)")
    log_level: str = _f("INFO", "logging level")
    clock_start: str = _f("", "training/demo only: ISO datetime the clock starts at; empty = system clock")

    def __post_init__(self):
        if len(self.secret_key) < 32:
            raise ValueError("config field secret_key: must be at least 32 characters")
        for name in ("http_port", "mqtt_port"):
            if not 0 < getattr(self, name) < 65536:
                raise ValueError(f"config field {name}: must be a TCP port")
        if self.booking_days < 1:
            raise ValueError("config field booking_days: must be at least 1")


def load(path: str | Path, **overrides) -> CentralConfig:
    """Read ``path``; unknown keys or wrong types raise ValueError naming the field."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    data.update(overrides)
    return from_dict(data)


def from_dict(data: dict) -> CentralConfig:
    """Build a config from a dict, checking field names and types."""
    fields = {f.name: f for f in dataclasses.fields(CentralConfig)}
    for key, value in data.items():
        if key not in fields:
            raise ValueError(f"config field {key}: unknown field")
        want = type(fields[key].default)
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise ValueError(f"config field {key}: expected {want.__name__}")
    return CentralConfig(**data)
