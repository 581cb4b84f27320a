"""Staff pages at central (``/petugas``): sign-in, and the loket's PIN reset after checking the KTP.

The back office grows here; every page names the roles that may use it.
"""

from __future__ import annotations

import functools

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for

from central import identity
from central.web import csrf
from central.web.auth import client, safe_next
from central.web.errors import http_error

bp = Blueprint("staff", __name__, url_prefix="/petugas")

SESSION_KEY = "staff_sid"


@bp.before_app_request
def _load_staff() -> None:
    """The signed-in staff member on every staff page (/petugas/..., whichever blueprint)."""
    g.staff = None
    g.staff_session = None
    if not request.path.startswith("/petugas"):
        return
    row = identity.session(session.get(SESSION_KEY))
    if row is not None and row.staff_id is not None and row.staff.active:
        g.staff_session, g.staff = row, row.staff
    elif SESSION_KEY in session:
        session.pop(SESSION_KEY, None)


def roles(*allowed: str):
    """Only a signed-in staff member with one of these roles; others sign in, or get a 403."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if g.staff is None:
                return redirect(url_for("staff.login", next=request.full_path.rstrip("?")))
            if g.staff.role not in allowed:
                raise http_error(403, "Peran Anda tidak boleh membuka halaman ini.")
            return view(*args, **kwargs)

        return wrapped

    return decorate


@bp.route("/masuk", methods=["GET", "POST"])
def login():
    next_url = request.values.get("next", "")
    error, status, errors = None, 200, {}
    username = request.form.get("username", "").strip()
    if request.method == "POST":
        password = request.form.get("password", "")
        if not username:
            errors["username"] = "Nama pengguna wajib diisi."
        if not password:
            errors["password"] = "Kata sandi wajib diisi."
        if errors:  # nothing to check yet: not a wrong try
            return render_template(
                "staff_login.html", username=username, error=None, errors=errors, next_url=next_url
            ), 400
        try:
            staff = identity.staff_login(username, password, client())
        except identity.IdentityError as e:
            error, status = e.message, e.status
        else:
            session.pop(SESSION_KEY, None)
            session[SESSION_KEY] = identity.open_session(staff=staff, device=request.user_agent.string or "")
            csrf.rotate()
            return redirect(safe_next(next_url) if next_url.startswith("/petugas") else url_for("staff.home"))
    return render_template("staff_login.html", username=username, error=error, errors=errors, next_url=next_url), status


@bp.route("/keluar", methods=["POST"])
def logout():
    if g.staff_session is not None:
        identity.revoke_session(g.staff_session.id)
    session.pop(SESSION_KEY, None)
    flash("Anda sudah keluar.", "ok")
    return redirect(url_for("staff.login"))


@bp.route("/")
@roles(*identity.ROLES)
def home():
    return render_template(
        "staff_home.html",
        role=identity.ROLES[g.staff.role],
        can_reset=g.staff.role in identity.RESETTERS,
        look_only=g.staff.role == "kepala_puskesmas",
    )


@bp.route("/reset-pin", methods=["GET", "POST"])
@roles(*identity.RESETTERS)
def reset_pin():
    """Give a patient (whose KTP was checked) a code to set a new PIN with at /atur-pin."""
    values = {"nik": request.form.get("nik", "").strip(), "birth_date": request.form.get("birth_date", "").strip()}
    error, status, given, errors = None, 200, None, {}
    checked = request.form.get("ktp") == "1"
    if request.method == "POST":
        if not values["nik"]:
            errors["nik"] = "NIK wajib diisi."
        if not values["birth_date"]:
            errors["birth_date"] = "Tanggal lahir wajib diisi."
        if not checked:
            errors["ktp"] = "Centang bahwa KTP pasien sudah Anda periksa."
        if errors:
            error, status = "Ada isian yang perlu diperbaiki. Periksa tanda merah di bawah.", 400
        else:
            try:
                patient, code = identity.loket_reset_code(g.staff, values["nik"], values["birth_date"])
            except identity.IdentityError as e:
                error, status = e.message, e.status
            else:
                given = {"name": patient.name, "code": code}
                values, checked = {"nik": "", "birth_date": ""}, False
    return render_template(
        "staff_reset.html",
        values=values,
        error=error,
        errors=errors,
        given=given,
        checked=checked,
        site=_public_site(),
    ), status


def _public_site() -> str:
    """The patient site's address to tell a patient, unless this page was opened on the server
    itself (127.0.0.1 means nothing on her phone)."""
    host = request.host.rsplit(":", 1)[0].strip("[]")
    if host in ("localhost", "127.0.0.1", "::1"):
        return ""
    return request.host_url.rstrip("/")
