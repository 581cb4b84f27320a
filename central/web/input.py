"""Input a request carries, checked before anything uses it: a JSON body that parses (not too deep,
an object, no NUL characters: PostgreSQL refuses NUL in text), form and query values without NUL.

Bad input gets a clear Indonesian 400 and changes nothing.
"""

from __future__ import annotations

import json

from flask import Flask, request

from central.web.errors import http_error

MAX_DEPTH = 20
NUL_TEXT = "Data mengandung karakter yang tidak diizinkan (NUL). Periksa kembali isian Anda."
BAD_TEXT = "Data mengandung karakter yang tidak valid. Periksa kembali isian Anda."


def _encodable(text: str) -> bool:
    """False for a string holding a lone surrogate (JSON "\\ud800"): no database can store it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _depth(value, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def json_object() -> dict:
    """The request's JSON object with every value as text (or None); raises an HTTP error (415, 400)."""
    if not request.is_json:
        raise http_error(415, "Kirim data dalam format JSON (Content-Type: application/json).")
    raw = request.get_data(cache=True)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # deep nesting overflows the parser: RecursionError
        raise http_error(400, "Data JSON tidak valid. Kirim sebuah objek JSON.") from None
    if not isinstance(data, dict) or _depth(data) > 2:
        raise http_error(400, "Data JSON tidak valid. Kirim sebuah objek JSON berisi teks.")
    out = {}
    for key, value in data.items():
        if not isinstance(key, str):
            continue
        text = value if isinstance(value, str) or value is None else json.dumps(value)
        if (text and "\x00" in text) or "\x00" in key:
            raise http_error(400, NUL_TEXT)
        if not _encodable(key) or (text and not _encodable(text)):
            raise http_error(400, BAD_TEXT)
        out[key] = text
    return out


def _refuse_nul() -> None:
    if "\x00" in request.path:
        raise http_error(400, NUL_TEXT)
    for source in (request.args, request.form) if request.method in ("POST", "PUT", "PATCH") else (request.args,):
        for key, value in source.items(multi=True):
            if "\x00" in key or "\x00" in value:
                raise http_error(400, NUL_TEXT)


def init_app(app: Flask) -> None:
    app.before_request(_refuse_nul)
