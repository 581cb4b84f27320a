"""Kritik & saran in a real Chromium: a patient on her phone rates a visit from her history (a
mistake first), the kepala puskesmas on a laptop reads it, answers and marks another followed up,
and the patient reads the answer beside her visit. A script typed as text stays text.

Screenshots go to var/screenshots/backoffice/feedback-*.png for a human to look at.
"""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
from playwright.sync_api import expect

from central import feedback, identity, services, staff
from central.app import build
from central.models import Patient, Poli, Puskesmas, Reservation
from tests.central.live import SHOTS, open_tab

PASSWORD = "kata-sandi-rahasia"
SCRIPT = "<script>alert('ks')</script>"


@pytest.fixture
def site(central_config, serve):
    app = build(central_config)
    staff.add("kepala.cibinong", "Dr. Rina Kepala", "kepala_puskesmas", "cibinong", "", PASSWORD)
    return serve(app)


@pytest.fixture
def browser(site, chromium):
    return lambda width=1280, height=800: open_tab(chromium, site, (width, height), dialogs=True)


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"feedback-{name}.png"), full_page=True)


def no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def past_visit(patient, code: str, days_ago: int, poli: str = "UMUM") -> Reservation:
    """A visit at least ``days_ago`` days ago, on a weekday (puskesmas are closed on Sunday)."""
    place = Puskesmas.get(code=code)
    day = services.now_wib().date() - dt.timedelta(days=days_ago)
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return Reservation.create(
        rid=secrets.token_hex(8),
        patient=patient,
        puskesmas=place,
        poli=Poli.get(puskesmas=place, code=poli),
        date=day,
        slot="09:00-10:00",
        payer="BPJS",
        status="done",
        qr_text="RS1:test",
    )


def patient_sign_in(page, person: dict) -> None:
    page.goto("/masuk")
    page.get_by_label("NIK").fill(person["nik"])
    page.get_by_label("Tanggal lahir").fill("17-08-1990")
    page.get_by_label("PIN").fill(person["pin"])
    page.get_by_role("button", name="Masuk").click()
    expect(page.get_by_role("heading", name="Halo")).to_be_visible()


def staff_sign_in(page) -> None:
    page.goto("/petugas/masuk")
    page.get_by_label("Nama pengguna").fill("kepala.cibinong")
    page.get_by_label("Kata sandi").fill(PASSWORD)
    page.get_by_role("button", name="Masuk").click()
    expect(page.get_by_role("heading", name="Halo")).to_be_visible()


def test_a_patient_rates_a_visit_the_kepala_answers_and_she_reads_the_answer(browser, ani_data):
    identity.register(dict(ani_data), identity.Client("198.51.100.1"), now=services.now_wib())
    ani = Patient.get(Patient.nik == ani_data["nik"])
    visit = past_visit(ani, "cibinong", days_ago=3, poli="GIGI")
    for rating, text in ((5, "Dokter gigi sangat sabar menjelaskan."), (1, "Toilet ruang tunggu kotor dan bau.")):
        feedback.submit(ani, "cibinong", rating, text, client="198.51.100.20")

    # the patient, on her phone, from her history
    phone = browser(390, 844)
    patient_sign_in(phone, ani_data)
    phone.goto("/riwayat")
    phone.get_by_role("link", name="Beri kritik & saran").click()
    expect(phone.get_by_role("heading", name="Kritik & saran", exact=True)).to_be_visible()
    expect(phone.get_by_label("Puskesmas")).to_have_value("cibinong")
    expect(phone.get_by_label("Tentang kunjungan (boleh dikosongkan)")).to_have_value(visit.rid)
    phone.get_by_label("Kritik & saran", exact=True).fill(f"Antrean poli gigi lama sekali. {SCRIPT}")
    phone.get_by_role("button", name="Kirim").click()
    expect(phone.get_by_text("Pilih nilai 1 sampai 5 bintang.")).to_be_visible()
    expect(phone.get_by_label("Kritik & saran", exact=True)).to_have_value(f"Antrean poli gigi lama sekali. {SCRIPT}")
    no_sideways_scroll(phone)
    shot(phone, "form-error-phone")
    star = phone.locator(".star", has_text="3 · Cukup")
    assert star.bounding_box()["height"] >= 44  # a star choice is big enough to tap
    star.click()
    expect(phone.get_by_role("radio", name="3 · Cukup")).to_be_checked()
    phone.get_by_role("button", name="Kirim").click()
    expect(phone.get_by_text("Terima kasih! Kritik & saran Anda sudah kami terima")).to_be_visible()
    sent = phone.locator(".feedback-sent .feedback-item").first
    expect(sent).to_contain_text(f"Antrean poli gigi lama sekali. {SCRIPT}")  # shown as text, not run
    expect(sent).to_contain_text("Poli Gigi")
    expect(sent).to_contain_text("Terkirim")
    no_sideways_scroll(phone)
    shot(phone, "sent-phone")

    # the kepala, on a laptop
    laptop = browser()
    staff_sign_in(laptop)
    laptop.get_by_role("navigation", name="Menu petugas").get_by_role("link", name="Kritik & saran").click()
    expect(laptop.get_by_role("heading", name="Kritik & saran · Puskesmas Cibinong")).to_be_visible()
    expect(laptop.locator(".feedback-summary")).to_contain_text("3,0 / 5")  # (5 + 1 + 3) / 3
    expect(laptop.locator(".feedback-summary")).to_contain_text("rata-rata dari 3 penilaian")
    expect(laptop.locator(".feedback-summary")).to_contain_text("0%")
    items = laptop.locator(".feedback-list .feedback-item")
    expect(items).to_have_count(3)
    newest = items.first
    expect(newest).to_contain_text(SCRIPT)
    expect(newest).to_contain_text("Ani")
    expect(newest).not_to_contain_text("Lestari")
    expect(laptop.locator("main")).not_to_contain_text(ani_data["nik"])
    shot(laptop, "list-laptop")
    newest.get_by_text("Jawab", exact=True).click()
    newest.get_by_label("Jawaban untuk Ani").fill("Terima kasih, Bu Ani. Mulai pekan depan poli gigi buka dua kursi.")
    shot(laptop, "answer-laptop")
    newest.get_by_role("button", name="Kirim jawaban").click()
    expect(laptop.get_by_text("Jawaban tersimpan.")).to_be_visible()
    answered = laptop.locator(".feedback-list .feedback-item").first
    expect(answered).to_contain_text("Sudah dijawab")
    expect(answered).to_contain_text("Mulai pekan depan poli gigi buka dua kursi.")
    toilet = laptop.locator(".feedback-item", has_text="Toilet ruang tunggu")
    toilet.get_by_role("button", name="Tandai sudah ditindaklanjuti").click()
    expect(laptop.get_by_text("Kritik & saran ditandai sudah ditindaklanjuti.")).to_be_visible()
    toilet = laptop.locator(".feedback-item", has_text="Toilet ruang tunggu")
    expect(toilet).to_contain_text("Sudah ditindaklanjuti")
    expect(toilet.get_by_role("button", name="Tandai sudah ditindaklanjuti")).to_have_count(0)
    expect(laptop.locator(".feedback-summary")).to_contain_text("33%")
    laptop.get_by_label("Nilai", exact=True).select_option("1")
    laptop.get_by_role("button", name="Tampilkan").click()
    expect(laptop.locator(".feedback-list .feedback-item")).to_have_count(1)
    expect(laptop.get_by_role("heading", name="1 kritik & saran")).to_be_visible()
    shot(laptop, "filtered-laptop")

    # the list on a phone too
    small = browser(390, 844)
    staff_sign_in(small)
    small.goto("/petugas/kritik-saran/")
    expect(small.locator(".feedback-list .feedback-item")).to_have_count(3)
    no_sideways_scroll(small)
    shot(small, "list-phone")

    # the patient reads the answer beside her visit
    phone.goto("/riwayat")
    beside = phone.locator(".history-feedback")
    expect(beside).to_contain_text("Jawaban Puskesmas Cibinong")
    expect(beside).to_contain_text("Mulai pekan depan poli gigi buka dua kursi.")
    expect(beside).to_contain_text(SCRIPT)
    no_sideways_scroll(phone)
    shot(phone, "history-phone")
    for page in (phone, laptop, small):
        assert page.problems == []
