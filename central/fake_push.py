"""A stand-in Web Push service, for tests and demos: it plays the browser's push service and the
browser itself, so central's notifications can be checked end to end without Google's or
Mozilla's servers.

``FakePushService().subscribe()`` makes what a browser's ``PushManager.subscribe()`` gives a page:
an endpoint on this server and the browser's keys (a P-256 key pair and a 16-byte auth secret,
RFC 8291 §2). A message POSTed to the endpoint is checked as a push service checks it (RFC 8030
``TTL``; RFC 8292 VAPID: an ES256 JWT for this origin, not expired, signed by the key in ``k``)
and then decrypted as the browser would (RFC 8291 with RFC 8188 ``aes128gcm``). What it decrypted
is in ``received``. An endpoint made with ``subscribe(gone=True)`` answers 410 Gone, as a push
service does for a subscription the user withdrew.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAX_BODY = 8192


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PushRefused(ValueError):
    """A request a real push service or browser would refuse; ``str(e)`` says why."""


@dataclass
class Subscriber:
    """One browser subscription: its private key and auth secret (the browser keeps these)."""

    id: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    gone: bool = False
    received: list = field(default_factory=list)

    @property
    def public_raw(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )


def _hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def decrypt(sub: Subscriber, body: bytes) -> bytes:
    """The plaintext of an ``aes128gcm`` Web Push message for ``sub`` (RFC 8291 §3.4, RFC 8188 §2)."""
    if len(body) < 21:
        raise PushRefused("body shorter than the aes128gcm header")
    salt, rs, idlen = body[:16], struct.unpack(">I", body[16:20])[0], body[20]
    keyid = body[21 : 21 + idlen]
    records = body[21 + idlen :]
    if idlen != 65 or rs < 18:
        raise PushRefused("the header must carry the sender's 65-byte public key and a record size of 18 or more")
    try:
        sender = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), keyid)
    except ValueError:
        raise PushRefused("the sender's public key is not a P-256 point") from None
    shared = sub.private_key.exchange(ec.ECDH(), sender)
    ikm = _hkdf(sub.auth, shared, b"WebPush: info\x00" + sub.public_raw + keyid, 32)
    cek = _hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = _hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    out = b""
    chunks = [records[i : i + rs] for i in range(0, len(records), rs)]
    for seq, chunk in enumerate(chunks):
        iv = (int.from_bytes(nonce, "big") ^ seq).to_bytes(12, "big")
        try:
            plain = AESGCM(cek).decrypt(iv, chunk, None)
        except InvalidTag:
            raise PushRefused("the message does not decrypt with the subscription's keys") from None
        plain = plain.rstrip(b"\x00")
        last = seq == len(chunks) - 1
        if not plain or plain[-1] != (2 if last else 1):
            raise PushRefused("bad record padding delimiter")
        out += plain[:-1]
    return out


def check_vapid(header: str, origin: str, now: float | None = None) -> dict:
    """The claims of a ``vapid t=<jwt>, k=<key>`` Authorization header, verified (RFC 8292 §2-3)."""
    if not header.lower().startswith("vapid "):
        raise PushRefused("Authorization must be 'vapid t=..., k=...'")
    params = dict(part.strip().split("=", 1) for part in header[6:].split(",") if "=" in part)
    token, key = params.get("t", ""), params.get("k", "")
    try:
        head_b64, claims_b64, sig_b64 = token.split(".")
        head, claims = json.loads(unb64url(head_b64)), json.loads(unb64url(claims_b64))
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
        sig = unb64url(sig_b64)
    except (ValueError, TypeError):
        raise PushRefused("the VAPID token or key cannot be read") from None
    if head.get("alg") != "ES256" or len(sig) != 64:
        raise PushRefused("the VAPID token must be signed with ES256")
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        public.verify(der, f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise PushRefused("the VAPID signature does not match its key") from None
    now = time.time() if now is None else now
    if claims.get("aud") != origin:
        raise PushRefused(f"the VAPID audience must be {origin}")
    if not isinstance(claims.get("exp"), int) or not now < claims["exp"] <= now + 24 * 3600:
        raise PushRefused("the VAPID token must expire within 24 hours")
    if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
        raise PushRefused("the VAPID subject must be a mailto: or https: contact")
    return claims


class FakePushService:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host, self.port = host, port
        self.subscribers: dict[str, Subscriber] = {}
        self.refused: list[str] = []
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def subscribe(self, gone: bool = False) -> dict:
        """A subscription as a browser's ``PushSubscription.toJSON()`` gives it."""
        sub = Subscriber(secrets.token_hex(8), ec.generate_private_key(ec.SECP256R1()), os.urandom(16), gone)
        with self._cond:
            self.subscribers[sub.id] = sub
        return {
            "endpoint": f"{self.url}/push/{sub.id}",
            "keys": {"p256dh": b64url(sub.public_raw), "auth": b64url(sub.auth)},
        }

    def received(self) -> list[dict]:
        """Every message decrypted so far (JSON payloads decoded), oldest first."""
        with self._cond:
            return [m for s in self.subscribers.values() for m in s.received]

    def wait_for(self, predicate, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def handle(self, path: str, headers, body: bytes) -> int:
        sub = self.subscribers.get(path.removeprefix("/push/"))
        if sub is None or not path.startswith("/push/"):
            return 404
        if sub.gone:
            return 410
        try:
            if headers.get("Content-Encoding", "") != "aes128gcm":
                raise PushRefused("Content-Encoding must be aes128gcm")
            if not headers.get("TTL", "").isdigit():
                raise PushRefused("a TTL header is required")
            check_vapid(headers.get("Authorization", ""), self.url)
            plain = decrypt(sub, body)
        except PushRefused as exc:
            with self._cond:
                self.refused.append(str(exc))
                self._cond.notify_all()
            return 400
        try:
            message = json.loads(plain)
        except ValueError:
            message = {"text": plain.decode("utf-8", "replace")}
        with self._cond:
            sub.received.append(message)
            self._cond.notify_all()
        return 201

    def start(self) -> int:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self.send_response(413)
                    self.end_headers()
                    return
                status = fake.handle(self.path, self.headers, self.rfile.read(length))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True, name="fake-push").start()
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakePushService:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
