"""BPJS walk-ins from the kiosk, on central: the edge's ``bpjs.checked`` event (the number she gave
and PCare's answer) is kept per ticket, the newest check standing; when the loket sends her on to
a poli she is reported to Antrean FKTP (add, then panggil at the poli's call) at a fake BPJS over
real HTTP; the change feed carries a booking's keyed idents and its membership after a re-check.
No card number or NIK reaches a log."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from bpjs import antrean
from bpjs.fake import FakeBpjs
from central import bpjs_credentials, bpjs_membership, bpjs_reports, feed, services
from central import db as central_db
from central.ingest import apply_batch
from central.models import BpjsReport, BpjsWalkin, Change, EdgeEvent, Node, Patient, Poli, Puskesmas, Reservation
from protocol import changes, events, idents
from protocol.events import Actor, BpjsMembershipChecked, TicketCalled, TicketIssued, TicketNoShow, TicketTransferred
from protocol.messages import EventBatch
from tests.central.test_bpjs_reports import at, later, record, rows, service_day, write_credentials

CARD = "0001234500002"  # Budi Santoso at the fake, aktif at Cibinong
NIK = "3201011705900001"  # his NIK
INACTIVE_CARD = "0001234500003"  # Siti Rahayu: not active


@pytest.fixture
def fake():
    with FakeBpjs() as server:
        yield server


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
    yield Node.create(node_id="pkm-cibinong", puskesmas=pkm)
    central_db.database.close()


@pytest.fixture
def logs(caplog):
    """Every log record of central's own code (peewee's debug lines echo SQL parameters; they are off
    in production)."""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="central")
    caplog.set_level(logging.DEBUG, logger="bpjs")
    return caplog


class Stream:
    """One edge database's events, numbered as its outbox numbers them."""

    def __init__(self):
        self.seq = 0

    def rec(self, event: events.Event):
        self.seq += 1
        return record(self.seq, event)

    def walkin(self, ticket: str, label: str, minute: int = 0):
        return self.rec(
            TicketIssued(
                ticket=ticket,
                day=service_day().isoformat(),
                queue="REG-B",
                label=label,
                number=int(label[1:]),
                kind="walkin",
                payer="BPJS",
                at=at(minute),
                actor=events.KIOSK,
            )
        )

    def checked(self, ticket: str, minute: int, kartu: str = CARD, nik: str = "", membership: str = "aktif"):
        return self.rec(
            BpjsMembershipChecked(
                ticket=ticket,
                kartu=kartu,
                nik=nik,
                membership=membership,
                note="Peserta aktif" if membership == "aktif" else "Belum dapat diperiksa",
                at=at(minute),
                actor=events.KIOSK,
            )
        )

    def transfer(self, ticket: str, to: str, label: str, poli: str = "UMUM", minute: int = 3):
        moved = TicketTransferred(ticket=ticket, to_ticket=to, to_poli=poli, at=at(minute), actor=Actor("loket-1"))
        issued = TicketIssued(
            ticket=to,
            day=service_day().isoformat(),
            queue=f"POLI-{poli}",
            label=label,
            number=0,
            kind="transfer",
            payer="BPJS",
            poli=poli,
            parent=ticket,
            at=at(minute),
            actor=Actor("loket-1"),
        )
        return [self.rec(moved), self.rec(issued)]

    def call(self, ticket: str, label: str, minute: int, counter: str = "poli-UMUM"):
        e = TicketCalled(
            ticket=ticket,
            label=label,
            destination="Poli Umum" if counter.startswith("poli") else "Loket 1",
            counter=counter,
            at=at(minute),
            actor=Actor(counter, "staff-7"),
        )
        return self.rec(e)


def batch(*recs):
    flat = []
    for r in recs:
        flat.extend(r if isinstance(r, list) else [r])
    return EventBatch(tuple(flat), "db-1")


def walkin_rows():
    return [(w.ticket_key, w.kartu, w.nik, w.membership) for w in BpjsWalkin.select().order_by(BpjsWalkin.id)]


def test_a_check_is_kept_per_ticket_and_the_newest_stands(node, logs):
    s = Stream()
    apply_batch(node, batch(s.walkin("w1", "B001"), s.checked("w1", 1, kartu="", nik=NIK, membership="tertunda")))
    assert walkin_rows() == [("w1", "", NIK, "tertunda")]
    assert BpjsWalkin.get().checked_at == at(1)
    apply_batch(node, batch(s.checked("w1", 6, kartu=CARD, nik=NIK)))  # staff checked again: PCare answered
    assert walkin_rows() == [("w1", CARD, NIK, "aktif")]
    apply_batch(node, batch(s.checked("w1", 4, kartu=INACTIVE_CARD, membership="tidak_aktif")))  # older, late
    assert walkin_rows() == [("w1", CARD, NIK, "aktif")] and BpjsWalkin.get().checked_at == at(6)
    assert {e.status for e in EdgeEvent.select()} == {"applied"}
    assert CARD not in logs.text and NIK not in logs.text and INACTIVE_CARD not in logs.text
    # the raw event store keeps the checks without their numbers (bpjswalkin holds them)
    for e in EdgeEvent.select().where(EdgeEvent.type == "bpjs.checked"):
        assert CARD not in e.data and NIK not in e.data and INACTIVE_CARD not in e.data
        assert json.loads(e.data)["membership"] in ("tertunda", "aktif", "tidak_aktif")


@pytest.mark.parametrize(
    "kartu, nik",
    [
        ("000123450000", ""),  # 12 digits
        ("00012345000021", ""),  # 14
        ("\u0660" * 13, ""),  # 13 Arabic-Indic digits: not a card number
        ("000123450000x", ""),
        ("", "320101170590000"),  # 15
        ("", "32010117059000012"),  # 17
        (CARD, "320101170590000a"),
    ],
)
def test_a_malformed_number_is_refused_like_any_malformed_event_and_never_logged(node, logs, kartu, nik):
    s = Stream()
    apply_batch(node, batch(s.walkin("w1", "B001"), s.checked("w1", 1, kartu=kartu, nik=nik)))
    row = EdgeEvent.get(EdgeEvent.type == "bpjs.checked")
    assert row.status == "rejected" and row.error
    assert BpjsWalkin.select().count() == 0
    assert json.loads(row.data)["kartu"] == "" and json.loads(row.data)["nik"] == ""
    assert Node.get_by_id(node.id).streams.get().up_seq == 2  # acknowledged: resending would not mend it
    for number in (kartu, nik, CARD):
        if number:
            assert number not in logs.text and number not in row.error
    assert "bpjs.checked" in logs.text  # refused in the log, by its type and seq only


def test_an_unknown_membership_is_refused(node):
    s = Stream()
    apply_batch(node, batch(s.walkin("w1", "B001"), s.checked("w1", 1, membership="mungkin")))
    assert EdgeEvent.get(EdgeEvent.type == "bpjs.checked").status == "rejected"
    assert BpjsWalkin.select().count() == 0


def test_a_walk_in_sent_to_a_poli_and_called_is_reported_add_then_panggil(node, configured, logs):
    fake = configured
    s = Stream()
    apply_batch(node, batch(s.walkin("w1", "B007"), s.checked("w1", 0), s.call("w1", "B007", 2, "loket-1")))
    assert rows() == []  # the loket's call: not reported, she is not at a poli yet
    apply_batch(node, batch(s.transfer("w1", "p1", "B007"), s.call("p1", "B007", 9)))
    key = "pkm-cibinong:w1"
    assert rows() == [("add", key, "pending"), ("panggil", key, "pending")]
    assert bpjs_reports.send_due() == 2
    assert [r["kind"] for r in fake.reported] == ["add", "panggil"]
    add = fake.accepted("add")[0]["body"]
    assert (add["nomorkartu"], add["nik"], add["nohp"]) == (CARD, "", "")
    assert (add["kodepoli"], add["namapoli"], add["tanggalperiksa"]) == ("001", "UMUM", service_day().isoformat())
    assert (add["nomorantrean"], add["angkaantrean"], add["keterangan"]) == ("B007", 7, "")
    assert add["kodedokter"] == 101
    panggil = fake.accepted("panggil")[0]["body"]
    assert (panggil["nomorkartu"], panggil["kodepoli"], panggil["status"]) == (CARD, "001", antrean.HADIR)
    assert panggil["waktu"] == antrean.millis(dt.datetime.fromisoformat(at(9)))
    assert bpjs_reports.send_due(later(60)) == 0
    assert CARD not in logs.text


def test_a_no_show_at_the_poli_is_reported_tidak_hadir(node, configured):
    s = Stream()
    apply_batch(
        node,
        batch(
            s.walkin("w1", "B001"),
            s.checked("w1", 0),
            s.transfer("w1", "p1", "B001", poli="GIGI"),
            s.call("p1", "B001", 5, "poli-GIGI"),
            s.rec(TicketNoShow(ticket="p1", at=at(9))),
        ),
    )
    assert [k for k, _, _ in rows()] == ["add", "panggil", "absen"]
    assert bpjs_reports.send_due() == 3
    assert configured.accepted("add")[0]["body"]["kodepoli"] == "002"
    assert [r["body"]["status"] for r in configured.accepted("panggil")] == [antrean.HADIR, antrean.TIDAK_HADIR]


@pytest.mark.parametrize("membership", ["tidak_aktif", "tidak_terdaftar"])
def test_an_inactive_or_unknown_member_is_not_reported(node, configured, membership):
    s = Stream()
    apply_batch(
        node,
        batch(
            s.walkin("w1", "B001"),
            s.checked("w1", 0, kartu=INACTIVE_CARD, membership=membership),
            s.transfer("w1", "p1", "B001"),
            s.call("p1", "B001", 5),
        ),
    )
    assert rows() == []
    assert bpjs_reports.send_due() == 0 and configured.reported == []


def test_no_number_no_credentials_or_no_check_reports_nothing(node, configured):
    s = Stream()
    apply_batch(
        node,
        batch(
            s.walkin("w1", "B001"),  # no check at all (an older edge)
            s.transfer("w1", "p1", "B001"),
            s.walkin("w2", "B002"),
            s.checked("w2", 1, kartu="", nik="", membership=""),
            s.transfer("w2", "p2", "B002"),
        ),
    )
    assert rows() == []
    bpjs_credentials.bind(None)
    apply_batch(node, batch(s.walkin("w3", "B003"), s.checked("w3", 2), s.transfer("w3", "p3", "B003")))
    assert rows() == []


def test_a_walk_in_who_gave_her_nik_is_reported_with_the_card_number_pcare_gives(node, configured, logs):
    fake = configured
    s = Stream()
    Patient.create(
        nik=NIK, name="Budi Santoso", birth_date="1990-05-17", sex="L", address="Cibinong", phone="+62 812-1111-2222"
    )
    apply_batch(
        node,
        batch(
            s.walkin("w1", "B001"),
            s.checked("w1", 0, kartu="", nik=NIK, membership="tertunda"),  # PCare was down at the kiosk
            s.transfer("w1", "p1", "B001"),
            s.call("p1", "B001", 5),
        ),
    )
    assert json.loads(BpjsReport.get(BpjsReport.kind == "add").payload)["kartu"] == ""
    assert bpjs_reports.send_due() == 2
    add = fake.accepted("add")[0]["body"]
    assert (add["nomorkartu"], add["nik"], add["nohp"]) == (CARD, NIK, "081211112222")  # her account's phone
    assert fake.accepted("panggil")[0]["body"]["nomorkartu"] == CARD
    assert CARD not in logs.text and NIK not in logs.text


def test_a_resent_batch_and_a_second_transfer_double_nothing(node, configured):
    fake = configured
    s = Stream()
    first = batch(s.walkin("w1", "B001"), s.checked("w1", 0), s.transfer("w1", "p1", "B001"), s.call("p1", "B001", 5))
    apply_batch(node, first)
    assert bpjs_reports.send_due() == 2
    apply_batch(node, first)  # the ack was lost: the same batch again
    # the poli sends her on to another poli: a new ticket with the same label, called there
    apply_batch(
        node, batch(s.transfer("p1", "p2", "B001", poli="GIGI", minute=20), s.call("p2", "B001", 25, "poli-GIGI"))
    )
    apply_batch(node, batch(s.rec(TicketNoShow(ticket="p2", at=at(40)))))
    assert [k for k, _, _ in rows()] == ["add", "panggil", "absen"]
    assert {key for _, key, _ in rows()} == {"pkm-cibinong:w1"}
    assert bpjs_reports.send_due(later(60)) == 1
    assert len(fake.accepted("add")) == 1 and len(fake.accepted("panggil")) == 2  # hadir once, then tidak hadir


def test_a_check_after_the_transfer_reports_her_then(node, configured):
    fake = configured
    s = Stream()
    apply_batch(
        node,
        batch(
            s.walkin("w1", "B001"),
            s.checked("w1", 0, kartu=CARD, membership="tertunda"),
            s.transfer("w1", "p1", "B001"),
        ),
    )
    assert [k for k, _, _ in rows()] == ["add"]  # tertunda: reported, BPJS will say if she is not a member
    apply_batch(
        node,
        batch(
            s.walkin("w2", "B002"),
            s.checked("w2", 1, kartu=INACTIVE_CARD, membership="tidak_aktif"),
            s.transfer("w2", "p2", "B002"),
            s.call("p2", "B002", 6),
        ),
    )
    assert [key for _, key, _ in rows()] == ["pkm-cibinong:w1"]
    # the loket checks her again after she paid her arrears: aktif now, and she was called already
    apply_batch(node, batch(s.checked("w2", 8, kartu=INACTIVE_CARD, membership="aktif")))
    assert [(k, key) for k, key, _ in rows()][1:] == [("add", "pkm-cibinong:w2"), ("panggil", "pkm-cibinong:w2")]
    assert bpjs_reports.send_due() == 3
    assert [r["body"]["nomorkartu"] for r in fake.accepted("add")] == [CARD, INACTIVE_CARD]
    assert fake.accepted("panggil")[0]["body"]["nomorkartu"] == INACTIVE_CARD
    apply_batch(node, batch(s.checked("w2", 12, kartu=INACTIVE_CARD, membership="aktif")))  # once more
    assert len(rows()) == 3


def test_the_feed_gives_a_booking_its_idents_and_its_membership_after_a_re_check(node, configured, logs):
    patient = Patient.create(
        nik=NIK, name="Budi Santoso", birth_date="1990-05-17", sex="L", address="Cibinong", phone="081211112222"
    )
    pkm = Puskesmas.get(Puskesmas.code == "cibinong")
    r = Reservation.create(
        rid="rid-1",
        patient=patient,
        puskesmas=pkm,
        poli=Poli.get((Poli.puskesmas == pkm) & (Poli.code == "UMUM")),
        date=service_day(),
        slot="09:00-10:00",
        payer="BPJS",
        bpjs_no=CARD,
        qr_text="x",
        bpjs_status="tertunda",
    )
    change = feed.reservation_change(r)
    assert change.membership == "tertunda"
    assert idents.matches("rid-1", change.idents, NIK) and idents.matches("rid-1", change.idents, CARD)
    assert not idents.matches("rid-1", change.idents, INACTIVE_CARD)
    assert not idents.matches("rid-2", change.idents, NIK)  # keyed per reservation
    assert NIK not in change.idents and CARD not in json.dumps(changes.to_data(change))

    assert bpjs_membership.recheck_pending(services.now_wib(), every_s=0) == 1
    (row,) = Change.select().where((Change.node == node) & (Change.type == "reservation.upsert"))
    sent = changes.from_data(row.type, json.loads(row.data), row.v)
    assert (sent.rid, sent.membership, sent.status) == ("rid-1", "aktif", "active")
    assert idents.matches("rid-1", sent.idents, NIK) and idents.matches("rid-1", sent.idents, CARD)
    assert CARD not in row.data and NIK not in row.data
    assert bpjs_membership.recheck_pending(services.now_wib(), every_s=0) == 0  # settled: nothing sent again
    assert Change.select().count() == 1
    assert CARD not in logs.text and NIK not in logs.text


def test_the_feed_gives_an_umum_booking_its_idents_and_no_membership(node):
    pkm = Puskesmas.get(Puskesmas.code == "cibinong")
    r = Reservation.create(
        rid="rid-m",
        patient=None,
        puskesmas=pkm,
        poli=Poli.get((Poli.puskesmas == pkm) & (Poli.code == "UMUM")),
        date=service_day(),
        slot="09:00-10:00",
        payer="UMUM",
        qr_text="x",
        nik=NIK,
        bpjs_status="aktif",
    )
    change = feed.reservation_change(r)
    assert change.membership == "" and idents.matches("rid-m", change.idents, NIK)
    assert not idents.matches("rid-m", change.idents, CARD)
