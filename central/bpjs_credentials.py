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
import threading
from pathlib import Path

from bpjs import config_file
from bpjs.config import BpjsConfig

log = logging.getLogger(__name__)

_lock = threading.Lock()
_bound: list[Path] = []  # the file, bound by the runtime that owns the configuration
_cache: dict = {"stamp": None, "configs": {}}


CredentialsError = config_file.CredentialsError
read_secret_toml = config_file.read_secret_toml
parse = config_file.parse


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


def write_fake(path: str | os.PathLike[str], base_url: str, only: str = "") -> Path:
    """Write ``fake_credentials(base_url)`` to ``path``, mode 0600 (demos and tests); ``only``: just
    that puskesmas's table (an edge's own file)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    text = fake_credentials(base_url)
    if only:
        head, *tables = text.split("\n[")
        text = head + "".join("\n[" + t for t in tables if t.startswith(f"{only}]"))
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(p, 0o600)
    return p
