"""The back office's admin pages as admins use them: a puskesmas's details, hours and loket;
poli with their prefix, quota and hours; staff accounts; the audit log. Each change is checked
field by field, audited, and reaches the puskesmas's edge through the change feed. On SQLite
and PostgreSQL."""

from __future__ import annotations

import json
import re

import pytest

from central import staff
from central.models import AuditLog, Change, Node, Poli, Puskesmas, Reservation, Staff, WebSession

PASSWORD = "kata-sandi-rahasia"


def token(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def sign_in(client, username: str, password: str = PASSWORD):
    page = client.get("/petugas/masuk")
    r = client.post("/petugas/masuk", data={"csrf_token": token(page), "username": username, "password": password})
    assert r.status_code == 302, r.text
    return r


def post(client, path: str, data: dict):
    page = client.get(path)
    return client.post(path, data={"csrf_token": token(page), **data})


def hours_form(**days) -> dict:
    """Form values for opening hours: weekday number -> (open, close[, break start, break end])."""
    form = {}
    for day in range(1, 8):
        spans = days.get(f"d{day}", ())
        form[f"h{day}_open"] = spans[0] if spans else ""
        form[f"h{day}_close"] = spans[1] if spans else ""
        form[f"h{day}_break_start"] = spans[2] if len(spans) > 2 else ""
        form[f"h{day}_break_end"] = spans[3] if len(spans) > 2 else ""
    return form


WEEK = {
    "d1": ("07:30", "14:00", "12:00", "12:30"),
    "d2": ("07:30", "14:00"),
    "d3": ("07:30", "14:00"),
    "d4": ("07:30", "14:00"),
    "d5": ("07:30", "11:00"),
    "d6": ("07:30", "12:30"),
}


def poli_form(code="", name="Poli Gizi", prefix="Z", quota="8", active="1", order="5", **hours) -> dict:
    form = {"code": code, "name": name, "prefix": prefix, "slot_quota": quota, "order": order}
    if active:
        form["active"] = active
    spans = {1: ("08:00", "12:00"), 2: ("08:00", "12:00"), 3: ("08:00", "12:00"), 4: ("08:00", "12:00")}
    spans.update({5: ("08:00", "11:00"), 6: ("08:00", "12:00")})
    spans.update({int(k[1:]): v for k, v in hours.items()})
    for day in range(1, 8):
        opened, closed = spans.get(day, ("", ""))
        form[f"s{day}_open"], form[f"s{day}_close"] = opened, closed
    return form


@pytest.fixture
def cibinong(app):
    p = Puskesmas.get(code="cibinong")
    Node.create(node_id="pkm-cibinong", puskesmas=p)
    return p


@pytest.fixture
def admin_pkm(app, cibinong):
    return staff.add("admin.cibinong", "Dewi Admin", "admin_puskesmas", "cibinong", "", PASSWORD)


def changes(type_: str) -> list[dict]:
    return [json.loads(c.data) for c in Change.select().where(Change.type == type_).order_by(Change.seq)]


def test_an_admin_changes_her_puskesmas_and_its_edge_and_the_audit_log_learn_it(client, admin_pkm, cibinong):
    sign_in(client, "admin.cibinong")
    form = {
        "name": "Puskesmas Cibinong",
        "address": "Jl. Mayor Oking No. 1, Cibinong",
        "kecamatan": "Cibinong",
        "phone": "(0251) 8653012",
        "map_url": "https://maps.app.goo.gl/abc123",
        "lokets": "3",
        "info": "Layanan umum, gigi, KIA.",
        **hours_form(**WEEK),
    }
    r = post(client, "/petugas/admin/cibinong", form)
    assert r.status_code == 302, r.text
    p = Puskesmas.get_by_id(cibinong.id)
    assert (p.lokets, p.phone, p.address) == (3, "(0251) 8653012", "Jl. Mayor Oking No. 1, Cibinong")
    assert "Jumat 07.30" in p.hours
    site = changes("site.upsert")[-1]
    assert site["lokets"] == 3 and site["address"] == "Jl. Mayor Oking No. 1, Cibinong"
    row = AuditLog.get(AuditLog.entity == "puskesmas")
    assert row.actor == "admin.cibinong" and row.action == "update"
    assert json.loads(row.before)["lokets"] == 2 and json.loads(row.after)["lokets"] == 3
    page = client.get("/petugas/admin/audit")
    assert "admin.cibinong" in page.text and "jumlah loket" in page.text
    info = client.get("/puskesmas/cibinong").text  # what patients read
    assert (
        "Jl. Mayor Oking No. 1" in info and 'href="https://maps.app.goo.gl/abc123"' in info and "(0251) 8653012" in info
    )
    # saving the same values again changes nothing and records nothing
    assert post(client, "/petugas/admin/cibinong", form).status_code == 302
    assert AuditLog.select().where(AuditLog.entity == "puskesmas").count() == 1


def test_bad_puskesmas_values_get_field_errors_and_change_nothing(client, admin_pkm, cibinong):
    sign_in(client, "admin.cibinong")
    before = Change.select().count()
    bad = {"name": "", "address": "x", "kecamatan": "Cibinong", "lokets": "99", "map_url": "javascript:alert(1)"}
    bad.update(hours_form(d1=("14:00", "07:30"), d2=("07:30", "")))
    r = post(client, "/petugas/admin/cibinong", bad)
    assert r.status_code == 400
    for text in (
        "Nama puskesmas wajib diisi.",
        "Jumlah loket harus antara 1 dan 20.",
        "Tautan peta harus alamat https://",
        "Selasa: isi jam buka dan jam tutup",
    ):
        assert text in r.text, text
    assert Puskesmas.get_by_id(cibinong.id).lokets == 2
    assert Change.select().count() == before
    assert AuditLog.select().where(AuditLog.entity == "puskesmas").count() == 0


def test_a_new_poli_reaches_the_edge_and_its_rules_are_checked_field_by_field(client, admin_pkm, cibinong):
    sign_in(client, "admin.cibinong")
    r = post(client, "/petugas/admin/cibinong/poli/baru", poli_form(code="GIZI"))
    assert r.status_code == 302, r.text
    gizi = Poli.get(Poli.code == "GIZI", Poli.puskesmas == cibinong)
    assert (gizi.prefix, gizi.slot_quota, gizi.order, gizi.active) == ("Z", 8, 5, True)
    assert changes("poli.upsert")[-1] == {
        "code": "GIZI",
        "name": "Poli Gizi",
        "prefix": "Z",
        "active": True,
        "order": 5,
    }
    assert "Poli Gizi" in client.get("/petugas/admin/cibinong").text
    cases = [
        (poli_form(code="GIZI", prefix="Y"), "code", "Kode poli ini sudah ada"),
        (poli_form(code="ANAK", prefix="A"), "prefix", "Awalan A dan B dipakai antrean pendaftaran"),
        (poli_form(code="ANAK", prefix="U"), "prefix", "Awalan U sudah dipakai Poli Umum"),
        (poli_form(code="anak poli", prefix="N"), "code", "Kode 1-16 huruf besar"),
        (poli_form(code="ANAK", prefix="N", quota="lima"), "slot_quota", "harus berupa angka"),
        (poli_form(code="ANAK", prefix="N", s7=("08:00", "10:00")), "s", "di luar jam buka puskesmas"),
        (poli_form(code="ANAK", prefix="N", s5=("08:00", "13:00")), "s", "di luar jam buka puskesmas"),
    ]
    for form, _field, text in cases:
        before = Poli.select().count(), Change.select().count()
        r = post(client, "/petugas/admin/cibinong/poli/baru", form)
        assert r.status_code == 400 and text in r.text, (form, r.text[:2000])
        assert (Poli.select().count(), Change.select().count()) == before


def test_a_quota_below_the_bookings_already_made_is_refused_with_the_busiest_slot(
    client, admin_pkm, cibinong, ani, visit_date
):
    sign_in(client, "admin.cibinong")
    umum = Poli.get(Poli.code == "UMUM", Poli.puskesmas == cibinong)
    day = visit_date  # an open day ahead, as a patient could book it (not a Sunday or a holiday)
    for i in range(3):
        Reservation.create(
            rid=f"r{i}",
            patient=ani,
            puskesmas=cibinong,
            poli=umum,
            date=day,
            slot="09:00-10:00",
            payer="UMUM",
            qr_text="x",
        )
    form = poli_form(name="Poli Umum", prefix="U", quota="2", order="0")
    r = post(client, "/petugas/admin/cibinong/poli/UMUM", form)
    assert r.status_code == 400
    assert "Sudah ada 3 reservasi" in r.text and "09:00-10:00" in r.text and "kuota tidak boleh kurang dari 3" in r.text
    assert Poli.get_by_id(umum.id).slot_quota == 10
    assert post(client, "/petugas/admin/cibinong/poli/UMUM", {**form, "slot_quota": "3"}).status_code == 302
    assert Poli.get_by_id(umum.id).slot_quota == 3


def test_closing_a_poli_tells_the_edge_and_keeps_its_history(client, admin_pkm, cibinong):
    sign_in(client, "admin.cibinong")
    form = poli_form(name="Poli Gigi", prefix="G", active="", order="2")
    assert post(client, "/petugas/admin/cibinong/poli/GIGI", form).status_code == 302
    gigi = Poli.get(Poli.code == "GIGI", Poli.puskesmas == cibinong)
    assert gigi.active is False
    assert changes("poli.upsert")[-1]["active"] is False
    row = AuditLog.get(AuditLog.entity == "poli")
    assert json.loads(row.before)["active"] is True and json.loads(row.after)["active"] is False


@pytest.mark.parametrize("role", ["kepala_puskesmas", "petugas_loket", "petugas_poli"])
def test_roles_that_do_not_manage_get_a_refusal(client, cibinong, role):
    staff.add("orang.lain", "Orang", role, "cibinong", "UMUM" if role == "petugas_poli" else "", PASSWORD)
    sign_in(client, "orang.lain")
    for path in ("/petugas/admin/", "/petugas/admin/cibinong", "/petugas/admin/petugas", "/petugas/admin/audit"):
        assert client.get(path).status_code == 403, path
    assert "Pengaturan" not in client.get("/petugas/").text


def test_an_admin_puskesmas_cannot_open_another_puskesmas_or_add_one(client, admin_pkm):
    sign_in(client, "admin.cibinong")
    assert client.get("/petugas/admin/ciawi").status_code == 403
    assert client.get("/petugas/admin/ciawi/poli/UMUM").status_code == 403
    assert client.get("/petugas/admin/puskesmas/baru").status_code == 403
    assert client.get("/petugas/admin/tidak-ada").status_code == 404
    assert client.get("/petugas/admin/").headers["Location"].endswith("/petugas/admin/cibinong")


def test_signed_out_visitors_are_sent_to_the_sign_in_page(client, cibinong):
    r = client.get("/petugas/admin/cibinong")
    assert r.status_code == 302 and "/petugas/masuk" in r.headers["Location"]


def test_the_dinkes_admin_adds_a_puskesmas_that_starts_with_poli_umum(client, app):
    staff.add("admin.dinkes", "Admin Dinkes", "admin_kabupaten", None, "", PASSWORD)
    sign_in(client, "admin.dinkes")
    form = {
        "code": "jonggol",
        "name": "Puskesmas Jonggol",
        "address": "Kecamatan Jonggol",
        "kecamatan": "Jonggol",
        "lokets": "2",
        **hours_form(**WEEK),
    }
    r = post(client, "/petugas/admin/puskesmas/baru", form)
    assert r.status_code == 302, r.text
    p = Puskesmas.get(code="jonggol")
    assert [x.code for x in Poli.select().where(Poli.puskesmas == p)] == ["UMUM"]
    again = post(client, "/petugas/admin/puskesmas/baru", form)
    assert again.status_code == 400 and "Kode ini sudah dipakai" in again.text
    assert "Puskesmas Jonggol" in client.get("/petugas/admin/").text


def test_staff_accounts_are_made_and_disabled_by_their_puskesmas_admin(client, admin_pkm, cibinong):
    sign_in(client, "admin.cibinong")
    form = {
        "username": "rina.loket",
        "name": "Rina",
        "role": "petugas_loket",
        "password": "sandi-awal-rina",
        "password2": "sandi-awal-rina",
    }
    assert post(client, "/petugas/admin/petugas", form).status_code == 302
    rina = Staff.get(Staff.username == "rina.loket")
    assert rina.puskesmas_id == cibinong.id and rina.role == "petugas_loket"
    assert any(c["username"] == "rina.loket" for c in changes("staff.upsert"))
    refused = post(client, "/petugas/admin/petugas", {**form, "username": "bos", "role": "admin_kabupaten"})
    assert refused.status_code == 400 and "Hanya admin Dinas Kesehatan" in refused.text
    mismatch = post(client, "/petugas/admin/petugas", {**form, "username": "rina2", "password2": "lain"})
    assert mismatch.status_code == 400 and "Ulangi kata sandi yang sama." in mismatch.text
    assert "rina.loket" in client.get("/petugas/admin/petugas").text
    # disabling ends her sessions and tells the edge
    other = client.application.test_client()
    sign_in(other, "rina.loket", "sandi-awal-rina")
    r = post(client, "/petugas/admin/petugas/rina.loket", {"action": "nonaktifkan"})
    assert r.status_code == 302
    assert Staff.get_by_id(rina.id).active is False
    assert WebSession.select().where((WebSession.staff == rina) & WebSession.revoked_at.is_null()).count() == 0
    assert changes("staff.upsert")[-1]["active"] is False
    assert other.get("/petugas/").status_code == 302  # signed out
    entries = [(a.entity, a.entity_key, a.action, a.actor) for a in AuditLog.select().order_by(AuditLog.id)]
    assert entries == [
        ("staff", "admin.cibinong", "create", "cli"),  # made from the command line by the fixture
        ("staff", "rina.loket", "create", "admin.cibinong"),
        ("staff", "rina.loket", "update", "admin.cibinong"),
    ]
    assert "sandi-awal-rina" not in "".join(a.before + a.after for a in AuditLog.select())


def test_an_admin_puskesmas_cannot_manage_another_puskesmas_account(client, admin_pkm):
    staff.add("loket.ciawi", "Ujang", "petugas_loket", "ciawi", "", PASSWORD)
    sign_in(client, "admin.cibinong")
    assert client.get("/petugas/admin/petugas/loket.ciawi").status_code == 403
    assert "loket.ciawi" not in client.get("/petugas/admin/petugas").text


def test_text_from_staff_is_shown_escaped_in_the_audit_log(client, admin_pkm, cibinong):
    sign_in(client, "admin.cibinong")
    r = post(client, "/petugas/admin/cibinong/poli/baru", poli_form(code="XSS", name="<script>alert(1)</script>x"))
    assert r.status_code == 302
    page = client.get("/petugas/admin/audit").text
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


def test_times_are_taken_as_people_type_them(client, admin_pkm, cibinong):
    sign_in(client, "admin.cibinong")
    week = {**WEEK, "d1": ("7.30", "14", "12.00", "12:30"), "d5": ("07.30", "11.00"), "d6": ("0730", "12.30")}
    form = {"name": "Puskesmas Cibinong", "address": "Cibinong", "kecamatan": "Cibinong", "lokets": "2"}
    r = post(client, "/petugas/admin/cibinong", {**form, **hours_form(**week)})
    assert r.status_code == 400 and "Sabtu" in r.text  # "0730" is not a time: said, not guessed
    week["d6"] = ("07.30", "12.30")
    assert post(client, "/petugas/admin/cibinong", {**form, **hours_form(**week)}).status_code == 302
    stored = json.loads(Puskesmas.get_by_id(cibinong.id).schedule)
    assert stored["1"] == [["07:30", "12:00"], ["12:30", "14:00"]] and stored["6"] == [["07:30", "12:30"]]
    assert stored["2"] == [["07:30", "14:00"]] and stored["7"] == []
    # closing on a day the poli take reservations is refused: change the poli first
    week["d2"] = ()
    r = post(client, "/petugas/admin/cibinong", {**form, **hours_form(**week)})
    assert r.status_code == 400 and "di luar jam buka ini" in r.text


def test_the_command_line_also_refuses_a_staff_name_with_hidden_characters(app, cibinong):
    from central.identity import IdentityError

    with pytest.raises(IdentityError) as refused:
        staff.add("rina.loket", "Rina \u202egnp.exe", "petugas_loket", "cibinong", "", PASSWORD)
    assert refused.value.fields["name"] == "Nama mengandung karakter tersembunyi yang tidak diizinkan."
    assert Staff.select().where(Staff.username == "rina.loket").count() == 0
