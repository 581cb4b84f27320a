"""Patient and reservation services shared by the web pages and the JSON API.

Every function here expects the models to be bound (``central.db.connect``). Errors a
patient should see are raised as ``ServiceError`` subclasses carrying Indonesian messages.
Logs carry ids only: never NIK, name, birth date or BPJS number.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import secrets
import time
from contextlib import AbstractContextManager

import qrcode
from peewee import IntegrityError, SqliteDatabase, fn
from qrcode.constants import ERROR_CORRECT_M

from central import feed, keys
from central.core import reservations as rules
from central.core.calendar import end_of_day_ts, parse_date
from central.core.patients import validate_registration
from central.core.throttle import LoginGuard
from central.models import Patient, Poli, Puskesmas, Reservation, database, utcnow
from protocol import nik as nikrules
from protocol import qrpass
from protocol.clock import Clock

log = logging.getLogger(__name__)

LOGIN_FAILED = "NIK atau tanggal lahir salah."


class ServiceError(Exception):
    """A request a patient made cannot be done; ``message`` is Indonesian, ``status`` an HTTP code."""

    status = 400

    def __init__(self, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class ValidationError(ServiceError):
    """One or more fields are invalid; ``errors`` maps field name to an Indonesian message."""

    def __init__(self, errors: dict[str, str], message: str = "Periksa kembali isian Anda."):
        super().__init__(message, errors)
        self.errors = errors


class ConflictError(ServiceError):
    """The request is valid but clashes with existing data (quota full, already booked)."""

    status = 409


class NotFoundError(ServiceError):
    """No such thing, or it belongs to someone else (the two are not told apart)."""

    status = 404


def now_wib() -> dt.datetime:
    """The system's current time in Asia/Jakarta: the default for callers outside a request
    (the web passes the app's clock, which a demo or a test may start at a set moment)."""
    return SYSTEM_CLOCK.now()


SYSTEM_CLOCK = Clock()


def booking_window(days: int, now: dt.datetime | None = None) -> list[dt.date]:
    """The dates a patient may pick now, oldest first."""
    now = now or now_wib()
    return rules.available_dates(now.date(), days, now.time())


def register_patient(form: dict, now: dt.datetime | None = None) -> Patient:
    """Create a patient from a registration form.

    Raises ValidationError with field errors, including "NIK sudah terdaftar" for a NIK
    that already has an account.
    """
    today = (now or now_wib()).date()
    clean, errors = validate_registration(form, today)
    if not errors and Patient.select().where(Patient.nik == clean["nik"]).exists():
        errors["nik"] = "NIK sudah terdaftar, silakan masuk."
    if errors:
        log.info("registration rejected: fields=%s", ",".join(sorted(errors)))
        raise ValidationError(errors)
    try:
        with database.atomic():
            patient = Patient.create(**clean)
    except IntegrityError:
        # Two registrations with the same NIK at the same moment: the unique index decides.
        raise ValidationError({"nik": "NIK sudah terdaftar, silakan masuk."}) from None
    log.info("patient %s registered", patient.id)
    return patient


class TooManyAttempts(ServiceError):
    status = 429


def login(nik: str, birth_date: str | dt.date, client: str = "", guard: LoginGuard | None = None) -> Patient | None:
    """The patient with this NIK and birth date, or None (unknown NIK and wrong date alike).

    With a ``guard``, raises TooManyAttempts after repeated failures for the NIK or from the
    client address.
    """
    nik = nikrules.normalise(nik or "")
    birth = parse_date(birth_date)
    now = time.monotonic()
    wait = guard.wait_s(nik, client, now) if guard else 0.0
    if wait > 0:
        log.warning("login throttled")
        raise TooManyAttempts(f"Terlalu banyak percobaan masuk. Coba lagi dalam {int(wait // 60) + 1} menit.")
    patient = None
    if len(nik) == 16 and nik.isascii() and nik.isdigit() and birth is not None:
        patient = Patient.get_or_none(Patient.nik == nik)
    if patient is None or patient.birth_date != birth:
        if guard:
            guard.failed(nik, client, now)
        log.info("login failed")
        return None
    if guard:
        guard.succeeded(nik)
    log.info("patient %s logged in", patient.id)
    return patient


def get_patient(patient_id: int) -> Patient | None:
    """The patient with this id, or None."""
    return Patient.get_or_none(Patient.id == patient_id)


def list_puskesmas() -> list[Puskesmas]:
    """Every puskesmas by name, with its polis prefetched as ``poli_list``."""
    places = list(Puskesmas.select().order_by(Puskesmas.name))
    polis: dict[int, list[Poli]] = {}
    for poli in Poli.select().order_by(Poli.id):
        polis.setdefault(poli.puskesmas_id, []).append(poli)
    for place in places:
        place.poli_list = polis.get(place.id, [])
    return places


def get_puskesmas(code: str) -> Puskesmas:
    """The puskesmas with this code and its ``poli_list``; raises NotFoundError."""
    place = Puskesmas.get_or_none(Puskesmas.code == (code or "").strip().lower())
    if place is None:
        raise NotFoundError("Puskesmas tidak ditemukan.")
    place.poli_list = list(Poli.select().where(Poli.puskesmas == place).order_by(Poli.id))
    return place


def _taken(poli: Poli, day: dt.date) -> dict[str, int]:
    """Places taken per slot of a poli on a day."""
    query = (
        Reservation.select(Reservation.slot, fn.COUNT(Reservation.id))
        .where((Reservation.poli == poli) & (Reservation.date == day) & (Reservation.status.in_(rules.HOLDING)))
        .group_by(Reservation.slot)
    )
    return dict(query.tuples())


def slot_availability(code: str, poli_code: str, day_text: str, days: int, now: dt.datetime | None = None) -> dict:
    """Remaining quota per slot of a poli on a date.

    Raises NotFoundError for an unknown puskesmas or poli and ValidationError for a date
    outside the booking window. A closed day has no slots.
    """
    now = now or now_wib()
    place = get_puskesmas(code)
    poli = next((p for p in place.poli_list if p.code == (poli_code or "").strip().upper()), None)
    if poli is None:
        raise NotFoundError("Poli tidak tersedia di puskesmas ini.")
    day = parse_date(day_text)
    today = now.date()
    if day is None or day < today or day > today + dt.timedelta(days=days):
        raise ValidationError({"date": f"Tanggal harus antara hari ini dan {days} hari ke depan."})
    taken = _taken(poli, day)
    bookable = rules.open_slots(day, today, now.time())
    slots = []
    for slot in rules.slots_for(day):
        remaining = max(poli.slot_quota - taken.get(slot, 0), 0)
        slots.append(
            {
                "slot": slot,
                "quota": poli.slot_quota,
                "remaining": remaining,
                "available": slot in bookable and remaining > 0,
            }
        )
    return {"puskesmas": place.code, "poli": poli.code, "date": day.isoformat(), "slots": slots}


def _write_transaction() -> AbstractContextManager:
    # SQLite: take the write lock at BEGIN so two bookings cannot both count the same free place.
    if isinstance(database.obj, SqliteDatabase):
        return database.atomic("IMMEDIATE")
    return database.atomic()


def _lock(model, row_id: int) -> None:
    # PostgreSQL: serialise bookings per patient and per poli with row locks (taken in that order).
    if database.for_update:
        model.select(model.id).where(model.id == row_id).for_update().execute()


def reserve(
    patient: Patient,
    puskesmas_code: str,
    poli_code: str,
    date: str | dt.date,
    slot: str,
    payer: str,
    bpjs_no: str | None = None,
    *,
    days: int = 7,
    now: dt.datetime | None = None,
) -> Reservation:
    """Book a slot and sign its QR pass; the reservation and its feed rows commit together.

    Raises ValidationError for invalid fields and ConflictError when the slot's quota is
    full or the patient already has an active reservation there that day.
    """
    now = now or now_wib()
    today = now.date()
    slot = (slot or "").strip()
    errors = rules.validate_request(
        today=today, now=now.time(), days=days, date=date, slot=slot, payer=payer, bpjs_no=bpjs_no
    )
    place = Puskesmas.get_or_none(Puskesmas.code == (puskesmas_code or "").strip().lower())
    poli = None
    if place is None:
        errors["puskesmas"] = "Pilih puskesmas."
    else:
        poli = Poli.get_or_none((Poli.puskesmas == place) & (Poli.code == (poli_code or "").strip().upper()))
        if poli is None:
            errors["poli"] = "Pilih poli yang tersedia di puskesmas ini."
    if errors:
        log.info("reservation rejected patient=%s fields=%s", patient.id, ",".join(sorted(errors)))
        raise ValidationError(errors)

    day = parse_date(date)
    payer = payer.strip().upper()
    number = rules.normalise_bpjs(bpjs_no) if payer == "BPJS" else None
    with _write_transaction():
        _lock(Patient, patient.id)
        _lock(Poli, poli.id)
        already = Reservation.select().where(
            (Reservation.patient == patient)
            & (Reservation.puskesmas == place)
            & (Reservation.date == day)
            & (Reservation.status.in_((rules.ACTIVE, rules.CHECKED_IN)))
        )
        if already.exists():
            log.info("reservation refused patient=%s: already booked that day", patient.id)
            raise ConflictError("Anda sudah punya reservasi di puskesmas ini pada tanggal tersebut.")
        taken = (
            Reservation.select()
            .where(
                (Reservation.poli == poli)
                & (Reservation.date == day)
                & (Reservation.slot == slot)
                & (Reservation.status.in_(rules.HOLDING))
            )
            .count()
        )
        if taken >= poli.slot_quota:
            log.info("reservation refused patient=%s poli=%s: slot full", patient.id, poli.id)
            raise ConflictError("Kuota jam ini sudah penuh. Silakan pilih jam atau tanggal lain.")
        rid = secrets.token_hex(8)
        qr_text = qrpass.sign(
            qrpass.Pass(
                rid=rid,
                puskesmas=place.code,
                poli=poli.code,
                date=day.isoformat(),
                slot=slot,
                payer=payer,
                exp=end_of_day_ts(day),
            ),
            keys.active_key(),
        )
        reservation = Reservation.create(
            rid=rid,
            patient=patient,
            puskesmas=place,
            poli=poli,
            date=day,
            slot=slot,
            payer=payer,
            bpjs_no=number,
            qr_text=qr_text,
        )
        feed.publish_reservation(reservation)
    log.info("reservation %s created patient=%s puskesmas=%s poli=%s", rid, patient.id, place.code, poli.code)
    return reservation


def get_reservation(patient: Patient, rid: str) -> Reservation:
    """The patient's own reservation; raises NotFoundError for an unknown rid or someone else's."""
    reservation = (
        Reservation.select(Reservation, Puskesmas, Poli)
        .join(Puskesmas)
        .switch(Reservation)
        .join(Poli)
        .where((Reservation.rid == (rid or "")[:32]) & (Reservation.patient == patient))
        .first()
    )
    if reservation is None:
        raise NotFoundError("Reservasi tidak ditemukan.")
    return reservation


def cancel(patient: Patient, rid: str, now: dt.datetime | None = None) -> Reservation:
    """Cancel the patient's active reservation and tell its puskesmas' edge, in one transaction.

    Raises NotFoundError (not theirs) or ConflictError (already cancelled, checked in or past).
    """
    today = (now or now_wib()).date()
    with _write_transaction():
        reservation = get_reservation(patient, rid)
        _lock(Reservation, reservation.id)
        reservation = Reservation.get_by_id(reservation.id)
        if reservation.status == rules.CANCELLED:
            raise ConflictError("Reservasi ini sudah dibatalkan.")
        if not rules.can_cancel(reservation.status, reservation.date, today):
            raise ConflictError("Reservasi ini tidak dapat dibatalkan lagi.")
        reservation.status = rules.CANCELLED
        reservation.cancelled_at = utcnow()
        reservation.save(only=[Reservation.status, Reservation.cancelled_at])
        feed.publish_reservation(reservation)
    log.info("reservation %s cancelled patient=%s", reservation.rid, patient.id)
    return get_reservation(patient, rid)


def history(patient: Patient) -> list[Reservation]:
    """The patient's reservations, latest date first."""
    return list(
        Reservation.select(Reservation, Puskesmas, Poli)
        .join(Puskesmas)
        .switch(Reservation)
        .join(Poli)
        .where(Reservation.patient == patient)
        .order_by(Reservation.date.desc(), Reservation.slot.desc(), Reservation.id.desc())
    )


def qr_png(text: str) -> bytes:
    """A PNG of ``text`` as a QR code (error correction M, 8 px modules, 4-module quiet zone)."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=8, border=4)
    code.add_data(text)
    code.make(fit=True)
    out = io.BytesIO()
    code.make_image().save(out, format="PNG")
    return out.getvalue()
