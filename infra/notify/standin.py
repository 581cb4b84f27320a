"""A local stand-in for the WhatsApp Cloud API and an SMS gateway, over real HTTP, for tests and demos.

Like the virtual printer it is a fake at the network boundary: the real adapters
(``open_notifier("whatsapp+http://127.0.0.1:PORT/v21.0/<ID>?token=...")`` and
``sms+http://127.0.0.1:PORT/sms/send?...``) are exercised end to end.

It checks each request as the real service would (``infra.notify.shapes``: method, path, token,
content type, the exact JSON or form shape) and answers like it: Meta's Graph error envelope on
the WhatsApp path, a JSON error on the SMS path.
Accepted WhatsApp messages get 200 ``{"messaging_product": "whatsapp", "contacts": [{"input",
"wa_id"}], "messages": [{"id": "wamid..."}]}``; SMS 200 ``{"status": "queued", "<id_field>":
"sms-N"}`` (a dotted id_field nests).

Every accepted message is appended to ``received``; every refusal to ``rejected``.

Fault injection (the next ``count`` requests, to either service, before any check):
``trigger_fake_status(500)`` / ``(429)`` (a Graph envelope on the WhatsApp path, or ``body``),
``trigger_fake_graph_error(131026)``, ``trigger_fake_timeout()`` (never answers until stop();
``wait_held()`` waits until such a request is being held).

Command line (runs until SIGTERM or SIGINT; prints the port, then one JSON line per accepted
message)::

    python -m infra.notify.standin --port 0 --token standin-token
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, quote_plus, urlencode, urlsplit

from infra.notify.shapes import (
    DEFAULT_TEMPLATES,
    GRAPH_PATH,
    Refusal,
    StandinTemplate,
    WhatsappSpec,
    check_sms,
    check_whatsapp,
    graph_error_body,
)
from infra.notify.sms import SmsOptions
from infra.notify.transport import redact

logger = logging.getLogger(__name__)

_MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class Received:
    """One accepted request: ``service`` "whatsapp" or "sms", the parsed ``body`` (JSON, or a form
    as a dict of strings), ``query``, ``headers`` and the id answered."""

    service: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]
    message_id: str


@dataclass(frozen=True)
class Rejected:
    """One refused request: the service, the HTTP status answered and why (the Graph code if any)."""

    service: str
    status: int
    reason: str
    code: int | None = None


@dataclass
class _Fault:
    kind: str  # "status", "graph", "timeout"
    status: int = 0
    code: int | None = None
    body: bytes | None = None


@dataclass
class _Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class StandIn:
    """The stand-in server (see the module docstring). Thread-safe; a context manager.

    ``token`` is the access token / API key both services expect. ``sms`` and ``sms_path``
    describe the SMS gateway; ``templates`` the WhatsApp templates (default rosma_otp,
    authentication, 1 parameter; rosma_reminder, utility, any). ``on_message`` is called with
    each Received, in the handler thread.
    """

    def __init__(
        self,
        *,
        token: str = "standin-token",
        phone_number_id: str = "1234567890",
        graph_version: str = "v21.0",
        templates: dict[str, StandinTemplate] | None = None,
        sms: SmsOptions | None = None,
        sms_path: str = "/sms/send",
        host: str = "127.0.0.1",
        on_message: Callable[[Received], None] | None = None,
    ) -> None:
        self.token = token
        self.phone_number_id = phone_number_id
        self.graph_version = graph_version
        self.templates = dict(DEFAULT_TEMPLATES if templates is None else templates)
        self.sms = sms or SmsOptions()
        self.sms_path = sms_path
        self.host = host
        self.on_message = on_message
        self.received: list[Received] = []
        self.rejected: list[Rejected] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._held = threading.Condition(self._lock)
        self._held_count = 0
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._counter = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, port: int = 0) -> int:
        """Listen on ``host``:``port`` (0: any free port) and serve in a thread; returns the port."""
        if self._server is not None:
            raise RuntimeError("stand-in already started")
        self._stopping.clear()
        server = ThreadingHTTPServer((self.host, port), _Handler)
        server.daemon_threads = True
        server.block_on_close = False
        server.standin = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="notify-standin", daemon=True
        )
        self._thread.start()
        return self.port

    def stop(self) -> None:
        """Stop serving; a request held by a timeout fault is dropped without an answer."""
        self._stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> StandIn:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("stand-in not started")
        return self._server.server_address[1]

    def whatsapp_uri(self, credential: str = "wa_token", **options: str) -> str:
        """A ``whatsapp+http://`` URI for this stand-in; ``options`` are more query options (lang, timeout)."""
        query = urlencode({"token": credential, **options})
        return f"whatsapp+http://{self.host}:{self.port}/{self.graph_version}/{self.phone_number_id}?{query}"

    def sms_uri(self, credential: str = "sms_token", **options: str) -> str:
        """A ``sms+http://`` URI matching ``sms`` (auth, format, fields...); ``options`` override or add."""
        o = self.sms
        query: dict[str, str] = {
            "token": credential,
            "auth": o.auth,
            "format": o.format,
            "to_field": o.to_field,
            "text_field": o.text_field,
            "number": o.number,
        }
        query.update({f"field.{k}": v for k, v in o.fields})
        query.update(options)
        return f"sms+http://{self.host}:{self.port}{self.sms_path}?{urlencode(query)}"

    # -- fault injection ---------------------------------------------------------------------

    def trigger_fake_status(self, status: int, count: int = 1, body: bytes | None = None) -> None:
        """The next ``count`` requests answer ``status``: on the WhatsApp path with a Graph envelope
        (code 130429 for 429, code 2 for 503, code 1 otherwise) unless ``body`` is given."""
        self._add_faults(_Fault("status", status=status, body=body), count)

    def trigger_fake_graph_error(self, code: int, count: int = 1, status: int = 400) -> None:
        """The next ``count`` requests answer a Graph error envelope with ``code`` and ``status``."""
        self._add_faults(_Fault("graph", status=status, code=code), count)

    def trigger_fake_timeout(self, count: int = 1) -> None:
        """The next ``count`` requests are read and never answered (until stop())."""
        self._add_faults(_Fault("timeout"), count)

    def wait_held(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Wait until ``count`` requests are being held by timeout faults; False if ``timeout`` s pass first."""
        with self._held:
            return self._held.wait_for(lambda: self._held_count >= count, timeout)

    def _add_faults(self, fault: _Fault, count: int) -> None:
        with self._lock:
            self._faults.extend([fault] * count)

    # -- request handling --------------------------------------------------------------------

    def _handle(self, h: _Handler) -> None:
        split = urlsplit(h.path)
        service = "whatsapp" if GRAPH_PATH.match(split.path) else "sms" if split.path == self.sms_path else ""
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
        body = _read_body(h)
        if fault is not None:
            self._answer_fault(h, fault, service)
            return
        if service == "whatsapp":
            answer = self._whatsapp(h, split.path, body)
        elif service == "sms":
            answer = self._sms(h, split.query, body)
        else:
            self._reject(Rejected("", 404, f"no such path {split.path}"))
            answer = _Answer(404, _json({"error": "not found"}))
        _send(h, answer)

    def _answer_fault(self, h: _Handler, fault: _Fault, service: str) -> None:
        if fault.kind == "timeout":
            h.close_connection = True
            with self._held:
                self._held_count += 1
                self._held.notify_all()
            self._stopping.wait()
            return
        if fault.kind == "graph":
            assert fault.code is not None
            _send(h, _Answer(fault.status, graph_error_body(fault.code)))
            return
        if fault.body is not None:
            html = fault.body.lstrip()[:1] == b"<"
            _send(h, _Answer(fault.status, fault.body, "text/html" if html else "text/plain"))
        elif service == "whatsapp":
            code = 130429 if fault.status == 429 else 2 if fault.status == 503 else 1
            _send(h, _Answer(fault.status, graph_error_body(code)))
        else:
            _send(h, _Answer(fault.status, _json({"status": "error", "error": f"fake status {fault.status}"})))

    def _spec(self) -> WhatsappSpec:
        return WhatsappSpec(self.token, self.phone_number_id, self.graph_version, self.templates)

    def _next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def _reject(self, rejected: Rejected) -> None:
        logger.debug("stand-in refused a %s request: %s %s", rejected.service, rejected.status, rejected.reason)
        with self._lock:
            self.rejected.append(rejected)

    def _accept(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)
        if self.on_message is not None:
            self.on_message(received)

    def _whatsapp(self, h: _Handler, path: str, raw: bytes) -> _Answer:
        try:
            message = check_whatsapp(h.command, path, h.headers, raw, self._spec())
        except Refusal as refusal:
            self._reject(Rejected("whatsapp", refusal.status, refusal.reason, refusal.code))
            return _Answer(refusal.status, graph_error_body(refusal.code or 100, refusal.reason, refusal.subcode))
        seq = self._next_id()
        wamid = "wamid." + base64.b64encode(f"rosma-standin-{seq:08d}-{os.urandom(6).hex()}".encode()).decode().rstrip(
            "="
        )
        to = message["to"]
        self._accept(Received("whatsapp", h.command, path, {}, dict(h.headers.items()), message, wamid))
        return _Answer(
            200,
            _json(
                {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
                    "messages": [{"id": wamid}],
                }
            ),
        )

    def _sms(self, h: _Handler, query_string: str, raw: bytes) -> _Answer:
        try:
            body, query = check_sms(h.command, query_string, h.headers, raw, self.token, self.sms)
        except Refusal as refusal:
            self._reject(Rejected("sms", refusal.status, refusal.reason))
            return _Answer(refusal.status, _json({"status": "error", "error": refusal.reason}))
        message_id = f"sms-{self._next_id()}"
        self._accept(Received("sms", h.command, self.sms_path, query, dict(h.headers.items()), body, message_id))
        answer: dict[str, Any] = {"status": "queued"}
        parts = (self.sms.id_field or "id").split(".")
        node = answer
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = message_id
        return _Answer(200, _json(answer))


class _Handler(BaseHTTPRequestHandler):
    server_version = "RosmaNotifyStandIn/1"

    def _dispatch(self) -> None:
        self.server.standin._handle(self)  # type: ignore[attr-defined]

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        token = self.server.standin.token  # type: ignore[attr-defined]
        line = redact(format % args, (token, quote(token, safe=""), quote_plus(token)))
        logger.debug("stand-in %s: %s", self.address_string(), line)


def _read_body(h: _Handler) -> bytes:
    try:
        length = int(h.headers.get("Content-Length", "0"))
    except ValueError:
        length = 0
    return h.rfile.read(min(max(length, 0), _MAX_BODY)) if length else b""


def _send(h: _Handler, answer: _Answer) -> None:
    h.send_response(answer.status)
    h.send_header("Content-Type", answer.content_type)
    h.send_header("Content-Length", str(len(answer.body)))
    for key, value in answer.headers.items():
        h.send_header(key, value)
    h.end_headers()
    h.wfile.write(answer.body)


def _json(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    """``python -m infra.notify.standin``: serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m infra.notify.standin", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0 = any free port; printed on stdout)")
    parser.add_argument("--token", default="standin-token", help="the access token / API key both services expect")
    parser.add_argument("--phone-number-id", default="1234567890", help="WhatsApp phone number id (1234567890)")
    parser.add_argument("--graph-version", default="v21.0", help="Graph API version in the path (v21.0)")
    parser.add_argument("--sms-path", default="/sms/send", help="SMS gateway path (/sms/send)")
    parser.add_argument(
        "--sms-auth", default="bearer", help="bearer, header:<Name>, query:<name>, body:<name> or basic:<user>"
    )
    parser.add_argument("--sms-format", default="json", choices=("json", "form"))
    parser.add_argument("--sms-to-field", default="to")
    parser.add_argument("--sms-text-field", default="message")
    parser.add_argument("--sms-number", default="intl", choices=("intl", "e164", "local"))
    args = parser.parse_args(argv)
    try:
        sms = SmsOptions(
            to_field=args.sms_to_field,
            text_field=args.sms_text_field,
            format=args.sms_format,
            auth=args.sms_auth,
            number=args.sms_number,
        )
    except ValueError as exc:
        parser.error(str(exc))

    def show(received: Received) -> None:
        body = received.body
        if received.service == "whatsapp":
            template = body["template"]
            params = [p["text"] for c in template.get("components", []) if c["type"] == "body" for p in c["parameters"]]
            line = {"service": "whatsapp", "to": body["to"], "template": template["name"], "params": params}
        else:
            line = {"service": "sms", "to": body[sms.to_field], "text": body[sms.text_field]}
        print(json.dumps({**line, "id": received.message_id}, ensure_ascii=False), flush=True)

    standin = StandIn(
        token=args.token,
        phone_number_id=args.phone_number_id,
        graph_version=args.graph_version,
        sms=sms,
        sms_path=args.sms_path,
        host=args.host,
        on_message=show,
    )
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    print(standin.start(args.port), flush=True)
    try:
        done.wait()
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
