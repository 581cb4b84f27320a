"""A fake BPJS Kesehatan (PCare peserta and Antrean FKTP) that speaks the real protocol over HTTP.

It checks every request as BPJS does (``X-cons-id``, ``X-timestamp`` within ``drift`` seconds,
``X-signature``, ``user_key``, and for PCare ``X-authorization``; header names in any case) and
encrypts each payload with the key of that request (consumer id + secret + the request's
timestamp). Its members, poli and doctors are the made-up ones in ``fixtures``.

Paths (each also under ``/pcare-rest-dev`` and ``/antreanfktp_dev``)::

    GET  /pcare-rest/peserta/{noKartu}          GET /pcare-rest/peserta/{noka|nik}/{nomor}
    GET  /antreanfktp/ref/poli/tanggal/{yyyy-mm-dd}
    GET  /antreanfktp/ref/dokter/kodepoli/{kode}/tanggal/{yyyy-mm-dd}
    POST /antreanfktp/antrean/add | antrean/panggil | antrean/batal

Answers: PCare ``{"metaData": {"message", "code"}, "response"}``, Antrean ``metadata`` in lower
case; HTTP 200 with the code in the body. A refused signature or account is code 401, an unknown
member 204 with ``response: null``, a refused report 201 with the reason.

Idempotency, as the reference describes the service: a patient holds one queue number per day and
poli, so a second ``add`` for them is refused with "Nomor antrean hanya dapat diambil 1 kali ..."
and nothing is stored twice; ``panggil`` may be repeated (the status is set again); a second
``batal`` is refused with "Antrean sudah dibatalkan". Every report, accepted or not, is kept in
``reported`` (and at ``GET /_fake/reported``) with the code it got.

Faults, per path prefix, from tests (``set_fault``) or over HTTP (``POST /_fake/faults`` with
``{"path": "/pcare-rest/peserta", "fault": "timeout", "times": 1}``; ``DELETE /_fake/faults``
clears them, ``POST /_fake/reset`` clears faults and reports). ``times`` omitted = until cleared.

    http500        HTTP 500 with an HTML page (nothing done)
    html           HTTP 200 with an HTML gateway page (nothing done)
    bad_signature  the 401 envelope of a refused signature, whatever was sent (nothing done)
    disconnect     the connection is closed without an answer (nothing done)
    timeout        the request is carried out, the answer is held back ``delay`` s (default 30)
    malformed      carried out; the ciphertext is truncated (or, with no payload, the JSON is cut)
    wrong_key      carried out; the payload is encrypted with another secret

The control endpoint has no authentication: the fake is for loopback demos and tests only.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bpjs import fixtures
from bpjs.crypto import encrypt_payload
from bpjs.errors import mask_numbers
from bpjs.fake_rules import HTML_NOT_FOUND, Answer, FakeRules
from bpjs.fixtures import FakeConsumer

log = logging.getLogger(__name__)

FAULTS = ("http500", "html", "bad_signature", "disconnect", "timeout", "malformed", "wrong_key")
_BEFORE = frozenset({"http500", "html", "bad_signature", "disconnect"})
PCARE_PREFIXES = ("/pcare-rest", "/pcare-rest-dev")
ANTREAN_PREFIXES = ("/antreanfktp", "/antreanfktp_dev")
MAX_BODY = 64 * 1024
HTML_ERROR = b"<html><head><title>500 Internal Server Error</title></head><body><h1>Error</h1></body></html>"
HTML_GATEWAY = b"<html><body><h1>502 Bad Gateway</h1><p>The upstream server is unavailable.</p></body></html>"


@dataclass
class Fault:
    path: str
    fault: str
    times: int | None = None
    delay: float = 30.0


class FakeBpjs:
    """The fake service; ``start()`` returns the port, ``url`` is ``http://host:port``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        consumers: Iterable[FakeConsumer] = fixtures.CONSUMERS,
        members: Iterable[dict] = fixtures.MEMBERS,
        *,
        drift: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self.port = port
        self.rules = FakeRules(consumers, members, drift=drift, clock=clock)
        self.reported: list[dict] = []
        self.requests = 0
        self._faults: list[Fault] = []
        self._cond = threading.Condition()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- control ---------------------------------------------------------

    def set_fault(self, path: str, fault: str, times: int | None = None, delay: float = 30.0) -> None:
        """Answer requests whose path starts with ``path`` with ``fault`` (``times`` times, or until cleared)."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1")
        with self._cond:
            self._faults.append(Fault("/" + path.lstrip("/"), fault, times, float(delay)))
            self._release.clear()

    def clear_faults(self) -> None:
        """No more faults; answers held back by ``timeout`` are released now."""
        with self._cond:
            self._faults.clear()
        self._release.set()

    def reset(self) -> None:
        """Clear faults, reports and the queue state."""
        self.clear_faults()
        with self._cond:
            self.reported.clear()
            self.rules.queue.clear()
            self.requests = 0

    def accepted(self, kind: str | None = None) -> list[dict]:
        """The reports BPJS took (code 200), optionally of one kind (add, panggil, batal)."""
        with self._cond:
            return [r for r in self.reported if r["code"] == 200 and (kind is None or r["kind"] == kind)]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Wait until ``predicate()`` holds; it is checked whenever a request has been handled."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def _take_fault(self, path: str) -> Fault | None:
        with self._cond:
            for fault in self._faults:
                if path.startswith(fault.path):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    # --- server ----------------------------------------------------------

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> int:
        if self._server is not None:
            raise RuntimeError("fake BPJS already started")
        server = ThreadingHTTPServer((self.host, self.port), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self.port = server.server_address[1]
        self._release.clear()
        # a short poll interval: stop() (shutdown) waits for at most one interval
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-bpjs", daemon=True)
        self._thread.start()
        log.info("Fake BPJS listening on %s", self.url)
        return self.port

    def stop(self) -> None:
        if self._server is None:
            return
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = self._thread = None

    def __enter__(self) -> FakeBpjs:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- the service -----------------------------------------------------

    def _record(self, consumer: FakeConsumer, route: str, body: Any, answer: Answer) -> None:
        kind = route.rstrip("/").rsplit("/", 1)[-1]
        with self._cond:
            entry = {"kind": kind, "cons_id": consumer.cons_id, "body": body}
            self.reported.append({**entry, "code": answer.code, "message": answer.message})


def _damaged(ciphertext: str) -> str:
    """The ciphertext without its last block (so without its padding), or with a flipped byte."""
    raw = base64.b64decode(ciphertext)
    raw = raw[:-16] if len(raw) > 16 else bytes([raw[0] ^ 1]) + raw[1:]
    return base64.b64encode(raw).decode("ascii")


def _split(path: str) -> tuple[str, str] | None:
    for service, prefixes in (("pcare", PCARE_PREFIXES), ("antrean", ANTREAN_PREFIXES)):
        for prefix in prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                return service, path[len(prefix) :]
    return None


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeBPJS/1.0"
    protocol_version = "HTTP/1.1"

    @property
    def fake(self) -> FakeBpjs:
        return self.server.fake  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        log.debug("fake BPJS: %s", mask_numbers(format % args))

    def do_GET(self) -> None:  # noqa: N802 - http.server's names
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def _body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        if length < 0 or length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        fake = self.fake
        path = self.path.split("?", 1)[0]
        raw = self._body()
        if raw is None:
            self._send(413, b"request too large", "text/plain")
            return
        try:
            if path.startswith("/_fake/"):
                self._control(method, path, raw)
            else:
                self._service(method, path, raw)
        finally:
            with fake._cond:
                fake.requests += 1
                fake._cond.notify_all()

    def _control(self, method: str, path: str, raw: bytes) -> None:
        fake = self.fake
        if path == "/_fake/reported" and method == "GET":
            with fake._cond:
                self._json(200, {"reported": list(fake.reported)})
            return
        if path == "/_fake/faults" and method == "POST":
            try:
                spec = json.loads(raw or b"{}")
                fake.set_fault(spec["path"], spec["fault"], spec.get("times"), spec.get("delay", 30.0))
            except (ValueError, KeyError, TypeError) as exc:
                self._json(400, {"error": f"{type(exc).__name__}: {exc}"})
                return
            self._json(200, {"ok": True})
            return
        if path == "/_fake/faults" and method == "DELETE":
            fake.clear_faults()
            self._json(200, {"ok": True})
            return
        if path == "/_fake/reset" and method == "POST":
            fake.reset()
            self._json(200, {"ok": True})
            return
        self._json(404, {"error": "unknown control path"})

    def _service(self, method: str, path: str, raw: bytes) -> None:
        fake = self.fake
        found = _split(path)
        if found is None:
            self._send(404, HTML_NOT_FOUND, "text/html")
            return
        service, route = found
        fault = fake._take_fault(path)
        if fault is not None and fault.fault in _BEFORE:
            self._fault_before(service, fault)
            return
        consumer, refusal = fake.rules.authenticate(service, self.headers)
        if refusal is not None:
            self._envelope(service, refusal, None)
            return
        body: Any = None
        if raw:
            try:
                body = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                body = None
        with fake._cond:
            answer = fake.rules.handle(service, method, route, body)
            if service == "antrean" and route.startswith("/antrean/") and method == "POST":
                fake._record(consumer, route, body, answer)
        if fault is not None and fault.fault == "timeout":
            fake._release.wait(fault.delay)
        self._envelope(service, answer, consumer, fault.fault if fault else None)

    def _fault_before(self, service: str, fault: Fault) -> None:
        if fault.fault == "http500":
            self._send(500, HTML_ERROR, "text/html")
        elif fault.fault == "html":
            self._send(200, HTML_GATEWAY, "text/html")
        elif fault.fault == "bad_signature":
            self._envelope(service, Answer(401, "Signature tidak valid"), None)
        else:  # disconnect
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def _envelope(self, service: str, answer: Answer, consumer: FakeConsumer | None, fault: str | None = None) -> None:
        if answer.raw is not None:
            self._send(answer.http_status, answer.raw, answer.content_type)
            return
        response: Any = None
        if answer.payload is not None and consumer is not None:
            stamp = self.headers.get("X-timestamp", "")
            secret = consumer.secret + ("-wrong" if fault == "wrong_key" else "")
            response = encrypt_payload(answer.payload, consumer.cons_id, secret, stamp)
            if fault == "malformed":
                response = _damaged(response)
        meta_key = "metaData" if service == "pcare" else "metadata"
        data = json.dumps({meta_key: {"message": answer.message, "code": answer.code}, "response": response})
        blob = data.encode("utf-8")
        if fault == "malformed" and response is None:
            blob = blob[: len(blob) // 2]
        self._send(answer.http_status, blob, "application/json")

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode("utf-8"), "application/json")

    def _send(self, status: int, blob: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(blob)))
            self.end_headers()
            self.wfile.write(blob)
        except OSError:
            self.close_connection = True  # the client gave up (e.g. after a time-out)


def main(argv: list[str] | None = None, prog: str = "python -m bpjs.fake") -> int:
    """Run the fake until SIGTERM or SIGINT; prints its address first."""
    parser = argparse.ArgumentParser(
        prog=prog, description="A fake BPJS Kesehatan (PCare peserta, Antrean FKTP) speaking the real protocol."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=18090, help="TCP port, 0 = any free port (default 18090)")
    parser.add_argument("--drift", type=float, default=300.0, help="accepted X-timestamp drift in seconds (300)")
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    fake = FakeBpjs(args.host, args.port, drift=args.drift)
    try:
        fake.start()
    except OSError as exc:
        print(f"Cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    print(f"Fake BPJS listening on {fake.url}", flush=True)
    print(f"  PCare:        {fake.url}/pcare-rest", flush=True)
    print(f"  Antrean FKTP: {fake.url}/antreanfktp", flush=True)
    for c in fake.rules.consumers.values():
        print(f"  consumer {c.cons_id} ({c.ppk_name}, {c.ppk_code})", flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        fake.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
