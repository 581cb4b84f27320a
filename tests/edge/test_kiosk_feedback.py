"""The kiosk's "Bagaimana layanan kami?" rating: only a kiosk shows it and records a rating, each
rating is one typed event in the outbox (so it reaches central whenever the link is up), bad
input is refused in Indonesian and changes nothing, and one kiosk cannot flood it."""

from __future__ import annotations

import json
import re

import pytest

from edge.app import Runtime, create_app
from edge.config import from_dict
from edge.models import Outbox, Poli
from edge.sync import SyncClient
from edge.web import auth
from protocol import events, passwords
from protocol.changes import StaffChanged

LAN = {"REMOTE_ADDR": "192.168.10.23"}  # a computer on the puskesmas LAN, not the node itself
PASSWORD = "kata-sandi-loket"


@pytest.fixture
def app(tmp_path):
    cfg = from_dict(
        {
            "node_id": "pkm-test",
            "puskesmas_code": "cibinong",
            "puskesmas_name": "Puskesmas Cibinong",
            "qr_public_keys": {"56475aa75463474c": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="},
            "polis": [
                {"code": "UMUM", "name": "Poli Umum", "prefix": "U"},
                {"code": "GIGI", "name": "Poli Gigi", "prefix": "G"},
            ],
            "data_dir": str(tmp_path),
            "kiosk_on_this_device": False,
        }
    )
    rt = Runtime(cfg)
    SyncClient._upsert_staff(
        StaffChanged(
            username="rina", name="Rina", role="petugas_loket", polis="", password_hash=passwords.hash_secret(PASSWORD)
        )
    )
    a = create_app(cfg, rt)
    yield a
    rt.stop.set()
    rt.db.close()


def token_of(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


@pytest.fixture
def kiosk(app):
    """A browser a petugas loket paired as a kiosk."""
    c = app.test_client()
    token = token_of(c.get("/staff/masuk", environ_base=LAN))
    c.post("/staff/masuk", data={"csrf_token": token, "username": "rina", "password": PASSWORD}, environ_base=LAN)
    token = token_of(c.get("/staff/anjungan", environ_base=LAN))
    paired = c.post("/staff/anjungan", data={"csrf_token": token, "name": "Anjungan depan"}, environ_base=LAN)
    assert paired.status_code == 302
    return c


def ratings() -> list[dict]:
    rows = Outbox.select().where(Outbox.type == events.KioskFeedbackGiven.NAME).order_by(Outbox.seq)
    return [json.loads(r.data) for r in rows]


def rate(kiosk, **form):
    token = token_of(kiosk.get("/kiosk/nilai", environ_base=LAN))
    return kiosk.post("/kiosk/nilai", data={"csrf_token": token, **form}, environ_base=LAN)


def test_the_kiosk_home_offers_the_rating_screen_with_five_choices_and_the_active_poli(app, kiosk):
    home = kiosk.get("/kiosk", environ_base=LAN).text
    assert 'href="/kiosk/nilai"' in home and "Bagaimana layanan kami?" in home
    with app.app_context():
        Poli.create(code="UMUM", name="Poli Umum", prefix="U", order=1)
        Poli.create(code="GIGI", name="Poli Gigi", prefix="G", order=2, active=False)
        Poli.create(code="KIA", name="Poli <KIA> & Anak", prefix="K", order=3)
    page = kiosk.get("/kiosk/nilai", environ_base=LAN)
    assert page.status_code == 200
    text = page.text
    labels = re.findall(r'data-rating="(\d)">.*?<b>([^<]+)</b>', text, re.S)
    assert labels == [("1", "Sangat buruk"), ("2", "Buruk"), ("3", "Cukup"), ("4", "Baik"), ("5", "Sangat baik")]
    polis = re.findall(r'name="poli" value="([^"]*)"', text)
    assert polis == ["", "UMUM", "KIA"]  # the active poli, in order; none chosen at first
    assert "Poli &lt;KIA&gt; &amp; Anak" in text and "<KIA>" not in text
    assert "<textarea" not in text and 'type="text"' not in text  # no keyboard at the kiosk
    assert 'http-equiv="refresh"' in text  # an unattended screen returns home


def test_a_rating_is_one_event_in_the_outbox_and_the_patient_is_thanked(app, kiosk):
    done = rate(kiosk, rating="4", poli="GIGI")
    assert done.status_code == 200
    assert "Terima kasih!" in done.text and 'content="5;url=/kiosk"' in done.text  # back home by itself
    rate(kiosk, rating="1")
    got = ratings()
    assert [(r["rating"], r["poli"]) for r in got] == [(4, "GIGI"), (1, "")]
    assert got[0]["actor"] == {"counter": "kiosk", "staff": ""}
    assert got[0]["at"].endswith("+07:00")
    assert set(got[0]) == {"rating", "poli", "at", "actor"}  # nothing personal, no ticket
    assert not Outbox.select().where(Outbox.type == "feedback.kiosk", Outbox.delivered).exists()  # until central acks


def test_the_json_endpoint_records_a_rating_and_answers_in_indonesian(kiosk):
    r = kiosk.post("/api/kiosk/nilai", json={"rating": 5, "poli": "UMUM"}, environ_base=LAN)
    assert r.status_code == 201 and r.get_json()["message"] == "Terima kasih atas penilaian Anda."
    assert [(x["rating"], x["poli"]) for x in ratings()] == [(5, "UMUM")]


@pytest.mark.parametrize("rating", ["0", "6", "", "lima", "3.5", "-1", "٣"])
def test_a_bad_rating_is_refused_in_indonesian_and_records_nothing(kiosk, rating):
    page = rate(kiosk, rating=rating)
    assert page.status_code == 400
    assert "Pilih salah satu dari lima nilai" in page.text and 'id="rating-error"' in page.text
    api = kiosk.post("/api/kiosk/nilai", json={"rating": rating}, environ_base=LAN)
    assert api.status_code == 400
    assert api.get_json()["fields"]["rating"].startswith("Pilih salah satu dari lima nilai")
    assert ratings() == []


@pytest.mark.parametrize("body", [{"rating": True}, {"rating": 9}, {"rating": None}, {}])
def test_the_json_endpoint_refuses_what_is_not_a_rating(kiosk, body):
    r = kiosk.post("/api/kiosk/nilai", json=body, environ_base=LAN)
    assert r.status_code == 400 and "nilai" in r.get_json()["error"]
    assert ratings() == []


def test_an_unknown_poli_is_refused_and_the_choice_is_kept(kiosk):
    page = rate(kiosk, rating="5", poli="<script>")
    assert page.status_code == 400 and "Poli tidak ditemukan" in page.text
    assert "<script>" not in page.text
    api = kiosk.post("/api/kiosk/nilai", json={"rating": 5, "poli": "JIWA"}, environ_base=LAN)
    assert api.status_code == 400 and "poli" in api.get_json()["fields"]
    assert ratings() == []


def test_only_a_kiosk_shows_the_screen_and_records_a_rating(app):
    stranger = app.test_client()
    page = stranger.get("/kiosk/nilai", environ_base=LAN)
    assert page.status_code == 403 and "bukan anjungan" in page.text
    assert stranger.post("/kiosk/nilai", data={"rating": "5"}, environ_base=LAN).status_code in (400, 403)
    api = stranger.post("/api/kiosk/nilai", json={"rating": 5}, environ_base=LAN)
    assert api.status_code == 403 and "bukan anjungan" in api.get_json()["error"]
    assert ratings() == []


def test_a_rating_from_another_site_is_refused(kiosk):
    r = kiosk.post(
        "/api/kiosk/nilai", json={"rating": 1}, environ_base=LAN, headers={"Origin": "https://jahat.example"}
    )
    assert r.status_code == 403 and ratings() == []


def test_one_kiosk_cannot_flood_the_ratings(kiosk):
    codes = [
        kiosk.post("/api/kiosk/nilai", json={"rating": 5}, environ_base=LAN).status_code
        for _ in range(auth.KIOSK_RATINGS_PER_MINUTE + 2)
    ]
    assert codes.count(201) == auth.KIOSK_RATINGS_PER_MINUTE and codes[-1] == 429
    page = rate(kiosk, rating="5")
    assert page.status_code == 429 and "Terlalu banyak penilaian dalam satu menit" in page.text
    assert len(ratings()) == auth.KIOSK_RATINGS_PER_MINUTE
    # the ticket limit is its own: a queue of ratings does not stop tickets
    assert kiosk.post("/api/kiosk/walkin", json={"payer": "UMUM"}, environ_base=LAN).status_code == 201
