"""Hashing the secrets people type: a patient's 6-digit PIN, a staff member's password.

argon2id (argon2-cffi) with OWASP's minimum parameters for it (19 MiB, 2 passes, 1 lane):
about 50 ms on a server core, under a second on a Raspberry Pi, where staff sign in offline
against the hashes central sends down. A 6-digit PIN has only a million values, so the hash
alone cannot protect it once the table is stolen; what protects it is the throttled login.
The hash string carries its parameters, so they can be raised later (``needs_rehash``).
Secrets are never stored, logged or sent in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
PIN_RE = re.compile(r"^[0-9]{6}\Z")
# verifying against this when there is no account keeps "no such account" as slow as "wrong PIN"
_DUMMY = _HASHER.hash(secrets.token_hex(8))


def hash_secret(text: str) -> str:
    """An argon2id hash string of ``text``."""
    return _HASHER.hash(text)


def verify_secret(hashed: str | None, text: str) -> bool:
    """True if ``text`` matches ``hashed``; False for a wrong one, a missing or a malformed hash
    (the same work is done when ``hashed`` is None, so timing does not tell them apart)."""
    try:
        return _HASHER.verify(hashed or _DUMMY, text) and hashed is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(hashed: str) -> bool:
    return _HASHER.check_needs_rehash(hashed)


def is_pin(text: str) -> bool:
    """Six ASCII digits."""
    return bool(PIN_RE.match(text or ""))


def weak_pin(pin: str) -> bool:
    """A PIN anyone would try first: at most two different digits (111111, 121212, 000001), a
    repeated half (123123), three pairs (112233), or a run like 123456 / 654321."""
    digits = [int(c) for c in pin]
    steps = {b - a for a, b in zip(digits, digits[1:], strict=False)}
    halves = len(pin) % 2 == 0 and pin[: len(pin) // 2] == pin[len(pin) // 2 :]
    pairs = len(pin) % 2 == 0 and all(pin[i] == pin[i + 1] for i in range(0, len(pin), 2))
    return len(set(digits)) <= 2 or halves or pairs or steps in ({1}, {-1})


def token_hash(token: str) -> str:
    """The stored form of a random bearer token or session key (SHA-256: they have 256 bits)."""
    return hashlib.sha256(token.encode()).hexdigest()


def code_hash(code: str, salt: str) -> str:
    """The stored form of a short one-time code, keyed so a table leak does not reveal it."""
    return hmac.new(salt.encode(), code.encode(), hashlib.sha256).hexdigest()
