"""The back office under attack and careless use: sessions and tokens that must end, forms posted
without their token or from another site, and bad input that must get an Indonesian field error
and change nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest

from central import staff
from central.models import Node, Puskesmas

PASSWORD = "kata-sandi-rahasia"
NEW_PASSWORD = "sandi-baru-yang-panjang"


def token(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def sign_in(client, username: str, password: str = PASSWORD):
    page = client.get("/petugas/masuk")
    r = client.post("/petugas/masuk", data={"csrf_token": token(page), "username": username, "password": password})
    assert r.status_code == 302, r.text
    return r


def post(client, path: str, data: dict):
    page = client.get(path)
    return client.post(path, data={"csrf_token": token(page), **data})


@pytest.fixture
def people(app):
    Node.create(node_id="pkm-cibinong", puskesmas=Puskesmas.get(code="cibinong"))
    staff.add("admin.cibinong", "Dewi Admin", "admin_puskesmas", "cibinong", "", PASSWORD)
    staff.add("kepala.cibinong", "dr. Siti", "kepala_puskesmas", "cibinong", "", PASSWORD)
    staff.add("dinkes", "Dinas", "admin_kabupaten", None, "", PASSWORD)


def bearer(client, username: str, password: str = PASSWORD) -> dict:
    r = client.post("/api/v1/bo/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.json
    return {"Authorization": "Bearer " + r.json["token"]}


def test_a_password_reset_by_an_admin_ends_the_accounts_api_tokens(app, people):
    """A kepala's password leaked: her admin resets it; whoever holds a token made with the old
    password must lose it at once, as her web sessions are."""
    thief = app.test_client()
    stolen = bearer(thief, "kepala.cibinong")
    assert thief.get("/api/v1/bo/visits", headers=stolen).status_code == 200
    admin = app.test_client()
    sign_in(admin, "admin.cibinong")
    r = post(
        admin,
        "/petugas/admin/petugas/kepala.cibinong",
        {"action": "sandi", "password": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert r.status_code == 302, r.text
    r = thief.get("/api/v1/bo/visits", headers=stolen)
    assert r.status_code == 401
    assert r.json["error"] == "Token tidak sah atau sudah kedaluwarsa. Silakan masuk lagi."
    fresh = bearer(app.test_client(), "kepala.cibinong", NEW_PASSWORD)  # the new password works
    assert app.test_client().get("/api/v1/bo/visits", headers=fresh).status_code == 200
