"""The notification port: a message for a patient's phone, the error a send may raise, the interface.

Phone numbers are Indonesian mobile numbers as Rosma stores them ("08xxxxxxxxxx"); adapters turn
them into the form their API wants with ``international()`` ("628...") or ``e164()`` ("+628...")
and log them only through ``mask_phone()`` ("0812****7890").
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass

DEFAULT_TIMEOUT = 10.0  # seconds, for connecting and for each read of an HTTP adapter

KIND_OTP = "otp"  # a one-time code: WhatsApp authentication template (copy-code button)
KIND_INFO = "info"  # a reminder or call notice: WhatsApp utility template
KINDS = (KIND_OTP, KIND_INFO)
OTP_MAX_CHARS = 15  # WhatsApp: the copy-code button carries at most 15 characters

# NotifyError.reason
REASON_RECIPIENT = "recipient"  # this number cannot get the message (not a mobile number, not on WhatsApp)
REASON_UNAVAILABLE = "unavailable"  # the provider is busy, down or slow: trying again later may work
REASON_FAILED = "failed"  # the provider refused the request or the adapter is misconfigured

# Messages a patient may read (Bahasa Indonesia).
MSG_TRY_LATER = "Pesan tidak dapat dikirim ke nomor Anda. Coba lagi nanti."
MSG_NOT_ON_WHATSAPP = "Nomor HP ini tidak dapat menerima pesan WhatsApp."
MSG_BAD_PHONE = "Nomor HP tidak valid. Periksa kembali nomor HP Anda."
MSG_FAILED = "Pesan tidak dapat dikirim. Silakan hubungi petugas puskesmas."

_TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")  # WhatsApp template names: lowercase, digits, underscores
_SEPARATORS = re.compile(r"[\s\-.()]")
_LOCAL_MOBILE = re.compile(r"^08\d{8,11}$")  # 08 + 8..11 digits: 10 to 13 digits in all


@dataclass(frozen=True)
class Notification:
    """One message for one patient.

    ``phone`` is the number as stored ("08xxxxxxxxxx"; "628..." and "+628..." are accepted too).
    ``template`` is the stable template name (the WhatsApp template, e.g. "rosma_otp"), ``params``
    its body parameters in order, ``text`` the whole message in Bahasa Indonesia for channels that
    send free text (SMS, log). For ``kind`` "otp" ``params`` is exactly the one-time code (at most
    15 characters); "info" is a reminder or call notice.

    Raises ValueError for a malformed template name, kind, params or an empty text; a bad phone
    number is found by ``send()`` (NotifyError), where the caller handles every other failure.
    """

    phone: str
    template: str
    params: tuple[str, ...]
    text: str
    kind: str = KIND_OTP

    def __post_init__(self) -> None:
        if not isinstance(self.template, str) or not _TEMPLATE_NAME.match(self.template):
            raise ValueError(f"notification template must be lowercase letters, digits and _, got {self.template!r}")
        if self.kind not in KINDS:
            raise ValueError(f"notification kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not isinstance(self.params, tuple) or not all(isinstance(p, str) and p for p in self.params):
            raise ValueError(f"notification params must be a tuple of non-empty strings, got {self.params!r}")
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValueError("notification text must be a non-empty string")
        if not isinstance(self.phone, str):
            raise ValueError(f"notification phone must be a string, got {type(self.phone).__name__}")
        if self.kind == KIND_OTP and (len(self.params) != 1 or len(self.params[0]) > OTP_MAX_CHARS):
            raise ValueError(f"an otp notification has exactly one param, the code (at most {OTP_MAX_CHARS} chars)")

    @property
    def code(self) -> str:
        """The one-time code of an "otp" notification ("" for "info")."""
        return self.params[0] if self.kind == KIND_OTP else ""


class NotifyError(Exception):
    """A message was not sent.

    ``str(error)`` is an Indonesian message safe to show the patient. ``retryable`` says whether
    sending the same message later may work (timeouts, HTTP 429 and 5xx, provider rate limits);
    the adapters never retry, the caller decides. ``reason`` is one of REASON_*; ``detail`` is an
    English explanation for logs (no token, phone masked).
    """

    def __init__(self, message: str, *, retryable: bool, reason: str = REASON_FAILED, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.reason = reason
        self.detail = detail

    def __repr__(self) -> str:
        return f"NotifyError({self.message!r}, retryable={self.retryable}, reason={self.reason!r})"


class Notifier(ABC):
    """A channel to patients' phones (WhatsApp, SMS, a log).

    Implementations are safe to call from several threads, never retry, and never block forever:
    every network call has a finite timeout (default 10 s). HTTP adapters keep connections open
    between messages; ``close()`` (or leaving a ``with`` block) releases them.

    ``reaches_phones`` is False for a notifier that sends nothing (``none``): callers then offer
    another way (the loket) instead of promising a message.
    """

    reaches_phones: bool = True

    @abstractmethod
    def send(self, n: Notification) -> str:
        """Send one message; return the provider's message id (or a local id, "" if there is none).

        Raises NotifyError: a number that is not an Indonesian mobile number or cannot receive
        the message (retryable False), a provider that is down, busy or slow (retryable True),
        a request the provider refuses, e.g. an expired token or unknown template (retryable False).
        """

    @abstractmethod
    def describe(self) -> str:
        """One line for logs and status pages, e.g. "whatsapp (graph.facebook.com, phone number id 1234)".

        Never contains a token or other secret.
        """

    def close(self) -> None:
        """Release network connections kept for the next message; the notifier stays usable."""
        return None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


def local_phone(phone: str) -> str:
    """The stored form "08..." of an Indonesian mobile number given as "08...", "628..." or "+628...".

    Spaces, dashes, dots and parentheses are ignored. Raises NotifyError (retryable False,
    reason "recipient") for anything that is not an Indonesian mobile number.
    """
    digits = _SEPARATORS.sub("", phone) if isinstance(phone, str) else ""
    if digits.startswith("+62"):
        digits = "0" + digits[3:]
    elif digits.startswith("62"):
        digits = "0" + digits[2:]
    if not _LOCAL_MOBILE.match(digits):
        raise NotifyError(
            MSG_BAD_PHONE,
            retryable=False,
            reason=REASON_RECIPIENT,
            detail=f"not an Indonesian mobile number: {mask_phone(str(phone))}",
        )
    return digits


def international(phone: str) -> str:
    """ "628..." (country code, no plus): what the WhatsApp Cloud API's ``to`` takes. See local_phone()."""
    return "62" + local_phone(phone)[1:]


def e164(phone: str) -> str:
    """ "+628...": E.164. See local_phone()."""
    return "+" + international(phone)


def mask_phone(phone: str) -> str:
    """The number as logs may show it: "081234567890" -> "0812****7890"; short strings -> "****" + last 2."""
    text = str(phone).strip()
    if len(text) >= 9:
        return f"{text[:4]}****{text[-4:]}"
    return "****" + text[-2:] if len(text) > 2 else "****"
