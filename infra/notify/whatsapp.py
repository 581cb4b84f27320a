"""WhatsApp Business Cloud API adapter: one template message per notification.

Based on Meta's WhatsApp Cloud API documentation (developers.facebook.com/docs/whatsapp/...):
"Send message templates" (``cloud-api/guides/send-message-templates``: ``POST
https://graph.facebook.com/<version>/<PHONE_NUMBER_ID>/messages``, ``Authorization: Bearer
<token>``, a JSON body), "Copy code authentication templates"
(``business-management-api/authentication-templates/copy-code-button-authentication-templates``:
the body and the URL button both carry the code) and "Error codes" (``cloud-api/support/
error-codes``: the Graph envelope, act on ``code``). The shape below is the one those pages
show, and the one open-source Cloud API clients send; check it against the live pages when
moving to a newer Graph version:

    {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "6281234567890",
     "type": "template",
     "template": {"name": "rosma_otp", "language": {"code": "id"},
                  "components": [
                      {"type": "body", "parameters": [{"type": "text", "text": "123456"}]},
                      {"type": "button", "sub_type": "url", "index": "0",
                       "parameters": [{"type": "text", "text": "123456"}]}]}}

An authentication template's body is Meta's preset text with the code as its only parameter, and
the copy-code button (created as type "otp", stored by Meta as a URL button) takes the same code,
at most 15 characters. A utility template ("info") sends only the body component, and none at all
when it has no parameters. Parameter texts may not hold newlines, tabs or more than four spaces
in a row (Meta answers error 132018).

A success answers ``{"messaging_product": "whatsapp", "contacts": [{"input", "wa_id"}],
"messages": [{"id": "wamid..."}]}``; ``send()`` returns that id. Errors come in the Graph envelope
``{"error": {"message", "type", "code", "error_data": {"details"}, "fbtrace_id"}}``, and Meta asks
clients to act on ``code`` rather than on the HTTP status; the tables below do, with the status as
a fallback. Acceptance is not delivery: a number that is not on WhatsApp is often reported later,
through the webhook (error 131026), which Rosma does not consume yet.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from infra.notify.base import (
    DEFAULT_TIMEOUT,
    KIND_OTP,
    MSG_FAILED,
    MSG_NOT_ON_WHATSAPP,
    MSG_TRY_LATER,
    REASON_FAILED,
    REASON_RECIPIENT,
    REASON_UNAVAILABLE,
    Notification,
    Notifier,
    NotifyError,
    international,
    local_phone,
    mask_phone,
)
from infra.notify.transport import LOOPBACK_HOSTS, HeaderAuth, Poster, json_body

logger = logging.getLogger(__name__)

# Graph / Cloud API error codes (``error.code``) that say the recipient cannot get the message.
RECIPIENT_CODES = {
    131021: "recipient cannot be sender",
    131026: "message undeliverable (not on WhatsApp, old app, terms not accepted)",
    131030: "recipient phone number not in allowed list (test number)",
}
# Codes for a temporary condition: trying later may work.
RETRYABLE_CODES = {
    1: "API unknown (possibly a server error)",
    2: "API service temporarily down",
    4: "application request limit reached",
    80007: "WhatsApp Business Account rate limit",
    130429: "Cloud API throughput rate limit hit",
    131000: "something went wrong",
    131016: "service unavailable",
    131048: "spam rate limit hit",
    131056: "pair rate limit (too many messages to this number)",
    133004: "server temporarily unavailable",
}


def template_message(n: Notification, lang: str) -> dict[str, Any]:
    """The JSON body for ``n`` (see the module docstring). Raises NotifyError for a bad phone number."""
    components: list[dict[str, Any]] = []
    if n.params:
        components.append({"type": "body", "parameters": [{"type": "text", "text": p} for p in n.params]})
    if n.kind == KIND_OTP:
        components.append(
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": n.code}]}
        )
    template: dict[str, Any] = {"name": n.template, "language": {"code": lang}}
    if components:
        template["components"] = components
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": international(n.phone),
        "type": "template",
        "template": template,
    }


def graph_error(status: int, body: Any) -> NotifyError:
    """The NotifyError for a non-2xx answer: by Graph ``error.code`` first, by HTTP status otherwise."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    details = error.get("error_data", {}).get("details", "") if isinstance(error.get("error_data"), dict) else ""
    message = str(error.get("message", ""))
    text = f"{message} ({details})" if details and str(details) not in message else message
    detail = f"HTTP {status}, Graph error {code}: {text}" if code is not None else f"HTTP {status}: {text or 'no body'}"
    if code in RECIPIENT_CODES:
        return NotifyError(MSG_NOT_ON_WHATSAPP, retryable=False, reason=REASON_RECIPIENT, detail=detail)
    if code in RETRYABLE_CODES or status == 429 or status >= 500:
        return NotifyError(MSG_TRY_LATER, retryable=True, reason=REASON_UNAVAILABLE, detail=detail)
    return NotifyError(MSG_FAILED, retryable=False, reason=REASON_FAILED, detail=detail)


class WhatsappNotifier(Notifier):
    """Sends template messages through the WhatsApp Business Cloud API.

    ``host`` is "graph.facebook.com" in production; ``scheme`` "http" is only allowed for a loopback
    host (the stand-in), so a token never crosses a network in clear text (ValueError otherwise).
    ``token`` is the access token (a System User's permanent token); it is never logged.
    ``timeout``: seconds for connecting and for each read.
    """

    def __init__(
        self,
        host: str,
        version: str,
        phone_number_id: str,
        token: str,
        *,
        lang: str = "id",
        timeout: float = DEFAULT_TIMEOUT,
        scheme: str = "https",
    ) -> None:
        hostname = urlsplit(f"//{host}").hostname or ""
        if scheme not in ("https", "http") or (scheme == "http" and hostname not in LOOPBACK_HOSTS):
            raise ValueError(f"whatsapp: plain http is only for a stand-in on 127.0.0.1, got {scheme}://{host}")
        if not token:
            raise ValueError("whatsapp: empty access token")
        self.host = host
        self.version = version
        self.phone_number_id = phone_number_id
        self.lang = lang
        self.scheme = scheme
        self._auth = HeaderAuth("Authorization", f"Bearer {token}")
        self._poster = Poster(
            f"{scheme}://{host}/{version}/{phone_number_id}/messages", timeout, [token], loopback=scheme == "http"
        )

    @property
    def timeout(self) -> float:
        return self._poster.timeout

    def close(self) -> None:
        self._poster.close()

    def describe(self) -> str:
        where = self.host if self.scheme == "https" else f"http://{self.host}, plain http stand-in"
        return f"whatsapp ({where}, {self.version}, phone number id {self.phone_number_id}, language {self.lang})"

    def send(self, n: Notification) -> str:
        phone = local_phone(n.phone)
        body = template_message(n, self.lang)
        try:
            response = self._poster.post(auth=self._auth, phone=phone, json=body)
            answer = json_body(response)
            if not 200 <= response.status_code < 300:
                raise graph_error(response.status_code, answer)
            message_id = _message_id(answer)
            if not message_id:
                raise NotifyError(
                    MSG_FAILED,
                    retryable=False,
                    reason=REASON_FAILED,
                    detail=f"HTTP {response.status_code} without messages[0].id",
                )
        except NotifyError as exc:
            exc.detail = self._poster.scrub(exc.detail, phone)
            # A refused request (expired token, unknown template) breaks every send: an operator must act.
            logger.log(
                logging.ERROR if exc.reason == REASON_FAILED else logging.WARNING,
                "whatsapp %s to %s failed (%s, retryable %s): %s",
                n.template,
                mask_phone(phone),
                exc.reason,
                exc.retryable,
                exc.detail,
            )
            raise
        logger.info("whatsapp %s to %s accepted: %s", n.template, mask_phone(phone), message_id)
        return message_id


def _message_id(answer: Any) -> str:
    messages = answer.get("messages") if isinstance(answer, dict) else None
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        value = messages[0].get("id")
        if isinstance(value, str):
            return value
    return ""
