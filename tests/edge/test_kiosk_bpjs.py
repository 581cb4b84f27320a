"""The kiosk's "Pasien BPJS" and check-in without a QR, against the fake BPJS over real HTTP.

A patient types her card number or NIK on the kiosk's keypad: an active member gets a B ticket
and reads that her membership is active; an inactive one, one registered elsewhere and an unknown
number are told why and choose Umum or the loket's help; PCare down gives the ticket marked
"verifikasi BPJS tertunda" for the loket, who checks again on the staff page. Today's booking
made with the same number (a Mobile JKN booking) is checked in instead. The number reaches
central in one ``bpjs.checked`` event and nowhere else: not the ticket, the TV's stream, the
scan log or the log.
"""

from __future__ import annotations

import json
import logging
import re

import pytest

from bpjs.fake import FakeBpjs
from central import bpjs_credentials
from edge.app import Runtime, create_app
from edge.config import from_dict
from edge.models import BpjsCheck, Outbox, PrintJob, ScanLog, Ticket
from edge.sync import SyncClient
from edge.web.api import STREAMED, notice
from protocol import events, idents, passwords
from protocol.changes import ReservationChanged, StaffChanged

LAN = {"REMOTE_ADDR": "192.168.10.23"}
PASSWORD = "kata-sandi-loket"
ACTIVE_CARD = "0001234500001"  # Ani Lestari, NIK 3201015708900002, registered at Cibinong
ACTIVE_NIK = "3201015708900002"
INACTIVE_CARD = "0001234500003"  # Siti Rahayu: not active, arrears
ELSEWHERE_CARD = "0001234500005"  # Dewi Kurnia: registered at Puskesmas Ciawi
UNKNOWN_CARD = "0009999999999"
PESERTA = "/pcare-rest/peserta"


@pytest.fixture
def fake():
    with FakeBpjs() as running:
        yield running


def _config(tmp_path, credentials: str):
    return from_dict(
        {
            "node_id": "pkm-test",
            "puskesmas_code": "cibinong",
            "puskesmas_name": "Puskesmas Cibinong",
            "qr_public_keys": {"56475aa75463474c": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="},
            "polis": [
                {"code": "UMUM", "name": "Poli Umum", "prefix": "U"},
                {"code": "GIGI", "name": "Poli Gigi", "prefix": "G"},
            ],
            "data_dir": str(tmp_path / "edge"),
            "kiosk_on_this_device": False,
            "bpjs_credentials": credentials,
        }
    )


@pytest.fixture
def app(tmp_path, fake, monkeypatch):
    from edge import bpjs_check

    monkeypatch.setattr(bpjs_check, "READ_TIMEOUT_S", 0.5)
    path = bpjs_credentials.write_fake(tmp_path / "bpjs.toml", fake.url)
    rt = Runtime(_config(tmp_path, str(path)))
    SyncClient._upsert_staff(
        StaffChanged(
            username="rina", name="Rina", role="petugas_loket", polis="", password_hash=passwords.hash_secret(PASSWORD)
        )
    )
    a = create_app(rt.config, rt)
    yield a
    rt.stop.set()
    rt.db.close()


def token_of(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def _signed_in(app):
    c = app.test_client()
    token = token_of(c.get("/staff/masuk", environ_base=LAN))
    c.post("/staff/masuk", data={"csrf_token": token, "username": "rina", "password": PASSWORD}, environ_base=LAN)
    return c


@pytest.fixture
def kiosk(app):
    c = _signed_in(app)
    token = token_of(c.get("/staff/anjungan", environ_base=LAN))
    assert c.post("/staff/anjungan", data={"csrf_token": token, "name": "APM"}, environ_base=LAN).status_code == 302
    return c


def give(kiosk, number, path="/kiosk/bpjs", **extra):
    token = token_of(kiosk.get(path, environ_base=LAN))
    return kiosk.post(path, data={"csrf_token": token, "nomor": number, **extra}, environ_base=LAN)


def checked_events() -> list[dict]:
    rows = Outbox.select().where(Outbox.type == events.BpjsMembershipChecked.NAME).order_by(Outbox.seq)
    return [json.loads(r.data) for r in rows]


def words(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_home_screen_leads_to_a_keypad_for_the_card_number_or_nik(kiosk):
    home = kiosk.get("/kiosk", environ_base=LAN).text
    assert 'href="/kiosk/bpjs"' in home
    page = kiosk.get("/kiosk/bpjs", environ_base=LAN).text
    assert "nomor kartu BPJS (13 digit) atau NIK (16 digit)" in page
    assert page.count('class="key"') == 10 and 'data-key="clear"' in page and 'data-key="back"' in page
    assert "keypad.js" in page


def test_an_active_member_gets_a_b_ticket_and_is_told_so(app, kiosk, fake, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("peewee").setLevel(logging.INFO)  # as rosma.cli sets it: SQL parameters are not logged
    answer = give(kiosk, "0001 2345 0000 1")
    assert answer.status_code == 200
    text = words(answer.text)
    assert "B001" in text and "Pendaftaran BPJS" in text and "BPJS aktif" in text
    t = Ticket.get()
    assert (t.label, t.payer, t.queue, t.kind) == ("B001", "BPJS", "REG-B", "walkin")
    assert PrintJob.select().count() == 1
    [event] = checked_events()
    assert (event["ticket"], event["kartu"], event["nik"], event["membership"]) == (
        t.key,
        ACTIVE_CARD,
        ACTIVE_NIK,
        "aktif",
    )
    check = BpjsCheck.get()
    assert (check.membership, check.number_hint) == ("aktif", "Kartu •••• 0001")
    # the number is in the event for central and nowhere a screen or a log reaches
    assert ACTIVE_CARD not in caplog.text and ACTIVE_NIK not in caplog.text
    streamed = [notice(m.message)[1] for m in app.extensions["rosma"].bus.since(0, STREAMED)]
    assert streamed and ACTIVE_CARD not in json.dumps(streamed) and ACTIVE_NIK not in json.dumps(streamed)
    ticket = kiosk.get(f"/tiket/{t.key}", environ_base=LAN).text  # the ticket page shown again
    assert ACTIVE_CARD not in ticket and ACTIVE_NIK not in ticket


def test_a_nik_is_checked_as_the_card_it_belongs_to(kiosk):
    text = words(give(kiosk, ACTIVE_NIK).text)
    assert "B001" in text and "BPJS aktif" in text
    [event] = checked_events()
    assert (event["kartu"], event["nik"]) == (ACTIVE_CARD, ACTIVE_NIK)
    assert BpjsCheck.get().number_hint == "NIK •••• 0002"


@pytest.mark.parametrize(
    "number, heading, said",
    [
        pytest.param(INACTIVE_CARD, "BPJS tidak aktif", "Segera urus ke kantor BPJS Kesehatan", id="inactive"),
        pytest.param(ELSEWHERE_CARD, "Terdaftar di FKTP lain", "FKTP lain", id="elsewhere"),
        pytest.param(UNKNOWN_CARD, "Tidak terdaftar di BPJS", "Periksa kembali nomornya", id="unknown"),
    ],
)
def test_a_refused_membership_is_told_first_and_the_patient_chooses(kiosk, number, heading, said):
    answer = give(kiosk, number)
    text = words(answer.text)
    assert heading in text and said in text
    assert "Daftar sebagai Pasien Umum" in text and "Tanya petugas loket BPJS" in text
    assert Ticket.select().count() == 0 and Outbox.select().count() == 0  # nothing yet
    # "Daftar sebagai Pasien Umum" takes an ordinary A ticket
    token = token_of(answer)
    umum = kiosk.post("/kiosk/ambil", data={"csrf_token": token, "payer": "UMUM"}, environ_base=LAN)
    assert "A001" in umum.text and Ticket.get().payer == "UMUM" and checked_events() == []


def test_a_refused_member_may_still_queue_for_the_loket_which_sees_why(app, kiosk, fake):
    give(kiosk, INACTIVE_CARD)
    asked = fake.requests
    kept = give(kiosk, INACTIVE_CARD, lanjut="bpjs")
    text = words(kept.text)
    assert "B001" in text and "perlu diurus" in text
    assert fake.requests == asked  # the day's answer was kept: PCare is not asked twice
    [event] = checked_events()
    assert event["membership"] == "tidak_aktif" and "tunggakan" in event["note"]
    staff = _signed_in(app)
    token = token_of(staff.get("/staff/loket-1", environ_base=LAN))
    staff.post("/staff/loket-1/next", data={"csrf_token": token}, environ_base=LAN)
    page = words(staff.get("/staff/loket-1", environ_base=LAN).text)
    assert "BPJS tidak aktif" in page and "Kartu •••• 0003" in page and INACTIVE_CARD not in page


def test_pcare_down_issues_the_ticket_tertunda_and_the_loket_settles_it(app, kiosk, fake):
    fake.set_fault(PESERTA, "http500")
    text = words(give(kiosk, ACTIVE_CARD).text)
    assert "B001" in text and "Verifikasi BPJS tertunda" in text
    assert checked_events()[0]["membership"] == "tertunda"
    fake.clear_faults()
    staff = _signed_in(app)
    token = token_of(staff.get("/staff/loket-1", environ_base=LAN))
    staff.post("/staff/loket-1/next", data={"csrf_token": token}, environ_base=LAN)
    page = staff.get("/staff/loket-1", environ_base=LAN)
    assert "Verifikasi BPJS tertunda" in words(page.text) and "Periksa ulang" in page.text
    key = Ticket.get().key
    staff.post(f"/staff/loket-1/{key}/bpjs", data={"csrf_token": token_of(page)}, environ_base=LAN)
    page = words(staff.get("/staff/loket-1", environ_base=LAN).text)
    assert "B001: BPJS aktif" in page
    assert [e["membership"] for e in checked_events()] == ["tertunda", "aktif"]
    assert BpjsCheck.get().membership == "aktif"


@pytest.mark.parametrize("fault", ["timeout", "html", "bad_signature", "malformed", "disconnect"])
def test_every_pcare_fault_gives_a_ticket_marked_tertunda(kiosk, fake, fault):
    fake.set_fault(PESERTA, fault, delay=2.0)
    answer = give(kiosk, ACTIVE_CARD)
    assert answer.status_code == 200 and "Verifikasi BPJS tertunda" in words(answer.text)
    assert Ticket.get().label == "B001"


@pytest.mark.parametrize("number", ["", "12345", "00012345000011", "０００１２３４５０００01", "0001234500001<b>"])
def test_a_bad_number_is_refused_in_indonesian_and_changes_nothing(kiosk, fake, number):
    answer = give(kiosk, number)
    assert answer.status_code == 400
    assert "Nomor kartu BPJS harus 13 digit, NIK 16 digit" in answer.text
    assert Ticket.select().count() == 0 and Outbox.select().count() == 0 and fake.requests == 0


def test_without_credentials_the_ticket_says_the_loket_checks(tmp_path):
    rt = Runtime(_config(tmp_path, ""))
    try:
        assert not rt.service.bpjs.configured
        checked = rt.service.bpjs.check(ACTIVE_CARD)
        assert checked.membership == "" and "loket" in checked.message
    finally:
        rt.stop.set()
        rt.db.close()


def _booked(app, rid="JKN0001", numbers=(ACTIVE_NIK, ACTIVE_CARD), poli="UMUM"):
    svc = app.extensions["rosma"].service
    SyncClient._upsert_reservation(
        ReservationChanged(
            rid=rid,
            poli=poli,
            date=svc._now().date().isoformat(),
            slot="08:00-09:00",
            payer="BPJS",
            status="active",
            idents=idents.idents(rid, numbers),
            membership="aktif",
        )
    )


def test_todays_booking_made_with_the_number_is_checked_in_instead(app, kiosk, fake):
    _booked(app)
    text = words(give(kiosk, ACTIVE_NIK).text)
    assert "Reservasi Anda hari ini ditemukan" in text and "U001" in text and "Poli Umum" in text
    t = Ticket.get()
    assert (t.rid, t.kind, t.queue) == ("JKN0001", "reservation", "POLI-UMUM")
    assert fake.requests == 0 and checked_events() == []  # central knows the booking's numbers
    again = give(kiosk, ACTIVE_CARD)
    assert again.status_code == 409 and "sudah dipakai check-in" in again.text


def test_check_in_without_a_qr_takes_a_kode_booking_or_a_number(app, kiosk):
    scan = kiosk.get("/kiosk/scan", environ_base=LAN).text
    assert 'href="/kiosk/kode"' in scan
    page = kiosk.get("/kiosk/kode", environ_base=LAN).text
    assert page.count('class="key key-letter"') == 6  # a kode booking is hexadecimal
    _booked(app, rid="a1b2c3d4e5f60718")
    _booked(app, rid="JKN0002", numbers=(ACTIVE_CARD,), poli="GIGI")
    answer = give(kiosk, "A1B2 C3D4 E5F6 0718", path="/kiosk/kode")
    assert "U001" in words(answer.text)
    answer = give(kiosk, ACTIVE_CARD, path="/kiosk/kode")
    assert "G001" in words(answer.text)
    unknown = give(kiosk, UNKNOWN_CARD, path="/kiosk/kode")
    assert unknown.status_code == 422 and "Tidak ada reservasi hari ini dengan NIK atau nomor kartu" in unknown.text
    assert Ticket.select().count() == 2


def test_a_scanned_card_barcode_issues_a_bpjs_ticket_shown_without_the_membership(app, fake):
    svc = app.extensions["rosma"].service
    t = svc.scan_number(INACTIVE_CARD)
    assert (t.label, t.payer) == ("B001", "BPJS")
    scan = ScanLog.get()
    assert scan.ok and "B001" in scan.message and "aktif" not in scan.message and INACTIVE_CARD not in scan.message
    assert checked_events()[0]["membership"] == "tidak_aktif"


def test_the_kiosk_api_takes_a_bpjs_number_too(app, kiosk, fake):
    token = token_of(kiosk.get("/kiosk", environ_base=LAN))
    headers = {"X-CSRF-Token": token}

    def call(**body):
        return kiosk.post("/api/kiosk/bpjs", json=body, headers=headers, environ_base=LAN)

    bad = call(nomor="123")
    assert bad.status_code == 400 and "13 digit" in bad.json["error"]
    refused = call(nomor=INACTIVE_CARD)
    assert refused.status_code == 409 and refused.json["membership"]["status"] == "tidak_aktif"
    assert "Mobile JKN" in refused.json["membership"]["advice"] and Ticket.select().count() == 0
    kept = call(nomor=INACTIVE_CARD, lanjut="bpjs")
    assert kept.status_code == 201 and kept.json["label"] == "B001"
    assert kept.json["membership"]["status"] == "tidak_aktif"
    ok = call(nomor=ACTIVE_CARD)
    assert ok.status_code == 201 and ok.json["membership"]["label"] == "BPJS aktif"
    assert INACTIVE_CARD not in kept.text and ACTIVE_CARD not in ok.text


def test_the_numbers_of_past_days_are_forgotten_once_central_has_them(app, kiosk):
    give(kiosk, ACTIVE_CARD)
    svc = app.extensions["rosma"].service
    tomorrow = "9999-12-31"
    assert svc.forget_old_numbers(tomorrow) == 0  # not yet delivered to central: kept
    Outbox.update(delivered=True).execute()
    assert svc.forget_old_numbers(tomorrow) == 1
    [event] = checked_events()
    assert (event["kartu"], event["nik"], event["membership"]) == ("", "", "aktif")
    assert BpjsCheck.get().number == "" and BpjsCheck.get().number_hint == "Kartu •••• 0001"
