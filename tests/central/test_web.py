"""The patient web pages (Flask test client) on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest

from central.models import Patient, Reservation


def _form(visit_date, token, **extra):
    data = {
        "csrf_token": token,
        "puskesmas": "ciawi",
        "payer": "UMUM",
        "bpjs_no": "",
        "poli": "UMUM",
        "date": visit_date.isoformat(),
        "slot": "08:00-09:00",
    }
    data.update(extra)
    return data


def test_home_lists_puskesmas_with_info_links(client):
    page = client.get("/")
    assert page.status_code == 200
    assert "Masuk" in page.text and "Daftar" in page.text
    assert 'href="/puskesmas/cibinong"' in page.text and "Puskesmas Ciawi" in page.text
    info = client.get("/puskesmas/cibinong")
    assert info.status_code == 200
    assert "Poli Gigi" in info.text and "Jam buka" in info.text
    assert client.get("/puskesmas/tidak-ada").status_code == 404


def test_logged_in_home_lists_only_upcoming_active_reservations(client, ani, ani_data, web_login, visit_date):
    """Where login lands and the installed app opens: it must render with every kind of booking."""
    import datetime as dt

    from central import services
    from central.models import Poli, Puskesmas

    upcoming = services.reserve(ani, "ciawi", "GIGI", visit_date, "09:00-10:00", "UMUM")
    cancelled = services.reserve(ani, "cibinong", "KIA", visit_date, "10:00-11:00", "UMUM")
    services.cancel(ani, cancelled.rid)
    cisarua = Puskesmas.get(Puskesmas.code == "cisarua")
    Reservation.create(
        rid="past0000000000aa",
        patient=ani,
        puskesmas=cisarua,
        poli=Poli.get((Poli.puskesmas == cisarua) & (Poli.code == "UMUM")),
        date=services.now_wib().date() - dt.timedelta(days=3),
        slot="08:00-09:00",
        payer="UMUM",
        qr_text="-",
    )
    web_login(client, ani_data)
    page = client.get("/")
    assert page.status_code == 200, page.text
    assert "Halo, Ani Lestari" in page.text and "Reservasi mendatang" in page.text
    assert f'href="/reservasi/{upcoming.rid}"' in page.text and "Poli Gigi" in page.text
    assert f'href="/reservasi/{cancelled.rid}"' not in page.text
    assert 'href="/reservasi/past0000000000aa"' not in page.text


def test_register_shows_field_errors_and_keeps_values(client, csrf_from, ani_data):
    token = csrf_from(client.get("/daftar").text)
    ani_data.update(csrf_token=token, sex="L")
    page = client.post("/daftar", data=ani_data)
    assert page.status_code == 400
    assert "NIK tidak cocok dengan jenis kelamin" in page.text
    assert 'value="Ani Lestari"' in page.text and 'value="081234567890"' in page.text
    assert Patient.select().count() == 0


def test_register_then_again_answers_the_same(client, csrf_from, ani_data):
    token = csrf_from(client.get("/daftar").text)
    form = {**ani_data, "pin_again": ani_data["pin"], "csrf_token": token}
    ok = client.post("/daftar", data=form)
    assert ok.status_code == 302 and ok.headers["Location"] == "/masuk"
    assert "Pendaftaran diterima" in client.get("/masuk").text
    again = client.post("/daftar", data=form)  # the same NIK: no "sudah terdaftar" to tell a stranger
    assert again.status_code == 302 and again.headers["Location"] == "/masuk"
    assert "sudah terdaftar" not in client.get("/masuk").text.replace("sudah pernah", "")
    assert Patient.select().count() == 1


def test_login_wrong_date_is_generic(client, ani, csrf_from):
    token = csrf_from(client.get("/masuk").text)
    page = client.post(
        "/masuk", data={"csrf_token": token, "nik": ani.nik, "birth_date": "1990-08-18", "pin": "204816"}
    )
    assert page.status_code == 401
    assert "NIK, tanggal lahir, atau PIN salah." in page.text
    unknown = client.post(
        "/masuk", data={"csrf_token": token, "nik": "3201011203850001", "birth_date": "1985-03-12", "pin": "204816"}
    )
    assert "NIK, tanggal lahir, atau PIN salah." in unknown.text


def test_pages_need_login(client):
    response = client.get("/reservasi/baru")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/masuk?next=")
    assert client.get("/riwayat").status_code == 302


def test_login_next_only_local(client, ani, ani_data, csrf_from):
    token = csrf_from(client.get("/masuk").text)
    data = {
        "csrf_token": token,
        "nik": ani_data["nik"],
        "birth_date": ani_data["birth_date"],
        "pin": ani_data["pin"],
        "next": "//evil.example/",
    }
    response = client.post("/masuk", data=data)
    assert response.headers["Location"] == "/"


def test_reserve_through_form_and_see_qr(client, ani, ani_data, web_login, visit_date):
    token = web_login(client, ani_data)
    response = client.post("/reservasi/baru", data=_form(visit_date, token, payer="BPJS", bpjs_no="0001234567890"))
    assert response.status_code == 302
    rid = response.headers["Location"].rsplit("/", 1)[1]
    page = client.get(f"/reservasi/{rid}")
    assert "Tunjukkan QR ini ke mesin antrian (APM) di puskesmas pada hari kunjungan" in page.text
    assert "data:image/png;base64," in page.text and "Unduh QR" in page.text
    assert "Puskesmas Ciawi" in page.text and "Poli Umum" in page.text and "BPJS" in page.text
    assert "0001234567890" not in page.text
    download = client.get(f"/reservasi/{rid}/qr.png?unduh=1")
    assert download.mimetype == "image/png"
    assert "attachment" in download.headers["Content-Disposition"]
    history = client.get("/riwayat")
    assert f"/reservasi/{rid}" in history.text and "Aktif" in history.text


def test_bpjs_without_number_shows_field_error(client, ani, ani_data, web_login, visit_date):
    token = web_login(client, ani_data)
    page = client.post("/reservasi/baru", data=_form(visit_date, token, payer="BPJS"))
    assert page.status_code == 400
    assert "Nomor peserta BPJS wajib diisi untuk cara bayar BPJS." in page.text
    assert Reservation.select().count() == 0


def test_no_js_two_step_shows_poli_of_chosen_puskesmas(client, ani, ani_data, web_login):
    token = web_login(client, ani_data)
    page = client.post("/reservasi/baru", data={"csrf_token": token, "puskesmas": "citeureup", "step": "poli"})
    assert page.status_code == 200
    poli_select = re.search(r'<select id="poli".*?</select>', page.text, re.S).group(0)
    options = re.findall(r'<option value="([A-Z]+)"', poli_select)
    assert options == ["UMUM", "KIA", "LANSIA"]
    assert Reservation.select().count() == 0


@pytest.mark.parametrize("token", [None, "wrong-token"], ids=["csrf-missing", "csrf-wrong"])
def test_csrf_required(client, ani, ani_data, web_login, visit_date, token):
    web_login(client, ani_data)
    data = _form(visit_date, token or "")
    if token is None:
        del data["csrf_token"]
    response = client.post("/reservasi/baru", data=data)
    assert response.status_code == 400
    assert "Muat ulang halaman" in response.text
    assert Reservation.select().count() == 0


def test_csrf_required_for_cancel(client, ani, ani_data, web_login, visit_date):
    token = web_login(client, ani_data)
    rid = client.post("/reservasi/baru", data=_form(visit_date, token)).headers["Location"].rsplit("/", 1)[1]
    assert client.post(f"/reservasi/{rid}/batal", data={}).status_code == 400
    assert Reservation.get(Reservation.rid == rid).status == "active"
    done = client.post(f"/reservasi/{rid}/batal", data={"csrf_token": token})
    assert done.status_code == 302
    assert Reservation.get(Reservation.rid == rid).status == "cancelled"
    assert "sudah dibatalkan" in client.get(f"/reservasi/{rid}").text


def test_other_patient_cannot_see_my_reservation(app, ani, budi, ani_data, budi_data, web_login, visit_date):
    mine = app.test_client()
    token = web_login(mine, ani_data)
    rid = mine.post("/reservasi/baru", data=_form(visit_date, token)).headers["Location"].rsplit("/", 1)[1]
    other = app.test_client()
    other_token = web_login(other, budi_data)
    assert other.get(f"/reservasi/{rid}").status_code == 404
    assert other.get(f"/reservasi/{rid}/qr.png").status_code == 404
    assert other.post(f"/reservasi/{rid}/batal", data={"csrf_token": other_token}).status_code == 404
    assert Reservation.get(Reservation.rid == rid).status == "active"


def test_oversized_form_is_413(client, ani, ani_data, web_login):
    token = web_login(client, ani_data)
    response = client.post("/reservasi/baru", data={"csrf_token": token, "puskesmas": "x" * 70_000})
    assert response.status_code == 413
    assert "terlalu besar" in response.text


def test_logout_ends_the_session_on_the_server_too(client, ani, ani_data, web_login):
    token = web_login(client, ani_data)
    saved = client.get_cookie("session").value  # what a thief who copied the cookie would keep
    assert client.post("/keluar", data={"csrf_token": token}).status_code == 302
    assert client.get("/riwayat").status_code == 302
    client.set_cookie("session", saved)
    assert client.get("/riwayat").status_code == 302  # the old cookie opens nothing any more


def test_security_headers_and_cookie(client, ani, ani_data, csrf_from):
    page = client.get("/masuk")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert "<script>" not in page.text and " onclick=" not in page.text
    token = csrf_from(page.text)
    response = client.post(
        "/masuk",
        data={
            "csrf_token": token,
            "nik": ani_data["nik"],
            "birth_date": ani_data["birth_date"],
            "pin": ani_data["pin"],
        },
    )
    cookies = response.headers.getlist("Set-Cookie")
    assert all("HttpOnly" in c and "SameSite=Lax" in c for c in cookies) and len(cookies) == 2


def test_pwa_files(client):
    manifest = client.get("/manifest.webmanifest")
    assert manifest.mimetype == "application/manifest+json"
    assert manifest.json["display"] == "standalone"
    sizes = {icon["sizes"] for icon in manifest.json["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest.json["icons"]:
        with client.get(icon["src"]) as response:
            assert response.status_code == 200
    worker = client.get("/sw.js")
    assert worker.status_code == 200 and "serviceWorker" not in worker.text and "fetch" in worker.text
    assert worker.headers["Service-Worker-Allowed"] == "/"


def test_unexpected_error_is_an_indonesian_page(db_config):
    from central.app import build

    app = build(db_config)

    def boom():
        raise RuntimeError("boom")

    app.add_url_rule("/boom", "boom", boom)
    app.add_url_rule("/api/v1/boom", "api_boom", boom)
    client = app.test_client()
    page = client.get("/boom")
    assert page.status_code == 500 and "Maaf, terjadi kesalahan" in page.text
    api = client.get("/api/v1/boom")
    assert api.status_code == 500 and api.json["error"].startswith("Maaf")
    app.extensions["rosma.db"].close()


def test_postgresql_connection_closed_after_each_request(app, client, db_config):
    client.get("/")
    db = app.extensions["rosma.db"]
    if db_config.database_url.startswith("postgresql"):
        assert db.is_closed()
    else:
        assert not db.is_closed()
