"""Kritik & saran: a patient sends them from the web (/kritik-saran) and the app (/api/v1/feedback),
checked field by field and throttled; the back office (/petugas/kritik-saran/) lists them within
each role's puskesmas, filters, marks them followed up and answers; the patient reads the answer
in her history. Text a patient or a staff member typed is shown escaped on every page.
On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from html import unescape

import pytest

from central import feedback, services, staff
from central.models import AuditLog, Feedback, Patient, Poli, Puskesmas, Reservation, ThrottleBucket

PASSWORD = "kata-sandi-rahasia"
SCRIPT = "<script>alert('ks')</script>"
ESCAPED = "&lt;script&gt;alert(&#39;ks&#39;)&lt;/script&gt;"


def token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no form"
    return match.group(1)


def errors_of(html: str) -> list[str]:
    """The field errors as the user reads them."""
    return [unescape(m) for m in re.findall(r'<p class="error" id="[^"]+">([^<]+)</p>', html)]


def past_visit(patient: Patient, code: str = "cibinong", days_ago: int = 2, poli: str = "UMUM") -> Reservation:
    """A reservation of some days ago (history: booking through the service only takes future days)."""
    place = Puskesmas.get(code=code)
    return Reservation.create(
        rid=secrets.token_hex(8),
        patient=patient,
        puskesmas=place,
        poli=Poli.get(puskesmas=place, code=poli),
        date=services.now_wib().date() - dt.timedelta(days=days_ago),
        slot="08:00-09:00",
        payer="UMUM",
        status="done",
        qr_text="RS1:test",
    )


def patient_login(client, person: dict) -> None:
    page = client.get("/masuk")
    data = {"csrf_token": token(page.text), **{k: person[k] for k in ("nik", "birth_date", "pin")}}
    assert client.post("/masuk", data=data).status_code == 302


def send(client, **fields):
    page = client.get("/kritik-saran")
    return client.post("/kritik-saran", data={"csrf_token": token(page.text), **fields})


def staff_client(app, role: str, puskesmas: str | None = "cibinong"):
    client = app.test_client()
    username = f"{role.replace('_', '.')}.{puskesmas or 'kab'}"
    staff.add(
        username,
        f"Bu {role.split('_')[0].title()}",
        role,
        puskesmas,
        "UMUM" if role == "petugas_poli" else "",
        PASSWORD,
    )
    page = client.get("/petugas/masuk")
    r = client.post("/petugas/masuk", data={"csrf_token": token(page.text), "username": username, "password": PASSWORD})
    assert r.status_code == 302, r.text
    return client


def staff_post(client, path: str, data: dict, page: str = "/petugas/kritik-saran/"):
    return client.post(path, data={"csrf_token": token(client.get(page).text), **data})


# ---- the patient's form -----------------------------------------------------------------------------
def test_the_form_needs_a_signed_in_patient(client):
    r = client.get("/kritik-saran")
    assert r.status_code == 302 and r.location.startswith("/masuk")


def test_a_patient_sends_a_rating_about_her_visit_and_sees_it_listed(client, ani, ani_data):
    visit = past_visit(ani, "cibinong")
    patient_login(client, ani_data)
    page = client.get(f"/kritik-saran?kunjungan={visit.rid}")
    assert f'<option value="{visit.rid}" data-puskesmas="cibinong" selected>' in page.text
    assert '<option value="cibinong" selected>' in page.text
    r = send(client, puskesmas="cibinong", rid=visit.rid, rating="4", text="  Petugas ramah,\r\nantrean agak lama.  ")
    assert r.status_code == 302
    page = client.get(r.location)
    assert "Terima kasih! Kritik &amp; saran Anda sudah kami terima" in page.text
    assert "Petugas ramah,\nantrean agak lama." in page.text
    assert "★★★★☆" in page.text and "Terkirim" in page.text
    fb = Feedback.get()
    assert (fb.rating, fb.text, fb.rid, fb.source, fb.puskesmas.code) == (
        4,
        "Petugas ramah,\nantrean agak lama.",
        visit.rid,
        "web",
        "cibinong",
    )
    assert fb.patient_id == ani.id


def test_a_rating_alone_is_enough(client, ani, ani_data):
    patient_login(client, ani_data)
    assert send(client, puskesmas="ciawi", rating="5", text="").status_code == 302
    assert Feedback.get().text == "" and Feedback.get().rid is None


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"rating": ""}, "rating", feedback.RATING_REQUIRED),
        ({"rating": "0"}, "rating", feedback.RATING_REQUIRED),
        ({"rating": "6"}, "rating", feedback.RATING_REQUIRED),
        ({"rating": "٣"}, "rating", feedback.RATING_REQUIRED),  # an Arabic-Indic digit is no rating
        ({"puskesmas": ""}, "puskesmas", feedback.PUSKESMAS_REQUIRED),
        ({"puskesmas": "bukan-puskesmas"}, "puskesmas", feedback.PUSKESMAS_UNKNOWN),
        ({"text": "a" * 1001}, "text", "Tulisan terlalu panjang: paling banyak 1.000 huruf."),
        ({"text": "Bagus\u202esekali"}, "text", feedback.TEXT_HIDDEN),  # reads backwards on screen
        ({"text": "Bagus\u200bsekali"}, "text", feedback.TEXT_HIDDEN),
        ({"text": "bel\x07"}, "text", feedback.TEXT_HIDDEN),
        ({"rid": "0000000000000000"}, "rid", feedback.VISIT_UNKNOWN),
    ],
)
def test_bad_input_gets_a_field_error_and_stores_nothing(client, ani, ani_data, fields, field, message):
    patient_login(client, ani_data)
    r = send(client, **{"puskesmas": "cibinong", "rating": "3", "text": "Cukup", **fields})
    assert r.status_code == 400
    assert errors_of(r.text) == [message]
    assert f'id="field-{field}"' in r.text
    assert "Ada isian yang perlu diperbaiki" in r.text
    assert Feedback.select().count() == 0


def test_exactly_1000_characters_with_line_breaks_are_taken(client, ani, ani_data):
    patient_login(client, ani_data)
    text = (("baris\n" * 166) + "akhir")[:1000]  # 1000 characters, 166 of them line breaks
    assert send(client, puskesmas="cibinong", rating="2", text=text).status_code == 302
    assert Feedback.get().text == text.strip()


def test_the_visit_must_be_her_own_at_that_puskesmas_and_not_in_the_future(client, ani, ani_data, budi, visit_date):
    someone_elses = past_visit(budi, "cibinong")
    at_ciawi = past_visit(ani, "ciawi")
    upcoming = services.reserve(ani, "cibinong", "UMUM", visit_date, "08:00-09:00", "UMUM")
    cancelled = past_visit(ani, "cibinong", days_ago=5)
    Reservation.update(status="cancelled").where(Reservation.id == cancelled.id).execute()
    patient_login(client, ani_data)
    page = client.get("/kritik-saran")
    assert at_ciawi.rid in page.text  # her past visits are offered
    assert upcoming.rid not in page.text and someone_elses.rid not in page.text and cancelled.rid not in page.text
    for rid, message in (
        (someone_elses.rid, feedback.VISIT_UNKNOWN),
        (at_ciawi.rid, feedback.VISIT_ELSEWHERE),
        (upcoming.rid, feedback.VISIT_FUTURE),
    ):
        r = send(client, puskesmas="cibinong", rating="3", rid=rid)
        assert r.status_code == 400
        assert errors_of(r.text) == [message]
    assert Feedback.select().count() == 0


def test_five_a_day_per_account_then_a_clear_message(client, ani, ani_data):
    patient_login(client, ani_data)
    assert send(client, puskesmas="cibinong", rating="").status_code == 400  # refused: not counted
    for n in range(5):
        assert send(client, puskesmas="cibinong", rating=str(n + 1)).status_code == 302
    r = send(client, puskesmas="cibinong", rating="5", text="keenam")
    assert r.status_code == 429
    assert "Anda sudah mengirim 5 kritik &amp; saran dalam 24 jam terakhir" in r.text
    assert "keenam" in r.text  # what she typed is kept in the form
    assert Feedback.select().count() == 5


def test_one_address_is_limited_and_a_refusal_gives_the_account_its_hit_back(app):
    people = [
        Patient.create(
            nik=f"32010157089000{n:02d}",
            name=f"Pasien {n}",
            birth_date=dt.date(1990, 8, 17),
            sex="P",
            address="Cibinong",
            phone="081234567890",
        )
        for n in range(5)
    ]
    for person in people[:4]:
        for _ in range(5):
            feedback.submit(person, "cibinong", 4, "", client="203.0.113.9")
    with pytest.raises(feedback.TooMany) as refused:
        feedback.submit(people[4], "cibinong", 4, "", client="203.0.113.9")
    assert refused.value.status == 429
    assert "Terlalu banyak kiriman dari jaringan ini. Coba lagi dalam" in refused.value.message
    # from another address her five of the day are all still hers
    for _ in range(5):
        feedback.submit(people[4], "cibinong", 4, "", client="198.51.100.7")
    assert Feedback.select().count() == 25
    assert all("203.0.113.9" not in b.key for b in ThrottleBucket.select())  # addresses are hashed


# ---- the app's API ----------------------------------------------------------------------------------
def test_the_api_sends_and_lists_with_json_errors(client, ani, ani_data, auth_header):
    visit = past_visit(ani, "ciawi", poli="UMUM")
    headers = auth_header(client, ani_data)
    assert client.get("/api/v1/feedback").status_code == 401
    assert client.post("/api/v1/feedback", json={"puskesmas": "ciawi", "rating": 5}).status_code == 401
    r = client.post("/api/v1/feedback", data="rating=5", headers=headers)
    assert r.status_code == 415 and r.json["error"].startswith("Kirim data dalam format JSON")
    r = client.post("/api/v1/feedback", json={"puskesmas": "ciawi", "rating": 9, "text": "x" * 1001}, headers=headers)
    assert r.status_code == 400
    assert r.json["fields"] == {"rating": feedback.RATING_REQUIRED, "text": feedback.TEXT_TOO_LONG}
    r = client.post("/api/v1/feedback", json={"puskesmas": "ciawi", "rating": True}, headers=headers)
    assert r.status_code == 400 and set(r.json["fields"]) == {"rating"}
    r = client.post(
        "/api/v1/feedback",
        json={"puskesmas": "ciawi", "rating": 2, "text": SCRIPT, "rid": visit.rid},
        headers=headers,
    )
    assert r.status_code == 201, r.json
    sent = r.json["feedback"]
    assert sent["rating"] == 2 and sent["text"] == SCRIPT and sent["source"] == "app"
    assert sent["visit"] == {"date": visit.date.isoformat(), "slot": "08:00-09:00", "poli": "Poli Umum"}
    assert sent["status"] == "baru" and sent["answer"] is None
    r = client.get("/api/v1/feedback", headers=headers)
    assert [f["id"] for f in r.json["feedback"]] == [sent["id"]]
    assert "nik" not in json.dumps(r.json)


# ---- the back office --------------------------------------------------------------------------------
@pytest.fixture
def two_places(app, ani, budi):
    """Ani's feedback about Cibinong (one with a script in it), Budi's about Ciawi."""
    visit = past_visit(ani, "cibinong")
    mine = feedback.submit(ani, "cibinong", 2, SCRIPT + " antrean lama", rid=visit.rid, client="a")
    feedback.submit(ani, "cibinong", 5, "Bersih dan cepat", client="a")
    other = feedback.submit(budi, "ciawi", 1, "Loket tutup terlalu cepat", client="b")
    return {"cibinong": mine, "ciawi": other, "visit": visit}


@pytest.mark.parametrize("role", ["admin_puskesmas", "kepala_puskesmas"])
def test_a_puskesmas_sees_only_its_own_with_first_names_only(app, two_places, role, ani_data):
    client = staff_client(app, role)
    r = client.get("/petugas/kritik-saran/")
    assert r.status_code == 200
    assert "Kritik &amp; saran · Puskesmas Cibinong" in r.text
    assert ESCAPED + " antrean lama" in r.text and SCRIPT not in r.text
    assert "Bersih dan cepat" in r.text
    assert "Loket tutup terlalu cepat" not in r.text
    assert "· Ani\n" in r.text or "· Ani " in r.text
    for private in (ani_data["nik"], "Lestari", ani_data["phone"], "1990", "17 Agustus"):
        assert private not in r.text
    assert f"kunjungan {two_places['visit'].date.day} " in r.text
    assert client.get("/petugas/kritik-saran/?puskesmas=ciawi").status_code == 403
    other = two_places["ciawi"]
    r = staff_post(client, f"/petugas/kritik-saran/{other.id}/tindak-lanjut", {})
    assert r.status_code == 403
    r = staff_post(client, f"/petugas/kritik-saran/{other.id}/jawab", {"answer": "Maaf"})
    assert r.status_code == 403
    other = Feedback.get_by_id(other.id)
    assert other.followed_up_at is None and other.answer == ""
    assert client.get("/petugas/kritik-saran/99999/jawab").status_code == 404


def test_admin_kabupaten_sees_every_puskesmas_and_chooses_one(app, two_places):
    client = staff_client(app, "admin_kabupaten", None)
    r = client.get("/petugas/kritik-saran/")
    assert r.status_code == 200
    assert "Loket tutup terlalu cepat" in r.text and "Bersih dan cepat" in r.text
    assert "3 kritik &amp; saran" in r.text
    r = client.get("/petugas/kritik-saran/?puskesmas=ciawi")
    assert "Loket tutup terlalu cepat" in r.text and "Bersih dan cepat" not in r.text
    assert client.get("/petugas/kritik-saran/?puskesmas=tidak-ada").status_code == 404


@pytest.mark.parametrize("role", ["petugas_loket", "petugas_poli"])
def test_petugas_are_refused(app, two_places, role):
    client = staff_client(app, role)
    r = client.get("/petugas/kritik-saran/")
    assert r.status_code == 403 and "Akses ditolak" in r.text
    fb = two_places["cibinong"]
    r = client.post(
        f"/petugas/kritik-saran/{fb.id}/tindak-lanjut", data={"csrf_token": token(client.get("/petugas/").text)}
    )
    assert r.status_code == 403
    assert Feedback.get_by_id(fb.id).followed_up_at is None


def test_not_signed_in_staff_sign_in_first(client):
    r = client.get("/petugas/kritik-saran/")
    assert r.status_code == 302 and "/petugas/masuk" in r.location


def test_the_kepala_answers_and_the_patient_reads_it_in_her_history(app, two_places, ani_data, auth_header):
    fb = two_places["cibinong"]
    kepala = staff_client(app, "kepala_puskesmas")
    r = staff_post(
        kepala, f"/petugas/kritik-saran/{fb.id}/jawab", {"answer": "   ", "kembali": "/petugas/kritik-saran/"}
    )
    assert r.status_code == 400 and errors_of(r.text) == [feedback.ANSWER_REQUIRED]
    assert Feedback.get_by_id(fb.id).answer == ""
    answer = "Terima kasih, Bu. Mulai Senin loket dibuka 07.00. <b>tebal</b>"
    r = staff_post(
        kepala,
        f"/petugas/kritik-saran/{fb.id}/jawab",
        {"answer": answer, "kembali": "/petugas/kritik-saran/?status=baru"},
    )
    assert r.status_code == 302 and r.location.endswith(f"/petugas/kritik-saran/?status=baru#ks-{fb.id}")
    page = kepala.get("/petugas/kritik-saran/")
    assert "Jawaban tersimpan" in page.text
    assert "&lt;b&gt;tebal&lt;/b&gt;" in page.text and "<b>tebal</b>" not in page.text
    assert "Sudah dijawab" in page.text
    fb = Feedback.get_by_id(fb.id)
    assert fb.answer == answer and fb.answered_by.role == "kepala_puskesmas" and fb.followed_up_at is not None
    log = AuditLog.get(AuditLog.entity == "feedback")
    assert (log.actor, log.entity_key, log.action, log.puskesmas_id) == (
        "kepala.puskesmas.cibinong",
        str(fb.id),
        "update",
        fb.puskesmas_id,
    )
    assert json.loads(log.before)["status"] == "baru" and json.loads(log.after)["answer"] == answer
    assert ani_data["nik"] not in log.before + log.after

    patient = app.test_client()
    patient_login(patient, ani_data)
    history = patient.get("/riwayat").text
    assert "Jawaban Puskesmas Cibinong" in history
    assert "Terima kasih, Bu. Mulai Senin loket dibuka 07.00. &lt;b&gt;tebal&lt;/b&gt;" in history
    assert ESCAPED + " antrean lama" in history and SCRIPT not in history
    own = patient.get("/kritik-saran").text
    assert "Sudah dijawab" in own and "&lt;b&gt;tebal&lt;/b&gt;" in own and SCRIPT not in own
    api = patient.get("/api/v1/feedback", headers=auth_header(patient, ani_data)).json["feedback"]
    answered = next(f for f in api if f["id"] == fb.id)
    assert answered["answer"] == answer and answered["status"] == "dijawab"


def test_marking_followed_up_is_audited_once(app, two_places):
    fb = two_places["cibinong"]
    admin = staff_client(app, "admin_puskesmas")
    for _ in range(2):
        r = staff_post(admin, f"/petugas/kritik-saran/{fb.id}/tindak-lanjut", {"kembali": "/petugas/kritik-saran/"})
        assert r.status_code == 302
    assert AuditLog.select().where(AuditLog.entity == "feedback").count() == 1
    page = admin.get("/petugas/kritik-saran/?status=ditindaklanjuti")
    assert "Sudah ditindaklanjuti" in page.text and "1 kritik &amp; saran" in page.text
    assert "Tandai sudah ditindaklanjuti" not in page.text
    assert "Bersih dan cepat" not in page.text


def test_the_answer_page_shows_escaped_text_and_a_too_long_answer_is_refused(app, two_places):
    fb = two_places["cibinong"]
    admin = staff_client(app, "admin_puskesmas")
    page = admin.get(f"/petugas/kritik-saran/{fb.id}/jawab")
    assert page.status_code == 200 and ESCAPED in page.text and SCRIPT not in page.text
    r = staff_post(admin, f"/petugas/kritik-saran/{fb.id}/jawab", {"answer": "x" * 1001})
    assert r.status_code == 400 and errors_of(r.text) == [feedback.TEXT_TOO_LONG]
    r = staff_post(admin, f"/petugas/kritik-saran/{fb.id}/jawab", {"answer": "ok\u202e"})
    assert r.status_code == 400 and errors_of(r.text) == [feedback.TEXT_HIDDEN]
    assert Feedback.get_by_id(fb.id).answer == ""


def test_filters_summary_and_pages(app, ani, budi):
    now = services.now_wib()
    ratings = [5] * 12 + [4] * 6 + [3] * 3 + [1] * 4  # 25 in the last days
    for n, rating in enumerate(ratings):
        fb = Feedback.create(
            puskesmas=Puskesmas.get(code="cibinong"),
            patient=ani if n % 2 else budi,
            rating=rating,
            text=f"Catatan nomor {n}" + (" 100% puas_sekali" if n == 3 else ""),
            created_at=(now - dt.timedelta(days=n % 5)).astimezone(dt.UTC).replace(tzinfo=None),
        )
        if n < 5:
            fb.answer, fb.answered_at, fb.followed_up_at = "Terima kasih", fb.created_at, fb.created_at
            fb.save()
    Feedback.create(
        puskesmas=Puskesmas.get(code="cibinong"),
        patient=ani,
        rating=1,
        text="lama sekali",
        created_at=(now - dt.timedelta(days=40)).astimezone(dt.UTC).replace(tzinfo=None),
    )
    kepala = staff_client(app, "kepala_puskesmas")
    page = kepala.get("/petugas/kritik-saran/").text
    assert "26 kritik &amp; saran · halaman 1 dari 2" in page
    assert "3,8<small> / 5</small>" in page  # (60 + 24 + 9 + 4 + 1) / 26 = 3.77
    page2 = kepala.get("/petugas/kritik-saran/?hal=2").text
    assert "halaman 2 dari 2" in page2 and page2.count('class="feedback-item"') == 6

    start = (now - dt.timedelta(days=4)).date().strftime("%d-%m-%Y")
    period = kepala.get(f"/petugas/kritik-saran/?dari={start}").text
    assert "25 kritik &amp; saran" in period and "lama sekali" not in period
    assert "3,9<small> / 5</small>" in period  # (60 + 24 + 9 + 4) / 25 = 3.88
    assert "rata-rata dari 25 penilaian pada periode ini" in period
    assert '<th scope="row">5 ★</th><td class="num">12</td>' in period
    assert '<th scope="row">1 ★</th><td class="num">4</td>' in period
    assert "20%" in period  # 5 of 25 answered

    ones = kepala.get(f"/petugas/kritik-saran/?dari={start}&nilai=1").text
    assert "4 kritik &amp; saran" in ones
    answered = kepala.get("/petugas/kritik-saran/?status=dijawab").text
    assert "5 kritik &amp; saran" in answered
    new = kepala.get("/petugas/kritik-saran/?status=baru").text
    assert "21 kritik &amp; saran" in new
    search = kepala.get("/petugas/kritik-saran/?cari=100%25 PUAS_").text  # % and _ are plain characters
    assert "1 kritik &amp; saran" in search and "Catatan nomor 3 100% puas_sekali" in search
    assert "0 kritik &amp; saran" in kepala.get("/petugas/kritik-saran/?cari=%25%25").text

    bad = kepala.get("/petugas/kritik-saran/?dari=31-02-2026&nilai=7&status=lupa")
    assert bad.status_code == 400
    assert errors_of(bad.text) == [
        "Pilih nilai 1 sampai 5.",
        "Pilih status: baru, sudah ditindaklanjuti, atau sudah dijawab.",
        "Tanggal awal tidak valid. Contoh: 01-12-2026.",
    ]
    assert "26 kritik &amp; saran" in bad.text  # the unfiltered list still shows
    late = kepala.get("/petugas/kritik-saran/?dari=10-12-2026&sampai=01-12-2026")
    assert late.status_code == 400 and errors_of(late.text) == ["Tanggal akhir tidak boleh sebelum tanggal awal."]


def test_the_puskesmas_page_shows_its_average_rating_and_a_way_to_send_one(client, ani, budi):
    page = client.get("/puskesmas/cibinong").text
    assert "Penilaian pasien" not in page  # no rating yet: nothing to average
    assert 'href="/kritik-saran?puskesmas=cibinong"' in page
    feedback.submit(ani, "cibinong", 5, "", client="a")
    feedback.submit(budi, "cibinong", 4, "", client="b")
    feedback.submit(budi, "ciawi", 1, "", client="b")
    page = client.get("/puskesmas/cibinong").text
    assert "4,5 dari 5 (2 penilaian)" in page
