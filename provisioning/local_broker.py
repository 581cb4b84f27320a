"""A private Mosquitto process on a scratch directory, for development and tests.

Never touches the system broker: it runs its own ``mosquitto -c <dir>/mosquitto.conf`` on a
free loopback port, with the files written by ``provisioning.broker``.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType

from provisioning import broker

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.02  # seconds between readiness probes
RELOAD_MARKER = "Reloading config."


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
    """One Mosquitto process with Rosma's password file, ACL and config in ``directory``."""

    def __init__(
        self,
        directory: str | Path,
        users: Mapping[str, str],
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        central_user: str | Iterable[str] = "central",
        executable: str = "mosquitto",
    ) -> None:
        self.directory = Path(directory)
        self.users = dict(users)
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.central_user = central_user if isinstance(central_user, str) else list(central_user)
        self.executable = executable
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

    def start(self, timeout: float = 10.0) -> LocalBroker:
        """Write the password file, ACL and config, then ``run`` the broker.

        Raises as ``run``, and OSError if the files cannot be written.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        broker.write_password_file(self.directory / broker.PASSWD_NAME, self.users)
        broker.write_acl_file(self.directory / broker.ACL_NAME, self.central_user)
        config = broker.write_broker_config(self.directory, self.port, bind=self.host)
        return self.run(config, timeout)

    def run(self, config: str | Path, timeout: float = 10.0) -> LocalBroker:
        """Start ``mosquitto -c config`` and wait until it accepts TCP connections.

        ``config`` must listen on this object's host and port. Raises FileNotFoundError if
        the executable is missing, RuntimeError if the broker exits or is not listening
        within ``timeout`` seconds (the message holds its output).
        """
        if self.process is not None:
            raise RuntimeError("broker already running")
        exe = find_executable(self.executable)
        if exe is None:
            raise FileNotFoundError(f"{self.executable} not found on PATH or in sbin")
        self.directory.mkdir(parents=True, exist_ok=True)
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
            self._poll(self._accepts_connections, timeout, "listen")
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
