"""Base45 (RFC 9285): binary to the QR alphanumeric alphabet, 2 bytes to 3 characters."""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}


def encode(data: bytes) -> str:
    """Encode bytes as Base45 text."""
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        n, c = divmod(n, 45)
        e, d = divmod(n, 45)
        out += [ALPHABET[c], ALPHABET[d], ALPHABET[e]]
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out += [ALPHABET[c], ALPHABET[d]]
    return "".join(out)


def decode(text: str) -> bytes:
    """Decode Base45 text; raises ValueError on a bad character, length or value."""
    try:
        vals = [_INDEX[c] for c in text]
    except KeyError as exc:
        raise ValueError("invalid base45 character") from exc
    if len(vals) % 3 == 1:
        raise ValueError("invalid base45 length")
    out = bytearray()
    for i in range(0, len(vals), 3):
        chunk = vals[i : i + 3]
        if len(chunk) == 3:
            n = chunk[0] + chunk[1] * 45 + chunk[2] * 45 * 45
            if n > 0xFFFF:
                raise ValueError("invalid base45 value")
            out += bytes(divmod(n, 256))
        else:
            n = chunk[0] + chunk[1] * 45
            if n > 0xFF:
                raise ValueError("invalid base45 value")
            out.append(n)
    return bytes(out)
