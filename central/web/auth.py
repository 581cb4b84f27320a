"""Registration, login and logout for patients (Flask session)."""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from flask import Blueprint, Flask, flash, g, redirect, render_template, request, session, url_for

from central import runtime, services
from central.web import csrf

bp = Blueprint("auth", __name__)

REGISTER_FIELDS = ("name", "nik", "birth_date", "sex", "address", "phone")


def _load_patient() -> None:
    g.patient = None
    patient_id = session.get("patient_id")
    if patient_id is not None and not request.path.startswith(("/static/", "/api/")):
        g.patient = services.get_patient(patient_id)
        if g.patient is None:
            session.pop("patient_id", None)


def init_app(app: Flask) -> None:
    """Load the logged-in patient into ``g.patient`` before each web request."""
    app.before_request(_load_patient)


def login_required(view):
    """Send visitors who are not logged in to /masuk, coming back here afterwards."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("patient") is None:
            flash("Silakan masuk terlebih dahulu.", "info")
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def _safe_next(target: str | None) -> str:
    """Only a path on this site; anything else goes home."""
    if not target:
        return url_for("pages.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("pages.home")
    return target


@bp.route("/daftar", methods=["GET", "POST"])
def register():
    """Registration form; on success go to /masuk."""
    if g.patient is not None:
        return redirect(url_for("pages.home"))
    values = {name: "" for name in REGISTER_FIELDS}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {name: request.form.get(name, "").strip() for name in REGISTER_FIELDS}
        try:
            services.register_patient(values, now=runtime.now())
        except services.ValidationError as e:
            errors = e.errors
        else:
            flash("Pendaftaran berhasil. Silakan masuk dengan NIK dan tanggal lahir Anda.", "ok")
            return redirect(url_for("auth.login"))
    status = 400 if errors else 200
    return render_template("register.html", values=values, errors=errors), status


@bp.route("/masuk", methods=["GET", "POST"])
def login():
    """Login with NIK and birth date."""
    next_url = request.values.get("next", "")
    if g.patient is not None:
        return redirect(_safe_next(next_url))
    values = {"nik": "", "birth_date": ""}
    errors: dict[str, str] = {}
    error = None
    if request.method == "POST":
        values = {name: request.form.get(name, "").strip() for name in values}
        if not values["nik"]:
            errors["nik"] = "NIK wajib diisi."
        if not values["birth_date"]:
            errors["birth_date"] = "Tanggal lahir wajib diisi."
        if not errors:
            try:
                patient = services.login(
                    values["nik"],
                    values["birth_date"],
                    client=request.remote_addr or "",
                    guard=runtime.current().login_guard,
                )
            except services.TooManyAttempts as e:
                return render_template("login.html", values=values, errors={}, error=e.message, next_url=next_url), 429
            if patient is None:
                error = services.LOGIN_FAILED
            else:
                session.clear()
                session.permanent = True
                session["patient_id"] = patient.id
                csrf.rotate()
                return redirect(_safe_next(next_url))
    status = 400 if (errors or error) else 200
    return render_template("login.html", values=values, errors=errors, error=error, next_url=next_url), status


@bp.route("/keluar", methods=["GET", "POST"])
def logout():
    """GET asks for confirmation; POST (with the CSRF token) ends the session."""
    if request.method == "POST":
        session.clear()
        csrf.rotate()
        flash("Anda sudah keluar.", "ok")
        return redirect(url_for("pages.home"))
    if g.patient is None:
        return redirect(url_for("pages.home"))
    return render_template("logout.html")
