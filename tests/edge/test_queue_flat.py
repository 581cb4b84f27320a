"""The queue asked of SQLite agrees with the pure rules, the shared board never shows a change
late, and a check-in is one transaction (real SQLite files, no network)."""

from __future__ import annotations

import datetime as dt
import random
import time

import pytest

from edge import db as edge_db
from edge import estimates, state
from edge.app import mqtt_settings
from edge.bus import Bus
from edge.config import from_dict
from edge.core import estimate
from edge.core import queue as q
from edge.models import CheckIn, Outbox, PrintJob, ScanLog, Ticket
from edge.services import QueueService
from edge.sync import SyncClient
from edge.workers import DeviceStatus
from infra.mqtt.memory import MemoryBroker
from protocol import changes, events, messages, qrpass
from protocol.changes import PoliChanged, SiteChanged
from protocol.clock import WIB

KEY = qrpass.SigningKey.generate()
DAY = "2026-11-26"
SLOTS = ["07:00-08:00", "08:00-09:00", "08:15-08:30", "09:00-10:00", "10:00-11:00"]


class StoppedClock:
    """A clock that moves only when told (a board cached for the minute stays comparable)."""

    simulated = True

    def __init__(self, start: str):
        self.at = dt.datetime.fromisoformat(start).astimezone(WIB)

    def now(self) -> dt.datetime:
        return self.at

    def today(self) -> dt.date:
        return self.at.date()

    def timestamp(self) -> float:
        return self.at.timestamp()


def make_config(tmp_path):
    return from_dict(
        {
            "node_id": "pkm-test",
            "puskesmas_code": "cibinong",
            "puskesmas_name": "Puskesmas Cibinong",
            "qr_public_keys": {KEY.kid: KEY.public_b64()},
            "polis": [
                {"code": "UMUM", "name": "Poli Umum", "prefix": "U"},
                {"code": "GIGI", "name": "Poli Gigi", "prefix": "G"},
            ],
            "data_dir": str(tmp_path),
        }
    )


@pytest.fixture
def svc(tmp_path):
    cfg = make_config(tmp_path)
    edge_db.connect(cfg.db_path)
    estimates.clear_cache()
    yield QueueService(cfg, Bus(), StoppedClock(f"{DAY}T08:30:00+07:00"))
    edge_db.database.close()


def qr(rid: str, slot: str = "09:00-10:00", poli: str = "UMUM") -> str:
    p = qrpass.Pass(rid, "cibinong", poli, DAY, slot, "BPJS", int(time.time()) + 10 * 86400)
    return qrpass.sign(p, KEY)


def reference(queues) -> list[q.Waiting]:
    """The waiting tickets as the pure core sees them (rows in the order they were written)."""
    rows = Ticket.select().where((Ticket.day == DAY) & Ticket.queue.in_(list(queues)) & (Ticket.state == q.WAITING))
    return [
        q.Waiting(t.key, t.number, t.priority, dt.datetime.fromisoformat(t.sort_time)) for t in rows.order_by(Ticket.id)
    ]


def random_day(svc: QueueService, rng: random.Random, steps: int) -> None:
    """Walk-ins (some priority), reservations on slots (some late), transfers on, calls and
    finishes, with the clock moving in steps that sometimes leave two tickets the same time."""
    rid = 0
    for _ in range(steps):
        svc.clock.at += dt.timedelta(seconds=rng.choice([0, 0, 1, 7, 60, 300]), microseconds=rng.choice([0, 1, 500]))
        r = rng.random()
        if r < 0.35:
            svc.issue_walkin(
                rng.choice(["UMUM", "BPJS"]), priority_class=rng.choice(["", "", "", "lansia", "ibu_hamil"])
            )
        elif r < 0.6:
            rid += 1
            svc.check_in(qr(f"r{rid:04d}", rng.choice(SLOTS), rng.choice(["UMUM", "GIGI"])))
        elif r < 0.75:
            svc.call_next(rng.choice(["loket-1", "loket-2", "poli-UMUM", "poli-GIGI"]))
        else:
            called = list(Ticket.select().where((Ticket.day == DAY) & (Ticket.state == q.CALLED)))
            if called:
                t = rng.choice(called)
                if t.queue in q.REG_QUEUES and rng.random() < 0.7:
                    svc.act(t.key, "transfer", to_poli=rng.choice(["UMUM", "GIGI"]))
                else:
                    svc.act(t.key, "finish")


@pytest.mark.parametrize("seed", range(8))
def test_sql_calling_order_is_the_pure_cores_on_random_days(svc, seed):
    rng = random.Random(seed)
    random_day(svc, rng, 120)
    queues = [*q.REG_QUEUES, "POLI-UMUM", "POLI-GIGI"]
    assert any(t.priority for t in Ticket.select()) and Ticket.select().where(Ticket.kind == "transfer").exists()
    for queue in queues:
        expected = [w.key for w in q.ordered(reference([queue]))]
        assert [t.key for t in svc._waiting_in(DAY, queue)] == expected
        assert svc.board()["queues"][queue]["waiting"] == [Ticket.get(Ticket.key == k).label for k in expected]
    for counter in ("loket-1", "poli-UMUM", "poli-GIGI"):
        c = svc.counter(counter)
        nxt = q.next_to_call(reference(c["queues"]))
        found = svc.next_waiting(DAY, c["queues"])
        assert (found.key if found else None) == (nxt.key if nxt else None)
    # each waiting ticket's place in line and printed estimate, as the pure order gives them
    for t in Ticket.select().where((Ticket.day == DAY) & (Ticket.state == q.WAITING)):
        both = q.REG_QUEUES if t.queue in q.REG_QUEUES else (t.queue,)
        assert svc.waiting_ahead(t) == [w.key for w in q.ordered(reference(both))].index(t.key)
        own = [w.key for w in q.ordered(reference([t.queue]))]
        ranges = estimates.queue_estimates(svc.clock.now().date(), [t.queue], {t.queue: own}, svc.clock.now())
        rng_ = ranges[t.queue]["estimates"][own.index(t.key)] if own.index(t.key) < estimates.MAX_ENTRIES else None
        text = estimate.words(rng_)
        assert svc.waiting_estimate(t) == (f"Perkiraan tunggu: {text.removeprefix('perkiraan ')}" if text else "")


def test_the_calling_order_is_read_from_the_index(svc):
    plan = " ".join(
        row[-1]
        for row in edge_db.database.execute_sql(
            "EXPLAIN QUERY PLAN " + svc._waiting_in(DAY, q.REG_UMUM).sql()[0], svc._waiting_in(DAY, q.REG_UMUM).sql()[1]
        )
    )
    assert "ticket_waiting_order" in plan and "TEMP B-TREE" not in plan


# ---- the shared board --------------------------------------------------------------------
def fresh_and_changed(svc: QueueService, before: dict) -> dict:
    board = svc.board()
    assert board == svc._build_board()  # what a board built now shows
    assert board != before  # the change is on it
    return board


def test_the_board_is_built_once_and_shared_until_something_changes(svc):
    svc.issue_walkin("UMUM")
    first = svc.board()
    assert svc.board() is first
    svc.clock.at += dt.timedelta(minutes=1)  # the estimates move with the clock
    assert svc.board() is not first


def test_a_walk_in_shows_on_the_board(svc):
    before = svc.board()
    svc.issue_walkin("BPJS")
    assert fresh_and_changed(svc, before)["queues"][q.REG_BPJS]["waiting"] == ["B001"]


def test_a_check_in_shows_on_the_board(svc):
    before = svc.board()
    svc.check_in(qr("r1"))
    assert fresh_and_changed(svc, before)["queues"]["POLI-UMUM"]["waiting"] == ["U001"]


def test_a_call_a_finish_and_a_transfer_show_on_the_board(svc):
    svc.issue_walkin("UMUM")
    svc.issue_walkin("UMUM")
    before = svc.board()
    t = svc.call_next("loket-1")
    board = fresh_and_changed(svc, before)
    assert board["counters"] == {"Loket 1": "A001"} and board["queues"][q.REG_UMUM]["waiting"] == ["A002"]
    svc.act(t.key, "transfer", to_poli="GIGI")
    board = fresh_and_changed(svc, board)
    assert board["queues"]["POLI-GIGI"]["waiting"] == ["A001"] and board["counters"] == {}
    t = svc.call_next("loket-1")
    board = svc.board()
    svc.act(t.key, "finish")
    assert fresh_and_changed(svc, board)["counters"] == {}


def test_a_priority_class_and_a_cancel_show_on_the_board(svc):
    t = svc.issue_walkin("UMUM")
    before = svc.board()
    svc.issue_walkin("UMUM", priority_class="lansia")
    board = fresh_and_changed(svc, before)
    assert board["queues"][q.REG_UMUM]["priority"] == {"A002": "lansia"}
    svc.act(t.key, "cancel")
    assert fresh_and_changed(svc, board)["queues"][q.REG_UMUM]["waiting"] == ["A002"]


def central(svc: QueueService, tmp_path, *items) -> None:
    """Central's change batch, applied by the sync client as on a node."""
    cfg = make_config(tmp_path)
    sync = SyncClient(
        cfg, svc.bus, DeviceStatus(svc.bus), MemoryBroker().transport(mqtt_settings(cfg)), board=svc.board
    )
    last = state.change_seq()
    records = tuple(
        messages.ChangeRecord(i, item.NAME, changes.to_data(item)) for i, item in enumerate(items, start=last + 1)
    )
    sync._apply_changes(messages.ChangeBatch(records, last + len(records)))


def test_a_site_change_from_central_shows_on_the_board(svc, tmp_path):
    before = svc.board()
    central(svc, tmp_path, SiteChanged(name="Puskesmas Baru", address="Jl. Baru", lokets=3))
    assert fresh_and_changed(svc, before)["site"] != before["site"]


def test_a_poli_change_from_central_shows_on_the_board(svc, tmp_path):
    before = svc.board()
    central(
        svc,
        tmp_path,
        PoliChanged(code="UMUM", name="Poli Umum", prefix="U", active=True, order=1),
        PoliChanged(code="KIA", name="Poli KIA", prefix="K", active=True, order=2),
    )
    board = fresh_and_changed(svc, before)
    assert board["order"] == [*q.REG_QUEUES, "POLI-UMUM", "POLI-KIA"]
    central(svc, tmp_path, PoliChanged(code="KIA", name="Poli Ibu dan Anak", prefix="K", active=True, order=2))
    assert fresh_and_changed(svc, board)["queues"]["POLI-KIA"]["name"] == "Poli Ibu dan Anak"


def test_a_board_read_inside_a_unit_is_not_kept(svc):
    before = svc.board()
    with pytest.raises(RuntimeError), svc.unit():
        svc.issue_walkin("UMUM")
        assert svc.board()["queues"][q.REG_UMUM]["waiting"] == ["A001"]
        raise RuntimeError("the kiosk page failed")
    assert svc.board() == before == svc._build_board()


# ---- one transaction per check-in -------------------------------------------------------
def statements(svc: QueueService, fn) -> list[str]:
    seen: list[str] = []
    conn = edge_db.database.connection()
    conn.set_trace_callback(seen.append)
    try:
        fn()
    except Exception:  # noqa: BLE001 - a refused scan raises; its statements are what is counted
        pass
    finally:
        conn.set_trace_callback(None)
    return [s.split()[0].upper() for s in seen]


def writes(done: list[str]) -> int:
    """How many committed transactions wrote (each is one fsync of the WAL with synchronous=FULL)."""
    count, wrote = 0, False
    for word in done:
        if word == "BEGIN":
            wrote = False
        elif word in ("INSERT", "UPDATE", "DELETE"):
            wrote = True
        elif word == "COMMIT":
            count += wrote
    return count


def test_a_check_in_is_one_transaction_with_its_scan_log_and_print_job(svc):
    done = statements(svc, lambda: svc.check_in(qr("r1")))
    assert done.count("BEGIN") == 1 and done.count("COMMIT") == 1 and writes(done) == 1
    assert ScanLog.select().count() == 1 and PrintJob.select().count() == 1 and CheckIn.select().count() == 1


def test_a_refused_scan_commits_only_its_scan_log(svc):
    svc.check_in(qr("r1"))
    done = statements(svc, lambda: svc.check_in(qr("r1")))
    assert writes(done) == 1 and "ROLLBACK" in done  # the check-in's transaction was rolled back
    assert [s.code for s in ScanLog.select().order_by(ScanLog.id)] == ["ok", "again"]
    assert PrintJob.select().count() == 1


def test_a_bpjs_card_scan_is_one_transaction(svc):
    done = statements(svc, lambda: svc.scan_number("0001234567890"))
    assert writes(done) == 1  # the walk-in, its membership check and its scan log
    assert ScanLog.select().count() == 1 and PrintJob.select().count() == 1


def test_a_check_in_that_fails_before_its_scan_log_leaves_nothing(svc, monkeypatch):
    def broken(**_fields):
        raise OSError("disk I/O error")

    monkeypatch.setattr(ScanLog, "create", broken)
    posted = svc.bus.subscribe()
    with pytest.raises(OSError):
        svc.check_in(qr("r1"))
    assert not Ticket.select().exists() and not CheckIn.select().exists() and not PrintJob.select().exists()
    assert not Outbox.select().exists() and posted.get(timeout=0) is None
    monkeypatch.undo()
    assert svc.check_in(qr("r1")).label == "U001"  # the pass was not used up


def test_sort_times_are_written_in_wib_with_microseconds(svc):
    svc.clock.at = dt.datetime(2026, 11, 26, 1, 30, tzinfo=dt.UTC)
    t = svc.issue_walkin("UMUM")
    assert Ticket.get(Ticket.key == t.key).sort_time == "2026-11-26T08:30:00.000000+07:00"
    assert events.now_text(svc.clock.now())  # the events keep their own format
