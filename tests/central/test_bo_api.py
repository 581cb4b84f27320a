"""The back-office JSON API (/api/v1/bo) as a client uses it: staff sign-in by token, the scope of
each role, visits filtered and paginated, the KPI tables equal to central.kpi.report, and
Indonesian JSON errors; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
from pathlib import Path

import pytest

from central import kpi, staff
from central.models import Puskesmas, Staff, StaffToken, utcnow

_spec = importlib.util.spec_from_file_location("export_days", Path(__file__).with_name("test_exports.py"))
days = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(days)

PASSWORD = "kata-sandi-rahasia"
DAY = "2026-11-26"


@pytest.fixture
def people(app):
    staff.add("kepala.cibinong", "dr. Siti", "kepala_puskesmas", "cibinong", "", PASSWORD)
    staff.add("admin.ciawi", "Asep", "admin_puskesmas", "ciawi", "", PASSWORD)
    staff.add("dinkes", "Dinas", "admin_kabupaten", None, "", PASSWORD)
    staff.add("loket.cibinong", "Rina", "petugas_loket", "cibinong", "", PASSWORD)
    days.history()


def login(client, username: str, password: str = PASSWORD):
    return client.post("/api/v1/bo/login", json={"username": username, "password": password})


def bearer(client, username: str) -> dict:
    r = login(client, username)
    assert r.status_code == 200, r.json
    return {"Authorization": "Bearer " + r.json["token"]}


def test_a_kepala_signs_in_for_a_12_hour_token_stored_only_as_its_hash(client, people):
    r = login(client, "Kepala.Cibinong")
    assert r.status_code == 200
    body = r.json
    assert body["token_type"] == "Bearer" and body["expires_in"] == 12 * 3600
    assert body["staff"] == {
        "username": "kepala.cibinong",
        "name": "dr. Siti",
        "role": "kepala_puskesmas",
        "role_label": "Kepala puskesmas",
        "puskesmas": "cibinong",
    }
    row = StaffToken.get()
    assert row.token_hash != body["token"] and body["token"] not in row.token_hash
    assert dt.timedelta(hours=11, minutes=59) < row.expires_at - utcnow() <= dt.timedelta(hours=12)


def test_sign_in_errors_are_indonesian_json(client, people):
    r = login(client, "kepala.cibinong", "salah-sekali-ini")
    assert r.status_code == 401 and r.json == {"error": "Nama pengguna atau kata sandi salah.", "fields": {}}
    r = client.post("/api/v1/bo/login", json={})
    assert r.status_code == 400
    assert r.json["fields"] == {"username": "Nama pengguna wajib diisi.", "password": "Kata sandi wajib diisi."}
    r = client.post("/api/v1/bo/login", data="username=x", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415 and "JSON" in r.json["error"]
    r = login(client, "loket.cibinong")
    assert r.status_code == 403 and r.json["error"] == "Peran Anda tidak boleh memakai API back office."
    assert StaffToken.select().count() == 0


def test_guessing_a_password_is_throttled_with_retry_after(client, people):
    statuses = [login(client, "dinkes", f"tebakan-{i:04d}").status_code for i in range(30)]
    assert statuses[0] == 401 and 429 in statuses
    r = login(client, "dinkes", "tebakan-lagi")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert r.json["error"].startswith("Terlalu banyak percobaan masuk.")


def test_no_token_a_forged_one_an_ended_one_or_a_disabled_account_get_401(client, people):
    assert client.get("/api/v1/bo/visits").status_code == 401
    r = client.get("/api/v1/bo/visits", headers={"Authorization": "Bearer bukan-token"})
    assert r.status_code == 401 and r.json["error"] == "Token tidak sah atau sudah kedaluwarsa. Silakan masuk lagi."
    head = bearer(client, "kepala.cibinong")
    assert client.get("/api/v1/bo/visits", headers=head).status_code == 200
    assert client.post("/api/v1/bo/logout", headers=head).json == {"status": "logged_out"}
    assert client.get("/api/v1/bo/visits", headers=head).status_code == 401
    head = bearer(client, "kepala.cibinong")
    StaffToken.update(expires_at=utcnow() - dt.timedelta(seconds=1)).execute()
    assert client.get("/api/v1/bo/visits", headers=head).status_code == 401
    head = bearer(client, "admin.ciawi")
    staff.disable("admin.ciawi")
    assert client.get("/api/v1/bo/kpi", headers=head).status_code == 401


def test_visits_are_paginated_in_order_with_the_total(client, people):
    head = bearer(client, "kepala.cibinong")
    r = client.get(f"/api/v1/bo/visits?from={DAY}&to={DAY}&per_page=2", headers=head)
    assert r.status_code == 200
    body = r.json
    assert (body["total"], body["pages"], body["page"], body["per_page"]) == (5, 3, 1, 2)
    assert body["puskesmas"] == ["cibinong"] and (body["from"], body["to"]) == (DAY, DAY)
    first = body["visits"][0]
    assert first["label"] == "A001" and first["step"] == "pendaftaran" and first["poli"] == "UMUM"
    assert first["issued_at"] == "2026-11-26T08:00:00+07:00" and first["called_at"] == "2026-11-26T08:05:00+07:00"
    assert (first["wait_minutes"], first["service_minutes"], first["state"]) == (5.0, 3.0, "transferred")
    assert (first["counter"], first["staff"], first["state_label"]) == ("loket-1", "rina", "Diteruskan ke poli")
    labels = []
    for page in (1, 2, 3, 4):
        r = client.get(f"/api/v1/bo/visits?from={DAY}&to={DAY}&per_page=2&page={page}", headers=head)
        labels += [v["label"] for v in r.json["visits"]]
    assert labels == ["A001", "A001", "B001", "K001", "A002"]
    text = json.dumps(body).lower()
    for word in ("nik", "birth", "bpjs_no", "lahir"):
        assert word not in text


def test_visit_filters(client, people):
    head = bearer(client, "kepala.cibinong")

    def labels(query: str) -> list[str]:
        r = client.get(f"/api/v1/bo/visits?from={DAY}&to=2026-11-27&{query}", headers=head)
        assert r.status_code == 200, r.json
        return [v["label"] for v in r.json["visits"]]

    assert labels("payer=BPJS") == ["B001", "K001"]
    assert labels("state=no_show") == ["B001"]
    assert labels("poli=KIA") == ["K001"]
    assert labels("state=waiting") == ["A002", "A001"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-11-27&to=2026-11-01", "to"),
        ("from=2025-01-01&to=2026-11-01", "to"),
        ("from=kemarin", "from"),
        ("poli=JANTUNG", "poli"),
        ("payer=ASURANSI", "payer"),
        ("state=hilang", "state"),
        ("per_page=501", "per_page"),
        ("page=0", "page"),
        ("page=satu", "page"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_field(client, people, query, field):
    head = bearer(client, "kepala.cibinong")
    r = client.get(f"/api/v1/bo/visits?{query}", headers=head)
    assert r.status_code == 400
    assert r.json["error"] == "Ada saringan yang perlu diperbaiki." and list(r.json["fields"]) == [field]


def test_each_role_sees_only_its_own_puskesmas_and_the_kabupaten_sees_all(client, people):
    kepala = bearer(client, "kepala.cibinong")
    r = client.get(f"/api/v1/bo/visits?puskesmas=ciawi&from={DAY}&to={DAY}", headers=kepala)
    assert r.status_code == 403 and r.json["error"] == "Anda hanya boleh membuka data puskesmas Anda sendiri."
    assert client.get("/api/v1/bo/kpi?puskesmas=ciawi", headers=kepala).status_code == 403
    assert client.get("/api/v1/bo/visits?puskesmas=semua", headers=kepala).status_code == 403
    r = client.get("/api/v1/bo/visits?puskesmas=atlantis", headers=kepala)
    assert r.status_code == 404 and r.json["error"] == "Puskesmas tidak ditemukan."
    ciawi = bearer(client, "admin.ciawi")
    r = client.get(f"/api/v1/bo/visits?from={DAY}&to={DAY}", headers=ciawi)
    assert r.json["puskesmas"] == ["ciawi"] and r.json["total"] == 1
    dinkes = bearer(client, "dinkes")
    r = client.get(f"/api/v1/bo/visits?from={DAY}&to={DAY}&per_page=500", headers=dinkes)
    assert r.json["total"] == 6 and len(r.json["puskesmas"]) == Puskesmas.select().count()
    assert {v["puskesmas"] for v in r.json["visits"]} == {"Puskesmas Cibinong", "Puskesmas Ciawi"}
    r = client.get(f"/api/v1/bo/visits?puskesmas=ciawi&from={DAY}&to={DAY}", headers=dinkes)
    assert r.json["total"] == 1


def test_kpi_answers_the_figures_of_kpi_report(client, people):
    head = bearer(client, "kepala.cibinong")
    r = client.get(f"/api/v1/bo/kpi?from={DAY}&to=2026-11-27", headers=head)
    assert r.status_code == 200
    cibinong = Puskesmas.get(Puskesmas.code == "cibinong")
    expected = kpi.report([cibinong.id], dt.date(2026, 11, 26), dt.date(2026, 11, 27)).as_dict()["tables"]
    assert r.json["tables"] == json.loads(json.dumps(expected))
    harian = r.json["tables"]["harian"]
    assert harian["rows"][0] == ["2026-11-26", 4, 1, 3, 2, 2]
    r = client.get(f"/api/v1/bo/kpi?from={DAY}&to={DAY}&payer=BPJS&poli=KIA", headers=head)
    assert r.json["tables"]["harian"]["rows"] == [["2026-11-26", 1, 1, 0, 1, 0]]
    r = client.get(f"/api/v1/bo/kpi?from={DAY}&to={DAY}&state=done", headers=head)
    assert r.status_code == 400 and "state" in r.json["fields"]


def test_the_kabupaten_kpi_compares_the_puskesmas(client, people):
    head = bearer(client, "dinkes")
    r = client.get(f"/api/v1/bo/kpi?from={DAY}&to={DAY}", headers=head)
    rows = {row[0]: row[1] for row in r.json["tables"]["puskesmas"]["rows"]}
    assert rows["Puskesmas Cibinong"] == 4 and rows["Puskesmas Ciawi"] == 1


def test_an_account_whose_role_changed_loses_its_token(client, people):
    head = bearer(client, "kepala.cibinong")
    Staff.update(role="petugas_loket").where(Staff.username == "kepala.cibinong").execute()
    assert client.get("/api/v1/bo/visits", headers=head).status_code == 401
