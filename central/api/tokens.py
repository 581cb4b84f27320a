"""Bearer tokens for the API: a signed, timed patient id (itsdangerous)."""

from __future__ import annotations

import functools

from flask import current_app, g, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from central import services
from central.web.errors import http_error

MAX_AGE = 30 * 24 * 3600  # seconds
SALT = "rosma.api.token.v1"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def issue(patient_id: int) -> str:
    """A token for this patient, valid for 30 days."""
    return _serializer().dumps({"p": patient_id})


def patient_from_token(token: str):
    """The patient a token names, or None if it is forged, expired or the patient is gone."""
    try:
        data = _serializer().loads(token, max_age=MAX_AGE)
    except BadSignature:  # SignatureExpired is a subclass
        return None
    if not isinstance(data, dict) or not isinstance(data.get("p"), int):
        return None
    return services.get_patient(data["p"])


def token_required(view):
    """Require ``Authorization: Bearer <token>``; sets ``g.patient`` or answers 401."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise http_error(401, "Silakan masuk terlebih dahulu (token tidak ada).")
        patient = patient_from_token(token.strip())
        if patient is None:
            raise http_error(401, "Token tidak sah atau sudah kedaluwarsa. Silakan masuk lagi.")
        g.patient = patient
        return view(*args, **kwargs)

    return wrapped
