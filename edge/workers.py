"""Supervised worker threads of the edge: printer spooler, announcer and scanner readers.

A device fault restarts only its worker (with backoff) and is shown as a device status; the
queue itself never stops. Workers wake on bus events and also poll their job tables, so a
job written before a crash is still done after the restart.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field

from devices.audio import Announcer, AudioError, ClipLibrary, open_audio
from devices.printer import PrinterError, TicketLayout, open_printer
from devices.scanner import ScannerError, open_scanner
from edge.bus import Bus
from edge.core import speech
from edge.models import Announcement, PrintJob, Ticket, database
from edge.services import CheckinRefused, QueueService
from protocol.clock import WIB

log = logging.getLogger(__name__)


@dataclass
class DeviceStatus:
    """Health of each device, shown to staff and on the kiosk (messages in Indonesian)."""

    bus: Bus
    states: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, device: str, ok: bool, message: str) -> None:
        with self.lock:
            changed = self.states.get(device) != (ok, message)
            self.states[device] = (ok, message)
        if changed:
            (log.info if ok else log.warning)("device %s: %s", device, message)
            self.bus.publish({"type": "device", "device": device, "ok": ok, "message": message})

    def snapshot(self) -> dict:
        with self.lock:
            return {k: {"ok": ok, "message": m} for k, (ok, m) in self.states.items()}


class Worker(threading.Thread):
    """A thread that runs the subclass's ``loop()`` until stopped, restarting it after an unexpected error."""

    name_ = "worker"

    def __init__(self, stop: threading.Event):
        super().__init__(name=self.name_, daemon=True)
        self.stop = stop
        self.alive_at = time.monotonic()

    def run(self) -> None:
        backoff = 1.0
        while not self.stop.is_set():
            try:
                self.loop()
                backoff = 1.0
            except Exception:  # a worker must never die: log and restart
                log.exception("%s crashed; restarting in %.0f s", self.name, backoff)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 30)


class PrinterWorker(Worker):
    """Prints pending tickets in order; on a printer fault keeps them pending and retries."""

    name_ = "printer"
    RETRY_S = 5.0
    MAX_ATTEMPTS = 3

    def __init__(self, stop, service: QueueService, status: DeviceStatus, uri: str, profile: str):
        super().__init__(stop)
        self.service = service
        self.status = status
        self.printer = open_printer(uri, profile=profile)
        self.sub = service.bus.subscribe()
        s = self.printer.status()
        status.set("printer", s.ok, s.message)

    def loop(self) -> None:
        while not self.stop.is_set():
            self.alive_at = time.monotonic()
            job = PrintJob.select().where(PrintJob.status == "pending").order_by(PrintJob.id).first()
            if job is None:
                self.sub.get(timeout=1.0)
                continue
            self._print(job)

    def _print(self, job: PrintJob) -> None:
        t = Ticket.get(Ticket.key == job.ticket_key)
        cfg = self.service.config
        layout = TicketLayout(
            puskesmas_name=cfg.puskesmas_name,
            puskesmas_address=cfg.puskesmas_address,
            number=t.label,
            queue_name=self.service.queue_name(t.queue),
            payer="BPJS" if t.payer == "BPJS" else "Umum",
            issued_at=_parse(t.issued_at),
            waiting_ahead=self.service.waiting_ahead(t),
            note=t.note,
        )
        try:
            self.printer.print_ticket(layout)
        except PrinterError as exc:
            job.attempts += 1
            job.error = str(exc)[:200]
            if job.attempts >= self.MAX_ATTEMPTS:
                job.status = "failed"
            job.save()
            self.status.set("printer", False, str(exc))
            self.service.bus.publish({"type": "print-failed", "label": t.label, "message": str(exc)})
            self.stop.wait(self.RETRY_S)
            return
        with database.atomic():
            job.status, job.error = "printed", ""
            job.attempts += 1
            job.save()
        self.status.set("printer", True, "Printer siap")
        self.service.bus.publish({"type": "printed", "label": t.label, "ticket": t.key})


class AnnouncerWorker(Worker):
    """Announces calls one at a time, in order: chime, then the spoken number and room."""

    name_ = "announcer"
    MAX_ATTEMPTS = 3

    def __init__(self, stop, bus: Bus, status: DeviceStatus, uri: str, clips_dir):
        super().__init__(stop)
        self.bus = bus
        self.status = status
        self.audio = open_audio(uri)
        self.announcer = Announcer(ClipLibrary(clips_dir), self.audio)
        self.sub = bus.subscribe()
        ok, msg = self.audio.status()
        status.set("audio", ok, msg)

    def loop(self) -> None:
        while not self.stop.is_set():
            self.alive_at = time.monotonic()
            a = Announcement.select().where(Announcement.status == "pending").order_by(Announcement.id).first()
            if a is None:
                self.sub.get(timeout=1.0)
                continue
            self._announce(a)

    def _announce(self, a: Announcement) -> None:
        phrases = speech.call_phrases(a.label, a.destination)
        try:
            path = self.announcer.announce(phrases, name=f"panggilan-{a.id:06d}-{a.label}")
        except AudioError as exc:
            a.attempts += 1
            a.status = "failed" if a.attempts >= self.MAX_ATTEMPTS else "pending"
            a.save()
            self.status.set("audio", False, str(exc))
            self.stop.wait(2.0)
            return
        a.status, a.path = "done", path or ""
        a.save()
        self.status.set("audio", True, "Suara siap")
        self.bus.publish({"type": "announced", "label": a.label, "destination": a.destination})


class ScannerWorker(Worker):
    """Reads the kiosk's QR scanner and checks each scan in."""

    name_ = "scanner"

    def __init__(self, stop, service: QueueService, status: DeviceStatus, uri: str):
        super().__init__(stop)
        self.service = service
        self.status = status
        self.uri = uri

    def loop(self) -> None:
        backoff = 1.0
        while not self.stop.is_set():
            try:
                scanner = open_scanner(self.uri)
                self.status.set("scanner", True, "Pemindai QR siap")
                scanner.run(self._on_scan, self.stop)
            except ScannerError as exc:
                self.status.set("scanner", False, str(exc))
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 10)

    def _on_scan(self, text: str) -> None:
        self.alive_at = time.monotonic()
        with contextlib.suppress(CheckinRefused):  # already logged and shown on the kiosk by the service
            self.service.check_in(text)


class ClockWatch(Worker):
    """Warns staff when the wall clock is behind the latest time this node has seen.

    A Pi has no battery clock: booted offline it may restore yesterday's time, and the queue
    day would be wrong. The highest time seen is kept in the database; a clock more than
    ``SLACK`` behind it is shown as a device fault until NTP (or staff) sets it right.
    """

    name_ = "clock"
    SLACK = dt.timedelta(minutes=5)
    EVERY_S = 30.0

    def __init__(self, stop, clock, status: DeviceStatus):
        super().__init__(stop)
        self.clock = clock
        self.status = status

    def loop(self) -> None:
        while True:
            self.alive_at = time.monotonic()
            self.check()
            if self.stop.wait(self.EVERY_S):
                return

    def check(self) -> None:
        from edge.sync import get_state, set_state

        if self.clock.simulated:  # training clocks restart at their set time on every start
            return
        now = self.clock.now()
        seen = get_state("clock_seen", "")
        if seen and now < dt.datetime.fromisoformat(seen) - self.SLACK:
            self.status.set(
                "clock",
                False,
                f"Jam perangkat mundur (terakhir {seen[:16].replace('T', ' ')}); periksa jam sebelum melayani",
            )
            return
        with database.atomic():
            set_state("clock_seen", now.isoformat(timespec="seconds"))
        self.status.set("clock", True, "Jam perangkat sesuai")


def _parse(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso).astimezone(WIB)
