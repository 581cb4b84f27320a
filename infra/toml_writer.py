"""Minimal TOML 1.0 serialisation of keys and values (stdlib ``tomllib`` only reads)."""

from __future__ import annotations

import re
from typing import Any

_BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_string(text: str) -> str:
    """Return ``text`` as a TOML basic string (double quotes, escapes as TOML requires).

    Non-ASCII is kept as is (the file is UTF-8); control characters use escapes. Raises
    ValueError for a lone surrogate, which UTF-8 cannot hold.
    """
    out = ['"']
    for ch in text:
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            raise ValueError(f"string holds a lone surrogate U+{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def toml_key(key: str) -> str:
    """Return ``key`` bare if TOML allows it, quoted otherwise; raises ValueError if empty."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"invalid TOML key: {key!r}")
    return key if _BARE_KEY_RE.match(key) else toml_string(key)


def toml_value(value: Any) -> str:
    """Return a str, int, bool, list or dict as an inline TOML value.

    Raises TypeError for any other type (floats and dates are not needed here).
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items())
        return "{" + (f" {items} " if items else "") + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
