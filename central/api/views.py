"""API routes. Errors are ``{"error": "<Indonesian>", "fields": {...}}`` with an HTTP status."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, g, jsonify, request

from central import runtime, services
from central.api import schema, tokens
from central.api.tokens import token_required
from central.web.errors import http_error

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.errorhandler(services.ServiceError)
def _service_error(e: services.ServiceError):
    return jsonify({"error": e.message, "fields": e.fields}), e.status


def _json_body() -> dict:
    if not request.is_json:
        raise http_error(415, "Kirim data dalam format JSON (Content-Type: application/json).")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise http_error(400, "Data JSON tidak valid. Kirim sebuah objek JSON.")
    return {k: v if isinstance(v, str) or v is None else str(v) for k, v in data.items()}


def _days() -> int:
    return current_app.extensions["rosma.config"].booking_days


@bp.post("/patients")
def register():
    """Register a patient."""
    patient = services.register_patient(_json_body(), now=runtime.now())
    return jsonify({"patient": schema.patient(patient)}), 201


@bp.post("/login")
def login():
    """Exchange NIK + birth date for a bearer token."""
    data = _json_body()
    patient = services.login(
        data.get("nik") or "",
        data.get("birth_date") or "",
        client=request.remote_addr or "",
        guard=runtime.current().login_guard,
    )
    if patient is None:
        raise http_error(401, services.LOGIN_FAILED)
    return jsonify(
        {
            "token": tokens.issue(patient.id),
            "token_type": "Bearer",
            "expires_in": tokens.MAX_AGE,
            "patient": schema.patient(patient),
        }
    )


@bp.get("/me")
@token_required
def me():
    """The logged-in patient."""
    return jsonify({"patient": schema.patient(g.patient)})


@bp.get("/puskesmas")
def puskesmas_list():
    """Every puskesmas with its poli."""
    return jsonify({"puskesmas": [schema.puskesmas(p) for p in services.list_puskesmas()]})


@bp.get("/puskesmas/<code>/slots")
def slots(code: str):
    """Remaining quota per slot for one poli and date."""
    poli = request.args.get("poli", "").strip()
    date = request.args.get("date", "").strip()
    fields = {}
    if not poli:
        fields["poli"] = "Pilih poli."
    if not date:
        fields["date"] = "Pilih tanggal."
    if fields:
        raise services.ValidationError(fields)
    return jsonify(services.slot_availability(code, poli, date, _days(), now=runtime.now()))


@bp.post("/reservations")
@token_required
def reservation_create():
    """Book a slot; the answer includes the signed QR text."""
    data = _json_body()
    r = services.reserve(
        g.patient,
        data.get("puskesmas") or "",
        data.get("poli") or "",
        data.get("date") or "",
        data.get("slot") or "",
        data.get("payer") or "",
        data.get("bpjs_no"),
        days=_days(),
        now=runtime.now(),
    )
    return jsonify({"reservation": schema.reservation(r, with_qr=True)}), 201


@bp.get("/reservations")
@token_required
def reservation_list():
    """The patient's reservations, latest first."""
    return jsonify({"reservations": [schema.reservation(r) for r in services.history(g.patient)]})


@bp.get("/reservations/<rid>")
@token_required
def reservation_get(rid: str):
    """One of the patient's reservations, with its QR text."""
    return jsonify({"reservation": schema.reservation(services.get_reservation(g.patient, rid), with_qr=True)})


@bp.get("/reservations/<rid>/qr.png")
@token_required
def reservation_qr(rid: str):
    """The reservation's QR code as a PNG."""
    r = services.get_reservation(g.patient, rid)
    response = Response(services.qr_png(r.qr_text), mimetype="image/png")
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/reservations/<rid>/cancel")
@token_required
def reservation_cancel(rid: str):
    """Cancel one of the patient's reservations."""
    return jsonify({"reservation": schema.reservation(services.cancel(g.patient, rid, now=runtime.now()))})
