"""Finding a reservation by the patient's NIK or BPJS card number without the number leaving central.

An edge checks in a patient who has no QR (a Mobile JKN booking, a lost phone) by the NIK or card
number she gives at the kiosk or the loket. Central's change feed carries no such number: each
reservation carries ``idents``, a keyed hash of each number it was made with, keyed by the
reservation's own id. The edge hashes what the patient typed with each of today's reservation ids
and compares. A hash found in an edge database names no number, and, keyed per reservation, one
guessed number tests one reservation only.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_NUMBER = re.compile(r"[0-9]{13}|[0-9]{16}")  # a BPJS card number, or a NIK
SEPARATOR = ","


def normalise(raw: str) -> str:
    """The digits of a typed or scanned number (spaces, dots and dashes dropped); "" when it is
    neither a 13-digit card number nor a 16-digit NIK."""
    text = re.sub(r"[\s.\-]", "", str(raw or ""))[:40]
    return text if _NUMBER.fullmatch(text) else ""


def ident(rid: str, number: str) -> str:
    """The hash of ``number`` (already normalised) for reservation ``rid``: 32 hex characters."""
    return hmac.new(rid.encode(), b"rosma-ident-1:" + number.encode(), hashlib.sha256).hexdigest()[:32]


def idents(rid: str, numbers) -> str:
    """The ``idents`` field of a reservation: the hashes of its valid, distinct numbers."""
    out = []
    for n in numbers:
        n = normalise(n or "")
        if n and ident(rid, n) not in out:
            out.append(ident(rid, n))
    return SEPARATOR.join(out[:3])


def matches(rid: str, field: str, number: str) -> bool:
    """Whether ``number`` (normalised) is one of those hashed in ``field`` for ``rid``."""
    if not field or not number:
        return False
    want = ident(rid, number)
    return any(hmac.compare_digest(want, h) for h in field.split(SEPARATOR))
