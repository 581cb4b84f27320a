"""Central's staff pages (/petugas) as staff use them: sign-in, the loket's PIN reset after
checking the KTP, the refusal page, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from central import staff
from central.models import PinReset

PASSWORD = "kata-sandi-rahasia"


def token(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def sign_in(client, username: str, password: str = PASSWORD):
    page = client.get("/petugas/masuk")
    return client.post("/petugas/masuk", data={"csrf_token": token(page), "username": username, "password": password})


def test_an_empty_sign_in_says_what_is_missing_and_is_not_a_wrong_try(client, app):
    staff.add("loket.cibinong", "Rina", "petugas_loket", "cibinong", "", PASSWORD)
    for _ in range(25):  # more than any backoff allows wrong tries
        r = client.post("/petugas/masuk", data={"csrf_token": token(client.get("/petugas/masuk"))})
        assert r.status_code == 400
    assert "Nama pengguna wajib diisi." in r.text and "Kata sandi wajib diisi." in r.text
    assert "salah" not in r.text
    assert sign_in(client, "loket.cibinong").status_code == 302


def test_the_loket_reset_marks_each_missing_field_and_then_gives_a_code(client, app, ani, ani_data):
    staff.add("loket.cibinong", "Rina", "petugas_loket", "cibinong", "", PASSWORD)
    sign_in(client, "loket.cibinong")
    empty = client.post("/petugas/reset-pin", data={"csrf_token": token(client.get("/petugas/reset-pin"))})
    assert empty.status_code == 400
    for text in ("NIK wajib diisi.", "Tanggal lahir wajib diisi.", "Centang bahwa KTP pasien sudah Anda periksa."):
        assert text in empty.text
    assert PinReset.select().count() == 0
    form = {"nik": ani_data["nik"], "birth_date": "17-08-1990", "ktp": "1"}  # typed as on the KTP
    done = client.post("/petugas/reset-pin", data={"csrf_token": token(client.get("/petugas/reset-pin")), **form})
    assert done.status_code == 200 and re.search(r'id="reset-code">\d{8}<', done.text)
    assert "Ani Lestari" in done.text
    assert ani_data["nik"] not in done.text  # the form is cleared: the next patient does not see it
    assert "127.0.0.1" not in done.text and "localhost" not in done.text  # no address her phone cannot open
    assert PinReset.select().count() == 1


def test_a_role_that_may_not_reset_gets_a_refusal_with_the_way_back_to_its_pages(client, app):
    staff.add("poli.cibinong", "Dewi", "petugas_poli", "cibinong", "UMUM", PASSWORD)
    sign_in(client, "poli.cibinong")
    refused = client.get("/petugas/reset-pin")
    assert refused.status_code == 403 and "Peran Anda tidak boleh membuka halaman ini." in refused.text
    assert 'href="/petugas/"' in refused.text and "Kembali ke halaman petugas" in refused.text
    assert 'href="/daftar"' not in refused.text  # the staff menu, not the patient's
    home = client.get("/petugas/")
    assert "node puskesmas" in home.text and "Atur ulang PIN pasien" not in home.text
