"""Several web processes on one listening socket, supervised by the process that made them.

The parent binds the socket, prepares whatever must happen once (migrations, seed, keys), closes
its database connections and forks ``n`` workers before it has opened any thread. Each worker
serves the inherited socket with waitress (the kernel hands each new connection to whichever
worker accepts it first) and tells the parent, over a pipe, that it is ready and, every 10 s,
that it is healthy. The parent never serves a request; it:

- sends systemd READY=1 once every worker is ready, and WATCHDOG=1 while every worker has said
  it is healthy recently (a worker still starting does not count against it);
- restarts a worker that dies, or that stops reporting for ``HUNG_S`` (it is killed first),
  waiting longer between restarts of one that keeps dying;
- on SIGTERM or SIGINT forwards SIGTERM to the workers, waits for them (``STOP_S``) and exits.

Whatever must run once per site rather than once per process (central's embedded sync worker
and phone streams) runs in worker 1 only: ``child(index)`` is told which worker it is.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import sdnotify

log = logging.getLogger(__name__)

HEALTHY_S = 30.0  # a worker that said "healthy" longer ago than this keeps the watchdog unpetted
HUNG_S = 60.0  # a ready worker silent this long is killed and started again
START_S = 120.0  # a new worker must be ready within this
STOP_S = 20.0  # after SIGTERM the workers get this long before SIGKILL
RESTART_MAX_S = 30.0  # the longest wait before restarting a worker that keeps dying


def listen(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` and listening, to be shared by the workers."""
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(info[0], socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(info[4])
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


class PipeNotifier:
    """What a worker gives ``rosma.serve.serve`` instead of systemd: its messages go to the parent."""

    def __init__(self, fd: int, index: int):
        self.fd, self.index = fd, index

    def notify(self, state: str) -> None:
        # one short write: atomic on a pipe, so the workers' messages never interleave; an error
        # means the parent is gone, and the worker is being stopped anyway
        with contextlib.suppress(OSError):
            os.write(self.fd, f"{self.index} {state}\n".encode())


@dataclass
class _Worker:
    index: int
    pid: int = 0
    started: float = 0.0
    ready: bool = False
    heard: float = 0.0  # last READY or WATCHDOG
    failures: int = 0  # quick deaths in a row
    restart_at: float = 0.0


def run(n: int, child: Callable[[int, PipeNotifier], int], notifier=None) -> int:
    """Fork ``n`` workers running ``child(index, notifier)`` (index 1..n; its return value is the
    worker's exit status) and supervise them until SIGTERM/SIGINT. Returns 0 after a clean stop."""
    if threading.active_count() > 1:  # a forked child would inherit locks held by those threads
        log.warning("forking web processes with %d threads running", threading.active_count())
    notifier = notifier or sdnotify.SystemdNotifier()
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    stopping = threading.Event()
    wake_r, wake_w = os.pipe()  # the signal handler wakes the loop
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)

    def on_signal(signum, frame):
        stopping.set()
        with contextlib.suppress(OSError):
            os.write(wake_w, b"x")

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    workers = {i: _Worker(i) for i in range(1, n + 1)}
    by_pid: dict[int, _Worker] = {}

    def spawn(w: _Worker) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            status = 1
            try:
                for s in old:
                    signal.signal(s, signal.SIG_DFL)
                os.close(read_fd)
                os.close(wake_r)
                os.close(wake_w)
                status = child(w.index, PipeNotifier(write_fd, w.index))
            except BaseException:  # noqa: BLE001 (a worker must never return into the parent's loop)
                log.exception("web process %d failed", w.index)
            finally:
                logging.shutdown()
                os._exit(status if isinstance(status, int) else 1)
        w.pid, w.started, w.ready, w.heard = pid, time.monotonic(), False, 0.0
        by_pid[pid] = w
        log.info("web process %d started (pid %d)", w.index, pid)

    for w in workers.values():
        spawn(w)
    announced = False
    last_pet = 0.0
    buffer = b""
    try:
        while not stopping.is_set():
            readable, _, _ = select.select([read_fd, wake_r], [], [], 1.0)
            now = time.monotonic()
            if read_fd in readable:
                buffer += _drain(read_fd)
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    index, _, state = line.decode(errors="replace").partition(" ")
                    w = workers.get(int(index)) if index.isdigit() else None
                    if w is None or w.pid == 0:
                        continue
                    if state == "READY=1":
                        w.ready, w.heard = True, now
                    elif state == "WATCHDOG=1":
                        w.heard = now
                        if now - w.started > START_S:
                            w.failures = 0  # it has been up a while: the next death is not "quick"
            if wake_r in readable:
                _drain(wake_r)
            _reap(by_pid, workers, now)
            for w in workers.values():
                if w.pid:
                    silent = now - (w.heard if w.ready else w.started)
                    if silent > (HUNG_S if w.ready else START_S):
                        log.error("web process %d (pid %d) is not responding; killing it", w.index, w.pid)
                        _kill(w.pid, signal.SIGKILL)
                elif now >= w.restart_at and not stopping.is_set():
                    spawn(w)
            if not announced and all(w.ready for w in workers.values()):
                notifier.notify("READY=1")
                log.info("all %d web processes are ready", n)
                announced = True
            if announced and now - last_pet >= 10:
                healthy = [w for w in workers.values() if w.pid and w.ready and now - w.heard <= HEALTHY_S]
                starting = [w for w in workers.values() if not (w.pid and w.ready)]
                if healthy and len(healthy) + len(starting) == n:
                    notifier.notify("WATCHDOG=1")
                    last_pet = now
    finally:
        notifier.notify("STOPPING=1")
        for w in workers.values():
            if w.pid:
                _kill(w.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_S
        while by_pid and time.monotonic() < deadline:
            _reap(by_pid, workers, time.monotonic(), stopping=True)
            time.sleep(0.05)  # waiting for the workers' exit: nothing to poll but waitpid
        for pid in list(by_pid):
            log.error("web process (pid %d) did not stop in %.0f s; killing it", pid, STOP_S)
            _kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        for s, handler in old.items():
            signal.signal(s, handler)
        for fd in (read_fd, write_fd, wake_r, wake_w):
            os.close(fd)
    return 0


def _drain(fd: int) -> bytes:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            return out
        if not chunk:
            return out
        out += chunk


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _reap(by_pid: dict[int, _Worker], workers: dict[int, _Worker], now: float, stopping: bool = False) -> None:
    while by_pid:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            by_pid.clear()
            return
        except OSError as exc:
            if exc.errno == errno.EINTR:
                continue
            raise
        if pid == 0:
            return
        w = by_pid.pop(pid, None)
        if w is None:
            continue
        w.pid = 0
        if stopping:
            continue
        code = os.waitstatus_to_exitcode(status)
        quick = now - w.started < START_S
        w.failures = w.failures + 1 if quick else 1
        delay = min(RESTART_MAX_S, 0.5 * 2 ** (w.failures - 1))
        w.restart_at = now + delay
        log.error("web process %d (pid %d) exited with %s; starting it again in %.1f s", w.index, pid, code, delay)
