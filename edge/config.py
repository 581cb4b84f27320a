"""The edge node's typed configuration: what provisioning hands the node plus local settings.

One TOML file (``rosma provision`` writes it with ``infra.config.write``; the edge reads it with
``load``), one schema, every rule here. The broker password may come from a systemd credential
named ``mqtt_password`` instead of the file.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import Path

from bpjs import config_file
from infra import config as typed
from infra.config import ConfigError, clock_start, log_level, mqtt_tls, optional_file, public_url, setting
from protocol import qrpass, topics

POLI_KEYS = ("code", "name", "prefix")
POLI_CODE_RE = re.compile(r"^[A-Z0-9_]{1,16}\Z")
# Ticket labels are prefix + digits and the announcer spells the prefix letter by letter, so a
# prefix is one or two capital letters; A and B are the registration queues' own.
PREFIX_RE = re.compile(r"^[A-Z]{1,2}\Z")
REGISTRATION_PREFIXES = ("A", "B")
MAX_LOKETS = 20
MAX_ROOM_NAME = 40
LOG_LEVELS = (
    "DEBUG",
    "INFO",
    "WARNING",
    "ERROR",
    "CRITICAL",
)  # a poli name is announced and shown as the destination (40 characters stored)


def bpjs_file(v: str) -> str | None:
    """Rule: empty, or a 0600 BPJS credentials file that parses (``bpjs.config_file``)."""
    if not v:
        return None
    try:
        config_file.parse(v)
    except config_file.CredentialsError as exc:
        return str(exc)
    return None


def _node_id(v: str) -> str | None:
    return None if topics.NODE_ID_RE.match(v) else "must match [a-z0-9][a-z0-9-]{1,62}"


def _required(v: str) -> str | None:
    return None if v.strip() else "required"


def _port(v: int) -> str | None:
    return None if 0 < v < 65536 else "must be a TCP port (1-65535)"


def _lokets(v: int) -> str | None:
    return None if 1 <= v <= MAX_LOKETS else f"must be 1..{MAX_LOKETS}"


def _keys(v: dict) -> str | None:
    if not v:
        return "at least one key is required (without one no reservation QR can be checked in)"
    for kid, b64 in v.items():
        if not isinstance(b64, str):
            return f"{kid}: expected a base64 string"
        try:
            raw = base64.b64decode(b64, validate=True)
        except binascii.Error:
            return f"{kid}: not base64"
        if len(raw) != 32:
            return f"{kid}: expected a raw 32-byte Ed25519 public key, got {len(raw)} bytes"
        if qrpass.key_id(raw) != kid:
            return f"{kid}: the key id does not match its key"
    return None


def check_polis(polis: list) -> str | None:
    """The one set of poli rules (provisioning and the edge use this): an error text or None."""
    if not polis:
        return "at least one poli is required"
    seen: dict[str, set] = {"code": set(), "prefix": set()}
    for i, p in enumerate(polis):
        where = f"polis[{i}]"
        if not isinstance(p, dict):
            return f"{where}: expected a table with code, name and prefix"
        unknown = set(p) - set(POLI_KEYS)
        if unknown:
            return f"{where}: unknown key {sorted(unknown)[0]!r}"
        for key in POLI_KEYS:
            if not isinstance(p.get(key), str):
                return f"{where}.{key}: required (a string)"
        if not POLI_CODE_RE.match(p["code"]):
            return f"{where}.code: 1-16 capital letters, digits or _"
        name = p["name"].strip()
        if not name or len(name) > MAX_ROOM_NAME or not re.search(r"[^\W\d_]", name):
            return f"{where}.name: 1-{MAX_ROOM_NAME} characters with letters (it is announced)"
        if not PREFIX_RE.match(p["prefix"]):
            return f"{where}.prefix: one or two capital letters, e.g. U or KB"
        if p["prefix"] in REGISTRATION_PREFIXES:
            return f"{where}.prefix: A and B are the registration queues' prefixes"
        for key, values in seen.items():
            if p[key] in values:
                return f"{where}.{key}: duplicate {p[key]!r}"
            values.add(p[key])
    return None


@dataclass(frozen=True)
class EdgeConfig:
    node_id: str = setting("", "this node's id, also its broker username", check=_node_id)
    puskesmas_code: str = setting("", "the puskesmas this node serves (QR passes must name it)", check=_required)
    # name, address, poli and loket count as provisioning set them: they stand until central's back
    # office sends its own through the change feed (edge.models.Site, Poli; QueueService.site/polis)
    puskesmas_name: str = setting("", "name printed on tickets and shown on screens")
    puskesmas_address: str = setting("", "address printed on tickets")
    central_public_url: str = setting(
        "",
        "central's address as patients' phones reach it (central's public_url, handed over by rosma provision): each "
        "ticket prints a QR of <central_public_url>/t/<token>; empty = tickets without the link",
        check=public_url,
    )
    mqtt_host: str = setting("127.0.0.1", "MQTT broker host", check=_required)
    mqtt_port: int = setting(1883, "MQTT broker port", check=_port)
    mqtt_username: str = setting("", "broker username (empty: the node id)")
    mqtt_password: str = setting("", "broker password (or the systemd credential mqtt_password)", secret=True)
    mqtt_ca: str = setting(
        "",
        "CA certificate the broker's TLS certificate must chain to; empty = no TLS (loopback only)",
        check=optional_file,
    )
    mqtt_cert: str = setting(
        "", "client certificate, when the broker identifies nodes by certificate", check=optional_file
    )
    mqtt_key: str = setting("", "private key of mqtt_cert (0600); empty if mqtt_cert holds it", check=optional_file)
    mqtt_protocol: int = setting(
        5,
        "MQTT protocol level: 5 (MQTT 5), or 4 (MQTT 3.1.1) for a broker without MQTT 5, such as Debian 12's RabbitMQ",
        check=lambda v: None if v in (4, 5) else "must be 5 or 4",
    )
    qr_public_keys: dict = setting({}, "trusted QR signing keys: key id -> base64 Ed25519 public key", check=_keys)
    polis: list = setting([], "polis: a table each with code, name and prefix", check=check_polis)
    lokets: int = setting(2, "number of registration counters (loket)", check=_lokets)
    printer_uri: str = setting(
        "none", "ticket printer: usb://VID:PID, serial://, tcp://host:9100, file:///path or none"
    )
    printer_profile: str = setting("TM-T20II", "python-escpos printer profile")
    scanner_uri: str = setting("none", "QR scanner: serial:///dev/ttyACM0, evdev:///dev/input/by-id/... or none")
    audio_uri: str = setting("none", "announcements: alsa:default, wavdir:///path or none")
    http_host: str = setting("127.0.0.1", "address the kiosk/staff/TV pages listen on", check=_required)
    http_port: int = setting(8081, "port the kiosk/staff/TV pages listen on", check=_port)
    data_dir: str = setting("var/edge", "directory for the database, its backups and voice clips", check=_required)
    kiosk_on_this_device: bool = setting(
        True, "the touchscreen browser on this node itself (127.0.0.1) is a kiosk; others must be paired by staff"
    )
    clock_start: str = setting(
        "", "training/testing only: ISO datetime the clock starts at; empty = system clock", check=clock_start
    )
    log_level: str = setting("INFO", "logging level", check=log_level)
    bpjs_credentials: str = setting(
        "",
        "this puskesmas's BPJS credentials (TOML, 0600, a table named after puskesmas_code), for the kiosk's "
        "membership check; empty = the loket checks BPJS membership",
        check=bpjs_file,
    )

    def validate(self) -> None:
        if self.mqtt_username and self.mqtt_username != self.node_id:
            raise ConfigError("config field mqtt_username: must be empty or equal node_id")
        problem = mqtt_tls(self)
        if problem:
            raise ConfigError(problem)
        if self.bpjs_credentials and self.puskesmas_code not in config_file.parse(self.bpjs_credentials):
            raise ConfigError(
                f"config field bpjs_credentials: the file has no table [{self.puskesmas_code}] for this puskesmas"
            )

    def poli(self, code: str) -> dict | None:
        """A poli of the config (provisioning's list; the node uses ``QueueService.poli``)."""
        return next((p for p in self.polis if p["code"] == code), None)

    @property
    def broker_username(self) -> str:
        return self.mqtt_username or self.node_id

    @property
    def db_path(self) -> Path:
        return Path(self.data_dir) / "edge.db"

    @property
    def clips_dir(self) -> Path:
        return Path(self.data_dir) / "clips"


def load(path: str | Path) -> EdgeConfig:
    """Read the config file; raises ConfigError naming a bad field, OSError if unreadable."""
    return typed.load(EdgeConfig, path)


def from_dict(data: dict) -> EdgeConfig:
    """Build a config from a dict (tests, provisioning); raises ConfigError."""
    return typed.from_dict(EdgeConfig, data)


def write(path: str | Path, cfg: EdgeConfig, omit: tuple[str, ...] = ()) -> Path:
    """Write the config (0600: it holds the broker password unless ``omit`` leaves it out)."""
    return typed.write(path, cfg, header=f"Rosma edge config for node {cfg.node_id} (keep it 0600)", omit=omit)
