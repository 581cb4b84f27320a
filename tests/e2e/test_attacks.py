"""The attacks found on release 0.1.0, tried again against the real processes (central on
PostgreSQL, its sync worker, one edge node, Mosquitto over TLS) and refused. Each test is named for
the attack it stops.

Central runs behind a trusted proxy here (``trusted_proxies = ["127.0.0.1"]``), so a request's
``X-Forwarded-For`` stands for the patient's own address: attackers and owners come from different
places, as on the internet. Tests use their own NIKs and addresses, so the throttles of one never
decide another.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import socket
import sqlite3
import ssl
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse
from zoneinfo import ZoneInfo

import psycopg2
import pytest
import requests
from harness import PATIENT_PIN, STAFF_PASSWORD, System, csrf_of, wait_for

from central.core.reservations import available_dates
from central.holidays_data import HOLIDAYS_2026
from infra.toml_writer import toml_key, toml_value
from provisioning.local_broker import free_port

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
LOGIN_FAILED = "NIK, tanggal lahir, atau PIN salah."


@pytest.fixture(scope="module")
def days() -> list[str]:
    """Open days after today (WIB) in the booking window: no Sunday, no holiday of migration 5."""
    today = dt.datetime.now(ZoneInfo("Asia/Jakarta")).date()
    closed = {dt.date.fromisoformat(day): name for day, name, _kind in HOLIDAYS_2026}
    return [d.isoformat() for d in available_dates(today, 7, closed=closed) if d > today]


@pytest.fixture(scope="module")
def system(tmp_path_factory, days):
    admin = os.environ.get("ROSMA_TEST_PG_URL", PG_DEFAULT)
    name = "rosma_attack_" + secrets.token_hex(4)
    try:
        conn = psycopg2.connect(admin, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        pytest.fail(f"PostgreSQL is needed for the end-to-end tests (ROSMA_TEST_PG_URL): {exc}")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    url = urlunparse(urlparse(admin)._replace(path="/" + name))
    s = System(tmp_path_factory.mktemp("attacks"), url, days[0], central_settings={"trusted_proxies": ["127.0.0.1"]})
    try:
        s.start()
        s.add_staff("kepala.pkm", "kepala_puskesmas")
        yield s
    finally:
        s.stop()
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


def person(i: int, sex: str = "L") -> dict:
    """A valid registration (NIK digits 7-12 are the birth date, day + 40 for women)."""
    day, month, year = 1 + i % 28, 1 + (i // 28) % 12, 1970 + i % 30
    nik = f"320101{day + (40 if sex == 'P' else 0):02d}{month:02d}{year % 100:02d}{1000 + i:04d}"
    return {
        "name": f"Pasien Uji {i}",
        "nik": nik,
        "birth_date": f"{year}-{month:02d}-{day:02d}",
        "sex": sex,
        "address": "Jl. Raya Bogor No. 1, Cibinong",
        "phone": f"0812{3000000 + i:07d}",
        "pin": PATIENT_PIN,
    }


def at(address: str, **headers) -> dict:
    """Headers of a request from ``address`` (through the trusted proxy)."""
    return {"X-Forwarded-For": address, **headers}


def api(system: System, path: str) -> str:
    return system.central_url + "/api/v1" + path


def register(system: System, who: dict, address: str) -> requests.Response:
    return requests.post(api(system, "/patients"), json=who, headers=at(address), timeout=10)


def login(system: System, who: dict, address: str, **extra) -> requests.Response:
    body = {"nik": who["nik"], "birth_date": who["birth_date"], **extra}
    return requests.post(api(system, "/login"), json=body, headers=at(address), timeout=10)


def web_session(system: System, who: dict, address: str) -> requests.Session:
    """A browser signed in on the patient site through /masuk."""
    s = requests.Session()
    s.headers.update(at(address))
    form = {"csrf_token": csrf_of(s.get(system.central_url + "/masuk", timeout=10).text)}
    form.update(nik=who["nik"], birth_date=who["birth_date"], pin=who["pin"])
    r = s.post(system.central_url + "/masuk", data=form, timeout=10, allow_redirects=False)
    assert r.status_code == 302, r.text
    return s


def signed_in(s: requests.Session, system: System) -> bool:
    r = s.get(system.central_url + "/akun", timeout=10, allow_redirects=False)
    return r.status_code == 200


def walkin(system: System, session=requests, **body) -> requests.Response:
    return session.post(system.edge_url + "/api/kiosk/walkin", json={"payer": "UMUM", **body}, timeout=10)


def ticket_state(system: System, label: str) -> str:
    with sqlite3.connect(f"file:{system.base / 'edge' / 'edge.db'}?mode=ro", uri=True) as db:
        row = db.execute("SELECT state FROM ticket WHERE label = ? ORDER BY id DESC", (label,)).fetchone()
    return row[0]


# ---- patients ---------------------------------------------------------------------------------------


def test_a_nik_and_birth_date_alone_open_no_account(system):
    ani = person(1, "P")
    assert register(system, ani, "203.0.113.1").status_code == 201
    for extra in ({}, {"pin": "204817"}):  # the 0.1.0 login (no PIN), and a near miss
        r = login(system, ani, "203.0.113.1", **extra)
        assert r.status_code == 401 and r.json()["error"] == LOGIN_FAILED, r.text
    stranger = login(system, person(2), "203.0.113.1", pin=PATIENT_PIN)  # no such account: the same answer
    assert stranger.status_code == 401 and stranger.json()["error"] == LOGIN_FAILED
    assert requests.get(api(system, "/me"), timeout=10).status_code == 401
    assert login(system, ani, "203.0.113.1", pin=PATIENT_PIN).status_code == 200


def test_forty_accounts_cannot_be_opened_from_one_address(system):
    """Release 0.1.0: 40 of 40 accounts opened from one address in 0.1 s with NIK + birth date."""
    owners = [person(100 + i) for i in range(8)]
    for i, who in enumerate(owners):
        assert register(system, who, f"198.51.100.{10 + i}").status_code == 201
    targets = owners + [person(200 + i) for i in range(32)]
    answers = [login(system, who, "198.51.100.66", pin="135790") for who in targets]
    codes = [r.status_code for r in answers]
    assert 200 not in codes
    assert codes.count(401) == 21 and codes.count(429) == 19, codes  # 20 wrong tries are free: the 21st blocks
    blocked = answers[-1]
    assert "Terlalu banyak percobaan masuk" in blocked.json()["error"] and int(blocked.headers["Retry-After"]) > 60
    # even the right PIN does not pass from that address now; the owners, elsewhere, are not affected
    assert login(system, owners[0], "198.51.100.66", pin=PATIENT_PIN).status_code == 429
    assert login(system, owners[0], "198.51.100.10", pin=PATIENT_PIN).status_code == 200


def test_registration_does_not_tell_who_is_registered(system):
    owner, newcomer = person(300, "P"), person(301)
    first = register(system, owner, "203.0.113.30")
    again = register(system, {**owner, "pin": "864209", "phone": "081399999999"}, "192.0.2.30")
    fresh = register(system, newcomer, "192.0.2.31")
    assert first.status_code == again.status_code == fresh.status_code == 201
    assert first.json() == again.json() == fresh.json()
    assert "sudah terdaftar" not in again.text
    assert login(system, owner, "192.0.2.30", pin="864209").status_code == 401  # the account was not taken over
    token = login(system, owner, "203.0.113.30", pin=PATIENT_PIN).json()["token"]
    me = requests.get(api(system, "/me"), headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    assert "9999" not in json.dumps(me)  # the phone on file is the owner's


def test_a_registration_flood_from_one_address_is_throttled(system):
    codes = [register(system, person(400 + i), "198.51.100.77").status_code for i in range(7)]
    assert codes[:5] == [201] * 5 and codes[5:] == [429, 429], codes
    flood = register(system, person(420), "198.51.100.77")
    assert "Terlalu banyak pendaftaran" in flood.json()["error"]


def test_fresh_accounts_cannot_book_out_a_slot(system, days):
    """Release 0.1.0: 10 fake accounts booked out a whole slot in 3 s."""
    booked, refused = [], []
    for i in range(8):
        who = person(500 + i)
        assert register(system, who, f"192.0.2.{100 + i}").status_code == 201
        token = login(system, who, f"192.0.2.{100 + i}", pin=PATIENT_PIN).json()["token"]
        body = {"puskesmas": "cibinong", "poli": "GIGI", "date": days[1], "slot": "10:00-11:00", "payer": "UMUM"}
        r = requests.post(
            api(system, "/reservations"),
            json=body,
            headers={"Authorization": f"Bearer {token}", **at(f"192.0.2.{100 + i}")},
            timeout=10,
        )
        (booked if r.status_code == 201 else refused).append(r)
    assert len(booked) == 5 and len(refused) == 3  # the quota is 10: new accounts hold at most half
    assert all(r.status_code == 409 and "akun baru" in r.json()["error"] for r in refused)
    slots = requests.get(
        api(system, "/puskesmas/cibinong/slots"), params={"poli": "GIGI", "date": days[1]}, timeout=10
    ).json()
    (slot,) = [s for s in slots["slots"] if s["slot"] == "10:00-11:00"]
    assert slot["remaining"] == 5 and slot["available"] is True  # the other half is left for everyone else


def test_a_stranger_cannot_lock_the_owner_out_of_her_phone(system):
    owner = person(600, "P")
    assert register(system, owner, "203.0.113.60").status_code == 201
    first = login(system, owner, "203.0.113.60", pin=PATIENT_PIN)
    device = first.json()["device"]
    for i in range(15):  # guesses from many addresses (a botnet): the account stops them after 10
        login(system, owner, f"192.0.2.{200 + i}", pin=f"{314159 + i}")
    assert login(system, owner, "192.0.2.250", pin="271828").status_code == 429
    # the owner, on the phone she signed in on before (its device mark), still gets in
    again = login(system, owner, "203.0.113.61", pin=PATIENT_PIN)
    assert again.status_code == 429  # a new device is held back like the strangers...
    mine = requests.post(
        api(system, "/login"),
        json={"nik": owner["nik"], "birth_date": owner["birth_date"], "pin": PATIENT_PIN},
        headers=at("203.0.113.61", **{"X-Rosma-Device": device}),
        timeout=10,
    )
    assert mine.status_code == 200, mine.text  # ...but not her own phone


def test_logout_ends_the_session_on_the_server(system):
    owner = person(700)
    assert register(system, owner, "203.0.113.70").status_code == 201
    browser = web_session(system, owner, "203.0.113.70")
    saved = requests.Session()  # a copy of the cookie, taken before logout
    saved.cookies.update(browser.cookies)
    saved.headers.update(at("203.0.113.70"))
    assert signed_in(saved, system)
    token = csrf_of(browser.get(system.central_url + "/keluar", timeout=10).text)
    browser.post(system.central_url + "/keluar", data={"csrf_token": token}, timeout=10)
    assert not signed_in(browser, system) and not signed_in(saved, system)

    api_token = login(system, owner, "203.0.113.70", pin=PATIENT_PIN).json()["token"]
    bearer = {"Authorization": f"Bearer {api_token}"}
    assert requests.post(api(system, "/logout"), headers=bearer, timeout=10).status_code == 200
    assert requests.get(api(system, "/me"), headers=bearer, timeout=10).status_code == 401


def test_api_tokens_are_revocable_and_a_pin_change_ends_every_other_session(system):
    owner = person(800, "P")
    assert register(system, owner, "203.0.113.80").status_code == 201
    a = {"Authorization": "Bearer " + login(system, owner, "203.0.113.80", pin=PATIENT_PIN).json()["token"]}
    b = {"Authorization": "Bearer " + login(system, owner, "203.0.113.80", pin=PATIENT_PIN).json()["token"]}
    browser = web_session(system, owner, "203.0.113.80")
    listed = requests.get(api(system, "/tokens"), headers=a, timeout=10).json()["tokens"]
    assert len(listed) == 2 and not any("token" in t or "hash" in json.dumps(t) for t in listed)
    other = next(t for t in listed if not t.get("current"))
    assert requests.delete(api(system, f"/tokens/{other['id']}"), headers=a, timeout=10).status_code == 200
    assert requests.get(api(system, "/me"), headers=b, timeout=10).status_code == 401
    changed = requests.post(api(system, "/pin"), json={"old_pin": PATIENT_PIN, "pin": "615243"}, headers=a, timeout=10)
    assert changed.status_code == 200, changed.text
    assert not signed_in(browser, system)  # the web session ended with the PIN change
    assert requests.get(api(system, "/me"), headers=a, timeout=10).status_code == 200  # the one that changed it stays
    assert login(system, owner, "203.0.113.80", pin=PATIENT_PIN).status_code == 401
    assert login(system, owner, "203.0.113.80", pin="615243").status_code == 200


def test_a_redirect_after_login_never_leaves_the_site_or_splits_the_header(system):
    owner = person(900)
    assert register(system, owner, "203.0.113.90").status_code == 201
    for bad in ("/akun\r\nSet-Cookie: x=1", "//evil.example/", "https://evil.example/", "/\\evil.example"):
        s = requests.Session()
        s.headers.update(at("203.0.113.90"))
        page = s.get(system.central_url + "/masuk", params={"next": bad}, timeout=10)
        assert page.status_code == 200
        form = {"csrf_token": csrf_of(page.text), "nik": owner["nik"], "birth_date": owner["birth_date"]}
        r = s.post(
            system.central_url + "/masuk",
            data={**form, "pin": PATIENT_PIN, "next": bad},
            timeout=10,
            allow_redirects=False,
        )
        assert r.status_code == 302 and urlparse(r.headers["Location"]).netloc in ("", "127.0.0.1"), r.headers
        assert "x=1" not in r.headers.get("Set-Cookie", "") and "evil" not in r.headers["Location"]
    for bad in ("/staff\r\nSet-Cookie: x=1", "//evil.example/", "https://evil.example/"):
        browser = requests.Session()
        page = browser.get(system.edge_url + "/staff/masuk", params={"next": bad}, timeout=10)
        form = {"csrf_token": csrf_of(page.text), "username": "admin.pkm", "password": STAFF_PASSWORD, "next": bad}
        edge = browser.post(system.edge_url + "/staff/masuk", data=form, timeout=10, allow_redirects=False)
        assert edge.status_code == 302 and edge.headers["Location"] == "/staff", edge.headers
        assert "x=1" not in edge.headers.get("Set-Cookie", "")


def test_nul_bytes_deep_json_and_hidden_characters_get_a_clear_error_not_a_500(system):
    base = person(950)
    for body in ({**base, "name": "Ani\x00Lestari"}, {**base, "address": "Jl. Raya\x00"}):
        r = register(system, body, "203.0.113.95")  # PostgreSQL refuses NUL in text: refused before it
        assert r.status_code == 400 and "NUL" in r.json()["error"], r.text
    for body, field in (
        ({**base, "name": "Ani \u202eirtseL"}, "name"),  # right-to-left override: hides what is written
        ({**base, "name": "Ani\u200bLestari"}, "name"),  # zero-width space
        ({**base, "address": "Jl.\x1b[31m Raya"}, "address"),  # a terminal escape
    ):
        r = register(system, body, "203.0.113.95")
        assert r.status_code == 400 and field in r.json()["fields"], r.text
    deep = {"nik": "1"}
    for _ in range(200):
        deep = {"a": deep}
    r = requests.post(api(system, "/patients"), json=deep, headers=at("203.0.113.96"), timeout=10)
    assert r.status_code == 400 and "error" in r.json()
    r = requests.post(api(system, "/login"), json={"nik": "3201\x000000", "birth_date": "x", "pin": "1"}, timeout=10)
    assert r.status_code in (400, 401)
    r = requests.post(system.edge_url + "/api/staff/login", json={"username": "adm\x00in", "password": "x"}, timeout=10)
    assert r.status_code in (400, 401)
    # nothing was kept: the NIK has no account
    assert login(system, base, "203.0.113.97", pin=PATIENT_PIN).status_code == 401
    for name in ("central", "sync", "edge"):
        assert "Traceback" not in system.log_text(name), system.log_text(name)[-3000:]


# ---- staff at the edge --------------------------------------------------------------------------------


def test_staff_actions_at_the_edge_need_a_signed_in_staff_member(system):
    issued = walkin(system)  # the node's own kiosk screen (127.0.0.1)
    assert issued.status_code == 201
    key, label = issued.json()["ticket"], issued.json()["label"]
    edge = system.edge_url
    anonymous = requests.Session()  # a browser on the LAN with a form token but nobody signed in
    anonymous.headers["X-CSRF-Token"] = csrf_of(anonymous.get(edge + "/staff/masuk", timeout=10).text)
    for who in (requests, anonymous):
        assert who.post(edge + "/api/counters/loket-1/next", timeout=10).status_code in (400, 401)
        for action in ("finish", "no_show", "cancel", "reprint", "transfer"):
            r = who.post(f"{edge}/api/tickets/{key}/{action}", json={}, timeout=10)
            assert r.status_code in (400, 401), r.text
    signed_out = anonymous.post(edge + "/api/counters/loket-1/next", timeout=10)
    assert signed_out.status_code == 401 and "masuk sebagai petugas" in signed_out.json()["error"]
    page = requests.post(edge + "/staff/loket-1/next", timeout=10, allow_redirects=False)
    assert page.status_code in (302, 400) and ticket_state(system, label) == "waiting"
    prio = requests.post(edge + "/staff/loket-1/prioritas", data={"payer": "UMUM"}, timeout=10, allow_redirects=False)
    assert prio.status_code in (302, 400)
    assert "/staff/masuk" in requests.get(edge + "/staff", timeout=10).url  # the staff page asks to sign in
    wrong = requests.post(edge + "/api/staff/login", json={"username": "admin.pkm", "password": "salah"}, timeout=10)
    assert wrong.status_code == 401 and ticket_state(system, label) == "waiting"


def test_a_cross_site_or_tokenless_post_is_refused_even_for_a_signed_in_staff_member(system):
    issued = walkin(system).json()
    staff = system.staff("petugas.loket")
    token = staff.headers.pop("X-CSRF-Token")
    no_token = staff.post(system.edge_url + "/api/counters/loket-2/next", timeout=10)
    assert no_token.status_code == 400 and "Sesi formulir tidak valid" in no_token.json()["error"]
    evil = staff.post(
        system.edge_url + "/api/counters/loket-2/next",
        headers={"X-CSRF-Token": token, "Origin": "http://evil.example"},
        timeout=10,
    )
    assert evil.status_code == 403 and "situs lain" in evil.json()["error"]
    form = staff.post(
        system.edge_url + "/staff/loket-2/next",
        data={"csrf_token": token},
        headers={"Origin": "http://evil.example"},
        timeout=10,
        allow_redirects=False,
    )
    assert form.status_code == 403
    assert ticket_state(system, issued["label"]) == "waiting"
    ok = staff.post(system.edge_url + "/api/counters/loket-2/next", headers={"X-CSRF-Token": token}, timeout=10)
    assert ok.status_code == 200


def test_each_role_acts_only_where_it_may_and_every_call_names_who_made_it(system):
    loket, poli = system.staff("petugas.loket"), system.staff("petugas.poli")
    issued = walkin(system).json()
    assert poli.post(system.edge_url + "/api/counters/loket-1/next", timeout=10).status_code == 403
    assert loket.post(system.edge_url + "/api/counters/poli-UMUM/next", timeout=10).status_code == 403

    def kepala_signs_in():
        r = requests.post(
            system.edge_url + "/api/staff/login",
            json={"username": "kepala.pkm", "password": STAFF_PASSWORD},
            timeout=10,
        )
        return r if r.status_code == 200 else None

    kepala = wait_for(kepala_signs_in, 60, "the kepala's account to reach the edge")
    kepala_session = requests.Session()
    kepala_session.cookies.update(kepala.cookies)
    kepala_session.headers["X-CSRF-Token"] = kepala.json()["csrf_token"]
    assert kepala_session.get(system.edge_url + "/staff/loket-1", timeout=10).status_code == 200  # may look
    looked = kepala_session.post(system.edge_url + "/api/counters/loket-1/next", timeout=10)
    assert looked.status_code == 403 and "hanya boleh melihat" in looked.json()["error"]
    while True:  # the loket calls until it reaches this walk-in
        called = loket.post(system.edge_url + "/api/counters/loket-1/next", timeout=10)
        assert called.status_code == 200, called.text
        if called.json()["label"] == issued["label"]:
            break

    from central import db as central_db
    from central.models import Visit

    def visit():
        central_db.connect(system.pg_url, migrate=False)
        try:
            v = Visit.get_or_none(Visit.ticket_key == issued["ticket"])
            return v if v is not None and v.called_by else None
        finally:
            central_db.database.close()

    assert wait_for(visit, 60, "the call to reach central").called_by == "petugas.loket"


def test_the_public_screens_and_event_stream_carry_no_ticket_keys(system):
    stream = system.events()
    try:
        issued = walkin(system).json()
        stream.expect("queue", lambda d: d["label"] == issued["label"], 20)
        frames = "\n".join(stream.raw)
    finally:
        stream.close()
    assert issued["ticket"] not in frames
    for path in ("/api/board", "/tv/poli", "/tv/pendaftaran"):
        r = requests.get(system.edge_url + path, timeout=10)
        assert r.status_code == 200 and issued["ticket"] not in r.text
    r = requests.get(system.edge_url + "/tv/poli", timeout=10)
    assert r.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


def test_a_device_on_the_lan_cannot_print_tickets_until_staff_pair_it(system):
    system.restart_edge(kiosk_on_this_device=False)  # the node's own address is no longer a kiosk
    try:
        refused = walkin(system)
        assert refused.status_code == 403 and "bukan anjungan" in refused.json()["error"]
        assert requests.get(system.edge_url + "/kiosk", timeout=10).status_code == 403
        admin = system.staff("admin.pkm")
        page = admin.get(system.edge_url + "/staff/anjungan", timeout=10)
        paired = admin.post(
            system.edge_url + "/staff/anjungan",
            data={"csrf_token": csrf_of(page.text), "name": "Anjungan depan"},
            timeout=10,
            allow_redirects=False,
        )
        assert paired.status_code == 302
        kiosk = requests.Session()
        kiosk.cookies.set("rosma_anjungan", paired.cookies["rosma_anjungan"])
        first = walkin(system, kiosk, priority=True)
        assert first.status_code == 201
        with sqlite3.connect(f"file:{system.base / 'edge' / 'edge.db'}?mode=ro", uri=True) as db:
            (priority,) = db.execute("SELECT priority FROM ticket WHERE key = ?", (first.json()["ticket"],)).fetchone()
        assert priority == 0  # no self-issued priority from a kiosk
        burst = [walkin(system, kiosk).status_code for _ in range(14)]
        assert burst.count(201) == 11 and burst[-1] == 429, burst  # 12 tickets a minute per kiosk
        # the browser that became a kiosk is no longer signed in as the admin
        assert "/staff/masuk" in admin.get(system.edge_url + "/staff", timeout=10).url
        admin = system.staff("admin.pkm")  # back at the admin's own desk
        rows = admin.get(system.edge_url + "/staff/anjungan", timeout=10).text
        kiosk_id = re.search(r'name="revoke" value="(\d+)"', rows).group(1)
        admin.post(
            system.edge_url + "/staff/anjungan",
            data={"csrf_token": csrf_of(rows), "revoke": kiosk_id},
            timeout=10,
        )
        assert walkin(system, kiosk).status_code == 403  # revoked
    finally:
        system.restart_edge(kiosk_on_this_device=True)


# ---- transport and storage ----------------------------------------------------------------------------


def test_mqtt_in_clear_text_or_to_an_unverified_broker_is_refused(system):
    connect = bytes.fromhex("101000044d5154540402003c0004") + b"test"  # MQTT 3.1.1 CONNECT, client id "test"
    with socket.create_connection(("127.0.0.1", system.broker.port), timeout=5) as raw:
        raw.sendall(connect)
        try:
            answer = raw.recv(16)
        except (ConnectionResetError, TimeoutError):
            answer = b""
    assert not answer.startswith(b"\x20"), "the broker answered a clear-text CONNECT"  # 0x20 = CONNACK
    # a client that trusts only the public CAs (a broker impersonated, or a typo in mqtt_ca) stops
    # before it sends its password: the broker's certificate does not chain to them
    public = ssl.create_default_context()
    with (
        socket.create_connection(("127.0.0.1", system.broker.port), timeout=5) as tcp,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        public.wrap_socket(tcp, server_hostname="127.0.0.1").close()
    ours = ssl.create_default_context(cafile=str(system.broker.ca_path))
    tcp = socket.create_connection(("127.0.0.1", system.broker.port), timeout=5)
    with ours.wrap_socket(tcp, server_hostname="127.0.0.1") as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_databases_keys_configs_and_secrets_are_owner_only(system):
    secret_like = re.compile(r"(\.db(-wal|-shm)?|\.toml|\.key|secret_key|passwd|mqtt_password)$")
    found = {}
    for path in system.base.rglob("*"):
        if path.is_file() and secret_like.search(path.name) and "escpos" not in path.parts:
            found[str(path.relative_to(system.base))] = stat.S_IMODE(path.stat().st_mode)
    for needed in ("edge/edge.db", "edge/secret_key", "edge.toml", "central.toml"):
        assert needed in found, sorted(found)
    assert any(p.startswith("var/central/keys/qr-") or p.startswith("keys/qr-") for p in found), sorted(found)
    assert any(p.endswith("server.key") for p in found), sorted(found)
    loose = {p: oct(m) for p, m in found.items() if m & 0o077}
    assert loose == {}, loose


def test_a_huge_body_is_refused_before_it_is_read(system):
    """Release 0.2 spooled up to 1 GiB of a request body to disk before answering 413."""
    for url, path in ((system.central_url, "/api/v1/login"), (system.edge_url, "/api/staff/login")):
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                "Content-Length: 209715200\r\n\r\n".encode()
            )
            answer = s.recv(200)  # nothing of the 200 MB was sent: the answer comes at once
        assert answer.startswith(b"HTTP/1.1 413"), answer


def test_one_host_cannot_hold_every_connection_to_central(tmp_path):
    """Without a proxy in front, one address may hold a few connections; the others still get in."""
    port = free_port()
    config = {
        "database_url": f"sqlite:///{tmp_path / 'c.db'}",
        "secret_key": secrets.token_urlsafe(32),
        "http_port": port,
        "stream_port": free_port(),
        "http_connections_per_client": 5,
        "keys_dir": str(tmp_path / "keys"),
        "seed": True,
    }
    (tmp_path / "central.toml").write_text("".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in config.items()))
    env = {**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(tmp_path / "escpos")}
    with open(tmp_path / "central.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rosma.cli", "central", "run", "--config", str(tmp_path / "central.toml")],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    held: list[socket.socket] = []
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for(lambda: _answers(url), 60, "central to listen")
        for _ in range(5):  # idle connections that never finish their request
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            held.append(s)
        extra = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            assert extra.recv(1) == b""  # closed at once: this address holds its share
        finally:
            extra.close()
        held.pop().close()
        assert wait_for(lambda: _answers(url), 10, "a place to free up")
        assert "refused a connection: 5 already open from one address" in (tmp_path / "central.log").read_text()
    finally:
        for s in held:
            s.close()
        proc.terminate()
        proc.wait(20)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_the_edge_config_was_written_for_tls(system):
    text = (system.base / "edge.toml").read_text()
    assert f"mqtt_ca = {toml_value(str(system.broker.ca_path))}" in text
    assert Path(system.broker.ca_path).read_text().startswith("-----BEGIN CERTIFICATE-----")
