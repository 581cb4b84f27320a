"""HTTP plumbing shared by the WhatsApp and SMS adapters: one POST with finite timeouts, no retries,
no redirects, and secrets kept out of logs and error texts.

Why the care: a token can sit in a URL (an SMS gateway with ``auth=query:apikey``), and urllib3 logs
every request line at DEBUG, requests' exceptions quote the URL, and a ``~/.netrc`` entry would
silently replace an Authorization header. So every secret an adapter holds is registered here and
masked in urllib3's log records; transport errors are re-raised ``from None`` with a scrubbed
detail; every request passes an explicit ``auth`` object, which keeps requests from reading netrc.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

import requests
from requests.auth import AuthBase

from infra.notify.base import MSG_FAILED, MSG_TRY_LATER, REASON_FAILED, REASON_UNAVAILABLE, NotifyError, mask_phone

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
USER_AGENT = "Rosma-notify/1"
_DETAIL_MAX = 300

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


class _RedactFilter(logging.Filter):
    """Masks registered secrets in records of the logger it sits on (urllib3 logs URLs with queries)."""

    def filter(self, record: logging.LogRecord) -> bool:
        with _secrets_lock:
            known = tuple(_secrets)
        if known:
            message = record.getMessage()
            cleaned = redact(message, known)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


_filter = _RedactFilter()
for _name in ("urllib3.connectionpool", "urllib3.util.retry", "requests"):
    logging.getLogger(_name).addFilter(_filter)


def register_secret(secret: str) -> None:
    """Mask ``secret`` (and its URL-encoded form) in urllib3's and requests' log records from now on."""
    if secret:
        with _secrets_lock:
            _secrets.add(secret)
            _secrets.add(requests.utils.quote(secret, safe=""))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by "***"."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return text


class HeaderAuth(AuthBase):
    """Sets one header to a fixed value (``Authorization: Bearer ...``, ``X-Api-Key: ...``)."""

    def __init__(self, name: str, value: str) -> None:
        self._name, self._value = name, value

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers[self._name] = self._value
        return r

    def __repr__(self) -> str:
        return f"<HeaderAuth {self._name}: ***>"


class NoAuth(AuthBase):
    """No header; passed anyway so that requests never falls back to ~/.netrc credentials."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


class Poster:
    """POSTs to one URL with a finite timeout and maps transport failures to NotifyError.

    ``loopback`` (a stand-in on 127.0.0.1) ignores proxy and CA settings from the environment; a
    real host honours HTTPS_PROXY, NO_PROXY and REQUESTS_CA_BUNDLE as requests does. One
    requests.Session per thread keeps TLS connections alive between messages.
    """

    def __init__(self, url: str, timeout: float, secrets: Iterable[str], *, loopback: bool) -> None:
        self.url = url
        self.timeout = timeout
        raw = [s for s in secrets if s]
        self._secrets = tuple({*raw, *(requests.utils.quote(s, safe="") for s in raw)})
        self._loopback = loopback
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        for secret in raw:
            register_secret(secret)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = not self._loopback
            session.headers["User-Agent"] = USER_AGENT
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        """Close every thread's connections; a later post() opens new ones."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        self._local = threading.local()
        for session in sessions:
            session.close()

    def post(self, *, auth: AuthBase, phone: str, **kwargs: Any) -> requests.Response:
        """One POST (``json=``, ``data=``, ``params=``, ``headers=`` as in requests).

        Raises NotifyError (retryable) on a timeout or connection failure, and (not retryable)
        on any other transport error or a redirect, which is never followed: it would carry the
        token elsewhere.
        """
        try:
            response = self._session().post(
                self.url,
                auth=auth,
                timeout=(self.timeout, self.timeout),
                allow_redirects=False,
                **kwargs,
            )
        except requests.Timeout:
            raise NotifyError(
                MSG_TRY_LATER,
                retryable=True,
                reason=REASON_UNAVAILABLE,
                detail=f"no answer within {self.timeout:g} s",
            ) from None
        except requests.ConnectionError as exc:
            raise NotifyError(
                MSG_TRY_LATER,
                retryable=True,
                reason=REASON_UNAVAILABLE,
                detail=self.scrub(f"connection failed: {type(exc).__name__}: {exc}", phone),
            ) from None
        except requests.RequestException as exc:
            raise NotifyError(
                MSG_FAILED,
                retryable=False,
                reason=REASON_FAILED,
                detail=self.scrub(f"request failed: {type(exc).__name__}: {exc}", phone),
            ) from None
        if 300 <= response.status_code < 400:
            raise NotifyError(
                MSG_FAILED,
                retryable=False,
                reason=REASON_FAILED,
                detail=f"HTTP {response.status_code}: redirects are not followed",
            )
        return response

    def scrub(self, text: str, phone: str = "") -> str:
        """``text`` without secrets, ``phone`` ("08..." form) masked in any of its forms, at most 300 chars."""
        text = redact(text, self._secrets)
        if phone.startswith("0") and len(phone) >= 9:
            tail = phone[1:]
            for form in ("+62" + tail, "62" + tail, phone, tail):
                text = text.replace(form, mask_phone(phone))
        return text if len(text) <= _DETAIL_MAX else text[: _DETAIL_MAX - 1] + "…"


def json_body(response: requests.Response) -> Any:
    """The response's JSON, or None when the body is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None
