"""The stand-in itself: it accepts the request shapes the real services take and refuses the others,
one test per check, answering like the real service; faults; its lifecycle and command line.

Requests are made with plain ``requests``, not the adapters, so that a wrong shape can be sent.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from infra.notify.sms import SmsOptions
from infra.notify.standin import StandIn

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "standin-test-token"
WA_PATH = "/v21.0/1234567890/messages"
CODE = "482913"
OTP_BODY: dict[str, Any] = {
    "messaging_product": "whatsapp",
    "recipient_type": "individual",
    "to": "6281234567890",
    "type": "template",
    "template": {
        "name": "rosma_otp",
        "language": {"code": "id"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": CODE}]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": CODE}]},
        ],
    },
}
REMINDER_BODY: dict[str, Any] = {
    "messaging_product": "whatsapp",
    "to": "6281234567890",
    "type": "template",
    "template": {
        "name": "rosma_reminder",
        "language": {"code": "id"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "A012"}]}],
    },
}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with StandIn(token=TOKEN) as server:
        yield server


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        yield session


def _url(standin: StandIn, path: str = WA_PATH) -> str:
    return f"http://127.0.0.1:{standin.port}{path}"


def _graph_error(response: requests.Response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert {"message", "type", "code", "fbtrace_id"} <= set(error)
    assert error["type"] == "OAuthException" and error["code"] == code
    assert error["message"].startswith(f"(#{code}) ")
    return error


def _mutated(base: dict[str, Any], change) -> dict[str, Any]:
    body = copy.deepcopy(base)
    change(body)
    return body


# -- WhatsApp: accepted --------------------------------------------------------------------


def test_whatsapp_accepts_an_authentication_template_and_answers_like_the_cloud_api(standin, http) -> None:
    response = http.post(_url(standin), json=OTP_BODY, headers=AUTH)
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"messaging_product", "contacts", "messages"}
    assert answer["messaging_product"] == "whatsapp"
    assert answer["contacts"] == [{"input": "6281234567890", "wa_id": "6281234567890"}]
    [message] = answer["messages"]
    assert message["id"].startswith("wamid.")
    [got] = standin.received
    assert (got.service, got.method, got.path, got.body, got.message_id) == (
        "whatsapp",
        "POST",
        WA_PATH,
        OTP_BODY,
        message["id"],
    )


def test_whatsapp_accepts_a_utility_template_and_a_plus_in_to(standin, http) -> None:
    body = _mutated(REMINDER_BODY, lambda b: b.update(to="+6281234567890"))
    response = http.post(_url(standin), json=body, headers=AUTH)
    assert response.status_code == 200
    assert response.json()["contacts"] == [{"input": "+6281234567890", "wa_id": "6281234567890"}]


# -- WhatsApp: each check ------------------------------------------------------------------


def _component(b: dict[str, Any], index: int) -> dict[str, Any]:
    return b["template"]["components"][index]


WHATSAPP_BODY_CASES = [
    pytest.param(lambda b: b.pop("messaging_product"), 400, 100, id="messaging_product-missing"),
    pytest.param(lambda b: b.update(messaging_product="sms"), 400, 100, id="messaging_product-wrong"),
    pytest.param(lambda b: b.update(recipient_type="group"), 400, 100, id="recipient_type-wrong"),
    pytest.param(lambda b: b.update(to="081234567890"), 400, 131009, id="to-local-form"),
    pytest.param(lambda b: b.update(to=6281234567890), 400, 131009, id="to-not-a-string"),
    pytest.param(lambda b: b.update(type="text"), 400, 100, id="type-not-template"),
    pytest.param(lambda b: b.update(preview_url=True), 400, 100, id="unknown-top-level-key"),
    pytest.param(lambda b: b["template"].pop("language"), 400, 100, id="language-missing"),
    pytest.param(lambda b: b["template"].update(language="id"), 400, 100, id="language-not-an-object"),
    pytest.param(lambda b: b["template"]["language"].update(policy="fallback"), 400, 100, id="language-policy"),
    pytest.param(lambda b: b["template"].update(namespace="x"), 400, 100, id="unknown-template-key"),
    pytest.param(lambda b: b["template"].update(name="rosma_unknown"), 404, 132001, id="template-unknown"),
    pytest.param(lambda b: b["template"]["language"].update(code="en_US"), 404, 132001, id="template-language"),
    pytest.param(lambda b: b["template"].update(components={}), 400, 100, id="components-not-a-list"),
    pytest.param(lambda b: _component(b, 0).update(type="header"), 400, 100, id="component-type-unsupported"),
    pytest.param(
        lambda b: _component(b, 0)["parameters"].append({"type": "text", "text": "x"}),
        400,
        132000,
        id="body-too-many-parameters",
    ),
    pytest.param(lambda b: _component(b, 0)["parameters"].clear(), 400, 132000, id="body-no-parameter"),
    pytest.param(
        lambda b: _component(b, 0)["parameters"][0].update(type="currency"), 400, 100, id="parameter-not-text"
    ),
    pytest.param(
        lambda b: _component(b, 0)["parameters"][0].update(text="48\n2913"), 400, 132018, id="parameter-newline"
    ),
    pytest.param(
        lambda b: _component(b, 0)["parameters"][0].update(text="48     13"), 400, 132018, id="parameter-5-spaces"
    ),
    pytest.param(
        lambda b: b["template"]["components"].insert(0, copy.deepcopy(_component(b, 0))),
        400,
        100,
        id="two-body-components",
    ),
    pytest.param(lambda b: b["template"]["components"].pop(1), 400, 131008, id="otp-button-missing"),
    pytest.param(lambda b: _component(b, 1).update(sub_type="quick_reply"), 400, 100, id="button-sub_type"),
    pytest.param(lambda b: _component(b, 1).update(index=0), 400, 100, id="button-index-not-a-string"),
    pytest.param(lambda b: _component(b, 1).pop("index"), 400, 100, id="button-index-missing"),
    pytest.param(
        lambda b: _component(b, 1)["parameters"][0].update(text="1234567890123456"),
        400,
        100,
        id="button-code-over-15-chars",
    ),
    pytest.param(lambda b: _component(b, 1)["parameters"].clear(), 400, 100, id="button-no-code"),
]


@pytest.mark.parametrize(("change", "status", "code"), WHATSAPP_BODY_CASES)
def test_whatsapp_refuses_a_wrong_body(standin, http, change, status: int, code: int) -> None:
    response = http.post(_url(standin), json=_mutated(OTP_BODY, change), headers=AUTH)
    _graph_error(response, status, code)
    assert standin.received == []
    assert (standin.rejected[-1].service, standin.rejected[-1].code) == ("whatsapp", code)


def test_whatsapp_refuses_a_button_on_a_utility_template(standin, http) -> None:
    button = {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "x"}]}
    body = _mutated(REMINDER_BODY, lambda b: b["template"]["components"].append(button))
    _graph_error(http.post(_url(standin), json=body, headers=AUTH), 400, 132000)


def test_whatsapp_refuses_a_get(standin, http) -> None:
    _graph_error(http.get(_url(standin), headers=AUTH), 400, 100)


def test_whatsapp_refuses_another_graph_version(standin, http) -> None:
    _graph_error(http.post(_url(standin, "/v20.0/1234567890/messages"), json=OTP_BODY, headers=AUTH), 400, 100)


def test_whatsapp_refuses_another_phone_number_id(standin, http) -> None:
    response = http.post(_url(standin, "/v21.0/999/messages"), json=OTP_BODY, headers=AUTH)
    error = _graph_error(response, 400, 100)
    assert error["error_subcode"] == 33 and "'999' does not exist" in error["message"]


def test_whatsapp_refuses_a_missing_token(standin, http) -> None:
    _graph_error(http.post(_url(standin), json=OTP_BODY), 400, 104)


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Bearer wrong-token", id="wrong-token"),
        pytest.param(TOKEN, id="no-bearer-prefix"),
        pytest.param(f"bearer  {TOKEN}", id="malformed-scheme"),
    ],
)
def test_whatsapp_refuses_a_wrong_token(standin, http, authorization: str) -> None:
    _graph_error(http.post(_url(standin), json=OTP_BODY, headers={"Authorization": authorization}), 401, 190)


def test_whatsapp_refuses_a_form_body(standin, http) -> None:
    response = http.post(_url(standin), data={"messaging_product": "whatsapp"}, headers=AUTH)
    _graph_error(response, 400, 100)


def test_whatsapp_refuses_a_body_that_is_not_json(standin, http) -> None:
    headers = {**AUTH, "Content-Type": "application/json"}
    _graph_error(http.post(_url(standin), data=b"{not json", headers=headers), 400, 100)


def test_whatsapp_refuses_a_json_array(standin, http) -> None:
    _graph_error(http.post(_url(standin), json=[OTP_BODY], headers=AUTH), 400, 100)


def test_an_unknown_path_is_404(standin, http) -> None:
    response = http.post(_url(standin, "/v21.0/1234567890/media"), json={}, headers=AUTH)
    assert response.status_code == 404 and standin.rejected[-1].status == 404


# -- SMS gateway ---------------------------------------------------------------------------

SMS_BODY = {"to": "6281234567890", "message": "Kode Lupa PIN Rosma: 482913."}


def _sms(standin: StandIn, http: requests.Session, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("headers", AUTH)
    if "data" not in kwargs:
        kwargs.setdefault("json", SMS_BODY)
    method = kwargs.pop("method", "POST")
    return http.request(method, _url(standin, standin.sms_path), **kwargs)


def _sms_refused(response: requests.Response, standin: StandIn, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.json()["status"] == "error"
    assert standin.received == []
    assert (standin.rejected[-1].service, standin.rejected[-1].status) == ("sms", status)


def test_sms_accepts_the_configured_shape(standin, http) -> None:
    response = _sms(standin, http)
    assert response.status_code == 200
    assert response.json() == {"status": "queued", "id": "sms-1"}
    assert standin.received[0].body == SMS_BODY


def test_sms_answers_the_id_at_a_dotted_path(http) -> None:
    with StandIn(token=TOKEN, sms=SmsOptions(id_field="data.message_id")) as standin:
        assert _sms(standin, http).json() == {"status": "queued", "data": {"message_id": "sms-1"}}


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        pytest.param({"method": "GET"}, 405, id="get"),
        pytest.param({"headers": {}}, 401, id="no-token"),
        pytest.param({"headers": {"Authorization": "Bearer wrong"}}, 401, id="wrong-token"),
        pytest.param({"data": {"to": "6281234567890", "message": "x"}}, 415, id="form-instead-of-json"),
        pytest.param({"data": b"{broken", "headers": {**AUTH, "Content-Type": "application/json"}}, 400, id="bad-json"),
        pytest.param({"json": ["6281234567890"]}, 400, id="json-not-an-object"),
        pytest.param({"json": {"to": "6281234567890"}}, 400, id="text-missing"),
        pytest.param({"json": {**SMS_BODY, "sender": "X"}}, 400, id="unexpected-field"),
        pytest.param({"json": {**SMS_BODY, "to": "081234567890"}}, 400, id="number-not-intl"),
        pytest.param({"json": {**SMS_BODY, "to": 6281234567890}}, 400, id="number-not-a-string"),
        pytest.param({"json": {**SMS_BODY, "message": "  "}}, 400, id="empty-text"),
        pytest.param({"params": {"apikey": TOKEN}}, 400, id="unexpected-query"),
    ],
)
def test_sms_refuses_a_wrong_request(standin, http, kwargs: dict[str, Any], status: int) -> None:
    _sms_refused(_sms(standin, http, **kwargs), standin, status)


def test_sms_header_auth_checks_the_named_header(http) -> None:
    with StandIn(token=TOKEN, sms=SmsOptions(auth="header:X-Api-Key")) as standin:
        assert _sms(standin, http, headers={"X-Api-Key": TOKEN}).status_code == 200
        _sms_refused_after_one(_sms(standin, http, headers={"X-Token": TOKEN}), standin, 401)
        _sms_refused_after_one(_sms(standin, http, headers=AUTH), standin, 401)


def test_sms_query_auth_checks_the_query(http) -> None:
    with StandIn(token=TOKEN, sms=SmsOptions(auth="query:apikey")) as standin:
        assert _sms(standin, http, headers={}, params={"apikey": TOKEN}).status_code == 200
        _sms_refused_after_one(_sms(standin, http, headers={}, params={"apikey": "x"}), standin, 401)
        _sms_refused_after_one(_sms(standin, http, headers=AUTH), standin, 401)


def test_sms_body_auth_checks_the_field(http) -> None:
    with StandIn(token=TOKEN, sms=SmsOptions(auth="body:api_key", format="form")) as standin:
        assert _sms(standin, http, headers={}, data={**SMS_BODY, "api_key": TOKEN}).status_code == 200
        _sms_refused_after_one(_sms(standin, http, headers={}, data=SMS_BODY), standin, 401)
        _sms_refused_after_one(_sms(standin, http, headers={}, data={**SMS_BODY, "api_key": "x"}), standin, 401)


def test_sms_basic_auth_checks_user_and_password(http) -> None:
    with StandIn(token=TOKEN, sms=SmsOptions(auth="basic:rosma")) as standin:
        assert _sms(standin, http, headers={}, auth=("rosma", TOKEN)).status_code == 200
        _sms_refused_after_one(_sms(standin, http, headers={}, auth=("other", TOKEN)), standin, 401)
        bad = {"Authorization": "Basic " + base64.b64encode(b"\xff").decode()}
        _sms_refused_after_one(_sms(standin, http, headers=bad), standin, 401)


def test_sms_form_checks_fields_constants_and_repeats(http) -> None:
    options = SmsOptions(
        format="form", to_field="msisdn", text_field="text", number="local", fields=(("sender", "PKM"),)
    )
    with StandIn(token=TOKEN, sms=options) as standin:
        good = {"msisdn": "081234567890", "text": "Halo", "sender": "PKM"}
        assert _sms(standin, http, data=good).status_code == 200
        _sms_refused_after_one(_sms(standin, http, data={**good, "sender": "OTHER"}), standin, 400)
        _sms_refused_after_one(_sms(standin, http, data={**good, "msisdn": "6281234567890"}), standin, 400)
        repeated = "msisdn=081234567890&msisdn=081234567891&text=Halo&sender=PKM"
        headers = {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}
        _sms_refused_after_one(_sms(standin, http, data=repeated, headers=headers), standin, 400)
        _sms_refused_after_one(_sms(standin, http, data="msisdn&text", headers=headers), standin, 400)
        _sms_refused_after_one(_sms(standin, http, json=good), standin, 415)


def _sms_refused_after_one(response: requests.Response, standin: StandIn, status: int) -> None:
    assert response.status_code == status, response.text
    assert len(standin.received) == 1  # only the good request of the test
    assert standin.rejected[-1].status == status


# -- faults --------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "code"), [(500, 1), (503, 2), (429, 130429)])
def test_status_faults_answer_a_graph_envelope_on_the_whatsapp_path(standin, http, status: int, code: int) -> None:
    standin.trigger_fake_status(status, count=2)
    for _ in range(2):
        _graph_error(http.post(_url(standin), json=OTP_BODY, headers=AUTH), status, code)
    assert http.post(_url(standin), json=OTP_BODY, headers=AUTH).status_code == 200
    assert len(standin.received) == 1


def test_status_faults_on_the_sms_path_and_a_raw_body(standin, http) -> None:
    standin.trigger_fake_status(500)
    standin.trigger_fake_status(502, body=b"<html>Bad Gateway</html>")
    first = _sms(standin, http)
    assert (first.status_code, first.json()["status"]) == (500, "error")
    second = _sms(standin, http)
    assert (second.status_code, second.headers["Content-Type"], second.text) == (
        502,
        "text/html",
        "<html>Bad Gateway</html>",
    )
    assert _sms(standin, http).status_code == 200


def test_graph_error_fault_has_the_whatsapp_error_data(standin, http) -> None:
    standin.trigger_fake_graph_error(131026)
    error = _graph_error(http.post(_url(standin), json=OTP_BODY, headers=AUTH), 400, 131026)
    assert error["error_data"] == {"messaging_product": "whatsapp", "details": "Message Undeliverable"}
    assert standin.received == []


def test_timeout_fault_never_answers_then_serves_again(standin, http) -> None:
    standin.trigger_fake_timeout()
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        http.post(_url(standin), json=OTP_BODY, headers=AUTH, timeout=0.3)
    assert time.monotonic() - started < 2
    assert http.post(_url(standin), json=OTP_BODY, headers=AUTH, timeout=5).status_code == 200


def test_stop_releases_a_request_held_by_a_timeout_fault() -> None:
    standin = StandIn(token=TOKEN)
    port = standin.start()
    standin.trigger_fake_timeout()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"POST {WA_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}".encode())
        assert standin.wait_held(1, timeout=5)
        standin.stop()
        sock.settimeout(5)
        assert sock.recv(1) == b""  # closed without an answer


# -- lifecycle and command line ------------------------------------------------------------


def test_lifecycle() -> None:
    standin = StandIn()
    with pytest.raises(RuntimeError):
        _ = standin.port
    port = standin.start()
    assert port == standin.port > 0
    with pytest.raises(RuntimeError):
        standin.start()
    assert standin.whatsapp_uri() == f"whatsapp+http://127.0.0.1:{port}/v21.0/1234567890?token=wa_token"
    standin.stop()
    standin.stop()  # twice is fine
    with pytest.raises(RuntimeError):
        _ = standin.port
    with StandIn() as again:
        assert again.port > 0


def test_command_line_prints_the_port_then_each_message(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.notify.standin", "--port", "0", "--token", TOKEN],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(_readline(proc, 20))
        with requests.Session() as http:
            http.trust_env = False
            response = http.post(f"http://127.0.0.1:{port}{WA_PATH}", json=OTP_BODY, headers=AUTH, timeout=5)
        assert response.status_code == 200
        line = json.loads(_readline(proc, 10))
        assert line == {
            "service": "whatsapp",
            "to": "6281234567890",
            "template": "rosma_otp",
            "params": [CODE],
            "id": response.json()["messages"][0]["id"],
        }
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]


def _readline(proc: subprocess.Popen, timeout: float) -> str:
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
        assert selector.select(timeout), f"no output within {timeout} s; stderr: {proc.stderr.read()}"  # type: ignore[union-attr]
    line = proc.stdout.readline()  # type: ignore[union-attr]
    assert line, f"stand-in exited: {proc.stderr.read()}"  # type: ignore[union-attr]
    return line.strip()
