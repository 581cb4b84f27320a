"""Typed config files: one frozen dataclass per file, read strictly, written by one writer.

Each field is declared with ``setting(default, doc, ...)``: a default, a one-line description,
and optionally a rule (a function returning an error text or None) and ``secret=True``. The
dataclass's ``validate()`` (called after construction) holds rules that involve several fields.
Every error is a ``ConfigError`` naming the field, so a bad file fails loudly at start-up.

Secrets may come from systemd credentials instead of the file: when the process runs with
``$CREDENTIALS_DIRECTORY`` (``LoadCredential=<field>:<path>`` in the unit) and a credential named
like a secret field exists there, its content is that field's value.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import logging
import os
import tomllib
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from infra.files import keep_private, write_private_file
from infra.toml_writer import toml_key, toml_value

CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A config file is unreadable or a field is wrong; ``str(e)`` names the field."""


def setting(default: Any, doc: str, *, check: Callable[[Any], str | None] | None = None, secret: bool = False):
    """A config field with its default, description, optional rule and secrecy."""
    meta = {"doc": doc, "check": check, "secret": secret}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta, repr=not secret)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def clock_start(v: str) -> str | None:
    """Rule: an ISO datetime with its zone, or empty (the system clock)."""
    if not v:
        return None
    try:
        moment = dt.datetime.fromisoformat(v)
    except ValueError:
        return "an ISO datetime such as 2026-11-26T07:30:00+07:00, or empty"
    return None if moment.tzinfo else "must carry its zone, e.g. +07:00"


def optional_file(v: str) -> str | None:
    """Rule: empty, or a file that exists and this process can read (a CA or certificate)."""
    if not v:
        return None
    if not os.path.isfile(v):
        return f"no such file: {v}"
    if not os.access(v, os.R_OK):
        return f"cannot read {v}"
    return None


def mqtt_tls(cfg) -> str | None:
    """The rule the MQTT TLS fields share: a client certificate needs the CA, its key a certificate."""
    if cfg.mqtt_cert and not cfg.mqtt_ca:
        return "config field mqtt_cert: needs mqtt_ca (the broker must be verified too)"
    if cfg.mqtt_key and not cfg.mqtt_cert:
        return "config field mqtt_key: needs mqtt_cert"
    return None


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def public_url(v: str) -> str | None:
    """Rule: empty, or the http(s) address of a site as phones reach it (scheme and host, an
    optional port and path prefix; no user, query or fragment)."""
    if not v:
        return None
    try:
        parts = urlsplit(v)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.query
        or parts.fragment
        or v != v.strip()
        or any(ch.isspace() for ch in v)
    ):
        return "an http(s) address such as https://antrean.bogorkab.go.id, or empty"
    return None


def loopback_url(v: str) -> bool:
    """True when the address names this machine only (127.0.0.1, ::1, localhost): a phone cannot reach it."""
    host = urlsplit(v).hostname or ""
    return is_loopback(host) or host.endswith(".localhost")


def warn_if_cleartext(host: str, ca: str) -> None:
    """Log a warning when broker traffic would leave this machine unencrypted (a config from
    release 0.1.0 still works, but should get ``mqtt_ca``)."""
    if not ca and not is_loopback(host):
        log.warning(
            "MQTT to %s is NOT encrypted: set mqtt_ca (and use the broker's TLS port, 8883); see docs/security.md",
            host,
        )


def log_level(v: str) -> str | None:
    """Rule: a logging level name."""
    return None if v in LOG_LEVELS else f"one of {', '.join(LOG_LEVELS)}"


def fields(cls) -> list[dataclasses.Field]:
    return list(dataclasses.fields(cls))


def _type_of(cls, f: dataclasses.Field) -> type:
    hint = typing.get_type_hints(cls)[f.name]
    origin = typing.get_origin(hint) or hint
    if isinstance(hint, types.UnionType):
        raise TypeError(f"{cls.__name__}.{f.name}: config fields have one type")
    return origin


def from_dict(cls, data: dict, credentials_dir: str | None = None):
    """Build ``cls`` from a dict: unknown keys, wrong types and broken rules raise ConfigError."""
    known = {f.name: f for f in fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(f"config field {key}: unknown field")
    values = dict(data)
    creds = credentials_dir if credentials_dir is not None else os.environ.get(CREDENTIALS_ENV, "")
    for f in known.values():
        if f.metadata.get("secret") and creds:
            path = Path(creds) / f.name
            if path.is_file():
                values[f.name] = path.read_text(encoding="utf-8").rstrip("\r\n")
    for key, value in values.items():
        want = _type_of(cls, known[key])
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise ConfigError(f"config field {key}: expected {want.__name__}, got {type(value).__name__}")
    cfg = cls(**values)
    for f in known.values():  # defaults too: a required field left out is an error
        check = f.metadata.get("check")
        problem = check(getattr(cfg, f.name)) if check else None
        if problem:
            raise ConfigError(f"config field {f.name}: {problem}")
    validate = getattr(cfg, "validate", None)
    if validate is not None:
        validate()
    return cfg


def load(cls, path: str | os.PathLike[str], **overrides):
    """Read a TOML file into ``cls`` (``overrides`` win over the file); raises ConfigError or OSError.

    The file may hold passwords: one readable by others is made 0600 (see ``keep_private``)."""
    keep_private(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    data.update(overrides)
    return from_dict(cls, data)


def write(path: str | os.PathLike[str], cfg, header: str = "", omit: tuple[str, ...] = ()) -> Path:
    """Write ``cfg`` as TOML (mode 0600: configs hold passwords), atomically, with each field's
    description as a comment; fields in ``omit`` are left out (e.g. secrets kept as credentials)."""
    lines = [f"# {line}" for line in header.splitlines()] + ([""] if header else [])
    tables: list[str] = []
    for f in fields(type(cfg)):
        if f.name in omit:
            continue
        value = getattr(cfg, f.name)
        doc = f"# {f.metadata.get('doc', '')}"
        if isinstance(value, dict):
            tables += ["", doc, f"[{toml_key(f.name)}]"]
            tables += [f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables += ["", doc]
            for item in value:
                tables += [f"[[{toml_key(f.name)}]]", *(f"{toml_key(k)} = {toml_value(v)}" for k, v in item.items())]
        else:
            lines += [doc, f"{toml_key(f.name)} = {toml_value(value)}"]
    return write_private_file(path, "\n".join(lines + tables) + "\n")


def reference(cls) -> str:
    """A Markdown table of every field: name, type, default, description (for the docs)."""
    rows = ["| field | type | default | what |", "|---|---|---|---|"]
    for f in fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        shown = "(secret)" if f.metadata.get("secret") else toml_value(default)
        rows.append(f"| `{f.name}` | {_type_of(cls, f).__name__} | `{shown}` | {f.metadata.get('doc', '')} |")
    return "\n".join(rows)
