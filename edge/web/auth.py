"""Who may do what at the edge: staff sign in (against the accounts central's feed brought, so
it works with no internet), kiosks are paired devices, screens are read-only.

- Every staff page and action needs a signed-in staff member whose role allows it: petugas loket
  at the lokets, petugas poli at their own poli, admin puskesmas / kabupaten everywhere, kepala
  puskesmas may look but not act. Sessions end after ``IDLE`` without use or ``LIFE`` at most.
- Every state-changing request carries this session's CSRF token (a form field, or the
  ``X-CSRF-Token`` header for the JSON API) and is refused when its Origin is another site.
- Kiosk pages and endpoints answer only a kiosk: a browser a staff member paired (a cookie whose
  key is stored hashed), or the node's own browser on 127.0.0.1 when ``kiosk_on_this_device``.
- TV pages, the board and the event stream are public and read-only.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import ipaddress
import logging
import secrets
import threading
import time
from collections import deque
from urllib.parse import urlsplit

from flask import Flask, current_app, g, jsonify, redirect, render_template, request, session, url_for

from edge.models import KioskDevice, Staff, StaffSession
from protocol import passwords

log = logging.getLogger(__name__)

IDLE = dt.timedelta(minutes=30)
LIFE = dt.timedelta(hours=10)
KIOSK_COOKIE = "rosma_anjungan"
CSRF_FIELD = "csrf_token"
ADMINS = frozenset({"admin_puskesmas", "admin_kabupaten"})
LOOKERS = frozenset({"kepala_puskesmas"})
# kiosk ticket issuing: a busy morning is a few a minute; a script printing paper is not
KIOSK_TICKETS_PER_MINUTE = 12
# kiosk ratings ("Bagaimana layanan kami?"): a queue of patients tapping one each, not a hand hammering
KIOSK_RATINGS_PER_MINUTE = 20
LOGIN_FREE_TRIES = 5


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def may_use(staff: Staff, counter_id: str) -> bool:
    """Whether a staff member may work at (or, for a kepala, look at) a counter."""
    if staff.role in ADMINS or staff.role in LOOKERS:
        return True
    if counter_id.startswith("loket-"):
        return staff.role == "petugas_loket"
    if counter_id.startswith("poli-"):
        return staff.role == "petugas_poli" and counter_id.removeprefix("poli-") in staff.polis.split(",")
    return False


def may_act(staff: Staff) -> bool:
    return staff.role not in LOOKERS


# ---- sessions -------------------------------------------------------------------------------------
def open_session(staff: Staff) -> str:
    key = secrets.token_urlsafe(32)
    now = utcnow()
    StaffSession.create(
        key_hash=passwords.token_hash(key),
        username=staff.username,
        created_at=now.isoformat(),
        last_seen=now.isoformat(),
        expires_at=(now + LIFE).isoformat(),
    )
    return key


def current_staff() -> Staff | None:
    key = session.get("sk")
    if not isinstance(key, str) or len(key) > 100:
        return None
    row = StaffSession.get_or_none(StaffSession.key_hash == passwords.token_hash(key))
    now = utcnow()
    if row is None or row.revoked or dt.datetime.fromisoformat(row.expires_at) <= now:
        return None
    if dt.datetime.fromisoformat(row.last_seen) <= now - IDLE:
        StaffSession.update(revoked=True).where(StaffSession.id == row.id).execute()
        return None
    staff = Staff.get_or_none((Staff.username == row.username) & Staff.active)
    if staff is None:
        return None
    StaffSession.update(last_seen=now.isoformat()).where(StaffSession.id == row.id).execute()
    g.staff_session = row
    return staff


def end_session() -> None:
    row = g.get("staff_session")
    if row is not None:
        StaffSession.update(revoked=True).where(StaffSession.id == row.id).execute()
    session.clear()


def end_sessions_of(username: str) -> None:
    StaffSession.update(revoked=True).where(StaffSession.username == username).execute()


class _Attempts:
    """Sign-in tries per address (one process per node: memory is enough here). A try is reserved
    before its password is checked, so tries sent all at once are not all judged."""

    def __init__(self):
        self._lock = threading.Lock()
        self._failures: dict[str, deque] = {}
        self._in_flight: dict[str, int] = {}

    def _wait(self, q: deque) -> float:
        if len(q) < LOGIN_FREE_TRIES:
            return 0.0
        return max(0.0, q[-1] + min(900, 15 * 2 ** (len(q) - LOGIN_FREE_TRIES)) - time.monotonic())

    def begin(self, address: str) -> float:
        """Reserve a try: 0 when it may go ahead (then call ``end``), else the seconds to wait."""
        with self._lock:
            q = self._failures.get(address, deque())
            while q and q[0] < time.monotonic() - 3600:
                q.popleft()
            wait = self._wait(q)
            if wait:
                return wait
            pending = self._in_flight.get(address, 0)
            if pending >= max(1, LOGIN_FREE_TRIES - len(q)):
                return 15.0  # as many tries are being checked as may still fail
            self._in_flight[address] = pending + 1
            return 0.0

    def end(self, address: str, ok: bool) -> None:
        with self._lock:
            left = self._in_flight.get(address, 1) - 1
            if left > 0:
                self._in_flight[address] = left
            else:
                self._in_flight.pop(address, None)
            if ok:
                self._failures.pop(address, None)
            else:
                self._failures.setdefault(address, deque()).append(time.monotonic())


def _attempts() -> _Attempts:
    rt = current_app.extensions["rosma"]
    if not hasattr(rt, "sign_in_attempts"):
        rt.sign_in_attempts = _Attempts()
    return rt.sign_in_attempts


class TooManyTries(ValueError):
    """Sign-in refused unchecked: too many tries from this address (HTTP 429)."""


def sign_in(username: str, password: str, address: str) -> Staff:
    """The active staff account; raises ValueError with an Indonesian message."""
    attempts = _attempts()
    wait = attempts.begin(address)
    if wait:
        raise TooManyTries(f"Terlalu banyak percobaan masuk. Coba lagi dalam {int(wait // 60) + 1} menit.")
    ok = False
    try:
        staff = Staff.get_or_none(Staff.username == (username or "").strip().lower()[:40])
        good = passwords.verify_secret(staff.password_hash if staff else None, password or "")  # same work if none
        ok = bool(good and staff and staff.active)
    finally:
        attempts.end(address, ok)
    if not ok:
        log.info("staff sign-in failed")
        raise ValueError("Nama pengguna atau kata sandi salah.")
    log.info("staff %s signed in", staff.username)
    return staff


# ---- CSRF and origin -------------------------------------------------------------------------------
def csrf_token() -> str:
    value = session.get(CSRF_FIELD)
    if not value:
        value = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = value
    return value


def _same_origin() -> bool:
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin:
        return True  # not a browser request from another page (browsers send Origin on cross-site POSTs)
    parts = urlsplit(origin)
    return parts.netloc == request.host


def _check_request() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if not _same_origin():
        log.warning("refused a cross-site %s to %r", request.method, request.path)
        _refuse(403, "Permintaan dari situs lain ditolak.")
    sent = request.headers.get("X-CSRF-Token") or request.form.get(CSRF_FIELD, "")
    expected = session.get(CSRF_FIELD, "")
    if request.endpoint in EXEMPT:
        return
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        log.warning("csrf check failed on %r", request.path)
        _refuse(400, "Sesi formulir tidak valid atau sudah kedaluwarsa. Muat ulang halaman lalu coba lagi.")


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _refuse(status: int, message: str):
    raise Refused(status, message)


# JSON endpoints that do not rely on the session cookie: the sign-in for scripts (it has no token
# yet) and the kiosk's (a kiosk is a paired device, its cookie SameSite=Strict, or the node
# itself; a JSON POST from another site needs a CORS preflight, which is never granted). The
# Origin check above still applies to them.
EXEMPT = frozenset({"api.staff_login", "api.walkin", "api.scan", "api.kiosk_rating"})


# ---- decorators ---------------------------------------------------------------------------------------
def staff_required(counter_arg: str | None = None, act: bool = False):
    """A signed-in staff member (whose role allows the counter named by the view's ``counter_arg``
    argument, and acting, when ``act``); others are sent to sign in (pages) or get 401/403 (API)."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            staff = current_staff()
            if staff is None:
                if request.path.startswith("/api/"):
                    _refuse(401, "Silakan masuk sebagai petugas terlebih dahulu.")
                return redirect(url_for("auth.login", next=request.path))
            g.staff = staff  # also for the refusal page (its way back to the counters)
            counter = kwargs.get(counter_arg) if counter_arg else None
            if counter is not None and not may_use(staff, counter):
                _refuse(403, "Peran Anda tidak boleh memakai loket/poli ini.")
            if (act or request.method == "POST") and not may_act(staff):
                _refuse(403, "Peran Anda hanya boleh melihat, tidak mengubah antrean.")
            return view(*args, **kwargs)

        return wrapped

    return decorate


def on_this_node() -> bool:
    """Whether the request comes from the node's own browser (127.0.0.1)."""
    return _loopback()


def _loopback() -> bool:
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def kiosk_device() -> str | None:
    """The kiosk this request comes from (its device id), or None."""
    if current_app.extensions["rosma"].config.kiosk_on_this_device and _loopback():
        return "local"
    key = request.cookies.get(KIOSK_COOKIE, "")
    if not key or len(key) > 100:
        return None
    row = KioskDevice.get_or_none((KioskDevice.key_hash == passwords.token_hash(key)) & ~KioskDevice.revoked)
    return f"kiosk-{row.id}" if row else None


def kiosk_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        device = kiosk_device()
        if device is None:
            _refuse(403, "Perangkat ini bukan anjungan. Petugas dapat memasangnya di halaman petugas > Anjungan.")
        g.kiosk = device
        return view(*args, **kwargs)

    return wrapped


class _Rate:
    """Tickets per kiosk per minute."""

    def __init__(self):
        self._lock = threading.Lock()
        self._hits: dict[str, deque] = {}

    def allow(self, device: str, per_minute: int) -> bool:
        now = time.monotonic()
        with self._lock:
            q = self._hits.setdefault(device, deque())
            while q and q[0] < now - 60:
                q.popleft()
            if len(q) >= per_minute:
                return False
            q.append(now)
            return True


def kiosk_may_issue() -> bool:
    """Whether this kiosk (``g.kiosk``) may take one more ticket this minute."""
    rt = current_app.extensions["rosma"]
    if not hasattr(rt, "kiosk_rate"):
        rt.kiosk_rate = _Rate()
    return rt.kiosk_rate.allow(g.kiosk, KIOSK_TICKETS_PER_MINUTE)


def kiosk_may_rate() -> bool:
    """Whether this kiosk (``g.kiosk``) may record one more rating this minute."""
    rt = current_app.extensions["rosma"]
    if not hasattr(rt, "kiosk_rating_rate"):
        rt.kiosk_rating_rate = _Rate()
    return rt.kiosk_rating_rate.allow(g.kiosk, KIOSK_RATINGS_PER_MINUTE)


def pair_kiosk(name: str, staff: Staff) -> str:
    """Make the current browser a kiosk; returns the cookie key (only its hash is stored)."""
    key = secrets.token_urlsafe(32)
    KioskDevice.create(
        key_hash=passwords.token_hash(key),
        name=(name or "Anjungan")[:60],
        paired_by=staff.username,
        created_at=utcnow().isoformat(),
    )
    log.info("staff %s paired a kiosk", staff.username)
    return key


def init_app(app: Flask) -> None:
    app.before_request(_check_request)
    app.jinja_env.globals["csrf_token"] = csrf_token

    @app.errorhandler(Refused)
    def refused(e: Refused):
        if request.path.startswith("/api/"):
            return jsonify({"error": e.message}), e.status
        return render_template(
            "error.html", title="Tidak diizinkan" if e.status == 403 else "Maaf", message=e.message
        ), e.status
