"""Kritik & saran about a poli: a kiosk rating keeps the poli the patient chose on the kiosk, a
patient's kritik & saran about a visit keeps the visit's poli; the back office shows the poli
beside each one and filters by it (the summary follows the filter). On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from html import unescape

from playwright.sync_api import expect

from central import ingest, staff
from central.models import Feedback, Node, Puskesmas
from protocol import events
from protocol.events import KioskFeedbackGiven
from protocol.messages import EventBatch, EventRecord
from tests.central.live import SHOTS, open_tab
from tests.central.test_feedback import PASSWORD, past_visit, patient_login, send, staff_client, token

AT = "2026-11-26T09:15:30.500+07:00"


def kiosk(seq: int, value: int, poli: str = "") -> EventRecord:
    e = KioskFeedbackGiven(rating=value, poli=poli, at=AT, actor=events.KIOSK)
    return EventRecord(seq, e.NAME, e.at, events.to_data(e), e.VERSION)


def items(html: str) -> list[str]:
    """Each listed kritik & saran's meta line, as the user reads it."""
    metas = re.findall(r'<p class="feedback-meta">(.*?)</p>', html, re.S)
    return [" ".join(unescape(re.sub(r"<[^>]+>", "", m)).split()) for m in metas]


def summary_count(html: str) -> str:
    return " ".join(unescape(re.search(r"rata-rata dari [^<]+", html)[0]).split())


def test_a_kiosk_rating_keeps_the_poli_chosen_on_the_kiosk(app):
    with app.app_context():
        node = Node.create(node_id="pkm-cibinong", puskesmas=Puskesmas.get(code="cibinong"))
        ingest.apply_batch(node, EventBatch((kiosk(1, 4, "GIGI"), kiosk(2, 2)), "db-1"))
        assert sorted((f.rating, f.poli) for f in Feedback.select()) == [(2, None), (4, "GIGI")]


def test_a_kritik_about_a_visit_keeps_the_visits_poli(app, client, ani, ani_data):
    with app.app_context():
        visit = past_visit(ani, poli="KIA")
        patient_login(client, ani_data)
        r = send(client, puskesmas="cibinong", rid=visit.rid, rating="5", text="Bidannya sabar")
        assert r.status_code == 302
        send(client, puskesmas="cibinong", rating="3", text="Parkir sempit")
        stored = sorted((f.text, f.poli) for f in Feedback.select())
        assert stored == [("Bidannya sabar", "KIA"), ("Parkir sempit", None)]


def test_the_back_office_shows_the_poli_and_filters_by_it(app, client, ani, ani_data):
    with app.app_context():
        node = Node.create(node_id="pkm-cibinong", puskesmas=Puskesmas.get(code="cibinong"))
        ingest.apply_batch(node, EventBatch((kiosk(1, 4, "GIGI"), kiosk(2, 2), kiosk(3, 1, "UMUM")), "db-1"))
        visit = past_visit(ani, poli="GIGI")
        patient_login(client, ani_data)
        send(client, puskesmas="cibinong", rid=visit.rid, rating="5", text="Dokter giginya ramah")
        admin = staff_client(app, "admin_puskesmas")

        everything = admin.get("/petugas/kritik-saran/")
        assert everything.status_code == 200
        shown = items(everything.text)
        assert len(shown) == 4
        assert sum("Poli Gigi" in m for m in shown) == 2 and sum("Poli Umum" in m for m in shown) == 1
        assert re.search(r'<option value="GIGI">Poli Gigi</option>', everything.text)
        assert "Tanpa poli" in everything.text

        gigi = admin.get("/petugas/kritik-saran/?poli=GIGI")
        assert gigi.status_code == 200
        assert len(items(gigi.text)) == 2 and all("Poli Gigi" in m for m in items(gigi.text))
        assert any("kunjungan" in m and "Ani" in m for m in items(gigi.text))
        assert re.search(r'<option value="GIGI" selected>Poli Gigi</option>', gigi.text)
        assert summary_count(gigi.text) == "rata-rata dari 2 penilaian, 1 di antaranya dari anjungan"

        none = admin.get("/petugas/kritik-saran/?poli=-")
        assert [("Poli" in m) for m in items(none.text)] == [False]
        assert summary_count(none.text) == "rata-rata dari 1 penilaian, 1 di antaranya dari anjungan"


def test_a_poli_not_in_the_list_is_a_field_error_and_the_list_is_unfiltered(app):
    with app.app_context():
        node = Node.create(node_id="pkm-cibinong", puskesmas=Puskesmas.get(code="cibinong"))
        ingest.apply_batch(node, EventBatch((kiosk(1, 4, "GIGI"), kiosk(2, 2)), "db-1"))
        admin = staff_client(app, "admin_puskesmas")
        r = admin.get("/petugas/kritik-saran/?poli=%3Cscript%3E")
        assert r.status_code == 400
        assert "Pilih poli dari daftar." in r.text and "<script>" not in r.text
        assert len(items(r.text)) == 2


def test_admin_kabupaten_filters_one_poli_across_every_puskesmas(app):
    with app.app_context():
        places = list(Puskesmas.select().order_by(Puskesmas.code).limit(2))
        for n, place in enumerate(places):
            node = Node.create(node_id=f"pkm-{place.code}", puskesmas=place)
            ingest.apply_batch(node, EventBatch((kiosk(1, 5, "UMUM"), kiosk(2, 3)), f"db-{n}"))
        kab = staff_client(app, "admin_kabupaten", None)
        r = kab.get("/petugas/kritik-saran/?puskesmas=semua&poli=UMUM")
        assert r.status_code == 200
        shown = items(r.text)
        assert len(shown) == 2 and all("Poli Umum" in m for m in shown)
        assert {p.name for p in places} == {next(p.name for p in places if p.name in m) for m in shown}


def test_the_answer_page_shows_the_poli(app, client, ani, ani_data):
    with app.app_context():
        visit = past_visit(ani, poli="KIA")
        patient_login(client, ani_data)
        send(client, puskesmas="cibinong", rid=visit.rid, rating="4", text="Antre lama")
        fb = Feedback.get()
        admin = staff_client(app, "kepala_puskesmas")
        page = admin.get(f"/petugas/kritik-saran/{fb.id}/jawab")
        assert page.status_code == 200 and "Poli KIA" in items(page.text)[0]
        assert token(page.text)


def test_the_list_and_its_poli_filter_in_chromium_on_a_laptop_and_a_phone(site, chromium):
    node = Node.create(node_id="pkm-cibinong", puskesmas=Puskesmas.get(code="cibinong"))
    ingest.apply_batch(node, EventBatch((kiosk(1, 5, "GIGI"), kiosk(2, 2, "UMUM"), kiosk(3, 4)), "db-1"))
    staff.add("admin.cibinong", "Bu Sari", "admin_puskesmas", "cibinong", "", PASSWORD)
    for name, (width, height) in (("laptop", (1280, 900)), ("hp", (360, 740))):
        tab = open_tab(chromium, site, (width, height))
        tab.goto("/petugas/masuk")
        tab.get_by_label("Nama pengguna").fill("admin.cibinong")
        tab.get_by_label("Kata sandi").fill(PASSWORD)
        tab.locator("main").get_by_role("button", name="Masuk").click()
        expect(tab.locator(".nav-staff")).to_be_visible()
        tab.goto("/petugas/kritik-saran/")
        cards = tab.locator(".feedback-item")
        expect(cards).to_have_count(3)
        expect(tab.locator(".feedback-poli")).to_have_text(["Poli Umum", "Poli Gigi"])
        tab.get_by_label("Poli").select_option(label="Poli Gigi")
        tab.get_by_role("button", name="Tampilkan").click()
        expect(cards).to_have_count(1)
        expect(cards.first.locator(".feedback-poli")).to_have_text("Poli Gigi")
        expect(tab.get_by_label("Poli")).to_have_value("GIGI")
        expect(tab.locator(".feedback-summary")).to_contain_text("rata-rata dari 1 penilaian")
        assert tab.evaluate("document.documentElement.scrollWidth") <= width
        tab.screenshot(path=str(SHOTS / f"kritik-saran-poli-{name}.png"), full_page=True)
        assert tab.problems == []
        tab.context.close()
