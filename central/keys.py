"""Central's QR signing keys. The private part lives in its own file (``<keys_dir>/qr-<kid>.key``,
0600), never in the database and never sent anywhere; the database lists the keys (id, public part,
which one signs, until when edges trust a retired one) and the change feed tells the edges.

Rotation (``rosma keys rotate``): a new key signs from now on; the old one stays trusted until
the last pass it signed has expired (the booking window plus a day), then edges drop it.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import os
import threading
import time
from pathlib import Path

from central import feed
from central.models import Puskesmas, SigningKeyRow, database, utcnow
from infra.files import keep_private, write_private_file
from protocol.qrpass import SigningKey

log = logging.getLogger(__name__)

_DIR: list[Path] = []  # bound like the database: by the runtime that owns the configuration

# The signing key, kept by each process once loaded (reading and decoding it was a tenth of a
# booking's time). It is looked up again when the keys directory changes (a rotation writes the
# new key's file), when another database is bound, and at least every CACHE_S: a rotation by
# another process (``rosma keys rotate``) is seen within that. Signing with the previous key
# meanwhile is harmless: edges trust it for days after a rotation.
CACHE_S = 30.0
_cache: dict = {"stamp": None, "key": None, "at": 0.0}
_cache_lock = threading.Lock()


def bind(directory: str | os.PathLike[str]) -> None:
    """Where the private keys are (the runtime calls this from ``keys_dir``); moves any private key
    still kept in the database (release 0.1.0 kept it there) into its file."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o700)
    for existing in path.glob("qr-*.key"):
        keep_private(existing)
    _DIR[:] = [path]
    forget()
    for row in SigningKeyRow.select().where(SigningKeyRow.private_b64 != ""):
        target = _file(row.kid)
        if not target.exists():
            write_private_file(target, row.private_b64 + "\n")
        SigningKeyRow.update(private_b64="").where(SigningKeyRow.id == row.id).execute()
        log.warning("QR signing key %s moved from the database to %s", row.kid, target)


def _file(kid: str) -> Path:
    if not _DIR:
        raise RuntimeError("the QR keys directory is not bound (central.keys.bind)")
    return _DIR[0] / f"qr-{kid}.key"


def _load(kid: str) -> SigningKey:
    try:
        raw = base64.b64decode(_file(kid).read_text().strip())
    except FileNotFoundError:
        raise RuntimeError(f"the private part of QR key {kid} is missing from {_file(kid).parent}") from None
    return SigningKey.from_private(raw)


def _create() -> SigningKey:
    key = SigningKey.generate()
    write_private_file(_file(key.kid), base64.b64encode(key.private).decode() + "\n")
    SigningKeyRow.create(kid=key.kid, private_b64="", public_b64=key.public_b64(), active=True, signs=True)
    return key


def active_key() -> SigningKey:
    """The key that signs new passes; made on first use."""
    stamp = (database.obj, _dir_stamp())  # the database object itself, not its id: ids are reused
    with _cache_lock:
        if (
            _cache["stamp"] is not None
            and _cache["stamp"][0] is stamp[0]
            and _cache["stamp"][1] == stamp[1]
            and _cache["key"] is not None
            and time.monotonic() - _cache["at"] < CACHE_S
        ):
            return _cache["key"]
    row = SigningKeyRow.select().where(SigningKeyRow.signs).order_by(SigningKeyRow.id.desc()).first()
    if row is None:  # not cached: the transaction it was made in may yet roll back
        with database.atomic():
            return _create()
    with _cache_lock:
        cached = _cache["key"]
    key = cached if cached is not None and cached.kid == row.kid else _load(row.kid)
    with _cache_lock:
        _cache.update(stamp=stamp, key=key, at=time.monotonic())
    return key


def forget() -> None:
    """Drop the cached signing key (after a rotation, or another directory bound)."""
    with _cache_lock:
        _cache.update(stamp=None, key=None, at=0.0)


def _dir_stamp() -> int | None:
    try:
        return _DIR[0].stat().st_mtime_ns if _DIR else None
    except OSError:
        return None


def trusted() -> list[SigningKeyRow]:
    """Every key edges should accept now."""
    now = utcnow()
    return list(
        SigningKeyRow.select().where(
            SigningKeyRow.active & (SigningKeyRow.trusted_until.is_null() | (SigningKeyRow.trusted_until > now))
        )
    )


def public_keys() -> dict[str, str]:
    """Every key id edges should trust, as kid -> base64 raw public key."""
    active_key()
    return {r.kid: r.public_b64 for r in trusted()}


def rotate(booking_days: int) -> tuple[str, str]:
    """A new key signs from now; the old one is trusted until its passes expire. Returns (old, new) kids."""
    with database.atomic():
        old = SigningKeyRow.select().where(SigningKeyRow.signs).order_by(SigningKeyRow.id.desc()).first()
        if old is None:
            active_key()
            old = SigningKeyRow.select().where(SigningKeyRow.signs).first()
        new = _create()
        until = utcnow() + dt.timedelta(days=booking_days + 2)
        SigningKeyRow.update(signs=False, trusted_until=until).where(SigningKeyRow.id == old.id).execute()
        for place in Puskesmas.select():
            for row in SigningKeyRow.select().where(SigningKeyRow.kid.in_([old.kid, new.kid])):
                feed.append(place.id, feed.key_change(row))
    forget()
    log.warning("QR signing key rotated: %s signs from now, %s is trusted until %s", new.kid, old.kid, until)
    return old.kid, new.kid
