"""Mosquitto 2.0 broker files: password file, ACL, config, and reload.

Identity is the broker username: a node's username is its node id, and the listener sets
``use_username_as_clientid true`` so a client cannot borrow another node's client id. The
ACL lets a node write only ``rosma/v1/node/<its id>/up/#`` and read only its own
``down/#``; the central sync user reads and writes everything under ``rosma/v1/``.

Transport: ``write_broker_config(..., tls=TlsListener(...))`` makes the listener TLS (at
least TLS 1.2), with password logins or, with ``require_certificate``, client certificates
whose CN is the username (``use_identity_as_username``; the password file is then not
used). ``tls=None`` is the old plaintext listener, only for loopback tests. Certificates:
``provisioning.tls``.

File ownership: Mosquitto started as root drops to the ``user`` named in its config
(default ``mosquitto``) *before* it opens the log, password and ACL files, and it re-reads
the password and ACL files as that user on SIGHUP. So the files must be readable by the
user the broker ends up running as. Two setups work:

- A private broker (development, tests, CI): ``write_broker_config`` writes ``user <the
  user running this code>``. Mosquitto then never changes identity (as root it stays root
  and prints "should not be run as root"), and files written by this module with mode 0600
  are readable by it. Do not expose such a broker beyond loopback.
- The system broker (Debian's ``mosquitto.service``, root dropping to ``mosquitto``):
  write the files with ``owner="mosquitto"``; rewriting an existing file keeps its owner.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import pwd
import re
import signal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from infra.files import lookup_owner, write_private_file
from protocol import topics

log = logging.getLogger(__name__)

PBKDF2_ITERATIONS = 101  # mosquitto_passwd 2.0 default
SALT_BYTES = 12  # mosquitto_passwd 2.0 salt length; the broker accepts no other
CENTRAL_TOPIC_FILTER = "rosma/v1/#"
CONFIG_NAME = "mosquitto.conf"
PASSWD_NAME = "passwd"
ACL_NAME = "acl"
LOG_NAME = "mosquitto.log"
DATA_DIR_NAME = "data"
# Mosquitto 2.0.11 logs a publish its ACL denies only at debug level ("Denied PUBLISH from
# <client> (d0, q1, r0, m8, '<topic>', ... (13 bytes))"), for QoS 0 ones too, which the client
# never hears about. So: the default set (error, warning, notice, information) plus debug,
# the least that shows them. Not "subscribe": with an acl_file every SUBSCRIBE is granted
# (reads are filtered on delivery), so there is no denied SUBSCRIBE to log, and debug already
# logs each SUBSCRIBE's filters. Debug adds lines per packet (client id, topic, sizes, never a
# payload; Rosma topics hold no personal data), about 2 per client per keepalive (20 s) plus
# 2 to 4 per message: rotate the log (Debian's logrotate does).
LOG_TYPES = ("error", "warning", "notice", "information", "debug")

TLS_VERSIONS = ("tlsv1.2", "tlsv1.3")  # Mosquitto 2.0: tls_version is the minimum accepted
PLAINTEXT_WARNING = (
    "# !!! PLAINTEXT LISTENER (written with tls=None): passwords and all sync traffic cross the",
    "# !!! network unencrypted. Only for loopback tests; pass tls=TlsListener(...) for anything else.",
)
_LOOPBACK_BINDS = ("127.0.0.1", "::1", "localhost")

# Broker usernames end up in ACL patterns (%u) and in "user:hash" lines, so they must not
# contain MQTT wildcards, topic separators, colons, whitespace or control characters.
_USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HASH_RE = re.compile(r"^\$7\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$")


@dataclass(frozen=True)
class TlsListener:
    """What makes a listener a TLS listener (``write_broker_config(..., tls=...)``).

    - ``certfile``/``keyfile``: the broker's certificate (PEM, may hold the chain) and its
      unencrypted key. Mosquitto opens them after dropping privileges: the key must be
      readable by the broker's user (``provisioning.tls.make_server_cert(..., owner=...)``).
    - ``cafile``: the CA whose client certificates the listener trusts. Needed with
      ``require_certificate``; without it, may be None (a server certificate from a public CA
      and password logins only).
    - ``require_certificate``: False (default) = TLS with password logins: clients verify the
      broker, the broker checks username and password. True = every client must present a
      certificate signed by ``cafile`` and its CN is the username (``use_identity_as_username
      true``): the ACL applies to the CN and the password file is NOT used on this listener,
      so a node is then revoked by certificate (``crlfile``), not by removing its password.
    - ``crlfile``: optional PEM certificate revocation list of ``cafile`` (only with
      ``require_certificate``). Mosquitto then refuses every client certificate if the CRL
      is missing or past its next update, so keep re-issuing it.
    - ``tls_version``: the minimum protocol version, ``tlsv1.2`` (default) or ``tlsv1.3``.

    Raises ValueError at construction for an inconsistent combination.
    """

    certfile: str | os.PathLike[str]
    keyfile: str | os.PathLike[str]
    cafile: str | os.PathLike[str] | None = None
    require_certificate: bool = False
    crlfile: str | os.PathLike[str] | None = None
    tls_version: str = "tlsv1.2"

    def __post_init__(self) -> None:
        if self.tls_version not in TLS_VERSIONS:
            raise ValueError(f"tls_version must be one of {', '.join(TLS_VERSIONS)}, got {self.tls_version!r}")
        if self.require_certificate and self.cafile is None:
            raise ValueError("require_certificate needs cafile (the CA that signs client certificates)")
        if self.crlfile is not None and not self.require_certificate:
            raise ValueError("crlfile applies to client certificates: it needs require_certificate")

    def config_lines(self) -> list[str]:
        """The listener's TLS lines for mosquitto.conf (absolute paths)."""
        lines = [
            f"certfile {_config_path(self.certfile)}",
            f"keyfile {_config_path(self.keyfile)}",
            *([f"cafile {_config_path(self.cafile)}"] if self.cafile is not None else []),
            f"tls_version {self.tls_version}",
        ]
        if self.require_certificate:
            lines += ["require_certificate true", "use_identity_as_username true"]
            if self.crlfile is not None:
                lines.append(f"crlfile {_config_path(self.crlfile)}")
        else:
            lines.append("require_certificate false")
        return lines


def hash_password(password: str, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """Hash a password the way ``mosquitto_passwd`` 2.0 does (``$7$``, PBKDF2-HMAC-SHA512).

    The result is ``$7$<iterations>$<base64 salt>$<base64 64-byte digest>``; a random
    salt is used when ``salt`` is None. Mosquitto 2.0.11 rejects any salt that is not
    exactly 12 bytes (a login then fails with "Not authorized"), so other lengths raise
    ValueError, as do an empty password and iterations < 1.
    """
    if not password:
        raise ValueError("password must not be empty")
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    if salt is None:
        salt = os.urandom(SALT_BYTES)
    if len(salt) != SALT_BYTES:
        raise ValueError(f"salt must be {SALT_BYTES} bytes, got {len(salt)}")
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return f"$7${iterations}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, encoded: str) -> bool:
    """True if ``password`` matches a ``$7$`` hash; raises ValueError for another format."""
    match = _HASH_RE.match(encoded)
    if not match:
        raise ValueError("not a mosquitto $7$ password hash")
    if not password:
        return False
    iterations, salt, expected = int(match[1]), base64.b64decode(match[2]), base64.b64decode(match[3])
    actual = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return hmac.compare_digest(actual, expected)


def check_username(username: str) -> str:
    """Return ``username`` if it can be a broker username, else raise ValueError."""
    if not isinstance(username, str) or not _USERNAME_RE.fullmatch(username):  # fullmatch: "$" allows a final "\n"
        raise ValueError(f"invalid broker username: {username!r}")
    return username


def write_password_file(path: str | os.PathLike[str], users: Mapping[str, str], owner: str | None = None) -> Path:
    """Write a Mosquitto password file for ``users`` (username -> plaintext password).

    Replaces the whole file atomically, mode 0600; see the module docstring for ``owner``.
    Raises ValueError for a bad username or empty password; OSError, PermissionError or
    KeyError as ``files.write_private_file``.
    """
    return _write_hashes(path, {name: hash_password(pw) for name, pw in _checked(users)}, owner)


def read_password_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Return username -> hash from a password file; raises OSError, ValueError if malformed."""
    entries: dict[str, str] = {}
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, encoded = line.partition(":")
        if not sep or not encoded:
            raise ValueError(f"{path}:{lineno}: expected 'username:hash'")
        entries[name] = encoded
    return entries


def set_passwords(path: str | os.PathLike[str], users: Mapping[str, str], owner: str | None = None) -> Path:
    """Add or replace ``users`` in a password file, keeping every other user's hash.

    Creates the file if it is missing. Raises as ``write_password_file`` and
    ``read_password_file``.
    """
    try:
        entries = read_password_file(path)
    except FileNotFoundError:
        entries = {}
    entries.update({name: hash_password(pw) for name, pw in _checked(users)})
    return _write_hashes(path, entries, owner)


def remove_users(path: str | os.PathLike[str], usernames: Iterable[str], owner: str | None = None) -> Path:
    """Remove users from a password file (unknown names are ignored).

    Connected clients keep their session until the broker reloads; see ``reload_broker``.
    Raises as ``read_password_file`` and ``write_password_file``.
    """
    entries = read_password_file(path)
    for name in usernames:
        entries.pop(name, None)
    return _write_hashes(path, entries, owner)


def acl_text(central_user: str | Iterable[str] = "central") -> str:
    """Return the ACL file content for one or several central users.

    Give every central sync worker its own username: with ``use_username_as_clientid``
    two connections with the same username take over each other's session. Raises
    ValueError for a bad or missing central user.
    """
    names = [central_user] if isinstance(central_user, str) else list(central_user)
    if not names:
        raise ValueError("at least one central user is required")
    lines = [
        "# Rosma broker ACL, generated by provisioning.broker; do not edit by hand.",
        "# A node's username is its node id. Patterns apply to every user, central users",
        "# included. Safe only with use_username_as_clientid true (or TLS identity).",
        f"pattern write {topics.PREFIX}/%u/up/#",
        f"pattern read {topics.PREFIX}/%u/down/#",
    ]
    for name in names:
        lines += ["", f"user {check_username(name)}", f"topic readwrite {CENTRAL_TOPIC_FILTER}"]
    return "\n".join(lines) + "\n"


def write_acl_file(
    path: str | os.PathLike[str], central_user: str | Iterable[str] = "central", owner: str | None = None
) -> Path:
    """Write the ACL file (mode 0600; ``owner`` as in the module docstring).

    ``central_user`` may be one name or several (one per sync worker). Raises ValueError
    for a bad central user; OSError, PermissionError or KeyError as
    ``files.write_private_file``.
    """
    return write_private_file(path, acl_text(central_user), owner=owner)


def write_broker_config(
    dir: str | os.PathLike[str],  # noqa: A002 - the name callers use
    port: int,
    bind: str = "127.0.0.1",
    persistence: bool = True,
    user: str | None = None,
    *,
    tls: TlsListener | None,
) -> Path:
    """Write ``<dir>/mosquitto.conf`` for one listener and return its path.

    ``tls`` is required: a ``TlsListener`` makes the listener a TLS listener (password
    logins, or client certificates with ``require_certificate``); ``tls=None`` writes the old
    plaintext listener, marked in the file as such and logged as a warning, for loopback
    tests only. Password file (unless client certificates are the identity) and ACL are
    ``<dir>/passwd`` and ``<dir>/acl`` (write them with ``write_password_file`` and
    ``write_acl_file`` before starting the broker); the broker persists to ``<dir>/data/`` and
    logs ``LOG_TYPES`` (debug included, for denied publishes) to ``<dir>/mosquitto.log``.
    ``user`` is the account a broker started as root runs as; None means the user running
    this code (see the module docstring). When ``user`` is another account and this code runs
    as root, the data directory and log file are handed to it (the TLS files are not: make
    the server key with ``owner=``).

    Raises ValueError for a bad port, bind address, path or user name; OSError if ``dir``
    cannot be created; KeyError for an unknown ``user`` (only looked up when root).
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port must be 1..65535, got {port!r}")
    if not bind or any(ch.isspace() for ch in bind):
        raise ValueError(f"invalid bind address: {bind!r}")
    if tls is not None and not isinstance(tls, TlsListener):
        raise ValueError(f"tls must be a TlsListener or None, got {tls!r}")
    base = Path(dir).resolve()
    if any(ch in str(base) for ch in "\r\n\0"):
        raise ValueError(f"directory path not usable in mosquitto.conf: {base!r}")
    tls_lines = tls.config_lines() if tls is not None else []
    data_dir = base / DATA_DIR_NAME
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    log_file = base / LOG_NAME
    run_as = check_username(user) if user is not None else _current_user()
    if run_as is not None and os.geteuid() == 0 and run_as != "root":
        uid, gid = lookup_owner(run_as)
        log_file.touch(mode=0o600, exist_ok=True)
        for target in (data_dir, log_file):
            os.chown(target, uid, gid)
    if tls is None:
        listener = [
            *PLAINTEXT_WARNING,
            f"listener {port} {bind}",
            "allow_anonymous false",
            f"password_file {base / PASSWD_NAME}",
        ]
    elif tls.require_certificate:
        listener = [
            "# TLS listener; clients must present a certificate signed by cafile, and its CN is the",
            "# username the ACL sees. The password file is not used here (use_identity_as_username).",
            f"listener {port} {bind}",
            *tls_lines,
            "allow_anonymous false",
        ]
    else:
        listener = [
            "# TLS listener with password logins (clients verify this broker's certificate).",
            f"listener {port} {bind}",
            *tls_lines,
            "allow_anonymous false",
            f"password_file {base / PASSWD_NAME}",
        ]
    lines = [
        "# Rosma private broker, generated by provisioning.broker.write_broker_config.",
        *([f"user {run_as}"] if run_as is not None else []),
        "per_listener_settings true",
        f"persistence {'true' if persistence else 'false'}",
        *([f"persistence_location {data_dir}", "autosave_interval 30"] if persistence else []),
        f"log_dest file {log_file}",
        *(f"log_type {kind}" for kind in LOG_TYPES),
        "log_timestamp true",
        "connection_messages true",
        "max_queued_messages 1000",
        "",
        *listener,
        f"acl_file {base / ACL_NAME}",
        "use_username_as_clientid true",
    ]
    config = base / CONFIG_NAME
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if tls is None:
        level = logging.INFO if bind in _LOOPBACK_BINDS else logging.WARNING
        log.log(level, "wrote broker config %s: PLAINTEXT listener %s:%d (no TLS)", config, bind, port)
    else:
        mode = "client certificates" if tls.require_certificate else "passwords"
        log.info("wrote broker config %s (TLS listener %s:%d, %s)", config, bind, port, mode)
    return config


def reload_broker(pid: int) -> None:
    """Ask a running Mosquitto to re-read its password and ACL files (SIGHUP).

    Returns before the broker has reloaded; it logs "Reloading config." when it does.
    Listener options (``use_username_as_clientid``, ports) need a restart. Raises
    ProcessLookupError if no such process, PermissionError if it belongs to another user.
    """
    os.kill(pid, signal.SIGHUP)
    log.info("sent SIGHUP to broker pid %d", pid)


def _config_path(path: str | os.PathLike[str]) -> Path:
    resolved = Path(path).resolve()
    if any(ch in str(resolved) for ch in "\r\n\0") or str(resolved) != str(resolved).strip():
        raise ValueError(f"path not usable in mosquitto.conf: {resolved!r}")
    return resolved


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _checked(users: Mapping[str, str]) -> list[tuple[str, str]]:
    for name, password in users.items():
        check_username(name)
        if not isinstance(password, str) or not password:
            raise ValueError(f"empty password for broker user {name!r}")
    return list(users.items())


def _write_hashes(path: str | os.PathLike[str], entries: Mapping[str, str], owner: str | None) -> Path:
    text = "".join(f"{name}:{entries[name]}\n" for name in sorted(entries))
    written = write_private_file(path, text, owner=owner)
    log.info("wrote password file %s (%d users)", written, len(entries))
    return written


def _current_user() -> str | None:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid without a passwd entry (some containers): leave mosquitto's default
        return None
