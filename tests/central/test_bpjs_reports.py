"""Antrean FKTP reports from the edges' events to a fake BPJS over real HTTP: what is reported for
which patient, in which order, and that BPJS failing or slow loses nothing and doubles nothing."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bpjs import antrean
from bpjs.fake import FakeBpjs
from central import bpjs_credentials, bpjs_reports
from central import db as central_db
from central.ingest import apply_batch
from central.models import BpjsReport, Node, Patient, Poli, Puskesmas, Reservation
from protocol import events
from protocol.events import Actor, ReservationCheckedIn, TicketCalled, TicketIssued
from protocol.messages import EventBatch, EventRecord

WIB = ZoneInfo("Asia/Jakarta")
CARD = "0001234500002"  # Budi Santoso at the fake, aktif at Cibinong
NIK = "3201011705900001"


def service_day() -> dt.date:
    """Today in WIB, or tomorrow on a Sunday (the fake publishes no schedule on Sundays)."""
    today = dt.datetime.now(WIB).date()
    return today + dt.timedelta(days=1) if today.weekday() == 6 else today


@pytest.fixture
def fake():
    with FakeBpjs() as server:
        yield server


def write_credentials(path, base_url: str):
    """The fake's credentials with a 1 s read time-out (a held-back answer times out quickly)."""
    text = bpjs_credentials.fake_credentials(base_url)
    text = text.replace("[cibinong]\n", "[cibinong]\nread_timeout = 1.0\n").replace(
        "[ciawi]\n", "[ciawi]\nread_timeout = 1.0\n"
    )
    path.write_text(text)
    path.chmod(0o600)
    return path


@pytest.fixture
def configured(tmp_path, fake):
    bpjs_credentials.bind(write_credentials(tmp_path / "bpjs.toml", fake.url))
    yield fake
    bpjs_credentials.bind(None)


@pytest.fixture
def node(db_config):
    central_db.connect(db_config.database_url)
    pkm = Puskesmas.create(code="cibinong", name="Puskesmas Cibinong", address="Cibinong", kecamatan="Cibinong")
    Poli.create(puskesmas=pkm, code="UMUM", name="Poli Umum", prefix="U", slot_quota=10)
    Poli.create(puskesmas=pkm, code="GIGI", name="Poli Gigi", prefix="G", slot_quota=10)
    Poli.create(puskesmas=pkm, code="JIWA", name="Poli Jiwa", prefix="J", slot_quota=10)
    yield Node.create(node_id="pkm-cibinong", puskesmas=pkm)
    central_db.database.close()


def reservation(rid: str, poli: str = "UMUM", payer: str = "BPJS", card: str | None = CARD, **kw) -> Reservation:
    patient = Patient.get_or_none(Patient.nik == NIK) or Patient.create(
        nik=NIK,
        name="Budi Santoso",
        birth_date=dt.date(1990, 5, 17),
        sex="L",
        address="Cibinong",
        phone="+62 812-9876-5432",
    )
    pkm = Puskesmas.get(Puskesmas.code == "cibinong")
    return Reservation.create(
        rid=rid,
        patient=patient,
        puskesmas=pkm,
        poli=Poli.get((Poli.puskesmas == pkm) & (Poli.code == poli)),
        date=service_day(),
        slot="09:00-10:00",
        payer=payer,
        bpjs_no=card,
        qr_text="x",
        **kw,
    )


def at(minute: int) -> str:
    return f"{service_day().isoformat()}T09:{minute:02d}:00.000+07:00"


def record(seq: int, event: events.Event) -> EventRecord:
    return EventRecord(seq, event.NAME, event.at, events.to_data(event), event.VERSION)


def check_in(seq: int, rid: str, ticket: str, label: str, number: int, poli: str = "UMUM", payer: str = "BPJS"):
    issued = TicketIssued(
        ticket=ticket,
        day=service_day().isoformat(),
        queue=f"POLI-{poli}",
        label=label,
        number=number,
        kind="reservation",
        payer=payer,
        poli=poli,
        rid=rid,
        slot="09:00-10:00",
        at=at(1),
        actor=events.KIOSK,
    )
    checked = ReservationCheckedIn(rid=rid, ticket=ticket, label=label, at=at(1), actor=events.KIOSK)
    return [record(seq, issued), record(seq + 1, checked)]


def call(seq: int, ticket: str, label: str, minute: int = 5, recall: bool = False):
    e = TicketCalled(
        ticket=ticket,
        label=label,
        destination="Poli Umum",
        counter="poli-UMUM",
        recall=recall,
        at=at(minute),
        actor=Actor("poli-UMUM", "staff-7"),
    )
    return record(seq, e)


def walkin(seq: int, ticket: str, label: str, payer: str = "BPJS"):
    e = TicketIssued(
        ticket=ticket,
        day=service_day().isoformat(),
        queue="REG-A",
        label=label,
        number=1,
        kind="walkin",
        payer=payer,
        at=at(0),
        actor=events.KIOSK,
    )
    return record(seq, e)


def batch(*recs):
    flat = []
    for r in recs:
        flat.extend(r if isinstance(r, list) else [r])
    return EventBatch(tuple(flat), "db-1")


def later(minutes: float) -> dt.datetime:
    return bpjs_reports.utcnow() + dt.timedelta(minutes=minutes)


def rows():
    return [(r.kind, r.key, r.state) for r in BpjsReport.select().order_by(BpjsReport.id)]


def test_a_bpjs_reservation_checked_in_and_called_is_reported_add_then_panggil(node, configured):
    fake = configured
    reservation("rid-1")
    apply_batch(node, batch(check_in(1, "rid-1", "t1", "U001", 1), call(3, "t1", "U001")))
    assert rows() == [("add", "rid-1", "pending"), ("panggil", "rid-1", "pending")]
    assert bpjs_reports.send_due() == 2
    assert rows() == [("add", "rid-1", "sent"), ("panggil", "rid-1", "sent")]
    assert [r["kind"] for r in fake.reported] == ["add", "panggil"]
    add = fake.accepted("add")[0]["body"]
    assert add["nomorkartu"] == CARD and add["nik"] == NIK and add["nohp"] == "081298765432"
    assert (add["kodepoli"], add["namapoli"], add["tanggalperiksa"]) == ("001", "UMUM", service_day().isoformat())
    assert (add["nomorantrean"], add["angkaantrean"]) == ("U001", 1)
    assert (add["kodedokter"], add["jampraktek"]) == (101, "07:30-14:00")
    panggil = fake.accepted("panggil")[0]["body"]
    assert panggil["status"] == antrean.HADIR and panggil["nomorkartu"] == CARD
    assert panggil["waktu"] == int(dt.datetime.fromisoformat(at(5)).timestamp() * 1000)
    assert bpjs_reports.send_due(later(60)) == 0  # nothing is sent twice


def test_a_reservation_booked_with_a_nik_is_reported_with_the_card_number_pcare_gives(node, configured):
    fake = configured
    reservation("rid-n", card=NIK)  # booked with her NIK instead of the card number
    reservation("rid-u", card="3201011201000009")  # a NIK BPJS does not know
    apply_batch(
        node,
        batch(check_in(1, "rid-n", "t1", "U001", 1), call(3, "t1", "U001"), check_in(4, "rid-u", "t2", "U002", 2)),
    )
    bpjs_reports.send_due()
    add = fake.accepted("add")[0]["body"]
    assert (add["nomorkartu"], add["nik"]) == (CARD, NIK)
    assert fake.accepted("panggil")[0]["body"]["nomorkartu"] == CARD
    unknown = BpjsReport.get(BpjsReport.key == "rid-u")
    assert unknown.state == "failed" and unknown.last_error.startswith("NIK pasien tidak ditemukan sebagai peserta")
    assert "3201011201000009" not in unknown.last_error


def test_a_poli_is_matched_to_the_bpjs_poli_of_its_name(node, configured):
    reservation("rid-g", poli="GIGI")
    apply_batch(node, batch(check_in(1, "rid-g", "t1", "G001", 1, poli="GIGI")))
    bpjs_reports.send_due()
    add = configured.accepted("add")[0]["body"]
    assert (add["kodepoli"], add["namapoli"], add["kodedokter"]) == ("002", "GIGI & MULUT", 201)


def test_a_resent_event_batch_doubles_nothing(node, configured):
    reservation("rid-1")
    recs = batch(check_in(1, "rid-1", "t1", "U001", 1), call(3, "t1", "U001"), call(4, "t1", "U001", 7, recall=True))
    apply_batch(node, recs)
    bpjs_reports.send_due()
    apply_batch(node, recs)  # the ack was lost: the edge sends the same batch again
    apply_batch(node, batch(call(5, "t1", "U001", 9, recall=True)))
    assert bpjs_reports.send_due(later(60)) == 0
    assert [(k, s) for k, _, s in rows()] == [("add", "sent"), ("panggil", "sent")]
    assert len(configured.accepted("add")) == 1 and len(configured.accepted("panggil")) == 1


@pytest.mark.parametrize("fault", ["timeout", "http500", "html", "disconnect", "malformed", "bad_signature"])
def test_each_fault_is_retried_and_the_report_reaches_bpjs_exactly_once(node, configured, fault):
    fake = configured
    reservation("rid-1")
    apply_batch(node, batch(check_in(1, "rid-1", "t1", "U001", 1), call(3, "t1", "U001")))
    fake.set_fault("/antreanfktp/antrean/add", fault, times=1, delay=5)
    assert bpjs_reports.send_due() == 0
    add = BpjsReport.get(BpjsReport.kind == "add")
    assert (add.state, add.attempts) == ("pending", 1)
    assert add.next_at > bpjs_reports.utcnow() + dt.timedelta(seconds=bpjs_reports.BACKOFF_S - 5)
    assert "BPJS" in add.last_error and CARD not in add.last_error
    assert fake.accepted("panggil") == []  # the panggil waits for its add
    assert bpjs_reports.send_due() == 0  # not due yet
    assert bpjs_reports.send_due(later(1)) == 2
    assert rows() == [("add", "rid-1", "sent"), ("panggil", "rid-1", "sent")]
    held = [key for key, value in fake.rules.queue.items() if value["status"] == "hadir"]
    assert len(held) == 1  # one queue number at BPJS, called once
    assert len([r for r in fake.reported if r["kind"] == "add" and r["code"] == 200]) == 1
    if fault in ("timeout", "malformed"):  # BPJS had stored it: the retry is told so, and counts as sent
        assert BpjsReport.get(BpjsReport.kind == "add").last_error == "Sudah tercatat di BPJS sebelumnya."


def test_a_report_claimed_by_a_worker_that_died_mid_request_is_sent_later_once(node, configured):
    fake = configured
    reservation("rid-1")
    apply_batch(node, batch(check_in(1, "rid-1", "t1", "U001", 1)))
    fake.set_fault("/antreanfktp/antrean/add", "timeout", times=1, delay=5)  # BPJS stores it, answers late
    row = BpjsReport.get()
    moment = bpjs_reports.utcnow()
    assert bpjs_reports._claim(row, moment, 60)  # a worker took it ...
    assert bpjs_reports.send_due(moment) == 0  # ... so another leaves it alone
    assert fake.reported == []
    assert bpjs_reports.send_due(moment + dt.timedelta(seconds=61)) == 0  # the lease is over: tried, timed out
    assert bpjs_reports.send_due(later(5)) == 1  # BPJS already holds it: sent, once
    assert BpjsReport.get().state == "sent" and len(fake.accepted("add")) == 1


def test_bpjs_down_for_long_fails_the_report_with_its_reason_and_kirim_ulang_sends_it(node, configured):
    fake = configured
    reservation("rid-1")
    apply_batch(node, batch(check_in(1, "rid-1", "t1", "U001", 1)))
    fake.set_fault("/antreanfktp/antrean/add", "http500")
    moment = bpjs_reports.utcnow()
    delays = []
    for _ in range(bpjs_reports.MAX_ATTEMPTS):
        bpjs_reports.send_due(moment)
        row = BpjsReport.get()
        if row.next_at is not None and row.state == "pending":
            delays.append((row.next_at - moment).total_seconds())
            moment = row.next_at
    row = BpjsReport.get()
    assert (row.state, row.attempts) == ("failed", bpjs_reports.MAX_ATTEMPTS)
    assert row.last_error.startswith("Layanan BPJS Kesehatan sedang mengalami gangguan")
    assert delays[:3] == [30, 60, 120] and max(delays) == bpjs_reports.BACKOFF_CAP_S
    fake.clear_faults()
    assert bpjs_reports.send_due(later(600)) == 0  # failed stays failed until someone acts
    bpjs_reports.resend(row)
    assert bpjs_reports.send_due() == 1
    assert BpjsReport.get().state == "sent" and len(fake.accepted("add")) == 1


def test_a_refusal_fails_at_once_with_the_reason(node, configured):
    reservation("rid-j", poli="JIWA")  # BPJS's reference lists no such poli
    reservation("rid-2", card="0001234500001")
    apply_batch(node, batch(check_in(1, "rid-j", "t1", "J001", 1, poli="JIWA"), check_in(3, "rid-2", "t2", "U001", 1)))
    bpjs_reports.send_due()
    jiwa, other = BpjsReport.select().order_by(BpjsReport.id)
    assert (jiwa.state, jiwa.attempts) == ("failed", 1)
    assert "Poli Jiwa tidak ada dalam referensi poli BPJS" in jiwa.last_error
    assert other.state == "sent"  # another patient's report is not held up


def test_a_rejected_report_keeps_bpjs_words(node, configured):
    reservation("rid-1")
    reservation("rid-2", card="0001234500001")
    # two patients given the same queue number: BPJS refuses the second
    apply_batch(node, batch(check_in(1, "rid-1", "t1", "U001", 1), check_in(3, "rid-2", "t2", "U001", 1)))
    bpjs_reports.send_due()
    first, second = BpjsReport.select().order_by(BpjsReport.id)
    assert first.state == "sent" and second.state == "failed"
    assert "Nomor antrean U001 sudah dipakai peserta lain" in second.last_error


def test_no_show_is_reported_tidak_hadir_and_a_cancel_before_the_call_batal(node, configured):
    fake = configured
    reservation("rid-1")
    reservation("rid-2", card="0001234500001")
    apply_batch(
        node,
        batch(
            check_in(1, "rid-1", "t1", "U001", 1),
            check_in(3, "rid-2", "t2", "U002", 2),
            call(5, "t1", "U001"),
            record(6, events.TicketNoShow(ticket="t1", at=at(9))),
            record(7, events.TicketCancelled(ticket="t2", at=at(9))),
        ),
    )
    assert bpjs_reports.send_due() == 5
    assert sorted(r["kind"] for r in fake.accepted()) == ["add", "add", "batal", "panggil", "panggil"]
    statuses = [r["body"]["status"] for r in fake.accepted("panggil")]
    assert statuses == [antrean.HADIR, antrean.TIDAK_HADIR]
    assert fake.accepted("batal")[0]["body"]["nomorkartu"] == "0001234500001"


def test_nothing_is_reported_for_umum_walk_ins_inactive_members_or_without_credentials(node, configured, tmp_path):
    reservation("rid-u", payer="UMUM", card=None)
    reservation("rid-x", card="0001234500003", bpjs_status="tidak_aktif")
    apply_batch(
        node,
        batch(
            check_in(1, "rid-u", "t1", "U001", 1, payer="UMUM"),
            check_in(3, "rid-x", "t2", "U002", 2),
            walkin(5, "t3", "A001"),  # a BPJS walk-in from the kiosk: no card number yet
            call(6, "t3", "A001"),
        ),
    )
    assert rows() == []
    bpjs_credentials.bind(None)  # BPJS not configured
    reservation("rid-b")
    apply_batch(node, batch(check_in(7, "rid-b", "t4", "U003", 3), call(9, "t4", "U003")))
    assert rows() == []
    assert bpjs_reports.send_due() == 0
