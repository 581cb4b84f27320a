"""The back office's page of Antrean FKTP reports (/petugas/bpjs): who may open it, what it shows,
"Kirim ulang" (CSRF, audited), never a card number; and in a real Chromium on a laptop and a phone
(screenshots var/screenshots/backoffice/admin-bpjs-*.png)."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from central import bpjs_credentials, staff
from central.app import build
from central.models import AuditLog, BpjsReport, Puskesmas, utcnow
from tests.central.live import LAPTOP, PHONE, SHOTS, open_tab

PASSWORD = "kata-sandi-rahasia"
CARD = "0001234500002"


def token(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def sign_in(client, username: str):
    page = client.get("/petugas/masuk")
    r = client.post("/petugas/masuk", data={"csrf_token": token(page), "username": username, "password": PASSWORD})
    assert r.status_code == 302, r.text


def report(code: str, kind: str, key: str, state: str, label: str, error: str = "", attempts: int = 0) -> BpjsReport:
    payload = {"tanggal": "2026-12-03", "poli": "UMUM", "poli_nama": "Poli Umum", "kartu": CARD, "label": label}
    payload["nik"] = "3201011705900001"
    return BpjsReport.create(
        puskesmas=Puskesmas.get(Puskesmas.code == code),
        kind=kind,
        key=key,
        payload=json.dumps(payload),
        state=state,
        attempts=attempts,
        last_error=error,
        sent_at=utcnow() if state == "sent" else None,
    )


REFUSED = "BPJS Kesehatan menolak permintaan (kode 201): Nomor antrean U002 sudah dipakai peserta lain"
DOWN = "Layanan BPJS Kesehatan tidak menjawab tepat waktu. Coba lagi beberapa saat lagi."


def some_reports() -> dict:
    return {
        "sent": report("cibinong", "add", "r1", "sent", "U001"),
        "panggil": report("cibinong", "panggil", "r1", "sent", "U001"),
        "failed": report("cibinong", "add", "r2", "failed", "U002", REFUSED, attempts=1),
        "waiting": report("cibinong", "add", "r3", "pending", "U003", DOWN, attempts=2),
        "ciawi": report("ciawi", "add", "r4", "failed", "U009", "Kode poli BPJS tidak valid.", attempts=1),
    }


@pytest.fixture
def accounts(app):
    staff.add("admin.cibinong", "Admin Cibinong", "admin_puskesmas", "cibinong", "", PASSWORD)
    staff.add("admin.ciawi", "Admin Ciawi", "admin_puskesmas", "ciawi", "", PASSWORD)
    staff.add("admin.kab", "Admin Kabupaten", "admin_kabupaten", None, "", PASSWORD)
    staff.add("loket.cibinong", "Loket", "petugas_loket", "cibinong", "", PASSWORD)
    staff.add("kepala.cibinong", "Kepala", "kepala_puskesmas", "cibinong", "", PASSWORD)
    return some_reports()


def test_admin_puskesmas_sees_its_counts_failures_and_waiting_reports_without_card_numbers(client, accounts):
    sign_in(client, "admin.cibinong")
    page = client.get("/petugas/bpjs/")
    assert page.status_code == 200
    text = page.text
    assert re.search(r'id="jumlah-menunggu">1<', text) and re.search(r'id="jumlah-terkirim">2<', text)
    assert re.search(r'id="jumlah-gagal">1<', text)
    assert "Nomor antrean U002 sudah dipakai peserta lain" in text and DOWN in text
    assert "U009" not in text  # Ciawi's report is not theirs
    assert "U001" not in text  # sent reports are only counted
    assert CARD not in text and "3201011705900001" not in text
    assert "BPJS belum diatur" in text  # no credentials file in this app


def test_admin_kabupaten_sees_every_puskesmas_or_one(client, accounts):
    sign_in(client, "admin.kab")
    every = client.get("/petugas/bpjs/").text
    assert "U002" in every and "U009" in every
    one = client.get("/petugas/bpjs/?puskesmas=ciawi").text
    assert "U009" in one and "U002" not in one


@pytest.mark.parametrize("username", ["loket.cibinong", "kepala.cibinong"])
def test_other_roles_are_refused(client, accounts, username):
    sign_in(client, username)
    assert client.get("/petugas/bpjs/").status_code == 403


def test_kirim_ulang_puts_the_report_back_in_the_queue_and_is_audited(client, accounts):
    failed = accounts["failed"]
    sign_in(client, "admin.cibinong")
    page = client.get("/petugas/bpjs/")
    r = client.post("/petugas/bpjs/kirim-ulang", data={"csrf_token": token(page), "id": str(failed.id)})
    assert r.status_code == 302
    row = BpjsReport.get_by_id(failed.id)
    assert (row.state, row.attempts, row.next_at) == ("pending", 0, None)
    entry = AuditLog.get(AuditLog.entity == "bpjs_report")
    assert entry.actor == "admin.cibinong" and json.loads(entry.before)["state"] == "failed"
    assert CARD not in entry.before + entry.after + entry.entity_key
    assert "dikirim ulang" in client.get("/petugas/bpjs/").text


def test_kirim_ulang_is_refused_without_csrf_for_another_puskesmas_and_for_nonsense(client, accounts):
    sign_in(client, "admin.cibinong")
    page = client.get("/petugas/bpjs/")
    r = client.post("/petugas/bpjs/kirim-ulang", data={"id": str(accounts["failed"].id)})
    assert r.status_code == 400 and "Sesi formulir tidak valid" in r.text
    r = client.post("/petugas/bpjs/kirim-ulang", data={"csrf_token": token(page), "id": str(accounts["ciawi"].id)})
    assert r.status_code == 403
    for bad in ("", "abc", "99999", "9" * 40, "-1"):
        r = client.post("/petugas/bpjs/kirim-ulang", data={"csrf_token": token(page), "id": bad})
        assert r.status_code == 404, bad
    assert BpjsReport.get_by_id(accounts["ciawi"].id).state == "failed"


def test_the_page_on_a_laptop_and_a_phone(central_config, serve, chromium, tmp_path):
    app = build(central_config)
    staff.add("admin.cibinong", "Admin Cibinong", "admin_puskesmas", "cibinong", "", PASSWORD)
    some_reports()
    path = tmp_path / "bpjs.toml"
    path.write_text(bpjs_credentials.fake_credentials("http://127.0.0.1:9"))
    path.chmod(0o600)
    bpjs_credentials.bind(path)
    try:
        base = serve(app)
        for name, size in (("laptop", LAPTOP), ("phone", PHONE)):
            page = open_tab(chromium, base, size)
            page.goto("/petugas/masuk")
            page.get_by_label("Nama pengguna").fill("admin.cibinong")
            page.get_by_label("Kata sandi").fill(PASSWORD)
            page.get_by_role("button", name="Masuk").click()
            expect(page.get_by_role("heading", name="Halo")).to_be_visible()
            page.get_by_role("navigation", name="Menu petugas").get_by_role("link", name="Laporan BPJS").click()
            expect(page.get_by_role("heading", name="Laporan antrean BPJS")).to_be_visible()
            expect(page.get_by_text("Nomor antrean U002 sudah dipakai peserta lain")).to_be_visible()
            assert page.get_by_text("BPJS belum diatur").count() == 0
            page.screenshot(path=str(SHOTS / f"admin-bpjs-{name}.png"), full_page=True)
            if name == "phone":
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE[0], width  # nothing wider than the phone
                page.get_by_role("button", name="Kirim ulang laporan tambah antrean U002").click()
                expect(page.get_by_text("Laporan dikirim ulang ke BPJS")).to_be_visible()
                page.screenshot(path=str(SHOTS / "admin-bpjs-phone-resent.png"), full_page=True)
            assert not page.problems, page.problems
            page.context.close()
    finally:
        bpjs_credentials.bind(None)
