"""Fleet alerts marked "sedang ditangani": an admin kabupaten writes a short note on an alert of
/petugas/node/ (a form with its CSRF token, audited); the note shows beside the alert for every
admin until the alert clears by itself, and a later alert of the same kind starts unmarked.
Other roles are refused. On SQLite and PostgreSQL; the page in Chromium on a laptop and a phone."""

from __future__ import annotations

import datetime as dt
import json
import re
from html import unescape

import pytest
from playwright.sync_api import expect

from central import fleet, staff
from central.models import AlertNote, AuditLog, Node, Puskesmas
from tests.central.live import SHOTS, open_tab

PASSWORD = "kata-sandi-rahasia"
NOTE = "Pak Dedi sudah menelepon puskesmas: listrik padam, genset dinyalakan"
OK_DEVICES = {
    "printer": {"ok": True, "message": "Printer siap"},
    "scanner": {"ok": True, "message": "Pemindai QR siap"},
    "audio": {"ok": True, "message": "Suara siap"},
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def offline_node(code: str = "cibinong", minutes: int = 30) -> Node:
    """A node that has been offline for ``minutes``: one red alert, kind "offline"."""
    since = utcnow() - dt.timedelta(minutes=minutes)
    return Node.create(
        node_id=f"pkm-{code}", puskesmas=Puskesmas.get(code=code), online=False, offline_since=since, last_seen=since
    )


def back_online(node: Node) -> None:
    status = {
        "version": fleet.software_version(),
        "backlog": 0,
        "oldest_s": 0,
        "devices": OK_DEVICES,
        "skew_s": 0.2,
        "uptime_s": 120,
        "last_sync": dt.datetime.now(dt.UTC).isoformat(),
    }
    Node.update(
        online=True, offline_since=None, last_seen=utcnow(), status=json.dumps(status), status_at=utcnow()
    ).where(Node.id == node.id).execute()


def token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no form"
    return match.group(1)


def sign_in(app, role: str = "admin_kabupaten", puskesmas: str | None = None, name: str = "Bu Rina", username=None):
    client = app.test_client()
    username = username or f"{role.replace('_', '.')}.{puskesmas or 'kab'}"
    staff.add(username, name, role, puskesmas, "", PASSWORD)
    page = client.get("/petugas/masuk")
    r = client.post("/petugas/masuk", data={"csrf_token": token(page.text), "username": username, "password": PASSWORD})
    assert r.status_code == 302, r.text
    return client


def mark(client, note: str, node: str = "pkm-cibinong", kind: str = "offline", with_token: bool = True):
    page = client.get("/petugas/node/")
    data = {"node": node, "kind": kind, "note": note}
    if with_token:
        data["csrf_token"] = token(page.text)
    return client.post("/petugas/node/tangani", data=data)


def alert_text(html: str, node: str = "pkm-cibinong", kind: str = "offline") -> str:
    """The alert's list item as the admin reads it (tags dropped, spaces collapsed)."""
    match = re.search(rf'<li class="fleet-alert[^"]*"[^>]*data-node="{node}" data-kind="{kind}">(.*?)</li>', html, re.S)
    assert match, f"no {kind} alert for {node}"
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())


def test_an_admin_marks_an_alert_and_every_admin_sees_the_note(app):
    with app.app_context():
        offline_node()
        rina = sign_in(app)
        page = rina.get("/petugas/node/")
        assert "Tandai sedang ditangani" in alert_text(page.text)
        assert "Sedang ditangani" not in alert_text(page.text)

        r = mark(rina, NOTE)
        assert r.status_code == 302 and r.headers["Location"].endswith("#peringatan-pkm-cibinong--offline")
        shown = rina.get(r.headers["Location"])
        assert "Peringatan ditandai sedang ditangani." in shown.text
        text = alert_text(shown.text)
        assert "Sedang ditangani" in text and NOTE in text and "Bu Rina" in text and "WIB" in text
        assert "Ubah catatan" in text

        other = sign_in(app, name="Pak Joko", username="joko.dinkes")  # another admin kabupaten
        assert NOTE in alert_text(other.get("/petugas/node/").text)
        data = other.get("/petugas/node/data.json").get_json()
        (alert,) = [a for a in data["alerts"] if a["kind"] == "offline"]
        assert alert["note"]["text"] == NOTE and alert["note"]["by"] == "Bu Rina"

        (row,) = AuditLog.select().where(AuditLog.entity == "alert")
        assert (row.action, row.entity_key, row.actor) == ("create", "pkm-cibinong:offline", "admin.kabupaten.kab")
        assert json.loads(row.after) == {"status": "sedang ditangani", "note": NOTE}
        audit_page = rina.get("/petugas/admin/audit?jenis=alert")
        assert "Tambah peringatan node" in unescape(audit_page.text) and NOTE in unescape(audit_page.text)


def test_changing_the_note_is_audited_and_the_same_note_twice_changes_nothing(app):
    with app.app_context():
        offline_node()
        rina = sign_in(app)
        mark(rina, "Menelepon kepala puskesmas")
        mark(rina, NOTE)
        mark(rina, NOTE)
        assert [n.note for n in AlertNote.select()] == [NOTE]
        actions = [a.action for a in AuditLog.select().where(AuditLog.entity == "alert").order_by(AuditLog.id)]
        assert actions == ["create", "update"]
        text = alert_text(rina.get("/petugas/node/").text)
        assert NOTE in text and "Menelepon kepala puskesmas" not in text


def test_the_note_shows_until_the_alert_clears_and_a_new_alert_starts_unmarked(app):
    with app.app_context():
        node = offline_node()
        rina = sign_in(app)
        mark(rina, NOTE)
        back_online(node)
        page = rina.get("/petugas/node/")
        assert 'data-kind="offline"' not in page.text and NOTE not in page.text
        assert AlertNote.get().cleared_at is not None

        Node.update(online=False, offline_since=utcnow() - dt.timedelta(minutes=15)).where(Node.id == node.id).execute()
        text = alert_text(rina.get("/petugas/node/").text)
        assert "Tandai sedang ditangani" in text and "Sedang ditangani" not in text and NOTE not in text


@pytest.mark.parametrize(
    ("note", "message"),
    [
        pytest.param("   ", "Tulis catatan singkat, misalnya siapa yang menangani dan apa yang dilakukan.", id="empty"),
        pytest.param("x" * 201, "Catatan terlalu panjang: paling banyak 200 huruf.", id="too-long"),
        pytest.param("Sudah\u202e ditangani", "Catatan berisi karakter yang tidak diizinkan", id="bidi"),
    ],
)
def test_a_bad_note_is_a_field_error_beside_its_alert_and_stores_nothing(app, note, message):
    with app.app_context():
        offline_node()
        rina = sign_in(app)
        r = mark(rina, note)
        assert r.status_code == 400
        assert message in alert_text(r.text)
        assert 'aria-invalid="true"' in r.text and '<details class="fleet-handle" open>' in r.text
        assert AlertNote.select().count() == 0 and AuditLog.select().where(AuditLog.entity == "alert").count() == 0


def test_a_note_is_shown_as_text(app):
    with app.app_context():
        offline_node()
        rina = sign_in(app)
        mark(rina, "<script>alert('x')</script>")
        page = rina.get("/petugas/node/").text
        assert "<script>alert('x')</script>" not in page
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page


def test_without_the_form_token_nothing_is_stored(app):
    with app.app_context():
        offline_node()
        rina = sign_in(app)
        r = mark(rina, NOTE, with_token=False)
        assert r.status_code == 400
        assert AlertNote.select().count() == 0


def test_an_alert_that_is_not_there_is_a_clear_message(app):
    with app.app_context():
        node = offline_node()
        back_online(node)
        rina = sign_in(app)
        for node_id, kind in (("pkm-cibinong", "offline"), ("pkm-tidak-ada", "offline"), ("pkm-cibinong", "x" * 60)):
            r = mark(rina, NOTE, node=node_id, kind=kind)
            assert r.status_code == 302
            page = rina.get(r.headers["Location"]).text
            assert "Peringatan ini sudah tidak ada: mungkin sudah pulih dengan sendirinya." in page
        assert AlertNote.select().count() == 0


@pytest.mark.parametrize("role", ["admin_puskesmas", "kepala_puskesmas", "petugas_loket"])
def test_other_roles_may_not_mark_alerts(app, role):
    with app.app_context():
        offline_node()
        them = sign_in(app, role, "cibinong")
        page = them.get("/petugas/kritik-saran/" if role != "petugas_loket" else "/petugas/")
        r = them.post(
            "/petugas/node/tangani",
            data={"csrf_token": token(page.text), "node": "pkm-cibinong", "kind": "offline", "note": NOTE},
        )
        assert r.status_code == 403
        assert AlertNote.select().count() == 0


def test_the_page_in_chromium_keeps_a_note_being_typed_and_shows_it_marked(site, chromium):
    offline_node()
    since = utcnow() - dt.timedelta(minutes=12)
    Node.create(
        node_id="pkm-ciawi", puskesmas=Puskesmas.get(code="ciawi"), online=False, offline_since=since, last_seen=since
    )
    staff.add("admin.kab", "Bu Rina Marlina", "admin_kabupaten", None, "", PASSWORD)
    for name, viewport in (("laptop", (1280, 900)), ("hp", (360, 740))):
        tab = open_tab(chromium, site, viewport)
        tab.goto("/petugas/masuk")
        tab.get_by_label("Nama pengguna").fill("admin.kab")
        tab.get_by_label("Kata sandi").fill(PASSWORD)
        tab.locator("main").get_by_role("button", name="Masuk").click()
        expect(tab.locator(".nav-staff")).to_be_visible()
        tab.clock.install()  # the page's timers run when the test says so
        tab.goto("/petugas/node/?setiap=1")  # refreshes every second
        item = tab.locator("li.fleet-alert[data-node='pkm-ciawi']")
        if name == "laptop":
            item.get_by_text("Tandai sedang ditangani").click()
            item.get_by_label("Catatan (siapa menangani, apa yang dilakukan)").fill("Sedang dicek teknisi")
            # a refresh now would take what she typed: the page waits while she writes
            tab.clock.run_for(3500)  # three and a half refresh periods
            expect(tab.locator("#fleet-body[data-refreshed]")).to_have_count(0)
            expect(item.get_by_label("Catatan (siapa menangani, apa yang dilakukan)")).to_have_value(
                "Sedang dicek teknisi"
            )
            tab.screenshot(path=str(SHOTS / "fleet-catatan-laptop.png"))
            item.get_by_role("button", name="Simpan").click()
            expect(tab.get_by_text("Peringatan ditandai sedang ditangani.")).to_be_visible()
            tab.screenshot(path=str(SHOTS / "fleet-ditangani-laptop.png"), full_page=True)
        expect(item.get_by_text("Sedang ditangani", exact=True)).to_be_visible()
        expect(item).to_contain_text("Sedang dicek teknisi")
        expect(item).to_contain_text("Bu Rina Marlina")
        # once nobody is writing, the refresh runs again and keeps the mark: one refresh period,
        # 30 s after saving (the page it goes back to), else 1 s
        tab.clock.run_for(31000 if name == "laptop" else 1500)
        expect(tab.locator("#fleet-body[data-refreshed]")).to_be_attached()
        expect(item).to_contain_text("Sedang dicek teknisi")
        box = item.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport[0]
        assert tab.evaluate("document.documentElement.scrollWidth") <= viewport[0]
        if name == "hp":
            tab.screenshot(path=str(SHOTS / "fleet-ditangani-hp.png"), full_page=True)
        assert tab.problems == []
        tab.context.close()
