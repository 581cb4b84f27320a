"""The edge's pages in a real browser (Debian's Chromium): kiosk, staff page and TV, live.

Screenshots go to var/screenshots/ so a person can look at what patients and staff see.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import SHOTS, STAFF_PASSWORD, wait_for
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def sign_in(page, system, username: str, then: str) -> None:
    """Sign in at the edge's staff page as a person would, landing on ``then``."""
    page.goto(system.edge_url + then)
    expect(page.get_by_role("heading", name="Masuk petugas")).to_be_visible()
    page.locator("#username").fill(username)
    page.locator("#password").fill(STAFF_PASSWORD)
    page.locator("#sign-in").click()


def shot(page, name: str) -> Path:
    """A screenshot of the page as it is now; a page that reloads itself (the staff page does
    on "printed", every page when the site's details change) is shot once it has loaded again."""
    path = SHOTS / f"edge-{name}.png"
    for attempt in range(3):
        try:
            page.wait_for_load_state("load")
            page.screenshot(path=str(path))
            return path
        except PlaywrightError as e:
            if "Unable to capture screenshot" not in str(e) or attempt == 2:
                raise
    return path


def test_kiosk_staff_and_tv_pages_work_live(system, days, browser):
    auth = system.patient("3201011705900001", "1990-05-17", "L")
    good = system.reserve(auth, days[0])["qr_text"]
    other_day = system.reserve(auth, days[1])["qr_text"]
    wait_for(lambda: system.edge_status()["reservations"] >= 2, 30, "reservations at the edge")

    tv = browser.new_page(viewport={"width": 1920, "height": 1080})
    tv.goto(system.edge_url + "/tv/poli")
    expect(tv.locator("#now-number")).to_have_text("–")

    kiosk = browser.new_page(viewport={"width": 1280, "height": 800})
    kiosk.goto(system.edge_url + "/kiosk")
    expect(kiosk.get_by_text("Pasien Umum")).to_be_visible()
    expect(kiosk.get_by_text("Pasien BPJS")).to_be_visible()
    shot(kiosk, "kiosk")
    kiosk.get_by_text("Pasien BPJS").click()
    for digit in "0001234500002":  # the card number on the kiosk's keypad
        kiosk.locator(f'#keypad button[data-key="{digit}"]').click()
    kiosk.locator("#keypad-ok").click()
    expect(kiosk.locator("#ticket-number")).to_have_text("B001")
    shot(kiosk, "kiosk-walkin")

    kiosk.goto(system.edge_url + "/kiosk/scan")
    expect(kiosk.get_by_text("Arahkan QR reservasi ke pemindai")).to_be_visible()
    expect(kiosk.locator("#scan-page[data-live='1']")).to_be_attached()  # listening before we scan
    shot(kiosk, "kiosk-scan")
    system.scan(other_day)
    expect(kiosk.locator("#scan-message")).to_contain_text("bukan hari ini", timeout=15000)
    shot(kiosk, "kiosk-scan-refused")
    system.scan(good)
    expect(kiosk.locator("#ticket-number")).to_have_text("U001", timeout=15000)
    shot(kiosk, "kiosk-scan-ok")

    staff = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(staff, system, "petugas.poli", "/staff")
    shot(staff, "staff-index")
    staff.get_by_text("Poli Umum").click()
    expect(staff.get_by_text("1 menunggu")).to_be_visible()
    staff.locator("#call-next").click()
    expect(staff.locator("#current-number")).to_have_text("U001")
    shot(staff, "staff-poli")

    expect(tv.locator("#now-number")).to_have_text("U001", timeout=15000)
    expect(tv.locator("#now-dest")).to_contain_text("Poli Umum")
    shot(tv, "tv-poli")

    loket = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(loket, system, "petugas.loket", "/staff/loket-1")
    loket.locator("#call-next").click()
    expect(loket.locator("#current-number")).to_have_text("B001")
    loket.locator("select[name=poli]").select_option("GIGI")
    loket.get_by_text("Kirim ke poli").click()
    expect(loket.get_by_text("Belum ada pasien dipanggil.")).to_be_visible()
    loket.locator("section.priority select").select_option("UMUM")
    loket.locator("#priority-lansia").click()
    expect(loket.get_by_text("Nomor prioritas A001 (Lansia) dibuat dan dicetak.")).to_be_visible()
    shot(loket, "staff-loket")
    tvreg = browser.new_page(viewport={"width": 1920, "height": 1080})
    tvreg.goto(system.edge_url + "/tv/pendaftaran")
    # B001 was sent on to Poli Gigi: the loket is free, so only the last calls list it
    expect(tvreg.locator("#recent li").first).to_contain_text("B001")
    expect(tvreg.locator("#now-number")).to_have_text("–")
    shot(tvreg, "tv-pendaftaran")
    board = tv.evaluate("fetch('/api/board').then(r => r.json())")
    assert board["queues"]["POLI-GIGI"]["waiting"] == ["B001"]
    assert board["queues"]["REG-A"]["waiting"] == ["A001"]
    for page in (tv, kiosk, staff, loket, tvreg):
        html = page.content()
        for secret in ("3201011705900001", "1990-05-17", "0001234567890", "Budi"):
            assert secret not in html


def test_paper_runs_out_and_is_refilled_as_the_kiosk_and_staff_see_it(system_with_printer, days, browser):
    system = system_with_printer
    kiosk = browser.new_page(viewport={"width": 1280, "height": 800})
    kiosk.goto(system.edge_url + "/kiosk")
    expect(kiosk.locator("#kiosk-home[data-live='1']")).to_be_attached()
    expect(kiosk.locator("#device-alerts .alert")).to_have_count(0)

    system.set_printer("paper_out")  # nothing is printing: the node must notice by itself
    expect(kiosk.locator("#device-alerts")).to_contain_text("Kertas habis", timeout=5000)
    shot(kiosk, "kiosk-paper-out")

    kiosk.get_by_text("Pasien Umum").click()
    expect(kiosk.locator("#ticket-number")).to_have_text("A001")
    expect(kiosk.locator("#not-printed")).to_be_visible()
    expect(kiosk.locator("#not-printed")).to_have_text(
        "Tiket tidak tercetak. Nomor Anda A001, silakan sampaikan ke petugas loket."
    )
    shot(kiosk, "kiosk-not-printed")

    staff = browser.new_page(viewport={"width": 1280, "height": 1000})
    sign_in(staff, system, "admin.pkm", "/staff/loket-1")
    expect(staff.locator("#device-alerts")).to_contain_text("Kertas habis")
    expect(staff.locator("#tickets tr[data-label='A001']")).to_contain_text("menunggu cetak")
    shot(staff, "staff-paper-out")
    assert system.tickets_printed() == []

    system.set_printer("ready")  # paper refilled
    expect(kiosk.locator("#not-printed")).to_be_hidden(timeout=10000)  # it printed by itself
    wait_for(lambda: len(system.tickets_printed()) == 1, 10, "the waiting ticket to print")
    # the staff page follows by itself: the alert goes, and it reloads on "printed" (no reload of ours,
    # which would collide with the page's own)
    expect(staff.locator("#device-alerts .alert")).to_have_count(0, timeout=5000)
    expect(staff.locator("#tickets tr[data-label='A001']")).to_contain_text("tercetak", timeout=10000)
    shot(kiosk, "kiosk-refilled")

    with staff.expect_navigation() as answer:  # reprint any of today's tickets
        staff.locator("#tickets tr[data-label='A001'] button").click()
    # the page shows the flash, then reloads by itself once the reprint is "printed": read the page it showed
    assert "Tiket A001 dicetak ulang." in answer.value.text()

    def both_written() -> bool:  # a ticket's .txt and .png are written after its .escpos
        tickets = system.tickets_printed()
        return len(tickets) == 2 and all(p.with_suffix(".png").exists() for p in tickets)

    wait_for(both_written, 10, "the reprint")
    expect(staff.locator("#tickets tr[data-label='A001']")).to_contain_text("tercetak")  # the page follows by itself
    shot(staff, "staff-reprint")
    texts = [p.with_suffix(".txt").read_text() for p in system.tickets_printed()]
    assert all("A001" in t for t in texts)  # printed once by itself, once on request; never twice by itself

    auth = system.patient("3201011705900001", "1990-05-17", "L")
    qr = system.reserve(auth, days[0])["qr_text"]
    wait_for(lambda: system.edge_status()["reservations"] >= 1, 30, "the reservation at the edge")
    kiosk.goto(system.edge_url + "/kiosk")
    expect(kiosk.locator("#kiosk-home[data-live='1']")).to_be_attached()
    system.scan(qr)  # scanned while the home screen shows
    expect(kiosk.locator("#scan-overlay #ticket-number")).to_have_text("U001", timeout=15000)
    expect(kiosk.locator("#scan-overlay")).to_contain_text("Check-in berhasil")
    shot(kiosk, "kiosk-home-scan")
