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
from contextlib import AbstractContextManager

import qrcode
from peewee import JOIN, Case, SqliteDatabase, fn
from qrcode.constants import ERROR_CORRECT_M

from central import feed, keys, limits
from central.core import reservations as rules
from central.core import schedule
from central.core.calendar import end_of_day_ts, parse_date
from central.models import Holiday, Patient, Poli, Puskesmas, Reservation, database, utcnow
from protocol import qrpass
from protocol.clock import Clock

log = logging.getLogger(__name__)


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


class TooManyBookings(ServiceError):
    status = 429


MAX_ACTIVE = 3  # upcoming active reservations one account may hold
FRESH_ACCOUNT = dt.timedelta(days=1)  # an account this young is "new"
FRESH_SHARE = 0.5  # of a slot's quota that new accounts may hold together


class NotFoundError(ServiceError):
    """No such thing, or it belongs to someone else (the two are not told apart)."""

    status = 404


def now_wib() -> dt.datetime:
    """The system's current time in Asia/Jakarta: the default for callers outside a request
    (the web passes the app's clock, which a demo or a test may start at a set moment)."""
    return SYSTEM_CLOCK.now()


SYSTEM_CLOCK = Clock()


def booking_window(
    days: int, now: dt.datetime | None = None, place: Puskesmas | None = None, poli: Poli | None = None
) -> list[dt.date]:
    """The dates a patient may pick now, oldest first: without closed days (the national ones,
    and ``place``'s own) and days none of ``place``'s open poli (or ``poli``) serves."""
    now = now or now_wib()
    today = now.date()
    closed = closed_days(place, today, today + dt.timedelta(days=days))
    if poli is not None:
        hours = [poli_hours(poli)]
    elif place is not None:
        hours = [poli_hours(p) for p in _open_polis(place)] or None
    else:
        hours = None
    return rules.available_dates(today, days, now.time(), hours=hours, closed=closed)


def poli_hours(poli: Poli) -> schedule.Hours:
    """A poli's reservation hours (its own schedule, or the default slots)."""
    return schedule.safe(poli.schedule, schedule.DEFAULT_POLI_HOURS)


def closed_days(place: Puskesmas | None, start: dt.date, end: dt.date) -> dict[dt.date, str]:
    """Closed days from ``start`` to ``end`` (inclusive) -> holiday name: every puskesmas's, and
    ``place``'s own (None: only those of every puskesmas)."""
    scope = Holiday.puskesmas.is_null()
    if place is not None:
        scope = scope | (Holiday.puskesmas == place)
    rows = Holiday.select().where(scope & (Holiday.date >= start) & (Holiday.date <= end)).order_by(Holiday.id)
    closed: dict[dt.date, str] = {}
    for h in rows:
        closed.setdefault(h.date, h.name)
    return closed


def _open_polis(place: Puskesmas):
    """A puskesmas's poli patients can choose (active ones), in their order."""
    return Poli.select().where((Poli.puskesmas == place) & Poli.active).order_by(Poli.order, Poli.id)


def get_patient(patient_id: int) -> Patient | None:
    """The patient with this id, or None."""
    return Patient.get_or_none(Patient.id == patient_id)


def list_puskesmas() -> list[Puskesmas]:
    """Every puskesmas by name, with its open polis prefetched as ``poli_list``."""
    places = list(Puskesmas.select().order_by(Puskesmas.name))
    polis: dict[int, list[Poli]] = {}
    for poli in Poli.select().where(Poli.active).order_by(Poli.order, Poli.id):
        polis.setdefault(poli.puskesmas_id, []).append(poli)
    for place in places:
        place.poli_list = polis.get(place.id, [])
    return places


def get_puskesmas(code: str) -> Puskesmas:
    """The puskesmas with this code and its open ``poli_list``; raises NotFoundError."""
    place = Puskesmas.get_or_none(Puskesmas.code == (code or "").strip().lower())
    if place is None:
        raise NotFoundError("Puskesmas tidak ditemukan.")
    place.poli_list = list(_open_polis(place))
    return place


def places_taken(poli: Poli, day: dt.date) -> dict[str, int]:
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
    outside the booking window. A closed day has no slots (and ``closed`` names the holiday).
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
    taken = places_taken(poli, day)
    hours = poli_hours(poli)
    holiday = closed_days(place, day, day).get(day)
    bookable = rules.open_slots(day, today, now.time(), hours)
    slots = []
    for slot in () if holiday else rules.slots_for(day, hours):
        remaining = max(poli.slot_quota - taken.get(slot, 0), 0)
        slots.append(
            {
                "slot": slot,
                "quota": poli.slot_quota,
                "remaining": remaining,
                "available": slot in bookable and remaining > 0,
            }
        )
    answer = {"puskesmas": place.code, "poli": poli.code, "date": day.isoformat(), "slots": slots}
    if holiday:
        answer["closed"] = rules.closed_message(day, holiday)
    return answer


def write_transaction() -> AbstractContextManager:
    """A transaction for a booking or a cancellation (here and in ``central.mobilejkn``).

    SQLite: the write lock is taken at BEGIN so two bookings cannot both count the same free place."""
    if isinstance(database.obj, SqliteDatabase):
        return database.atomic("IMMEDIATE")
    return database.atomic()


def lock_row(model, row_id: int) -> None:
    """PostgreSQL: serialise bookings per patient and per poli with row locks (taken in that order,
    inside ``write_transaction``); SQLite's write lock already does."""
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
    client: str = "",
    source: str = "web",
) -> Reservation:
    """Book a slot and sign its QR pass; the reservation and its feed rows commit together.

    A BPJS booking's card number or NIK is checked with PCare first (``central.bpjs_membership``):
    an inactive, elsewhere-registered or unknown member is refused with ``BpjsRefused``; PCare
    unreachable books it as "tertunda", checked again later.

    Raises ValidationError for invalid fields; ConflictError when the slot's quota is full, the
    patient already has an active reservation there that day or ``MAX_ACTIVE`` upcoming ones, or
    when accounts made in the last day already hold ``FRESH_SHARE`` of the slot (fake accounts
    cannot book a slot out); TooManyBookings when the account or the address (``client``) books
    faster than ``central.limits`` allows.
    """
    now = now or now_wib()
    today = now.date()
    slot = (slot or "").strip()
    place, poli = _place_and_poli(puskesmas_code, poli_code)
    errors = rules.validate_request(
        today=today,
        now=now.time(),
        days=days,
        date=date,
        slot=slot,
        payer=payer,
        bpjs_no=bpjs_no,
        hours=poli_hours(poli) if poli is not None else None,
        closed=closed_days(place, today, today + dt.timedelta(days=days)),
    )
    if place is None:
        errors["puskesmas"] = "Pilih puskesmas."
    elif poli is None:
        errors["poli"] = "Pilih poli yang tersedia di puskesmas ini."
    if errors:
        log.info("reservation rejected patient=%s fields=%s", patient.id, ",".join(sorted(errors)))
        raise ValidationError(errors)

    day = parse_date(date)
    payer = payer.strip().upper()
    number = rules.normalise_bpjs(bpjs_no) if payer == "BPJS" else None
    membership = None
    if number:
        from central import bpjs_membership

        membership = bpjs_membership.check_for_booking(patient.id, place, number, day=today, client=client)
    return _book(patient, place, poli, day, slot, payer, number, today, source, membership, client=client)


def _place_and_poli(puskesmas_code: str, poli_code: str) -> tuple[Puskesmas | None, Poli | None]:
    """The puskesmas and its active poli by their codes, in one query (the poli None when the
    puskesmas has no such active poli; both None for an unknown puskesmas)."""
    code = (puskesmas_code or "").strip().lower()
    poli = (
        Poli.select(Poli, Puskesmas)
        .join(Puskesmas)
        .where((Puskesmas.code == code) & (Poli.code == (poli_code or "").strip().upper()) & Poli.active)
        .first()
    )
    if poli is not None:
        return poli.puskesmas, poli
    return Puskesmas.get_or_none(Puskesmas.code == code), None


def _counts(patient, place, poli, day, slot, today, fresh_since) -> tuple[int, int, int, int]:
    """In one query: the patient's upcoming active reservations, hers at ``place`` on ``day``,
    the places taken in the slot, and of those the ones held by accounts newer than ``fresh_since``."""
    mine = Reservation.patient == patient
    in_slot = (
        (Reservation.puskesmas == place)
        & (Reservation.poli == poli)
        & (Reservation.date == day)
        & (Reservation.slot == slot)
    )
    holding = in_slot & Reservation.status.in_(rules.HOLDING)

    def count(condition):
        return fn.COALESCE(fn.SUM(Case(None, ((condition, 1),), 0)), 0)

    row = (
        Reservation.select(
            count(mine & (Reservation.date >= today) & (Reservation.status == rules.ACTIVE)),
            count(
                mine
                & (Reservation.puskesmas == place)
                & (Reservation.date == day)
                & Reservation.status.in_((rules.ACTIVE, rules.CHECKED_IN))
            ),
            count(holding),
            count(holding & (Patient.created_at > fresh_since)),
        )
        .join(Patient, JOIN.LEFT_OUTER)
        .where(mine | in_slot)
        .tuples()
        .first()
    )
    return tuple(int(n or 0) for n in row)


def _count_booking(patient: Patient, client: str) -> None:
    """Count the booking against the account's and the address's limits, inside the booking's
    transaction: the counts commit with the reservation, and a refusal (full slot, already booked,
    or the limit itself) rolls them back. The bucket rows stay locked until then, so parallel
    requests cannot all pass the check."""
    try:
        limits.hit(limits.BOOK_ACCOUNT, str(patient.id))
        limits.hit(limits.BOOK_CLIENT, client)
    except limits.Limited as exc:
        log.info("reservation refused patient=%s: booking too fast", patient.id)
        raise TooManyBookings(
            f"Terlalu banyak reservasi dalam waktu singkat. Coba lagi dalam {exc.minutes} menit."
        ) from None


def _lock_patient_and_poli(patient_id: int, poli_id: int) -> None:
    """``lock_row`` of the patient, then of the poli, in one statement."""
    if database.for_update:
        Patient.select(Patient.id).join(Poli, on=(Poli.id == poli_id)).where(Patient.id == patient_id).for_update(
            of=(Patient, Poli)
        ).execute()


def _book(
    patient, place, poli, day, slot, payer, number, today, source="web", membership=None, client=""
) -> Reservation:
    with write_transaction():
        _count_booking(patient, client)
        _lock_patient_and_poli(patient.id, poli.id)
        fresh_since = utcnow() - FRESH_ACCOUNT
        upcoming, already, taken, fresh = _counts(patient, place, poli, day, slot, today, fresh_since)
        if upcoming >= MAX_ACTIVE:
            raise ConflictError(
                f"Anda sudah punya {MAX_ACTIVE} reservasi aktif. Batalkan salah satu atau tunggu sampai selesai."
            )
        if already:
            log.info("reservation refused patient=%s: already booked that day", patient.id)
            raise ConflictError("Anda sudah punya reservasi di puskesmas ini pada tanggal tersebut.")
        if taken >= poli.slot_quota:
            log.info("reservation refused patient=%s poli=%s: slot full", patient.id, poli.id)
            raise ConflictError("Kuota jam ini sudah penuh. Silakan pilih jam atau tanggal lain.")
        if patient.created_at > fresh_since and fresh + 1 > max(1, int(poli.slot_quota * FRESH_SHARE)):
            log.warning("reservation refused patient=%s poli=%s: new accounts hold the slot", patient.id, poli.id)
            raise ConflictError(
                "Jam ini sedang banyak dipesan akun baru. Silakan pilih jam lain, atau coba lagi besok."
            )
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
            source=source,
        )
        if membership is not None:  # the edge gets the booking with its BPJS status
            from central import bpjs_membership

            bpjs_membership.record(reservation, membership)
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
    with write_transaction():
        reservation = get_reservation(patient, rid)
        lock_row(Reservation, reservation.id)
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


def switch_to_umum(patient: Patient, rid: str, now: dt.datetime | None = None) -> Reservation:
    """The patient's BPJS booking becomes Umum (BPJS said her membership is inactive, she is
    registered elsewhere, or she simply prefers): same poli, day and hour, a new QR saying Umum,
    and her puskesmas' edge told in the same transaction (an old QR still checks in, as Umum).

    Raises NotFoundError (not hers) or ConflictError (not BPJS, not active, or past).
    """
    today = (now or now_wib()).date()
    with write_transaction():
        reservation = get_reservation(patient, rid)
        lock_row(Reservation, reservation.id)
        reservation = Reservation.get_by_id(reservation.id)
        if reservation.payer != "BPJS":
            raise ConflictError("Reservasi ini sudah dengan cara bayar Umum.")
        if reservation.status != rules.ACTIVE or reservation.date < today:
            raise ConflictError("Cara bayar hanya dapat diganti untuk reservasi yang masih aktif.")
        place = Puskesmas.get_by_id(reservation.puskesmas_id)
        poli = Poli.get_by_id(reservation.poli_id)
        reservation.qr_text = qrpass.sign(
            qrpass.Pass(
                rid=reservation.rid,
                puskesmas=place.code,
                poli=poli.code,
                date=reservation.date.isoformat(),
                slot=reservation.slot,
                payer="UMUM",
                exp=end_of_day_ts(reservation.date),
            ),
            keys.active_key(),
        )
        reservation.payer = "UMUM"
        reservation.bpjs_no = None
        reservation.bpjs_status = ""
        reservation.bpjs_note = ""
        reservation.bpjs_checked_at = None
        reservation.save(
            only=[
                Reservation.qr_text,
                Reservation.payer,
                Reservation.bpjs_no,
                Reservation.bpjs_status,
                Reservation.bpjs_note,
                Reservation.bpjs_checked_at,
            ]
        )
        feed.publish_reservation(reservation)
    log.info("reservation %s switched to Umum patient=%s", reservation.rid, patient.id)
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
