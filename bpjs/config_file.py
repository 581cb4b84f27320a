"""A file of BPJS credentials: TOML, one table per puskesmas code, readable by its owner only.

Central holds one with every puskesmas it reports for (``central.bpjs_credentials``); an edge may
hold one with its own puskesmas's table, to check a kiosk patient's membership itself.
The keys of a table are those of ``bpjs.config.BpjsConfig.from_dict``. Nothing here shows a value
from the file in a message.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

from bpjs.config import BpjsConfig


class CredentialsError(ValueError):
    """The credentials file is unsafe or broken; ``str(e)`` says which and what to do (no secrets)."""


def read_secret_toml(path: str | os.PathLike[str], holds: str, error: type[Exception]) -> dict:
    """A TOML file of secrets (it ``holds`` them, as the message says), refused with ``error``
    when it is missing, not a file, readable by group or others, or not valid TOML; no message
    shows a value."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        raise error(f"no such file: {p}") from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{p} is not a file")
    if st.st_mode & 0o077:
        raise error(
            f"{p} can be read by group or others (mode {stat.S_IMODE(st.st_mode):04o}); it holds {holds}: chmod 600 {p}"
        )
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError:
        raise error(f"cannot read {p}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        # the decoder's message names a line and column, never the values
        raise error(f"{p} is not valid TOML: {str(exc).splitlines()[0]}") from None


def parse(path: str | os.PathLike[str]) -> dict[str, BpjsConfig]:
    """Read and check the file: {puskesmas code: BpjsConfig}. Raises CredentialsError."""
    p = Path(path)
    data = read_secret_toml(p, "BPJS secrets", CredentialsError)
    out: dict[str, BpjsConfig] = {}
    for code, table in data.items():
        if not isinstance(table, dict):
            raise CredentialsError(f"{p}: {code!r} must be a table [{code}] of BPJS settings")
        try:
            out[code] = BpjsConfig.from_dict(table)
        except ValueError as exc:
            raise CredentialsError(f"{p} [{code}]: {exc}") from None
    return out
