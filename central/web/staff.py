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


@bp.before_request
def _load_staff() -> None:
    g.staff = None
    g.staff_session = None
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
    error, status = None, 200
    username = request.form.get("username", "").strip()
    if request.method == "POST":
        try:
            staff = identity.staff_login(username, request.form.get("password", ""), client())
        except identity.IdentityError as e:
            error, status = e.message, e.status
        else:
            session.pop(SESSION_KEY, None)
            session[SESSION_KEY] = identity.open_session(staff=staff, device=request.user_agent.string or "")
            csrf.rotate()
            return redirect(safe_next(next_url) if next_url.startswith("/petugas") else url_for("staff.home"))
    return render_template("staff_login.html", username=username, error=error, next_url=next_url), status


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
        "staff_home.html", role=identity.ROLES[g.staff.role], can_reset=g.staff.role in identity.RESETTERS
    )


@bp.route("/reset-pin", methods=["GET", "POST"])
@roles(*identity.RESETTERS)
def reset_pin():
    """Give a patient (whose KTP was checked) a code to set a new PIN with at /atur-pin."""
    values = {"nik": request.form.get("nik", "").strip(), "birth_date": request.form.get("birth_date", "").strip()}
    error, status, given = None, 200, None
    if request.method == "POST":
        if request.form.get("ktp") != "1":
            error, status = "Centang bahwa KTP pasien sudah Anda periksa.", 400
        else:
            try:
                patient, code = identity.loket_reset_code(g.staff, values["nik"], values["birth_date"])
            except identity.IdentityError as e:
                error, status = e.message, e.status
            else:
                given = {"name": patient.name, "code": code}
                values = {"nik": "", "birth_date": ""}
    return render_template("staff_reset.html", values=values, error=error, given=given), status
