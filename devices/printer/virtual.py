"""A virtual ESC/POS ticket printer on raw TCP (port 9100 style), for tests and demos.

Like OctoPrint's virtual printer it is a fake at the hardware boundary: it speaks
the wire protocol, so the real adapter (``open_printer("tcp://host:port")``) is
exercised end to end.

What it does
    - Accepts ESC/POS bytes (several connections at once, each its own stream) and
      splits them into tickets after each cut (GS V). Commands are parsed like
      decode.py does, so GS V bytes inside image data do not split a ticket.
      Real-time status queries sent before a ticket's data (what the adapter does)
      are not part of the ticket. Each finished ticket is appended to ``tickets``
      and, when ``directory`` is given, written as ticket-NNNN.escpos/.txt/.png
      (same files as ``file://dir/``). Bytes left without a cut when a client
      disconnects or goes idle for ``idle_timeout`` s are kept in ``partials``,
      not printed.
    - Answers DLE EOT n (10 04 n, n = 1..4) at once with the byte an Epson
      TM-T20-class printer sends for its current state; like a real printer it
      recognises the query anywhere in the stream (Epson: real-time commands are
      processed on receipt, even inside other data, unless GS ( D disables them).
    - While the state is paper_out, cover_open or offline, print data is
      discarded (counted in ``discarded_bytes``), like a printer with no paper;
      status queries are still answered. paper_low prints normally.

States and their answers (hex, for DLE EOT 1 / 2 / 3 / 4):

    ready       12 12 12 12
    paper_low   12 12 12 1e   roll near-end sensor (n=4 bits 2, 3)
    paper_out   1a 32 12 7e   offline (n=1 bit 3), paper-end stop (n=2 bit 5),
                              near end + paper end (n=4 bits 2, 3, 5, 6)
    cover_open  1a 16 12 12   offline, cover open (n=2 bit 2)
    offline     1a 52 52 12   offline by an automatically recoverable error such
                              as an overheated head (n=2 bit 6, n=3 bit 6)

Every answer has the fixed bits of the Epson spec: bits 1 and 4 set, 0 and 7 clear.
Drawer pin 3 (n=1 bit 2) reads low; no FEED button, cutter or unrecoverable error.

Fault injection
    In process: ``set_state("paper_out")`` or the ``trigger_fake_*`` helpers.
    From another process (a demo, an end-to-end test driving ``rosma edge run``):
    pass ``control_path``. The printer checks that file at most every 0.2 s
    (when a query or data arrives) and, when its mtime, size or inode changed,
    takes the one word in it as the new state: ``ready``, ``paper_low``,
    ``paper_out``, ``cover_open`` or ``offline`` ("-" works for "_"). A missing
    file or an unknown word leaves the state as it is; set_state() wins until the
    file changes again. Example: ``echo cover_open > /tmp/printer.state``.

Command line (runs until SIGTERM or SIGINT, prints the bound address first)::

    python -m devices.printer.virtual --port 9100 --dir DIR --control FILE

Options: ``--host`` (127.0.0.1), ``--port`` (9100; 0 = any free port), ``--dir``,
``--control``, ``--state`` (initial state, ready) and ``--profile`` (TM-T20II,
used for the .txt/.png previews).

Other transports: ``open_session()`` gives a VirtualSession whose receive(bytes)
returns the printer's answer bytes, e.g. to put the printer behind a pty.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable

from devices.printer.base import (
    STATE_COVER_OPEN,
    STATE_OFFLINE,
    STATE_PAPER_LOW,
    STATE_PAPER_OUT,
    STATE_READY,
)
from devices.printer.decode import cut_offsets
from devices.printer.file_printer import TicketFiles
from devices.printer.ticket import profile_geometry

logger = logging.getLogger(__name__)

# state -> answers to DLE EOT 1, 2, 3, 4 (see the module docstring).
STATUS_REPLIES: dict[str, dict[int, int]] = {
    STATE_READY: {1: 0x12, 2: 0x12, 3: 0x12, 4: 0x12},
    STATE_PAPER_LOW: {1: 0x12, 2: 0x12, 3: 0x12, 4: 0x1E},
    STATE_PAPER_OUT: {1: 0x1A, 2: 0x32, 3: 0x12, 4: 0x7E},
    STATE_COVER_OPEN: {1: 0x1A, 2: 0x16, 3: 0x12, 4: 0x12},
    STATE_OFFLINE: {1: 0x1A, 2: 0x52, 3: 0x52, 4: 0x12},
}
VIRTUAL_STATES = tuple(STATUS_REPLIES)
# States in which a real printer would not print what it receives.
NOT_PRINTING = frozenset({STATE_PAPER_OUT, STATE_COVER_OPEN, STATE_OFFLINE})
CONTROL_INTERVAL = 0.2

_REALTIME = re.compile(rb"\x10\x04([\x01-\x04])")
_QUERY_PREFIXES = (b"\x10", b"\x10\x04")
_CUT_START = b"\x1dV"


def _check_state(state: str) -> str:
    if state not in STATUS_REPLIES:
        raise ValueError(f"Unknown virtual printer state {state!r}; expected one of {', '.join(VIRTUAL_STATES)}")
    return state


class VirtualSession:
    """One byte stream into a VirtualPrinter (a TCP connection, a pty, ...).

    Not thread-safe: feed it from one thread. receive() returns the bytes the
    printer sends back; close() ends the stream (unfinished data goes to
    ``partials``).
    """

    def __init__(self, printer: VirtualPrinter) -> None:
        self._printer = printer
        self._tail = b""  # last two bytes, for a query split across reads
        self._lead = b""  # a possible query prefix before any print data
        self._job = bytearray()  # print data since the last cut
        self.closed = False

    def receive(self, chunk: bytes) -> bytes:
        """Take bytes from the host; return the status answers to send back."""
        if self.closed:
            raise ValueError("session is closed")
        state = self._printer.state
        replies = self._answer_queries(chunk, state)
        data = self._print_data(chunk)
        if data:
            if state in NOT_PRINTING:
                self._printer._discarded(len(self._job) + len(data), state)
                self._job.clear()
            else:
                before = len(self._job)
                self._job += data
                if _CUT_START in self._job[max(0, before - 3) :]:
                    self._split_tickets()
        return replies

    def _answer_queries(self, chunk: bytes, state: str) -> bytes:
        combined = self._tail + chunk
        answers = STATUS_REPLIES[state]
        replies = bytes(
            answers[match.group(1)[0]] for match in _REALTIME.finditer(combined) if match.end() > len(self._tail)
        )
        self._tail = combined[-2:]
        return replies

    def _print_data(self, chunk: bytes) -> bytes:
        """The chunk without the status queries that precede a ticket's first byte."""
        if self._job:
            return chunk
        data, pos = self._lead + chunk, 0
        while data.startswith(b"\x10\x04", pos) and len(data) > pos + 2 and 1 <= data[pos + 2] <= 4:
            pos += 3
        rest = data[pos:]
        if rest in _QUERY_PREFIXES:
            self._lead = rest
            return b""
        self._lead = b""
        return rest

    def _split_tickets(self) -> None:
        start = 0
        for end in cut_offsets(bytes(self._job)):
            self._printer._ticket_done(bytes(self._job[start:end]))
            start = end
        if start:
            del self._job[:start]

    def close(self) -> None:
        """End of stream: keep unfinished data in ``partials``; idempotent."""
        if self.closed:
            return
        self.closed = True
        self._printer._session_closed(bytes(self._job))
        self._job.clear()


class VirtualPrinter:
    """An Epson-like ESC/POS printer on TCP with fault injection (see the module docstring).

    ``tickets`` holds the raw bytes of each finished ticket, ``partials`` the data
    of streams that ended without a cut, ``discarded_bytes`` what arrived while it
    could not print. start() returns the bound port; use it as a context manager
    to have it stopped.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        directory: str | os.PathLike | None = None,
        control_path: str | os.PathLike | None = None,
        state: str = STATE_READY,
        profile: str = "TM-T20II",
        idle_timeout: float = 60.0,
    ) -> None:
        self.host = host
        self.port = port
        self.directory = os.fspath(directory) if directory is not None else None
        self.control_path = os.fspath(control_path) if control_path is not None else None
        self.idle_timeout = idle_timeout
        profile_geometry(profile)  # ValueError for an unknown profile, even without a directory
        self._files = TicketFiles(self.directory, profile) if self.directory else None
        self.tickets: list[bytes] = []
        self.partials: list[bytes] = []
        self.discarded_bytes = 0
        self.sessions_closed = 0
        self._state = _check_state(state)
        self._cond = threading.Condition()
        self._control_checked = -CONTROL_INTERVAL
        self._control_signature: tuple[int, int, int] | None = None
        self._server: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._stopping = threading.Event()

    # --- state and fault injection ---------------------------------------

    @property
    def state(self) -> str:
        """The current state (re-reads the control file if due)."""
        with self._cond:
            self._poll_control()
            return self._state

    def set_state(self, state: str) -> None:
        """Switch to one of VIRTUAL_STATES; ValueError for anything else."""
        _check_state(state)
        with self._cond:
            if state != self._state:
                logger.info("Virtual printer: %s -> %s", self._state, state)
            self._state = state
            self._cond.notify_all()

    def trigger_fake_out_of_paper(self) -> None:
        """Paper end: answers paper_out and discards print data."""
        self.set_state(STATE_PAPER_OUT)

    def trigger_fake_paper_low(self) -> None:
        """Paper near end: still prints."""
        self.set_state(STATE_PAPER_LOW)

    def trigger_fake_cover_open(self) -> None:
        """Cover open: answers cover_open and discards print data."""
        self.set_state(STATE_COVER_OPEN)

    def trigger_fake_offline(self) -> None:
        """Offline by a recoverable error: discards print data."""
        self.set_state(STATE_OFFLINE)

    def trigger_fake_restore(self) -> None:
        """Back to ready."""
        self.set_state(STATE_READY)

    def _poll_control(self) -> None:
        # Caller holds self._cond.
        if self.control_path is None:
            return
        now = time.monotonic()
        if now - self._control_checked < CONTROL_INTERVAL:
            return
        self._control_checked = now
        try:
            info = os.stat(self.control_path)
            signature = (info.st_mtime_ns, info.st_size, info.st_ino)
            if signature == self._control_signature:
                return
            with open(self.control_path, encoding="utf-8", errors="replace") as control:
                word = control.read(64).strip().lower().replace("-", "_")
        except OSError:
            return  # missing or unreadable: keep the state
        self._control_signature = signature
        if word not in STATUS_REPLIES:
            logger.warning("Virtual printer: control file %s says %r; state unchanged", self.control_path, word)
            return
        if word != self._state:
            logger.info("Virtual printer: %s -> %s (control file)", self._state, word)
            self._state = word
            self._cond.notify_all()

    # --- what the sessions report ------------------------------------------

    def open_session(self) -> VirtualSession:
        """A new byte stream into this printer (TCP connections use one each)."""
        return VirtualSession(self)

    def _ticket_done(self, data: bytes) -> None:
        if self._files is not None:
            try:
                base = self._files.write(data)
                logger.info("Virtual printer: ticket written to %s.escpos", base)
            except OSError as exc:
                logger.error("Virtual printer: cannot write ticket into %s: %s", self.directory, exc)
        with self._cond:
            self.tickets.append(data)
            self._cond.notify_all()

    def _discarded(self, count: int, state: str) -> None:
        logger.info("Virtual printer: %s, discarded %d bytes", state, count)
        with self._cond:
            self.discarded_bytes += count
            self._cond.notify_all()

    def _session_closed(self, leftover: bytes) -> None:
        with self._cond:
            if leftover:
                logger.info("Virtual printer: stream ended %d bytes after the last cut", len(leftover))
                self.partials.append(leftover)
            self.sessions_closed += 1
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
        """Wait until ``predicate()`` is true (checked whenever the printer records something)."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def wait_tickets(self, count: int, timeout: float = 3.0) -> list[bytes]:
        """Wait until at least ``count`` tickets are finished; return a copy of ``tickets``."""
        self.wait_for(lambda: len(self.tickets) >= count, timeout)
        with self._cond:
            return list(self.tickets)

    # --- TCP server --------------------------------------------------------

    @property
    def uri(self) -> str:
        """The tcp:// URI for open_printer()."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"tcp://{host}:{self.port}"

    def start(self) -> int:
        """Listen and serve in background threads; return the bound port."""
        if self._server is not None:
            raise RuntimeError("virtual printer already started")
        server = socket.create_server((self.host, self.port))
        server.setblocking(False)
        self._server = server
        self.port = server.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping.clear()
        self._accept_thread = threading.Thread(target=self._accept_loop, name="virtual-printer", daemon=True)
        self._accept_thread.start()
        logger.info("Virtual printer listening on %s:%d (state %s)", self.host, self.port, self._state)
        return self.port

    def stop(self) -> None:
        """Stop listening and end open connections (their unfinished data goes to ``partials``)."""
        if self._server is None:
            return
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._accept_thread is not None:
            self._accept_thread.join(5)
        self._server.close()
        with self._cond:
            connections = list(self._connections.items())
        for conn, _ in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for _, thread in connections:
            thread.join(5)
        for sock in (self._wake_r, self._wake_w):
            sock.close()
        self._server = self._wake_r = self._wake_w = self._accept_thread = None
        logger.info("Virtual printer on port %d stopped", self.port)

    def __enter__(self) -> VirtualPrinter:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._server, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self._wake_r or self._stopping.is_set():
                        return
                    try:
                        conn, peer = self._server.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError as exc:
                        logger.warning("Virtual printer: accept failed: %s", exc)
                        continue
                    conn.setblocking(True)
                    thread = threading.Thread(
                        target=self._serve, args=(conn, peer), name=f"virtual-printer-{peer[1]}", daemon=True
                    )
                    with self._cond:
                        self._connections[conn] = thread
                    thread.start()

    def _serve(self, conn: socket.socket, peer: tuple) -> None:
        session = self.open_session()
        conn.settimeout(self.idle_timeout)
        logger.debug("Virtual printer: connection from %s:%s", *peer[:2])
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                reply = session.receive(chunk)
                if reply:
                    conn.sendall(reply)
        except TimeoutError:
            logger.info("Virtual printer: %s:%s idle for %.0f s; closing", *peer[:2], self.idle_timeout)
        except OSError as exc:
            logger.debug("Virtual printer: connection from %s:%s lost: %s", *peer[:2], exc)
        except Exception:  # noqa: BLE001 - one bad stream must not take the printer down
            logger.exception("Virtual printer: error on the connection from %s:%s", *peer[:2])
        finally:
            session.close()
            conn.close()
            with self._cond:
                self._connections.pop(conn, None)


def main(argv: list[str] | None = None, prog: str = "python -m devices.printer.virtual") -> int:
    """Run a virtual printer until SIGTERM or SIGINT; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Virtual ESC/POS ticket printer on raw TCP (port 9100 style).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9100, help="TCP port, 0 = any free port (default 9100)")
    parser.add_argument("--dir", help="write each ticket as ticket-NNNN.escpos/.txt/.png here")
    parser.add_argument("--control", help="file holding the state word (ready, paper_low, paper_out, ...)")
    parser.add_argument("--state", default=STATE_READY, choices=VIRTUAL_STATES, help="initial state (default ready)")
    parser.add_argument("--profile", default="TM-T20II", help="python-escpos profile for the previews")
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    try:
        printer = VirtualPrinter(
            args.host,
            args.port,
            directory=args.dir,
            control_path=args.control,
            state=args.state,
            profile=args.profile,
        )
    except ValueError as exc:
        parser.error(str(exc))
    try:
        port = printer.start()
    except OSError as exc:
        print(f"Cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1

    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    print(f"Virtual printer listening on tcp://{args.host}:{port}", flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        printer.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
