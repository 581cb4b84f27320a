"""The back office in a real Chromium, per role: what each role's menu offers, which pages it may
open and which it is refused, and the admin pages used as an admin would (laptop and phone).

Screenshots go to var/screenshots/backoffice/admin-*.png for a human to look at.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from central import staff
from central.app import build
from central.models import Node, Poli, Puskesmas
from tests.central.live import SHOTS, open_tab

PASSWORD = "kata-sandi-rahasia"

# what each role's menu shows (and so may open), in menu order
MENUS = {
    "admin_kabupaten": ["Dasbor", "Laporan", "Kritik & saran", "Pengaturan", "Hari libur", "Laporan BPJS", "Node"],
    "admin_puskesmas": ["Dasbor", "Laporan", "Kritik & saran", "Pengaturan", "Hari libur", "Laporan BPJS"],
    "kepala_puskesmas": ["Dasbor", "Laporan", "Kritik & saran"],
    "petugas_loket": [],
    "petugas_poli": [],
}
PAGES = {
    "Pengaturan": "/petugas/admin/cibinong",
    "Hari libur": "/petugas/libur/",
    "Laporan BPJS": "/petugas/bpjs/",
    "Node": "/petugas/node/",
    "Dasbor": "/petugas/dasbor/",
    "Laporan": "/petugas/laporan/",
    "Kritik & saran": "/petugas/kritik-saran/",
}


@pytest.fixture
def site(central_config, serve):
    app = build(central_config)
    Node.create(node_id="pkm-cibinong", puskesmas=Puskesmas.get(code="cibinong"))
    for role in MENUS:
        place = None if role == "admin_kabupaten" else "cibinong"
        staff.add(
            role.replace("_", "."), f"Uji {role}", role, place, "UMUM" if role == "petugas_poli" else "", PASSWORD
        )
    return serve(app)


@pytest.fixture
def browser(site, chromium):
    return lambda width=1280, height=800: open_tab(chromium, site, (width, height), scale=1)


def sign_in(page, username: str) -> None:
    page.goto("/petugas/masuk")
    page.get_by_label("Nama pengguna").fill(username)
    page.get_by_label("Kata sandi").fill(PASSWORD)
    page.get_by_role("button", name="Masuk").click()
    expect(page.get_by_role("heading", name="Halo")).to_be_visible()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"admin-{name}.png"), full_page=True)


@pytest.mark.parametrize("role", list(MENUS))
def test_each_role_sees_its_own_back_office_and_is_refused_the_rest(browser, role):
    page = browser()
    sign_in(page, role.replace("_", "."))
    menu = page.get_by_role("navigation", name="Menu petugas")
    labels = [t.strip() for t in menu.get_by_role("link").all_inner_texts()]
    assert labels == ["Petugas", *MENUS[role]], labels
    for label, path in PAGES.items():
        response = page.goto(path)
        if label in MENUS[role]:
            assert response.status == 200, (label, response.status)
            assert page.get_by_role("heading", name="Akses ditolak").count() == 0
        else:
            assert response.status == 403, (label, response.status)
            expect(page.get_by_role("heading", name="Akses ditolak")).to_be_visible()
    assert page.problems == []


def test_an_admin_adds_a_poli_with_a_mistake_then_right_on_a_laptop_and_a_phone(browser):
    page = browser()
    sign_in(page, "admin.puskesmas")
    page.get_by_role("navigation", name="Menu petugas").get_by_role("link", name="Pengaturan").click()
    expect(page.get_by_role("heading", name="Puskesmas Cibinong")).to_be_visible()
    shot(page, "puskesmas-laptop")
    page.get_by_role("link", name="Tambah poli").click()
    page.get_by_label("Kode").fill("GIZI")
    page.get_by_label("Nama poli").fill("Poli Gizi")
    page.get_by_label("Awalan nomor antrean").fill("U")  # Poli Umum's
    page.get_by_role("button", name="Tambah poli").click()
    expect(page.get_by_text("Awalan U sudah dipakai Poli Umum")).to_be_visible()
    shot(page, "poli-error-laptop")
    page.get_by_label("Awalan nomor antrean").fill("Z")
    page.get_by_role("button", name="Tambah poli").click()
    expect(page.get_by_text("Poli Gizi ditambahkan")).to_be_visible()
    expect(page.get_by_role("cell", name="Poli Gizi", exact=True)).to_be_visible()
    assert Poli.select().where(Poli.code == "GIZI").count() == 1
    page.goto("/petugas/admin/petugas")
    shot(page, "staff-laptop")
    page.goto("/petugas/admin/audit")
    expect(page.get_by_role("cell", name="cibinong/GIZI")).to_be_visible()
    shot(page, "audit-laptop")

    phone = browser(390, 844)
    sign_in(phone, "admin.puskesmas")
    phone.goto("/petugas/admin/cibinong")
    shot(phone, "puskesmas-phone")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px phone"
    phone.goto("/petugas/admin/cibinong/poli/GIZI")
    shot(phone, "poli-phone")
    assert page.problems == [] and phone.problems == []


def test_the_dinkes_admin_sees_every_puskesmas(browser):
    page = browser()
    sign_in(page, "admin.kabupaten")
    page.goto("/petugas/admin/")
    for name in ("Puskesmas Cibinong", "Puskesmas Ciawi", "Puskesmas Cisarua"):
        expect(page.get_by_role("link", name=name)).to_be_visible()
    shot(page, "index-laptop")
