"""Closed days: the 2026 national holidays from migration 5, bookings refused and not offered on
a closed day (web and API), poli that are closed or have their own hours, and the holiday admin
page (/petugas/libur) per role, with its field errors, audit and change feed. On SQLite and
PostgreSQL; the app's clock starts on Monday 21 December 2026, 07.00 WIB."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import secrets
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
from playwright.sync_api import expect

from central import db as central_db
from central import staff
from central.app import build
from central.core import schedule
from central.core.calendar import WIB
from central.holidays_data import HOLIDAYS_2026
from central.models import AuditLog, Change, Holiday, Node, Poli, Puskesmas, Reservation
from infra import migrations
from tests.central.live import LAPTOP, PHONE, SHOTS, open_tab

PASSWORD = "kata-sandi-rahasia"
MONDAY = "2026-12-21T07:00:00+07:00"
XMAS_EVE, XMAS = dt.date(2026, 12, 24), dt.date(2026, 12, 25)
TUESDAY, WEDNESDAY = dt.date(2026, 12, 22), dt.date(2026, 12, 23)
CLOSED_XMAS = "Puskesmas tutup pada Jumat, 25 Desember 2026: Kelahiran Yesus Kristus."


@pytest.fixture
def app(db_config):
    """The seeded app whose clock starts on Monday 21 December 2026, with the 2026 holidays
    (PostgreSQL keeps its migrations between tests but not their rows: they are put back)."""
    application = build(dataclasses.replace(db_config, clock_start=MONDAY))
    application.config["TESTING"] = True
    if not Holiday.select().where(Holiday.puskesmas.is_null()).exists():
        for date, name, kind in HOLIDAYS_2026:
            Holiday.create(date=dt.date.fromisoformat(date), name=name, kind=kind)
    for code in ("cibinong", "ciawi"):
        Node.create(node_id=f"pkm-{code}", puskesmas=Puskesmas.get(code=code))
    yield application
    db = application.extensions["rosma.db"]
    if not db.is_closed():
        db.close()


def token(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def sign_in(client, username: str):
    page = client.get("/petugas/masuk")
    r = client.post("/petugas/masuk", data={"csrf_token": token(page), "username": username, "password": PASSWORD})
    assert r.status_code == 302, r.text


def as_role(client, role: str, puskesmas: str | None = "cibinong"):
    username = f"{role.replace('_', '.')}.{puskesmas or 'kab'}"
    polis = "UMUM" if role == "petugas_poli" else ""
    staff.add(username, f"Petugas {role}", role, puskesmas if role != "admin_kabupaten" else None, polis, PASSWORD)
    sign_in(client, username)
    return username


def post_form(client, path: str, data: dict, page: str = "/petugas/libur/"):
    return client.post(path, data={"csrf_token": token(client.get(page)), **data})


def feed(code: str) -> list[dict]:
    node = Node.get(node_id=f"pkm-{code}")
    rows = Change.select().where((Change.node == node) & (Change.type == "holiday.upsert")).order_by(Change.seq)
    return [json.loads(c.data) for c in rows]


def audits(action: str | None = None) -> list[AuditLog]:
    rows = AuditLog.select().where(AuditLog.entity == "holiday").order_by(AuditLog.id)
    return list(rows.where(AuditLog.action == action) if action else rows)


def option_values(html: str, select_id: str) -> list[str]:
    block = re.search(rf'<select id="{select_id}".*?</select>', html, re.S).group(0)
    return re.findall(r'<option value="([^"]*)"', block)


def book_on_web(client, csrf: str, day: dt.date, puskesmas="cibinong", poli="UMUM", slot="08:00-09:00"):
    form = {"csrf_token": csrf, "puskesmas": puskesmas, "poli": poli, "date": day.isoformat(), "slot": slot}
    return client.post("/reservasi/baru", data={**form, "payer": "UMUM", "bpjs_no": ""})


# ---- migration 5 ------------------------------------------------------------------------------


def _fresh_pg(request) -> str:
    """A new, empty PostgreSQL database for one test (dropped after it)."""
    admin = request.getfixturevalue("pg_url")
    name = "rosma_m5_" + secrets.token_hex(4)
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    conn.cursor().execute(f'CREATE DATABASE "{name}"')
    conn.close()

    def drop():
        c = psycopg2.connect(admin)
        c.autocommit = True
        c.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.close()

    request.addfinalizer(drop)
    return urlunsplit(urlsplit(admin)._replace(path="/" + name))


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_an_upgraded_database_gets_the_2026_holidays_keeps_its_own_and_its_edges_are_told(kind, tmp_path, request):
    url = f"sqlite:///{tmp_path}/old.db" if kind == "sqlite" else _fresh_pg(request)
    old = central_db.open_database(url)
    old.connect()
    migrations.migrate(old, [m for m in central_db.MIGRATIONS if m.number <= 4])
    p = old.param
    old.execute_sql(
        f"INSERT INTO puskesmas (code, name, address, kecamatan, phone, hours, info, map_url, lokets, schedule, "
        f"targets) VALUES ({p}, {p}, {p}, {p}, '', '', '', '', 2, '', '')",
        ("cibinong", "Puskesmas Cibinong", "Jl. Mayor Oking", "Cibinong"),
    )
    pkm = old.execute_sql("SELECT id FROM puskesmas").fetchone()[0]
    old.execute_sql(
        f"INSERT INTO node (node_id, puskesmas_id, created_at, retired, incarnation, online, snapshot, status) "
        f"VALUES ('pkm-cibinong', {p}, '2026-01-02 00:00:00', {p}, '', {p}, '', '')",
        (pkm, False, False),
    )
    # an admin already named Christmas their own way before the upgrade: it stays as it is
    old.execute_sql(
        f"INSERT INTO holiday (date, name, kind, puskesmas_id, created_at) VALUES ({p}, {p}, 'libur', NULL, {p})",
        ("2026-12-25", "Hari Natal", "2026-01-02 00:00:00"),
    )
    old.close()

    db = central_db.connect(url)
    try:
        rows = list(Holiday.select().order_by(Holiday.date))
        assert len(rows) == 25 and all(h.puskesmas_id is None for h in rows)
        assert sum(h.kind == "libur" for h in rows) == 17 and sum(h.kind == "cuti" for h in rows) == 8
        named = {h.date.isoformat(): h.name for h in rows}
        assert named["2026-03-21"] == "Idulfitri 1447 Hijriah" and named["2026-03-20"].startswith("Cuti bersama")
        assert named["2026-12-25"] == "Hari Natal"  # kept, not doubled
        today = dt.datetime.now(WIB).date()
        told = [json.loads(c.data) for c in Change.select().order_by(Change.seq)]
        expected = [d for d, _, _ in HOLIDAYS_2026 if dt.date.fromisoformat(d) >= today and d != "2026-12-25"]
        assert [c["date"] for c in told] == expected
        assert all(c["closed"] is True for c in told)
        assert [c.seq for c in Change.select().order_by(Change.seq)] == list(range(1, len(expected) + 1))
        # the back office edits them; connecting again (a restart) changes nothing back
        Holiday.update(name="Tahun Baru Masehi").where(Holiday.date == dt.date(2026, 1, 1)).execute()
        Holiday.delete().where(Holiday.date == dt.date(2026, 5, 15)).execute()
    finally:
        db.close()
    db = central_db.connect(url)
    try:
        assert Holiday.select().count() == 24
        assert Holiday.get(Holiday.date == dt.date(2026, 1, 1)).name == "Tahun Baru Masehi"
    finally:
        db.close()


def test_a_fresh_database_holds_the_2026_holidays_of_the_decree(tmp_path):
    db = central_db.connect(f"sqlite:///{tmp_path}/fresh.db")
    try:
        rows = [(h.date.isoformat(), h.name, h.kind) for h in Holiday.select().order_by(Holiday.date)]
    finally:
        db.close()
    assert rows == list(HOLIDAYS_2026)
    # as the decree lists them: 17 hari libur nasional, 8 cuti bersama, on these weekdays
    weekdays = {d: dt.date.fromisoformat(d).isoweekday() for d, _, _ in HOLIDAYS_2026}
    assert weekdays["2026-03-20"] == 5 and weekdays["2026-12-24"] == 4 and weekdays["2026-05-31"] == 7


# ---- bookings on a closed day -----------------------------------------------------------------


def test_a_booking_on_a_holiday_is_refused_with_its_name_on_the_web_and_the_api(
    client, ani, ani_data, web_login, auth_header
):
    csrf = web_login(client, ani_data)
    refused = book_on_web(client, csrf, XMAS)
    assert refused.status_code == 400
    assert CLOSED_XMAS in refused.text
    api = auth_header(client, ani_data)
    body = {"puskesmas": "ciawi", "poli": "UMUM", "date": XMAS_EVE.isoformat(), "slot": "08:00-09:00", "payer": "UMUM"}
    answer = client.post("/api/v1/reservations", json=body, headers=api)
    assert answer.status_code == 400
    assert answer.json["fields"]["date"] == (
        "Puskesmas tutup pada Kamis, 24 Desember 2026: Cuti bersama Kelahiran Yesus Kristus."
    )
    assert Reservation.select().count() == 0
    ok = book_on_web(client, csrf, WEDNESDAY)
    assert ok.status_code == 302 and Reservation.select().count() == 1


def test_closed_days_are_not_offered_and_have_no_slots(client, ani, ani_data, web_login):
    web_login(client, ani_data)
    form = client.get("/reservasi/baru?puskesmas=cibinong").text
    dates = option_values(form, "date")
    assert WEDNESDAY.isoformat() in dates and "2026-12-26" in dates
    assert XMAS_EVE.isoformat() not in dates and XMAS.isoformat() not in dates
    assert "2026-12-27" not in dates  # Sunday
    slots = client.get(f"/api/v1/puskesmas/cibinong/slots?poli=UMUM&date={XMAS.isoformat()}")
    assert slots.status_code == 200 and slots.json["slots"] == [] and slots.json["closed"] == CLOSED_XMAS
    open_day = client.get(f"/api/v1/puskesmas/cibinong/slots?poli=UMUM&date={WEDNESDAY.isoformat()}").json
    assert [s["slot"] for s in open_day["slots"]] == list(schedule.slots(schedule.DEFAULT_POLI_HOURS, 3))


def test_a_puskesmas_closed_day_closes_only_that_puskesmas(client, ani, ani_data, web_login):
    Holiday.create(date=TUESDAY, name="Pelatihan petugas", kind="lokal", puskesmas=Puskesmas.get(code="cibinong"))
    csrf = web_login(client, ani_data)
    assert TUESDAY.isoformat() not in option_values(client.get("/reservasi/baru?puskesmas=cibinong").text, "date")
    assert TUESDAY.isoformat() in option_values(client.get("/reservasi/baru?puskesmas=ciawi").text, "date")
    refused = book_on_web(client, csrf, TUESDAY, puskesmas="cibinong")
    assert refused.status_code == 400
    assert "Puskesmas tutup pada Selasa, 22 Desember 2026: Pelatihan petugas." in refused.text
    assert book_on_web(client, csrf, TUESDAY, puskesmas="ciawi").status_code == 302


def test_a_closed_poli_is_not_offered_and_not_bookable(client, ani, ani_data, web_login, auth_header):
    place = Puskesmas.get(code="cibinong")
    gigi = Poli.get((Poli.puskesmas == place) & (Poli.code != "UMUM"))
    Poli.update(active=False).where(Poli.id == gigi.id).execute()
    csrf = web_login(client, ani_data)
    form = client.get("/reservasi/baru?puskesmas=cibinong").text
    assert gigi.code not in option_values(form, "poli") and "UMUM" in option_values(form, "poli")
    assert gigi.name not in client.get("/puskesmas/cibinong").text
    listed = client.get("/api/v1/puskesmas").json["puskesmas"]
    assert gigi.code not in [x["code"] for p in listed if p["code"] == "cibinong" for x in p["polis"]]
    refused = book_on_web(client, csrf, WEDNESDAY, poli=gigi.code)
    assert refused.status_code == 400 and "Pilih poli yang tersedia di puskesmas ini." in refused.text
    assert client.get(f"/api/v1/puskesmas/cibinong/slots?poli={gigi.code}&date=2026-12-23").status_code == 404
    assert Reservation.select().count() == 0


def test_a_poli_with_its_own_hours_offers_and_takes_only_those(client, ani, ani_data, web_login):
    place = Puskesmas.get(code="cibinong")
    hours = {"2": [["13:00", "14:30"]]}  # Tuesday afternoon only
    Poli.update(schedule=schedule.dump(hours)).where((Poli.puskesmas == place) & (Poli.code == "UMUM")).execute()
    csrf = web_login(client, ani_data)
    form = client.get("/reservasi/baru?puskesmas=cibinong").text
    assert "13:00-14:00" in option_values(form, "slot") and "14:00-14:30" in option_values(form, "slot")
    tuesday = client.get("/api/v1/puskesmas/cibinong/slots?poli=UMUM&date=2026-12-22").json["slots"]
    assert [s["slot"] for s in tuesday] == ["13:00-14:00", "14:00-14:30"]
    assert client.get("/api/v1/puskesmas/cibinong/slots?poli=UMUM&date=2026-12-23").json["slots"] == []
    wrong_day = book_on_web(client, csrf, WEDNESDAY, slot="13:00-14:00")
    assert wrong_day.status_code == 400
    assert "Poli ini tidak melayani reservasi pada hari Rabu. Pilih tanggal lain." in wrong_day.text
    wrong_hour = book_on_web(client, csrf, TUESDAY, slot="08:00-09:00")
    assert wrong_hour.status_code == 400 and "Jam kunjungan tidak valid." in wrong_hour.text
    assert book_on_web(client, csrf, TUESDAY, slot="14:00-14:30").status_code == 302
    assert Reservation.get().slot == "14:00-14:30"


# ---- the holiday admin page -------------------------------------------------------------------


@pytest.mark.parametrize("role", ["kepala_puskesmas", "petugas_loket", "petugas_poli"])
def test_roles_outside_the_admins_are_refused(client, role):
    as_role(client, role)
    page = client.get("/petugas/libur/")
    assert page.status_code == 403 and "Peran Anda tidak boleh membuka halaman ini." in page.text
    assert "Hari libur" not in client.get("/petugas/").text  # not in their menu either
    h = Holiday.get(Holiday.date == XMAS)
    csrf = token(client.get("/petugas/"))
    assert (
        client.post("/petugas/libur/", data={"csrf_token": csrf, "date": "2026-12-30", "name": "X"}).status_code == 403
    )
    assert client.post(f"/petugas/libur/{h.id}/hapus", data={"csrf_token": csrf}).status_code == 403
    assert Holiday.get_or_none(Holiday.date == dt.date(2026, 12, 30)) is None
    assert Holiday.get_by_id(h.id).name == "Kelahiran Yesus Kristus"


def test_signed_out_visitors_are_sent_to_sign_in(client):
    r = client.get("/petugas/libur/?tahun=2026")
    assert r.status_code == 302 and r.headers["Location"].startswith("/petugas/masuk")


def test_admin_kabupaten_lists_the_year_and_adds_a_national_closed_day_that_reaches_every_edge(client):
    who = as_role(client, "admin_kabupaten", None)
    page = client.get("/petugas/libur/?tahun=2026")
    assert page.status_code == 200
    for text in ("Hari libur 2026", "Jumat, 25 Desember 2026", "Kelahiran Yesus Kristus", "Cuti bersama"):
        assert text in page.text
    assert page.text.count('<td class="holidays-date">') == 25
    assert 'href="/petugas/libur/"' in page.text  # the staff menu has it
    done = post_form(client, "/petugas/libur/", {"date": "2026-12-31", "name": "Malam Tahun Baru", "kind": "cuti"})
    assert done.status_code == 302
    listed = client.get(done.headers["Location"]).text
    assert "Hari libur Kamis, 31 Desember 2026 (Malam Tahun Baru) untuk semua puskesmas disimpan" in listed
    h = Holiday.get(Holiday.date == dt.date(2026, 12, 31))
    assert (h.name, h.kind, h.puskesmas_id) == ("Malam Tahun Baru", "cuti", None)
    for code in ("cibinong", "ciawi"):
        assert feed(code) == [{"date": "2026-12-31", "name": "Malam Tahun Baru", "closed": True}]
    log = audits("create")[0]
    assert log.actor == who and log.entity_key == "2026-12-31" and log.before == ""
    assert json.loads(log.after) == {"date": "2026-12-31", "name": "Malam Tahun Baru", "kind": "cuti", "puskesmas": ""}


def test_admin_kabupaten_renames_and_deletes_and_each_change_is_audited_and_sent(client, ani, ani_data, web_login):
    as_role(client, "admin_kabupaten", None)
    h = Holiday.get(Holiday.date == XMAS_EVE)
    path = f"/petugas/libur/{h.id}"
    assert post_form(client, path, {"name": "Cuti bersama Natal"}, page=path).status_code == 302
    assert Holiday.get_by_id(h.id).name == "Cuti bersama Natal"
    update = audits("update")[0]
    assert json.loads(update.before)["name"] == "Cuti bersama Kelahiran Yesus Kristus"
    assert json.loads(update.after)["name"] == "Cuti bersama Natal"
    assert feed("ciawi") == [{"date": "2026-12-24", "name": "Cuti bersama Natal", "closed": True}]
    gone = post_form(client, f"{path}/hapus", {}, page=path)
    assert gone.status_code == 302 and Holiday.get_or_none(Holiday.id == h.id) is None
    assert "dihapus: puskesmas buka" in client.get(gone.headers["Location"]).text
    assert feed("cibinong")[-1] == {"date": "2026-12-24", "name": "Cuti bersama Natal", "closed": False}
    delete = audits("delete")[0]
    assert json.loads(delete.before)["date"] == "2026-12-24" and delete.after == ""
    # the day is open again for patients
    web_login(client, ani_data)
    assert XMAS_EVE.isoformat() in option_values(client.get("/reservasi/baru?puskesmas=ciawi").text, "date")


def test_admin_puskesmas_adds_only_its_own_closed_day_and_cannot_touch_national_or_others(client):
    as_role(client, "admin_puskesmas", "cibinong")
    page = client.get("/petugas/libur/?tahun=2026").text
    assert "Kelahiran Yesus Kristus" in page and 'id="puskesmas"' not in page  # no scope to choose
    national = Holiday.get(Holiday.date == XMAS)
    assert f'href="/petugas/libur/{national.id}"' not in page
    # whatever the form says, it is a closed day of its own puskesmas
    done = post_form(
        client, "/petugas/libur/", {"date": "2026-12-22", "name": "Fogging", "kind": "libur", "puskesmas": "semua"}
    )
    assert done.status_code == 302
    own = Holiday.get(Holiday.date == TUESDAY)
    assert (own.kind, own.puskesmas.code) == ("lokal", "cibinong")
    assert feed("cibinong") == [{"date": "2026-12-22", "name": "Fogging", "closed": True}] and feed("ciawi") == []
    assert audits("create")[0].entity_key == "cibinong/2026-12-22"
    assert "Fogging" in client.get("/petugas/libur/?tahun=2026").text
    # national days and another puskesmas's days are not its to change
    assert client.get(f"/petugas/libur/{national.id}").status_code == 403
    assert post_form(client, f"/petugas/libur/{national.id}/hapus", {}).status_code == 403
    other = Holiday.create(date=WEDNESDAY, name="Rapat", kind="lokal", puskesmas=Puskesmas.get(code="ciawi"))
    assert client.get(f"/petugas/libur/{other.id}").status_code == 403
    assert post_form(client, f"/petugas/libur/{other.id}", {"name": "Diubah"}).status_code == 403
    assert "Rapat" not in client.get("/petugas/libur/?tahun=2026").text
    assert (
        Holiday.get_by_id(national.id).name == "Kelahiran Yesus Kristus" and Holiday.get_by_id(other.id).name == "Rapat"
    )
    assert client.get("/petugas/libur/999999").status_code == 404


@pytest.mark.parametrize(
    ("form", "field", "text"),
    [
        pytest.param({"date": "", "name": "Libur"}, "date", "Tanggal wajib diisi.", id="no-date"),
        pytest.param({"date": "2026-02-30", "name": "Libur"}, "date", "Tanggal tidak valid.", id="impossible-date"),
        pytest.param({"date": "2026-12-18", "name": "Libur"}, "date", "Tanggal sudah lewat.", id="past"),
        pytest.param(
            {"date": "2026-12-25", "name": "Natal lagi"},
            "date",
            "Sudah ada hari libur pada Jumat, 25 Desember 2026 untuk semua puskesmas: Kelahiran Yesus Kristus.",
            id="duplicate",
        ),
        pytest.param({"date": "2026-12-30", "name": "  "}, "name", "Nama hari libur wajib diisi", id="no-name"),
        pytest.param({"date": "2026-12-30", "name": "2026"}, "name", "harus berisi huruf", id="no-letter"),
        pytest.param({"date": "2026-12-30", "name": "x" * 121}, "name", "paling banyak 120 huruf", id="long-name"),
        pytest.param({"date": "2026-12-30", "name": "Libur\u202e"}, "name", "karakter yang tidak boleh", id="bidi"),
        pytest.param({"date": "2026-12-30", "name": "Libur", "kind": "lokal"}, "kind", "Pilih jenis", id="kind"),
        pytest.param(
            {"date": "2026-12-30", "name": "Libur", "puskesmas": "atlantis"}, "puskesmas", "Pilih puskesmas", id="place"
        ),
    ],
)
def test_bad_input_gets_a_field_error_and_changes_nothing(client, form, field, text):
    as_role(client, "admin_kabupaten", None)
    before = Holiday.select().count()
    r = post_form(client, "/petugas/libur/", {"kind": "libur", **form})
    assert r.status_code == 400
    assert "Ada isian yang perlu diperbaiki" in r.text
    error = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', r.text, re.S)
    assert error and text in error.group(1).replace("&#39;", "'")
    assert Holiday.select().count() == before and audits() == []
    assert feed("cibinong") == [] and feed("ciawi") == []


def test_a_local_day_on_a_national_holiday_and_a_second_local_day_are_duplicates(client):
    as_role(client, "admin_puskesmas", "cibinong")
    twice = post_form(client, "/petugas/libur/", {"date": "2026-12-24", "name": "Tutup"})
    assert twice.status_code == 400 and "untuk semua puskesmas: Cuti bersama Kelahiran Yesus Kristus" in twice.text
    assert post_form(client, "/petugas/libur/", {"date": "2026-12-28", "name": "Tutup"}).status_code == 302
    again = post_form(client, "/petugas/libur/", {"date": "2026-12-28", "name": "Tutup lagi"})
    assert again.status_code == 400 and "untuk Puskesmas Cibinong: Tutup." in again.text
    assert Holiday.select().where(Holiday.date == dt.date(2026, 12, 28)).count() == 1


def test_names_are_shown_escaped_and_a_day_with_bookings_says_so(client, ani, ani_data, web_login):
    csrf = web_login(client, ani_data)
    assert book_on_web(client, csrf, WEDNESDAY).status_code == 302
    as_role(client, "admin_puskesmas", "cibinong")
    done = post_form(client, "/petugas/libur/", {"date": "2026-12-23", "name": "<script>alert(1)</script> Rapat"})
    listed = client.get(done.headers["Location"]).text
    assert "<script>alert(1)</script>" not in listed and "&lt;script&gt;alert(1)&lt;/script&gt; Rapat" in listed
    assert "Ada 1 reservasi aktif pada tanggal itu" in listed
    renamed = post_form(client, f"/petugas/libur/{Holiday.get(Holiday.date == WEDNESDAY).id}", {"name": ""})
    assert renamed.status_code == 400 and "Nama hari libur wajib diisi" in renamed.text


# ---- in a real Chromium, on a laptop and a phone -----------------------------------------------

SCREENS = {"laptop": LAPTOP, "phone": PHONE}


@pytest.fixture
def site(central_config, serve):
    """The app under waitress (SQLite, clock on Monday 21 December 2026), with an admin of each kind."""
    application = build(dataclasses.replace(central_config, clock_start=MONDAY))
    Node.create(node_id="pkm-cibinong", puskesmas=Puskesmas.get(code="cibinong"))
    staff.add("admin.kab", "Dinas Kesehatan", "admin_kabupaten", None, "", PASSWORD)
    staff.add("admin.cibinong", "Admin Cibinong", "admin_puskesmas", "cibinong", "", PASSWORD)
    staff.add("kepala.cibinong", "Kepala Cibinong", "kepala_puskesmas", "cibinong", "", PASSWORD)
    return serve(application)


def _tab(chromium, site, screen: str):
    tab = open_tab(chromium, site, SCREENS[screen], console=lambda text: "status of 4" not in text)
    return tab.context, tab


def _sign_in(tab, username: str) -> None:
    tab.goto("/petugas/masuk")
    tab.get_by_label("Nama pengguna").fill(username)
    tab.get_by_label("Kata sandi").fill(PASSWORD)
    tab.get_by_role("button", name="Masuk").click()
    tab.wait_for_url("**/petugas/**")


def _no_sideways_scroll(tab) -> None:
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("screen", ["laptop", "phone"])
def test_admins_keep_closed_days_in_chromium(site, chromium, screen):
    context, tab = _tab(chromium, site, screen)
    _sign_in(tab, "admin.kab")
    tab.get_by_role("link", name="Hari libur").first.click()
    expect(tab.get_by_role("heading", name="Hari libur 2026")).to_be_visible()
    expect(tab.get_by_role("cell", name="Jumat, 25 Desember 2026")).to_be_visible()
    expect(tab.get_by_role("cell", name="Kelahiran Yesus Kristus", exact=True)).to_be_visible()
    _no_sideways_scroll(tab)
    tab.screenshot(path=str(SHOTS / f"holidays-list-{screen}.png"), full_page=True)

    # an empty form says what is missing, and nothing is added
    tab.locator("summary", has_text="Tambah hari libur").click()  # opens the form
    tab.get_by_role("button", name="Tambah hari libur", exact=True).click()
    expect(tab.locator("#date-error")).to_have_text("Tanggal wajib diisi.")
    expect(tab.locator("#name-error")).to_contain_text("Nama hari libur wajib diisi")
    tab.screenshot(path=str(SHOTS / f"holidays-errors-{screen}.png"), full_page=True)

    tab.get_by_label("Tanggal", exact=True).fill("31-12-2026")  # as people write dates
    tab.get_by_label("Nama hari libur").fill("Malam Tahun Baru")
    tab.get_by_label("Jenis (untuk semua puskesmas)").select_option("cuti")
    tab.get_by_role("button", name="Tambah hari libur", exact=True).click()
    expect(tab.get_by_role("status")).to_contain_text("Kamis, 31 Desember 2026 (Malam Tahun Baru)")
    expect(tab.get_by_role("cell", name="Malam Tahun Baru", exact=True)).to_be_visible()
    tab.screenshot(path=str(SHOTS / f"holidays-added-{screen}.png"), full_page=True)

    tab.get_by_role("link", name="Ubah Malam Tahun Baru").click()
    expect(tab.get_by_role("heading", name="Ubah hari libur")).to_be_visible()
    tab.screenshot(path=str(SHOTS / f"holidays-edit-{screen}.png"), full_page=True)
    tab.get_by_label("Nama hari libur").fill("Cuti bersama akhir tahun")
    tab.get_by_role("button", name="Simpan").click()
    expect(tab.get_by_role("cell", name="Cuti bersama akhir tahun", exact=True)).to_be_visible()
    tab.get_by_role("link", name="Ubah Cuti bersama akhir tahun").click()
    tab.get_by_role("button", name="Hapus hari libur ini").click()
    expect(tab.get_by_role("status")).to_contain_text("dihapus")
    expect(tab.get_by_role("cell", name="Cuti bersama akhir tahun", exact=True)).to_have_count(0)
    assert tab.problems == []
    context.close()

    # an admin puskesmas: its own closed day only; the national ones cannot be changed
    context, tab = _tab(chromium, site, screen)
    _sign_in(tab, "admin.cibinong")
    tab.goto("/petugas/libur/?tahun=2026")
    expect(tab.get_by_text("Berlaku untuk: Puskesmas Cibinong (libur puskesmas).")).to_be_hidden()  # form closed
    expect(tab.get_by_role("link", name="Ubah Kelahiran Yesus Kristus")).to_have_count(0)
    tab.locator("summary", has_text="Tambah hari libur").click()
    expect(tab.get_by_text("Berlaku untuk: Puskesmas Cibinong (libur puskesmas).")).to_be_visible()
    tab.get_by_label("Tanggal", exact=True).fill("22-12-2026")
    tab.get_by_label("Nama hari libur").fill("Fogging gedung")
    tab.get_by_role("button", name="Tambah hari libur", exact=True).click()
    expect(tab.get_by_role("row", name=re.compile("Fogging gedung"))).to_contain_text("Puskesmas Cibinong")
    _no_sideways_scroll(tab)
    tab.screenshot(path=str(SHOTS / f"holidays-puskesmas-{screen}.png"), full_page=True)
    assert tab.problems == []
    context.close()

    # a kepala puskesmas has no such menu item and is refused the page
    context, tab = _tab(chromium, site, screen)
    _sign_in(tab, "kepala.cibinong")
    expect(tab.get_by_role("link", name="Hari libur")).to_have_count(0)
    refused = tab.goto("/petugas/libur/")
    assert refused.status == 403
    expect(tab.get_by_text("Peran Anda tidak boleh membuka halaman ini.")).to_be_visible()
    context.close()
