"""API routes. Errors are ``{"error": "<Indonesian>", "fields": {...}}`` with an HTTP status."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, g, jsonify, request

from central import identity, runtime, services
from central.api import schema
from central.api.tokens import token_required
from central.web.errors import http_error
from central.web.input import json_object

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.errorhandler(services.ServiceError)
def _service_error(e: services.ServiceError):
    body = {"error": e.message, "fields": e.fields}
    outcome = getattr(e, "outcome", None)  # a BPJS booking refused for the membership BPJS reported
    if outcome is not None:
        body["bpjs"] = outcome.as_json()
    return jsonify(body), e.status


def _json_body() -> dict:
    return json_object()


@bp.errorhandler(identity.IdentityError)
def _identity_error(e: identity.IdentityError):
    response = jsonify({"error": e.message, "fields": e.fields})
    if isinstance(e, identity.Throttled):
        response.headers["Retry-After"] = str(e.retry_after)
    return response, e.status


def _days() -> int:
    return current_app.extensions["rosma.config"].booking_days


def _client() -> identity.Client:
    return identity.Client(
        address=request.remote_addr or "", device=str(request.headers.get("X-Rosma-Device", ""))[:64]
    )


@bp.post("/patients")
def register():
    """Register a patient with a PIN; the answer is the same whether or not the NIK had an account."""
    identity.register(_json_body(), _client(), now=runtime.now())
    return jsonify({"status": "accepted", "message": identity.REGISTERED}), 201


@bp.post("/login")
def login():
    """Exchange NIK + birth date + PIN for a bearer token (and the device mark to send next time)."""
    data = _json_body()
    patient = identity.login(data.get("nik") or "", data.get("birth_date") or "", data.get("pin") or "", _client())
    value, row = identity.issue_token(patient, name=str(data.get("device_name") or request.user_agent.string or ""))
    return jsonify(
        {
            "token": value,
            "token_type": "Bearer",
            "token_id": row.id,
            "expires_in": int(identity.TOKEN_LIFE.total_seconds()),
            "device": identity.device_mark(patient),
            "patient": schema.patient(patient),
        }
    )


@bp.post("/logout")
@token_required
def logout():
    """End this token (the app's session) at once."""
    identity.revoke_token(g.patient, g.token.id)
    return jsonify({"status": "logged_out"})


@bp.get("/tokens")
@token_required
def token_list():
    """Every app signed in on this account."""
    return jsonify({"tokens": [schema.token(t, current=t.id == g.token.id) for t in identity.tokens_of(g.patient)]})


@bp.delete("/tokens/<int(max=2147483647):token_id>")
@token_required
def token_revoke(token_id: int):
    """End one of the account's tokens."""
    if not identity.revoke_token(g.patient, token_id):
        raise http_error(404, "Token tidak ditemukan.")
    return jsonify({"status": "revoked"})


@bp.post("/pin")
@token_required
def pin_change():
    """Change the PIN (with the current one); every other token and web session ends."""
    data = _json_body()
    identity.change_pin(
        g.patient, data.get("old_pin") or "", data.get("pin") or "", data.get("pin") or "", keep_token=g.token.id
    )
    return jsonify({"status": "changed"})


@bp.post("/pin/forgot")
def pin_forgot():
    """Send a one-time code to the phone on file (the answer is the same whether the data matched)."""
    data = _json_body()
    message = identity.send_reset_code(
        data.get("nik") or "", data.get("birth_date") or "", _client(), runtime.current().notifier
    )
    return jsonify({"status": "sent_if_matching", "message": message}), 202


@bp.post("/pin/reset")
def pin_reset():
    """Set a new PIN with a one-time code (from the phone or the loket); every session ends."""
    data = _json_body()
    identity.reset_pin(
        data.get("nik") or "",
        data.get("birth_date") or "",
        data.get("code") or "",
        data.get("pin") or "",
        data.get("pin") or "",
        _client(),
    )
    return jsonify({"status": "changed"})


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
        client=request.remote_addr or "",
        source="api",
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


@bp.post("/reservations/<rid>/umum")
@token_required
def reservation_umum(rid: str):
    """Book one of the patient's BPJS reservations as Umum instead (a new QR; same place and hour)."""
    return jsonify({"reservation": schema.reservation(services.switch_to_umum(g.patient, rid, now=runtime.now()))})


# ---- kritik & saran (central.feedback) -----------------------------------------------------------
@bp.post("/feedback")
@token_required
def feedback_create():
    """Send a kritik & saran (rating 1-5, text, the puskesmas, optionally one of one's visits)."""
    from central import feedback

    data = _json_body()
    fb = feedback.submit(
        g.patient,
        data.get("puskesmas") or "",
        data.get("rating"),
        data.get("text") or "",
        rid=data.get("rid") or None,
        source="app",
        client=request.remote_addr or "",
        now=runtime.now(),
    )
    return jsonify({"feedback": feedback.to_json(fb, feedback.visits_by_rid([fb.rid]).get(fb.rid))}), 201


@bp.get("/feedback")
@token_required
def feedback_list():
    """The patient's kritik & saran, latest first, with the puskesmas's answers."""
    from central import feedback

    rows = feedback.mine(g.patient)
    visits = feedback.visits_by_rid(fb.rid for fb in rows)
    return jsonify({"feedback": [feedback.to_json(fb, visits.get(fb.rid)) for fb in rows]})
