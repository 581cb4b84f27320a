"""Registration, login, logout, "Lupa PIN", the account page (change PIN, signed-in devices).

The session cookie holds only a random key; the session itself is a database row
(``central.identity``), so logging out or changing the PIN ends it in every web process.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from flask import Blueprint, Flask, flash, g, make_response, redirect, render_template, request, session, url_for

from central import identity, runtime
from central.web import csrf
from central.web.errors import http_error

bp = Blueprint("auth", __name__)

REGISTER_FIELDS = ("name", "nik", "birth_date", "sex", "address", "phone")
DEVICE_COOKIE = "rosma_perangkat"
SESSION_KEY = "sid"


def client() -> identity.Client:
    """Where this request comes from (``request.remote_addr`` is already the real client when
    the app runs behind a trusted proxy) and the device mark the browser keeps, if any."""
    return identity.Client(address=request.remote_addr or "", device=request.cookies.get(DEVICE_COOKIE, "")[:64])


def _load_patient() -> None:
    g.patient = None
    g.session_row = None
    if request.path.startswith(("/static/", "/api/", "/petugas")):
        return
    row = identity.session(session.get(SESSION_KEY))
    if row is not None and row.patient_id is not None:
        g.session_row = row
        g.patient = row.patient
    elif SESSION_KEY in session:
        session.pop(SESSION_KEY, None)


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


def safe_next(target: str | None) -> str:
    """Only a path on this site; anything else (another host, a scheme, control characters such as
    CR/LF that would split the redirect header) goes home."""
    home = url_for("pages.home")
    if not target or len(target) > 500 or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return home
    return target


def _start_session(patient) -> None:
    session.clear()
    session.permanent = True
    session[SESSION_KEY] = identity.open_session(patient=patient, device=request.user_agent.string or "")
    csrf.rotate()


@bp.route("/daftar", methods=["GET", "POST"])
def register():
    """Registration form with the PIN; the answer never tells whether the NIK had an account."""
    if g.patient is not None:
        return redirect(url_for("pages.home"))
    values = {name: "" for name in REGISTER_FIELDS}
    errors: dict[str, str] = {}
    error = None
    status = 200
    if request.method == "POST":
        values = {name: request.form.get(name, "").strip() for name in REGISTER_FIELDS}
        form = {**values, "pin": request.form.get("pin", ""), "pin_again": request.form.get("pin_again", "")}
        try:
            identity.register(form, client(), now=runtime.now())
        except identity.Throttled as e:
            error, status = e.message, 429
        except identity.IdentityError as e:
            errors, status = e.fields, 400
        else:
            flash(identity.REGISTERED, "ok")
            return redirect(url_for("auth.login"))
    return render_template("register.html", values=values, errors=errors, error=error), status


@bp.route("/masuk", methods=["GET", "POST"])
def login():
    """Login with NIK, tanggal lahir and PIN."""
    next_url = request.values.get("next", "")
    if g.patient is not None:
        return redirect(safe_next(next_url))
    values = {"nik": "", "birth_date": ""}
    errors: dict[str, str] = {}
    error = None
    status = 200
    if request.method == "POST":
        values = {name: request.form.get(name, "").strip() for name in values}
        pin = request.form.get("pin", "")
        for name, text in (("nik", "NIK wajib diisi."), ("birth_date", "Tanggal lahir wajib diisi.")):
            if not values[name]:
                errors[name] = text
        if not pin:
            errors["pin"] = "PIN wajib diisi."
        if not errors:
            try:
                patient = identity.login(values["nik"], values["birth_date"], pin, client())
            except identity.IdentityError as e:
                error, status = e.message, e.status
            else:
                _start_session(patient)
                response = make_response(redirect(safe_next(next_url)))
                response.set_cookie(
                    DEVICE_COOKIE,
                    identity.device_mark(patient),
                    max_age=365 * 86400,
                    httponly=True,
                    samesite="Lax",
                    secure=runtime.current().config.https,
                )
                return response
        else:
            status = 400
    return render_template("login.html", values=values, errors=errors, error=error, next_url=next_url), status


@bp.route("/keluar", methods=["GET", "POST"])
def logout():
    """GET asks for confirmation; POST (with the CSRF token) ends the session, here and on the server."""
    if request.method == "POST":
        if g.get("session_row") is not None:
            identity.revoke_session(g.session_row.id)
        session.clear()
        csrf.rotate()
        flash("Anda sudah keluar.", "ok")
        return redirect(url_for("pages.home"))
    if g.patient is None:
        return redirect(url_for("pages.home"))
    return render_template("logout.html")


@bp.route("/lupa-pin", methods=["GET", "POST"])
def forgot_pin():
    """Step 1: ask for a one-time code to the phone on file (or come with a code from the loket)."""
    values = {"nik": request.form.get("nik", "").strip(), "birth_date": request.form.get("birth_date", "").strip()}
    error, status = None, 200
    if request.method == "POST":
        try:
            message = identity.send_reset_code(
                values["nik"], values["birth_date"], client(), runtime.current().notifier
            )
        except identity.IdentityError as e:
            error, status = e.message, e.status
        else:
            flash(message, "ok")
            return redirect(url_for("auth.reset_pin"))
    return render_template("forgot_pin.html", values=values, error=error), status


@bp.route("/atur-pin", methods=["GET", "POST"])
def reset_pin():
    """Step 2: NIK, tanggal lahir, the code (sent to the phone, or from the loket) and a new PIN."""
    values = {"nik": request.form.get("nik", "").strip(), "birth_date": request.form.get("birth_date", "").strip()}
    errors: dict[str, str] = {}
    error, status = None, 200
    if request.method == "POST":
        try:
            identity.reset_pin(
                values["nik"],
                values["birth_date"],
                request.form.get("code", ""),
                request.form.get("pin", ""),
                request.form.get("pin_again", ""),
                client(),
            )
        except identity.IdentityError as e:
            errors, error, status = e.fields, e.message, e.status
        else:
            session.clear()
            flash("PIN baru sudah disimpan. Silakan masuk.", "ok")
            return redirect(url_for("auth.login"))
    return render_template("reset_pin.html", values=values, errors=errors, error=error), status


@bp.route("/akun", methods=["GET"])
@login_required
def account():
    """The account: change PIN, and every browser and app signed in, each can be ended."""
    return render_template(
        "account.html",
        sessions=identity.sessions_of(g.patient),
        tokens=identity.tokens_of(g.patient),
        current=g.session_row.id,
        errors={},
    )


@bp.route("/akun/pin", methods=["POST"])
@login_required
def change_pin():
    try:
        identity.change_pin(
            g.patient,
            request.form.get("old_pin", ""),
            request.form.get("pin", ""),
            request.form.get("pin_again", ""),
            keep_session=g.session_row.id,
        )
    except identity.IdentityError as e:
        page = render_template(
            "account.html",
            sessions=identity.sessions_of(g.patient),
            tokens=identity.tokens_of(g.patient),
            current=g.session_row.id,
            errors=e.fields,
        )
        return page, 400
    flash("PIN sudah diganti. Perangkat lain yang masuk dengan akun ini sudah dikeluarkan.", "ok")
    return redirect(url_for("auth.account"))


@bp.route("/akun/perangkat/<int:session_id>/keluar", methods=["POST"])
@login_required
def end_session(session_id: int):
    if session_id not in {s.id for s in identity.sessions_of(g.patient)}:
        raise http_error(404, "Perangkat tidak ditemukan.")
    identity.revoke_session(session_id)
    flash("Perangkat itu sudah dikeluarkan.", "ok")
    return redirect(url_for("auth.account"))


@bp.route("/akun/aplikasi/<int:token_id>/keluar", methods=["POST"])
@login_required
def end_token(token_id: int):
    if not identity.revoke_token(g.patient, token_id):
        raise http_error(404, "Aplikasi tidak ditemukan.")
    flash("Aplikasi itu sudah dikeluarkan.", "ok")
    return redirect(url_for("auth.account"))
