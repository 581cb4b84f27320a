"""A generic HTTP SMS gateway: one POST with the destination number and the text.

Most SMS gateways sold in Indonesia take exactly that: a POST of a number and a message, as JSON
or as a form, with an API key in a header, in the query, in the body, or as a bearer or basic
credential. ``SmsOptions`` names the parts; none of it is specific to one provider, so check the
gateway's own API page for its field names. A gateway that needs a nested body (a list of
destinations), a signature over the request, or that reports failures inside a 2xx answer needs
an adapter of its own.

Success is any 2xx. The message id is read from the JSON answer: ``id_field`` (a dotted path such
as ``data.id`` or ``messages.0.id``) when given, else the first of "message_id", "messageId",
"id" present at the top level; "" when there is none. 429 and 5xx are retryable NotifyErrors,
every other status a NotifyError that is not.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from requests.auth import AuthBase, HTTPBasicAuth

from infra.notify.base import (
    DEFAULT_TIMEOUT,
    MSG_FAILED,
    MSG_TRY_LATER,
    REASON_FAILED,
    REASON_UNAVAILABLE,
    Notification,
    Notifier,
    NotifyError,
    e164,
    international,
    local_phone,
    mask_phone,
)
from infra.notify.transport import LOOPBACK_HOSTS, HeaderAuth, NoAuth, Poster, json_body

logger = logging.getLogger(__name__)

FORMATS = ("json", "form")
NUMBER_FORMS = {"intl": international, "e164": e164, "local": local_phone}  # 628..., +628..., 08...
AUTH_KINDS = ("bearer", "header", "query", "body", "basic")
DEFAULT_ID_KEYS = ("message_id", "messageId", "id")

_FIELD = re.compile(r"^[A-Za-z0-9_.\[\]-]{1,64}$")
_HEADER = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_USER = re.compile(r"^[^:\s]{1,128}$")


@dataclass(frozen=True)
class SmsOptions:
    """How one gateway wants its request. Raises ValueError naming the option that is wrong.

    ``auth``: "bearer" (``Authorization: Bearer <token>``), "header:<Name>" (``<Name>: <token>``),
    "query:<name>" (``?<name>=<token>``), "body:<name>" (a body field), "basic:<user>" (HTTP
    basic, the token as password). ``number``: "intl" (628...), "e164" (+628...), "local" (08...).
    ``fields``: constant body fields, e.g. (("sender", "ROSMA"),).
    """

    to_field: str = "to"
    text_field: str = "message"
    format: str = "json"
    auth: str = "bearer"
    number: str = "intl"
    id_field: str = ""
    fields: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        for name in ("to_field", "text_field"):
            if not _FIELD.match(getattr(self, name)):
                value = getattr(self, name)
                raise ValueError(f"{name} must be a field name (letters, digits, _ . - [ ]), got {value!r}")
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.number not in NUMBER_FORMS:
            raise ValueError(f"number must be one of {', '.join(NUMBER_FORMS)}, got {self.number!r}")
        if self.id_field and not all(part for part in self.id_field.split(".")):
            raise ValueError(f"id_field must be a dotted path such as data.id, got {self.id_field!r}")
        kind, name = self.auth_kind, self.auth_name
        if kind not in AUTH_KINDS:
            raise ValueError(
                f"auth must be bearer, header:<Name>, query:<name>, body:<name> or basic:<user>, got {self.auth!r}"
            )
        if kind == "bearer" and name:
            raise ValueError(f"auth bearer takes no name, got {self.auth!r}")
        checks = {"header": _HEADER, "query": _FIELD, "body": _FIELD, "basic": _USER}
        if kind in checks and not checks[kind].match(name):
            raise ValueError(f"auth {kind}: needs a valid name after the colon, got {self.auth!r}")
        body = [self.to_field, self.text_field, *(k for k, _ in self.fields)] + ([name] if kind == "body" else [])
        for key, _ in self.fields:
            if not _FIELD.match(key):
                raise ValueError(f"field name must be letters, digits, _ . - [ ], got {key!r}")
        if len(set(body)) != len(body):
            raise ValueError(f"body fields must be distinct, got {', '.join(body)}")

    @property
    def auth_kind(self) -> str:
        return self.auth.partition(":")[0]

    @property
    def auth_name(self) -> str:
        return self.auth.partition(":")[2]


def sms_request(n: Notification, options: SmsOptions, token: str) -> dict[str, Any]:
    """The keyword arguments of the POST for ``n``: ``json`` or ``data``, ``params`` and ``auth``.

    Raises NotifyError for a bad phone number.
    """
    body: dict[str, str] = dict(options.fields)
    body[options.to_field] = NUMBER_FORMS[options.number](n.phone)
    body[options.text_field] = n.text
    params: dict[str, str] = {}
    kind, name = options.auth_kind, options.auth_name
    auth: AuthBase = NoAuth()
    if kind == "bearer":
        auth = HeaderAuth("Authorization", f"Bearer {token}")
    elif kind == "header":
        auth = HeaderAuth(name, token)
    elif kind == "basic":
        auth = HTTPBasicAuth(name, token)
    elif kind == "query":
        params[name] = token
    else:
        body[name] = token
    return {"json" if options.format == "json" else "data": body, "params": params, "auth": auth}


def message_id(answer: Any, id_field: str = "") -> str:
    """The gateway's message id in a JSON answer (see the module docstring), "" if there is none."""
    if id_field:
        value = answer
        for part in id_field.split("."):
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return ""
        return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if isinstance(answer, dict):
        for key in DEFAULT_ID_KEYS:
            value = answer.get(key)
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                return str(value)
    return ""


class HttpSmsNotifier(Notifier):
    """Sends ``Notification.text`` as an SMS through an HTTP gateway (see SmsOptions).

    ``url`` must be https, or http to a loopback host (a stand-in): ValueError otherwise.
    ``token`` is the gateway's API key; never logged. ``timeout``: seconds for connecting and
    for each read.
    """

    def __init__(self, url: str, token: str, options: SmsOptions | None = None, *, timeout: float = DEFAULT_TIMEOUT):
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"sms: expected an https:// gateway URL, got {url!r}")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
            raise ValueError(f"sms: plain http is only for a stand-in on 127.0.0.1, got {url!r}")
        if not token:
            raise ValueError("sms: empty token")
        self.url = url
        self.options = options or SmsOptions()
        self._token = token
        self._poster = Poster(url, timeout, [token], loopback=parts.scheme == "http")

    @property
    def timeout(self) -> float:
        return self._poster.timeout

    def close(self) -> None:
        self._poster.close()

    def describe(self) -> str:
        parts = urlsplit(self.url)
        where = f"{parts.netloc}{parts.path}" if parts.scheme == "https" else f"{self.url}, plain http stand-in"
        return f"sms ({where}, {self.options.format}, auth {self.options.auth}, number {self.options.number})"

    def send(self, n: Notification) -> str:
        phone = local_phone(n.phone)
        request = sms_request(n, self.options, self._token)
        try:
            response = self._poster.post(phone=phone, **request)
            answer = json_body(response)
            status = response.status_code
            if not 200 <= status < 300:
                snippet = response.text[:200] if response.text else "no body"
                retryable = status == 429 or status >= 500
                raise NotifyError(
                    MSG_TRY_LATER if retryable else MSG_FAILED,
                    retryable=retryable,
                    reason=REASON_UNAVAILABLE if retryable else REASON_FAILED,
                    detail=f"HTTP {status}: {snippet}",
                )
        except NotifyError as exc:
            exc.detail = self._poster.scrub(exc.detail, phone)
            logger.log(
                logging.ERROR if exc.reason == REASON_FAILED else logging.WARNING,
                "sms %s to %s failed (%s, retryable %s): %s",
                n.template,
                mask_phone(phone),
                exc.reason,
                exc.retryable,
                exc.detail,
            )
            raise
        sent_id = message_id(answer, self.options.id_field)
        logger.info("sms %s to %s accepted: %s", n.template, mask_phone(phone), sent_id or "(no id)")
        return sent_id
