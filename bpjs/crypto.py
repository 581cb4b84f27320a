"""Request signatures and response encryption of the BPJS Kesehatan web services.

- ``X-signature`` = base64(HMAC-SHA256(key = consumer secret, message = ``cons_id + "&" + timestamp``)).
- ``X-authorization`` (PCare) = ``"Basic " + base64("username:password:kdAplikasi")``.
- An encrypted ``response`` is base64(AES-256-CBC(PKCS#7, LZString-EncodedURIComponent(JSON))), with
  key = SHA-256(``cons_id + secret + timestamp``) and IV = the first 16 bytes of that key. The
  timestamp is the very ``X-timestamp`` string the request carried: read the clock once per request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bpjs.lzstring import (
    LZStringError,
    compress_to_encoded_uri_component,
    decompress_from_encoded_uri_component,
)

BLOCK = 16


class DecryptError(ValueError):
    """An encrypted ``response`` could not be turned back into JSON (the reason is in English)."""


def hmac_base64(message: str, key: str) -> str:
    """base64 of HMAC-SHA256(key, message): raw digest, standard alphabet with ``+ / =``."""
    digest = hmac.new(key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signature(cons_id: str, secret: str, timestamp: str) -> str:
    """The ``X-signature`` header for one request."""
    return hmac_base64(f"{cons_id}&{timestamp}", secret)


def authorization(username: str, password: str, app_code: str = "095") -> str:
    """The PCare ``X-authorization`` header (kdAplikasi 095 is PCare's)."""
    token = base64.b64encode(f"{username}:{password}:{app_code}".encode()).decode("ascii")
    return f"Basic {token}"


def key_and_iv(cons_id: str, secret: str, timestamp: str) -> tuple[bytes, bytes]:
    """AES-256 key = SHA-256(cons_id + secret + timestamp); IV = its first 16 bytes."""
    key = hashlib.sha256(f"{cons_id}{secret}{timestamp}".encode()).digest()
    return key, key[:BLOCK]


def payload_json(payload: Any) -> str:
    """The compact JSON text BPJS encrypts (no spaces, non-ASCII kept as is)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def encrypt_text(text: str, cons_id: str, secret: str, timestamp: str) -> str:
    """LZ-compress ``text``, encrypt it and base64 it: a ``response`` string as BPJS sends it."""
    key, iv = key_and_iv(cons_id, secret, timestamp)
    padder = padding.PKCS7(BLOCK * 8).padder()
    plain = padder.update(compress_to_encoded_uri_component(text).encode("utf-8")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")


def encrypt_payload(payload: Any, cons_id: str, secret: str, timestamp: str) -> str:
    """``encrypt_text`` of the payload's compact JSON."""
    return encrypt_text(payload_json(payload), cons_id, secret, timestamp)


def ciphertext_bytes(value: Any) -> bytes | None:
    """The raw bytes of ``value`` if it looks like an encrypted response, else None.

    Encrypted means: a non-empty string of standard base64 whose length is a whole number of AES
    blocks. Anything else (an object, a list, null, plain text) is a response sent in the clear.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if raw and len(raw) % BLOCK == 0 else None


def decrypt_text(value: str, cons_id: str, secret: str, timestamp: str) -> str:
    """The JSON text inside an encrypted ``response``; DecryptError if it is not one."""
    raw = ciphertext_bytes(value)
    if raw is None:
        raise DecryptError("the response is not base64 of whole AES blocks")
    key, iv = key_and_iv(cons_id, secret, timestamp)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(raw) + decryptor.finalize()
    unpadder = padding.PKCS7(BLOCK * 8).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise DecryptError("bad padding after decryption (wrong key or damaged data)") from exc
    try:
        return decompress_from_encoded_uri_component(plain.decode("utf-8"))
    except (UnicodeDecodeError, LZStringError) as exc:
        raise DecryptError(f"the decrypted bytes are not LZ-String text ({exc})") from exc


def decrypt_payload(value: str, cons_id: str, secret: str, timestamp: str) -> Any:
    """The parsed JSON payload of an encrypted ``response``; DecryptError if anything is off."""
    text = decrypt_text(value, cons_id, secret, timestamp)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise DecryptError("the decrypted text is not JSON") from exc
