"""The kiosk's "Bagaimana layanan kami?" with real processes and a real browser: a patient rates
the service at the kiosk while central's sync is down (the edge keeps it), and once it is back the
rating is in central's back-office list of kritik & saran, as "Anjungan", counted in the summary.
Screenshots of the kiosk screens and of the list, laptop and phone."""

from __future__ import annotations

import re

import pytest
from harness import ROOT, STAFF_PASSWORD, wait_for
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

SHOTS = ROOT / "var" / "screenshots" / "backoffice"


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"kiosk-rating-{name}.png"), full_page=True)


def test_a_rating_at_the_kiosk_reaches_the_back_office_list(system, browser):
    kiosk = browser.new_page(viewport={"width": 1280, "height": 800})
    kiosk.goto(system.edge_url + "/kiosk")
    expect(kiosk.locator("#kiosk-rate")).to_have_text("★ Bagaimana layanan kami?")
    shot(kiosk, "home")

    # central's sync is down: the kiosk still takes the rating and the edge keeps it
    system.stop_process("sync")
    kiosk.locator("#kiosk-rate").click()
    expect(kiosk.get_by_role("heading", name="Bagaimana layanan kami?")).to_be_visible()
    expect(kiosk.locator(".rating-choice b")).to_have_text(["Sangat buruk", "Buruk", "Cukup", "Baik", "Sangat baik"])
    kiosk.get_by_text("Poli Umum", exact=True).click()
    expect(kiosk.locator("input[name=poli][value=UMUM]")).to_be_checked()
    shot(kiosk, "screen")
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(system.edge_url + "/kiosk/nilai")
    shot(phone, "screen-phone")
    phone.goto(system.edge_url + "/kiosk")
    shot(phone, "home-phone")

    kiosk.get_by_role("button", name="Baik", exact=True).click()
    expect(kiosk.locator("#rating-thanks")).to_contain_text("Terima kasih!")
    shot(kiosk, "thanks")
    expect(kiosk.locator("#kiosk-home")).to_be_visible(timeout=15000)  # back home by itself
    assert system.edge_status()["outbox_pending"] >= 1

    system.start_sync()
    wait_for(lambda: system.edge_status()["outbox_pending"] == 0, 60, "central to take the rating")

    office = browser.new_page(viewport={"width": 1280, "height": 800})
    office.goto(system.central_url + "/petugas/masuk")
    office.get_by_label("Nama pengguna").fill("admin.pkm")
    office.get_by_label("Kata sandi").fill(STAFF_PASSWORD)
    office.get_by_role("button", name="Masuk").click()
    expect(office.get_by_role("heading", name="Halo")).to_be_visible()
    office.goto(system.central_url + "/petugas/kritik-saran/")
    item = office.locator(".feedback-item").first
    expect(item.locator(".feedback-meta")).to_contain_text("Anjungan")
    expect(item.locator(".feedback-poli")).to_have_text("Poli Umum")  # the poli she chose at the kiosk
    expect(item.locator(".feedback-stars")).to_have_attribute("aria-label", "Nilai 4 dari 5")
    expect(item).to_contain_text("tidak ada pasien yang dapat membaca jawaban")
    summary = office.locator(".feedback-summary")
    expect(summary).to_contain_text(re.compile(r"di antaranya dari anjungan"))
    shot(office, "backoffice")
    office.set_viewport_size({"width": 390, "height": 844})
    shot(office, "backoffice-phone")
