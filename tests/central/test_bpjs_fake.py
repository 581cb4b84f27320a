"""The BPJS clients against ``rosma fake-bpjs`` over real HTTP: every call, fixture and fault."""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.client
import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bpjs import fixtures
from bpjs.antrean import HADIR, TIDAK_HADIR, AntreanBaru, AntreanClient, Dokter, Poli
from bpjs.crypto import authorization, signature
from bpjs.errors import (
    BpjsAuthError,
    BpjsInputError,
    BpjsMalformed,
    BpjsRejected,
    BpjsUnavailable,
)
from bpjs.fake import FakeBpjs
from bpjs.fake_rules import WIB
from bpjs.pcare import ACTIVE, INACTIVE, OTHER_FKTP, UNKNOWN, PcareClient
from bpjs.transport import BpjsTransport

ROOT = Path(__file__).resolve().parents[2]
READ_TIMEOUT = 0.3


@pytest.fixture
def fake():
    with FakeBpjs() as server:
        yield server


@pytest.fixture
def cfg(fake):
    return fixtures.CIBINONG.config(fake.url, read_timeout=READ_TIMEOUT, connect_timeout=1.0)


@pytest.fixture
def pcare(cfg):
    return PcareClient(cfg)


@pytest.fixture
def antrean(cfg):
    return AntreanClient(cfg)


def next_monday() -> dt.date:
    today = dt.datetime.now(WIB).date()
    return today + dt.timedelta(days=7 - today.weekday())


def booking(day: dt.date, card: str = "0001234500001", nik: str = "3201015708900002", number: str = "U-7"):
    return AntreanBaru(
        nomorkartu=card,
        nik=nik,
        kodepoli="001",
        namapoli="UMUM",
        tanggalperiksa=day,
        nomorantrean=number,
        angkaantrean=int(number.split("-")[1]),
        kodedokter=101,
        namadokter="dr. Rina Wulandari",
        jampraktek="07:30-14:00",
    )


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- PCare peserta ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "status"),
    [
        pytest.param("0001234500001", ACTIVE, id="card-active-demo-patient"),
        pytest.param("0001234500002", ACTIVE, id="card-active"),
        pytest.param("0001234500003", INACTIVE, id="card-inactive-arrears"),
        pytest.param("0001234500004", INACTIVE, id="card-inactive-expired"),
        pytest.param("0001234500005", OTHER_FKTP, id="card-registered-at-ciawi"),
        pytest.param(fixtures.UNKNOWN_CARD, UNKNOWN, id="card-unknown"),
        pytest.param("3201015708900002", ACTIVE, id="nik-active-demo-patient"),
        pytest.param("3201016208750003", INACTIVE, id="nik-inactive"),
        pytest.param("3201024511850005", OTHER_FKTP, id="nik-registered-at-ciawi"),
        pytest.param(fixtures.UNKNOWN_NIK, UNKNOWN, id="nik-unknown"),
        pytest.param("0001 2345 0000 1", ACTIVE, id="card-typed-with-spaces"),
        pytest.param("3201.0157.0890.0002", ACTIVE, id="nik-typed-with-dots"),
    ],
)
def test_every_fixture_by_card_and_nik(pcare, number, status):
    assert pcare.peserta(number).status == status


def test_an_active_member_is_told_so_with_her_details(pcare):
    m = pcare.peserta_by_card("0001234500001")
    assert m.active and m.message == "Kepesertaan BPJS Kesehatan aktif."
    assert (m.name, m.nik, m.provider_code) == ("ANI LESTARI", "3201015708900002", "0403P001")
    assert m.class_name == "KELAS III"
    assert m.valid_until == dt.date(2050, 12, 31)


def test_an_inactive_member_sees_the_reason_and_what_to_do(pcare):
    m = pcare.peserta_by_card("0001234500003")
    assert not m.active
    assert "tidak aktif" in m.message and "TIDAK AKTIF" in m.message and "Rp1.260.000" in m.message
    assert "Segera urus ke kantor BPJS Kesehatan atau aplikasi Mobile JKN" in m.advice
    assert "pasien Umum" in m.advice


def test_a_member_of_another_fktp_is_told_where(pcare):
    m = pcare.peserta_by_nik("3201024511850005")
    assert m.status == OTHER_FKTP and "PUSKESMAS CIAWI" in m.message and "Mobile JKN" in m.advice


def test_the_same_member_is_at_home_for_the_other_puskesmas(fake):
    m = PcareClient(fixtures.CIAWI.config(fake.url)).peserta_by_card("0001234500005")
    assert m.status == ACTIVE


def test_unknown_numbers_are_a_result_not_an_error(pcare):
    by_card = pcare.peserta_by_card(fixtures.UNKNOWN_CARD)
    by_nik = pcare.peserta_by_nik(fixtures.UNKNOWN_NIK)
    assert by_card.message == "Nomor kartu tidak terdaftar sebagai peserta BPJS Kesehatan."
    assert by_nik.message == "NIK tidak terdaftar sebagai peserta BPJS Kesehatan."


@pytest.mark.parametrize(
    ("call", "number", "text"),
    [
        pytest.param("peserta", "12345", "13 digit", id="too-short"),
        pytest.param("peserta", "", "16 digit", id="empty"),
        pytest.param("peserta_by_card", "000123450000x", "13 digit", id="card-letter"),
        pytest.param("peserta_by_card", "٠٠٠١٢٣٤٥٠٠٠٠١", "13 digit", id="card-arabic-indic-digits"),
        pytest.param("peserta_by_nik", "0001234500001", "16 digit", id="nik-given-a-card"),
    ],
)
def test_bad_numbers_are_refused_before_anything_is_sent(fake, pcare, call, number, text):
    with pytest.raises(BpjsInputError, match=text):
        getattr(pcare, call)(number)
    assert fake.requests == 0


def test_the_fake_serves_the_noka_and_nik_paths_too(fake, cfg):
    transport = BpjsTransport(cfg, cfg.pcare_url, cfg.pcare_user_key, send_authorization=True)
    for path in ("peserta/noka/0001234500002", "peserta/nik/3201011705900001"):
        env = transport.send("GET", path)
        assert env.code == 200 and transport.decrypt(env)["nama"] == "BUDI SANTOSO"


# --- Antrean FKTP -------------------------------------------------------------------------------


def test_reference_poli_and_doctors(antrean):
    day = next_monday()
    assert Poli("001", "UMUM") in antrean.ref_poli(day)
    assert antrean.ref_dokter("001", day) == [Dokter(101, "dr. Rina Wulandari", "07:30-14:00", 60)]


def test_a_day_without_a_schedule_has_no_poli_and_no_doctors(antrean):
    sunday = next_monday() - dt.timedelta(days=1)
    assert antrean.ref_poli(sunday) == []
    assert antrean.ref_dokter("001", sunday) == []
    assert antrean.ref_dokter("999", next_monday()) == []


def test_add_panggil_batal_are_recorded_as_sent(fake, antrean):
    day = next_monday()
    assert antrean.add(booking(day)).already is False
    antrean.panggil(day, "001", "0001234500001", TIDAK_HADIR, now())
    antrean.batal(day, "001", "0001234500001", "Pasien tidak hadir")
    kinds = [(r["kind"], r["code"]) for r in fake.reported]
    assert kinds == [("add", 200), ("panggil", 200), ("batal", 200)]
    add = fake.reported[0]["body"]
    assert (add["nomorkartu"], add["nomorantrean"], add["angkaantrean"], add["tanggalperiksa"]) == (
        "0001234500001",
        "U-7",
        7,
        day.isoformat(),
    )
    panggil = fake.reported[1]["body"]
    assert panggil["status"] == TIDAK_HADIR and abs(panggil["waktu"] - time.time() * 1000) < 60_000


def test_a_repeated_add_is_held_once_and_the_second_says_already(fake, antrean):
    day = next_monday()
    first, second = antrean.add(booking(day)), antrean.add(booking(day))
    assert (first.already, second.already) == (False, True)
    assert len(fake.accepted("add")) == 1


def test_a_repeated_batal_says_already_and_panggil_may_repeat(fake, antrean):
    day = next_monday()
    antrean.add(booking(day))
    antrean.panggil(day, "001", "0001234500001", TIDAK_HADIR, now())
    antrean.panggil(day, "001", "0001234500001", TIDAK_HADIR, now())
    assert antrean.batal(day, "001", "0001234500001", "tidak hadir").already is False
    assert antrean.batal(day, "001", "0001234500001", "tidak hadir").already is True
    assert [len(fake.accepted(k)) for k in ("add", "panggil", "batal")] == [1, 2, 1]


def test_refusals_come_with_bpjs_reason_in_indonesian(fake, antrean):
    day = next_monday()
    with pytest.raises(BpjsRejected, match="tidak ditemukan") as caught:
        antrean.panggil(day, "001", "0001234500002", HADIR, now())
    assert caught.value.code == 201 and not caught.value.retryable
    antrean.add(booking(day))
    with pytest.raises(BpjsRejected, match="sudah dipakai"):
        antrean.add(booking(day, card="0001234500002", nik="3201011705900001"))
    antrean.panggil(day, "001", "0001234500001", HADIR, now())
    with pytest.raises(BpjsRejected, match="Sudah Dilayani"):
        antrean.batal(day, "001", "0001234500001", "salah input")
    yesterday = dt.datetime.now(WIB).date() - dt.timedelta(days=1)
    with pytest.raises(BpjsRejected, match="sudah lewat"):
        antrean.add(booking(yesterday))


@pytest.mark.parametrize(
    ("change", "text"),
    [
        pytest.param({"nomorkartu": "12", "nik": ""}, "13 digit", id="card"),
        pytest.param({"nomorkartu": "", "nik": ""}, "wajib", id="no-number"),
        pytest.param({"jampraktek": "8-12"}, "JJ:MM", id="hours"),
        pytest.param({"nomorantrean": " "}, "Nomor antrean", id="number"),
        pytest.param({"kodepoli": "00 1"}, "Kode poli", id="poli"),
    ],
)
def test_bad_reports_are_refused_before_anything_is_sent(fake, antrean, change, text):
    with pytest.raises(BpjsInputError, match=text):
        antrean.add(dataclasses.replace(booking(next_monday()), **change))
    assert fake.requests == 0


# --- faults -------------------------------------------------------------------------------------

FAULT_CASES = [
    pytest.param("http500", BpjsUnavailable, "server", "gangguan", id="http500"),
    pytest.param("html", BpjsMalformed, "malformed", "tidak dapat dibaca", id="html-gateway-page"),
    pytest.param("bad_signature", BpjsAuthError, "auth", "menolak akses", id="bad-signature"),
    pytest.param("disconnect", BpjsUnavailable, "unreachable", "tidak dapat dihubungi", id="disconnect"),
    pytest.param("timeout", BpjsUnavailable, "timeout", "tepat waktu", id="timeout"),
    pytest.param("malformed", BpjsMalformed, "malformed", "tidak dapat dibaca", id="malformed-ciphertext"),
    pytest.param("wrong_key", BpjsMalformed, "malformed", "tidak dapat dibaca", id="wrong-key"),
]


@pytest.mark.parametrize(("fault", "error", "kind", "text"), FAULT_CASES)
def test_each_fault_on_peserta_is_a_clear_error_and_the_next_try_works(fake, pcare, fault, error, kind, text):
    fake.set_fault("/pcare-rest/peserta", fault, times=1)
    with pytest.raises(error) as caught:
        pcare.peserta("0001234500001")
    assert caught.value.kind == kind and text in caught.value.message
    assert caught.value.retryable == (kind != "auth")
    assert pcare.peserta("0001234500001").status == ACTIVE


@pytest.mark.parametrize(("fault", "error", "kind", "text"), FAULT_CASES)
def test_each_fault_on_a_reference_list(fake, antrean, fault, error, kind, text):
    fake.set_fault("/antreanfktp/ref", fault, times=1)
    with pytest.raises(error) as caught:
        antrean.ref_dokter("001", next_monday())
    assert caught.value.kind == kind and text in caught.value.message
    assert antrean.ref_dokter("001", next_monday())


@pytest.mark.parametrize(
    ("fault", "error", "held"),
    [
        pytest.param("http500", BpjsUnavailable, 0, id="http500-nothing-done"),
        pytest.param("bad_signature", BpjsAuthError, 0, id="bad-signature-nothing-done"),
        pytest.param("disconnect", BpjsUnavailable, 0, id="disconnect-nothing-done"),
        pytest.param("html", BpjsMalformed, 0, id="html-nothing-done"),
        pytest.param("timeout", BpjsUnavailable, 1, id="timeout-after-bpjs-stored-it"),
        pytest.param("malformed", BpjsMalformed, 1, id="damaged-answer-after-bpjs-stored-it"),
    ],
)
def test_a_report_retried_after_a_fault_is_held_exactly_once(fake, antrean, fault, error, held):
    day = next_monday()
    fake.set_fault("/antreanfktp/antrean/add", fault, times=1)
    with pytest.raises(error):
        antrean.add(booking(day))
    assert len(fake.accepted("add")) == held
    retry = antrean.add(booking(day))
    assert retry.already == bool(held)
    assert len(fake.accepted("add")) == 1


def test_an_unreachable_bpjs(fake):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = PcareClient(fixtures.CIBINONG.config(f"http://127.0.0.1:{port}", connect_timeout=1.0))
    with pytest.raises(BpjsUnavailable) as caught:
        client.peserta("0001234500001")
    assert caught.value.kind == "unreachable" and "tidak dapat dihubungi" in str(caught.value)


# --- the fake's own checks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"secret": "not-the-secret"}, id="wrong-secret"),
        pytest.param({"pcare_user_key": "0" * 32}, id="wrong-user-key"),
        pytest.param({"pcare_password": "salah"}, id="wrong-pcare-password"),
        pytest.param({"app_code": "111"}, id="wrong-app-code"),
        pytest.param({"cons_id": "99999"}, id="unknown-consumer"),
    ],
)
def test_wrong_credentials_are_refused_with_the_401_envelope(fake, change):
    client = PcareClient(fixtures.CIBINONG.config(fake.url, **change))
    with pytest.raises(BpjsAuthError, match="kode 401") as caught:
        client.peserta("0001234500001")
    assert not caught.value.retryable


@pytest.mark.parametrize("skew", [pytest.param(-301, id="clock-5-min-behind"), pytest.param(301, id="ahead")])
def test_a_clock_off_by_more_than_five_minutes_is_refused(fake, cfg, skew):
    transport = BpjsTransport(
        cfg, cfg.pcare_url, cfg.pcare_user_key, send_authorization=True, clock=lambda: time.time() + skew
    )
    with pytest.raises(BpjsAuthError, match="X-timestamp"):
        PcareClient(cfg, transport).peserta("0001234500001")


def test_antrean_accepts_the_pcare_user_key_and_no_authorization_header(fake, cfg):
    transport = BpjsTransport(cfg, cfg.antrean_url, cfg.pcare_user_key, send_authorization=False)
    assert AntreanClient(cfg, transport).ref_poli(next_monday())


def _raw_get(fake, path: str, headers: dict) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    try:
        conn.request("GET", path, headers=headers)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def test_header_names_are_matched_in_any_case_and_missing_ones_are_refused(fake):
    c = fixtures.CIBINONG
    stamp = str(int(time.time()))
    headers = {
        "x-cons-id": c.cons_id,
        "X-TIMESTAMP": stamp,
        "x-Signature": signature(c.cons_id, c.secret, stamp),
        "USER_KEY": c.pcare_user_key,
        "x-authorization": authorization(c.username, c.password),
    }
    ok = _raw_get(fake, "/pcare-rest/peserta/0001234500001", headers)
    assert ok["metaData"] == {"message": "OK", "code": 200} and isinstance(ok["response"], str)
    refused = _raw_get(fake, "/pcare-rest/peserta/0001234500001", {"X-cons-id": c.cons_id})
    assert refused["metaData"]["code"] == 401 and refused["response"] is None


def _control(fake, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_faults_and_reports_over_the_control_endpoint(fake, pcare, antrean):
    assert _control(fake, "POST", "/_fake/faults", {"path": "/pcare-rest/peserta", "fault": "http500"})[0] == 200
    for _ in range(2):
        with pytest.raises(BpjsUnavailable):
            pcare.peserta("0001234500001")
    assert _control(fake, "DELETE", "/_fake/faults")[0] == 200
    assert pcare.peserta("0001234500001").active
    antrean.add(booking(next_monday()))
    status, data = _control(fake, "GET", "/_fake/reported")
    assert status == 200 and [r["kind"] for r in data["reported"]] == ["add"]
    assert _control(fake, "POST", "/_fake/reset")[0] == 200
    assert _control(fake, "GET", "/_fake/reported")[1] == {"reported": []}
    status, data = _control(fake, "POST", "/_fake/faults", {"path": "/pcare-rest", "fault": "fire"})
    assert status == 400 and "unknown fault" in data["error"]


# --- privacy, the command, the docs ---------------------------------------------------------------

PERSONAL = re.compile(r"0001234500001|3201015708900002|0001234500005|3201024511850005")


def test_no_card_number_or_nik_reaches_a_log_or_an_error(fake, pcare, antrean, caplog):
    caplog.set_level(logging.DEBUG)
    errors = []
    pcare.peserta("0001234500001")
    pcare.peserta("3201024511850005")
    for fault in ("timeout", "malformed", "http500", "bad_signature"):
        fake.set_fault("/pcare-rest", fault, times=1)
        with pytest.raises(Exception) as caught:
            pcare.peserta("3201015708900002")
        errors.append(caught.value)
    antrean.add(booking(next_monday()))
    with pytest.raises(BpjsRejected) as caught:
        antrean.batal(next_monday(), "001", "0001234500005", "x")
    errors.append(caught.value)
    assert "*********0001" in caplog.text
    assert not PERSONAL.search(caplog.text)
    for err in errors:
        assert not PERSONAL.search(str(err)) and not PERSONAL.search(err.log_text())


def test_rosma_fake_bpjs_runs_and_answers(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "rosma.cli", "fake-bpjs", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        first = proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)", first)
        assert found, first + proc.stderr.read()
        client = PcareClient(fixtures.CIBINONG.config(found.group(0)))
        assert client.peserta("0001234500003").status == INACTIVE
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_the_readme_and_docs_describe_the_fake():
    assert "rosma fake-bpjs" in (ROOT / "README.md").read_text()
    docs = (ROOT / "docs" / "bpjs.md").read_text()
    for member in fixtures.MEMBERS:
        assert member["noKartu"] in docs and member["noKTP"] in docs
    for fault in ("timeout", "http500", "bad_signature", "malformed", "wrong_key", "html", "disconnect"):
        assert f"`{fault}`" in docs
