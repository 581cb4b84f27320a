"""Printers without a status channel (can_poll False): a ticket directory, a raw file, and none."""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import re
import select
import stat
import tempfile
import threading
import time

from devices.printer.base import (
    ERR_DISCONNECTED,
    ERR_FILE_WRITE,
    ERR_NOT_RESPONDING,
    MSG_NOT_USED,
    STATE_DISCONNECTED,
    STATE_READY,
    PrinterError,
    PrinterPort,
    PrinterStatus,
)
from devices.printer.decode import decode_escpos
from devices.printer.preview import ticket_png, ticket_text
from devices.printer.ticket import TicketLayout, profile_geometry, render_ticket

logger = logging.getLogger(__name__)

_TICKET_FILE = re.compile(r"^ticket-(\d+)\.(?:escpos|txt|png)$")
_GONE_ERRNOS = {errno.ENOENT, errno.ENODEV, errno.ENXIO, errno.EIO}


class TicketFiles:
    """Numbered ticket-NNNN.escpos, .txt and .png files of ESC/POS tickets in a directory.

    Numbering continues after the highest existing file, so a restart never
    overwrites a ticket; the directory is created on first use. Used by
    DirectoryPrinter and by the virtual printer. Thread-safe.

    A reader never sees half a ticket: each file is written under a hidden
    temporary name in the same directory, flushed to disk (fsync), then renamed
    into place, and the directory itself is synced. The .escpos file comes last,
    so once it is there the ticket's .txt and .png are complete too. A write
    that fails leaves no ticket file and no temporary file behind.
    """

    def __init__(self, directory: str, profile: str) -> None:
        self.directory = directory
        self.profile = profile
        self._width, self._columns = profile_geometry(profile)
        self._lock = threading.Lock()
        self._next: int | None = None

    def _scan_next(self) -> int:
        numbers = [int(m.group(1)) for m in map(_TICKET_FILE.match, os.listdir(self.directory)) if m]
        return max(numbers, default=0) + 1

    def _temporary(self, suffix: str, content: bytes) -> str:
        """A hidden file in the directory holding ``content``, on disk; its path."""
        fd, path = tempfile.mkstemp(prefix=".ticket-", suffix=suffix + ".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), 0o644)  # mkstemp's 0600; a ticket holds nothing private
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            _remove(path)
            raise
        return path

    def _sync_directory(self) -> None:
        # the renames are durable only once the directory entry is on disk too
        fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def write(self, data: bytes) -> str:
        """Write one ticket's raw bytes, text dump and preview; return the path without extension.

        Raises OSError when the directory cannot be created or written (the ticket is then
        not there at all).
        """
        decoded = decode_escpos(data)
        text = ticket_text(decoded, self._columns).encode("utf-8")
        picture = io.BytesIO()
        ticket_png(decoded, self._width).save(picture, "PNG")
        with self._lock:
            os.makedirs(self.directory, exist_ok=True)
            temporary = {}
            try:
                for ext, content in (("txt", text), ("png", picture.getvalue()), ("escpos", data)):
                    temporary[ext] = self._temporary("." + ext, content)
                number = self._next or self._scan_next()
                while True:
                    base = os.path.join(self.directory, f"ticket-{number:04d}")
                    try:
                        # a hard link never replaces an existing file: it claims the number
                        # even if another process writes tickets here too
                        _claim(temporary["txt"], base + ".txt")
                        break
                    except FileExistsError:
                        number += 1
                self._next = number + 1
                _remove(temporary.pop("txt"))  # gone already if _claim renamed it
                os.replace(temporary.pop("png"), base + ".png")
                os.replace(temporary.pop("escpos"), base + ".escpos")
            finally:
                for path in temporary.values():
                    _remove(path)
            self._sync_directory()
        return base


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _claim(source: str, target: str) -> None:
    """Put ``source`` at ``target`` unless ``target`` exists (FileExistsError), atomically.

    A hard link does both in one step. A file system without hard links (FAT on a USB
    stick) gets an empty placeholder made exclusively, then replaced by the full file.
    """
    try:
        os.link(source, target)
        return
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    os.replace(source, target)


class DirectoryPrinter(PrinterPort):
    """Writes each ticket as ticket-NNNN.escpos, .txt and .png in a directory (see TicketFiles).

    Raises PrinterError("Tiket gagal disimpan ke berkas") when it cannot write.
    """

    def __init__(self, directory: str, profile: str) -> None:
        self.directory = directory
        self.profile = profile
        self._files = TicketFiles(directory, profile)

    def print_ticket(self, layout: TicketLayout) -> None:
        """Write the three files of one ticket."""
        data = render_ticket(layout, self.profile)
        try:
            base = self._files.write(data)
        except OSError as exc:
            logger.error("Cannot write ticket into %s: %s", self.directory, exc)
            raise PrinterError(ERR_FILE_WRITE) from exc
        logger.info("Ticket written to %s.escpos", base)

    def status(self) -> PrinterStatus:
        """Ready when the directory exists (or can be created) and is writable."""
        target = self.directory
        while not os.path.exists(target) and os.path.dirname(target) != target:
            target = os.path.dirname(target)
        if os.path.isdir(target) and os.access(target, os.W_OK):
            return PrinterStatus.for_state(STATE_READY)
        return PrinterStatus.for_state(STATE_DISCONNECTED)

    def close(self) -> None:
        """Nothing to release."""


class RawFilePrinter(PrinterPort):
    """Appends each ticket's ESC/POS bytes to a file or device (e.g. /dev/usb/lp0).

    Device nodes and FIFOs are written non-blocking with a deadline (``timeout``
    seconds), so a stalled printer gives PrinterError("Printer tidak merespons")
    instead of hanging. There is no paper sensor on this path.
    """

    def __init__(self, path: str, profile: str, timeout: float = 10.0) -> None:
        profile_geometry(profile)
        self.path = path
        self.profile = profile
        self.timeout = timeout
        self._lock = threading.Lock()

    def _looks_like_device(self) -> bool:
        try:
            mode = os.stat(self.path).st_mode
            return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)
        except OSError:
            return self.path.startswith("/dev/")

    def print_ticket(self, layout: TicketLayout) -> None:
        """Append one ticket; raises PrinterError if the device is gone or stalls."""
        data = render_ticket(layout, self.profile)
        device = self._looks_like_device()
        with self._lock:
            try:
                if device:
                    self._write_device(data)
                else:
                    with open(self.path, "ab") as out:
                        out.write(data)
            except TimeoutError as exc:
                logger.warning("Printer %s stalled while printing", self.path)
                raise PrinterError(ERR_NOT_RESPONDING) from exc
            except OSError as exc:
                logger.warning("Cannot write ticket to %s: %s", self.path, exc)
                gone = device or (exc.errno in _GONE_ERRNOS and self.path.startswith("/dev/"))
                raise PrinterError(ERR_DISCONNECTED if gone else ERR_FILE_WRITE) from exc
        logger.info("Printed %d bytes to %s", len(data), self.path)

    def _write_device(self, data: bytes) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        try:
            deadline = time.monotonic() + self.timeout
            view = memoryview(data)
            while view:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self.path} accepted no data for {self.timeout} s")
                _, writable, _ = select.select([], [fd], [], remaining)
                if not writable:
                    continue
                try:
                    view = view[os.write(fd, view) :]
                except BlockingIOError:
                    continue
        finally:
            os.close(fd)

    def status(self) -> PrinterStatus:
        """Ready when the file (or its directory) is writable; never raises."""
        if os.path.exists(self.path):
            ok = os.access(self.path, os.W_OK)
        else:
            parent = os.path.dirname(self.path) or "."
            ok = not self._looks_like_device() and os.access(parent, os.W_OK)
        return PrinterStatus.for_state(STATE_READY if ok else STATE_DISCONNECTED)

    def close(self) -> None:
        """Nothing to release: the file is opened per ticket."""


class NullPrinter(PrinterPort):
    """Prints nothing (a node without a printer); status is always ok."""

    def print_ticket(self, layout: TicketLayout) -> None:
        """Discard the ticket."""
        logger.debug("No printer configured; ticket %s not printed", layout.number)

    def status(self) -> PrinterStatus:
        """Always ok."""
        return PrinterStatus.for_state(STATE_READY, MSG_NOT_USED)

    def close(self) -> None:
        """Nothing to release."""
