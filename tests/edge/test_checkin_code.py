"""Check-in without a QR at the loket: the kode booking of a reservation for today (a Mobile JKN
booking has no QR; a patient may have lost the phone) queues it at its poli as its QR would."""

from __future__ import annotations

import pytest

from edge import db as edge_db
from edge.models import CheckIn, Outbox, PrintJob, Reservation, Ticket
from edge.services import CheckinRefused
from edge.sync import SyncClient
from protocol import passwords
from protocol.changes import StaffChanged
from protocol.events import Actor, ReservationCheckedIn, TicketIssued
from tests.edge.test_auth import LAN, PASSWORD, post, sign_in
from tests.edge.test_services import DAY, make_service, qr

LOKET = Actor("loket-1", "rina")


@pytest.fixture
def svc(tmp_path):
    s = make_service(tmp_path)
    Reservation.create(rid="K7M3QX9A", poli="UMUM", date=DAY, slot="09:00-10:00", payer="BPJS", status="active")
    yield s
    edge_db.database.close()


def test_a_kode_booking_checks_in_once_as_the_qr_would(svc):
    t = svc.check_in_code(" k7m3-qx9a ", actor=LOKET)
    assert (t.label, t.queue, t.rid, t.payer) == ("U001", "POLI-UMUM", "K7M3QX9A", "BPJS")
    assert [o.type for o in Outbox.select().order_by(Outbox.seq)] == [TicketIssued.NAME, ReservationCheckedIn.NAME]
    assert PrintJob.select().count() == 1
    with pytest.raises(CheckinRefused) as again:
        svc.check_in_code("K7M3QX9A", actor=LOKET)
    assert again.value.code == "again" and "U001" in str(again.value)
    assert Ticket.select().count() == 1 and CheckIn.select().count() == 1


def test_the_code_and_the_qr_of_one_reservation_check_in_once(svc):
    Reservation.create(rid="r1", poli="UMUM", date=DAY, slot="09:00-10:00", payer="BPJS", status="active")
    svc.check_in(qr(rid="r1"))
    with pytest.raises(CheckinRefused) as exc:
        svc.check_in_code("r1", actor=LOKET)
    assert exc.value.code == "again"


@pytest.mark.parametrize(
    "setup, code, refusal",
    [
        pytest.param(None, "", "format", id="empty"),
        pytest.param(None, "K7M3<QX9A>", "format", id="not-a-code"),
        pytest.param(None, "X" * 40, "format", id="too-long"),
        pytest.param(None, "ZZZZZZZZ", "unknown-code", id="unknown"),
        pytest.param(("T0M0RR0W", "2026-11-27", "active"), "T0M0RR0W", "not-today", id="another-day"),
        pytest.param(("BATAL123", DAY, "cancelled"), "BATAL123", "cancelled", id="cancelled"),
    ],
)
def test_a_refused_code_changes_nothing(svc, setup, code, refusal):
    if setup:
        rid, day, status = setup
        Reservation.create(rid=rid, poli="UMUM", date=day, slot="09:00-10:00", payer="UMUM", status=status)
    with pytest.raises(CheckinRefused) as exc:
        svc.check_in_code(code, actor=LOKET)
    assert exc.value.code == refusal
    assert Ticket.select().count() == 0 and Outbox.select().count() == 0 and PrintJob.select().count() == 0


@pytest.fixture
def app(tmp_path):
    from edge.app import Runtime, create_app
    from edge.config import from_dict

    cfg = from_dict(
        {
            "node_id": "pkm-test",
            "puskesmas_code": "cibinong",
            "qr_public_keys": {"56475aa75463474c": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="},
            "polis": [{"code": "UMUM", "name": "Poli Umum", "prefix": "U"}],
            "data_dir": str(tmp_path),
            "kiosk_on_this_device": False,
        }
    )
    rt = Runtime(cfg)
    hashed = passwords.hash_secret(PASSWORD)
    for username, role, polis in (("rina", "petugas_loket", ""), ("kepala", "kepala_puskesmas", "")):
        SyncClient._upsert_staff(
            StaffChanged(username=username, name=username.title(), role=role, polis=polis, password_hash=hashed)
        )
    today = rt.service._now().date().isoformat()
    Reservation.create(rid="K7M3QX9A", poli="UMUM", date=today, slot="08:00-09:00", payer="BPJS", status="active")
    a = create_app(cfg, rt)
    yield a
    rt.stop.set()
    rt.db.close()


def test_the_loket_page_checks_a_kode_booking_in(app):
    client, _r, token = sign_in(app, "rina")
    page = client.get("/staff/loket-1", environ_base=LAN).text
    assert 'id="kode-booking"' in page
    answer = post(client, "/staff/loket-1/checkin", token, kode="k7m3qx9a")
    assert answer.status_code == 302
    page = client.get("/staff/loket-1", environ_base=LAN).text
    assert "Check-in berhasil: nomor antrean U001" in page
    post(client, "/staff/loket-1/checkin", token, kode="K7M3QX9A")
    assert "sudah dipakai check-in" in client.get("/staff/loket-1", environ_base=LAN).text
    assert Ticket.select().count() == 1


def test_only_staff_who_act_at_a_loket_may_check_in(app):
    client, _r, token = sign_in(app, "kepala")
    assert 'id="kode-booking"' not in client.get("/staff/loket-1", environ_base=LAN).text
    assert post(client, "/staff/loket-1/checkin", token, kode="K7M3QX9A").status_code == 403
    rina, _r, token = sign_in(app, "rina")
    assert post(rina, "/staff/poli-UMUM/checkin", token, kode="K7M3QX9A").status_code in (403, 404)
    assert Ticket.select().count() == 0


def test_a_qr_made_for_bpjs_checks_in_as_umum_after_the_patient_switched(svc):
    """Central's feed says the booking is Umum now (the patient switched after BPJS said her
    membership is inactive): her QR, signed while it was BPJS, gives an Umum ticket."""
    Reservation.create(rid="r1", poli="UMUM", date=DAY, slot="09:00-10:00", payer="UMUM", status="active")
    t = svc.check_in(qr(rid="r1"))
    assert t.payer == "UMUM"
    issued = [o for o in Outbox.select() if o.type == TicketIssued.NAME]
    assert '"payer": "UMUM"' in issued[0].data
