"""Who may do what at the edge, each test named for the attack it stops: staff sign in (offline,
against the accounts from central's feed), roles per counter, CSRF and cross-site posts, kiosks
are paired devices, streams are capped per client, the pages cannot be framed."""

from __future__ import annotations

import json
import re

import pytest

from edge.app import Runtime, create_app
from edge.config import from_dict
from edge.models import KioskDevice, Outbox, Staff, StaffSession, Ticket
from edge.sync import SyncClient
from protocol import passwords
from protocol.changes import StaffChanged

LAN = {"REMOTE_ADDR": "192.168.10.23"}  # a computer on the puskesmas LAN, not the node itself
PASSWORD = "kata-sandi-loket"


@pytest.fixture
def app(tmp_path):
    cfg = from_dict(
        {
            "node_id": "pkm-test",
            "puskesmas_code": "cibinong",
            "qr_public_keys": {"56475aa75463474c": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="},
            "polis": [
                {"code": "UMUM", "name": "Poli Umum", "prefix": "U"},
                {"code": "GIGI", "name": "Poli Gigi", "prefix": "G"},
            ],
            "data_dir": str(tmp_path),
            "kiosk_on_this_device": False,
        }
    )
    rt = Runtime(cfg)
    hashed = passwords.hash_secret(PASSWORD)
    for username, role, polis in (
        ("rina", "petugas_loket", ""),
        ("dokter.umum", "petugas_poli", "UMUM"),
        ("kepala", "kepala_puskesmas", ""),
        ("admin", "admin_puskesmas", ""),
    ):
        SyncClient._upsert_staff(
            StaffChanged(username=username, name=username.title(), role=role, polis=polis, password_hash=hashed)
        )
    a = create_app(cfg, rt)
    yield a
    rt.stop.set()
    rt.db.close()


def token_of(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def sign_in(app, username, password=PASSWORD):
    client = app.test_client()
    token = token_of(client.get("/staff/masuk", environ_base=LAN))
    r = client.post(
        "/staff/masuk", data={"csrf_token": token, "username": username, "password": password}, environ_base=LAN
    )
    if r.status_code == 302:  # signed in: the form token changed with the session, as a browser sees
        after = token_of(client.get("/staff", environ_base=LAN))
        assert after != token
        token = after
    return client, r, token


def post(client, path, token, **data):
    return client.post(path, data={"csrf_token": token, **data}, environ_base=LAN)


def walk_in(app) -> str:
    with app.extensions["rosma"].service.unit():
        return app.extensions["rosma"].service.issue_walkin("UMUM").key


def test_staff_pages_and_actions_need_a_signed_in_staff_member(app):
    c = app.test_client()
    page = c.get("/staff/loket-1", environ_base=LAN)
    assert page.status_code == 302 and "/staff/masuk" in page.headers["Location"]
    api = c.post("/api/counters/loket-1/next", environ_base=LAN)
    assert api.status_code in (400, 401)  # no session: no token either
    key = walk_in(app)
    assert c.post(f"/api/tickets/{key}/cancel", environ_base=LAN).status_code in (400, 401)
    assert Ticket.get(Ticket.key == key).state == "waiting"


def test_a_wrong_password_or_unknown_user_get_one_answer(app):
    for user, pw in (("rina", "salah-sekali"), ("nobody", PASSWORD)):
        _c, r, _t = sign_in(app, user, pw)
        assert r.status_code == 401 and "Nama pengguna atau kata sandi salah." in r.text


def test_a_loket_officer_works_the_lokets_and_cannot_call_a_poli(app):
    c, r, token = sign_in(app, "rina")
    assert r.status_code == 302
    index = c.get("/staff", environ_base=LAN).text
    assert "Loket 1" in index and "Poli Umum" not in index
    walk_in(app)
    assert post(c, "/staff/loket-1/next", token).status_code == 302
    event = json.loads(Outbox.select().order_by(Outbox.seq.desc()).get().data)
    assert event["actor"] == {"counter": "loket-1", "staff": "rina"}  # who did it, in the typed event
    assert c.get("/staff/poli-UMUM", environ_base=LAN).status_code == 403
    assert post(c, "/staff/poli-UMUM/next", token).status_code == 403


def test_a_poli_officer_works_only_their_own_poli(app):
    c, _r, token = sign_in(app, "dokter.umum")
    assert c.get("/staff/poli-UMUM", environ_base=LAN).status_code == 200
    assert c.get("/staff/poli-GIGI", environ_base=LAN).status_code == 403
    assert c.get("/staff/loket-1", environ_base=LAN).status_code == 403


def test_a_kepala_may_look_but_not_act(app):
    c, _r, token = sign_in(app, "kepala")
    page = c.get("/staff/loket-1", environ_base=LAN)
    assert page.status_code == 200 and "call-next" not in page.text
    walk_in(app)
    assert post(c, "/staff/loket-1/next", token).status_code == 403
    assert Ticket.get().state == "waiting"


def test_staff_cannot_act_on_another_counters_ticket_by_its_key(app):
    c, _r, token = sign_in(app, "dokter.umum")
    key = walk_in(app)  # a registration ticket, not the poli's
    assert post(c, f"/staff/poli-UMUM/{key}/finish", token).status_code == 403


def test_a_post_without_the_csrf_token_or_from_another_site_changes_nothing(app):
    c, _r, token = sign_in(app, "rina")
    walk_in(app)
    assert c.post("/staff/loket-1/next", data={}, environ_base=LAN).status_code == 400
    cross = c.post(
        "/staff/loket-1/next", data={"csrf_token": token}, headers={"Origin": "http://evil.example"}, environ_base=LAN
    )
    assert cross.status_code == 403
    assert Ticket.get().state == "waiting"


def test_the_json_api_signs_in_and_needs_the_token_header(app):
    c = app.test_client()
    r = c.post("/api/staff/login", json={"username": "rina", "password": PASSWORD}, environ_base=LAN)
    assert r.status_code == 200
    walk_in(app)
    assert c.post("/api/counters/loket-1/next", environ_base=LAN).status_code == 400
    ok = c.post("/api/counters/loket-1/next", headers={"X-CSRF-Token": r.json["csrf_token"]}, environ_base=LAN)
    assert ok.status_code == 200 and ok.json["label"] == "A001"


def test_signing_out_ends_the_session_on_the_node(app):
    c, _r, token = sign_in(app, "rina")
    saved = c.get_cookie("rosma_edge").value
    assert post(c, "/staff/keluar", token).status_code == 302
    c.set_cookie("rosma_edge", saved)
    assert c.get("/staff/loket-1", environ_base=LAN).status_code == 302


def test_an_account_central_disables_is_out_at_once(app):
    c, _r, _token = sign_in(app, "rina")
    SyncClient._upsert_staff(
        StaffChanged(username="rina", name="Rina", role="petugas_loket", password_hash="x", active=False)
    )
    assert c.get("/staff/loket-1", environ_base=LAN).status_code == 302
    assert StaffSession.select().where(StaffSession.username == "rina", ~StaffSession.revoked).count() == 0


def test_an_empty_sign_in_form_is_not_counted_as_a_wrong_try(app):
    client = app.test_client()
    token = token_of(client.get("/staff/masuk", environ_base=LAN))
    for _ in range(8):
        r = client.post("/staff/masuk", data={"csrf_token": token, "username": "rina"}, environ_base=LAN)
        assert r.status_code == 400 and "Kata sandi wajib diisi." in r.text
    _c, signed, _t = sign_in(app, "rina")
    assert signed.status_code == 302  # no backoff from the empty tries


def test_a_look_only_role_sees_no_action_buttons(app):
    c, _r, _token = sign_in(app, "kepala")
    page = c.get("/staff/loket-1", environ_base=LAN).text
    assert 'id="look-only"' in page and "Cetak ulang" not in page and "Panggil berikutnya" not in page


def test_only_a_paired_kiosk_issues_tickets(app):
    stranger = app.test_client()
    assert stranger.get("/kiosk", environ_base=LAN).status_code == 403
    assert stranger.post("/api/kiosk/walkin", json={"payer": "UMUM"}, environ_base=LAN).status_code == 403
    assert Ticket.select().count() == 0
    c, _r, token = sign_in(app, "rina")
    paired = post(c, "/staff/anjungan", token, name="Anjungan depan")
    assert paired.status_code == 302 and "rosma_anjungan" in paired.headers["Set-Cookie"]
    assert "SameSite=Strict" in paired.headers["Set-Cookie"]
    assert c.post("/api/kiosk/walkin", json={"payer": "UMUM"}, environ_base=LAN).status_code == 201
    kiosk = KioskDevice.get()
    assert kiosk.name == "Anjungan depan" and kiosk.paired_by == "rina"
    # the kiosk browser no longer carries rina's session: whoever stands at it cannot act as her
    assert c.get("/staff", environ_base=LAN).status_code == 302
    assert "Anjungan “Anjungan depan” terpasang" in c.get("/kiosk", environ_base=LAN).text
    assert StaffSession.select().where(StaffSession.username == "rina", ~StaffSession.revoked).count() == 0
    office, _r, office_token = sign_in(app, "rina")  # at her own desk
    post(office, "/staff/anjungan", office_token, revoke=str(kiosk.id))
    assert c.post("/api/kiosk/walkin", json={"payer": "UMUM"}, environ_base=LAN).status_code == 403


def test_a_kiosk_cannot_print_unlimited_tickets(app):
    c, _r, token = sign_in(app, "rina")
    post(c, "/staff/anjungan", token, name="Anjungan")
    codes = [c.post("/api/kiosk/walkin", json={"payer": "UMUM"}, environ_base=LAN).status_code for _ in range(14)]
    assert codes.count(201) == 12 and codes[-1] == 429
    assert Ticket.select().count() == 12


def test_the_kiosk_cannot_give_itself_a_priority_number(app):
    c, _r, token = sign_in(app, "rina")
    post(c, "/staff/anjungan", token, name="Anjungan")
    kiosk_token = token_of(c.get("/kiosk", environ_base=LAN))
    c.post("/kiosk/ambil", data={"payer": "UMUM", "priority": "1", "csrf_token": kiosk_token}, environ_base=LAN)
    c.post("/api/kiosk/walkin", json={"payer": "UMUM", "priority": True, "kelas": "lansia"}, environ_base=LAN)
    assert Ticket.select().count() == 2 and not Ticket.select().where(Ticket.priority).exists()
    assert not Ticket.select().where(Ticket.priority_class != "").exists()


def test_staff_give_a_priority_number_only_with_its_class(app):
    c, r, token = sign_in(app, "rina")
    # the staff page: one button per class; without a class nothing is issued
    page = c.get("/staff/loket-1", environ_base=LAN).text
    for code, name in (("lansia", "Lansia (≥ 60 th)"), ("disabilitas", "Disabilitas"), ("ibu_hamil", "Ibu hamil")):
        assert f'name="kelas" value="{code}" id="priority-{code}">{name}</button>' in page
    post(c, "/staff/loket-1/prioritas", token, payer="UMUM")
    post(c, "/staff/loket-1/prioritas", token, payer="UMUM", kelas="vip")
    assert Ticket.select().count() == 0
    done = c.post(
        "/staff/loket-1/prioritas",
        data={"csrf_token": token, "payer": "BPJS", "kelas": "lansia"},
        environ_base=LAN,
        follow_redirects=True,
    )
    assert "Nomor prioritas B001 (Lansia) dibuat dan dicetak." in done.text
    assert '<b>B001</b> <span class="badge-prio">Lansia</span>' in done.text  # in today's list
    assert '<span class="chip">B001 <span class="badge-prio">Lansia</span></span>' in done.text  # waiting
    # the JSON API: "kelas" is one of the three, else a clear 400 and nothing issued
    api = c.post("/api/staff/login", json={"username": "rina", "password": PASSWORD}, environ_base=LAN)
    headers = {"X-CSRF-Token": api.json["csrf_token"]}
    for bad in ("vip", "", None, 1, "LANSIA", "ibu hamil", ["lansia"]):
        r = c.post(
            "/api/counters/loket-1/prioritas", json={"payer": "UMUM", "kelas": bad}, headers=headers, environ_base=LAN
        )
        assert r.status_code == 400, bad
        assert "Kelas prioritas tidak dikenal" in r.json["error"] or "Data tidak valid" in r.json["error"], bad
    assert Ticket.select().count() == 1
    r = c.post(
        "/api/counters/loket-1/prioritas",
        json={"payer": "UMUM", "kelas": "ibu_hamil"},
        headers=headers,
        environ_base=LAN,
    )
    assert r.status_code == 201 and (r.json["label"], r.json["kelas"]) == ("A001", "ibu_hamil")
    bad_payer = c.post(
        "/api/counters/loket-1/prioritas", json={"payer": "X", "kelas": "lansia"}, headers=headers, environ_base=LAN
    )
    assert bad_payer.status_code == 400 and "Pilih Pasien Umum atau Pasien BPJS." in bad_payer.json["error"]
    poli = c.post(
        "/api/counters/poli-UMUM/prioritas",
        json={"payer": "UMUM", "kelas": "lansia"},
        headers=headers,
        environ_base=LAN,
    )
    assert poli.status_code in (403, 404)
    rows = {t.label: (t.priority, t.priority_class) for t in Ticket.select()}
    assert rows == {"B001": (True, "lansia"), "A001": (True, "ibu_hamil")}
    issued = [json.loads(o.data) for o in Outbox.select().where(Outbox.type == "ticket.issued").order_by(Outbox.seq)]
    assert [(e["label"], e["priority"], e["priority_class"]) for e in issued] == [
        ("B001", True, "lansia"),
        ("A001", True, "ibu_hamil"),
    ]


def test_one_host_cannot_hold_every_event_stream(app):
    c = app.test_client()
    streams = [c.get("/api/events", environ_base=LAN, buffered=False) for _ in range(6)]
    try:
        assert [s.status_code for s in streams] == [200] * 6
        assert c.get("/api/events", environ_base=LAN).status_code == 503
        other = app.test_client().get("/api/events", environ_base={"REMOTE_ADDR": "192.168.10.24"}, buffered=False)
        assert other.status_code == 200  # another screen still gets one
        other.close()
        own = [c.get("/api/events", environ_base={"REMOTE_ADDR": "127.0.0.1"}, buffered=False) for _ in range(8)]
        assert [s.status_code for s in own] == [200] * 8  # the node's own TV and touchscreen share the overall cap
        for s in reversed(own):
            s.close()
    finally:
        for s in reversed(streams):
            s.close()


def test_the_pages_cannot_be_framed_by_another_site(app):
    r = app.test_client().get("/tv/poli", environ_base=LAN)
    assert r.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


def test_the_password_never_reaches_the_node_in_clear(app):
    assert all(s.password_hash.startswith("$argon2id$") for s in Staff.select())


def test_a_burst_of_wrong_passwords_is_not_all_checked(app):
    import threading

    barrier, codes = threading.Barrier(12), []

    def guess(i: int) -> None:
        client = app.test_client()
        barrier.wait()
        body = {"username": "rina", "password": f"tebakan-{i}"}
        codes.append(client.post("/api/staff/login", json=body, environ_base=LAN).status_code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(codes) == 12 and codes.count(401) <= 5  # at most the free tries were judged


def test_bad_json_and_unknown_counters_get_a_clear_refusal_not_a_500(app):
    c, _r, token = sign_in(app, "admin")
    deep = "[" * 5000 + "]" * 5000
    for raw in ('{"username": "\\ud800", "password": "x"}', '{"payer": ' + deep + "}", '{"payer": {"a": 1}}'):
        r = c.post("/api/staff/login", data=raw, content_type="application/json", environ_base=LAN)
        assert r.status_code == 400 and "Data tidak valid" in r.json["error"], raw[:40]
    key = walk_in(app)
    assert post(c, f"/staff/bogus/{key}/recall", token).status_code == 404
    assert c.get("/api/kiosk/scans?after=99999999999999999999999", environ_base=LAN).status_code in (200, 403)
    assert post(c, "/staff/anjungan", token, revoke="99999999999999999999999").status_code == 302
