"""Who is who at central: patients (NIK + tanggal lahir identify, a 6-digit PIN is the secret),
their sessions and API tokens, "Lupa PIN", and staff sign-in.

- Registration and login answer the same way whether or not a NIK has an account, and both are
  throttled (``central.limits``: per account, per address, per account and device, globally).
- Sessions and tokens live in the database as hashes: logout, a PIN change or a reset end them
  at once, in every web process.
- An account from release 0.1.0 has no PIN: it cannot log in until its owner sets one with a
  one-time code sent to the phone on file, or with a code the loket gives after checking the KTP.
- Logs carry ids only: never a NIK, a name, a birth date, a PIN or a code.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from peewee import IntegrityError

from central import limits
from central.core.calendar import parse_date
from central.core.patients import validate_registration
from central.models import ApiToken, Patient, PinReset, Staff, WebSession, database, utcnow
from infra.notify import Notification, Notifier, NotifyError
from protocol import nik as nikrules
from protocol import passwords

log = logging.getLogger(__name__)

LOGIN_FAILED = "NIK, tanggal lahir, atau PIN salah."
REGISTERED = (
    "Pendaftaran diterima. Silakan masuk dengan NIK, tanggal lahir, dan PIN Anda. Jika NIK ini sudah pernah "
    "didaftarkan, gunakan Lupa PIN atau datang ke loket dengan KTP."
)
RESET_SENT = (
    "Jika NIK dan tanggal lahir cocok, kode telah dikirim ke nomor HP yang terdaftar. Kode berlaku 10 menit. "
    "Tidak menerima kode? Datang ke loket puskesmas dengan KTP."
)
RESET_NO_CHANNEL = (
    "Kode lewat HP belum tersedia di layanan ini. Datang ke loket puskesmas dengan KTP; petugas akan "
    "memberi kode untuk membuat PIN baru."
)
RESET_FAILED = "Kode tidak cocok atau sudah tidak berlaku. Minta kode baru."
STAFF_LOGIN_FAILED = "Nama pengguna atau kata sandi salah."

PATIENT_SESSION = dt.timedelta(days=30)
STAFF_SESSION = dt.timedelta(hours=10)  # a working day; idle ones end sooner
STAFF_IDLE = dt.timedelta(minutes=30)
TOKEN_LIFE = dt.timedelta(days=30)
OTP_LIFE = dt.timedelta(minutes=10)
LOKET_CODE_LIFE = dt.timedelta(minutes=30)
CODE_TRIES = 5
TOUCH_EVERY = dt.timedelta(minutes=5)  # last_seen is written at most this often

ROLES = {
    "admin_kabupaten": "Admin Dinas Kesehatan",
    "admin_puskesmas": "Admin puskesmas",
    "kepala_puskesmas": "Kepala puskesmas",
    "petugas_loket": "Petugas loket",
    "petugas_poli": "Petugas poli",
}
# who may reset a patient's PIN at the loket (after checking the KTP)
RESETTERS = frozenset({"admin_kabupaten", "admin_puskesmas", "petugas_loket"})


class IdentityError(Exception):
    """A request about an identity was refused; ``message`` is Indonesian, ``status`` HTTP."""

    status = 400

    def __init__(self, message: str, fields: dict[str, str] | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        if status is not None:
            self.status = status


class Throttled(IdentityError):
    status = 429

    def __init__(self, wait: limits.Limited, what: str = "percobaan"):
        super().__init__(f"Terlalu banyak {what}. Coba lagi dalam {wait.minutes} menit.")
        self.retry_after = int(wait.wait_s) + 1


@dataclass(frozen=True)
class Client:
    """Where a request comes from: its address (after trusted proxies) and, when the browser or
    app has signed in on this account before, its device mark."""

    address: str
    device: str = ""


# ---- registration -------------------------------------------------------------------------------
def birth_date_pins(birth: dt.date) -> frozenset[str]:
    """The 6-digit PINs a birth date spells: DDMMYY, YYMMDD and MMDDYY (17-05-1990: 170590,
    900517, 051790). The birth date is printed on the KTP and written inside the NIK."""
    day, month, year = f"{birth.day:02d}", f"{birth.month:02d}", f"{birth.year % 100:02d}"
    return frozenset({day + month + year, year + month + day, month + day + year})


def check_pin_fields(pin: str, again: str | None, birth: dt.date | None = None) -> dict[str, str]:
    """Field errors for a new PIN (and its repetition, unless ``again`` is None).

    ``birth`` is the patient's birth date when it is known (the registration form, a PIN change,
    a reset): a PIN made of it is refused, for anyone who has seen the KTP would try it first.
    """
    errors = {}
    if not pin:
        errors["pin"] = "PIN wajib diisi."
    elif not passwords.is_pin(pin):
        errors["pin"] = "PIN harus 6 digit angka."
    elif passwords.weak_pin(pin):
        errors["pin"] = "PIN terlalu mudah ditebak (angka sama, berulang, atau berurutan). Pilih PIN lain."
    elif birth is not None and pin in birth_date_pins(birth):
        errors["pin"] = "PIN tidak boleh berupa tanggal lahir Anda. Pilih PIN lain."
    elif again is not None and not again:
        errors["pin_again"] = "Ketik PIN yang sama sekali lagi."
    elif again is not None and pin != again:
        errors["pin_again"] = "Kedua PIN tidak sama. Ulangi PIN yang sama."
    return errors


def register(form: dict, client: Client, now: dt.datetime) -> None:
    """Create an account from a registration form with its PIN.

    Raises IdentityError with field errors (the form's own mistakes) or Throttled. Whether the
    NIK already had an account is never told: the answer (``REGISTERED``) is the same, and an
    existing account is left exactly as it was.
    """
    clean, errors = validate_registration(form, now.date())
    errors.update(check_pin_fields(str(form.get("pin") or ""), form.get("pin_again"), clean.get("birth_date")))
    if errors:
        log.info("registration rejected: fields=%s", ",".join(sorted(errors)))
        raise IdentityError("Periksa kembali isian Anda.", errors)
    try:
        limits.hit(limits.REGISTER_GLOBAL)
        limits.hit(limits.REGISTER_CLIENT, client.address)
    except limits.Limited as exc:
        log.warning("registration throttled")
        raise Throttled(exc, "pendaftaran dari perangkat ini") from None
    pin_hash = passwords.hash_secret(form["pin"])
    try:
        with database.atomic():  # on SQLite it takes the write lock at BEGIN: no "database is locked"
            if Patient.select().where(Patient.nik == clean["nik"]).exists():
                log.info("registration for a NIK that has an account: nothing changed")
                return
            patient = Patient.create(**clean, pin_hash=pin_hash, pin_set_at=utcnow())
    except IntegrityError:  # the same NIK registered at the same moment: the unique index decides
        return
    log.info("patient %s registered", patient.id)


# ---- login -----------------------------------------------------------------------------------------
def _known_device(patient: Patient | None, client: Client) -> bool:
    if not (patient and client.device):
        return False
    mark = device_mark(patient)
    return bool(mark) and hmac.compare_digest(client.device, mark)


def device_mark(patient: Patient) -> str:
    """What a browser or app keeps after signing in on an account: it lets its owner past the
    account-wide block that strangers' wrong tries put up.

    Keyed by the PIN's hash (a secret that never leaves the server, with a random salt), so nobody
    can compute another's mark, and a new PIN makes every old mark worthless."""
    if not patient.pin_hash:
        return ""
    return hmac.new(patient.pin_hash.encode(), f"rosma-device:{patient.id}".encode(), hashlib.sha256).hexdigest()[:32]


def login(nik: str, birth_date: str, pin: str, client: Client) -> Patient:
    """The patient with this NIK, birth date and PIN; raises IdentityError (401, the same text
    whatever was wrong) or Throttled."""
    nik = nikrules.normalise(nik or "")[:32]
    birth = parse_date(birth_date)
    candidate = Patient.get_or_none(Patient.nik == nik) if len(nik) == 16 and nik.isascii() and nik.isdigit() else None
    known = _known_device(candidate, client)
    device = client.device if known else client.address
    buckets = [(limits.LOGIN_CLIENT, (client.address,)), (limits.LOGIN_ACCOUNT_DEVICE, (nik, device))]
    if not known:  # the owner's own device is spared the account-wide block strangers cause
        buckets.append((limits.LOGIN_ACCOUNT, (nik,)))
    try:
        if not known:  # ... and the site-wide brake: a flood of wrong tries cannot lock her out
            limits.check(limits.LOGIN_GLOBAL)
        tries = _reserve(buckets)
    except limits.Limited as exc:
        log.warning("login throttled")
        raise Throttled(exc, "percobaan masuk") from None
    good = passwords.verify_secret(candidate.pin_hash if candidate else None, pin or "")
    if not (good and candidate and candidate.birth_date == birth):
        for (backoff, parts), number in zip(buckets, tries, strict=True):
            limits.failed_try(backoff, number, *parts)
        if not known:
            _count(limits.LOGIN_GLOBAL)
        log.info("login failed")
        raise IdentityError(LOGIN_FAILED, status=401)
    for backoff, parts in buckets:
        limits.succeeded(backoff, *parts, forget=backoff is limits.LOGIN_ACCOUNT_DEVICE)
    if passwords.needs_rehash(candidate.pin_hash):
        Patient.update(pin_hash=passwords.hash_secret(pin)).where(Patient.id == candidate.id).execute()
    log.info("patient %s logged in", candidate.id)
    return candidate


def _reserve(buckets: list[tuple[limits.Backoff, tuple[str, ...]]]) -> list[int]:
    """Reserve a try in every bucket before the secret is checked (tries sent at once are not all
    judged); raises Limited, giving back what it reserved."""
    tries: list[int] = []
    try:
        for backoff, parts in buckets:
            tries.append(limits.attempt(backoff, *parts))
    except limits.Limited:
        for (backoff, parts), _number in zip(buckets, tries, strict=False):
            limits.succeeded(backoff, *parts)
        raise
    return tries


def _count(limit: limits.Limit, *parts: str) -> None:
    """Count a failure toward a limit that may already be full (the caller was let through)."""
    with contextlib.suppress(limits.Limited):
        limits.hit(limit, *parts)


# ---- sessions and tokens ---------------------------------------------------------------------------
def open_session(*, patient: Patient | None = None, staff: Staff | None = None, device: str = "") -> str:
    """A new session; returns the key the cookie keeps (only its hash is stored)."""
    key = secrets.token_urlsafe(32)
    life = PATIENT_SESSION if patient is not None else STAFF_SESSION
    WebSession.create(
        key_hash=passwords.token_hash(key),
        patient=patient,
        staff=staff,
        expires_at=utcnow() + life,
        device=(device or "")[:120],
    )
    return key


def session(key: str | None) -> WebSession | None:
    """The live session of a cookie key, or None (unknown, revoked, expired, idle too long)."""
    if not key or not isinstance(key, str) or len(key) > 100:
        return None
    row = WebSession.get_or_none(WebSession.key_hash == passwords.token_hash(key))
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if row.staff_id is not None and row.last_seen <= now - STAFF_IDLE:
        revoke_session(row.id)
        return None
    if row.last_seen <= now - TOUCH_EVERY:
        WebSession.update(last_seen=now).where(WebSession.id == row.id).execute()
    return row


def revoke_session(session_id: int) -> None:
    WebSession.update(revoked_at=utcnow()).where(
        (WebSession.id == session_id) & WebSession.revoked_at.is_null()
    ).execute()


def sessions_of(patient: Patient) -> list[WebSession]:
    return list(
        WebSession.select()
        .where((WebSession.patient == patient) & WebSession.revoked_at.is_null() & (WebSession.expires_at > utcnow()))
        .order_by(WebSession.last_seen.desc())
    )


def issue_token(patient: Patient, name: str = "") -> tuple[str, ApiToken]:
    """A new API bearer token (returned once, stored as its hash)."""
    token = secrets.token_urlsafe(32)
    row = ApiToken.create(
        token_hash=passwords.token_hash(token),
        patient=patient,
        name=(name or "")[:120],
        expires_at=utcnow() + TOKEN_LIFE,
    )
    return token, row


def token(value: str | None) -> ApiToken | None:
    """The live token for a bearer value, or None."""
    if not value or len(value) > 100:
        return None
    row = (  # with its patient: one query
        ApiToken.select(ApiToken, Patient)
        .join(Patient)
        .where(ApiToken.token_hash == passwords.token_hash(value))
        .first()
    )
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if row.last_used is None or row.last_used <= now - TOUCH_EVERY:
        ApiToken.update(last_used=now).where(ApiToken.id == row.id).execute()
    return row


def tokens_of(patient: Patient) -> list[ApiToken]:
    return list(
        ApiToken.select()
        .where((ApiToken.patient == patient) & ApiToken.revoked_at.is_null() & (ApiToken.expires_at > utcnow()))
        .order_by(ApiToken.created_at.desc())
    )


def revoke_token(patient: Patient, token_id: int) -> bool:
    return bool(
        ApiToken.update(revoked_at=utcnow())
        .where((ApiToken.id == token_id) & (ApiToken.patient == patient) & ApiToken.revoked_at.is_null())
        .execute()
    )


def end_everything_but(patient: Patient, session_id: int | None = None, token_id: int | None = None) -> None:
    """End every session and token of the patient except the one making the change."""
    now = utcnow()
    WebSession.update(revoked_at=now).where(
        (WebSession.patient == patient) & WebSession.revoked_at.is_null() & (WebSession.id != (session_id or 0))
    ).execute()
    ApiToken.update(revoked_at=now).where(
        (ApiToken.patient == patient) & ApiToken.revoked_at.is_null() & (ApiToken.id != (token_id or 0))
    ).execute()


# ---- changing and resetting the PIN --------------------------------------------------------------
def change_pin(
    patient: Patient,
    old: str,
    new: str,
    again: str | None,
    keep_session: int | None = None,
    keep_token: int | None = None,
) -> None:
    """Set a new PIN after checking the current one; every other session and token ends.

    Wrong current PINs are counted like wrong logins (a stolen session must not be a way to
    guess the PIN); raises Throttled past the limit."""
    buckets = [(limits.PIN_CHANGE, (str(patient.id),))]
    try:
        tries = _reserve(buckets)
    except limits.Limited as exc:
        raise Throttled(exc, "percobaan PIN") from None
    if not passwords.verify_secret(patient.pin_hash, old or ""):
        limits.failed_try(limits.PIN_CHANGE, tries[0], str(patient.id))
        raise IdentityError("Periksa kembali isian Anda.", {"old_pin": "PIN lama salah."})
    limits.succeeded(limits.PIN_CHANGE, str(patient.id), forget=True)
    errors = check_pin_fields(new or "", again, patient.birth_date)
    if errors:
        raise IdentityError("Periksa kembali isian Anda.", errors)
    with database.atomic():
        Patient.update(pin_hash=passwords.hash_secret(new), pin_set_at=utcnow()).where(
            Patient.id == patient.id
        ).execute()
        end_everything_but(patient, keep_session, keep_token)
    log.info("patient %s changed the PIN; other sessions ended", patient.id)


def _match(nik: str, birth_date: str) -> Patient | None:
    nik = nikrules.normalise(nik or "")[:32]
    birth = parse_date(birth_date)
    p = Patient.get_or_none(Patient.nik == nik) if len(nik) == 16 and nik.isascii() and nik.isdigit() else None
    return p if p is not None and p.birth_date == birth else None


def _new_code(patient: Patient, channel: str, life: dt.timedelta, staff: Staff | None = None, digits: int = 6) -> str:
    code = "".join(secrets.choice("0123456789") for _ in range(digits))
    # a new code replaces the earlier ones of its kind; a code asked for by phone (anyone who
    # knows her NIK and birth date can ask) never cancels the one the loket just gave her
    ended = PinReset.patient == patient
    if channel == "otp":
        ended &= PinReset.channel == "otp"
    PinReset.update(used_at=utcnow()).where(ended & PinReset.used_at.is_null()).execute()
    PinReset.create(
        patient=patient,
        code_hash=passwords.code_hash(code, patient.nik),
        channel=channel,
        staff=staff,
        expires_at=utcnow() + life,
    )
    return code


def send_reset_code(nik: str, birth_date: str, client: Client, notifier: Notifier) -> str:
    """Send a one-time code to the phone on file; returns the answer to show (the same whether or
    not the data matched). Raises Throttled, or IdentityError when the message cannot be sent or
    no channel to phones is configured (the same for every NIK: the loket gives codes then)."""
    if not notifier.reaches_phones:
        raise IdentityError(RESET_NO_CHANNEL, status=503)
    try:
        limits.hit(limits.OTP_CLIENT, client.address)
        limits.hit(limits.OTP_ACCOUNT, nikrules.normalise(nik or "")[:32])
    except limits.Limited as exc:
        raise Throttled(exc, "permintaan kode") from None
    patient = _match(nik, birth_date)
    if patient is None:
        log.info("reset code asked for data that match no account")
        return RESET_SENT
    code = _new_code(patient, "otp", OTP_LIFE)
    text = f"Kode Rosma Anda: {code}. Berlaku 10 menit. Jangan berikan kode ini kepada siapa pun, termasuk petugas."
    try:
        notifier.send(Notification(phone=patient.phone, template="rosma_otp", params=(code,), text=text, kind="otp"))
    except NotifyError as exc:
        log.warning("reset code for patient %s not sent: %s", patient.id, exc)
        raise IdentityError(str(exc), status=503) from None
    log.info("reset code sent to patient %s", patient.id)
    return RESET_SENT


def loket_reset_code(staff: Staff, nik: str, birth_date: str) -> tuple[Patient, str]:
    """A staff member at the loket, having checked the KTP, gives the patient a code to set a new
    PIN with; raises IdentityError if the staff may not or the data match no account."""
    if staff.role not in RESETTERS:
        raise IdentityError("Peran Anda tidak boleh mengatur ulang PIN pasien.", status=403)
    patient = _match(nik, birth_date)
    if patient is None:
        raise IdentityError("Tidak ada akun dengan NIK dan tanggal lahir ini.", status=404)
    code = _new_code(patient, "loket", LOKET_CODE_LIFE, staff=staff, digits=8)
    log.info("staff %s gave patient %s a PIN reset code at the loket", staff.id, patient.id)
    return patient, code


def reset_pin(nik: str, birth_date: str, code: str, pin: str, again: str | None, client: Client) -> Patient:
    """Set a new PIN with a one-time code; every session and token of the account ends.

    Raises IdentityError (the same text for unknown data, a wrong, used or expired code) or
    Throttled.
    """
    errors = check_pin_fields(pin or "", again, parse_date(birth_date))  # the date typed: tells nothing
    if errors:
        raise IdentityError("Periksa kembali isian Anda.", errors)
    try:
        limits.check(limits.OTP_CLIENT, client.address)
    except limits.Limited as exc:
        raise Throttled(exc) from None
    patient = _match(nik, birth_date)
    code = "".join((code or "").split())[:16]
    matches = []
    if patient is not None:  # every live code counts a try first (atomically), then is compared
        live = PinReset.select().where(
            (PinReset.patient == patient) & PinReset.used_at.is_null() & (PinReset.expires_at > utcnow())
        )
        for row in live.order_by(PinReset.id.desc()):
            taken = list(
                PinReset.update(attempts=PinReset.attempts + 1)
                .where((PinReset.id == row.id) & (PinReset.attempts < CODE_TRIES))
                .returning(PinReset.attempts)
                .execute()
            )
            if taken and hmac.compare_digest(passwords.code_hash(code, patient.nik), row.code_hash):
                matches.append(row)
    reset = matches[0] if matches else None
    if reset is None:
        _count(limits.OTP_CLIENT, client.address)
        raise IdentityError(RESET_FAILED, {"code": RESET_FAILED}, status=400)
    with database.atomic():
        used = PinReset.update(used_at=utcnow()).where((PinReset.id == reset.id) & PinReset.used_at.is_null()).execute()
        if not used:  # the same code used at the same moment: one of them wins
            raise IdentityError(RESET_FAILED, {"code": RESET_FAILED}, status=400)
        PinReset.update(used_at=utcnow()).where((PinReset.patient == patient) & PinReset.used_at.is_null()).execute()
        Patient.update(pin_hash=passwords.hash_secret(pin), pin_set_at=utcnow()).where(
            Patient.id == patient.id
        ).execute()
        end_everything_but(patient)
    log.info("patient %s set a new PIN with a %s code", patient.id, reset.channel)
    return Patient.get_by_id(patient.id)


# ---- staff ------------------------------------------------------------------------------------------
def staff_login(username: str, password: str, client: Client) -> Staff:
    """An active staff account; raises IdentityError (401, one text) or Throttled."""
    username = (username or "").strip().lower()[:40]
    buckets = [
        (limits.LOGIN_CLIENT, (client.address,)),
        (limits.LOGIN_ACCOUNT_DEVICE, (username, client.address)),
        (limits.STAFF_ACCOUNT, (username,)),  # many addresses guessing one account slow down too
    ]
    try:
        tries = _reserve(buckets)
    except limits.Limited as exc:
        raise Throttled(exc, "percobaan masuk") from None
    staff = Staff.get_or_none(Staff.username == username)
    good = passwords.verify_secret(staff.password_hash if staff else None, password or "")
    if not (good and staff and staff.active):
        for (backoff, parts), number in zip(buckets, tries, strict=True):
            limits.failed_try(backoff, number, *parts)
        log.info("staff login failed")
        raise IdentityError(STAFF_LOGIN_FAILED, status=401)
    for backoff, parts in buckets:
        limits.succeeded(backoff, *parts, forget=backoff is limits.LOGIN_ACCOUNT_DEVICE)
    log.info("staff %s signed in", staff.id)
    return staff
