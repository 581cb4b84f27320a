"""What can go wrong talking to BPJS, as one typed exception family with Indonesian messages.

Every error has ``message`` (Bahasa Indonesia, fit for staff or a patient; ``str(e)`` is the
same), ``kind`` (a stable word for code and logs), ``code`` (BPJS's metadata code or the HTTP
status, when there was one) and ``retryable`` (True when trying again later may succeed: time-outs,
unreachable or failing servers, damaged answers). Card numbers and NIKs never appear in them:
any run of 10 or more digits is masked, BPJS's own messages included.
"""

from __future__ import annotations

import re

_LONG_NUMBER = re.compile(r"[0-9]{10,}")


def mask(number: str) -> str:
    """A card number or NIK safe for logs: only the last 4 digits."""
    number = number or ""
    return "*" * max(len(number) - 4, 4) + number[-4:] if len(number) > 4 else "****"


def mask_numbers(text: str) -> str:
    """``text`` with every run of 10+ digits (card numbers, NIKs) masked."""
    return _LONG_NUMBER.sub(lambda m: mask(m.group(0)), text or "")


class BpjsError(Exception):
    """Base of every BPJS failure; catch this to catch them all."""

    kind = "error"
    retryable = False

    def __init__(self, message: str, *, code: int | None = None, detail: str = "") -> None:
        self.message = mask_numbers(message)
        self.code = code
        self.detail = mask_numbers(detail)  # English, for logs
        super().__init__(self.message)

    def log_text(self) -> str:
        """One line for a log: kind, code and the English detail (no personal data)."""
        code = f" code {self.code}" if self.code is not None else ""
        return f"BPJS {self.kind}{code}: {self.detail or self.message}"


class BpjsInputError(BpjsError):
    """The number given is not a card number or NIK; nothing was sent."""

    kind = "input"


class BpjsUnavailable(BpjsError):
    """BPJS could not be reached, did not answer in time, or failed on its side."""

    kind = "unavailable"
    retryable = True

    def __init__(self, message: str, *, kind: str = "unavailable", code: int | None = None, detail: str = "") -> None:
        super().__init__(message, code=code, detail=detail)
        self.kind = kind  # timeout, unreachable or server


class BpjsAuthError(BpjsError):
    """BPJS refused the puskesmas's credentials or signature (wrong secret, user key, account, clock)."""

    kind = "auth"


class BpjsMalformed(BpjsError):
    """BPJS answered something that cannot be read (not JSON, no metadata, a response that does
    not decrypt). Trying again may help: a gateway page or a damaged answer is often transient."""

    kind = "malformed"
    retryable = True


class BpjsRejected(BpjsError):
    """BPJS understood the request and said no (validation, wrong reference data, not found).

    ``bpjs_message`` is BPJS's own text (masked)."""

    kind = "rejected"

    def __init__(self, message: str, *, code: int | None = None, bpjs_message: str = "", detail: str = "") -> None:
        super().__init__(message, code=code, detail=detail)
        self.bpjs_message = mask_numbers(bpjs_message)


MSG_TIMEOUT = "Layanan BPJS Kesehatan tidak menjawab tepat waktu. Coba lagi beberapa saat lagi."
MSG_UNREACHABLE = (
    "Layanan BPJS Kesehatan tidak dapat dihubungi. Periksa koneksi internet puskesmas atau coba lagi nanti."
)
MSG_SERVER = "Layanan BPJS Kesehatan sedang mengalami gangguan (kode {code}). Coba lagi nanti."
MSG_AUTH = (
    "BPJS Kesehatan menolak akses puskesmas (kode {code}{reason}). Periksa cons-id, secret, user key, "
    "akun PCare dan jam server, lalu hubungi admin."
)
MSG_MALFORMED = (
    "Jawaban dari BPJS Kesehatan tidak dapat dibaca (data rusak atau tidak dikenal). Coba lagi; "
    "bila terus terjadi, hubungi admin."
)
MSG_NOT_FOUND_URL = "Alamat layanan BPJS Kesehatan tidak ditemukan (HTTP 404). Periksa alamat layanan di pengaturan."
MSG_REJECTED = "BPJS Kesehatan menolak permintaan (kode {code}): {reason}"
