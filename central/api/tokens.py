"""Bearer tokens for the API: random, stored as hashes (``central.identity``), revocable."""

from __future__ import annotations

import functools

from flask import g, request

from central import identity
from central.web.errors import http_error


def bearer() -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def token_required(view):
    """Require ``Authorization: Bearer <token>``; sets ``g.patient`` and ``g.token`` or answers 401."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        value = bearer()
        if not value:
            raise http_error(401, "Silakan masuk terlebih dahulu (token tidak ada).")
        row = identity.token(value)
        if row is None:
            raise http_error(401, "Token tidak sah atau sudah kedaluwarsa. Silakan masuk lagi.")
        g.token = row
        g.patient = row.patient
        return view(*args, **kwargs)

    return wrapped
