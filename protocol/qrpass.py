"""The signed reservation pass carried in the patient's QR code.

Wire form: ``RS1:`` + Base45( version(1) | kid(8) | payload JSON | Ed25519 signature(64) ).
The signature covers version, kid and payload. Central signs with its private key; edges
verify offline with public keys from provisioning, looked up by kid. The payload holds no
NIK, name or date of birth: only ids, the puskesmas and poli codes, the date, the slot, the
payer kind and an expiry.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from protocol import base45

PREFIX = "RS1:"
VERSION = 1
MAX_TEXT = 600  # a genuine pass is ~300 characters; anything much longer is not ours


@dataclass(frozen=True)
class Pass:
    """What a reservation pass asserts."""

    rid: str  # reservation id (random, opaque)
    puskesmas: str  # puskesmas code, e.g. "P3201010101"
    poli: str  # poli code, e.g. "UMUM"
    date: str  # service date, ISO, Asia/Jakarta
    slot: str  # e.g. "08:00-09:00"
    payer: str  # "UMUM" or "BPJS"
    exp: int  # unix seconds after which the pass is void


class PassError(ValueError):
    """A pass was rejected. ``code`` is stable for logs and tests; ``str(e)`` is for the kiosk."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 key pair with its key id (hex of the first 8 bytes of SHA-256 of the public key)."""

    kid: str
    private: bytes  # raw 32 bytes
    public: bytes  # raw 32 bytes

    @classmethod
    def generate(cls) -> SigningKey:
        key = Ed25519PrivateKey.generate()
        return cls.from_private(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))

    @classmethod
    def from_private(cls, raw: bytes) -> SigningKey:
        key = Ed25519PrivateKey.from_private_bytes(raw)
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return cls(key_id(public), raw, public)

    def public_b64(self) -> str:
        return base64.b64encode(self.public).decode()


def key_id(public: bytes) -> str:
    """Key id for a raw public key."""
    return hashlib.sha256(public).digest()[:8].hex()


def sign(p: Pass, key: SigningKey) -> str:
    """Sign a pass; returns the text to put in the QR code."""
    payload = json.dumps(asdict(p), separators=(",", ":"), sort_keys=True).encode()
    body = bytes([VERSION]) + bytes.fromhex(key.kid) + payload
    sig = Ed25519PrivateKey.from_private_bytes(key.private).sign(body)
    return PREFIX + base45.encode(body + sig)


def verify(text: str, public_keys: dict[str, bytes], puskesmas: str, today: dt.date, now_ts: float) -> Pass:
    """Verify a scanned pass for this puskesmas on this day; returns it or raises PassError.

    Checks, in order: form, known key id, signature, puskesmas, date (``today`` must be the
    Asia/Jakarta date), expiry. Single use is the caller's job (it needs the database).
    """
    text = (text or "").strip()
    if not text.startswith(PREFIX) or len(text) > MAX_TEXT:
        raise PassError("format", "Kode QR tidak dikenali. Gunakan QR reservasi dari aplikasi Rosma.")
    try:
        raw = base45.decode(text[len(PREFIX) :])
    except ValueError:
        raise PassError("format", "Kode QR rusak atau tidak lengkap.") from None
    if len(raw) < 1 + 8 + 2 + 64 or raw[0] != VERSION:
        raise PassError("format", "Kode QR rusak atau tidak lengkap.")
    body, sig = raw[:-64], raw[-64:]
    kid = body[1:9].hex()
    public = public_keys.get(kid)
    if public is None:
        raise PassError("unknown-key", "Kode QR tidak sah (kunci tidak dikenal).")
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(sig, body)
    except InvalidSignature:
        raise PassError("signature", "Kode QR tidak sah (tanda tangan tidak cocok).") from None
    try:
        data = json.loads(body[9:])
        p = Pass(**data)
    except (ValueError, TypeError):
        raise PassError("format", "Isi kode QR tidak dikenali.") from None
    if p.puskesmas != puskesmas:
        raise PassError(
            "other-puskesmas", "Reservasi ini untuk puskesmas lain. Silakan ke puskesmas yang dipilih saat reservasi."
        )
    if p.date != today.isoformat():
        when = dt.date.fromisoformat(p.date).strftime("%d-%m-%Y")
        if p.date > today.isoformat():
            raise PassError("not-today", f"Reservasi ini untuk tanggal {when}, bukan hari ini.")
        raise PassError("expired", f"Reservasi ini sudah lewat (tanggal {when}).")
    if now_ts > p.exp:
        raise PassError("expired", "Reservasi ini sudah kedaluwarsa.")
    return p


def load_public_keys(b64_by_kid: dict[str, str]) -> dict[str, bytes]:
    """Public keys from a config bundle (kid -> base64); raises ValueError if a kid does not match its key."""
    keys = {}
    for kid, b64 in b64_by_kid.items():
        raw = base64.b64decode(b64)
        if len(raw) != 32 or key_id(raw) != kid:
            raise ValueError(f"public key {kid} does not match its key id")
        keys[kid] = raw
    return keys
