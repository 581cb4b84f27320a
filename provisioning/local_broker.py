"""A private Mosquitto process on a scratch directory, for development and tests.

Never touches the system broker: it runs its own ``mosquitto -c <dir>/mosquitto.conf`` on a
free loopback port, with the files written by ``provisioning.broker``.

TLS by default: the first ``start()`` makes a CA and a server certificate (for the host,
``127.0.0.1`` and ``localhost``) in ``<dir>/tls/`` and later starts reuse them; clients
trust ``ca_path``. ``require_certificate=True`` makes clients log in with a certificate from
``client_cert(node_id)`` instead of a password. ``tls=False`` is the old plaintext listener.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType

from provisioning import broker, tls

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.02  # seconds between readiness probes
RELOAD_MARKER = "Reloading config."
RUNNING_MARKER = re.compile(r"^(?:\d+: )?mosquitto version \S+ running$", re.MULTILINE)  # logged once it listens
TLS_DIR_NAME = "tls"
CLIENTS_DIR_NAME = "clients"
CRL_NAME = "crl.pem"


def find_executable(name: str = "mosquitto") -> str | None:
    """Path of ``name`` on PATH or in the sbin directories, or None if not installed.

    Debian installs mosquitto in /usr/sbin, which is not on a normal user's PATH.
    """
    search = os.pathsep.join([os.environ.get("PATH", os.defpath), "/usr/local/sbin", "/usr/sbin", "/sbin"])
    return shutil.which(name, path=search)


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free a moment ago (another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LocalBroker:
    """One Mosquitto process with Rosma's password file, ACL and config in ``directory``.

    ``tls`` (default True): the listener is TLS (CA and server certificate in ``tls_dir``,
    made once); clients need ``ca_path``. ``require_certificate``: clients must log in with
    a certificate from ``client_cert`` (its CN is the username; passwords are not used).
    ``tls=False``: a plaintext listener, for callers not yet passing the CA. Raises
    ValueError for ``require_certificate`` without ``tls``.
    """

    def __init__(
        self,
        directory: str | Path,
        users: Mapping[str, str],
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        central_user: str | Iterable[str] = "central",
        executable: str = "mosquitto",
        tls: bool = True,
        require_certificate: bool = False,
    ) -> None:
        if require_certificate and not tls:
            raise ValueError("require_certificate needs tls")
        self.directory = Path(directory)
        self.users = dict(users)
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.central_user = central_user if isinstance(central_user, str) else list(central_user)
        self.executable = executable
        self.tls = tls
        self.require_certificate = require_certificate
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """Process id of the running broker; raises RuntimeError if not started."""
        if self.process is None:
            raise RuntimeError("broker not started")
        return self.process.pid

    @property
    def log_path(self) -> Path:
        """The broker's own log file."""
        return self.directory / broker.LOG_NAME

    @property
    def tls_dir(self) -> Path:
        """Where the CA, the server certificate and client certificates are kept."""
        return self.directory / TLS_DIR_NAME

    @property
    def ca_path(self) -> Path | None:
        """The CA certificate clients must trust (``Settings.tls_ca``); None without TLS.

        The file exists after ``start()`` or ``tls_files()``.
        """
        return self.tls_dir / tls.CA_CERT_NAME if self.tls else None

    def tls_files(self) -> broker.TlsListener:
        """Make the CA and server certificate if they are missing or unusable; return the listener's TLS.

        Idempotent: an existing CA is kept, and so is a server certificate from it that names
        this host, 127.0.0.1 and localhost and is valid for another day. Raises RuntimeError
        without ``tls``; ValueError or OSError as ``provisioning.tls``.
        """
        if not self.tls:
            raise RuntimeError("this broker has no TLS (tls=False)")
        ca = tls.make_ca(self.tls_dir)
        cert = self.tls_dir / f"{tls.SERVER_NAME}.crt"
        key = self.tls_dir / f"{tls.SERVER_NAME}.key"
        names = [self.host, *tls.LOOPBACK_NAMES]
        if not tls.server_cert_usable(ca, cert, key, names):
            cert, key = tls.make_server_cert(ca, self.tls_dir, [self.host])
        crl = tls.make_crl(ca, self.tls_dir / CRL_NAME) if self.require_certificate else None  # re-issued, kept
        return broker.TlsListener(
            certfile=cert, keyfile=key, cafile=ca.cert, require_certificate=self.require_certificate, crlfile=crl
        )

    def client_cert(self, common_name: str, days: int = 825) -> tuple[Path, Path]:
        """Issue a client certificate (CN = ``common_name``) from this broker's CA; return ``(crt, key)``.

        Written to ``<tls_dir>/clients/<name>.crt`` and ``.key`` (0600), replacing an older
        one. Makes the CA first if needed. Raises RuntimeError without ``tls``; ValueError for
        a name that cannot be a broker username.
        """
        if not self.tls:
            raise RuntimeError("this broker has no TLS (tls=False)")
        ca = tls.make_ca(self.tls_dir)
        return tls.make_client_cert(ca, self.tls_dir / CLIENTS_DIR_NAME, common_name, days)

    def revoke(self, common_name: str, timeout: float = 10.0) -> None:
        """Revoke the client certificate ``client_cert(common_name)`` made, and reload the broker.

        Needs ``require_certificate`` (the listener checks the CRL in ``tls_dir``). New
        connections with that certificate are refused from the reload on. Raises RuntimeError
        without client certificates or if the broker is not running; FileNotFoundError if no
        such certificate was made.
        """
        if not self.require_certificate:
            raise RuntimeError("revoking needs require_certificate=True")
        ca = tls.make_ca(self.tls_dir)
        tls.make_crl(ca, self.tls_dir / CRL_NAME, [self.tls_dir / CLIENTS_DIR_NAME / f"{common_name}.crt"])
        self.reload(timeout)

    def start(self, timeout: float = 10.0) -> LocalBroker:
        """Write the password file, ACL, TLS files (made once) and config, then ``run`` the broker.

        Raises as ``run``, and OSError or ValueError if the files cannot be written.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        broker.write_password_file(self.directory / broker.PASSWD_NAME, self.users)
        broker.write_acl_file(self.directory / broker.ACL_NAME, self.central_user)
        listener_tls = self.tls_files() if self.tls else None
        config = broker.write_broker_config(self.directory, self.port, bind=self.host, tls=listener_tls)
        return self.run(config, timeout)

    def run(self, config: str | Path, timeout: float = 10.0) -> LocalBroker:
        """Start ``mosquitto -c config`` and wait until it listens.

        ``config`` must listen on this object's host and port. Ready means: the broker logged
        "mosquitto version ... running" (after opening its listeners) if ``config`` logs to
        ``log_path``, else that it accepts a TCP connection (on a TLS listener that probe
        leaves a "Client connection ... failed" line in the broker's log). Raises
        FileNotFoundError if the executable or ``config`` is missing, RuntimeError if the
        broker exits or is not ready within ``timeout`` seconds (the message holds its output).
        """
        if self.process is not None:
            raise RuntimeError("broker already running")
        exe = find_executable(self.executable)
        if exe is None:
            raise FileNotFoundError(f"{self.executable} not found on PATH or in sbin")
        self.directory.mkdir(parents=True, exist_ok=True)
        config_lines = Path(config).read_text(encoding="utf-8", errors="replace").splitlines()
        if f"log_dest file {self.log_path.resolve()}" in (line.strip() for line in config_lines):
            before = len(RUNNING_MARKER.findall(self._log_text()))

            def ready() -> bool:
                return len(RUNNING_MARKER.findall(self._log_text())) > before

        else:
            ready = self._accepts_connections
        with open(self.directory / "mosquitto.out", "wb") as out:
            self.process = subprocess.Popen(
                [exe, "-c", str(Path(config).resolve())],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
            )
        log.info("started mosquitto pid %d on %s:%d", self.process.pid, self.host, self.port)
        try:
            self._poll(ready, timeout, "listen")
        except BaseException:
            self.stop()
            raise
        return self

    def add_users(self, users: Mapping[str, str], timeout: float = 10.0) -> None:
        """Add or replace users and reload the broker without restarting it."""
        broker.set_passwords(self.directory / broker.PASSWD_NAME, users)
        self.users.update(users)
        self.reload(timeout)

    def remove_users(self, usernames: Iterable[str], timeout: float = 10.0) -> None:
        """Remove users from the password file and reload the broker."""
        names = list(usernames)
        broker.remove_users(self.directory / broker.PASSWD_NAME, names)
        for name in names:
            self.users.pop(name, None)
        self.reload(timeout)

    def reload(self, timeout: float = 10.0) -> None:
        """Send SIGHUP and wait until the broker has logged that it reloaded.

        Mosquitto reloads in its single main loop right after logging the marker, so any
        connection made after this returns is checked against the new files. Needs the
        broker to log to ``log_path`` (the generated config does). Raises RuntimeError on
        timeout or if the broker has exited.
        """
        before = self._log_text().count(RELOAD_MARKER)
        broker.reload_broker(self.pid)
        self._poll(lambda: self._log_text().count(RELOAD_MARKER) > before, timeout, "reload")

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the broker (SIGTERM, then SIGKILL after ``timeout``); idempotent."""
        proc, self.process = self.process, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("mosquitto pid %d ignored SIGTERM; killing it", proc.pid)
                proc.kill()
                proc.wait()
        log.info("mosquitto pid %d exited with %s", proc.pid, proc.returncode)

    def output(self) -> str:
        """The broker's stdout/stderr and log so far (for error messages)."""
        out = self.directory / "mosquitto.out"
        text = out.read_text(errors="replace") if out.exists() else ""
        return text + self._log_text()

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def _accepts_connections(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=POLL_INTERVAL * 10):
                return True
        except OSError:
            return False

    def _poll(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited before {what}:\n{self.output()}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not {what} within {timeout} s:\n{self.output()}")
            time.sleep(POLL_INTERVAL)
