"""The edge node's config bundle: one TOML file the Pi boots with.

The bundle holds the node's broker password, so it is written with mode 0600. It is read
strictly: an unknown or missing key, or a value of the wrong type, is a ValueError naming
the key, so a bad bundle fails loudly at boot.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
import os
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol.topics import NODE_ID_RE
from provisioning.files import write_private_file
from provisioning.toml_writer import toml_key, toml_value

log = logging.getLogger(__name__)

POLI_KEYS = ("code", "name", "prefix")
ED25519_PUBLIC_KEY_BYTES = 32


@dataclass
class EdgeBundle:
    """Everything an edge node needs from provisioning; validated on construction."""

    node_id: str  # broker username and topic segment, e.g. "pkm-cibinong"
    puskesmas_code: str  # the puskesmas this node serves (QR passes must name it)
    puskesmas_name: str
    puskesmas_address: str
    mqtt_host: str
    mqtt_port: int
    mqtt_username: str  # always equal to node_id
    mqtt_password: str = field(repr=False)  # never in logs
    qr_public_keys: dict[str, str]  # key id -> base64 raw 32-byte Ed25519 public key
    polis: list[dict[str, str]]  # each {"code", "name", "prefix"}
    lokets: int  # number of registration counters
    printer_uri: str = "none"
    scanner_uri: str = "none"
    audio_uri: str = "none"
    http_host: str = "127.0.0.1"
    http_port: int = 8081
    data_dir: str = "var/edge"  # relative to the working directory

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field; raises ValueError naming the first bad key."""
        for f in _FIELDS:
            _check_type(f.name, getattr(self, f.name), _TYPES[f.name])
        if not NODE_ID_RE.match(self.node_id):
            raise ValueError(f"node_id: invalid node id {self.node_id!r}")
        if self.mqtt_username != self.node_id:
            raise ValueError(f"mqtt_username: must equal node_id {self.node_id!r}")
        for name in ("puskesmas_code", "mqtt_host", "mqtt_password", "http_host", "data_dir"):
            if not getattr(self, name):
                raise ValueError(f"{name}: must not be empty")
        for name in ("mqtt_port", "http_port"):
            if not 1 <= getattr(self, name) <= 65535:
                raise ValueError(f"{name}: must be 1..65535")
        if self.lokets < 1:
            raise ValueError("lokets: must be at least 1")
        for kid, key in self.qr_public_keys.items():
            _check_public_key(kid, key)
        _check_polis(self.polis)


_FIELDS = dataclasses.fields(EdgeBundle)
_REQUIRED = [f.name for f in _FIELDS if f.default is dataclasses.MISSING]
_NOT_STR = {"mqtt_port": int, "http_port": int, "lokets": int, "qr_public_keys": dict, "polis": list}
_TYPES: dict[str, type] = {f.name: _NOT_STR.get(f.name, str) for f in _FIELDS}


def new_password() -> str:
    """A random broker password: 32 URL-safe characters (192 bits)."""
    return secrets.token_urlsafe(24)


def write_bundle(path: str | os.PathLike[str], bundle: EdgeBundle, owner: str | None = None) -> Path:
    """Write ``bundle`` as TOML, atomically, mode 0600, and return the path.

    Raises ValueError if the bundle is invalid; OSError or PermissionError as
    ``files.write_private_file`` (``owner`` needs root).
    """
    bundle.validate()
    lines = [
        f"# Rosma edge bundle for node {bundle.node_id}. Holds the broker password: keep it 0600.",
        "",
    ]
    tables: list[str] = []
    for f in _FIELDS:
        value = getattr(bundle, f.name)
        if f.name == "qr_public_keys":
            tables += ["", "[qr_public_keys]"]
            tables += [f"{toml_key(kid)} = {toml_value(key)}" for kid, key in value.items()]
        elif f.name == "polis" and value:
            for poli in value:
                tables += ["", "[[polis]]"] + [f"{k} = {toml_value(poli[k])}" for k in POLI_KEYS]
        else:
            lines.append(f"{f.name} = {toml_value(value)}")
    written = write_private_file(path, "\n".join(lines + tables) + "\n", owner=owner)
    log.info("wrote edge bundle for node %s to %s", bundle.node_id, written)
    return written


def read_bundle(path: str | os.PathLike[str]) -> EdgeBundle:
    """Read and validate a bundle written by ``write_bundle``.

    Raises OSError if unreadable; ValueError for invalid TOML or UTF-8, an unknown or
    missing key, or a bad value (the message names the key). Logs a warning if the file is
    readable by group or others.
    """
    target = Path(path)
    raw = target.read_bytes()
    mode = target.stat().st_mode
    if mode & 0o077:
        log.warning("edge bundle %s has mode %o; it holds a password, use 0600", target, mode & 0o777)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{target}: not a valid TOML bundle: {exc}") from exc
    known = {f.name for f in _FIELDS}
    for key in data:
        if key not in known:
            raise ValueError(f"{target}: unknown key {key!r}")
    for key in _REQUIRED:
        if key not in data:
            raise ValueError(f"{target}: missing key {key!r}")
    try:
        return EdgeBundle(**data)
    except ValueError as exc:
        raise ValueError(f"{target}: {exc}") from exc


def _check_type(name: str, value: Any, expected: type) -> None:
    # bool is an int subclass; TOML true/false must not pass as a port or a count.
    if isinstance(value, bool) or not isinstance(value, expected):
        raise ValueError(f"{name}: expected {expected.__name__}, got {type(value).__name__}")


def _check_public_key(kid: Any, key: Any) -> None:
    if not isinstance(kid, str) or not kid:
        raise ValueError(f"qr_public_keys: invalid key id {kid!r}")
    where = f"qr_public_keys.{kid}"
    _check_type(where, key, str)
    try:
        raw = base64.b64decode(key, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"{where}: not base64") from exc
    if len(raw) != ED25519_PUBLIC_KEY_BYTES:
        raise ValueError(f"{where}: expected a raw 32-byte Ed25519 public key, got {len(raw)} bytes")


def _check_polis(polis: list[Any]) -> None:
    seen: dict[str, set[str]] = {"code": set(), "prefix": set()}
    for i, poli in enumerate(polis):
        where = f"polis[{i}]"
        _check_type(where, poli, dict)
        for key in poli:
            if key not in POLI_KEYS:
                raise ValueError(f"{where}: unknown key {key!r}")
        for key in POLI_KEYS:
            if key not in poli:
                raise ValueError(f"{where}: missing key {key!r}")
            _check_type(f"{where}.{key}", poli[key], str)
            if not poli[key]:
                raise ValueError(f"{where}.{key}: must not be empty")
        for key, values in seen.items():
            if poli[key] in values:
                raise ValueError(f"{where}.{key}: duplicate {poli[key]!r}")
            values.add(poli[key])
