"""Each puskesmas's BPJS credentials, from the file the central config field ``bpjs_credentials`` names.

The file is TOML with one table per puskesmas code; its keys are those of
``bpjs.config.BpjsConfig.from_dict``::

    [cibinong]
    cons_id = "10001"
    secret = "..."
    pcare_user_key = "..."
    pcare_username = "pkm.cibinong"
    pcare_password = "..."
    ppk_code = "0403P001"

It holds secrets, so only its owner may read it (0600): a file group or others can read is
refused at start-up (``check``, the config field's rule), as is one that does not parse or has a
bad table. An empty setting means BPJS is not configured: ``for_puskesmas`` answers None and
every BPJS feature says so instead of failing. The file is read again when it changes, so an
operator can add a puskesmas without a restart. Nothing here logs a value from the file.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import tomllib
from pathlib import Path

from bpjs.config import BpjsConfig

log = logging.getLogger(__name__)

_lock = threading.Lock()
_bound: list[Path] = []  # the file, bound by the runtime that owns the configuration
_cache: dict = {"stamp": None, "configs": {}}


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


def check(value: str) -> str | None:
    """The config field's rule: empty (BPJS not configured), or a safe, valid credentials file."""
    if not value:
        return None
    try:
        parse(value)
    except CredentialsError as exc:
        return str(exc)
    return None


def bind(path: str | os.PathLike[str] | None) -> None:
    """Use ``path`` from now on (the runtime calls this with ``bpjs_credentials``); empty: not configured."""
    with _lock:
        _bound[:] = [Path(path)] if path else []
        _cache.update(stamp=None, configs={})


def configured() -> bool:
    """Whether a credentials file is bound at all."""
    return bool(_bound)


def for_puskesmas(code: str) -> BpjsConfig | None:
    """The BPJS settings of puskesmas ``code``; None when BPJS is not configured for it.

    A file that has become unreadable or broken since start-up is logged (without its content)
    and treated as not configured until it is fixed.
    """
    with _lock:
        if not _bound:
            return None
        path = _bound[0]
        try:
            st = path.stat()
            stamp = (st.st_mtime_ns, st.st_size, st.st_mode, st.st_ino)
        except OSError:
            stamp = None
        if stamp is None or stamp != _cache["stamp"]:
            try:
                configs = parse(path)
            except CredentialsError as exc:
                if _cache["stamp"] != ("broken", stamp):
                    log.error("BPJS credentials not usable: %s", exc)
                _cache.update(stamp=("broken", stamp), configs={})
                return None
            _cache.update(stamp=stamp, configs=configs)
        return _cache["configs"].get(code)


def fake_credentials(base_url: str) -> str:
    """TOML text for the demo puskesmas (cibinong, ciawi) reaching the fake BPJS at ``base_url``."""
    from bpjs.fixtures import CIAWI, CIBINONG

    lines = ["# BPJS credentials of the fake BPJS (rosma fake-bpjs): demo values, not real ones", ""]
    for code, consumer in (("cibinong", CIBINONG), ("ciawi", CIAWI)):
        cfg = consumer.config(base_url)
        lines.append(f"[{code}]")
        for key in (
            "cons_id",
            "secret",
            "pcare_user_key",
            "antrean_user_key",
            "pcare_username",
            "pcare_password",
            "app_code",
            "ppk_code",
            "pcare_url",
            "antrean_url",
        ):
            lines.append(f'{key} = "{getattr(cfg, key)}"')
        lines.append("")
    return "\n".join(lines)


def write_fake(path: str | os.PathLike[str], base_url: str) -> Path:
    """Write ``fake_credentials(base_url)`` to ``path``, mode 0600 (demos and tests)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(fake_credentials(base_url))
    os.chmod(p, 0o600)
    return p
