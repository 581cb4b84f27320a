"""The notification port and its adapters, the HTTP ones against the stand-in over real HTTP.

The stand-in records a request before it answers, so once ``send()`` has returned what it
received is complete: no waiting. A fault is consumed by the very next request.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from infra.notify import (
    FakeNotifier,
    Notification,
    NotifyError,
    e164,
    international,
    local_phone,
    mask_phone,
    open_notifier,
)
from infra.notify.base import MSG_BAD_PHONE, MSG_FAILED, MSG_NOT_ON_WHATSAPP, MSG_TRY_LATER
from infra.notify.log import JsonlNotifier, LoggingNotifier, NullNotifier
from infra.notify.sms import SmsOptions, message_id
from infra.notify.standin import StandIn, StandinTemplate
from infra.notify.whatsapp import WhatsappNotifier, graph_error

TOKEN = "EAAG" + secrets.token_hex(24)  # unique per run, so any leak is found by a substring search
PHONE = "081234567890"
OTP = Notification(
    PHONE, "rosma_otp", ("482913",), "Kode Lupa PIN Rosma: 482913. Jangan berikan kode ini kepada siapa pun."
)
REMINDER = Notification(
    PHONE,
    "rosma_reminder",
    ("A012", "Poli Umum"),
    "Nomor A012: 3 nomor lagi sebelum Anda dipanggil ke Poli Umum.",
    kind="info",
)
PATIENT_MESSAGES = {MSG_TRY_LATER, MSG_NOT_ON_WHATSAPP, MSG_BAD_PHONE, MSG_FAILED}


@pytest.fixture
def creds(tmp_path: Path) -> str:
    directory = tmp_path / "credentials"
    directory.mkdir()
    for name in ("wa_token", "sms_token"):
        (directory / name).write_text(TOKEN + "\n")  # systemd credentials often end with a newline
    return str(directory)


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with StandIn(token=TOKEN) as server:
        yield server


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _raises(notifier, n: Notification = OTP) -> NotifyError:
    with pytest.raises(NotifyError) as info:
        notifier.send(n)
    assert str(info.value) in PATIENT_MESSAGES
    return info.value


# -- the port ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "local", "intl"),
    [
        pytest.param("081234567890", "081234567890", "6281234567890", id="stored"),
        pytest.param("6281234567890", "081234567890", "6281234567890", id="intl"),
        pytest.param("+62 812-3456-7890", "081234567890", "6281234567890", id="e164-with-separators"),
        pytest.param("0812345678", "0812345678", "62812345678", id="shortest-10-digits"),
        pytest.param("0812345678901", "0812345678901", "62812345678901", id="longest-13-digits"),
    ],
)
def test_phone_forms(given: str, local: str, intl: str) -> None:
    assert local_phone(given) == local
    assert international(given) == intl
    assert e164(given) == "+" + intl


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("0212345678", id="landline-jakarta"),
        pytest.param("081234567", id="too-short"),
        pytest.param("08123456789012", id="too-long"),
        pytest.param("+6581234567", id="other-country"),
        pytest.param("08abc4567890", id="letters"),
        pytest.param("", id="empty"),
    ],
)
def test_a_number_that_is_not_an_indonesian_mobile_is_refused(bad: str) -> None:
    with pytest.raises(NotifyError) as info:
        local_phone(bad)
    assert str(info.value) == MSG_BAD_PHONE
    assert (info.value.retryable, info.value.reason) == (False, "recipient")


def test_mask_phone() -> None:
    assert mask_phone("081234567890") == "0812****7890"
    assert mask_phone("0812345678901") == "0812****8901"
    assert mask_phone("12345") == "****45"


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"kind": "marketing"}, id="unknown-kind"),
        pytest.param({"template": "Rosma-OTP"}, id="template-not-lowercase-underscore"),
        pytest.param({"params": ["123456"]}, id="params-not-a-tuple"),
        pytest.param({"params": ("123456", "x")}, id="otp-with-two-params"),
        pytest.param({"params": ("1234567890123456",)}, id="otp-code-over-15-chars"),
        pytest.param({"params": ("",)}, id="empty-param"),
        pytest.param({"text": " "}, id="empty-text"),
    ],
)
def test_a_malformed_notification_is_a_value_error(kwargs: dict) -> None:
    fields = {"phone": PHONE, "template": "rosma_otp", "params": ("123456",), "text": "Kode 123456", **kwargs}
    with pytest.raises(ValueError):
        Notification(**fields)


# -- WhatsApp Cloud API --------------------------------------------------------------------


def test_an_otp_is_an_authentication_template_message_with_the_copy_code_button(standin, creds) -> None:
    with open_notifier(standin.whatsapp_uri(), creds) as notifier:
        wamid = notifier.send(OTP)
    [got] = standin.received
    assert wamid == got.message_id and wamid.startswith("wamid.")
    assert (got.service, got.method, got.path) == ("whatsapp", "POST", "/v21.0/1234567890/messages")
    assert got.headers["Authorization"] == f"Bearer {TOKEN}"
    assert got.headers["Content-Type"] == "application/json"
    body = got.body
    assert body["messaging_product"] == "whatsapp"
    assert body["recipient_type"] == "individual"
    assert body["to"] == "6281234567890"
    assert body["type"] == "template"
    assert body["template"]["name"] == "rosma_otp"
    assert body["template"]["language"] == {"code": "id"}
    body_component, button = body["template"]["components"]
    assert body_component == {"type": "body", "parameters": [{"type": "text", "text": "482913"}]}
    assert button == {
        "type": "button",
        "sub_type": "url",
        "index": "0",
        "parameters": [{"type": "text", "text": "482913"}],
    }
    assert set(body) == {"messaging_product", "recipient_type", "to", "type", "template"}
    assert set(body["template"]) == {"name", "language", "components"}
    assert standin.rejected == []


def test_a_reminder_is_a_utility_template_with_body_parameters_only(standin, creds) -> None:
    with open_notifier(standin.whatsapp_uri(), creds) as notifier:
        notifier.send(REMINDER)
    [got] = standin.received
    assert got.body["template"] == {
        "name": "rosma_reminder",
        "language": {"code": "id"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "A012"}, {"type": "text", "text": "Poli Umum"}]}
        ],
    }


def test_a_template_without_parameters_sends_no_components(creds) -> None:
    templates = {"rosma_called": StandinTemplate("utility", "en_US", 0)}
    with StandIn(token=TOKEN, templates=templates) as standin:
        with open_notifier(standin.whatsapp_uri(lang="en_US"), creds) as notifier:
            notifier.send(Notification(PHONE, "rosma_called", (), "Nomor Anda dipanggil.", kind="info"))
        [got] = standin.received
    assert got.body["template"] == {"name": "rosma_called", "language": {"code": "en_US"}}


def test_the_token_is_never_logged_nor_described_nor_in_an_error(standin, creds, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with open_notifier(standin.whatsapp_uri(timeout="0.5"), creds) as notifier:
        notifier.send(OTP)
        standin.trigger_fake_graph_error(190, status=401)
        standin.trigger_fake_timeout()
        errors = [_raises(notifier), _raises(notifier)]
        shown = [notifier.describe(), repr(notifier)]
    assert "urllib3.connectionpool" in {r.name for r in caplog.records}  # DEBUG really was on
    for text in [caplog.text, *shown, *(f"{e!s} {e!r} {e.detail}" for e in errors)]:
        assert TOKEN not in text
        assert PHONE not in text and "6281234567890" not in text
    assert "0812****7890" in caplog.text
    assert shown[0].startswith("whatsapp (http://127.0.0.1:") and "phone number id 1234567890" in shown[0]


@pytest.mark.parametrize(
    ("fault", "retryable", "message", "reason"),
    [
        pytest.param(("status", 500), True, MSG_TRY_LATER, "unavailable", id="500"),
        pytest.param(("status", 503), True, MSG_TRY_LATER, "unavailable", id="503"),
        pytest.param(("status", 429), True, MSG_TRY_LATER, "unavailable", id="429"),
        pytest.param(("html", 502), True, MSG_TRY_LATER, "unavailable", id="502-from-a-proxy-no-graph-body"),
        pytest.param(("graph", 131026), False, MSG_NOT_ON_WHATSAPP, "recipient", id="131026-undeliverable"),
        pytest.param(("graph", 131030), False, MSG_NOT_ON_WHATSAPP, "recipient", id="131030-not-in-allowed-list"),
        pytest.param(("graph", 131021), False, MSG_NOT_ON_WHATSAPP, "recipient", id="131021-recipient-is-sender"),
        pytest.param(("graph", 130429), True, MSG_TRY_LATER, "unavailable", id="130429-throughput"),
        pytest.param(("graph", 131056), True, MSG_TRY_LATER, "unavailable", id="131056-pair-rate-limit"),
        pytest.param(("graph", 80007), True, MSG_TRY_LATER, "unavailable", id="80007-waba-rate-limit"),
        pytest.param(("graph", 131000), True, MSG_TRY_LATER, "unavailable", id="131000-something-went-wrong"),
        pytest.param(("graph", 132001), False, MSG_FAILED, "failed", id="132001-template-missing"),
        pytest.param(("graph", 100), False, MSG_FAILED, "failed", id="100-invalid-parameter"),
        pytest.param(("timeout", 0), True, MSG_TRY_LATER, "unavailable", id="no-answer"),
        pytest.param(("redirect", 302), False, MSG_FAILED, "failed", id="redirect-not-followed"),
        pytest.param(("not-json", 200), False, MSG_FAILED, "failed", id="200-without-message-id"),
    ],
)
def test_each_whatsapp_fault_maps_to_a_notify_error(standin, creds, fault, retryable, message, reason) -> None:
    kind, value = fault
    if kind == "status":
        standin.trigger_fake_status(value)
    elif kind == "html":
        standin.trigger_fake_status(value, body=b"<html><body>502 Bad Gateway</body></html>")
    elif kind == "graph":
        standin.trigger_fake_graph_error(value, status=401 if value == 190 else 404 if value == 132001 else 400)
    elif kind == "timeout":
        standin.trigger_fake_timeout()
    elif kind == "redirect":
        standin.trigger_fake_status(value, body=b"moved")
    else:
        standin.trigger_fake_status(value, body=b"ok")
    with open_notifier(standin.whatsapp_uri(timeout="0.5"), creds) as notifier:
        error = _raises(notifier)
        assert (error.retryable, str(error), error.reason) == (retryable, message, reason)
        assert notifier.send(OTP).startswith("wamid.")  # the fault was the next request only


def test_the_graph_error_code_wins_over_the_http_status() -> None:
    body = {"error": {"message": "(#131026) Message Undeliverable", "type": "OAuthException", "code": 131026}}
    assert graph_error(500, body).retryable is False
    assert graph_error(400, {"error": {"code": 130429, "message": "(#130429) Rate limit hit"}}).retryable is True
    assert graph_error(400, None).retryable is False
    assert graph_error(504, "gateway timeout").retryable is True


def test_a_silent_server_fails_within_the_configured_timeout(standin, creds) -> None:
    standin.trigger_fake_timeout()
    with open_notifier(standin.whatsapp_uri(timeout="0.3"), creds) as notifier:
        assert notifier.timeout == 0.3
        started = time.monotonic()
        error = _raises(notifier)
        elapsed = time.monotonic() - started
    assert error.retryable and error.detail == "no answer within 0.3 s"
    assert 0.25 <= elapsed < 0.3 + 1.0


def test_the_default_timeout_is_ten_seconds(standin, creds) -> None:
    assert open_notifier(standin.whatsapp_uri(), creds).timeout == 10.0
    assert open_notifier(standin.sms_uri(), creds).timeout == 10.0


def test_a_refused_connection_is_retryable(creds) -> None:
    uri = f"whatsapp+http://127.0.0.1:{_closed_port()}/v21.0/1234567890?token=wa_token"
    with open_notifier(uri, creds) as notifier:
        error = _raises(notifier)
    assert (error.retryable, error.reason) == (True, "unavailable")
    assert "connection failed" in error.detail


def test_a_bad_phone_number_is_refused_before_anything_is_sent(standin, creds) -> None:
    with open_notifier(standin.whatsapp_uri(), creds) as notifier:
        error = _raises(notifier, Notification("0212345678", "rosma_otp", ("123456",), "Kode 123456"))
    assert (str(error), error.retryable) == (MSG_BAD_PHONE, False)
    assert standin.received == [] and standin.rejected == []


def test_the_token_comes_from_credentials_directory(standin, creds, monkeypatch) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", creds)
    with open_notifier(standin.whatsapp_uri()) as notifier:
        notifier.send(OTP)
    assert standin.received[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_wrong_token_is_not_retryable(standin, tmp_path) -> None:
    (tmp_path / "wa_token").write_text("EAAG-wrong")
    with open_notifier(standin.whatsapp_uri(), str(tmp_path)) as notifier:
        error = _raises(notifier)
    assert (error.retryable, str(error)) == (False, MSG_FAILED)
    assert "190" in error.detail
    assert standin.rejected[-1].code == 190


def test_the_adapter_refuses_plain_http_to_a_remote_host() -> None:
    with pytest.raises(ValueError, match="plain http"):
        WhatsappNotifier("graph.facebook.com", "v21.0", "1", TOKEN, scheme="http")


# -- SMS gateway ---------------------------------------------------------------------------

AUTH_STYLES = ["bearer", "header:X-Api-Key", "query:apikey", "body:api_key", "basic:rosma"]


@pytest.mark.parametrize("fmt", ["json", "form"])
@pytest.mark.parametrize("auth", AUTH_STYLES)
def test_sms_with_each_auth_style_and_format(creds, auth: str, fmt: str) -> None:
    options = SmsOptions(format=fmt, auth=auth)
    with StandIn(token=TOKEN, sms=options) as standin:
        with open_notifier(standin.sms_uri(), creds) as notifier:
            assert notifier.send(OTP) == "sms-1"
        [got] = standin.received
    assert (got.service, got.method, got.path) == ("sms", "POST", "/sms/send")
    want_type = "application/json" if fmt == "json" else "application/x-www-form-urlencoded"
    assert got.headers["Content-Type"] == want_type
    expected = {"to": "6281234567890", "message": OTP.text}
    kind, _, name = auth.partition(":")
    if kind == "body":
        expected[name] = TOKEN
    assert got.body == expected
    assert got.query == ({"apikey": TOKEN} if kind == "query" else {})
    if kind == "bearer":
        assert got.headers["Authorization"] == f"Bearer {TOKEN}"
    elif kind == "header":
        assert got.headers["X-Api-Key"] == TOKEN and "Authorization" not in got.headers
    elif kind == "basic":
        assert got.headers["Authorization"].startswith("Basic ")
    else:
        assert "Authorization" not in got.headers


@pytest.mark.parametrize(
    ("number", "sent"),
    [("intl", "6281234567890"), ("e164", "+6281234567890"), ("local", "081234567890")],
)
def test_sms_number_forms_field_names_and_constant_fields(creds, number: str, sent: str) -> None:
    options = SmsOptions(to_field="msisdn", text_field="text", number=number, fields=(("sender", "ROSMA"),))
    with StandIn(token=TOKEN, sms=options, sms_path="/api/v1/send") as standin:
        uri = standin.sms_uri()
        assert "field.sender=ROSMA" in uri
        with open_notifier(uri, creds) as notifier:
            notifier.send(OTP)
        assert standin.received[0].body == {"msisdn": sent, "text": OTP.text, "sender": "ROSMA"}


@pytest.mark.parametrize(
    ("reply_field", "uri_field", "expected"),
    [
        pytest.param("id", "", "sms-1", id="default-id"),
        pytest.param("message_id", "", "sms-1", id="default-message_id"),
        pytest.param("data.message_id", "data.message_id", "sms-1", id="dotted-path"),
        pytest.param("ref", "", "", id="no-id-known"),
    ],
)
def test_sms_message_id_from_the_answer(creds, reply_field: str, uri_field: str, expected: str) -> None:
    with StandIn(token=TOKEN, sms=SmsOptions(id_field=reply_field)) as standin:
        options = {"id_field": uri_field} if uri_field else {}
        with open_notifier(standin.sms_uri(**options), creds) as notifier:
            assert notifier.send(OTP) == expected


def test_message_id_paths() -> None:
    answer = {"messages": [{"messageId": 42}], "status": True}
    assert message_id(answer, "messages.0.messageId") == "42"
    assert message_id(answer, "messages.1.messageId") == ""
    assert message_id(answer, "status") == ""
    assert message_id({"messageId": "x"}) == "x"
    assert message_id(None) == ""


@pytest.mark.parametrize(
    ("fault", "retryable", "message"),
    [
        pytest.param(500, True, MSG_TRY_LATER, id="500"),
        pytest.param(502, True, MSG_TRY_LATER, id="502"),
        pytest.param(429, True, MSG_TRY_LATER, id="429"),
        pytest.param(400, False, MSG_FAILED, id="400"),
        pytest.param(403, False, MSG_FAILED, id="403"),
        pytest.param("timeout", True, MSG_TRY_LATER, id="no-answer"),
    ],
)
def test_each_sms_fault_maps_to_a_notify_error(standin, creds, fault, retryable: bool, message: str) -> None:
    if fault == "timeout":
        standin.trigger_fake_timeout()
    else:
        standin.trigger_fake_status(fault)
    with open_notifier(standin.sms_uri(timeout="0.3"), creds) as notifier:
        started = time.monotonic()
        error = _raises(notifier)
        assert time.monotonic() - started < 0.3 + 1.0
        assert (error.retryable, str(error)) == (retryable, message)
        assert notifier.send(OTP) == "sms-1"


def test_sms_the_gateway_refusing_the_request_shape_is_not_retryable(creds) -> None:
    with StandIn(token=TOKEN, sms=SmsOptions(format="json")) as standin:
        with open_notifier(standin.sms_uri(format="form"), creds) as notifier:
            error = _raises(notifier)
        assert standin.rejected[-1].status == 415
    assert (error.retryable, str(error)) == (False, MSG_FAILED)
    assert "HTTP 415" in error.detail


def test_sms_a_token_in_the_query_is_masked_in_logs_and_errors(creds, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with (
        StandIn(token=TOKEN, sms=SmsOptions(auth="query:apikey")) as standin,
        open_notifier(standin.sms_uri(), creds) as notifier,
    ):
        notifier.send(OTP)
        standin.trigger_fake_status(500)
        server_error = _raises(notifier)
    uri = f"sms+http://127.0.0.1:{_closed_port()}/sms/send?token=sms_token&auth=query:apikey"
    with open_notifier(uri, creds) as notifier:
        refused = _raises(notifier)
        described = notifier.describe()
    assert "apikey=***" in caplog.text  # urllib3 logged the request line, masked
    assert "auth query:apikey" in described
    for text in (caplog.text, described, server_error.detail, refused.detail, repr(refused)):
        assert TOKEN not in text


# -- log://, none, fake --------------------------------------------------------------------


def test_log_file_gets_one_json_line_per_message_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "notify.jsonl"
    old_umask = os.umask(0)  # the file must be 0600 whatever the umask
    try:
        notifier = open_notifier(f"log://{path}")
        first = notifier.send(OTP)
        second = notifier.send(REMINDER)
    finally:
        os.umask(old_umask)
    assert isinstance(notifier, JsonlNotifier) and notifier.describe() == f"log ({path})"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == [first, second] and first.startswith("log-") and first != second
    assert lines[0]["time"].endswith("+07:00")
    assert {k: v for k, v in lines[0].items() if k not in ("time", "id")} == {
        "kind": "otp",
        "phone": PHONE,
        "template": "rosma_otp",
        "params": ["482913"],
        "text": OTP.text,
    }
    assert lines[1]["kind"] == "info" and lines[1]["params"] == ["A012", "Poli Umum"]


def test_log_file_that_cannot_be_written_is_a_notify_error(tmp_path: Path) -> None:
    notifier = open_notifier(f"log://{tmp_path}/missing-dir/notify.jsonl")
    error = _raises(notifier)
    assert (error.retryable, str(error)) == (False, MSG_FAILED)


def test_log_without_a_path_logs_the_message_at_info(caplog) -> None:
    caplog.set_level(logging.INFO, logger="infra.notify.log")
    notifier = open_notifier("log://")
    assert isinstance(notifier, LoggingNotifier)
    message_id = notifier.send(OTP)
    [record] = [r for r in caplog.records if r.name == "infra.notify.log"]
    assert record.levelno == logging.INFO
    text = record.getMessage()
    assert message_id in text and "482913" in text and OTP.text in text and "0812****7890" in text
    assert PHONE not in text


def test_none_sends_nothing() -> None:
    notifier = open_notifier(" none ")
    assert isinstance(notifier, NullNotifier)
    assert notifier.send(OTP) == ""
    assert notifier.describe() == "none (notifications off)"


def test_fake_notifier_records_and_injects_faults() -> None:
    fake = FakeNotifier()
    assert fake.send(OTP) == "fake-1"
    fake.trigger_fake_unreachable()
    assert str(_raises(fake)) == MSG_NOT_ON_WHATSAPP
    fake.trigger_fake_error(count=2)
    assert [_raises(fake).retryable for _ in range(2)] == [True, True]
    assert fake.send(REMINDER) == "fake-2"
    assert fake.sent == [OTP, REMINDER]
    assert str(_raises(fake, Notification("12", "rosma_otp", ("1",), "x"))) == MSG_BAD_PHONE


# -- URIs ----------------------------------------------------------------------------------

GRAPH = "whatsapp://graph.facebook.com/v21.0/1234567890"


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        pytest.param("", "Unknown", id="empty"),
        pytest.param("telegram://bot/123", "Unknown", id="unknown-scheme"),
        pytest.param("log:", "Unknown", id="log-without-slashes"),
        pytest.param("log://relative/file.jsonl", "absolute", id="log-relative"),
        pytest.param("log:///var/lib/rosma/", "a file, not a directory", id="log-directory"),
        pytest.param("log:///tmp/n.jsonl?mode=0644", "expected log://", id="log-query"),
        pytest.param(GRAPH, "missing ?token=", id="whatsapp-no-token"),
        pytest.param("whatsapp://graph.facebook.com/1234567890?token=wa_token", "path", id="whatsapp-no-version"),
        pytest.param("whatsapp://graph.facebook.com/v21.0/12ab?token=wa_token", "path", id="whatsapp-id-not-digits"),
        pytest.param("whatsapp:///v21.0/1234567890?token=wa_token", "no host", id="whatsapp-no-host"),
        pytest.param(f"{GRAPH}?token=wa_token&colour=red", "unknown option", id="whatsapp-unknown-option"),
        pytest.param(f"{GRAPH}?token=wa_token&token=other", "twice", id="whatsapp-option-twice"),
        pytest.param(f"{GRAPH}?token=wa_token&timeout=0", "timeout", id="timeout-zero"),
        pytest.param(f"{GRAPH}?token=wa_token&timeout=600", "timeout", id="timeout-too-long"),
        pytest.param(f"{GRAPH}?token=wa_token&timeout=soon", "timeout", id="timeout-not-a-number"),
        pytest.param(f"{GRAPH}?token=wa_token&lang=Bahasa", "lang", id="lang-not-a-code"),
        pytest.param(f"{GRAPH}?token=no_such_file", "not found", id="credential-missing"),
        pytest.param(f"{GRAPH}?token=empty", "empty", id="credential-empty"),
        pytest.param("whatsapp+http://graph.facebook.com/v21.0/1234567890?token=wa_token", "plain http", id="wa-http"),
        pytest.param("whatsapp+http://10.1.2.3:8080/v21.0/1234567890?token=wa_token", "plain http", id="wa-http-lan"),
        pytest.param("sms+http://sms.example.co.id/send?token=sms_token", "plain http", id="sms-http-remote"),
        pytest.param("sms+https:///send?token=sms_token", "no host", id="sms-no-host"),
        pytest.param("sms+https://gw.example/send?token=sms_token&auth=cookie", "auth", id="sms-auth-unknown"),
        pytest.param(
            "sms+https://gw.example/send?token=sms_token&auth=header:", "auth header", id="sms-header-nameless"
        ),
        pytest.param("sms+https://gw.example/send?token=sms_token&format=xml", "format", id="sms-format-unknown"),
        pytest.param("sms+https://gw.example/send?token=sms_token&number=%2B62", "number", id="sms-number-unknown"),
        pytest.param("sms+https://gw.example/send?token=sms_token&text_field=to", "distinct", id="sms-fields-clash"),
        pytest.param("sms+https://gw.example/send?token=sms_token&field.to=x", "distinct", id="sms-constant-clash"),
        pytest.param(
            "sms+https://gw.example/send?token=sms_token&method=GET", "unknown option", id="sms-unknown-option"
        ),
        pytest.param("sms+https://gw.example:port/send?token=sms_token", "invalid", id="sms-bad-port"),
        pytest.param("sms://gw.example/send?token=sms_token", "Unknown", id="sms-without-transport"),
    ],
)
def test_a_bad_uri_is_a_value_error_naming_it(creds: str, uri: str, why: str) -> None:
    Path(creds, "empty").write_text("\n")
    with pytest.raises(ValueError) as info:
        open_notifier(uri, creds)
    assert repr(uri) in str(info.value)
    assert why in str(info.value)


@pytest.mark.parametrize("name", ["../wa_token", "/etc/passwd", "wa token", "wa_token/x"])
def test_a_token_name_that_is_not_a_file_name_in_the_directory_is_refused(creds: str, name: str) -> None:
    with pytest.raises(
        ValueError, match=r"Notifier URI '.*token=\*\*\*' is invalid: token must name a credential file"
    ):
        open_notifier(f"{GRAPH}?{urlencode({'token': name})}", creds)


def test_a_secret_pasted_into_the_uri_is_refused_and_not_echoed(creds: str) -> None:
    key = secrets.token_hex(16)
    for uri in (f"{GRAPH}?token={key}", f"sms+https://gw.example/send?token={TOKEN}&auth=query:apikey"):
        with pytest.raises(ValueError, match="not hold the secret") as info:
            open_notifier(uri, creds)
        assert key not in str(info.value) and TOKEN not in str(info.value) and "token=***" in str(info.value)
    with pytest.raises(ValueError, match="credentials do not belong") as info:
        open_notifier(f"whatsapp://user:{key}@graph.facebook.com/v21.0/1?token=wa_token", creds)
    assert key not in str(info.value)


def test_no_credentials_directory_is_a_value_error(monkeypatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with pytest.raises(ValueError, match=r"\$CREDENTIALS_DIRECTORY"):
        open_notifier(f"{GRAPH}?token=wa_token")


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:8080", "[::1]:8080"])
def test_plain_http_is_allowed_to_loopback_only(creds: str, host: str) -> None:
    assert open_notifier(f"whatsapp+http://{host}/v21.0/1?token=wa_token", creds).describe().startswith("whatsapp (")
    assert open_notifier(f"sms+http://{host}/send?token=sms_token", creds).describe().startswith("sms (")


def test_production_uris_open_without_touching_the_network(creds: str) -> None:
    whatsapp = open_notifier(f"{GRAPH}?token=wa_token&lang=id", creds)
    assert whatsapp.describe() == "whatsapp (graph.facebook.com, v21.0, phone number id 1234567890, language id)"
    sms = open_notifier(
        "sms+https://api.sms.example.co.id/v2/send?token=sms_token&auth=header:X-Api-Key&format=form"
        "&to_field=msisdn&text_field=text&number=local&field.sender=PUSKESMAS&timeout=5",
        creds,
    )
    assert sms.describe() == "sms (api.sms.example.co.id/v2/send, form, auth header:X-Api-Key, number local)"
    assert sms.timeout == 5.0


def test_sms_a_query_token_that_needs_url_encoding_is_masked_too(tmp_path: Path, caplog) -> None:
    token = "k+" + secrets.token_hex(8) + "/="
    (tmp_path / "sms_token").write_text(token)
    caplog.set_level(logging.DEBUG)
    with (
        StandIn(token=token, sms=SmsOptions(auth="query:apikey")) as standin,
        open_notifier(standin.sms_uri(), str(tmp_path)) as notifier,
    ):
        notifier.send(OTP)
        assert standin.received[0].query == {"apikey": token}
    for form in (token, quote(token, safe="")):
        assert form not in caplog.text
