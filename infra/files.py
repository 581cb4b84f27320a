"""Atomic writes of secret files (mode 0600) with a chosen or preserved owner."""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def lookup_owner(user: str) -> tuple[int, int]:
    """Return (uid, primary gid) of a system user; raises KeyError if there is none."""
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def write_private_file(path: str | os.PathLike[str], text: str, owner: str | None = None) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically with mode 0600 and return the path.

    The file is written to a temporary file in the same directory and renamed over the old
    one, so a reader (Mosquitto reloading on SIGHUP) never sees half a file. Ownership:
    ``owner`` (a user name; its primary group) if given, otherwise the owner of the file
    being replaced, otherwise the current user. Changing the owner needs root.

    May fail: OSError (directory missing, not writable), PermissionError (chown without
    root), KeyError (unknown ``owner``), UnicodeEncodeError (text is not encodable).
    """
    target = Path(path)
    data = text.encode("utf-8")
    if owner is not None:
        ids: tuple[int, int] | None = lookup_owner(owner)
    else:
        try:
            st = target.stat()
            ids = (st.st_uid, st.st_gid)
        except FileNotFoundError:
            ids = None
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)
            if ids is not None and ids != (os.geteuid(), os.getegid()):
                os.fchown(fh.fileno(), *ids)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    log.debug("wrote %s (%d bytes)", target, len(data))
    return target


def keep_private(path: str | os.PathLike[str]) -> None:
    """Make an existing file owner-only (0600) if it is readable by others, with a warning (a
    release before 0.2 left databases and configs 0644). A file we may not chmod only warns."""
    target = Path(path)
    try:
        mode = target.stat().st_mode & 0o777
    except FileNotFoundError:
        return
    if mode & 0o077 == 0:
        return
    try:
        os.chmod(target, 0o600)
        log.warning("%s was readable by others (mode %o); now 0600", target, mode)
    except PermissionError:
        log.warning("%s is readable by others (mode %o) and cannot be changed here; chmod 600 it", target, mode)
