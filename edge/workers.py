"""Supervised worker threads of the edge: printer spooler, announcer, scanner reader, clock watch.

A device fault restarts only its worker (with backoff) and is shown as a device status; the
queue itself never stops. Workers wake on bus messages and also poll their job tables, so a
job written before a crash is still done after the restart. Each worker marks ``alive_at``
every time round its loop; ``Runtime.healthy`` reads it, so a stuck worker stops the systemd
watchdog and the node restarts.

A job that cannot be done for a reason other than the device (a missing ticket, a label the
voice cannot say) is marked failed, logged and shown to staff, and never blocks the jobs
behind it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field

from devices.audio import Announcer, AudioError, ClipLibrary, NullAudio, open_audio
from devices.printer import PrinterError, TicketLayout, open_printer
from devices.scanner import ScannerError, open_scanner
from edge import state
from edge.bus import Bus
from edge.core import speech
from edge.models import Announcement, PrintJob, Ticket, database
from edge.notices import Announced, AnnouncementFailed, DeviceChanged, PrintFailed, PrintQueued, TicketPrinted
from edge.services import CheckinRefused, QueueService
from protocol import idents
from protocol.clock import WIB
from protocol.events import TicketCalled

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
            self.bus.publish(DeviceChanged(device, ok, message))

    def get(self, device: str) -> tuple[bool, str] | None:
        with self.lock:
            return self.states.get(device)

    def snapshot(self) -> dict:
        with self.lock:
            return {k: {"ok": ok, "message": m} for k, (ok, m) in self.states.items()}


class Worker(threading.Thread):
    """A thread that runs the subclass's ``loop()`` until stopped, restarting it after an unexpected error."""

    name_ = "worker"
    # longest a healthy worker goes without marking itself alive (a print or a long
    # announcement may take a few seconds)
    STALL_S = 60.0

    def __init__(self, stop: threading.Event):
        super().__init__(name=self.name_, daemon=True)
        self.stop = stop
        self.alive_at = time.monotonic()

    def beat(self) -> None:
        """Mark the worker alive; called between jobs, so the thread's database connection goes
        back to the pool while it waits for the next one."""
        self.alive_at = time.monotonic()
        release = getattr(database.obj, "release", None)
        if release is not None:
            release()

    def healthy(self, now: float | None = None) -> bool:
        """Alive and looping: for the watchdog."""
        now = time.monotonic() if now is None else now
        return self.is_alive() and now - self.alive_at < self.STALL_S

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
    """Prints pending tickets in order and keeps the printer's state shown.

    While idle it reads the printer's status every ``POLL_S`` (where the transport can), so
    paper out, a cover open or an offline printer shows within seconds, not only at the next
    ticket. On a printer fault tickets stay pending and print by themselves, in order and once
    each, when the printer is ready again; a ticket that waited longer than ``STALE_S`` is not
    printed any more (staff can reprint it from the staff page).
    """

    name_ = "printer"
    POLL_S = 2.0  # status read while idle: a change shows within 5 s
    RETRY_S = 3.0  # retry of a failed print on a transport that cannot report its state
    STALE_S = 30 * 60

    def __init__(self, stop, service: QueueService, status: DeviceStatus, uri: str, profile: str):
        super().__init__(stop)
        self.service = service
        self.status = status
        self.printer = open_printer(uri, profile=profile)
        self.sub = service.bus.subscribe(PrintQueued)
        self.fault = False  # the last print failed on the device
        self._read_status()

    def _read_status(self) -> bool:
        s = self.printer.status()
        self.status.set("printer", s.ok, s.message)
        return s.ok

    def loop(self) -> None:
        last_poll = 0.0
        polls = getattr(self.printer, "can_poll", False)
        while not self.stop.is_set():
            self.beat()
            job = PrintJob.select().where(PrintJob.status == "pending").order_by(PrintJob.id).first()
            if job is None:
                if polls and time.monotonic() - last_poll >= self.POLL_S:
                    self._read_status()
                    last_poll = time.monotonic()
                self.sub.get(timeout=min(self.POLL_S, 1.0))
                continue
            if self.fault:
                # after a failed print, wait until the printer says it is ready again
                if polls and not self._read_status():
                    self._expire_stale()
                    self.stop.wait(self.POLL_S)
                    continue
                if not polls:
                    self.stop.wait(self.RETRY_S)
            self._print(job)

    def _expire_stale(self) -> None:
        limit = (self.service.clock.now() - dt.timedelta(seconds=self.STALE_S)).isoformat()
        for job in PrintJob.select().where((PrintJob.status == "pending") & (PrintJob.created_at < limit)):
            job.status, job.error = "expired", "Terlalu lama menunggu printer"
            job.save()
            log.warning("print job %d for ticket waited over %d min; not printed", job.id, self.STALE_S // 60)

    def _print(self, job: PrintJob) -> None:
        if _parse(job.created_at) < self.service.clock.now() - dt.timedelta(seconds=self.STALE_S):
            job.status, job.error = "expired", "Terlalu lama menunggu printer"
            job.save()
            log.warning("print job %d waited over %d min; not printed", job.id, self.STALE_S // 60)
            return
        t = Ticket.get_or_none(Ticket.key == job.ticket_key)
        try:
            if t is None:
                raise LookupError("no such ticket")
            self.printer.print_ticket(self._layout(t))
        except PrinterError as exc:
            job.attempts += 1
            job.error = str(exc)[:200]
            job.save()
            self.fault = True
            self.status.set("printer", False, str(exc))
            self.service.bus.publish(PrintFailed(t.key, t.label, str(exc)))
            if getattr(self.printer, "can_poll", False):
                self.stop.wait(self.RETRY_S)  # the printer says ready but will not print: do not spin
            return
        except Exception as exc:  # not the printer's fault (no ticket, a layout it cannot render): never printable
            log.exception("print job %d cannot be printed", job.id)
            job.status, job.error = "failed", f"Tiket tidak dapat dicetak: {type(exc).__name__}"[:200]
            job.attempts += 1
            job.save()
            self.service.bus.publish(PrintFailed(job.ticket_key, t.label if t else "", job.error, final=True))
            return
        with database.atomic():
            job.status, job.error = "printed", ""
            job.attempts += 1
            job.printed_at = self.service.clock.now().isoformat(timespec="seconds")
            job.save()
        self.fault = False
        self._read_status() if getattr(self.printer, "can_poll", False) else self.status.set(
            "printer", True, "Printer siap"
        )
        self.service.bus.publish(TicketPrinted(t.key, t.label))

    def _layout(self, t: Ticket) -> TicketLayout:
        site = self.service.site()  # as central's back office keeps it, else the config's
        return TicketLayout(
            puskesmas_name=site["name"],
            puskesmas_address=site["address"],
            number=t.label,
            queue_name=self.service.queue_name(t.queue),
            payer="BPJS" if t.payer == "BPJS" else "Umum",
            issued_at=_parse(t.issued_at),
            waiting_ahead=self.service.waiting_ahead(t),
            estimate=self.service.waiting_estimate(t),
            note=t.note,
            live_url=live_url(self.service.config.central_public_url, t.token),
            priority_class=t.priority_class,
        )


def live_url(central_public_url: str, token: str) -> str:
    """The address of a ticket's live page on central (its QR), or "" when either is unknown (an
    edge not told central's public address, a ticket from before tokens)."""
    if not central_public_url or not token:
        return ""
    return f"{central_public_url.rstrip('/')}/t/{token}"


class AnnouncerWorker(Worker):
    """Announces calls one at a time, in order: chime, then the spoken number and room.

    A call not announced within ``STALE_S`` of being made (the sound card was dead, or the node
    restarted) is dropped and logged rather than announced late to a room that has moved on.
    """

    name_ = "announcer"
    STALE_S = 60.0
    RETRY_S = 2.0

    def __init__(self, stop, bus: Bus, status: DeviceStatus, uri: str, clips_dir, clock):
        super().__init__(stop)
        self.bus = bus
        self.status = status
        self.clock = clock
        self.audio = open_audio(uri)
        self.announcer = Announcer(ClipLibrary(clips_dir), self.audio)
        self.sub = bus.subscribe(TicketCalled)
        ok, msg = self.audio.status()
        status.set("audio", ok, msg)

    PRERENDER_BATCH = 16  # phrases per renderer process while rendering ahead

    def prerender(self, destinations) -> int:
        """Render ahead the clip of every phrase a call can use (ticket numbers up to 999, every
        letter, these destinations), so no call waits for a clip to be synthesised: at start-up,
        in the background. Returns the number of clips rendered; a failure is logged (the call
        path renders a missing clip itself) and stops it."""
        try:
            phrases = speech.fixed_phrases(destinations)
        except ValueError as exc:
            log.error("voice clips not rendered ahead: %s", exc)
            return 0
        if isinstance(self.announcer.audio, NullAudio):
            return 0  # voice off: nothing is ever announced
        clips = self.announcer.clips
        started = time.monotonic()
        before = clips.renders
        try:
            clips.prerender(phrases, batch=self.PRERENDER_BATCH)
            clips.chime()
        except AudioError as exc:
            log.error("voice clips not rendered ahead: %s", exc)
            return clips.renders - before
        log.info(
            "voice clips ready: %d phrases (%d rendered in %.1f s)",
            len(phrases),
            clips.renders - before,
            time.monotonic() - started,
        )
        return clips.renders - before

    def loop(self) -> None:
        while not self.stop.is_set():
            self.beat()
            a = Announcement.select().where(Announcement.status == "pending").order_by(Announcement.id).first()
            if a is None:
                self.sub.get(timeout=1.0)
                continue
            self._announce(a)

    def _announce(self, a: Announcement) -> None:
        age = (self.clock.now() - _parse(a.created_at)).total_seconds()
        if age > self.STALE_S:
            a.status, a.error = "expired", f"tidak diumumkan: {age:.0f} detik terlambat"
            a.save()
            log.warning("call %s to %s dropped: %.0f s old, too late to announce", a.label, a.destination, age)
            return
        try:
            phrases = speech.call_phrases(a.label, a.destination)
        except Exception as exc:  # the job, not the sound card: never retry it, never block the next
            log.error("call %s to %s cannot be announced: %s", a.label, a.destination, exc)
            a.status, a.error = "failed", str(exc)[:200]
            a.save()
            message = f"Panggilan {a.label} tidak dapat diumumkan"
            self.status.set("audio", False, message)
            self.bus.publish(AnnouncementFailed(a.label, message))
            return
        try:
            path = self.announcer.announce(phrases, name=f"panggilan-{a.id:06d}-{a.label}")
        except AudioError as exc:
            a.attempts += 1
            a.save()
            self.status.set("audio", False, str(exc))
            self.stop.wait(self.RETRY_S)
            return
        a.status, a.path, a.error = "done", path or "", ""
        a.attempts += 1
        a.save()
        self.status.set("audio", True, "Suara siap")
        self.bus.publish(Announced(a.label, a.destination))


class _Beating:
    """The stop event as a scanner sees it; each look at it marks the worker alive."""

    def __init__(self, stop: threading.Event, beat):
        self._stop, self._beat = stop, beat

    def is_set(self) -> bool:
        self._beat()
        return self._stop.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        while True:
            self._beat()
            if self._stop.wait(1.0 if timeout is None else min(timeout, 1.0)):
                return True
            if timeout is not None:
                timeout -= 1.0
                if timeout <= 0:
                    return False


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
        watched = _Beating(self.stop, self.beat)
        while not self.stop.is_set():
            self.beat()
            try:
                scanner = open_scanner(self.uri)
                self.status.set("scanner", True, "Pemindai QR siap")
                scanner.run(self._on_scan, watched)
            except ScannerError as exc:
                self.status.set("scanner", False, str(exc))
                watched.wait(backoff)
                backoff = min(backoff * 2, 10)

    def _on_scan(self, text: str) -> None:
        self.beat()
        with contextlib.suppress(CheckinRefused):  # already logged and shown on the kiosk by the service
            number = idents.normalise(text)  # a BPJS card's barcode, or a NIK: not a QR pass
            if number:
                self.service.scan_number(number)
            else:
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
            self.beat()
            self.check()
            if self.stop.wait(self.EVERY_S):
                return

    def check(self) -> None:
        if self.clock.simulated:  # training clocks restart at their set time on every start
            return
        now = self.clock.now()
        seen = state.get(state.CLOCK_SEEN)
        if seen and now < dt.datetime.fromisoformat(seen) - self.SLACK:
            self.status.set(
                "clock",
                False,
                f"Jam perangkat mundur (terakhir {seen[:16].replace('T', ' ')}); periksa jam sebelum melayani",
            )
            return
        with database.atomic():
            state.put(state.CLOCK_SEEN, now.isoformat(timespec="seconds"))
        self.status.set("clock", True, "Jam perangkat sesuai")


def _parse(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso).astimezone(WIB)
