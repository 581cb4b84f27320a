"""The edge's queue operations on a real SQLite database (no processes, no network)."""

from __future__ import annotations

import json
import time

import pytest

from edge import db as edge_db
from edge.bus import Bus
from edge.config import from_dict
from edge.models import Announcement, CheckIn, Outbox, PrintJob, Ticket
from edge.services import CheckinRefused, QueueError, QueueService
from protocol import qrpass
from protocol.clock import Clock
from protocol.events import (
    ReservationCheckedIn,
    TicketCancelled,
    TicketDone,
    TicketIssued,
    TicketServing,
    TicketTransferred,
)

KEY = qrpass.SigningKey.generate()
DAY = "2026-11-26"


def make_service(tmp_path, clock_start=f"{DAY}T08:30:00+07:00") -> QueueService:
    cfg = from_dict(
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
    edge_db.connect(cfg.db_path)
    return QueueService(cfg, Bus(), Clock(clock_start))


def qr(rid="r1", date=DAY, slot="09:00-10:00", puskesmas="cibinong", poli="UMUM") -> str:
    return qrpass.sign(qrpass.Pass(rid, puskesmas, poli, date, slot, "BPJS", int(time.time()) + 10 * 86400), KEY)


@pytest.fixture
def svc(tmp_path):
    s = make_service(tmp_path)
    yield s
    edge_db.database.close()


def outbox_types() -> list[str]:
    return [o.type for o in Outbox.select().order_by(Outbox.seq)]


def test_walkins_number_per_queue_and_write_outbox_and_print_job(svc):
    labels = [svc.issue_walkin(p).label for p in ("UMUM", "UMUM", "BPJS", "UMUM")]
    assert labels == ["A001", "A002", "B001", "A003"]
    assert outbox_types() == [TicketIssued.NAME] * 4
    assert PrintJob.select().count() == 4
    assert [o.seq for o in Outbox.select().order_by(Outbox.seq)] == [1, 2, 3, 4]


def test_numbers_survive_a_restart_and_are_never_reused(tmp_path):
    svc = make_service(tmp_path)
    svc.issue_walkin("UMUM")
    svc.issue_walkin("UMUM")
    edge_db.database.close()
    svc = make_service(tmp_path)  # same file, new process state
    assert svc.issue_walkin("UMUM").label == "A003"
    edge_db.database.close()


def test_unknown_payer_is_refused_and_changes_nothing(svc):
    with pytest.raises(QueueError, match="Pasien Umum atau Pasien BPJS"):
        svc.issue_walkin("VIP")
    assert Ticket.select().count() == 0 and Outbox.select().count() == 0


def test_loket_calls_registration_in_arrival_order_across_umum_and_bpjs(svc):
    a1 = svc.issue_walkin("UMUM")
    b1 = svc.issue_walkin("BPJS")
    a2 = svc.issue_walkin("UMUM")
    called = [svc.call_next("loket-1").label for _ in range(3)]
    assert called == [a1.label, b1.label, a2.label]
    assert svc.call_next("loket-2") is None
    assert Announcement.select().count() == 3


def test_priority_patient_is_called_first(svc):
    svc.issue_walkin("UMUM")
    p = svc.issue_walkin("UMUM", priority=True)
    assert svc.call_next("loket-1").label == p.label


def test_a_priority_class_is_recorded_sent_kept_on_transfer_and_shown_on_the_board(svc):
    from edge.models import Outbox as Out

    svc.issue_walkin("UMUM")
    p = svc.issue_walkin("UMUM", priority_class="lansia")
    assert (p.priority, p.priority_class) == (True, "lansia")
    issued = json.loads(Out.select().where(Out.type == TicketIssued.NAME).order_by(Out.seq.desc()).first().data)
    assert (issued["priority"], issued["priority_class"]) == (True, "lansia")
    board = svc.board()["queues"]["REG-A"]
    assert board["waiting"] == ["A002", "A001"] and board["priority"] == {"A002": "lansia"}
    with pytest.raises(QueueError, match="Pilih kelas prioritas"):
        svc.issue_walkin("UMUM", priority_class="vip")
    assert Ticket.select().count() == 2
    assert svc.call_next("loket-1").label == "A002"
    svc.act(p.key, "transfer", to_poli="GIGI")
    moved = Ticket.get((Ticket.queue == "POLI-GIGI") & (Ticket.label == "A002"))
    assert (moved.priority, moved.priority_class) == (True, "lansia")
    last = json.loads(Out.select().where(Out.type == TicketIssued.NAME).order_by(Out.seq.desc()).first().data)
    assert (last["kind"], last["priority_class"]) == ("transfer", "lansia")
    assert svc.board()["queues"]["POLI-GIGI"]["priority"] == {"A002": "lansia"}
    assert [t["priority"] for t in svc.todays_tickets()] == ["Lansia", ""]


def test_a_finished_or_absent_number_leaves_the_counters_but_stays_in_the_last_calls(svc):
    a = svc.issue_walkin("UMUM")
    b = svc.issue_walkin("UMUM")
    c = svc.issue_walkin("BPJS")
    svc.call_next("loket-1")
    svc.call_next("loket-2")
    board = svc.board()
    assert board["counters"] == {"Loket 1": a.label, "Loket 2": b.label}
    svc.act(a.key, "serve")
    assert svc.board()["counters"] == {"Loket 1": a.label, "Loket 2": b.label}  # being served: still shown
    svc.act(a.key, "finish")
    svc.act(b.key, "no_show")
    board = svc.board()
    assert board["counters"] == {}
    assert [(r["label"], r["destination"]) for r in board["recent"]] == [(b.label, "Loket 2"), (a.label, "Loket 1")]
    svc.call_next("loket-1")
    assert svc.board()["counters"] == {"Loket 1": c.label}
    svc.act(c.key, "transfer", to_poli="UMUM")  # sent on to a poli: the loket is free again
    board = svc.board()
    assert board["counters"] == {} and board["recent"][0]["label"] == c.label
    assert set(board) == {"day", "queues", "order", "counters", "recent", "site"}


def test_check_in_goes_to_poli_queue_once(svc):
    t = svc.check_in(qr())
    assert (t.label, t.queue, t.rid) == ("U001", "POLI-UMUM", "r1")
    with pytest.raises(CheckinRefused) as exc:
        svc.check_in(qr())
    assert exc.value.code == "again" and "U001" in str(exc.value)
    assert Ticket.select().count() == 1 and CheckIn.select().count() == 1 and PrintJob.select().count() == 1
    assert outbox_types() == [TicketIssued.NAME, ReservationCheckedIn.NAME]


@pytest.mark.parametrize(
    "text, code",
    [
        pytest.param(qr(puskesmas="ciawi"), "other-puskesmas", id="qr-other-puskesmas"),
        pytest.param(qr(date="2026-11-27"), "not-today", id="qr-other-day"),
        pytest.param(qr(poli="JIWA"), "unknown-poli", id="qr-unknown-poli"),
        pytest.param("RS1:" + "A" * 30, "format", id="qr-garbage"),
    ],
)
def test_refused_check_ins_change_nothing_but_the_scan_log(svc, text, code):
    with pytest.raises(CheckinRefused) as exc:
        svc.check_in(text)
    assert exc.value.code == code
    assert Ticket.select().count() == 0 and Outbox.select().count() == 0 and PrintJob.select().count() == 0


def test_cancelled_reservation_is_refused(svc):
    from edge.models import Reservation

    Reservation.create(rid="r9", poli="UMUM", date=DAY, slot="09:00-10:00", payer="UMUM", status="cancelled")
    with pytest.raises(CheckinRefused) as exc:
        svc.check_in(qr(rid="r9"))
    assert exc.value.code == "cancelled"


def test_reservations_sort_by_slot_and_late_ones_lose_their_slot(tmp_path):
    svc = make_service(tmp_path, clock_start=f"{DAY}T10:10:00+07:00")
    svc.issue_walkin("UMUM")  # registration, not the poli queue
    late = svc.check_in(qr(rid="late", slot="08:00-09:00"))  # over 2 h late: sorts by arrival (10:10)
    on_time = svc.check_in(qr(rid="ontime", slot="10:00-11:00"))  # 10 min after its slot began: keeps 10:00
    assert [svc.call_next("poli-UMUM").label for _ in range(2)] == [on_time.label, late.label]
    edge_db.database.close()


def test_transfer_keeps_the_number_and_queues_at_the_poli(svc):
    a = svc.issue_walkin("BPJS")
    svc.call_next("loket-1")
    svc.act(a.key, "transfer", to_poli="GIGI")
    assert Ticket.get(Ticket.key == a.key).state == "transferred"
    nxt = svc.call_next("poli-GIGI")
    assert nxt.label == a.label and nxt.parent == a.key
    svc.act(nxt.key, "finish")
    types = outbox_types()
    assert types.count(TicketIssued.NAME) == 2 and TicketTransferred.NAME in types and types[-1] == TicketDone.NAME
    done = json.loads(Outbox.select().order_by(Outbox.seq.desc()).get().data)
    assert done["ticket"] == nxt.key


@pytest.mark.parametrize(
    "action",
    [
        pytest.param("finish", id="finish-waiting"),
        pytest.param("recall", id="recall-waiting"),
        pytest.param("no_show", id="noshow-waiting"),
    ],
)
def test_actions_not_allowed_on_a_waiting_ticket(svc, action):
    t = svc.issue_walkin("UMUM")
    with pytest.raises(QueueError, match="status antrean ini menunggu"):
        svc.act(t.key, action)
    assert Ticket.get(Ticket.key == t.key).state == "waiting"


def test_board_shows_numbers_and_rooms_only(svc):
    svc.check_in(qr())
    svc.issue_walkin("UMUM")
    svc.call_next("loket-2")
    b = svc.board()
    assert b["counters"] == {"Loket 2": "A001"}
    assert b["queues"]["POLI-UMUM"]["waiting"] == ["U001"]
    text = json.dumps(b)
    assert "r1" not in text and "BPJS" not in text.replace("Pendaftaran BPJS", "")


def test_serve_and_cancel_reach_the_outbox(svc):
    a = svc.issue_walkin("UMUM")
    b = svc.issue_walkin("UMUM")
    svc.call_next("loket-1")
    svc.act(a.key, "serve")
    svc.act(b.key, "cancel")
    assert outbox_types()[-2:] == [TicketServing.NAME, TicketCancelled.NAME]


def test_only_todays_tickets_are_reprinted(tmp_path):
    yesterday = make_service(tmp_path, clock_start="2026-11-25T09:00:00+07:00").issue_walkin("UMUM")
    edge_db.database.close()
    svc = make_service(tmp_path)  # the next day
    with pytest.raises(QueueError, match="Hanya tiket hari ini"):
        svc.reprint(yesterday.key)
    assert PrintJob.select().count() == 1
    edge_db.database.close()


def test_the_kiosk_api_never_gives_a_priority_number(tmp_path):
    from edge.app import Runtime, create_app

    cfg = make_service(tmp_path).config
    edge_db.database.close()
    rt = Runtime(cfg)
    client = create_app(cfg, rt).test_client()
    for flag in ("false", "0", 1, "true", True):  # priority numbers are given by staff at the loket
        r = client.post("/api/kiosk/walkin", json={"payer": "UMUM", "priority": flag})
        assert r.status_code == 201
    assert Ticket.select().where(Ticket.priority).count() == 0
    rt.db.close()
