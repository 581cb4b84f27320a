"""The Mobile JKN web service as BPJS calls it: token, status, ambil, sisa, batal, pasien baru, over
real HTTP (the app under waitress) on SQLite and PostgreSQL; every refusal is the contract's
envelope (HTTP 200, metadata code 201), never a 500 or an HTML page."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import socket
from urllib.parse import urlsplit

import pytest

from central import feed, mobilejkn, services
from central.app import build
from central.mobilejkn import check as check_accounts
from central.models import Change, Holiday, MobileJknToken, Node, Poli, Puskesmas, Reservation, Visit
from protocol import idents
from tests.central.conftest import register

USER = "bpjs-cibinong"
PASSWORD = "rahasia-mobile-jkn-2026"
CARD = "0001234500002"
NIK = "3201011705900001"
OTHER_NIK = "3201016208750003"
OTHER_CARD = "0001234500003"


def write_accounts(path, mode=0o600, text=None) -> str:
    text = text or f'[cibinong]\nusername = "{USER}"\npassword = "{PASSWORD}"\n'
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return str(path)


def make_app(db_config, tmp_path, text=None, **overrides):
    accounts = write_accounts(tmp_path / "mobilejkn.toml", text=text)
    app = build(dataclasses.replace(db_config, mobilejkn_accounts=accounts, **overrides))
    app.config["TESTING"] = True
    return app


@pytest.fixture
def mjkn_app(db_config, tmp_path):
    app = make_app(db_config, tmp_path)
    yield app
    if not app.extensions["rosma.db"].is_closed():
        app.extensions["rosma.db"].close()


@pytest.fixture
def node(mjkn_app):
    """Cibinong's edge, so the change feed has someone to tell."""
    return Node.create(node_id="pkm-cibinong", puskesmas=Puskesmas.get(Puskesmas.code == "cibinong"))


class Bpjs:
    """BPJS's side: calls the web service over HTTP the way Mobile JKN does."""

    def __init__(self, base: str, puskesmas: str = "cibinong"):
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port
        self.prefix = f"/api/mobilejkn/{puskesmas}"
        self.token = ""

    def call(self, method: str, path: str, body=None, headers: dict | None = None, raw: bytes | None = None):
        sent = dict(headers if headers is not None else {"x-token": self.token, "x-username": USER})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        if data:
            sent.setdefault("Content-Type", "application/json")
        sent.update({"Host": f"{self.host}:{self.port}", "Content-Length": str(len(data)), "Connection": "close"})
        head = f"{method} {self.prefix}{path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in sent.items())
        # read to the end: the server has closed its side when the answer ends (no socket left behind)
        with socket.create_connection((self.host, self.port), timeout=10) as conn:
            conn.sendall(head.encode() + b"\r\n" + data)
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        status_line, _, rest = b"".join(chunks).partition(b"\r\n")
        header_text, _, text = rest.partition(b"\r\n\r\n")
        assert status_line.split()[1] == b"200", (status_line, text)
        assert b"content-type: application/json" in header_text.lower(), header_text
        return json.loads(text)

    def login(self, username: str = USER, password: str = PASSWORD):
        answer = self.call("GET", "/auth", headers={"x-username": username, "x-password": password})
        if answer["metadata"]["code"] == 200:
            self.token = answer["response"]["token"]
        return answer


@pytest.fixture
def bpjs(mjkn_app, serve, node):
    client = Bpjs(serve(mjkn_app))
    assert client.login()["metadata"] == {"message": "Ok", "code": 200}
    return client


@pytest.fixture
def day(mjkn_app):
    """An open day in the booking window that is not today (no slot is over yet)."""
    return services.booking_window(7)[1].isoformat()


def booking(day: str, **extra) -> dict:
    body = {
        "nomorkartu": CARD,
        "nik": NIK,
        "nohp": "081298765432",
        "kodepoli": "001",
        "norm": "",
        "tanggalperiksa": day,
        "keluhan": "demam",
        "kodedokter": 1,
        "jampraktek": "08:00-12:00",
    }
    body.update(extra)
    return body


def refused(answer: dict, text: str) -> None:
    assert "response" not in answer, answer
    assert answer["metadata"]["code"] == 201, answer
    assert text in answer["metadata"]["message"], answer


def test_a_mobile_jkn_booking_is_a_reservation_the_edge_hears_of(bpjs, day, node, caplog):
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="central")
    before = bpjs.call("GET", f"/antrean/status/001/{day}")
    assert before["metadata"]["code"] == 200
    assert before["response"] == {
        "namapoli": "Poli Umum",
        "totalantrean": 0,
        "sisaantrean": 0,
        "antreanpanggil": "-",
        "keterangan": "",
    }

    answer = bpjs.call("POST", "/antrean", booking(day))
    assert answer["metadata"] == {"message": "Ok", "code": 200}
    got = answer["response"]
    code = got["nomorantrean"]
    assert len(code) == 8 and got["angkaantrean"] == 1 and got["namapoli"] == "Poli Umum"
    assert got["sisaantrean"] == 1 and f"Kode booking {code}" in got["keterangan"]

    r = Reservation.get(Reservation.rid == code)
    assert (r.source, r.nik, r.phone, r.bpjs_no, r.payer, r.patient_id) == (
        "mobilejkn",
        NIK,
        "081298765432",
        CARD,
        "BPJS",
        None,
    )
    assert (r.poli.code, r.date.isoformat(), r.slot, r.status) == ("UMUM", day, "08:00-09:00", "active")
    sent = [json.loads(c.data) for c in Change.select().where(Change.node == node) if c.type == "reservation.upsert"]
    (upsert,) = [c for c in sent if c["rid"] == code]
    hashed = upsert.pop("idents")
    assert upsert == {
        "rid": code,
        "poli": "UMUM",
        "date": day,
        "slot": "08:00-09:00",
        "payer": "BPJS",
        "status": "active",
        "membership": "",
    }
    # the edge can check her in by the NIK or the card number she gives, which the feed does not hold
    assert idents.matches(code, hashed, NIK) and idents.matches(code, hashed, CARD)
    assert NIK not in hashed and CARD not in hashed

    status = bpjs.call("GET", f"/antrean/status/001/{day}")["response"]
    assert (status["totalantrean"], status["sisaantrean"]) == (1, 1)
    mine = bpjs.call("GET", f"/antrean/sisapeserta/{CARD}/001/{day}")
    assert mine["metadata"]["code"] == 200
    assert mine["response"]["nomorantrean"] == code and mine["response"]["namapoli"] == "Poli Umum"

    cancelled = bpjs.call("PUT", "/antrean/batal", {"nomorkartu": CARD, "kodepoli": "001", "tanggalperiksa": day})
    assert cancelled == {"metadata": {"message": "Ok", "code": 200}}
    assert Reservation.get(Reservation.rid == code).status == "cancelled"
    last = Change.select().where(Change.node == node).order_by(Change.seq.desc()).first()
    assert json.loads(last.data)["rid"] == code and json.loads(last.data)["status"] == "cancelled"
    refused(
        bpjs.call("PUT", "/antrean/batal", {"nomorkartu": CARD, "kodepoli": "001", "tanggalperiksa": day}),
        "sudah dibatalkan",
    )
    refused(bpjs.call("GET", f"/antrean/sisapeserta/{CARD}/001/{day}"), "tidak memiliki antrean")
    assert bpjs.call("GET", f"/antrean/status/001/{day}")["response"]["totalantrean"] == 0

    logged = caplog.text
    assert NIK not in logged and CARD not in logged and "081298765432" not in logged and bpjs.token not in logged


def test_a_member_with_a_rosma_account_finds_the_booking_in_its_history(bpjs, day, ani_data):
    ani = register(ani_data)
    answer = bpjs.call("POST", "/antrean", booking(day, nik=ani_data["nik"], nomorkartu="0001234500001"))
    code = answer["response"]["nomorantrean"]
    assert [r.rid for r in services.history(ani)] == [code]
    again = bpjs.call("POST", "/antrean", booking(day, nik=ani_data["nik"], nomorkartu="", kodepoli="002"))
    refused(again, "sudah punya reservasi di puskesmas ini")


def test_one_number_per_member_poli_and_day(bpjs, day):
    assert bpjs.call("POST", "/antrean", booking(day))["metadata"]["code"] == 200
    refused(bpjs.call("POST", "/antrean", booking(day)), "Hanya Dapat Diambil 1 Kali")
    # the same card with another NIK is the same member
    refused(bpjs.call("POST", "/antrean", booking(day, nik=OTHER_NIK)), "1 Kali")
    other_poli = bpjs.call("POST", "/antrean", booking(day, kodepoli="GIGI", jampraktek=""))
    refused(other_poli, "sudah punya reservasi")


def test_the_quota_is_the_web_bookings(bpjs, day):
    Poli.update(slot_quota=1).where(Poli.code == "UMUM").execute()
    first = bpjs.call("POST", "/antrean", booking(day, jampraktek="08:00-09:00"))
    assert first["metadata"]["code"] == 200
    full = bpjs.call("POST", "/antrean", booking(day, jampraktek="08:00-09:00", nik=OTHER_NIK, nomorkartu=OTHER_CARD))
    refused(full, "sudah penuh")
    # without practice hours the next slot with a place left is taken
    later = bpjs.call("POST", "/antrean", booking(day, jampraktek="", nik=OTHER_NIK, nomorkartu=OTHER_CARD))
    assert later["metadata"]["code"] == 200
    assert Reservation.get(Reservation.rid == later["response"]["nomorantrean"]).slot == "09:00-10:00"
    assert later["response"]["angkaantrean"] == 2


def test_a_closed_day_is_refused_with_its_name(bpjs, day):
    place = Puskesmas.get(Puskesmas.code == "cibinong")
    Holiday.create(date=dt.date.fromisoformat(day), name="Rapat kerja puskesmas", kind="lokal", puskesmas=place)
    refused(bpjs.call("POST", "/antrean", booking(day)), "Rapat kerja puskesmas")
    refused(bpjs.call("GET", f"/antrean/status/001/{day}"), "Puskesmas tutup")
    assert not Reservation.select().exists()


def test_a_checked_in_booking_cannot_be_cancelled(bpjs, day):
    code = bpjs.call("POST", "/antrean", booking(day))["response"]["nomorantrean"]
    Reservation.update(status="checked_in", ticket_label="U003").where(Reservation.rid == code).execute()
    mine = bpjs.call("GET", f"/antrean/sisapeserta/{CARD}/001/{day}")["response"]
    assert mine["nomorantrean"] == "U003"
    refused(
        bpjs.call("PUT", "/antrean/batal", {"nomorkartu": CARD, "kodepoli": "001", "tanggalperiksa": day}),
        "Pasien Sudah Dilayani",
    )
    Reservation.update(status="done").where(Reservation.rid == code).execute()
    done = bpjs.call("GET", f"/antrean/sisapeserta/{CARD}/001/{day}")["response"]
    assert (done["nomorantrean"], done["sisaantrean"], done["keterangan"]) == ("U003", 0, "Sudah selesai dilayani.")


@pytest.mark.parametrize(
    "change, text",
    [
        pytest.param({"nik": "320101"}, "NIK harus 16 digit", id="short-nik"),
        pytest.param({"nomorkartu": "12345"}, "Nomor kartu harus 13 digit", id="short-card"),
        pytest.param({"tanggalperiksa": "03-12-2026"}, "yyyy-MM-dd", id="date-format"),
        pytest.param({"tanggalperiksa": "2020-01-01"}, "sudah lewat", id="past-day"),
        pytest.param({"tanggalperiksa": "2999-01-01"}, "paling lambat 7 hari", id="too-far"),
        pytest.param({"kodepoli": "999"}, "Poli tidak ditemukan", id="unknown-poli"),
        pytest.param({"kodepoli": ""}, "Kode poli wajib", id="no-poli"),
        pytest.param({"jampraktek": "pagi"}, "jam praktek", id="hours-format"),
        pytest.param({"nohp": "abc"}, "Nomor HP", id="bad-phone"),
        pytest.param({"nik": ["3201011705900001"]}, "tidak valid", id="nested-value"),
    ],
)
def test_a_bad_booking_is_refused_and_books_nothing(bpjs, day, change, text):
    refused(bpjs.call("POST", "/antrean", booking(day, **change)), text)
    assert not Reservation.select().exists()


@pytest.mark.parametrize(
    "raw, text",
    [
        pytest.param(b"nomorkartu=1", "objek JSON", id="form-encoded"),
        pytest.param(b"[1, 2]", "objek JSON", id="array"),
        pytest.param(b"", "objek JSON", id="empty"),
        pytest.param(b'{"nik": "' + b"9" * 300 + b'"}', "tidak valid", id="long-field"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(bpjs, raw, text):
    refused(bpjs.call("POST", "/antrean", raw=raw, headers={"x-token": bpjs.token, "x-username": USER}), text)


def test_a_body_over_64_kb_is_refused_with_the_envelope(bpjs, mjkn_app):
    headers = {"x-token": bpjs.token, "x-username": USER}
    answer = mjkn_app.test_client().post(f"{bpjs.prefix}/antrean", data=b"{" * 100000, headers=headers)
    assert answer.status_code == 200 and answer.is_json
    refused(answer.json, "terlalu besar")


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-headers"),
        pytest.param({"x-username": USER}, id="no-token"),
        pytest.param({"x-token": "not-a-token", "x-username": USER}, id="unknown-token"),
        pytest.param("wrong-user", id="other-username"),
    ],
)
def test_every_call_needs_a_live_token(bpjs, day, headers):
    if headers == "wrong-user":
        headers = {"x-token": bpjs.token, "x-username": "someone"}
    for method, path, body in (
        ("GET", f"/antrean/status/001/{day}", None),
        ("POST", "/antrean", booking(day)),
        ("GET", f"/antrean/sisapeserta/{CARD}/001/{day}", None),
        ("PUT", "/antrean/batal", {"nomorkartu": CARD, "kodepoli": "001", "tanggalperiksa": day}),
    ):
        answer = bpjs.call(method, path, body, headers=headers)
        assert answer["metadata"]["code"] == 201 and "response" not in answer, (path, answer)
    assert not Reservation.select().exists()


def test_an_expired_token_or_another_puskesmas_token_is_refused(bpjs, day, serve, mjkn_app):
    MobileJknToken.update(expires_at=dt.datetime(2020, 1, 1)).execute()
    refused(bpjs.call("GET", f"/antrean/status/001/{day}"), "Token tidak valid atau sudah kedaluwarsa")
    assert bpjs.login()["metadata"]["code"] == 200
    assert MobileJknToken.select().count() == 1  # the expired one is gone, only hashes are stored
    assert MobileJknToken.get().token_hash != bpjs.token
    ciawi = Bpjs(f"http://{bpjs.host}:{bpjs.port}", "ciawi")
    ciawi.token = bpjs.token
    refused(ciawi.call("GET", f"/antrean/status/001/{day}"), "belum diaktifkan")


def test_the_token_needs_the_right_account_and_wrong_tries_are_limited(bpjs):
    refused(bpjs.login(password="salah-sekali-123"), "Username atau password tidak sesuai")
    refused(bpjs.login(username="orang-lain"), "Username atau password tidak sesuai")
    refused(bpjs.call("GET", "/auth", headers={"x-username": USER}), "x-password wajib")
    refused(Bpjs(f"http://{bpjs.host}:{bpjs.port}", "tidak-ada").login(), "Puskesmas tidak ditemukan")
    for _ in range(10):
        bpjs.login(password="salah-sekali-123")
    refused(bpjs.login(), "Terlalu banyak percobaan")


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", "Application/JSON"])
def test_the_json_body_is_read_whatever_its_content_type(bpjs, day, content_type):
    headers = {"x-token": bpjs.token, "x-username": USER, "Content-Type": content_type}
    answer = bpjs.call("POST", "/antrean", raw=json.dumps(booking(day)).encode(), headers=headers)
    assert answer["metadata"]["code"] == 200, answer


def test_header_names_in_any_case(bpjs, day):
    answer = bpjs.call("GET", f"/antrean/status/001/{day}", headers={"X-Token": bpjs.token, "X-USERNAME": USER})
    assert answer["metadata"]["code"] == 200


def test_unknown_paths_and_methods_get_the_envelope(bpjs, day):
    refused(bpjs.call("GET", "/antrean"), "Layanan tidak dikenal")
    refused(bpjs.call("DELETE", "/antrean/batal"), "Layanan tidak dikenal")
    refused(bpjs.call("GET", "/tidak/ada"), "Layanan tidak dikenal")
    refused(bpjs.call("POST", "/peserta", {"nik": NIK, "nama": "Budi"}), "langsung ambil antrean dengan NIK")


def test_a_fault_of_ours_is_the_envelope_not_a_500(bpjs, day, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(mobilejkn, "status", broken)
    refused(bpjs.call("GET", f"/antrean/status/001/{day}"), "Terjadi kesalahan pada sistem")


def test_today_status_counts_the_edge_queue(db_config, tmp_path, serve):
    # an ordinary Tuesday morning (not a holiday), whatever day the suite runs on
    app = make_app(db_config, tmp_path, clock_start="2026-12-01T09:00:00+07:00")
    today = dt.date(2026, 12, 1)
    place = Puskesmas.get(Puskesmas.code == "cibinong")
    node = Node.create(node_id="pkm-cibinong", puskesmas=place)
    bpjs = Bpjs(serve(app))
    bpjs.login()
    for i, state in enumerate(("done", "serving", "waiting", "waiting"), start=1):
        Visit.create(
            node=node,
            ticket_key=f"t{i}",
            puskesmas=place,
            label=f"U00{i}",
            queue="POLI-UMUM",
            poli="UMUM",
            payer="BPJS",
            day=today,
            issued_at=f"{today}T08:0{i}:00+07:00",
            called_at=f"{today}T08:1{i}:00+07:00" if state != "waiting" else None,
            state=state,
        )
    status = bpjs.call("GET", f"/antrean/status/001/{today}")["response"]
    assert (status["totalantrean"], status["sisaantrean"], status["antreanpanggil"]) == (4, 2, "U002")


def test_the_accounts_file_must_be_private_and_valid(tmp_path):
    assert check_accounts(write_accounts(tmp_path / "ok.toml")) is None
    assert "chmod 600" in check_accounts(write_accounts(tmp_path / "open.toml", mode=0o644))
    short = write_accounts(tmp_path / "short.toml", text='[cibinong]\nusername = "u"\npassword = "pendek"\n')
    assert "at least 12" in check_accounts(short)
    assert "pendek" not in check_accounts(short)
    extra = write_accounts(tmp_path / "x.toml", text='[c]\nusername = "u"\npassword = "123456789012"\nkey = 1\n')
    assert "unknown field 'key'" in check_accounts(extra)
    assert check_accounts("") is None


def test_a_puskesmas_maps_its_own_bpjs_poli_codes(db_config, tmp_path, serve):
    text = f'[cibinong]\nusername = "{USER}"\npassword = "{PASSWORD}"\npoli = {{ "099" = "KIA" }}\n'
    client = Bpjs(serve(make_app(db_config, tmp_path, text=text)))
    day = services.booking_window(7)[1].isoformat()
    client.login()
    assert client.call("GET", f"/antrean/status/099/{day}")["response"]["namapoli"] == "Poli KIA"


def test_feed_carries_no_personal_data(bpjs, day, node):
    bpjs.call("POST", "/antrean", booking(day))
    for change in Change.select().where(Change.node == node):
        assert NIK not in change.data and CARD not in change.data and "0812" not in change.data
    assert feed.reservation_change(Reservation.get()).payer == "BPJS"


def test_central_refuses_to_start_with_an_accounts_file_others_can_read(tmp_path):
    from central.config import from_dict
    from infra.config import ConfigError

    open_file = write_accounts(tmp_path / "open.toml", mode=0o640)
    with pytest.raises(ConfigError, match="mobilejkn_accounts.*chmod 600"):
        from_dict({"secret_key": "x" * 40, "mobilejkn_accounts": open_file})


def test_the_demo_account_file_is_private_and_valid(tmp_path):
    path = mobilejkn.write_demo(tmp_path / "demo" / "mobilejkn.toml")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert check_accounts(str(path)) is None
    assert mobilejkn.parse(path)["ciawi"].username == mobilejkn.DEMO_USERNAME
