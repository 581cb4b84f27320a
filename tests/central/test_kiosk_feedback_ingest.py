"""A rating given at a kiosk ("Bagaimana layanan kami?") reaches central as a ``feedback.kiosk``
event and becomes one kritik & saran of the node's own puskesmas, from nobody (source kiosk,
shown as "Anjungan"), however often the edge resends it. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

from central import ingest, staff
from central.models import EdgeEvent, Feedback, Node, Puskesmas
from protocol import events
from protocol.events import KioskFeedbackGiven
from protocol.messages import EventBatch, EventRecord

PASSWORD = "kata-sandi-rahasia"
AT = "2026-11-26T09:15:30.500+07:00"


def record(seq: int, event: events.Event) -> EventRecord:
    return EventRecord(seq, event.NAME, event.at, events.to_data(event), event.VERSION)


def rating(seq: int, value: int, poli: str = "", at: str = AT) -> EventRecord:
    return record(seq, KioskFeedbackGiven(rating=value, poli=poli, at=at, actor=events.KIOSK))


def node_of(code: str) -> Node:
    return Node.create(node_id=f"pkm-{code}-kiosk", puskesmas=Puskesmas.get(code=code))


def sign_in(app, role: str, puskesmas: str | None):
    client = app.test_client()
    username = f"{role.replace('_', '.')}.{puskesmas or 'kab'}"
    staff.add(username, "Bu Sari", role, puskesmas, "", PASSWORD)
    page = client.get("/petugas/masuk")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/petugas/masuk", data={"csrf_token": token, "username": username, "password": PASSWORD})
    assert r.status_code == 302
    return client


def test_a_kiosk_rating_becomes_one_anonymous_feedback_of_the_nodes_puskesmas(app):
    with app.app_context():
        node = node_of("cibinong")
        assert ingest.apply_batch(node, EventBatch((rating(1, 4, "UMUM"),), "db-1")) == 1
        fb = Feedback.get()
        assert (fb.puskesmas.code, fb.patient_id, fb.rating, fb.text, fb.source) == ("cibinong", None, 4, "", "kiosk")
        assert fb.created_at == dt.datetime(2026, 11, 26, 2, 15, 30, 500000)  # the kiosk's moment, in UTC
        assert fb.answered_at is None and fb.followed_up_at is None


def test_a_resent_rating_makes_no_second_row(app):
    with app.app_context():
        node = node_of("cibinong")
        first = EventBatch((rating(1, 5), rating(2, 2)), "db-1")
        assert ingest.apply_batch(node, first) == 2
        # the ack was lost: the edge sends the same events again, then one more
        assert ingest.apply_batch(node, first) == 2
        assert ingest.apply_batch(node, EventBatch((rating(1, 5), rating(2, 2), rating(3, 3)), "db-1")) == 3
        assert ingest.apply_deferred() == 0
        assert sorted(f.rating for f in Feedback.select()) == [2, 3, 5]
        assert EdgeEvent.select().where(EdgeEvent.type == "feedback.kiosk").count() == 3


def test_an_impossible_rating_is_rejected_and_stops_nothing(app):
    with app.app_context():
        node = node_of("cibinong")
        bad = EventRecord(1, "feedback.kiosk", AT, {"rating": 9, "poli": "", "actor": {"counter": "kiosk"}}, 1)
        worse = EventRecord(2, "feedback.kiosk", AT, {"rating": "5", "actor": {"counter": "kiosk"}}, 1)
        assert ingest.apply_batch(node, EventBatch((bad, worse, rating(3, 1)), "db-1")) == 3
        assert [e.status for e in EdgeEvent.select().order_by(EdgeEvent.seq)] == ["rejected", "rejected", "applied"]
        assert [f.rating for f in Feedback.select()] == [1]


def test_the_back_office_shows_kiosk_ratings_as_anjungan_counted_in_the_summary(app):
    with app.app_context():
        ingest.apply_batch(node_of("cibinong"), EventBatch((rating(1, 5), rating(2, 1)), "db-1"))
        other = Puskesmas.select().where(Puskesmas.code != "cibinong").first()
        ingest.apply_batch(node_of(other.code), EventBatch((rating(1, 3),), "db-1"))
    page = sign_in(app, "kepala_puskesmas", "cibinong").get("/petugas/kritik-saran/")
    assert page.status_code == 200
    text = unescape(re.sub(r"\s+", " ", page.text))
    assert "rata-rata dari 2 penilaian, 2 di antaranya dari anjungan" in text  # only her own puskesmas
    assert "3,0" in text  # (5 + 1) / 2
    assert text.count("· Anjungan") == 2 and "(tanpa tulisan)" in text
    # nobody reads an answer to an anonymous rating: no answer form for it
    assert "tidak ada pasien yang dapat membaca jawaban" in text and 'name="answer"' not in page.text
    assert "Tandai sudah ditindaklanjuti" in text  # it can still be marked followed up


def test_a_kiosk_rating_cannot_be_answered_and_leaves_the_share_answered_alone(app):
    with app.app_context():
        ingest.apply_batch(node_of("cibinong"), EventBatch((rating(1, 2),), "db-1"))
        fb = Feedback.get()
        client = sign_in(app, "kepala_puskesmas", "cibinong")
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/petugas/kritik-saran/").text).group(1)
        r = client.post(f"/petugas/kritik-saran/{fb.id}/jawab", data={"csrf_token": token, "answer": "Terima kasih"})
        assert r.status_code == 400 and "tidak bisa dijawab" in unescape(r.text)
        assert Feedback.get_by_id(fb.id).answer == "" and Feedback.get_by_id(fb.id).answered_at is None
        from central import feedback

        assert feedback.list_for(staff.get("kepala.puskesmas.cibinong"), feedback.Filters()).answered_share is None
