"""The Dashboard kunjungan in a real Chromium on a laptop and a phone, per role: the charts are
drawn (Chart.js from the site itself, nothing blocked by the CSP), each beside its table, nothing
scrolls sideways on a phone, and a role that may not look is refused.

Screenshots go to var/screenshots/backoffice/dashboard-*.png for a human to look at.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest
from playwright.sync_api import expect

from central import services, staff
from central.ingest import apply_batch
from central.models import Node, Puskesmas
from protocol.events import TicketDone, TicketNoShow, TicketServing, TicketTransferred
from tests.central.live import LAPTOP, PHONE, open_tab
from tests.central.live import SHOTS as OUT
from tests.central.test_kpi import Stream

PASSWORD = "kata-sandi-rahasia"


def hms(moment: dt.datetime) -> str:
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def history(s: Stream, day: dt.date, visits: int, rng: random.Random, until: dt.datetime | None = None) -> None:
    """A plausible day: walk-ins through the loket to a poli, reservations straight to their poli,
    a few no-shows; ``until``: today, where the later tickets are still waiting."""
    polis = ["UMUM", "UMUM", "UMUM", "GIGI", "KIA"]
    iso = day.isoformat()
    for i in range(visits):
        issued = dt.datetime.combine(day, dt.time(7, 30)) + dt.timedelta(seconds=rng.randint(0, 4 * 3600))
        poli = rng.choice(polis)
        payer = "BPJS" if rng.random() < 0.7 else "UMUM"
        key = f"{iso}-{i}"
        open_end = until is not None and issued > until - dt.timedelta(minutes=40)
        if rng.random() < 0.35:  # a reservation
            hour = max(8, min(11, issued.hour + 1))
            slot = f"{hour:02d}:00-{hour + 1:02d}:00"
            s.issue(key, hms(issued), f"POLI-{poli}", f"R{i:03d}", "reservation", payer, day=iso, poli=poli, slot=slot)
            poli_key, at_poli = key, issued
        else:
            s.issue(key, hms(issued), "REG-A" if payer == "UMUM" else "REG-B", f"A{i:03d}", "walkin", payer, day=iso)
            if open_end:
                continue
            called = issued + dt.timedelta(seconds=rng.randint(60, 900 if issued.hour < 9 else 400))
            s.call(key, hms(called), f"loket-{rng.randint(1, 2)}", f"loket{rng.randint(1, 2)}", day=iso)
            if rng.random() < 0.04:
                s.end(TicketNoShow, key, hms(called + dt.timedelta(minutes=2)), day=iso)
                continue
            sent = called + dt.timedelta(seconds=rng.randint(90, 360))
            s.end(TicketTransferred, key, hms(sent), day=iso, to_ticket=key + "p", to_poli=poli)
            poli_key, at_poli = key + "p", sent
            s.issue(poli_key, hms(sent), f"POLI-{poli}", f"A{i:03d}", "transfer", payer, day=iso, poli=poli, parent=key)
        if open_end:
            continue
        called = at_poli + dt.timedelta(seconds=rng.randint(120, 2400))
        s.call(poli_key, hms(called), f"poli-{poli}", f"dr-{poli.lower()}", day=iso)
        if rng.random() < 0.06:
            s.end(TicketNoShow, poli_key, hms(called + dt.timedelta(minutes=3)), day=iso)
            continue
        serving = called + dt.timedelta(seconds=rng.randint(20, 120))
        s.end(TicketServing, poli_key, hms(serving), day=iso)
        s.end(TicketDone, poli_key, hms(serving + dt.timedelta(seconds=rng.randint(240, 1200))), day=iso)


@pytest.fixture
def data(site):
    """Accounts per role and two weeks of visits at three puskesmas."""
    for args in [
        ("dinkes", "Dr. Rahma", "admin_kabupaten", None, ""),
        ("kepala.cibinong", "Dr. Sari", "kepala_puskesmas", "cibinong", ""),
        ("loket.cibinong", "Rina", "petugas_loket", "cibinong", ""),
    ]:
        staff.add(*args, PASSWORD)
    rng = random.Random(7)
    now = services.now_wib().replace(tzinfo=None)
    for code, size in [("cibinong", 30), ("ciawi", 15), ("cileungsi", 20)]:
        node = Node.create(node_id=f"pkm-{code}", puskesmas=Puskesmas.get(Puskesmas.code == code))
        s = Stream()
        for back in range(14, 0, -1):
            day = now.date() - dt.timedelta(days=back)
            if day.isoweekday() != 7:
                history(s, day, size + rng.randint(-8, 8), rng)
        history(s, now.date(), size // 2, rng, until=now)
        apply_batch(node, s.batch())
    return site


def browser(chromium, base: str, viewport):
    return open_tab(chromium, base, viewport, phone=viewport == PHONE, console=lambda text: "status of 4" not in text)


def sign_in(tab, username: str) -> None:
    tab.goto("/petugas/masuk")
    tab.fill("#username", username)
    tab.fill("#password", PASSWORD)
    tab.click("button[type=submit]")
    expect(tab.get_by_role("heading", level=1)).to_be_visible()


def no_sideways_scroll(tab) -> None:
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def charts_drawn(tab) -> int:
    expect(tab.locator("canvas[data-chart]:not([data-drawn])")).to_have_count(0)  # the page forbids eval
    return tab.locator("canvas[data-drawn]").count()


def test_the_kepala_sees_her_puskesmas_with_charts_beside_tables(data, chromium):
    for size in ("laptop", "phone"):
        kepala(chromium, data, size)


def kepala(chromium, base: str, size: str) -> None:
    tab = browser(chromium, base, LAPTOP if size == "laptop" else PHONE)
    try:
        sign_in(tab, "kepala.cibinong")
        tab.get_by_role("link", name="Dasbor").first.click()
        expect(tab.get_by_role("heading", name="Dasbor kunjungan")).to_be_visible()
        expect(tab.locator("#hari-ini")).to_contain_text("Pendaftaran")
        assert charts_drawn(tab) >= 8
        expect(tab.locator("#kpi-target")).to_contain_text("Tunggu pendaftaran ≤ 5 menit untuk 90% pasien")
        # a chart and its table side by side on a laptop, one above the other on a phone
        chart = tab.locator("#kpi-layanan_poli .dash-chart").bounding_box()
        table = tab.locator("#kpi-layanan_poli .table-wrap").bounding_box()
        if size == "laptop":
            assert table["x"] > chart["x"] + chart["width"] - 1 and abs(table["y"] - chart["y"]) < 5
        else:
            assert table["y"] >= chart["y"] + chart["height"] - 1
        no_sideways_scroll(tab)
        tab.screenshot(path=str(OUT / f"dashboard-puskesmas-{size}.png"), full_page=True)
        # the filter: one poli, BPJS only
        tab.select_option("#poli", "UMUM")
        tab.select_option("#payer", "BPJS")
        tab.get_by_role("button", name="Tampilkan").click()
        expect(tab.locator("#poli option:checked")).to_have_text("Poli Umum")
        expect(tab.locator("#kpi-cara_bayar table")).to_contain_text("Umum")
        assert tab.locator("[data-table=poli] tbody tr").count() == 1
        # an inverted period: the field says so, nothing else changes
        tab.fill("#from", "2026-11-27")
        tab.fill("#to", "2026-11-20")
        tab.get_by_role("button", name="Tampilkan").click()
        expect(tab.locator("#to-error")).to_have_text("Tanggal akhir tidak boleh sebelum tanggal awal.")
        no_sideways_scroll(tab)
        tab.screenshot(path=str(OUT / f"dashboard-error-{size}.png"), full_page=True)
        # the quality targets
        tab.goto("/petugas/dasbor/target")
        tab.fill("#poli_menit", "0")
        tab.get_by_role("button", name="Simpan target").click()
        expect(tab.locator("#poli_menit-error")).to_have_text("Harus antara 1 dan 240 menit.")
        tab.screenshot(path=str(OUT / f"dashboard-target-error-{size}.png"), full_page=True)
        tab.fill("#poli_menit", "25")
        tab.get_by_role("button", name="Simpan target").click()
        expect(tab.get_by_role("status")).to_have_text("Target mutu disimpan.")
        expect(tab.locator("#poli_menit")).to_have_value("25")
        no_sideways_scroll(tab)
        tab.screenshot(path=str(OUT / f"dashboard-target-{size}.png"), full_page=True)
        assert tab.problems == []
    finally:
        tab.context.close()


def test_the_dinas_compares_puskesmas_and_a_petugas_is_refused(data, chromium):
    for size in ("laptop", "phone"):
        dinas(chromium, data, size)


def dinas(chromium, base: str, size: str) -> None:
    tab = browser(chromium, base, LAPTOP if size == "laptop" else PHONE)
    try:
        sign_in(tab, "dinkes")
        tab.goto("/petugas/dasbor/")
        expect(tab.locator("#kpi-puskesmas")).to_contain_text("Perbandingan puskesmas")
        expect(tab.locator("#puskesmas option:checked")).to_have_text("Semua puskesmas (kabupaten)")
        expect(tab.locator("[data-table=puskesmas] tbody tr")).to_have_count(Puskesmas.select().count())
        assert charts_drawn(tab) >= 8
        no_sideways_scroll(tab)
        tab.screenshot(path=str(OUT / f"dashboard-kabupaten-{size}.png"), full_page=True)
        tab.get_by_role("link", name="Puskesmas Cibinong").first.click()
        expect(tab.locator(".dash-head")).to_contain_text("Puskesmas Cibinong")
        assert tab.problems == []
        tab.get_by_role("button", name="Keluar").click()
        sign_in(tab, "loket.cibinong")
        expect(tab.get_by_role("link", name="Dasbor")).to_have_count(0)
        refused = tab.goto("/petugas/dasbor/")
        assert refused.status == 403
        expect(tab.get_by_text("Peran Anda tidak boleh membuka halaman ini.")).to_be_visible()
    finally:
        tab.context.close()
