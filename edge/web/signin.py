"""Staff sign-in and sign-out at the edge, and pairing a browser as a kiosk (APM)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, make_response, redirect, render_template, request, session, url_for

from edge.models import KioskDevice
from edge.web import auth

bp = Blueprint("auth", __name__)


def _safe_next(target: str) -> str:
    if target.startswith("/") and not target.startswith("//") and "\\" not in target and target.isprintable():
        return target
    return url_for("pages.staff")


@bp.route("/staff/masuk", methods=["GET", "POST"])
def login():
    error, status = None, 200
    username = request.form.get("username", "").strip()
    next_url = request.values.get("next", "")
    if request.method == "POST":
        password = request.form.get("password", "")
        if not username or not password:  # not a wrong try: nothing to check yet
            error = (
                "Isi nama pengguna dan kata sandi."
                if not (username or password)
                else ("Nama pengguna wajib diisi." if not username else "Kata sandi wajib diisi.")
            )
            return render_template("staff_login.html", username=username, error=error, next_url=next_url), 400
        try:
            staff = auth.sign_in(username, password, request.remote_addr or "")
        except ValueError as exc:
            error, status = str(exc), 429 if isinstance(exc, auth.TooManyTries) else 401
        else:
            session.clear()  # a new session and a new form token: nothing from before sign-in carries over
            session["sk"] = auth.open_session(staff)
            auth.csrf_token()
            return redirect(_safe_next(next_url))
    return render_template("staff_login.html", username=username, error=error, next_url=next_url), status


@bp.route("/staff/keluar", methods=["POST"])
def logout():
    auth.current_staff()
    auth.end_session()
    flash("Anda sudah keluar.")
    return redirect(url_for("auth.login"))


@bp.route("/staff/anjungan", methods=["GET", "POST"])
@auth.staff_required(act=True)
def kiosks():
    """Pair this browser as a kiosk, or end a paired one (admin puskesmas and petugas loket)."""
    if g.staff.role not in (*auth.ADMINS, "petugas_loket"):
        raise auth.Refused(403, "Hanya admin puskesmas atau petugas loket yang memasang anjungan.")
    if request.method == "POST":
        if request.form.get("revoke"):
            kiosk_id = request.form.get("revoke", type=int) or 0
            if 0 < kiosk_id < 2**62:  # SQLite integers are 64-bit
                KioskDevice.update(revoked=True).where(KioskDevice.id == kiosk_id).execute()
            flash("Anjungan itu sudah dicabut.")
            return redirect(url_for("auth.kiosks"))
        name = request.form.get("name", "").strip() or "Anjungan"
        key = auth.pair_kiosk(name, g.staff)
        # this browser is a kiosk now: whoever stands at it next must not act as the staff member
        auth.end_session()
        session.clear()
        flash(f"Anjungan “{name[:60]}” terpasang. Akun petugas sudah keluar dari peramban ini.")
        response = make_response(redirect(url_for("pages.kiosk")))
        response.set_cookie(auth.KIOSK_COOKIE, key, max_age=5 * 365 * 86400, httponly=True, samesite="Strict")
        return response
    rows = list(KioskDevice.select().where(~KioskDevice.revoked).order_by(KioskDevice.id))
    local = current_app.extensions["rosma"].config.kiosk_on_this_device
    return render_template("staff_kiosks.html", kiosks=rows, local=local, here=auth.on_this_node())
