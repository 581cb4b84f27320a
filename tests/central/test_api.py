"""The JSON API under /api/v1 on SQLite and PostgreSQL."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from central.models import Change, Node, Poli, Puskesmas, Reservation
from devices.scanner.image import read_qr_codes


def _book(client, headers, day, **extra):
    body = {"puskesmas": "ciawi", "poli": "UMUM", "date": day.isoformat(), "slot": "08:00-09:00", "payer": "UMUM"}
    body.update(extra)
    return client.post("/api/v1/reservations", json=body, headers=headers)


def test_register_login_me_never_show_full_nik(client, ani_data):
    response = client.post("/api/v1/patients", json=ani_data)
    assert response.status_code == 201 and response.json["status"] == "accepted"
    assert ani_data["nik"] not in response.text

    body = {"nik": ani_data["nik"], "birth_date": ani_data["birth_date"], "pin": ani_data["pin"]}
    login = client.post("/api/v1/login", json=body)
    assert login.status_code == 200 and login.json["token_type"] == "Bearer"
    assert ani_data["nik"] not in login.text and login.json["patient"]["nik"] == "************0002"

    me = client.get("/api/v1/me", headers={"Authorization": "Bearer " + login.json["token"]})
    assert me.status_code == 200
    assert me.json["patient"]["name"] == "Ani Lestari"
    assert ani_data["nik"] not in me.text and "1990-08-17" not in me.text


def test_register_invalid_nik_fields(client, ani_data):
    ani_data["nik"] = "320101570890000"
    response = client.post("/api/v1/patients", json=ani_data)
    assert response.status_code == 400
    assert response.json["fields"]["nik"] == "NIK harus 16 digit angka."
    assert response.json["error"]


def test_registering_a_taken_nik_answers_exactly_like_a_new_one(client, ani, ani_data, budi_data):
    taken = client.post("/api/v1/patients", json=ani_data)
    new = client.post("/api/v1/patients", json=budi_data)
    assert (taken.status_code, taken.json) == (new.status_code, new.json) == (201, taken.json)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"nik": "3201015708900002", "birth_date": "1990-08-18", "pin": "204816"}, id="wrong-date"),
        pytest.param({"nik": "3201015708900002", "birth_date": "1990-08-17", "pin": "204817"}, id="wrong-pin"),
        pytest.param({"nik": "3201015708900002", "birth_date": "1990-08-17"}, id="no-pin"),
        pytest.param({"nik": "3201011203850001", "birth_date": "1985-03-12", "pin": "204816"}, id="unknown-nik"),
    ],
)
def test_login_generic_error(client, ani, body):
    response = client.post("/api/v1/login", json=body)
    assert response.status_code == 401
    assert response.json == {"error": "NIK, tanggal lahir, atau PIN salah.", "fields": {}}


@pytest.mark.parametrize(
    "header",
    [
        pytest.param({}, id="missing"),
        pytest.param({"Authorization": "Bearer not-a-token"}, id="garbage"),
        pytest.param({"Authorization": "Basic abc"}, id="wrong-scheme"),
    ],
)
def test_bad_token_is_401(client, header):
    response = client.get("/api/v1/me", headers=header)
    assert response.status_code == 401
    assert "masuk" in response.json["error"]


def test_logout_ends_the_token_and_tokens_are_listed_and_revocable(client, ani, ani_data, auth_header):
    first, second = auth_header(client, ani_data), auth_header(client, ani_data)
    listed = client.get("/api/v1/tokens", headers=first).json["tokens"]
    assert len(listed) == 2 and [t["current"] for t in listed].count(True) == 1
    assert "token" not in listed[0]
    other = next(t for t in listed if not t["current"])
    assert client.delete(f"/api/v1/tokens/{other['id']}", headers=first).status_code == 200
    assert client.get("/api/v1/me", headers=second).status_code == 401
    assert client.post("/api/v1/logout", headers=first).status_code == 200
    assert client.get("/api/v1/me", headers=first).status_code == 401


def test_changing_the_pin_ends_every_other_token(client, ani, ani_data, auth_header):
    mine, theirs = auth_header(client, ani_data), auth_header(client, ani_data)
    bad = client.post("/api/v1/pin", json={"old_pin": "000111", "pin": "582037"}, headers=mine)
    assert bad.status_code == 400 and bad.json["fields"] == {"old_pin": "PIN lama salah."}
    ok = client.post("/api/v1/pin", json={"old_pin": ani_data["pin"], "pin": "582037"}, headers=mine)
    assert ok.status_code == 200
    assert client.get("/api/v1/me", headers=mine).status_code == 200
    assert client.get("/api/v1/me", headers=theirs).status_code == 401


def test_forgot_pin_over_the_api_answers_the_same_for_unknown_data(client, ani, ani_data):
    known = client.post("/api/v1/pin/forgot", json={"nik": ani_data["nik"], "birth_date": ani_data["birth_date"]})
    unknown = client.post("/api/v1/pin/forgot", json={"nik": "3201011203850001", "birth_date": "1985-03-12"})
    assert known.status_code == unknown.status_code == 202 and known.json == unknown.json
    wrong = client.post(
        "/api/v1/pin/reset",
        json={"nik": ani_data["nik"], "birth_date": ani_data["birth_date"], "code": "000000", "pin": "582037"},
    )
    assert wrong.status_code == 400 and "Kode tidak cocok" in wrong.json["error"]


def test_puskesmas_and_slots(client, visit_date):
    response = client.get("/api/v1/puskesmas")
    assert response.status_code == 200
    places = {p["code"]: p for p in response.json["puskesmas"]}
    assert {"cibinong", "ciawi", "cileungsi"} <= set(places)
    assert [p["code"] for p in places["cibinong"]["polis"]] == ["UMUM", "GIGI", "KIA", "LANSIA"]

    slots = client.get(f"/api/v1/puskesmas/ciawi/slots?poli=UMUM&date={visit_date.isoformat()}")
    assert slots.status_code == 200
    assert slots.json["slots"][0] == {"slot": "08:00-09:00", "quota": 10, "remaining": 10, "available": True}

    assert client.get(f"/api/v1/puskesmas/nowhere/slots?poli=UMUM&date={visit_date}").status_code == 404
    assert client.get(f"/api/v1/puskesmas/ciawi/slots?poli=LANSIA&date={visit_date}").status_code == 404
    missing = client.get("/api/v1/puskesmas/ciawi/slots")
    assert missing.status_code == 400 and set(missing.json["fields"]) == {"poli", "date"}
    far = client.get("/api/v1/puskesmas/ciawi/slots?poli=UMUM&date=2099-01-01")
    assert far.status_code == 400 and "date" in far.json["fields"]


def test_reserve_get_qr_and_history(client, ani, ani_data, auth_header, visit_date):
    node = Node.create(node_id="edge-ciawi", puskesmas=Puskesmas.get(code="ciawi"))
    headers = auth_header(client, ani_data)
    response = _book(client, headers, visit_date, payer="BPJS", bpjs_no="0001234567890")
    assert response.status_code == 201
    r = response.json["reservation"]
    assert r["status"] == "active" and r["bpjs_no"] == "*********7890"
    assert r["qr_text"].startswith("RS1:")

    got = client.get(f"/api/v1/reservations/{r['rid']}", headers=headers)
    assert got.status_code == 200 and got.json["reservation"]["qr_text"] == r["qr_text"]
    assert got.json["reservation"]["qr_png_url"] == f"/api/v1/reservations/{r['rid']}/qr.png"

    png = client.get(r["qr_png_url"], headers=headers)
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert read_qr_codes(Image.open(io.BytesIO(png.data))) == [r["qr_text"]]

    history = client.get("/api/v1/reservations", headers=headers)
    assert [x["rid"] for x in history.json["reservations"]] == [r["rid"]]
    assert "qr_text" not in history.json["reservations"][0]
    assert Change.select().where(Change.node == node).count() == 1


def test_bpjs_without_number_is_field_error(client, ani, ani_data, auth_header, visit_date):
    response = _book(client, auth_header(client, ani_data), visit_date, payer="BPJS")
    assert response.status_code == 400
    assert response.json["fields"]["bpjs_no"] == "Nomor peserta BPJS wajib diisi untuk cara bayar BPJS."
    assert Reservation.select().count() == 0


def test_quota_full_is_409(client, ani, budi, ani_data, budi_data, auth_header, visit_date):
    Poli.update(slot_quota=1).where(Poli.code == "UMUM").execute()
    assert _book(client, auth_header(client, ani_data), visit_date).status_code == 201
    response = _book(client, auth_header(client, budi_data), visit_date)
    assert response.status_code == 409
    assert response.json["error"] == "Kuota jam ini sudah penuh. Silakan pilih jam atau tanggal lain."
    assert Reservation.select().count() == 1


def test_other_patient_gets_404(client, ani, budi, ani_data, budi_data, auth_header, visit_date):
    rid = _book(client, auth_header(client, ani_data), visit_date).json["reservation"]["rid"]
    other = auth_header(client, budi_data)
    for url in (f"/api/v1/reservations/{rid}", f"/api/v1/reservations/{rid}/qr.png"):
        response = client.get(url, headers=other)
        assert response.status_code == 404
        assert response.json["error"] == "Reservasi tidak ditemukan."
    assert client.post(f"/api/v1/reservations/{rid}/cancel", headers=other).status_code == 404
    assert Reservation.get(Reservation.rid == rid).status == "active"


def test_cancel(client, ani, ani_data, auth_header, visit_date):
    node = Node.create(node_id="edge-ciawi", puskesmas=Puskesmas.get(code="ciawi"))
    headers = auth_header(client, ani_data)
    rid = _book(client, headers, visit_date).json["reservation"]["rid"]
    response = client.post(f"/api/v1/reservations/{rid}/cancel", headers=headers)
    assert response.status_code == 200
    assert response.json["reservation"]["status"] == "cancelled"
    assert response.json["reservation"]["status_label"] == "Dibatalkan"
    assert Change.select().where(Change.node == node).order_by(Change.seq.desc()).first().data.count("cancelled") == 1
    again = client.post(f"/api/v1/reservations/{rid}/cancel", headers=headers)
    assert again.status_code == 409


def test_oversized_body_is_413_json(client):
    response = client.post(
        "/api/v1/patients", data=b'{"name": "' + b"a" * 70_000 + b'"}', content_type="application/json"
    )
    assert response.status_code == 413
    assert "terlalu besar" in response.json["error"]


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        pytest.param({"data": "nik=1", "content_type": "application/x-www-form-urlencoded"}, 415, id="form-body"),
        pytest.param({"data": "{not json", "content_type": "application/json"}, 400, id="broken-json"),
        pytest.param({"json": ["a", "list"]}, 400, id="json-list"),
    ],
)
def test_body_must_be_a_json_object(client, kwargs, status):
    response = client.post("/api/v1/login", **kwargs)
    assert response.status_code == status
    assert response.json["error"]


def test_unknown_api_route_is_json_404(client):
    response = client.get("/api/v1/tidak-ada")
    assert response.status_code == 404
    assert response.json["error"]


def test_a_token_id_beyond_any_integer_gets_a_404_not_a_500(client, ani, ani_data, auth_header):
    headers = auth_header(client, ani_data)
    assert client.delete("/api/v1/tokens/99999999999999999999", headers=headers).status_code == 404
    raw = '{"nik": "\\ud800", "birth_date": "1990-08-17", "pin": "204816"}'  # a lone surrogate
    r = client.post("/api/v1/login", data=raw, content_type="application/json")
    assert r.status_code == 400 and "tidak valid" in r.json["error"]
