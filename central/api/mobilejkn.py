"""The web service BPJS's Mobile JKN calls, one per puskesmas, under ``/api/mobilejkn/<puskesmas>``.

The contract is BPJS's (docs/bpjs.md, "Mobile JKN web service"): ``GET auth`` with ``x-username``
and ``x-password`` gives a token; every other call sends ``x-token`` and ``x-username``. Every
answer is HTTP 200 with ``{"response": {...}, "metadata": {"message": "Ok", "code": 200}}``, or
``{"metadata": {"message": "<reason>", "code": 201}}`` for anything refused: a bad or missing
token, a bad body, an unknown path or method, and even a fault of ours (never a 500 or an HTML
page). The rules are in ``central.mobilejkn``.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, current_app, g, jsonify, request
from peewee import OperationalError
from werkzeug.exceptions import HTTPException

from central import limits, runtime
from central import mobilejkn as service
from central.mobilejkn import MobileJknError
from central.models import Puskesmas

log = logging.getLogger(__name__)

bp = Blueprint("mobilejkn", __name__, url_prefix="/api/mobilejkn/<puskesmas>")

AUTH_FAILURES = limits.Limit("mjkn-auth", allowed=10, window_s=300)  # per puskesmas and address
MAX_FIELD = 200
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def ok(response: dict | None = None):
    body = {"response": response, "metadata": {"message": "Ok", "code": 200}}
    if response is None:
        del body["response"]
    return jsonify(body)


def refused(message: str, code: int = 201):
    return jsonify({"metadata": {"message": message, "code": code}})


@bp.errorhandler(MobileJknError)
def _refused(e: MobileJknError):
    return refused(e.message, e.code)


@bp.errorhandler(HTTPException)
def _http(e: HTTPException):
    messages = {
        404: "Layanan tidak dikenal.",
        405: "Metode tidak didukung untuk layanan ini.",
        413: "Data terlalu besar.",
    }
    message = getattr(e, "rosma_message", None) or messages.get(e.code or 0, "Permintaan tidak valid.")
    log.info("Mobile JKN request refused: %s %r -> %s", request.method, request.path, e.code)
    return refused(message)


@bp.errorhandler(Exception)
def _fault(e: Exception):
    if isinstance(e, OperationalError):
        log.warning("database busy on Mobile JKN %s %r: %s", request.method, request.path, e)
        return refused("Sistem sedang sibuk. Tidak ada yang berubah; coba lagi sebentar lagi.")
    log.exception("unhandled error on Mobile JKN %s %r", request.method, request.path)
    return refused("Terjadi kesalahan pada sistem puskesmas. Silakan coba lagi beberapa saat lagi.")


@bp.url_value_preprocessor
def _place(_endpoint, values):
    g.mjkn_code = str((values or {}).pop("puskesmas", "") or "").strip().lower()[:32]
    # keep the raw body before anything parses it as a form: clients of BPJS's services send
    # JSON text labelled application/x-www-form-urlencoded
    request.get_data(cache=True)


def _context():
    """The puskesmas and its Mobile JKN account; raises MobileJknError when either is missing."""
    place = Puskesmas.get_or_none(Puskesmas.code == g.mjkn_code) if g.get("mjkn_code") else None
    if place is None:
        raise MobileJknError("Puskesmas tidak ditemukan.")
    acct = service.account(current_app.extensions["rosma.config"].mobilejkn_accounts, place.code)
    if acct is None:
        raise MobileJknError("Layanan Mobile JKN belum diaktifkan untuk puskesmas ini.")
    return place, acct


def _header(name: str) -> str:
    return str(request.headers.get(name, "") or "").strip()[:MAX_FIELD]


def _authorised():
    place, acct = _context()
    username, token = _header("x-username"), _header("x-token")
    if not username or not token:
        raise MobileJknError("Header x-token dan x-username wajib diisi.")
    service.check_token(place, acct, username, token)
    return place, acct


def _body() -> dict:
    """The JSON object sent, whatever its Content-Type says; values as text (or None)."""
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise MobileJknError("Format data tidak valid: kirim sebuah objek JSON.")
    out = {}
    for key, value in data.items():
        if isinstance(value, dict | list):
            raise MobileJknError(f"Isian {str(key)[:40]} tidak valid.")
        text = value if isinstance(value, str) or value is None else json.dumps(value)
        if text is not None and ("\x00" in text or len(text) > MAX_FIELD):
            raise MobileJknError(f"Isian {str(key)[:40]} tidak valid.")
        out[str(key)] = text
    return out


def _days() -> int:
    return current_app.extensions["rosma.config"].booking_days


@bp.route("/auth", methods=["GET", "POST"])
def auth():
    """A token for BPJS's account (``x-username``, ``x-password``)."""
    place, acct = _context()
    username, password = _header("x-username"), _header("x-password")
    if not username or not password:
        raise MobileJknError("Header x-username dan x-password wajib diisi.")
    who = limits.who(request.remote_addr or "")
    try:
        limits.hit(AUTH_FAILURES, place.code, who)
    except limits.Limited as exc:
        raise MobileJknError(f"Terlalu banyak percobaan masuk. Coba lagi dalam {exc.minutes} menit.") from None
    token = service.issue_token(place, acct, username, password)
    limits.release(AUTH_FAILURES, place.code, who)
    return ok({"token": token})


@bp.get("/antrean/status/<kodepoli>/<tanggalperiksa>")
def status(kodepoli: str, tanggalperiksa: str):
    """The poli's queue on a day: total, remaining, the number called last."""
    place, acct = _authorised()
    now = runtime.now()
    poli = service.poli_for(place, acct, kodepoli)
    day = service.parse_day(tanggalperiksa, now.date(), _days())
    return ok(service.status(place, poli, day, now.date()))


@bp.post("/antrean")
def ambil():
    """Ambil antrean: Mobile JKN's booking becomes a reservation (the kode booking is its rid)."""
    place, acct = _authorised()
    body = _body()
    now = runtime.now()
    poli = service.poli_for(place, acct, body.get("kodepoli"))
    reservation, number = service.ambil(place, poli, body, _days(), now)
    return ok(service.booked(reservation, number, now.date()))


@bp.get("/antrean/sisapeserta/<nomorkartu>/<kodepoli>/<tanggalperiksa>")
def sisa(nomorkartu: str, kodepoli: str, tanggalperiksa: str):
    """A member's place in the poli's queue on a day."""
    place, acct = _authorised()
    now = runtime.now()
    poli = service.poli_for(place, acct, kodepoli)
    day = service.parse_day(tanggalperiksa, now.date(), _days())
    return ok(service.sisa(place, poli, nomorkartu, day, now.date()))


@bp.route("/antrean/batal", methods=["PUT", "POST"])
def batal():
    """Batal antrean: cancel the member's booking at a poli on a day."""
    place, acct = _authorised()
    body = _body()
    now = runtime.now()
    poli = service.poli_for(place, acct, body.get("kodepoli"))
    day = service.parse_day(body.get("tanggalperiksa"), now.date(), _days())
    service.batal(place, poli, body.get("nomorkartu") or "", day, now)
    return ok()


@bp.post("/peserta")
def peserta():
    """Pasien baru: not needed here, a booking by NIK needs no registration first."""
    _authorised()
    _body()
    raise MobileJknError("Pasien tidak perlu didaftarkan terlebih dahulu: langsung ambil antrean dengan NIK.")


@bp.route("/", methods=ALL_METHODS)
@bp.route("/<path:_rest>", methods=ALL_METHODS)
def unknown(_rest: str = ""):
    """Any other path or method under the prefix: the contract's refusal, not an HTML page."""
    raise MobileJknError("Layanan tidak dikenal.")
