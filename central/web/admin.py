"""Back office: manage puskesmas (details, hours, loket), poli and staff accounts, and read the
audit log (``/petugas/admin``). Admin kabupaten: every puskesmas; admin puskesmas: its own.

Each change is checked, audited and sent to the puskesmas's edge by ``central.admin``.
"""

from __future__ import annotations

import json

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from central import admin, audit
from central.identity import ROLES
from central.models import AuditLog, Poli, Puskesmas, Staff
from central.web.backoffice import ADMINS, KABUPATEN, pick, scope
from central.web.errors import http_error
from central.web.staff import roles


def _schedule():
    """Opening-hours rules (central.core.schedule), imported when first needed."""
    from central.core import schedule

    return schedule


bp = Blueprint("admin", __name__, url_prefix="/petugas/admin")

PAGE = 50
ENTITIES = {
    "puskesmas": "Puskesmas",
    "poli": "Poli",
    "staff": "Akun petugas",
    "holiday": "Hari libur",
    "targets": "Target mutu",
    "feedback": "Kritik & saran",
    "alert": "Peringatan node",
    "bpjs_report": "Laporan BPJS",
}
ACTIONS = {"create": "Tambah", "update": "Ubah", "delete": "Hapus"}
FIELDS = {
    "code": "kode",
    "name": "nama",
    "address": "alamat",
    "kecamatan": "kecamatan",
    "phone": "telepon",
    "map_url": "tautan peta",
    "lokets": "jumlah loket",
    "hours": "jam buka",
    "schedule": "jadwal",
    "info": "informasi",
    "running_text": "teks berjalan di TV",
    "prefix": "awalan nomor",
    "slot_quota": "kuota per jam",
    "active": "aktif",
    "order": "urutan",
    "role": "peran",
    "puskesmas": "puskesmas",
    "polis": "poli",
    "username": "nama pengguna",
    "password": "kata sandi",
    "date": "tanggal",
    "kind": "jenis",
    "note": "catatan",
}


def _shown(field: str, value):
    """An audited value as people read it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "ya" if value else "tidak"
    if field == "schedule":
        return _schedule().describe(_schedule().safe(value)) if value else "bawaan"
    return value


@bp.route("/")
@roles(*ADMINS)
def index():
    if g.staff.role != "admin_kabupaten":
        return redirect(url_for("admin.puskesmas", code=g.staff.puskesmas.code))
    places = scope(g.staff)
    counts = {p.id: Poli.select().where((Poli.puskesmas == p) & Poli.active).count() for p in places}
    return render_template("admin_index.html", places=places, counts=counts)


@bp.route("/puskesmas/baru", methods=["GET", "POST"])
@roles(*KABUPATEN)
def new_puskesmas():
    values = admin.hours_form(_schedule().parse(""))
    values.update(
        code="", name="", address="", kecamatan="", phone="", map_url="", info="", running_text="", lokets="2"
    )
    errors: dict = {}
    if request.method == "POST":
        values.update(request.form.to_dict())
        try:
            p = admin.save_puskesmas(g.staff, None, request.form)
        except admin.AdminError as e:
            errors = e.fields
        else:
            flash(f"{p.name} ditambahkan dengan Poli Umum. Tambahkan poli lain di bawah.", "ok")
            return redirect(url_for("admin.puskesmas", code=p.code))
    return render_template("admin_puskesmas.html", p=None, values=values, errors=errors, polis=[], weekdays=_days()), (
        400 if errors else 200
    )


@bp.route("/<code>", methods=["GET", "POST"])
@roles(*ADMINS)
def puskesmas(code: str):
    p = pick(g.staff, code)
    values = admin.puskesmas_values(p)
    values.update(admin.hours_form(admin.puskesmas_hours(p)))
    values["lokets"] = str(p.lokets)
    errors: dict = {}
    if request.method == "POST":
        values.update(request.form.to_dict())
        try:
            p = admin.save_puskesmas(g.staff, p, request.form)
        except admin.AdminError as e:
            errors = e.fields
        else:
            flash("Perubahan disimpan dan dikirim ke node puskesmas.", "ok")
            return redirect(url_for("admin.puskesmas", code=p.code))
    polis = list(Poli.select().where(Poli.puskesmas == p).order_by(Poli.order, Poli.code))
    return render_template("admin_puskesmas.html", p=p, values=values, errors=errors, polis=polis, weekdays=_days()), (
        400 if errors else 200
    )


@bp.route("/<code>/poli/baru", methods=["GET", "POST"])
@roles(*ADMINS)
def new_poli(code: str):
    p = pick(g.staff, code)
    values = {"code": "", "name": "", "prefix": "", "slot_quota": "10", "order": "", "active": "1"}
    values.update(_poli_hours_form(_schedule().parse_poli("")))
    errors: dict = {}
    if request.method == "POST":
        values = request.form.to_dict()
        try:
            poli = admin.save_poli(g.staff, p, None, request.form)
        except admin.AdminError as e:
            errors = e.fields
        else:
            flash(f"{poli.name} ditambahkan. Poli ini muncul di anjungan, halaman petugas dan TV.", "ok")
            return redirect(url_for("admin.puskesmas", code=p.code))
    return render_template("admin_poli.html", p=p, poli=None, values=values, errors=errors, weekdays=_days()), (
        400 if errors else 200
    )


@bp.route("/<code>/poli/<poli_code>", methods=["GET", "POST"])
@roles(*ADMINS)
def poli(code: str, poli_code: str):
    p = pick(g.staff, code)
    row = Poli.get_or_none((Poli.puskesmas == p) & (Poli.code == poli_code.upper()[:16]))
    if row is None:
        raise http_error(404, "Poli tidak ditemukan.")
    values = {k: str(v) for k, v in admin.poli_values(row).items()}
    values["active"] = "1" if row.active else ""
    values.update(_poli_hours_form(admin.poli_hours(row)))
    errors: dict = {}
    if request.method == "POST":
        values = request.form.to_dict()
        values["code"] = row.code
        try:
            row = admin.save_poli(g.staff, p, row, request.form)
        except admin.AdminError as e:
            errors = e.fields
        else:
            flash(f"{row.name} disimpan dan dikirim ke node puskesmas.", "ok")
            return redirect(url_for("admin.puskesmas", code=p.code))
    return render_template("admin_poli.html", p=p, poli=row, values=values, errors=errors, weekdays=_days()), (
        400 if errors else 200
    )


@bp.route("/petugas", methods=["GET", "POST"])
@roles(*ADMINS)
def staff():
    places = scope(g.staff)
    chosen = request.values.get("puskesmas", "")
    if g.staff.role != "admin_kabupaten":
        chosen = g.staff.puskesmas.code
    query = Staff.select().order_by(Staff.role, Staff.username)
    if chosen == "dinkes":
        query = query.where(Staff.puskesmas.is_null())
    elif chosen:
        query = query.where(Staff.puskesmas == pick(g.staff, chosen))
    values = {"username": "", "name": "", "role": "petugas_loket", "puskesmas": chosen if chosen != "dinkes" else ""}
    errors: dict = {}
    status = 200
    if request.method == "POST":
        values = request.form.to_dict()
        try:
            s = admin.add_staff(g.staff, request.form)
        except admin.AdminError as e:
            errors, status = e.fields, 400
        else:
            flash(f"Akun {s.username} dibuat. Akun ini bisa masuk di node puskesmasnya setelah tersinkron.", "ok")
            return redirect(url_for("admin.staff", puskesmas=chosen))
    polis = {
        p.code: [x.code for x in Poli.select().where((Poli.puskesmas == p) & Poli.active).order_by(Poli.code)]
        for p in places
    }
    return render_template(
        "admin_staff.html",
        accounts=list(query),
        places=places,
        chosen=chosen,
        values=values,
        errors=errors,
        roles=admin.creatable_roles(g.staff),
        role_names=ROLES,
        polis=polis,
        chosen_polis=request.form.getlist("polis"),
    ), status


@bp.route("/petugas/<username>", methods=["GET", "POST"])
@roles(*ADMINS)
def account(username: str):
    s = Staff.get_or_none(Staff.username == username.lower()[:40])
    if s is None:
        raise http_error(404, "Akun petugas tidak ditemukan.")
    if not admin.may_manage(g.staff, s):
        raise http_error(403, "Anda hanya boleh mengelola akun petugas puskesmas Anda sendiri.")
    errors: dict = {}
    status = 200
    if request.method == "POST":
        action = request.form.get("action", "")
        try:
            if action == "nonaktifkan":
                s = admin.set_staff_active(g.staff, s, False)
                flash(f"Akun {s.username} dinonaktifkan; sesi yang terbuka diakhiri.", "ok")
            elif action == "aktifkan":
                s = admin.set_staff_active(g.staff, s, True)
                flash(f"Akun {s.username} aktif kembali.", "ok")
            elif action == "sandi":
                s = admin.reset_staff_password(
                    g.staff, s, request.form.get("password", ""), request.form.get("password2", "")
                )
                flash(f"Kata sandi {s.username} diganti. Berikan kata sandi baru secara langsung.", "ok")
            else:
                raise http_error(400, "Tindakan tidak dikenal.")
        except admin.AdminError as e:
            errors, status = e.fields, 400
        else:
            return redirect(url_for("admin.account", username=s.username))
    return render_template("admin_account.html", s=s, errors=errors, role_names=ROLES), status


@bp.route("/audit")
@roles(*ADMINS)
def audit_log():
    places = scope(g.staff)
    chosen = request.args.get("puskesmas", "")
    entity = request.args.get("jenis", "")
    query = AuditLog.select().order_by(AuditLog.at.desc(), AuditLog.id.desc())
    if g.staff.role != "admin_kabupaten":
        query = query.where(AuditLog.puskesmas == g.staff.puskesmas_id)
    elif chosen:
        query = query.where(AuditLog.puskesmas == pick(g.staff, chosen))
    if entity in ENTITIES:
        query = query.where(AuditLog.entity == entity)
    page = _page()
    total = query.count()
    rows = []
    for row in query.paginate(page, PAGE):
        before = json.loads(row.before) if row.before else None
        after = json.loads(row.after) if row.after else None
        changes = [(FIELDS.get(f, f), _shown(f, b), _shown(f, a)) for f, b, a in audit.diff(before, after)]
        rows.append({"row": row, "changes": changes})
    return render_template(
        "admin_audit.html",
        rows=rows,
        places=places,
        chosen=chosen,
        entity=entity,
        entities=ENTITIES,
        actions=ACTIONS,
        page=page,
        pages=max(1, -(-total // PAGE)),
        total=total,
    )


def _page() -> int:
    raw = request.args.get("halaman", "1")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw[:6]) <= 100000:
        return 1
    return int(raw)


def _days():
    return list(enumerate(admin.WEEKDAYS, start=1))


def _poli_hours_form(hours: dict) -> dict[str, str]:
    values = {}
    for day in range(1, 8):
        spans = hours.get(str(day)) or []
        values[f"s{day}_open"] = spans[0][0] if spans else ""
        values[f"s{day}_close"] = spans[-1][1] if spans else ""
    return values


__all__ = ["bp", "Puskesmas"]
