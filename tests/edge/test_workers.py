"""Device workers on fakes: a printer out of paper or a dead sound card is shown and retried,
and the queue goes on."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from devices.audio import FakeAudio
from devices.printer import FakePrinter
from edge import db as edge_db
from edge.bus import Bus
from edge.config import from_dict
from edge.models import Announcement, PrintJob
from edge.services import QueueService
from edge.workers import AnnouncerWorker, ClockWatch, DeviceStatus, PrinterWorker
from protocol.clock import Clock


@pytest.fixture
def env(tmp_path):
    cfg = from_dict(
        {
            "node_id": "pkm-test",
            "puskesmas_code": "cibinong",
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


def wait_event(sub, pred, timeout=10.0):
    while True:
        ev = sub.get(timeout=timeout)
        assert ev is not None, "expected event did not come"
        if pred(ev):
            return ev


def test_printer_out_of_paper_is_shown_retried_and_printed_after_refill(env):
    svc, bus, status, stop = env
    sub = bus.subscribe()
    worker = PrinterWorker(stop, svc, status, "none", "TM-T20II")
    worker.printer = fake = FakePrinter()
    worker.RETRY_S = 0.05
    fake.trigger_fake_out_of_paper()
    worker.start()
    t = svc.issue_walkin("UMUM")  # the queue goes on: the ticket exists whatever the printer does
    ev = wait_event(sub, lambda e: e["type"] == "device" and e["device"] == "printer" and not e["ok"])
    assert "Kertas" in ev["message"] and "habis" in ev["message"]
    assert fake.printed == []
    assert status.snapshot()["printer"]["ok"] is False
    fake.trigger_fake_restore()
    wait_event(sub, lambda e: e["type"] == "printed" and e["label"] == t.label)
    assert [p.number for p in fake.printed] == ["A001"]
    assert status.snapshot()["printer"] == {"ok": True, "message": "Printer siap"}
    assert PrintJob.get().status == "printed"


def test_printer_gives_up_after_three_tries_and_staff_can_reprint(env):
    svc, bus, status, stop = env
    sub = bus.subscribe()
    worker = PrinterWorker(stop, svc, status, "none", "TM-T20II")
    worker.printer = fake = FakePrinter()
    worker.RETRY_S = 0.01
    fake.trigger_fake_unplugged()
    worker.start()
    t = svc.issue_walkin("BPJS")
    for _ in range(3):
        wait_event(sub, lambda e: e["type"] == "print-failed")
    job = PrintJob.get()
    assert job.status == "failed" and job.attempts == 3
    fake.trigger_fake_restore()
    svc.reprint(t.key)
    wait_event(sub, lambda e: e["type"] == "printed")
    assert [p.number for p in fake.printed] == ["B001"]


def test_announcements_are_made_in_order_and_survive_a_dead_sound_card(env, tmp_path):
    svc, bus, status, stop = env
    sub = bus.subscribe()
    worker = AnnouncerWorker(stop, bus, status, "none", tmp_path / "clips")
    worker.announcer.audio = fake = FakeAudio()
    fake.trigger_fake_dead()
    for _ in range(2):
        svc.issue_walkin("UMUM")
    worker.start()
    svc.call_next("loket-1")
    ev = wait_event(sub, lambda e: e["type"] == "device" and e["device"] == "audio" and not e["ok"], timeout=30)
    assert ev["message"]
    fake.trigger_fake_alive()
    svc.call_next("loket-2")
    wait_event(sub, lambda e: e["type"] == "announced" and e["label"] == "A002", timeout=60)
    assert [name for name, _ in fake.played] == ["panggilan-000001-A001", "panggilan-000002-A002"]
    assert Announcement.select().where(Announcement.status == "done").count() == 2


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
