"""The back-office JSON API under /api/v1/bo (documented in central/openapi.yaml).

Staff sign in with ``POST /api/v1/bo/login`` (username and password, throttled like the web
sign-in) and get a bearer token that lasts 12 hours, stored as its SHA-256 hash (StaffToken);
``POST /api/v1/bo/logout`` ends it. Only the back office's viewers (admin kabupaten, admin
puskesmas, kepala puskesmas) get a token; each sees only their own puskesmas (admin kabupaten:
any, or all when ``puskesmas`` is left out).

Errors are ``{"error": "<Indonesian>", "fields": {...}}`` with a 4xx status.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import secrets

from flask import Blueprint, g, jsonify, request

from central import exports, identity, kpi, services
from central.models import Staff, StaffToken, utcnow
from central.web.backoffice import KABUPATEN, VIEWERS, pick, scope
from central.web.input import json_object
from protocol import passwords

log = logging.getLogger(__name__)

bp = Blueprint("bo_api", __name__, url_prefix="/api/v1/bo")

TOKEN_LIFE = dt.timedelta(hours=12)
TOUCH_EVERY = dt.timedelta(minutes=5)
PER_PAGE = 50
MAX_PER_PAGE = 500
ALL = "semua"


class ApiError(Exception):
    def __init__(self, status: int, message: str, fields: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.fields = status, message, fields or {}


@bp.errorhandler(ApiError)
def _api_error(e: ApiError):
    return jsonify({"error": e.message, "fields": e.fields}), e.status


@bp.errorhandler(identity.IdentityError)
def _identity_error(e: identity.IdentityError):
    response = jsonify({"error": e.message, "fields": e.fields})
    if isinstance(e, identity.Throttled):
        response.headers["Retry-After"] = str(e.retry_after)
    return response, e.status


def _bearer() -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def live_token(value: str) -> StaffToken | None:
    """The live token of an active back-office account for a bearer value, or None."""
    if not value or len(value) > 100:
        return None
    row = StaffToken.get_or_none(StaffToken.token_hash == passwords.token_hash(value))
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    staff = Staff.get_or_none(Staff.id == row.staff_id)
    if staff is None or not staff.active or staff.role not in VIEWERS:
        return None
    if row.last_used is None or row.last_used <= now - TOUCH_EVERY:
        StaffToken.update(last_used=now).where(StaffToken.id == row.id).execute()
    row.staff = staff
    return row


def staff_token(view):
    """Require a back-office bearer token; sets ``g.staff`` and ``g.staff_token`` or answers 401."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        value = _bearer()
        if not value:
            raise ApiError(401, "Silakan masuk terlebih dahulu (token tidak ada).")
        row = live_token(value)
        if row is None:
            raise ApiError(401, "Token tidak sah atau sudah kedaluwarsa. Silakan masuk lagi.")
        g.staff_token, g.staff = row, row.staff
        return view(*args, **kwargs)

    return wrapped


def _staff_json(staff: Staff) -> dict:
    return {
        "username": staff.username,
        "name": staff.name,
        "role": staff.role,
        "role_label": identity.ROLES.get(staff.role, staff.role),
        "puskesmas": staff.puskesmas.code if staff.puskesmas_id else None,
    }


@bp.post("/login")
def login():
    """Username and password for a 12-hour bearer token (back-office roles only)."""
    data = json_object()
    username, password = (data.get("username") or "").strip(), data.get("password") or ""
    fields = {}
    if not username:
        fields["username"] = "Nama pengguna wajib diisi."
    if not password:
        fields["password"] = "Kata sandi wajib diisi."
    if fields:
        raise ApiError(400, "Ada isian yang perlu diperbaiki.", fields)
    client = identity.Client(address=request.remote_addr or "")
    staff = identity.staff_login(username, password, client)
    if staff.role not in VIEWERS:
        raise ApiError(403, "Peran Anda tidak boleh memakai API back office.")
    value = secrets.token_urlsafe(32)
    name = str(data.get("device_name") or request.user_agent.string or "")[:120]
    row = StaffToken.create(
        token_hash=passwords.token_hash(value), staff=staff, name=name, expires_at=utcnow() + TOKEN_LIFE
    )
    log.info("staff %s got back-office API token %s", staff.id, row.id)
    return jsonify(
        {
            "token": value,
            "token_type": "Bearer",
            "expires_in": int(TOKEN_LIFE.total_seconds()),
            "staff": _staff_json(staff),
        }
    )


@bp.post("/logout")
@staff_token
def logout():
    """End this token at once."""
    StaffToken.update(revoked_at=utcnow()).where(StaffToken.id == g.staff_token.id).execute()
    return jsonify({"status": "logged_out"})


def _places() -> list:
    code = (request.args.get("puskesmas") or "").strip().lower()
    if len(code) > 32:
        raise ApiError(404, "Puskesmas tidak ditemukan.", {"puskesmas": "Puskesmas tidak ditemukan."})
    if code in ("", ALL) and g.staff.role in KABUPATEN:
        places = scope(g.staff)
        if not places:
            raise ApiError(404, "Belum ada puskesmas.")
        return places
    if code == ALL:
        raise ApiError(403, "Hanya Admin Dinas Kesehatan yang boleh melihat semua puskesmas.")
    return [pick(g.staff, code)]


def _filter(places: list) -> exports.VisitFilter:
    try:
        return exports.parse_filter(request.args, places, services.now_wib().date())
    except exports.FilterError as e:
        raise ApiError(400, "Ada saringan yang perlu diperbaiki.", e.fields) from None


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or len(raw) > 9 or not (low <= int(raw) <= high):
        raise ApiError(400, "Ada saringan yang perlu diperbaiki.", {name: f"Harus bilangan bulat {low} sampai {high}."})
    return int(raw)


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.replace(tzinfo=exports.WIB).isoformat()


def visit_json(v, names: exports.Names) -> dict:
    r = exports.visit_record(v, names)
    return {
        "label": v.label,
        "puskesmas": r["puskesmas"],
        "day": r["day"].isoformat(),
        "step": "pendaftaran" if (v.queue or "").startswith("REG-") else "poli",
        "queue": v.queue,
        "poli": v.poli,
        "poli_name": r["poli"],
        "payer": v.payer,
        "kind": v.kind or "walkin",
        "kind_label": r["kind"],
        "state": v.state,
        "state_label": r["state"],
        "slot": v.slot,
        "issued_at": _iso(r["issued"]),
        "called_at": _iso(r["called"]),
        "serving_at": _iso(r["serving"]),
        "done_at": _iso(r["done"]),
        "wait_minutes": r["wait"],
        "service_minutes": r["service"],
        "counter": r["counter"] or None,
        "staff": r["staff"] or None,
    }


@bp.get("/visits")
@staff_token
def visits():
    """Visits of a period (filters: puskesmas, from, to, poli, payer, state), paginated."""
    places = _places()
    f = _filter(places)
    page = _int_arg("page", 1, 1, 1_000_000)
    per_page = _int_arg("per_page", PER_PAGE, 1, MAX_PER_PAGE)
    total = exports.count_visits(f)
    names = exports.Names(f.puskesmas_ids)
    rows = exports.visit_page(f, (page - 1) * per_page, per_page)
    return jsonify(
        {
            "puskesmas": [p.code for p in places],
            "from": f.start.isoformat(),
            "to": f.end.isoformat(),
            "page": page,
            "per_page": per_page,
            "total": total,
            "pages": (total + per_page - 1) // per_page,
            "visits": [visit_json(v, names) for v in rows],
        }
    )


def _cell(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


@bp.get("/kpi")
@staff_token
def kpi_tables():
    """The KPI tables of a period (the dashboard's and the export's figures)."""
    if request.args.get("state"):
        raise ApiError(400, "Ada saringan yang perlu diperbaiki.", {"state": "Tabel KPI tidak disaring per status."})
    places = _places()
    f = _filter(places)
    try:
        report = kpi.report([p.id for p in places], f.start, f.end, poli=f.poli, payer=f.payer)
    except kpi.KpiError as e:
        raise ApiError(400, "Ada saringan yang perlu diperbaiki.", e.fields) from None
    return jsonify(
        {
            "puskesmas": [p.code for p in places],
            "from": f.start.isoformat(),
            "to": f.end.isoformat(),
            "poli": f.poli,
            "payer": f.payer,
            "tables": {
                key: {
                    "key": t.key,
                    "title": t.title,
                    "columns": list(t.columns),
                    "rows": [[_cell(c) for c in row] for row in t.rows],
                }
                for key, t in report.tables.items()
            },
        }
    )
