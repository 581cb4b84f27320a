"""The staff page's "Cetak ulang" in a real browser: the confirmation stays on screen when the
page reloads itself because the reprint has printed (and on any other reload of its own for a
short while), and a later visit does not show it again. Screenshots in var/screenshots/."""

from __future__ import annotations

import pytest
from harness import wait_for
from playwright.sync_api import expect
from test_pages_browser import shot, sign_in

pytestmark = pytest.mark.e2e

DONE = "Tiket A001 dicetak ulang."


def test_the_reprint_confirmation_survives_the_reload_on_printed(system_with_printer, days, browser):
    system = system_with_printer
    kiosk = browser.new_page(viewport={"width": 1280, "height": 800})
    kiosk.goto(system.edge_url + "/kiosk")
    kiosk.get_by_text("Pasien Umum").click()
    expect(kiosk.locator("#ticket-number")).to_have_text("A001")
    wait_for(lambda: len(system.tickets_printed()) == 1, 15, "the first ticket to print")

    staff = browser.new_page(viewport={"width": 1280, "height": 1000})
    sign_in(staff, system, "admin.pkm", "/staff/loket-1")
    expect(staff.locator("#tickets tr[data-label='A001']")).to_contain_text("tercetak", timeout=10000)

    # the paper is out: the reprint waits, so its "printed" comes after the page with the message
    system.set_printer("paper_out")
    expect(staff.locator("#device-alerts")).to_contain_text("Kertas habis", timeout=10000)
    with staff.expect_navigation():
        staff.locator("#tickets tr[data-label='A001'] button").click()
    expect(staff.locator("#flash")).to_have_text(DONE)
    staff.evaluate("window.pageBeforeThePrint = true")

    system.set_printer("ready")
    wait_for(lambda: len(system.tickets_printed()) == 2, 15, "the reprint")
    staff.wait_for_function("() => window.pageBeforeThePrint === undefined", timeout=15000)  # it reloaded itself
    staff.wait_for_load_state("load")
    expect(staff.locator("#flash")).to_have_text(DONE)
    expect(staff.locator("#device-alerts .alert")).to_have_count(0, timeout=10000)
    expect(staff.locator("#tickets tr[data-label='A001']")).to_contain_text("tercetak", timeout=10000)
    expect(staff.locator("#flash")).to_have_text(DONE)  # still, after every reload the print caused
    shot(staff, "staff-reprint-kept")

    staff.goto(system.edge_url + "/staff/loket-1")  # a visit of her own later: the message is gone
    expect(staff.locator("#current-number, .current .muted").first).to_be_visible()
    expect(staff.locator("#flash")).to_have_count(0)
