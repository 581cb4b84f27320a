"""BPJS membership at reservation, against the fake BPJS over real HTTP (started in this process).

An active member books; an inactive one, one registered at another FKTP and an unknown number are
told why and may book as Umum instead; PCare down or too slow books as "tertunda", settled later
by the re-check; the same number is asked of PCare once a day per puskesmas.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import threading

import pytest

from bpjs.fake import FakeBpjs
from central import bpjs_credentials, bpjs_membership, feed, services
from central.app import build
from central.models import BpjsMember, Puskesmas, Reservation
from central.sync import CentralSync
from infra.mqtt import Settings
from infra.mqtt.memory import MemoryBroker
from protocol import base45, qrpass
from tests.central.conftest import ANI, BUDI, register

ACTIVE_CARD = "0001234500001"  # Ani Lestari, registered at Puskesmas Cibinong
INACTIVE_CARD = "0001234500003"  # Siti Rahayu: not active, arrears
LAPSED_CARD = "0001234500004"  # Ahmad Hidayat: not active
ELSEWHERE_CARD = "0001234500005"  # Dewi Kurnia: active, registered at Puskesmas Ciawi
UNKNOWN_CARD = "0009999999999"
PESERTA = "/pcare-rest/peserta"


@pytest.fixture
def fake():
    with FakeBpjs() as running:
        yield running


@pytest.fixture
def bpjs_app(db_config, fake, tmp_path, monkeypatch):
    """The seeded app with the fake's credentials for cibinong and ciawi; short PCare time-outs."""
    monkeypatch.setattr(bpjs_membership, "READ_TIMEOUT_S", 0.5)
    path = bpjs_credentials.write_fake(tmp_path / "bpjs.toml", fake.url)
    application = build(dataclasses.replace(db_config, bpjs_credentials=str(path)))
    application.config["TESTING"] = True
    register(ANI)
    yield application
    bpjs_credentials.bind(None)
    db = application.extensions["rosma.db"]
    if not db.is_closed():
        db.close()


@pytest.fixture
def client(bpjs_app):
    return bpjs_app.test_client()


def _book(client, headers, day, number, payer="BPJS", place="cibinong"):
    body = {"puskesmas": place, "poli": "UMUM", "date": day.isoformat(), "slot": "08:00-09:00", "payer": payer}
    if number is not None:
        body["bpjs_no"] = number
    return client.post("/api/v1/reservations", json=body, headers=headers)


def _form(token, day, number, payer="BPJS"):
    return {
        "csrf_token": token,
        "puskesmas": "cibinong",
        "payer": payer,
        "bpjs_no": number,
        "poli": "UMUM",
        "date": day.isoformat(),
        "slot": "08:00-09:00",
    }


def _text(html: str) -> str:
    """The page's words without tags, as a reader meets them."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_an_active_member_books_and_sees_her_membership_on_the_booking_and_in_her_history(
    client, web_login, visit_date, fake, caplog
):
    token = web_login(client, ANI)
    response = client.post("/reservasi/baru", data=_form(token, visit_date, "0001 2345 00001"))
    assert response.status_code == 302
    page = _text(client.get(response.headers["Location"]).text)
    assert "Kepesertaan BPJS BPJS aktif" in page and "Kepesertaan BPJS Kesehatan aktif." in page
    assert "BPJS aktif" in _text(client.get("/riwayat").text)
    r = Reservation.get()
    assert (r.payer, r.bpjs_status, r.source) == ("BPJS", "aktif", "web") and r.bpjs_checked_at is not None
    assert ACTIVE_CARD not in caplog.text and ANI["nik"] not in caplog.text


def test_an_inactive_member_is_told_why_and_what_to_do_and_books_as_umum_keeping_her_choices(
    client, web_login, visit_date, csrf_from
):
    token = web_login(client, ANI)
    refused = client.post("/reservasi/baru", data=_form(token, visit_date, INACTIVE_CARD))
    assert refused.status_code == 400
    page = _text(refused.text)
    assert "Reservasi dengan BPJS tidak dapat dibuat. Anda dapat memesan sebagai pasien Umum." in page
    assert "BPJS tidak aktif" in page and "keterangan BPJS: TIDAK AKTIF" in page
    assert "tunggakan iuran Rp1.260.000" in page
    assert "Segera urus ke kantor BPJS Kesehatan atau aplikasi Mobile JKN." in page
    assert not Reservation.select().exists()

    offer = re.search(r'<form[^>]*id="ganti-umum".*?</form>', refused.text, re.S).group(0)
    fields = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', offer))
    assert fields["payer"] == "UMUM" and "Pesan sebagai pasien Umum" in offer
    booked = client.post("/reservasi/baru", data=fields)
    assert booked.status_code == 302
    r = Reservation.get()
    assert (r.payer, r.bpjs_no, r.bpjs_status) == ("UMUM", None, "")
    assert (r.poli.code, r.date, r.slot, r.puskesmas.code) == ("UMUM", visit_date, "08:00-09:00", "cibinong")
    assert "Kepesertaan BPJS" not in _text(client.get(booked.headers["Location"]).text)


@pytest.mark.parametrize(
    "number, status, said",
    [
        (ELSEWHERE_CARD, "fktp_lain", "Peserta BPJS aktif, tetapi terdaftar di FKTP lain: PUSKESMAS CIAWI."),
        (UNKNOWN_CARD, "tidak_terdaftar", "Nomor kartu tidak terdaftar sebagai peserta BPJS Kesehatan."),
        ("3201011201000009", "tidak_terdaftar", "NIK tidak terdaftar sebagai peserta BPJS Kesehatan."),
        (LAPSED_CARD, "tidak_aktif", "Kepesertaan BPJS Kesehatan tidak aktif (keterangan BPJS: TIDAK AKTIF)."),
    ],
)
def test_the_api_refuses_a_membership_not_usable_here_and_says_why(
    client, auth_header, visit_date, number, status, said
):
    headers = auth_header(client, ANI)
    response = _book(client, headers, visit_date, number)
    assert response.status_code == 400
    body = response.json
    assert body["bpjs"]["status"] == status and body["bpjs"]["message"] == said
    assert body["bpjs"]["advice"] and body["fields"]["bpjs_no"] == bpjs_membership.FIELD_NOTE[status]
    assert number not in response.text
    umum = _book(client, headers, visit_date, None, payer="UMUM")
    assert umum.status_code == 201 and umum.json["reservation"]["bpjs"] is None


def test_the_api_books_an_active_member_by_card_or_nik_and_returns_the_status(client, auth_header, visit_date):
    headers = auth_header(client, ANI)
    response = _book(client, headers, visit_date, ANI["nik"])
    assert response.status_code == 201
    r = response.json["reservation"]
    assert r["bpjs"] == {
        "status": "aktif",
        "label": "BPJS aktif",
        "message": "Kepesertaan BPJS Kesehatan aktif.",
        "advice": "",
    }
    assert r["bpjs_no"] == "*********0002" and Reservation.get().source == "api"


@pytest.mark.parametrize("fault", ["timeout", "http500", "disconnect"])
def test_pcare_down_books_as_tertunda_and_the_re_check_settles_it_later(
    client, auth_header, web_login, visit_date, fake, fault, caplog
):
    fake.set_fault(PESERTA, fault, delay=5)
    headers = auth_header(client, ANI)
    response = _book(client, headers, visit_date, ACTIVE_CARD)
    assert response.status_code == 201
    r = response.json["reservation"]
    assert r["bpjs"]["status"] == "tertunda" and "kami memeriksanya lagi otomatis" in r["bpjs"]["message"]
    assert not BpjsMember.select().exists()  # a failure is not the day's answer

    assert bpjs_membership.recheck_pending(services.now_wib(), every_s=0) == 0  # still down: still pending
    assert client.get(f"/api/v1/reservations/{r['rid']}", headers=headers).json["reservation"]["bpjs"]["status"] == (
        "tertunda"
    )
    fake.clear_faults()
    assert bpjs_membership.recheck_pending(services.now_wib(), every_s=0) == 1
    again = client.get(f"/api/v1/reservations/{r['rid']}", headers=headers).json["reservation"]
    assert again["bpjs"]["status"] == "aktif"
    web_login(client, ANI)
    assert "BPJS aktif" in _text(client.get("/riwayat").text)
    assert "Kepesertaan BPJS Kesehatan aktif." in _text(client.get(f"/reservasi/{r['rid']}").text)
    assert ACTIVE_CARD not in caplog.text


def test_a_pending_booking_found_inactive_later_tells_the_patient_what_to_do(
    client, web_login, visit_date, fake, monkeypatch
):
    fake.set_fault(PESERTA, "http500")
    token = web_login(client, ANI)
    response = client.post("/reservasi/baru", data=_form(token, visit_date, INACTIVE_CARD))
    assert response.status_code == 302
    detail = response.headers["Location"]
    assert "Verifikasi BPJS tertunda" in _text(client.get(detail).text)
    fake.clear_faults()
    assert bpjs_membership.recheck_pending(services.now_wib(), every_s=0) == 1
    page = _text(client.get(detail).text)
    assert "BPJS tidak aktif" in page and "Segera urus ke kantor BPJS Kesehatan atau aplikasi Mobile JKN." in page
    assert "BPJS tidak aktif" in _text(client.get("/riwayat").text)

    # she books the same visit as Umum: a new QR saying so, and her puskesmas' edge is told
    html = client.get(detail).text
    assert 'id="switch-umum"' in html
    rid = detail.rstrip("/").rsplit("/", 1)[-1]
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    old_qr = Reservation.get(Reservation.rid == rid).qr_text
    published = []
    monkeypatch.setattr(feed, "publish_reservation", lambda r: published.append((r.rid, r.payer)))
    switched = client.post(f"/reservasi/{rid}/umum", data={"csrf_token": token})
    assert switched.status_code == 302
    page = _text(client.get(detail).text)
    assert "Cara bayar diganti ke Umum" in page and "BPJS tidak aktif" not in page
    r = Reservation.get(Reservation.rid == rid)
    assert (r.payer, r.bpjs_no, r.bpjs_status) == ("UMUM", None, "")
    assert r.qr_text != old_qr and _qr_payer(r.qr_text) == "UMUM"
    assert published == [(rid, "UMUM")]  # the edge is told
    again = client.post(f"/reservasi/{rid}/umum", data={"csrf_token": token}, follow_redirects=True)
    assert "sudah dengan cara bayar Umum" in _text(again.text)


def _qr_payer(text: str) -> str:
    """The payer a QR pass names (the pass's JSON between its key id and its signature)."""
    body = base45.decode(text[len(qrpass.PREFIX) :])
    return json.loads(body[9:-64])["payer"]


def test_the_api_switches_a_bpjs_booking_to_umum(client, auth_header, visit_date, fake):
    fake.set_fault(PESERTA, "http500")
    headers = auth_header(client, ANI)
    r = _book(client, headers, visit_date, ACTIVE_CARD).json["reservation"]
    switched = client.post(f"/api/v1/reservations/{r['rid']}/umum", headers=headers)
    assert switched.status_code == 200 and switched.json["reservation"]["payer"] == "UMUM"
    assert switched.json["reservation"]["bpjs"] is None
    assert client.post(f"/api/v1/reservations/{r['rid']}/umum", headers=headers).status_code == 409
    assert client.post("/api/v1/reservations/ffffffffffffffff/umum", headers=headers).status_code == 404


def test_the_sync_worker_re_checks_pending_bookings_by_itself(client, auth_header, visit_date, fake, monkeypatch):
    fake.set_fault(PESERTA, "http500")
    headers = auth_header(client, ANI)
    rid = _book(client, headers, visit_date, ACTIVE_CARD).json["reservation"]["rid"]
    fake.clear_faults()
    settled = threading.Event()
    recheck = bpjs_membership.recheck_pending

    def watched(now, **kwargs):
        count = recheck(now, every_s=0)
        if count:
            settled.set()
        return count

    monkeypatch.setattr(bpjs_membership, "recheck_pending", watched)
    monkeypatch.setattr(CentralSync, "MEMBERSHIP_S", 0.05)
    sync = CentralSync(MemoryBroker().transport(Settings(username="central")))
    sync.start()
    try:
        assert settled.wait(10)
    finally:
        sync.close()
    got = client.get(f"/api/v1/reservations/{rid}", headers=headers).json["reservation"]
    assert got["bpjs"]["status"] == "aktif"


def test_a_number_is_asked_of_pcare_once_a_day_per_puskesmas(client, auth_header, visit_date, fake):
    yesterday = services.now_wib().date() - dt.timedelta(days=1)
    BpjsMember.create(
        number=ACTIVE_CARD, puskesmas=Puskesmas.get(code="cibinong"), day=yesterday, status="tidak_aktif", note="x"
    )
    headers = auth_header(client, ANI)
    first = _book(client, headers, visit_date, ACTIVE_CARD)
    assert first.json["reservation"]["bpjs"]["status"] == "aktif"  # yesterday's answer is not today's
    asked = fake.requests
    rid = first.json["reservation"]["rid"]
    assert client.post(f"/api/v1/reservations/{rid}/cancel", headers=headers).status_code in (200, 204)
    second = _book(client, headers, visit_date, ACTIVE_CARD)
    assert second.status_code == 201 and second.json["reservation"]["bpjs"]["status"] == "aktif"
    register(BUDI)
    third = _book(client, auth_header(client, BUDI), visit_date, ACTIVE_CARD)
    assert third.status_code == 201
    assert fake.requests == asked  # both from the day's cache
    ciawi = _book(client, headers, visit_date, ACTIVE_CARD, place="ciawi")  # another puskesmas asks again
    assert ciawi.status_code == 400 and ciawi.json["bpjs"]["status"] == "fktp_lain"
    assert "terdaftar di FKTP lain: PUSKESMAS CIBINONG" in ciawi.json["bpjs"]["message"]
    assert fake.requests == asked + 1


@pytest.fixture
def plain_client(db_config):
    """The seeded app with no BPJS credentials."""
    application = build(db_config)
    application.config["TESTING"] = True
    register(ANI)
    yield application.test_client()
    application.extensions["rosma.db"].close()


def test_without_credentials_a_bpjs_booking_is_kept_for_the_loket(plain_client, web_login, visit_date):
    token = web_login(plain_client, ANI)
    response = plain_client.post("/reservasi/baru", data=_form(token, visit_date, ACTIVE_CARD))
    assert response.status_code == 302
    page = _text(plain_client.get(response.headers["Location"]).text)
    assert "Kepesertaan BPJS Diperiksa di loket" in page
    assert "Kepesertaan BPJS akan diperiksa petugas di loket pendaftaran." in page
    assert Reservation.get().bpjs_status == ""


def test_checking_many_numbers_is_limited_per_account(client, auth_header, visit_date, fake, monkeypatch):
    monkeypatch.setattr(bpjs_membership, "CHECK_ACCOUNT", dataclasses.replace(bpjs_membership.CHECK_ACCOUNT, allowed=2))
    headers = auth_header(client, ANI)
    for number in (UNKNOWN_CARD, INACTIVE_CARD):
        assert _book(client, headers, visit_date, number).status_code == 400
    asked = fake.requests
    again = _book(client, headers, visit_date, INACTIVE_CARD)  # already in today's cache: not counted
    assert again.status_code == 400 and again.json["bpjs"]["status"] == "tidak_aktif"
    third = _book(client, headers, visit_date, LAPSED_CARD)
    assert third.status_code == 429 and "Terlalu banyak pemeriksaan nomor BPJS" in third.json["error"]
    assert fake.requests == asked
    assert _book(client, headers, visit_date, None, payer="UMUM").status_code == 201


def test_a_pending_booking_cancelled_before_bpjs_answers_is_left_for_the_loket(client, auth_header, visit_date, fake):
    fake.set_fault(PESERTA, "http500")
    headers = auth_header(client, ANI)
    rid = _book(client, headers, visit_date, ACTIVE_CARD).json["reservation"]["rid"]
    client.post(f"/api/v1/reservations/{rid}/cancel", headers=headers)
    fake.clear_faults()
    asked = fake.requests
    assert bpjs_membership.recheck_pending(services.now_wib(), every_s=0) == 0
    got = client.get(f"/api/v1/reservations/{rid}", headers=headers).json["reservation"]
    assert got["bpjs"]["status"] == "" and "Petugas loket memeriksanya" in got["bpjs"]["message"]
    assert fake.requests == asked
