"""What the WhatsApp Cloud API and an SMS gateway accept: the checks behind the stand-in. No I/O.

WhatsApp (``POST /<version>/<phone number id>/messages``) checks, in this order, and answers the
first problem in Meta's Graph error envelope ``{"error": {"message", "type", "code",
"error_data": {"messaging_product", "details"}, "fbtrace_id"}}``:

    method POST, version and phone number id       400, code 100 (subcode 33 for an unknown id)
    Authorization "Bearer <token>"                 400 code 104 when missing, 401 code 190 when wrong
    Content-Type application/json, a JSON object    400, code 100
    keys: messaging_product "whatsapp", recipient_type "individual", to (digits, optional +),
        type "template", template {name, language {code[, policy]}, components}   400, code 100
    template name and language registered           404, code 132001
    body parameters {"type": "text", "text"}: as many as the template has     400, code 132000
    no newline, tab or more than 4 spaces in a row in a parameter             400, code 132018
    an authentication template has the button {"type": "button", "sub_type": "url",
        "index": "0", "parameters": [{"type": "text", "text": <code, 1-15 chars>}]};
        a missing one is 131008, one on a utility template 132000, a wrong one 100

Unknown keys anywhere are refused (code 100): stricter than Meta, so that a typo fails a test.
Accepted: 200 ``{"messaging_product": "whatsapp", "contacts": [{"input", "wa_id"}],
"messages": [{"id": "wamid..."}]}``.

SMS gateway (``POST <sms_path>``, configured by an ``infra.notify.sms.SmsOptions``): method (405),
credential where ``auth`` puts it (401), Content-Type application/json or
application/x-www-form-urlencoded per ``format`` (415), then exactly the fields to, text,
``fields`` and a body credential, the number in the ``number`` form, a non-empty text (400).
Accepted: 200 ``{"status": "queued", "<id_field>": "sms-N"}`` (a dotted id_field nests).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import parse_qs

from infra.notify.base import OTP_MAX_CHARS
from infra.notify.sms import SmsOptions

GRAPH_TITLES = {
    1: "API Unknown",
    2: "API Service",
    4: "Application request limit reached",
    100: "Invalid parameter",
    104: "An access token is required to request this resource",
    190: "Invalid OAuth access token - Cannot parse access token",
    80007: "Rate limit issues",
    130429: "Rate limit hit",
    131000: "Something went wrong",
    131008: "Required parameter is missing",
    131009: "Parameter value is not valid",
    131016: "Service unavailable",
    131021: "Recipient cannot be sender",
    131026: "Message Undeliverable",
    131030: "Recipient phone number not in allowed list",
    131048: "Spam rate limit hit",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
    132018: "There was an issue with the parameters in your template",
    133004: "Server temporarily unavailable",
}
GRAPH_PATH = re.compile(r"^/(v\d+\.\d+)/([^/]+)/messages$")
_WA_TO = re.compile(r"^\+?[1-9]\d{6,14}$")
_BAD_PARAM_TEXT = re.compile(r"[\n\r\t]| {5,}")
_SMS_NUMBER = {"intl": r"^628\d{7,10}$", "e164": r"^\+628\d{7,10}$", "local": r"^08\d{8,11}$"}


@dataclass(frozen=True)
class StandinTemplate:
    """A template the WhatsApp stand-in knows: "authentication" or "utility", its language, and
    its number of body parameters (None: any)."""

    category: str
    language: str = "id"
    params: int | None = None


DEFAULT_TEMPLATES = {
    "rosma_otp": StandinTemplate("authentication", "id", 1),
    "rosma_reminder": StandinTemplate("utility", "id", None),
}


@dataclass(frozen=True)
class WhatsappSpec:
    """What the WhatsApp stand-in expects: token, phone number id, Graph version, templates."""

    token: str
    phone_number_id: str = "1234567890"
    graph_version: str = "v21.0"
    templates: dict[str, StandinTemplate] = field(default_factory=lambda: dict(DEFAULT_TEMPLATES))


class Refusal(Exception):
    """A request the real service would refuse: the HTTP status, why, and the Graph code if any."""

    def __init__(self, status: int, reason: str, code: int | None = None, subcode: int | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.code, self.subcode = status, reason, code, subcode


def check_whatsapp(method: str, path: str, headers: Message, raw: bytes, spec: WhatsappSpec) -> dict[str, Any]:
    """The message of a request to ``/<version>/<phone number id>/messages``; raises Refusal."""
    match = GRAPH_PATH.match(path)
    if match is None:
        raise Refusal(400, f"Unknown path {path}", 100)
    version, object_id = match.groups()
    if method != "POST":
        raise Refusal(400, f"Unsupported {method.lower()} request.", 100)
    if version != spec.graph_version:
        raise Refusal(400, f"Unknown path components: version {version}", 100)
    if object_id != spec.phone_number_id:
        raise Refusal(
            400,
            f"Unsupported post request. Object with ID '{object_id}' does not exist, cannot be loaded due to "
            "missing permissions, or does not support this operation.",
            100,
            33,
        )
    authorization = headers.get("Authorization")
    if authorization is None:
        raise Refusal(400, "An access token is required to request this resource.", 104)
    if authorization != f"Bearer {spec.token}":
        raise Refusal(401, "Invalid OAuth access token - Cannot parse access token", 190)
    if media_type(headers) != "application/json":
        raise Refusal(400, f"Content-Type must be application/json, got {headers.get('Content-Type')!r}", 100)
    try:
        message = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Refusal(400, "The request body is not valid JSON", 100) from None
    _keys(message, "message", {"messaging_product", "to", "type", "template"}, {"recipient_type"})
    if message["messaging_product"] != "whatsapp":
        raise Refusal(400, "messaging_product must be whatsapp", 100)
    if "recipient_type" in message and message["recipient_type"] != "individual":
        raise Refusal(400, "recipient_type must be individual", 100)
    if not isinstance(message["to"], str) or not _WA_TO.match(message["to"]):
        raise Refusal(400, f"to is not a phone number: {message['to']!r}", 131009)
    if message["type"] != "template":
        raise Refusal(400, f"type must be template, got {message['type']!r}", 100)
    _check_template(message["template"], spec.templates)
    return message


def _check_template(template: Any, templates: dict[str, StandinTemplate]) -> None:
    _keys(template, "template", {"name", "language"}, {"components"})
    _keys(template["language"], "template.language", {"code"}, {"policy"})
    known = templates.get(template["name"]) if isinstance(template["name"], str) else None
    if known is None or template["language"]["code"] != known.language:
        raise Refusal(
            404,
            f"template name ({template['name']}) does not exist in {template['language']['code']}",
            132001,
        )
    if template["language"].get("policy", "deterministic") != "deterministic":
        raise Refusal(400, "template.language.policy must be deterministic", 100)
    components = template.get("components", [])
    if not isinstance(components, list):
        raise Refusal(400, "template.components must be a list", 100)
    body: list[Any] = []
    buttons: list[dict[str, Any]] = []
    for component in components:
        if not isinstance(component, dict) or component.get("type") not in ("body", "button"):
            raise Refusal(400, f"unsupported component {component!r}", 100)
        if component["type"] == "body":
            if body:
                raise Refusal(400, "more than one body component", 100)
            _keys(component, "body component", {"type", "parameters"})
            body = _text_params(component["parameters"], "body")
        else:
            _keys(component, "button component", {"type", "sub_type", "index", "parameters"})
            buttons.append(component)
    if known.params is not None and len(body) != known.params:
        raise Refusal(400, f"body: expected {known.params} parameters, got {len(body)}", 132000)
    if known.category == "authentication":
        if len(buttons) != 1:
            raise Refusal(400, "an authentication template needs exactly one url button with the code", 131008)
        button = buttons[0]
        if button["sub_type"] != "url" or button["index"] != "0":
            raise Refusal(400, 'the code button must have sub_type url and index "0"', 100)
        code = _text_params(button["parameters"], "button")
        if len(code) != 1 or len(code[0]) > OTP_MAX_CHARS:
            raise Refusal(400, f"the button takes one code of 1 to {OTP_MAX_CHARS} characters", 100)
    elif buttons:
        raise Refusal(400, "this template has no button that takes parameters", 132000)


def check_sms(
    method: str, query_string: str, headers: Message, raw: bytes, token: str, o: SmsOptions
) -> tuple[dict[str, Any], dict[str, str]]:
    """The body and query of a request to the SMS gateway configured by ``o``; raises Refusal."""
    if method != "POST":
        raise Refusal(405, f"method {method} not allowed")
    query = {k: v[-1] for k, v in parse_qs(query_string, keep_blank_values=True).items()}
    kind, name = o.auth_kind, o.auth_name
    expected_query = {name} if kind == "query" else set()
    if set(query) != expected_query:
        raise Refusal(401 if kind == "query" and name not in query else 400, f"query must hold {expected_query}")
    authorization = headers.get("Authorization", "")
    if kind == "bearer" and authorization != f"Bearer {token}":
        raise Refusal(401, "missing or wrong bearer token")
    if kind == "header" and headers.get(name) != token:
        raise Refusal(401, f"missing or wrong {name} header")
    if kind == "query" and query.get(name) != token:
        raise Refusal(401, f"missing or wrong {name} query parameter")
    if kind == "basic" and not _basic_ok(authorization, name, token):
        raise Refusal(401, "missing or wrong basic credentials")
    want = "application/json" if o.format == "json" else "application/x-www-form-urlencoded"
    if media_type(headers) != want:
        raise Refusal(415, f"Content-Type must be {want}, got {headers.get('Content-Type')!r}")
    body = _parse_sms_body(raw, o.format)
    if kind == "body" and body.get(name) != token:
        raise Refusal(401, f"missing or wrong {name} field")
    expected = {o.to_field, o.text_field, *(k for k, _ in o.fields), *([name] if kind == "body" else [])}
    if set(body) != expected:
        missing, extra = sorted(expected - set(body)), sorted(set(body) - expected)
        raise Refusal(400, f"fields: missing {missing}, unexpected {extra}")
    for key, value in o.fields:
        if body[key] != value:
            raise Refusal(400, f"field {key} must be {value!r}")
    to, text = body[o.to_field], body[o.text_field]
    if not isinstance(to, str) or not re.match(_SMS_NUMBER[o.number], to):
        raise Refusal(400, f"{o.to_field} is not a number in the {o.number} form")
    if not isinstance(text, str) or not text.strip():
        raise Refusal(400, f"{o.text_field} must be a non-empty text")
    return body, query


def graph_error_body(code: int, message: str | None = None, subcode: int | None = None) -> bytes:
    """A Graph API error envelope with ``code`` (and ``message``, else the code's title)."""
    title = GRAPH_TITLES.get(code, "Error")
    error: dict[str, Any] = {
        "message": f"(#{code}) {message or title}",
        "type": "OAuthException",
        "code": code,
    }
    if code >= 130000 or code in (1, 2, 4, 100):
        error["error_data"] = {"messaging_product": "whatsapp", "details": message or title}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = "A" + base64.b64encode(os.urandom(15)).decode().rstrip("=")
    return json.dumps({"error": error}).encode("utf-8")


def media_type(headers: Message) -> str:
    """The Content-Type without parameters, lowercase ("" when there is none)."""
    return (headers.get("Content-Type") or "").split(";")[0].strip().lower()


def _keys(value: Any, where: str, required: set[str], optional: frozenset[str] | set[str] = frozenset()) -> None:
    if not isinstance(value, dict):
        raise Refusal(400, f"{where} must be an object", 100)
    missing = sorted(required - set(value))
    if missing:
        raise Refusal(400, f"{where}: missing {', '.join(missing)}", 100)
    extra = sorted(set(value) - required - set(optional))
    if extra:
        raise Refusal(400, f"{where}: unexpected {', '.join(extra)}", 100)


def _text_params(parameters: Any, where: str) -> list[str]:
    if not isinstance(parameters, list):
        raise Refusal(400, f"{where}: parameters must be a list", 100)
    texts = []
    for parameter in parameters:
        _keys(parameter, f"{where} parameter", {"type", "text"})
        if parameter["type"] != "text" or not isinstance(parameter["text"], str) or not parameter["text"]:
            raise Refusal(400, f"{where}: parameters must be {{'type': 'text', 'text': <non-empty>}}", 100)
        if _BAD_PARAM_TEXT.search(parameter["text"]):
            raise Refusal(
                400, "Param text cannot have new-line/tab characters or more than 4 consecutive spaces", 132018
            )
        texts.append(parameter["text"])
    return texts


def _parse_sms_body(raw: bytes, fmt: str) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(400, "body is not UTF-8") from None
    if fmt == "json":
        try:
            body = json.loads(text)
        except ValueError:
            raise Refusal(400, "body is not JSON") from None
        if not isinstance(body, dict):
            raise Refusal(400, "body must be a JSON object")
        return body
    try:
        form = parse_qs(text, keep_blank_values=True, strict_parsing=bool(text))
    except ValueError:
        raise Refusal(400, "body is not a form") from None
    repeated = sorted(k for k, v in form.items() if len(v) != 1)
    if repeated:
        raise Refusal(400, f"fields given more than once: {repeated}")
    return {k: v[0] for k, v in form.items()}


def _basic_ok(authorization: str, user: str, token: str) -> bool:
    scheme, _, encoded = authorization.partition(" ")
    if scheme != "Basic":
        return False
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8") == f"{user}:{token}"
    except (binascii.Error, UnicodeDecodeError):
        return False
