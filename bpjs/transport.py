"""Signed HTTP requests to a BPJS service and the envelope of its answers.

Each request reads the clock once: that one ``X-timestamp`` is signed and later derives the key
that decrypts the answer. Answers are ``{"metaData"|"metadata": {"code", "message"}, "response"}``;
the code may be a number or a string and wins over the HTTP status, which is used only when the
body has no metadata. Plain HTTP (http.client) is used on purpose: it logs nothing, so the card
numbers and NIKs in PCare's URL paths never reach a log. TLS certificates are verified.
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bpjs import errors as e
from bpjs.config import BpjsConfig
from bpjs.crypto import DecryptError, authorization, ciphertext_bytes, decrypt_payload, signature
from bpjs.errors import mask_numbers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Envelope:
    """One answer: its metadata code and message, the raw ``response`` and the request's timestamp."""

    code: int | None
    message: str
    raw: Any
    http_status: int
    timestamp: str
    has_response: bool = True

    @property
    def empty(self) -> bool:
        """No payload at all (missing, null, "" or an empty list/object)."""
        return self.raw in (None, "", [], {})


def metadata_code(value: Any) -> int | None:
    """``200``, ``"200"`` and ``" 200 "`` all give 200; anything else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def parse_envelope(status: int, body: bytes, timestamp: str = "") -> Envelope:
    """Read an answer body; BpjsMalformed / BpjsUnavailable / BpjsAuthError when it has no envelope.

    A body without JSON metadata is judged by its HTTP status: 5xx is BPJS failing, 401/403 a
    refusal, 404 a wrong address, anything else an unreadable answer (e.g. a gateway's HTML page).
    """
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        data = None
    meta = None
    if isinstance(data, dict):
        meta = data.get("metaData", data.get("metadata"))
    if not isinstance(meta, dict):
        raise _by_status(status, "the answer has no JSON metadata")
    code = metadata_code(meta.get("code"))
    message = meta.get("message")
    return Envelope(
        code=code if code is not None else status,
        message=message if isinstance(message, str) else "",
        raw=data.get("response"),
        http_status=status,
        timestamp=timestamp,
        has_response="response" in data,
    )


def _by_status(status: int, detail: str) -> e.BpjsError:
    detail = f"{detail} (HTTP {status})"
    if status >= 500:
        return e.BpjsUnavailable(e.MSG_SERVER.format(code=status), kind="server", code=status, detail=detail)
    if status in (401, 403):
        return e.BpjsAuthError(e.MSG_AUTH.format(code=status, reason=""), code=status, detail=detail)
    if status == 404:
        return e.BpjsError(e.MSG_NOT_FOUND_URL, code=status, detail=detail)
    return e.BpjsMalformed(e.MSG_MALFORMED, code=status, detail=detail)


def error_for(env: Envelope) -> e.BpjsError:
    """The exception for a metadata code that is not a success."""
    code = env.code
    reason = mask_numbers(env.message.strip()) or "tanpa keterangan"
    detail = f"metadata code {code}, message {reason!r} (HTTP {env.http_status})"
    if code in (401, 403):
        return e.BpjsAuthError(e.MSG_AUTH.format(code=code, reason=f": {reason}"), code=code, detail=detail)
    if code in (408, 504):
        return e.BpjsUnavailable(e.MSG_TIMEOUT, kind="timeout", code=code, detail=detail)
    if code is not None and code >= 500:
        return e.BpjsUnavailable(e.MSG_SERVER.format(code=code), kind="server", code=code, detail=detail)
    return e.BpjsRejected(
        e.MSG_REJECTED.format(code=code, reason=reason), code=code, bpjs_message=reason, detail=detail
    )


class BpjsTransport:
    """Sends signed requests to one BPJS service (a base URL and its user key)."""

    def __init__(
        self,
        config: BpjsConfig,
        base_url: str,
        user_key: str,
        *,
        send_authorization: bool,
        clock: Callable[[], float] = time.time,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the BPJS base URL must be http(s)://host/path")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path
        self._user_key = user_key
        self._send_authorization = send_authorization
        self._clock = clock
        self._ssl = ssl_context

    def headers(self, timestamp: str) -> dict[str, str]:
        """The signed headers for a request made at ``timestamp`` (Unix seconds as a string)."""
        cfg = self.config
        h = {
            "X-cons-id": cfg.cons_id,
            "X-timestamp": timestamp,
            "X-signature": signature(cfg.cons_id, cfg.secret, timestamp),
            "user_key": self._user_key,
            "Accept": "application/json",
        }
        if self._send_authorization:
            h["X-authorization"] = authorization(cfg.pcare_username, cfg.pcare_password, cfg.app_code)
        return h

    def send(self, method: str, path: str, body: Any = None, content_type: str = "") -> Envelope:
        """One request; returns the envelope whatever its metadata code.

        Raises BpjsUnavailable (time-out, unreachable, 5xx without metadata), BpjsAuthError
        (401/403 without metadata) or BpjsMalformed (no readable envelope).
        """
        timestamp = str(int(self._clock()))
        headers = self.headers(timestamp)
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = content_type or "text/plain"
        else:
            headers["Content-Type"] = "application/json; charset=utf-8"
        shown = mask_numbers(path)
        started = time.monotonic()
        status, raw = self._exchange(method, self._prefix + "/" + path.lstrip("/"), data, headers, shown)
        log.debug("BPJS %s %s: HTTP %d in %.0f ms", method, shown, status, (time.monotonic() - started) * 1000)
        return parse_envelope(status, raw, timestamp)

    def _exchange(self, method: str, target: str, data: bytes | None, headers: dict, shown: str) -> tuple[int, bytes]:
        cfg = self.config
        if self._https:
            context = self._ssl or ssl.create_default_context()
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self._host, self._port, timeout=cfg.connect_timeout, context=context
            )
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=cfg.connect_timeout)
        try:
            try:
                conn.connect()
            except TimeoutError as exc:
                raise self._fail("timeout", f"connect to {self._host} timed out", method, shown) from exc
            except (OSError, ssl.SSLError) as exc:
                raise self._fail("unreachable", f"cannot connect to {self._host}: {exc}", method, shown) from exc
            conn.sock.settimeout(cfg.read_timeout)
            try:
                conn.request(method, target, body=data, headers=headers)
                response = conn.getresponse()
                raw = response.read(cfg.max_response_bytes + 1)
            except TimeoutError as exc:
                raise self._fail("timeout", f"no answer within {cfg.read_timeout:g} s", method, shown) from exc
            except (OSError, http.client.HTTPException) as exc:
                raise self._fail("unreachable", f"connection failed: {type(exc).__name__}", method, shown) from exc
            if len(raw) > cfg.max_response_bytes:
                raise e.BpjsMalformed(e.MSG_MALFORMED, detail=f"answer over {cfg.max_response_bytes} bytes")
            return response.status, raw
        finally:
            conn.close()

    def _fail(self, kind: str, detail: str, method: str, shown: str) -> e.BpjsUnavailable:
        message = e.MSG_TIMEOUT if kind == "timeout" else e.MSG_UNREACHABLE
        err = e.BpjsUnavailable(message, kind=kind, detail=f"{method} {shown}: {detail}")
        log.warning("%s", err.log_text())
        return err

    def decrypt(self, env: Envelope) -> Any:
        """The payload of a successful answer: decrypted if it is ciphertext, else as sent.

        Raises BpjsMalformed when something that looks like ciphertext does not decrypt with the
        key of this request (wrong secret at BPJS, a damaged answer).
        """
        if ciphertext_bytes(env.raw) is None:
            return env.raw
        try:
            return decrypt_payload(env.raw, self.config.cons_id, self.config.secret, env.timestamp)
        except DecryptError as exc:
            raise e.BpjsMalformed(e.MSG_MALFORMED, code=env.code, detail=f"response does not decrypt: {exc}") from exc
