"""BPJS membership at reservation: the card number (or NIK) is checked with PCare through the day's cache.

``check_for_booking`` runs before a BPJS booking is made. An active member of the puskesmas books
as usual (``bpjs_status`` "aktif"). An inactive member, one registered at another FKTP, or a number
BPJS does not know is refused with ``BpjsRefused`` (a ValidationError on ``bpjs_no``) carrying what
BPJS said and what to do, so the form and the API can offer to book as Umum instead. When PCare
cannot be reached or answers too slowly the booking is made anyway as "tertunda", and
``recheck_pending`` (run by central's sync worker) settles it later: the patient sees the outcome
on her reservation and in her history. Without BPJS credentials for the puskesmas the number is
kept unchecked (status "") and checked by staff at the loket.

Answers are cached per number, puskesmas and day (``BpjsMember``): the same number is asked of
PCare at most once a day per puskesmas. A PCare failure is never cached. Numbers never reach a log
unmasked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass

from peewee import IntegrityError

from bpjs.errors import BpjsError, mask
from bpjs.pcare import ADVICE_INACTIVE, ADVICE_OTHER_FKTP, ADVICE_UNKNOWN, PcareClient
from central import bpjs_credentials, feed, limits, services
from central.models import BpjsMember, Puskesmas, Reservation, database, utcnow

log = logging.getLogger(__name__)

ACTIVE = "aktif"
INACTIVE = "tidak_aktif"
OTHER_FKTP = "fktp_lain"
UNKNOWN = "tidak_terdaftar"
PENDING = "tertunda"
UNCHECKED = ""
REFUSED = (INACTIVE, OTHER_FKTP, UNKNOWN)

LABELS = {
    ACTIVE: "BPJS aktif",
    INACTIVE: "BPJS tidak aktif",
    OTHER_FKTP: "Terdaftar di FKTP lain",
    UNKNOWN: "Tidak terdaftar di BPJS",
    PENDING: "Verifikasi BPJS tertunda",
    UNCHECKED: "Diperiksa di loket",
}
KELAS = {ACTIVE: "ok", INACTIVE: "bad", OTHER_FKTP: "bad", UNKNOWN: "bad", PENDING: "warn", UNCHECKED: "info"}
FIELD_NOTE = {  # under the number field; the whole answer is in ``outcome``
    INACTIVE: "Kepesertaan BPJS nomor ini tidak aktif.",
    OTHER_FKTP: "Nomor ini terdaftar di FKTP lain.",
    UNKNOWN: "Nomor ini tidak terdaftar di BPJS. Periksa kembali nomornya.",
}
ADVICE = {INACTIVE: ADVICE_INACTIVE, OTHER_FKTP: ADVICE_OTHER_FKTP, UNKNOWN: ADVICE_UNKNOWN}
MSG_ACTIVE = "Kepesertaan BPJS Kesehatan aktif."
MSG_PENDING = (
    "Layanan BPJS sedang tidak dapat dihubungi, jadi kepesertaan belum dapat diperiksa. Reservasi tetap dibuat; "
    "kami memeriksanya lagi otomatis dan hasilnya tampil di sini."
)
MSG_UNCHECKED = "Kepesertaan BPJS akan diperiksa petugas di loket pendaftaran."
MSG_PENDING_LATE = "Kepesertaan BPJS belum dapat diperiksa. Petugas loket memeriksanya saat Anda datang."

# A patient waits on the booking page while PCare is asked: shorter than the library's defaults.
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 6.0
RECHECK_EVERY_S = 60.0  # between re-checks of one pending reservation
RECHECK_BATCH = 20

# Checks are an oracle of who is insured: a few numbers per account and per address.
CHECK_ACCOUNT = limits.Limit("bpjs-check-acct", allowed=10, window_s=24 * 3600)
CHECK_CLIENT = limits.Limit("bpjs-check-client", allowed=20, window_s=3600)


@dataclass(frozen=True)
class Outcome:
    """A membership check's result as the patient is told it."""

    status: str
    message: str
    advice: str = ""
    provider: str = ""  # the FKTP PCare names (fktp_lain)

    @property
    def label(self) -> str:
        return LABELS.get(self.status, self.status)

    @property
    def kelas(self) -> str:
        """The badge colour: ok, bad, warn or info."""
        return KELAS.get(self.status, "info")

    @property
    def refused(self) -> bool:
        return self.status in REFUSED

    def as_json(self) -> dict:
        return {"status": self.status, "label": self.label, "message": self.message, "advice": self.advice}


class BpjsRefused(services.ValidationError):
    """A BPJS booking refused for the membership BPJS reported: ``errors["bpjs_no"]`` says so in
    short; ``outcome`` is the check's result (what BPJS said, what to do)."""

    def __init__(self, outcome: Outcome):
        super().__init__(
            {"bpjs_no": FIELD_NOTE.get(outcome.status, outcome.message)},
            message="Reservasi dengan BPJS tidak dapat dibuat. Anda dapat memesan sebagai pasien Umum.",
        )
        self.outcome = outcome


def _client(place: Puskesmas) -> PcareClient | None:
    cfg = bpjs_credentials.for_puskesmas(place.code)
    if cfg is None:
        return None
    cfg = dataclasses.replace(
        cfg,
        connect_timeout=min(cfg.connect_timeout, CONNECT_TIMEOUT_S),
        read_timeout=min(cfg.read_timeout, READ_TIMEOUT_S),
    )
    return PcareClient(cfg)


def _from_row(row: BpjsMember) -> Outcome:
    return Outcome(row.status, row.note, ADVICE.get(row.status, ""), row.provider)


def check(place: Puskesmas, number: str, day: dt.date) -> Outcome:
    """The membership of ``number`` (13-digit card or 16-digit NIK) at ``place`` on ``day``.

    The day's cached answer if there is one; otherwise PCare's (then cached). PCare failing gives
    PENDING, no credentials UNCHECKED; neither is cached.
    """
    cached = BpjsMember.get_or_none(
        (BpjsMember.number == number) & (BpjsMember.puskesmas == place) & (BpjsMember.day == day)
    )
    if cached is not None:
        return _from_row(cached)
    client = _client(place)
    if client is None:
        return Outcome(UNCHECKED, MSG_UNCHECKED)
    try:
        member = client.peserta(number)
    except BpjsError as exc:
        log.warning("BPJS membership %s at %s not checked: %s", mask(number), place.code, exc.log_text())
        return Outcome(PENDING, MSG_PENDING)
    provider = member.provider_name or member.provider_code if member.status == OTHER_FKTP else ""
    outcome = Outcome(member.status, member.message[:200], member.advice, provider[:60])
    try:
        with database.atomic():
            BpjsMember.create(
                number=number,
                puskesmas=place,
                day=day,
                status=outcome.status,
                note=outcome.message,
                provider=outcome.provider,
            )
    except IntegrityError:  # checked at the same moment by another request: either answer is the day's
        pass
    return outcome


def check_for_booking(patient_id, place: Puskesmas, number: str, *, day: dt.date, client: str = "") -> Outcome:
    """Check before booking; raises the refusal (a ValidationError) or TooManyBookings.

    Counts against ``CHECK_ACCOUNT`` and ``CHECK_CLIENT`` first (an unchanged number already in
    today's cache does not count again).
    """
    cached = BpjsMember.select().where(
        (BpjsMember.number == number) & (BpjsMember.puskesmas == place) & (BpjsMember.day == day)
    )
    if not cached.exists():
        counted = []
        try:
            for limit, who in ((CHECK_ACCOUNT, str(patient_id)), (CHECK_CLIENT, client)):
                limits.hit(limit, who)
                counted.append((limit, who))
        except limits.Limited as exc:
            for limit, who in counted:
                limits.release(limit, who)
            log.info("BPJS check refused patient=%s: too many numbers", patient_id)
            raise services.TooManyBookings(
                f"Terlalu banyak pemeriksaan nomor BPJS. Coba lagi dalam {exc.minutes} menit, "
                "atau pilih cara bayar Umum."
            ) from None
    outcome = check(place, number, day)
    log.info("BPJS membership at booking patient=%s puskesmas=%s: %s", patient_id, place.code, outcome.status or "-")
    if outcome.refused:
        raise BpjsRefused(outcome)
    return outcome


def record(reservation: Reservation, outcome: Outcome) -> Reservation:
    """Store ``outcome`` on the booking just made (and on the object); called in the booking's
    transaction before it is published to the edge, so the edge gets the status with it."""
    checked_at = None if outcome.status in (PENDING, UNCHECKED) else utcnow()
    note = outcome.message[:200]
    Reservation.update(bpjs_status=outcome.status, bpjs_note=note, bpjs_checked_at=checked_at).where(
        Reservation.id == reservation.id
    ).execute()
    reservation.bpjs_status, reservation.bpjs_note, reservation.bpjs_checked_at = outcome.status, note, checked_at
    return reservation


def outcome_of(reservation: Reservation) -> Outcome | None:
    """What the patient is shown about her booking's BPJS check (None for Umum)."""
    if reservation.payer != "BPJS":
        return None
    status = reservation.bpjs_status or UNCHECKED
    message = reservation.bpjs_note or {UNCHECKED: MSG_UNCHECKED, PENDING: MSG_PENDING, ACTIVE: MSG_ACTIVE}.get(
        status, ""
    )
    return Outcome(status, message, ADVICE.get(status, ""))


def recheck_pending(now: dt.datetime, *, every_s: float = RECHECK_EVERY_S, batch: int = RECHECK_BATCH) -> int:
    """Check again the pending (tertunda) bookings of today and later; returns how many were settled.

    ``now`` is the local (WIB) time. Each is tried at most every ``every_s`` (``bpjs_note`` keeps
    its message; ``bpjs_checked_at`` marks the last try while pending). A pending booking whose day
    has passed, or that is no longer active, is left for the loket with a note. Each booking whose
    status changes is sent to its edge again in the same transaction.
    """
    today = now.date()
    late = Reservation.select(Reservation.id).where(
        (Reservation.bpjs_status == PENDING) & ((Reservation.date < today) | (Reservation.status != "active"))
    )
    for (rid,) in list(late.tuples()):
        _settle(rid, bpjs_status=UNCHECKED, bpjs_note=MSG_PENDING_LATE)
    due = utcnow() - dt.timedelta(seconds=every_s)
    rows = list(
        Reservation.select(Reservation, Puskesmas)
        .join(Puskesmas)
        .where(
            (Reservation.bpjs_status == PENDING)
            & (Reservation.bpjs_checked_at.is_null() | (Reservation.bpjs_checked_at < due))
        )
        .order_by(Reservation.id)
        .limit(batch)
    )
    settled = 0
    for r in rows:
        if not r.bpjs_no:
            continue
        outcome = check(r.puskesmas, r.bpjs_no, today)
        if outcome.status == PENDING:
            Reservation.update(bpjs_checked_at=utcnow()).where(Reservation.id == r.id).execute()
            continue
        if outcome.status == UNCHECKED:  # credentials removed meanwhile: the loket checks it
            outcome = Outcome(UNCHECKED, MSG_PENDING_LATE)
        if _settle(r.id, bpjs_status=outcome.status, bpjs_note=outcome.message[:200], bpjs_checked_at=utcnow()):
            log.info("BPJS membership of reservation %s settled: %s", r.rid, outcome.status or "-")
            settled += 1
    return settled


def _settle(reservation_id: int, **values) -> bool:
    """A pending booking's outcome, stored and sent to its edge (``feed.publish_reservation``) in one
    transaction, so the staff page there shows it; False when it was no longer pending."""
    with database.atomic():
        changed = (
            Reservation.update(**values)
            .where((Reservation.id == reservation_id) & (Reservation.bpjs_status == PENDING))
            .execute()
        )
        if changed:
            feed.publish_reservation(Reservation.get_by_id(reservation_id))
    return bool(changed)
