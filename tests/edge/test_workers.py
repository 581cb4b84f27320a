"""Device workers on fakes: a printer out of paper or a dead sound card is shown and retried, the
queue goes on, a bad job never blocks the ones behind it, and the watchdog sees a stuck worker."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

import pytest

from devices.audio import FakeAudio
from devices.printer import FakePrinter
from edge import db as edge_db
from edge.bus import Bus
from edge.config import from_dict
from edge.core import speech
from edge.models import Announcement, PrintJob
from edge.notices import Announced, AnnouncementFailed, DeviceChanged, PrintFailed, TicketPrinted
from edge.services import QueueService
from edge.workers import AnnouncerWorker, ClockWatch, DeviceStatus, PrinterWorker, Worker
from protocol.clock import Clock


@pytest.fixture
def env(tmp_path):
    cfg = from_dict(
        {
            "node_id": "pkm-test",
            "puskesmas_code": "cibinong",
            "qr_public_keys": {
                "56475aa75463474c": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
            },  # a key: an edge without one checks nobody in
            "puskesmas_name": "Puskesmas Cibinong",
            "polis": [{"code": "UMUM", "name": "Poli Umum", "prefix": "U"}],
            "data_dir": str(tmp_path),
        }
    )
    edge_db.connect(cfg.db_path)
    bus = Bus()
    svc = QueueService(cfg, bus, Clock("2026-11-26T08:00:00+07:00"))
    stop = threading.Event()
    yield svc, bus, DeviceStatus(bus), stop
    stop.set()
    edge_db.database.close()


def wait_for(sub, pred, timeout=10.0):
    """The next bus message matching ``pred``; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        posted = sub.get(timeout=max(deadline - time.monotonic(), 0.01))
        assert posted is not None, "expected message did not come"
        if pred(posted.message):
            return posted.message


def printer_worker(svc, status, stop, fake: FakePrinter) -> PrinterWorker:
    worker = PrinterWorker(stop, svc, status, "none", "TM-T20II")
    worker.printer = fake
    worker.POLL_S = 0.05
    worker.RETRY_S = 0.05
    return worker


def printer_is(ok: bool):
    return lambda m: isinstance(m, DeviceChanged) and m.device == "printer" and m.ok is ok


def test_printer_out_of_paper_is_shown_and_the_tickets_print_by_themselves_in_order_after_refill(env):
    svc, bus, status, stop = env
    sub = bus.subscribe()
    fake = FakePrinter()
    worker = printer_worker(svc, status, stop, fake)
    fake.trigger_fake_out_of_paper()
    worker.start()
    tickets = [svc.issue_walkin("UMUM") for _ in range(3)]  # the queue goes on whatever the printer does
    ev = wait_for(sub, printer_is(False))
    assert ev.message == "Kertas habis"
    assert fake.printed == []
    fake.trigger_fake_restore()
    for t in tickets:
        wait_for(sub, lambda m, label=t.label: isinstance(m, TicketPrinted) and m.label == label)
    assert [p.number for p in fake.printed] == ["A001", "A002", "A003"]  # in order, none twice
    assert status.snapshot()["printer"] == {"ok": True, "message": "Printer siap"}
    assert [j.status for j in PrintJob.select()] == ["printed"] * 3


@pytest.mark.parametrize(
    "fault, message",
    [
        pytest.param("trigger_fake_out_of_paper", "Kertas habis", id="paper-out"),
        pytest.param("trigger_fake_cover_open", "Tutup printer terbuka", id="cover-open"),
        pytest.param("trigger_fake_offline", "Printer offline", id="offline"),
    ],
)
def test_an_idle_printer_is_watched_so_a_fault_shows_and_clears_without_printing(env, fault, message):
    svc, bus, status, stop = env
    sub = bus.subscribe(DeviceChanged)
    fake = FakePrinter()
    printer_worker(svc, status, stop, fake).start()
    getattr(fake, fault)()
    assert wait_for(sub, printer_is(False), timeout=5).message == message
    fake.trigger_fake_restore()
    assert wait_for(sub, printer_is(True), timeout=5).message == "Printer siap"


def test_an_unplugged_printer_keeps_the_ticket_until_it_is_back(env):
    svc, bus, status, stop = env
    sub = bus.subscribe()
    fake = FakePrinter()
    worker = printer_worker(svc, status, stop, fake)
    fake.trigger_fake_unplugged()
    worker.start()
    t = svc.issue_walkin("BPJS")
    assert wait_for(sub, lambda m: isinstance(m, PrintFailed)).label == t.label
    assert PrintJob.get().status == "pending"
    fake.trigger_fake_restore()
    wait_for(sub, lambda m: isinstance(m, TicketPrinted))
    assert [p.number for p in fake.printed] == ["B001"]


def test_a_ticket_that_cannot_be_printed_is_failed_and_the_next_one_prints(env, caplog):
    svc, bus, status, stop = env
    sub = bus.subscribe()
    fake = FakePrinter()
    PrintJob.create(ticket_key="no-such-ticket", created_at=svc.clock.now().isoformat())
    t = svc.issue_walkin("UMUM")
    printer_worker(svc, status, stop, fake).start()
    failed = wait_for(sub, lambda m: isinstance(m, PrintFailed))
    assert failed.final and "tidak dapat dicetak" in failed.message
    wait_for(sub, lambda m: isinstance(m, TicketPrinted) and m.label == t.label)
    assert [j.status for j in PrintJob.select().order_by(PrintJob.id)] == ["failed", "printed"]
    assert "cannot be printed" in caplog.text


def test_a_ticket_that_waited_too_long_for_the_printer_is_not_printed_any_more(env):
    svc, bus, status, stop = env
    sub = bus.subscribe()
    fake = FakePrinter()
    old = svc.issue_walkin("UMUM")
    PrintJob.update(created_at="2026-11-26T07:00:00.000+07:00").where(PrintJob.ticket_key == old.key).execute()
    new = svc.issue_walkin("UMUM")
    printer_worker(svc, status, stop, fake).start()
    wait_for(sub, lambda m: isinstance(m, TicketPrinted) and m.label == new.label)
    assert [p.number for p in fake.printed] == [new.label]
    assert PrintJob.get(PrintJob.ticket_key == old.key).status == "expired"
    svc.reprint(old.key)  # staff can still print it on request
    wait_for(sub, lambda m: isinstance(m, TicketPrinted) and m.label == old.label)


def announcer(svc, bus, status, stop, tmp_path) -> tuple[AnnouncerWorker, FakeAudio]:
    worker = AnnouncerWorker(stop, bus, status, "none", tmp_path / "clips", svc.clock)
    worker.announcer.audio = fake = FakeAudio()
    worker.RETRY_S = 0.05
    return worker, fake


def test_announcements_are_made_in_order_and_survive_a_dead_sound_card(env, tmp_path):
    svc, bus, status, stop = env
    sub = bus.subscribe()
    worker, fake = announcer(svc, bus, status, stop, tmp_path)
    fake.trigger_fake_dead()
    for _ in range(2):
        svc.issue_walkin("UMUM")
    worker.start()
    svc.call_next("loket-1")
    ev = wait_for(sub, lambda m: isinstance(m, DeviceChanged) and m.device == "audio" and not m.ok, timeout=30)
    assert ev.message
    fake.trigger_fake_alive()
    svc.call_next("loket-2")
    wait_for(sub, lambda m: isinstance(m, Announced) and m.label == "A002", timeout=60)
    assert [name for name, _ in fake.played] == ["panggilan-000001-A001", "panggilan-000002-A002"]
    assert Announcement.select().where(Announcement.status == "done").count() == 2


def test_a_call_that_cannot_be_spoken_is_failed_shown_and_the_next_is_announced(env, tmp_path, caplog):
    svc, bus, status, stop = env
    sub = bus.subscribe()
    worker, fake = announcer(svc, bus, status, stop, tmp_path)
    Announcement.create(ticket_key="k", label="U-001", destination="Poli Umum", created_at=svc.clock.now().isoformat())
    svc.issue_walkin("UMUM")
    worker.start()
    failed = wait_for(sub, lambda m: isinstance(m, AnnouncementFailed))
    assert failed.message == "Panggilan U-001 tidak dapat diumumkan"
    assert status.snapshot()["audio"]["ok"] is False  # staff see it
    svc.call_next("loket-1")
    wait_for(sub, lambda m: isinstance(m, Announced) and m.label == "A001", timeout=60)
    assert [a.status for a in Announcement.select().order_by(Announcement.id)] == ["failed", "done"]
    assert status.snapshot()["audio"]["ok"] is True
    assert "cannot be announced" in caplog.text


def test_after_a_restart_a_call_made_over_a_minute_ago_is_dropped_not_announced_late(env, tmp_path, caplog):
    svc, bus, status, stop = env
    caplog.set_level(logging.WARNING)
    sub = bus.subscribe()
    stale = (svc.clock.now() - dt.timedelta(seconds=90)).isoformat()
    Announcement.create(ticket_key="k", label="A009", destination="Loket 1", created_at=stale)
    svc.issue_walkin("UMUM")
    svc.call_next("loket-1")
    worker, fake = announcer(svc, bus, status, stop, tmp_path)
    worker.start()  # the node came back up
    wait_for(sub, lambda m: isinstance(m, Announced) and m.label == "A001", timeout=60)
    assert [name for name, _ in fake.played] == ["panggilan-000002-A001"]
    assert Announcement.get(Announcement.label == "A009").status == "expired"
    assert "A009 to Loket 1 dropped" in caplog.text


class Stuck(Worker):
    """A worker whose loop blocks without marking itself alive (a wedged driver)."""

    name_ = "stuck"

    def __init__(self, stop, release):
        super().__init__(stop)
        self.release = release

    def loop(self):
        self.release.wait()


def test_the_watchdog_sees_a_worker_that_stopped_looping(env):
    _svc, _bus, _status, stop = env
    release = threading.Event()
    w = Stuck(stop, release)
    w.start()
    assert w.healthy()
    assert not w.healthy(now=time.monotonic() + Worker.STALL_S + 1)  # a minute later, still stuck
    release.set()
    stop.set()
    w.join(5)
    assert not w.healthy()  # not running at all


class WallClock(Clock):
    """The system clock as the edge reads it, set to a chosen time (not a training clock)."""

    def __init__(self, iso: str):
        super().__init__()
        self.at = dt.datetime.fromisoformat(iso)

    def now(self):
        return self.at


def test_a_clock_that_went_back_is_shown_to_staff(env):
    svc, bus, status, stop = env
    ClockWatch(stop, WallClock("2026-11-26T10:00:00+07:00"), status).check()
    assert status.snapshot()["clock"]["ok"] is True
    ClockWatch(stop, WallClock("2026-11-25T18:00:00+07:00"), status).check()  # rebooted offline, old time
    assert status.snapshot()["clock"]["ok"] is False
    assert "Jam perangkat mundur" in status.snapshot()["clock"]["message"]
    ClockWatch(stop, WallClock("2026-11-26T10:02:00+07:00"), status).check()  # NTP set it right
    assert status.snapshot()["clock"]["ok"] is True


def test_a_ticket_the_printer_cannot_render_is_failed_and_the_next_one_prints(env):
    svc, bus, status, stop = env
    sub = bus.subscribe()
    fake = FakePrinter()
    broken = svc.issue_walkin("UMUM")
    good = svc.issue_walkin("UMUM")
    real_print = fake.print_ticket

    def print_ticket(layout):
        if layout.number == broken.label:
            raise ValueError("the profile has no room for this layout")
        real_print(layout)

    fake.print_ticket = print_ticket
    printer_worker(svc, status, stop, fake).start()
    assert wait_for(sub, lambda m: isinstance(m, PrintFailed)).final
    wait_for(sub, lambda m: isinstance(m, TicketPrinted) and m.label == good.label)
    assert [j.status for j in PrintJob.select().order_by(PrintJob.id)] == ["failed", "printed"]


def test_after_prerender_a_call_renders_no_clip(env, tmp_path):
    svc, bus, status, stop = env
    sub = bus.subscribe()
    worker, fake = announcer(svc, bus, status, stop, tmp_path)
    clips = worker.announcer.clips
    destinations = [c["name"] for c in svc.counters()]
    assert worker.prerender(destinations) == 66 + 2  # "poli", "umum"
    assert clips.missing(speech.fixed_phrases(destinations)) == []
    rendered = clips.renders
    for _ in range(2):
        svc.issue_walkin("UMUM")
    worker.start()
    svc.call_next("loket-1")
    t = svc.call_next("poli-UMUM") or svc.call_next("loket-2")
    wait_for(sub, lambda m: isinstance(m, Announced) and m.label == t.label, timeout=60)
    assert len(fake.played) == 2
    assert clips.renders == rendered  # nothing synthesised on the call path
    assert worker.prerender(destinations) == 0  # a restart finds them cached


def test_prerender_with_the_voice_off_renders_nothing(env, tmp_path):
    svc, bus, status, stop = env
    worker = AnnouncerWorker(stop, bus, status, "none", tmp_path / "clips", svc.clock)
    assert worker.prerender(["Loket 1"]) == 0
    assert not (tmp_path / "clips").exists()
