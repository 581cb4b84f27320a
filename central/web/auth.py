"""Registration, login, logout, "Lupa PIN", the account page (change PIN, signed-in devices).

The session cookie holds only a random key; the session itself is a database row
(``central.identity``), so logging out or changing the PIN ends it in every web process.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from central import identity, runtime
from central.core.calendar import MONTH_NAMES, WIB
from central.models import Patient
from central.web import csrf
from central.web.errors import http_error
from protocol import nik as nikrules

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)

REGISTER_FIELDS = ("name", "nik", "birth_date", "sex", "address", "phone")
DEVICE_COOKIE = "rosma_perangkat"
SESSION_KEY = "sid"

NIK_REQUIRED = "NIK wajib diisi."
NIK_SHAPE = "NIK harus 16 digit angka."
BIRTH_REQUIRED = "Tanggal lahir wajib diisi."
# the example's hyphens do not break (U+2011): the date never splits over two lines
BIRTH_INVALID = "Tanggal lahir tidak valid. Tulis tanggal-bulan-tahun, contoh: 17\u201108\u20111990."
BIRTH_FUTURE = "Tanggal lahir harus sebelum hari ini."
OLD_PIN_REQUIRED = "PIN sekarang wajib diisi."
OLD_PIN_WRONG = "PIN sekarang salah."
CODE_REQUIRED = "Kode wajib diisi."


# ---- what patients type -------------------------------------------------------------------------
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})[-/. ]+(\d{1,2})[-/. ]+(\d{4})", re.ASCII)
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)


def read_birth_date(raw: str | None) -> tuple[str, dt.date | None]:
    """A birth date as patients type it, in the KTP's order (``17-08-1990``, also with ``/``,
    ``.`` or spaces, or ``17081990``), or as a date input or an older form sends it
    (``1990-08-17``). Returns what to show back in the field (``17-08-1990`` when it is a
    date) and the date, or None when it is none."""
    text = (raw or "").strip()[:20]
    parts = None
    if match := _ISO.fullmatch(text):
        parts = (match[1], match[2], match[3])
    elif match := _DAY_MONTH_YEAR.fullmatch(text):
        parts = (match[3], match[2], match[1])
    elif len(text) == 8 and text.isascii() and text.isdigit():
        parts = (text[4:], text[2:4], text[:2])
    if parts is None:
        return text, None
    try:
        day = dt.date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        return text, None
    return day.strftime("%d-%m-%Y"), day


def identity_fields(values: dict[str, str], today: dt.date | None = None) -> tuple[dict[str, str], dt.date | None]:
    """Field errors for a NIK and a birth date (only their form: whether an account has them is
    never told here), and the birth date. ``values`` gets the NIK without its spaces and the date
    as ``DD-MM-YYYY`` to show back."""
    errors: dict[str, str] = {}
    nik = nikrules.normalise(values.get("nik", ""))
    values["nik"] = nik[:24]
    if not nik:
        errors["nik"] = NIK_REQUIRED
    elif not (len(nik) == 16 and nik.isascii() and nik.isdigit()):
        errors["nik"] = NIK_SHAPE
    shown, birth = read_birth_date(values.get("birth_date", ""))
    values["birth_date"] = shown
    if not shown:
        errors["birth_date"] = BIRTH_REQUIRED
    elif birth is None:
        errors["birth_date"] = BIRTH_INVALID
    elif today is not None and birth >= today:
        errors["birth_date"] = BIRTH_FUTURE
    return errors, birth


def _today() -> dt.date:
    return runtime.now().date()


# ---- devices on the account page ------------------------------------------------------------------
_BROWSERS = (  # the first that matches names the browser (Chrome-based ones say "Chrome" too)
    ("SamsungBrowser/", "Samsung Internet"),
    ("Opera Mini", "Opera Mini"),
    ("OPR/", "Opera"),
    ("EdgA/", "Edge"),
    ("Edg/", "Edge"),
    ("UCBrowser/", "UC Browser"),
    ("MiuiBrowser/", "Mi Browser"),
    ("YaBrowser/", "Yandex"),
    ("FxiOS/", "Firefox"),
    ("Firefox/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)


def device_name(agent: str | None) -> str:
    """A short name a patient recognises for a browser's user agent: ``HP Android · Chrome``,
    ``Komputer Windows · Firefox``, ``iPhone · Safari``; ``Aplikasi`` for a program that is no
    browser (``python-requests/2.34.2``, ``okhttp/4.12``)."""
    agent = agent or ""
    if not agent.startswith("Mozilla/") and "Opera" not in agent:
        return "Aplikasi" if agent.strip() else "Peramban"
    if "Android" in agent:
        complete = "Safari/" in agent or "Firefox/" in agent  # a stored agent may be cut at 120 characters
        kind = "Tablet Android" if complete and "Mobile" not in agent else "HP Android"
    elif "iPhone" in agent or "iPod" in agent:
        kind = "iPhone"
    elif "iPad" in agent:
        kind = "iPad"
    elif "CrOS" in agent:
        kind = "Chromebook"
    elif "Windows" in agent:
        kind = "Komputer Windows"
    elif "Macintosh" in agent or "Mac OS X" in agent:
        kind = "Komputer Mac"
    elif "Linux" in agent or "X11" in agent:
        kind = "Komputer Linux"
    else:
        kind = "Peramban"
    if "; wv)" in agent:  # an app's built-in browser (WebView)
        return f"{kind} · aplikasi"
    browser = next((name for mark, name in _BROWSERS if mark in agent), "")
    if browser == "Safari" and "Version/" not in agent and kind in ("iPhone", "iPad"):
        browser = "aplikasi"  # an iOS app's web view: Safari's engine without Safari's name
    return f"{kind} · {browser}" if browser else kind


def app_name(name: str | None) -> str:
    """What an API token is called on the account page: the name the app gave (``Rosma
    Android``), or just ``Aplikasi`` when the name is a library's user agent."""
    name = " ".join((name or "").split())
    if not name or re.fullmatch(r"[\w.+-]+/[\w.+-]+(\s.*)?", name) or name.startswith("Mozilla/"):
        return "Aplikasi"
    return f"Aplikasi {name}"


def wib_time(moment: dt.datetime | None) -> str:
    """A stored (naive UTC) time as patients read it: ``2 Des 2026 09.15 WIB``."""
    if moment is None:
        return "-"
    local = moment.replace(tzinfo=dt.UTC).astimezone(WIB)
    return f"{local.day} {MONTH_NAMES[local.month - 1][:3]} {local.year} {local:%H.%M} WIB"


def _devices(patient) -> list[dict]:
    """Every browser and app signed in on the account, this browser first."""
    current = g.session_row.id
    rows = [
        {
            "kind": "session",
            "id": s.id,
            "name": device_name(s.device),
            "since": wib_time(s.created_at),
            "last": wib_time(s.last_seen),
            "current": s.id == current,
        }
        for s in identity.sessions_of(patient)
    ]
    rows.sort(key=lambda row: not row["current"])
    rows += [
        {
            "kind": "token",
            "id": t.id,
            "name": app_name(t.name),
            "since": wib_time(t.created_at),
            "last": wib_time(t.last_used) if t.last_used else "",
            "current": False,
        }
        for t in identity.tokens_of(patient)
    ]
    return rows


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
    """Registration form with the PIN; the answer never tells whether the NIK had an account.

    On success the login form is shown at once with the NIK and birth date she just typed (her own
    input, in her own browser; never in a URL)."""
    if g.patient is not None:
        return redirect(url_for("pages.home"))
    values = {name: "" for name in REGISTER_FIELDS}
    errors: dict[str, str] = {}
    error = None
    status = 200
    if request.method == "POST":
        values = {name: request.form.get(name, "").strip() for name in REGISTER_FIELDS}
        shown, birth = read_birth_date(values["birth_date"])
        form = {
            **values,
            "birth_date": birth.isoformat() if birth else values["birth_date"],
            "pin": request.form.get("pin", ""),
            "pin_again": request.form.get("pin_again", ""),
        }
        values["birth_date"] = shown
        try:
            identity.register(form, client(), now=runtime.now())
        except identity.Throttled as e:
            error, status = e.message, 429
        except identity.IdentityError as e:
            errors, status = dict(e.fields), 400
            if errors.get("birth_date") == "Tanggal lahir tidak valid.":
                errors["birth_date"] = BIRTH_INVALID
        else:
            login_values = {"nik": nikrules.normalise(values["nik"]), "birth_date": shown}
            return render_template(
                "login.html",
                values=login_values,
                errors={},
                error=None,
                next_url="",
                registered=identity.REGISTERED,
                focus="pin",
            )
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
        errors, birth = identity_fields(values)  # the form's shape only: the same for every NIK
        if not pin:
            errors["pin"] = "PIN wajib diisi."
        if not errors:
            try:
                patient = identity.login(values["nik"], birth.isoformat(), pin, client())
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
    return (
        render_template("login.html", values=values, errors=errors, error=error, next_url=next_url),
        status,
    )


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
    """Step 1: ask for a one-time code to the phone on file (or come with a code from the loket).

    A form with a missing or malformed NIK or date gets field errors; a well-formed one always
    gets the same answer (whether or not an account has that NIK), shown above the form of step
    2, already filled in with what she typed (the NIK is never put in a URL)."""
    values = {"nik": request.form.get("nik", "").strip(), "birth_date": request.form.get("birth_date", "").strip()}
    errors: dict[str, str] = {}
    error, status = None, 200
    if request.method == "POST":
        errors, birth = identity_fields(values, _today())
        if errors:
            status = 400
        else:
            try:
                message = identity.send_reset_code(
                    values["nik"], birth.isoformat(), client(), runtime.current().notifier
                )
            except identity.IdentityError as e:
                error, status = e.message, e.status
            else:
                return render_template(
                    "reset_pin.html", values=values, code="", errors={}, error=None, sent=message, focus="code"
                )
    return render_template("forgot_pin.html", values=values, errors=errors, error=error), status


@bp.route("/atur-pin", methods=["GET", "POST"])
def reset_pin():
    """Step 2: NIK, tanggal lahir, the code (sent to the phone, or from the loket) and a new PIN.

    ``step=isi`` (the "Saya punya kode dari loket" button of step 1) only opens the form with the
    NIK and date typed there."""
    values = {"nik": request.form.get("nik", "").strip(), "birth_date": request.form.get("birth_date", "").strip()}
    code = request.form.get("code", "").strip()[:16]
    errors: dict[str, str] = {}
    error, status = None, 200
    if request.method == "POST" and request.form.get("step") == "isi":
        identity_fields(values)
        return render_template("reset_pin.html", values=values, code="", errors={}, error=None, focus="code")
    if request.method == "POST":
        pin, again = request.form.get("pin", ""), request.form.get("pin_again", "")
        errors, birth = identity_fields(values, _today())
        if not code:
            errors["code"] = CODE_REQUIRED
        errors.update(identity.check_pin_fields(pin, again, birth))
        if errors:
            status = 400
        else:
            try:
                identity.reset_pin(values["nik"], birth.isoformat(), code, pin, again, client())
            except identity.IdentityError as e:
                errors, error, status = e.fields, (None if e.fields else e.message), e.status
            else:
                session.clear()
                return render_template(
                    "login.html",
                    values=values,
                    errors={},
                    error=None,
                    next_url="",
                    notice="PIN baru sudah disimpan. Silakan masuk dengan PIN baru Anda.",
                    focus="pin",
                )
    code = "" if errors.get("code") else code  # kept while another field is fixed; a wrong one is typed anew
    return render_template("reset_pin.html", values=values, code=code, errors=errors, error=error), status


def _account_page(errors: dict[str, str]) -> str:
    reach = current_app.extensions["rosma"].notifier.reaches_phones
    return render_template("account.html", devices=_devices(g.patient), errors=errors, reminders_reach=reach)


@bp.route("/akun/pengingat", methods=["POST"])
@login_required
def reminders():
    """The reminders she wants by WhatsApp / SMS: the day before a reservation, and when her turn is near."""
    day_before, near = request.form.get("besok") == "1", request.form.get("dekat") == "1"
    Patient.update(remind_day_before=day_before, remind_turn_near=near).where(Patient.id == g.patient.id).execute()
    log.info("patient %s reminders: day before %s, turn near %s", g.patient.id, day_before, near)
    flash("Pengingat disimpan." if day_before or near else "Pengingat dimatikan.", "ok")
    return redirect(url_for("auth.account") + "#reminders")


@bp.route("/akun", methods=["GET"])
@login_required
def account():
    """The account: change PIN, and every browser and app signed in, each can be ended."""
    return _account_page({})


@bp.route("/akun/pin", methods=["POST"])
@login_required
def change_pin():
    old, pin, again = (request.form.get(name, "") for name in ("old_pin", "pin", "pin_again"))
    errors = {} if old else {"old_pin": OLD_PIN_REQUIRED}
    errors.update(identity.check_pin_fields(pin, again, g.patient.birth_date))
    if not errors:
        try:
            identity.change_pin(g.patient, old, pin, again, keep_session=g.session_row.id)
        except identity.IdentityError as e:
            errors = dict(e.fields)
            if "old_pin" in errors:
                errors["old_pin"] = OLD_PIN_WRONG
    if errors:
        return _account_page(errors), 400
    flash("PIN sudah diganti. Perangkat lain yang masuk dengan akun ini sudah dikeluarkan.", "ok")
    return redirect(url_for("auth.account"))


@bp.route("/akun/perangkat/<int(max=2147483647):session_id>/keluar", methods=["POST"])
@login_required
def end_session(session_id: int):
    if session_id not in {s.id for s in identity.sessions_of(g.patient)}:
        raise http_error(404, "Perangkat tidak ditemukan.")
    identity.revoke_session(session_id)
    flash("Perangkat itu sudah dikeluarkan.", "ok")
    return redirect(url_for("auth.account"))


@bp.route("/akun/aplikasi/<int(max=2147483647):token_id>/keluar", methods=["POST"])
@login_required
def end_token(token_id: int):
    if not identity.revoke_token(g.patient, token_id):
        raise http_error(404, "Aplikasi tidak ditemukan.")
    flash("Aplikasi itu sudah dikeluarkan.", "ok")
    return redirect(url_for("auth.account"))
