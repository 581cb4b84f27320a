"""What the back office changes at central reaches the running edge through the change feed, with
real processes and a real browser, and without restarting or re-provisioning the edge: a new poli
appears on the kiosk, staff page and TV and takes a patient; deactivated, it goes; a fourth loket
is offered to staff.

The admin pages write the Poli or Puskesmas row and publish it in one transaction; here the test
does the same against central's database (``central.models`` and ``central.feed``).
"""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from harness import ROOT, STAFF_PASSWORD, wait_for
from playwright.sync_api import expect

from central import db as central_db
from central import feed
from central.models import Holiday, Poli, Puskesmas

pytestmark = pytest.mark.e2e

SHOTS = ROOT / "var" / "screenshots" / "backoffice"


def at_central(pg_url: str, fn):
    """Run ``fn`` in one transaction on central's database, as the back office's handlers do."""
    db = central_db.connect(pg_url, migrate=False)
    try:
        with db.atomic():
            return fn()
    finally:
        db.close()


def add_poli(system, code: str, name: str, prefix: str, order: int) -> None:
    def write():
        p = Poli.create(
            puskesmas=Puskesmas.get(code=system.puskesmas), code=code, name=name, prefix=prefix, order=order
        )
        feed.publish_poli(p)

    at_central(system.pg_url, write)


def set_poli_active(system, code: str, active: bool) -> None:
    def write():
        p = Poli.get((Poli.puskesmas == Puskesmas.get(code=system.puskesmas)) & (Poli.code == code))
        p.active = active
        p.save()
        feed.publish_poli(p)

    at_central(system.pg_url, write)


def set_lokets(system, lokets: int) -> None:
    def write():
        p = Puskesmas.get(code=system.puskesmas)
        p.lokets = lokets
        p.save()
        feed.publish_site(p)

    at_central(system.pg_url, write)


def close_day(system, day: str, name: str) -> None:
    def write():
        h = Holiday.create(
            date=dt.date.fromisoformat(day), name=name, kind="lokal", puskesmas=Puskesmas.get(code=system.puskesmas)
        )
        feed.publish_holiday(h)

    at_central(system.pg_url, write)


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"edge-{name}.png"), full_page=True)


def test_a_poli_and_a_loket_added_at_central_reach_the_running_edge(system, browser, days):
    edge_pid = system.procs["edge"].pid
    # provisioning sent the back office's site and poli: the edge shows central's list
    wait_for(lambda: system.edge_status()["change_seq"] >= 1, 30, "the node's first changes")

    kiosk = browser.new_page(viewport={"width": 1280, "height": 800})
    kiosk.goto(system.edge_url + "/kiosk")
    # (in the back office's order, then by code)
    expect(kiosk.locator("#kiosk-polis li")).to_have_text(["Poli Gigi", "Poli KIA", "Poli Lansia", "Poli Umum"])
    expect(kiosk.locator("#kiosk-home[data-live='1']")).to_be_attached()  # listening to the node
    tv = browser.new_page(viewport={"width": 1280, "height": 800})
    tv.goto(system.edge_url + "/tv")
    expect(tv.locator("#waiting h3")).to_have_count(6)  # 2 registration queues + 4 poli
    staff = browser.new_page(viewport={"width": 1280, "height": 800})
    staff.goto(system.edge_url + "/staff")
    staff.locator("#username").fill("admin.pkm")
    staff.locator("#password").fill(STAFF_PASSWORD)
    staff.locator("#sign-in").click()
    expect(staff.locator(".card b")).to_have_text(
        ["Loket 1", "Loket 2", "Poli Gigi", "Poli KIA", "Poli Lansia", "Poli Umum"]
    )
    staff.wait_for_load_state("networkidle")

    # the back office adds a poli: every open screen shows it by itself
    add_poli(system, "MTBS", "Poli MTBS (Anak Sakit)", "M", 5)
    expect(kiosk.locator("#kiosk-polis li").last).to_have_text("Poli MTBS (Anak Sakit)", timeout=20000)
    expect(tv.get_by_role("heading", name="Poli MTBS (Anak Sakit) (0)")).to_be_visible(timeout=20000)
    expect(staff.locator(".card b").last).to_have_text("Poli MTBS (Anak Sakit)", timeout=20000)
    shot(kiosk, "kiosk-new-poli")
    shot(tv, "tv-new-poli")
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(system.edge_url + "/kiosk")
    shot(phone, "kiosk-new-poli-phone")
    phone.goto(system.edge_url + "/tv")
    expect(phone.get_by_role("heading", name="Poli MTBS (Anak Sakit) (0)")).to_be_visible()
    shot(phone, "tv-new-poli-phone")

    # a walk-in called at the loket is sent to it, waits on the TV, and its poli calls it
    walkin = requests.post(system.edge_url + "/api/kiosk/walkin", json={"payer": "UMUM"}, timeout=10)
    assert walkin.status_code == 201, walkin.text
    label = walkin.json()["label"]
    staff.locator(".card", has_text="Loket 1").click()
    staff.locator("#call-next").click()
    expect(staff.locator("#current-number")).to_have_text(label)
    staff.locator("select[name=poli]").select_option(label="Poli MTBS (Anak Sakit)")
    staff.get_by_role("button", name="➜ Kirim ke poli").click()
    expect(staff.get_by_text(f"{label} diteruskan ke Poli MTBS (Anak Sakit).")).to_be_visible()
    expect(tv.get_by_role("heading", name="Poli MTBS (Anak Sakit) (1)")).to_be_visible(timeout=15000)
    shot(staff, "staff-sent-to-new-poli")
    staff.goto(system.edge_url + "/staff/poli-MTBS")
    staff.locator("#call-next").click()
    expect(staff.locator("#current-number")).to_have_text(label)
    expect(tv.locator("#now-dest")).to_have_text("silakan menuju Poli MTBS (Anak Sakit)", timeout=15000)
    shot(tv, "tv-called-to-new-poli")
    staff.get_by_role("button", name="✔ Selesai").click()
    expect(staff.get_by_text(f"{label}: Selesai")).to_be_visible()

    # deactivated at central: it leaves the kiosk, the staff page and the TV
    staff.goto(system.edge_url + "/staff")
    staff.wait_for_load_state("networkidle")
    set_poli_active(system, "MTBS", False)
    expect(kiosk.get_by_text("Poli MTBS (Anak Sakit)")).to_have_count(0, timeout=20000)
    # (the poli leaves the lists; its finished call only stays among the last calls)
    expect(tv.locator("#waiting, #counters").get_by_text("Poli MTBS")).to_have_count(0, timeout=20000)
    expect(tv.locator("#waiting h3")).to_have_count(6)
    expect(staff.locator(".card b")).to_have_text(
        ["Loket 1", "Loket 2", "Poli Gigi", "Poli KIA", "Poli Lansia", "Poli Umum"], timeout=20000
    )

    # a third loket at central: the staff page offers Loket 3
    set_lokets(system, 3)
    expect(staff.locator(".card b").nth(2)).to_have_text("Loket 3", timeout=20000)
    staff.locator(".card", has_text="Loket 3").click()
    expect(staff.get_by_role("heading", name="Loket 3")).to_be_visible()
    shot(staff, "staff-loket-3")

    # the day is closed at central after a patient booked it: the screens say so, the pass is
    # refused at the kiosk, and staff still work (emergencies)
    auth = system.patient("3201011705900001", "1990-05-17", "L")
    booked = system.reserve(auth, days[0])
    wait_for(lambda: system.edge_status()["reservations"] >= 1, 30, "the reservation at the edge")
    kiosk.goto(system.edge_url + "/kiosk")
    expect(kiosk.locator("#kiosk-home[data-live='1']")).to_be_attached()
    staff.goto(system.edge_url + "/staff")
    staff.wait_for_load_state("networkidle")
    close_day(system, days[0], "Libur daerah: Hari Jadi Kabupaten Bogor")
    notice = "Hari ini puskesmas tutup: Libur daerah: Hari Jadi Kabupaten Bogor"
    expect(kiosk.locator("#closed-day")).to_have_text(notice, timeout=20000)
    expect(staff.locator("#closed-day")).to_have_text(notice, timeout=20000)
    expect(tv.locator("#closed-day")).to_have_text(notice, timeout=20000)
    shot(kiosk, "kiosk-closed-day")
    shot(staff, "staff-closed-day")
    phone.goto(system.edge_url + "/kiosk")
    shot(phone, "kiosk-closed-day-phone")
    kiosk.goto(system.edge_url + "/kiosk/scan")
    expect(kiosk.locator("#scan-page[data-live='1']")).to_be_attached()
    system.scan(booked["qr_text"])
    expect(kiosk.locator("#scan-message")).to_contain_text(
        "Hari ini puskesmas tutup (Libur daerah: Hari Jadi Kabupaten Bogor); reservasi tidak dapat dipakai",
        timeout=15000,
    )
    shot(kiosk, "kiosk-closed-day-refused")
    staff.locator(".card", has_text="Loket 1").click()
    staff.locator("#priority-disabilitas").click()
    expect(staff.get_by_text("dibuat dan dicetak")).to_be_visible()

    assert system.procs["edge"].pid == edge_pid and system.procs["edge"].poll() is None  # never restarted
