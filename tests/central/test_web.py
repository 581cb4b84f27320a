"""The patient web pages (Flask test client) on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest

from central.models import Patient, Reservation


def _value(html: str, name: str) -> str | None:
    """The value an input of the page holds (None when the page has no such input)."""
    tag = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', html)
    if tag is None:
        return None
    value = re.search(r'\bvalue="([^"]*)"', tag.group(0))
    return value.group(1) if value else ""


def _errors(html: str) -> dict[str, str]:
    """The field errors a page shows, by field."""
    return dict(re.findall(r'<p class="error" id="([a-z_]+)-error">([^<]*)</p>', html))


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
    form = {**ani_data, "nik": "3201 0157 0890 0002", "pin_again": ani_data["pin"], "csrf_token": token}
    ok = client.post("/daftar", data=form)
    assert ok.status_code == 200 and "Location" not in ok.headers  # the login form at once, no URL with the NIK
    assert "Pendaftaran diterima" in ok.text and "<h1>Masuk</h1>" in ok.text
    assert 'action="/masuk"' in ok.text
    assert _value(ok.text, "nik") == "3201015708900002"  # what she just typed, ready to log in
    assert _value(ok.text, "birth_date") == "17-08-1990"
    assert re.search(r'gunakan <a href="/lupa-pin">Lupa PIN</a> atau datang', ok.text)
    again = client.post("/daftar", data=form)  # the same NIK: no "sudah terdaftar" to tell a stranger
    assert again.status_code == 200 and again.text == ok.text
    assert "sudah terdaftar" not in again.text.replace("sudah pernah", "")
    assert Patient.select().count() == 1
    login = {"csrf_token": token, "nik": _value(ok.text, "nik"), "birth_date": _value(ok.text, "birth_date")}
    assert client.post("/masuk", data={**login, "pin": ani_data["pin"]}).status_code == 302


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
    assert "Tunjukkan QR ini ke mesin antrean (APM) di puskesmas pada hari kunjungan" in page.text
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


# ---- the birth date, typed as on the KTP ---------------------------------------------------------
@pytest.mark.parametrize("typed", ["17-08-1990", "17/08/1990", "17.08.1990", "17 08 1990", "17081990", "1990-08-17"])
def test_the_birth_date_is_typed_in_the_ktps_order_and_any_common_way(client, ani, ani_data, csrf_from, typed):
    page = client.get("/masuk")
    assert 'name="birth_date" type="text"' in page.text  # no date input that shows mm/dd/yyyy on English phones
    assert "Tanggal-bulan-tahun, seperti di KTP. Contoh: 17\u201108\u20111990" in page.text
    data = {"csrf_token": csrf_from(page.text), "nik": ani.nik, "birth_date": typed, "pin": ani_data["pin"]}
    assert client.post("/masuk", data=data).status_code == 302


@pytest.mark.parametrize("typed", ["31-02-1990", "17-08-90", "08/17/1990", "kemarin"])
def test_a_birth_date_that_is_no_date_gets_its_own_error(client, ani, ani_data, csrf_from, typed):
    token = csrf_from(client.get("/masuk").text)
    page = client.post("/masuk", data={"csrf_token": token, "nik": ani.nik, "birth_date": typed, "pin": "204816"})
    assert page.status_code == 400
    assert _errors(page.text) == {
        "birth_date": "Tanggal lahir tidak valid. Tulis tanggal-bulan-tahun, contoh: 17\u201108\u20111990."
    }
    assert _value(page.text, "birth_date") == typed  # kept, to be corrected


def test_registration_takes_the_date_as_on_the_ktp(client, csrf_from, ani_data):
    token = csrf_from(client.get("/daftar").text)
    form = {**ani_data, "birth_date": "17081990", "pin_again": ani_data["pin"], "csrf_token": token}
    page = client.post("/daftar", data=form)
    assert page.status_code == 200 and "Pendaftaran diterima" in page.text
    assert Patient.get().birth_date.isoformat() == "1990-08-17"


# ---- PIN rules on every form ------------------------------------------------------------------------
@pytest.mark.parametrize("pin", ["170890", "900817", "081790"], ids=["DDMMYY", "YYMMDD", "MMDDYY"])
def test_registration_refuses_a_pin_made_of_the_birth_date(client, csrf_from, ani_data, pin):
    token = csrf_from(client.get("/daftar").text)
    page = client.post("/daftar", data={**ani_data, "pin": pin, "pin_again": pin, "csrf_token": token})
    assert page.status_code == 400
    assert _errors(page.text) == {"pin": "PIN tidak boleh berupa tanggal lahir Anda. Pilih PIN lain."}
    assert Patient.select().count() == 0


def test_the_pin_rules_are_shown_before_anything_is_typed(client, ani, ani_data, web_login):
    rules = "Jangan pakai tanggal lahir, angka sama (111111), atau angka berurutan (123456)"
    assert rules in client.get("/daftar").text and rules in client.get("/atur-pin").text
    web_login(client, ani_data)
    account = client.get("/akun").text
    assert rules in account and 'aria-describedby="pin-hint"' in account


def test_every_pin_field_is_a_numeric_password_field(client, ani, ani_data, web_login):
    pages = [client.get(url).text for url in ("/daftar", "/masuk", "/atur-pin")]
    web_login(client, ani_data)
    pages.append(client.get("/akun").text)
    fields = [tag for page in pages for tag in re.findall(r'<input[^>]*type="password"[^>]*>', page)]
    assert len(fields) == 2 + 1 + 2 + 3
    for tag in fields:
        assert 'inputmode="numeric"' in tag and 'maxlength="6"' in tag
        assert re.search(r'autocomplete="(new|current)-password"', tag)
    with client.get("/static/style.css") as css:
        assert 'input[type="password"]' in css.text  # styled like every other field


# ---- Lupa PIN -----------------------------------------------------------------------------------------
@pytest.fixture
def phones(app):
    """The notifier that takes the one-time codes (in memory)."""
    from infra.notify import FakeNotifier

    fake = FakeNotifier()
    app.extensions["rosma"].notifier = fake
    return fake


@pytest.mark.parametrize(
    ("nik", "birth", "expected"),
    [
        pytest.param("", "", {"nik": "NIK wajib diisi.", "birth_date": "Tanggal lahir wajib diisi."}, id="empty"),
        pytest.param("12345", "17-08-1990", {"nik": "NIK harus 16 digit angka."}, id="nik-short"),
        pytest.param("3201015708900002", "", {"birth_date": "Tanggal lahir wajib diisi."}, id="no-date"),
        pytest.param(
            "3201015708900002",
            "31-02-1990",
            {"birth_date": "Tanggal lahir tidak valid. Tulis tanggal-bulan-tahun, contoh: 17\u201108\u20111990."},
            id="no-such-date",
        ),
        pytest.param(
            "3201015708900002", "17-08-2999", {"birth_date": "Tanggal lahir harus sebelum hari ini."}, id="future"
        ),
    ],
)
def test_lupa_pin_checks_the_form_before_answering(client, ani, phones, csrf_from, nik, birth, expected):
    token = csrf_from(client.get("/lupa-pin").text)
    page = client.post("/lupa-pin", data={"csrf_token": token, "nik": nik, "birth_date": birth})
    assert page.status_code == 400
    assert _errors(page.text) == expected
    assert "kode telah dikirim" not in page.text and "<h1>Lupa PIN</h1>" in page.text
    assert phones.sent == []


def test_lupa_pin_answers_the_same_whether_or_not_the_nik_has_an_account(client, ani, phones, csrf_from):
    token = csrf_from(client.get("/lupa-pin").text)
    answers = []
    for nik, birth in (("3201015708900002", "17-08-1990"), ("3201011203850001", "12-03-1985")):
        page = client.post("/lupa-pin", data={"csrf_token": token, "nik": nik, "birth_date": birth})
        assert page.status_code == 200 and "Location" not in page.headers
        answers.append(page.text.replace(nik, "NIK").replace(birth, "TANGGAL"))
    assert answers[0] == answers[1]
    assert "Jika NIK dan tanggal lahir cocok, kode telah dikirim" in answers[0]
    assert len(phones.sent) == 1  # but only the account's owner got a code


def test_after_lupa_pin_the_new_pin_form_keeps_nik_and_date_and_sets_the_pin(client, ani, phones, csrf_from):
    token = csrf_from(client.get("/lupa-pin").text)
    page = client.post("/lupa-pin", data={"csrf_token": token, "nik": "3201 0157 0890 0002", "birth_date": "17081990"})
    assert "<h1>Buat PIN baru</h1>" in page.text and 'action="/atur-pin"' in page.text
    assert _value(page.text, "nik") == "3201015708900002" and _value(page.text, "birth_date") == "17-08-1990"
    assert re.search(r'name="code"[^>]* autofocus', page.text)
    form = {
        "csrf_token": token,
        "nik": _value(page.text, "nik"),
        "birth_date": _value(page.text, "birth_date"),
        "code": phones.sent[0].params[0],
        "pin": "582037",
        "pin_again": "582037",
    }
    done = client.post("/atur-pin", data=form)
    assert done.status_code == 200 and "PIN baru sudah disimpan" in done.text and "<h1>Masuk</h1>" in done.text
    assert _value(done.text, "nik") == "3201015708900002" and _value(done.text, "birth_date") == "17-08-1990"
    login = {"csrf_token": csrf_from(done.text), "nik": form["nik"], "birth_date": form["birth_date"], "pin": "582037"}
    assert client.post("/masuk", data=login).status_code == 302


def test_a_code_from_the_loket_opens_the_new_pin_form_with_what_was_typed(client, csrf_from):
    page = client.get("/lupa-pin")
    assert 'formaction="/atur-pin" name="step" value="isi"' in page.text  # a button, no NIK in a link
    form = {"csrf_token": csrf_from(page.text), "nik": "3201015708900002", "birth_date": "17-08-1990", "step": "isi"}
    opened = client.post("/atur-pin", data=form)
    assert opened.status_code == 200 and _errors(opened.text) == {} and 'class="alert"' not in opened.text
    assert _value(opened.text, "nik") == "3201015708900002" and _value(opened.text, "birth_date") == "17-08-1990"


def test_the_new_pin_form_sent_empty_marks_every_field(client, csrf_from):
    token = csrf_from(client.get("/atur-pin").text)
    page = client.post("/atur-pin", data={"csrf_token": token})
    assert page.status_code == 400
    assert _errors(page.text) == {
        "nik": "NIK wajib diisi.",
        "birth_date": "Tanggal lahir wajib diisi.",
        "code": "Kode wajib diisi.",
        "pin": "PIN wajib diisi.",
    }


@pytest.mark.parametrize("pin", ["170890", "900817", "081790"])
def test_the_new_pin_may_not_be_the_birth_date(client, ani, phones, csrf_from, pin):
    token = csrf_from(client.get("/lupa-pin").text)
    client.post("/lupa-pin", data={"csrf_token": token, "nik": ani.nik, "birth_date": "17-08-1990"})
    form = {"csrf_token": token, "nik": ani.nik, "birth_date": "17-08-1990", "code": phones.sent[0].params[0]}
    page = client.post("/atur-pin", data={**form, "pin": pin, "pin_again": pin})
    assert page.status_code == 400
    assert _errors(page.text) == {"pin": "PIN tidak boleh berupa tanggal lahir Anda. Pilih PIN lain."}
    assert _value(page.text, "code") == form["code"]  # only the PIN is typed again
    assert client.post("/atur-pin", data={**form, "pin": "582037", "pin_again": "582037"}).status_code == 200


def test_a_wrong_code_is_marked_on_the_code_field(client, ani, phones, csrf_from):
    token = csrf_from(client.get("/atur-pin").text)
    form = {"csrf_token": token, "nik": ani.nik, "birth_date": "17-08-1990", "code": "000000"}
    page = client.post("/atur-pin", data={**form, "pin": "582037", "pin_again": "582073"})
    assert _errors(page.text) == {"pin_again": "Kedua PIN tidak sama. Ulangi PIN yang sama."}
    page = client.post("/atur-pin", data={**form, "pin": "582037", "pin_again": "582037"})
    assert page.status_code == 400
    assert _errors(page.text) == {"code": "Kode tidak cocok atau sudah tidak berlaku. Minta kode baru."}
    assert _value(page.text, "code") == "" and _value(page.text, "nik") == ani.nik
    assert page.text.count("Kode tidak cocok") == 1  # said once, where it is to be fixed


# ---- the account page ---------------------------------------------------------------------------------
def test_changing_the_pin_with_an_empty_form_says_what_is_missing(client, ani, ani_data, web_login):
    token = web_login(client, ani_data)
    page = client.post("/akun/pin", data={"csrf_token": token})
    assert page.status_code == 400
    assert _errors(page.text) == {"old_pin": "PIN sekarang wajib diisi.", "pin": "PIN wajib diisi."}
    assert "PIN lama" not in page.text
    wrong = client.post(
        "/akun/pin", data={"csrf_token": token, "old_pin": "000111", "pin": "582037", "pin_again": "582037"}
    )
    assert wrong.status_code == 400 and _errors(wrong.text) == {"old_pin": "PIN sekarang salah."}
    birthday = {"csrf_token": token, "old_pin": ani_data["pin"], "pin": "170890", "pin_again": "170890"}
    refused = client.post("/akun/pin", data=birthday)
    assert _errors(refused.text) == {"pin": "PIN tidak boleh berupa tanggal lahir Anda. Pilih PIN lain."}
    done = {"csrf_token": token, "old_pin": ani_data["pin"], "pin": "582037", "pin_again": "582037"}
    assert client.post("/akun/pin", data=done).status_code == 302
    assert "PIN sudah diganti" in client.get("/akun").text


ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 10; SM-A105F) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
WINDOWS_FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"


def test_the_account_names_devices_as_people_know_them_with_times_in_wib(app, ani, ani_data, web_login):
    import datetime as dt

    from central.models import WebSession

    laptop = app.test_client()
    laptop.environ_base["HTTP_USER_AGENT"] = WINDOWS_FIREFOX
    web_login(laptop, ani_data)
    app.test_client().post(
        "/api/v1/login",
        json={"nik": ani.nik, "birth_date": ani_data["birth_date"], "pin": ani_data["pin"]},
        headers={"User-Agent": "python-requests/2.34.2"},
    )
    phone = app.test_client()
    phone.environ_base["HTTP_USER_AGENT"] = ANDROID_CHROME
    web_login(phone, ani_data)
    WebSession.update(last_seen=dt.datetime(2026, 12, 2, 2, 15)).execute()  # naive UTC, as stored
    page = phone.get("/akun").text
    names = re.findall(r'<span class="device-name">([^<]*)</span>', page)
    assert names == ["HP Android · Chrome", "Komputer Windows · Firefox", "Aplikasi"]  # this one first
    assert page.count("Perangkat ini") == 1 and page.index("Perangkat ini") < page.index("Komputer Windows")
    assert 'Terakhir dipakai <span class="nowrap">2 Des 2026 09.15 WIB</span>' in page
    assert "Mozilla/5.0" not in page and "python-requests" not in page and "UTC" not in page
    assert page.count(">Keluarkan</button>") == 2  # every device but this one


@pytest.mark.parametrize(
    ("agent", "name"),
    [
        (ANDROID_CHROME, "HP Android · Chrome"),
        (ANDROID_CHROME[:120], "HP Android · Chrome"),  # as stored: cut at 120 characters
        (WINDOWS_FIREFOX, "Komputer Windows · Firefox"),
        (
            "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0 Safari/537.36",
            "Tablet Android · Chrome",
        ),
        (
            "Mozilla/5.0 (Linux; Android 12; SAMSUNG SM-A125F) AppleWebKit/537.36 (KHTML, like Gecko) "
            "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
            "HP Android · Samsung Internet",
        ),
        (
            "Mozilla/5.0 (Linux; Android 11; RMX2185 Build/RP1A; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Version/4.0 Chrome/119.0 Mobile Safari/537.36",
            "HP Android · aplikasi",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.1 Mobile/15E148 Safari/604.1",
            "iPhone · Safari",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36 Edg/120.0",
            "Komputer Mac · Edge",
        ),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "Komputer Linux · Firefox"),
        ("python-requests/2.34.2", "Aplikasi"),
        ("okhttp/4.12.0", "Aplikasi"),
        ("", "Peramban"),
    ],
)
def test_device_names(agent, name):
    from central.web.auth import device_name

    assert device_name(agent) == name


def test_app_names_and_wib_times():
    import datetime as dt

    from central.web.auth import app_name, wib_time

    assert app_name("python-requests/2.34.2") == app_name("") == "Aplikasi"
    assert app_name("Rosma Android") == "Aplikasi Rosma Android"
    assert wib_time(dt.datetime(2026, 12, 1, 23, 5)) == "2 Des 2026 06.05 WIB"  # past midnight in Jakarta
    assert wib_time(dt.datetime(2026, 8, 17, 1, 0)) == "17 Agu 2026 08.00 WIB"


# ---- reservations and the header ------------------------------------------------------------------------
def test_the_reservation_code_is_shown_in_groups_of_four_capitals(client, ani, ani_data, web_login, visit_date):
    token = web_login(client, ani_data)
    rid = client.post("/reservasi/baru", data=_form(visit_date, token)).headers["Location"].rsplit("/", 1)[1]
    page = client.get(f"/reservasi/{rid}").text
    shown = re.search(r'id="kode-reservasi">([^<]*)<', page).group(1)
    assert shown == " ".join(rid[i : i + 4].upper() for i in range(0, 16, 4)) and len(rid) == 16
    assert f'href="/reservasi/{rid}/qr.png?unduh=1"' in page  # the code itself is unchanged elsewhere


def test_without_a_puskesmas_the_poli_list_says_so_briefly(client, ani, ani_data, web_login):
    web_login(client, ani_data)
    assert '<option value="">Pilih puskesmas dulu</option>' in client.get("/reservasi/baru").text
    with client.get("/static/app.js") as script:  # what the page says once a puskesmas is cleared again
        assert '"Pilih puskesmas dulu"' in script.text and "terlebih dahulu" not in script.text


def test_the_patient_pages_say_antrean(client):
    home = client.get("/").text
    assert "Tunjukkan kode QR ke mesin antrean (APM) di puskesmas." in home
    place = client.get("/puskesmas/cibinong").text
    assert ">Lihat antrean hari ini</a>" in place and 'href="/antrian/cibinong"' in place  # the address stays


def test_an_id_beyond_any_integer_gets_a_404_not_a_500(client, ani, ani_data, web_login):
    token = web_login(client, ani_data)
    for path in ("/akun/aplikasi/99999999999999999999/keluar", "/akun/perangkat/99999999999999999999/keluar"):
        assert client.post(path, data={"csrf_token": token}).status_code == 404


def test_a_database_busy_beyond_its_wait_is_a_clear_503_that_changed_nothing(app, client, monkeypatch):
    """SQLite answers "database is locked" when another writer holds it past busy_timeout."""
    from peewee import OperationalError

    from central.web import pages

    def locked(*_a, **_k):
        raise OperationalError("database is locked")

    monkeypatch.setattr(pages.services, "list_puskesmas", locked)
    r = client.get("/")
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    assert "Sistem sedang sibuk" in r.text and "Tidak ada yang berubah" in r.text
