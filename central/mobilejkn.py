"""The Mobile JKN web service's rules: BPJS's account, its tokens, and bookings as reservations.

BPJS (the Mobile JKN app) calls each puskesmas's web service (``central.api.mobilejkn``) with
the account the puskesmas gave it. The accounts live in the TOML file the central config field
``mobilejkn_accounts`` names, one table per puskesmas code, only its owner may read it (0600)::

    [cibinong]
    username = "bpjs-cibinong"
    password = "at least 12 characters"
    poli = { "001" = "UMUM", "002" = "GIGI" }  # optional: BPJS kodepoli -> Rosma poli code

A Mobile JKN booking is an ordinary ``Reservation`` (``source`` "mobilejkn", its rid being the
kode booking): the poli's reservation hours, closed days and per-slot quota are the web
booking's (``central.services``, ``central.core.reservations``); it reaches the edge through the
change feed like any reservation. The patient needs no Rosma account: the NIK and phone are kept
on the reservation, and a Rosma account with that NIK is linked (the booking shows in its
history). Every refusal is ``MobileJknError`` with the Indonesian reason BPJS shows the patient.
Logs carry ids only: never NIK, card number or phone.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from peewee import IntegrityError, fn

from central import bpjs_credentials, feed, keys, queue_view, services
from central.core import reservations as rules
from central.core.calendar import end_of_day_ts, format_date
from central.models import MobileJknToken, Patient, Poli, Puskesmas, Reservation, Visit, database, utcnow
from protocol import qrpass
from protocol.passwords import token_hash

log = logging.getLogger(__name__)

TOKEN_LIFE = dt.timedelta(hours=24)
# BPJS's PCare poli codes as the fake BPJS lists them; a puskesmas's ``poli`` table overrides
DEFAULT_POLI = {"001": "UMUM", "002": "GIGI", "003": "KIA", "013": "LANSIA"}
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed at the loket
CODE_LENGTH = 8
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CARD = re.compile(r"^\d{13}$")
_NIK = re.compile(r"^\d{16}$")
_PHONE = re.compile(r"^\+?[0-9]{8,15}$")
_HOURS = re.compile(r"^([0-2]\d:[0-5]\d)-([0-2]\d:[0-5]\d)$")


class MobileJknError(Exception):
    """A call Mobile JKN made cannot be done; ``message`` is Indonesian, ``code`` the metadata code."""

    def __init__(self, message: str, code: int = 201):
        super().__init__(message)
        self.message = message
        self.code = code


class AccountsError(ValueError):
    """The accounts file is unsafe or broken; ``str(e)`` says which (never a value from it)."""


@dataclass(frozen=True)
class Account:
    username: str
    password: str = field(repr=False)
    poli: dict = field(default_factory=dict)  # BPJS kodepoli -> Rosma poli code


# ---- the accounts file ---------------------------------------------------------------------------


def parse(path: str | os.PathLike[str]) -> dict[str, Account]:
    """Read and check the accounts file: {puskesmas code: Account}. Raises AccountsError."""
    p = Path(path)
    data = bpjs_credentials.read_secret_toml(p, "the Mobile JKN passwords", AccountsError)
    out: dict[str, Account] = {}
    for code, table in data.items():
        where = f"{p} [{code}]"
        if not isinstance(table, dict):
            raise AccountsError(f"{p}: {code!r} must be a table [{code}] with username and password")
        unknown = sorted(set(table) - {"username", "password", "poli"})
        if unknown:
            raise AccountsError(f"{where}: unknown field {unknown[0]!r}")
        username, password, poli = table.get("username"), table.get("password"), table.get("poli", {})
        if not isinstance(username, str) or not 1 <= len(username.strip()) <= 40:
            raise AccountsError(f"{where}: username must be text of 1-40 characters")
        if not isinstance(password, str) or len(password) < 12:
            raise AccountsError(f"{where}: password must be text of at least 12 characters")
        if not isinstance(poli, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in poli.items()):
            raise AccountsError(
                f'{where}: poli must map BPJS poli codes to Rosma poli codes, e.g. {{ "001" = "UMUM" }}'
            )
        out[code.strip().lower()] = Account(
            username.strip(), password, {k.strip(): v.strip().upper() for k, v in poli.items()}
        )
    return out


def check(value: str) -> str | None:
    """The config field's rule: empty (Mobile JKN not set up), or a safe, valid accounts file."""
    if not value:
        return None
    try:
        parse(value)
    except AccountsError as exc:
        return str(exc)
    return None


def account(path: str, code: str) -> Account | None:
    """Puskesmas ``code``'s Mobile JKN account from the file at ``path`` ("" : none); a file
    broken since start-up is logged (without its content) and counts as no account."""
    if not path:
        return None
    try:
        return parse(path).get(code)
    except AccountsError as exc:
        log.error("Mobile JKN accounts not usable: %s", exc)
        return None


DEMO_USERNAME = "mobilejkn-demo"
DEMO_PASSWORD = "demo-mobile-jkn-2026"


def write_demo(path: str | os.PathLike[str], codes: tuple[str, ...] = ("cibinong", "ciawi")) -> Path:
    """An accounts file (0600) giving BPJS the demo account at ``codes``: demos only, not a real secret."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    text = "# Mobile JKN accounts for the demo (rosma demo): demo values, not real ones\n\n" + "".join(
        f'[{code}]\nusername = "{DEMO_USERNAME}"\npassword = "{DEMO_PASSWORD}"\n\n' for code in codes
    )
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(p, 0o600)
    return p


# ---- tokens --------------------------------------------------------------------------------------


def issue_token(place: Puskesmas, acct: Account | None, username: str, password: str) -> str:
    """A new token for BPJS's account at ``place``; raises MobileJknError for a wrong user or password."""
    user_ok = acct is not None and hmac.compare_digest(username.encode(), acct.username.encode())
    pass_ok = acct is not None and hmac.compare_digest(password.encode(), acct.password.encode())
    if not (user_ok and pass_ok):
        log.warning("Mobile JKN token refused at puskesmas %s: wrong username or password", place.code)
        raise MobileJknError("Username atau password tidak sesuai.")
    now = utcnow()
    MobileJknToken.delete().where(MobileJknToken.expires_at < now).execute()
    value = secrets.token_urlsafe(32)
    MobileJknToken.create(
        token_hash=token_hash(value), username=acct.username, puskesmas=place, expires_at=now + TOKEN_LIFE
    )
    log.info("Mobile JKN token issued at puskesmas %s", place.code)
    return value


def check_token(place: Puskesmas, acct: Account | None, username: str, token: str) -> None:
    """Raise MobileJknError unless ``token`` is a live token of this puskesmas's account for ``username``."""
    row = MobileJknToken.get_or_none(MobileJknToken.token_hash == token_hash(token)) if token else None
    if (
        row is None
        or acct is None
        or row.puskesmas_id != place.id
        or not hmac.compare_digest(username.encode(), row.username.encode())
        or row.username != acct.username
        or row.expires_at <= utcnow()
    ):
        raise MobileJknError("Token tidak valid atau sudah kedaluwarsa. Minta token baru.")


# ---- input ---------------------------------------------------------------------------------------


def parse_day(text, today: dt.date, days: int) -> dt.date:
    """Mobile JKN's tanggalperiksa (yyyy-MM-dd, WIB): today or up to ``days`` ahead; raises MobileJknError."""
    text = str(text or "").strip()
    try:
        day = dt.date.fromisoformat(text) if _DATE.match(text) else None
    except ValueError:
        day = None
    if day is None:
        raise MobileJknError("Format tanggal periksa tidak sesuai (yyyy-MM-dd).")
    if day < today:
        raise MobileJknError("Tanggal periksa tidak boleh tanggal yang sudah lewat.")
    if day > today + dt.timedelta(days=days):
        raise MobileJknError(f"Tanggal periksa paling lambat {days} hari dari hari ini.")
    return day


def poli_for(place: Puskesmas, acct: Account | None, kodepoli) -> Poli:
    """The open poli Mobile JKN's ``kodepoli`` means (a BPJS code, or Rosma's own poli code)."""
    code = str(kodepoli or "").strip()
    if not code:
        raise MobileJknError("Kode poli wajib diisi.")
    mapping = {**DEFAULT_POLI, **(acct.poli if acct else {})}
    rosma = mapping.get(code, code.upper())
    poli = Poli.get_or_none((Poli.puskesmas == place) & (Poli.code == rosma[:16]) & Poli.active)
    if poli is None:
        raise MobileJknError("Poli tidak ditemukan atau tidak melayani antrean di puskesmas ini.")
    return poli


def _closed(place: Puskesmas, poli: Poli, day: dt.date) -> None:
    holiday = services.closed_days(place, day, day).get(day)
    if holiday:
        raise MobileJknError(rules.closed_message(day, holiday))
    if not rules.slots_for(day, services.poli_hours(poli)):
        raise MobileJknError(f"{poli.name} tidak melayani pada {format_date(day)}.")


# ---- status and remaining queue ------------------------------------------------------------------


def _poli_today(place: Puskesmas, poli: Poli, day: dt.date) -> tuple[int, int, str]:
    """(tickets in the poli's queue today, still waiting, the number called last) from the visits."""
    queue = f"POLI-{poli.code}"
    where = (Visit.puskesmas == place) & (Visit.day == day) & (Visit.queue == queue)
    total = Visit.select().where(where).count()
    waiting = Visit.select().where(where & (Visit.state == "waiting")).count()
    last = (
        Visit.select(Visit.label)
        .where(where & Visit.called_at.is_null(False))
        .order_by(Visit.called_at.desc(), Visit.id.desc())
        .first()
    )
    return total, waiting, last.label if last else "-"


def status(place: Puskesmas, poli: Poli, day: dt.date, today: dt.date) -> dict:
    """The poli's queue on ``day``: bookings not yet checked in, plus (today) the edge's queue."""
    _closed(place, poli, day)
    booked = Reservation.select().where(
        (Reservation.poli == poli) & (Reservation.date == day) & Reservation.status.in_(rules.HOLDING)
    )
    not_arrived = booked.where(Reservation.status == rules.ACTIVE).count()
    if day == today:
        in_queue, waiting, called = _poli_today(place, poli, day)
        total, remaining = in_queue + not_arrived, waiting + not_arrived
    else:
        total, remaining, called = booked.count(), not_arrived, "-"
    return {
        "namapoli": poli.name,
        "totalantrean": total,
        "sisaantrean": remaining,
        "antreanpanggil": called,
        "keterangan": "",
    }


def _find(place: Puskesmas, poli: Poli, day: dt.date, number: str, statuses) -> Reservation | None:
    number = re.sub(r"[\s.\-]", "", str(number or ""))
    if _CARD.match(number):
        match = Reservation.bpjs_no == number
    elif _NIK.match(number):
        match = (Reservation.nik == number) | (Reservation.bpjs_no == number)
    else:
        raise MobileJknError("Nomor kartu harus 13 digit angka.")
    return (
        Reservation.select()
        .where(
            (Reservation.puskesmas == place)
            & (Reservation.poli == poli)
            & (Reservation.date == day)
            & Reservation.status.in_(statuses)
            & match
        )
        .order_by(Reservation.id.desc())
        .first()
    )


def sisa(place: Puskesmas, poli: Poli, number: str, day: dt.date, today: dt.date) -> dict:
    """A member's place in the poli's queue on ``day``; raises MobileJknError when they hold none."""
    r = _find(place, poli, day, number, rules.HOLDING)
    if r is None:
        raise MobileJknError("Peserta tidak memiliki antrean pada tanggal dan poli tersebut.")
    overall = status(place, poli, day, today)
    if r.status == rules.DONE:
        return {
            "nomorantrean": r.ticket_label or r.rid,
            "namapoli": poli.name,
            "sisaantrean": 0,
            "antreanpanggil": overall["antreanpanggil"],
            "keterangan": "Sudah selesai dilayani.",
        }
    if r.status == rules.CHECKED_IN and r.ticket_label:
        live = queue_view.live_queue(place, today, r.ticket_label) if day == today else {}
        mine = live.get("mine") or {}
        ahead = mine.get("ahead", overall["sisaantrean"])
        note = "Sedang dipanggil." if "called_to" in mine else "Sudah check-in; tunggu panggilan di ruang tunggu."
        return {
            "nomorantrean": r.ticket_label,
            "namapoli": poli.name,
            "sisaantrean": ahead,
            "antreanpanggil": overall["antreanpanggil"],
            "keterangan": note,
        }
    return {
        "nomorantrean": r.rid,
        "namapoli": poli.name,
        "sisaantrean": overall["sisaantrean"],
        "antreanpanggil": overall["antreanpanggil"],
        "keterangan": _arrival_note(r),
    }


def _arrival_note(r: Reservation) -> str:
    return (
        f"Kode booking {r.rid}, jam {r.slot}. Di puskesmas, check-in di kiosk atau loket dengan kode booking "
        "atau NIK untuk mendapat nomor antrean poli."
    )


# ---- ambil antrean (a booking) and batal ---------------------------------------------------------


@dataclass(frozen=True)
class Booking:
    nomorkartu: str
    nik: str
    phone: str
    jampraktek: str


def booking_fields(body: dict) -> Booking:
    """Mobile JKN's ambil antrean body, checked; raises MobileJknError naming the first bad field."""
    card = re.sub(r"[\s.\-]", "", str(body.get("nomorkartu") or ""))
    nik = str(body.get("nik") or "").strip()
    phone = re.sub(r"[\s\-]", "", str(body.get("nohp") or ""))
    hours = str(body.get("jampraktek") or "").strip()
    if card and not _CARD.match(card):
        raise MobileJknError("Nomor kartu harus 13 digit angka.")
    if not _NIK.match(nik):
        raise MobileJknError("NIK harus 16 digit angka.")
    if phone and not _PHONE.match(phone):
        raise MobileJknError("Nomor HP tidak valid.")
    if hours and not _HOURS.match(hours):
        raise MobileJknError("Format jam praktek tidak sesuai (HH:MM-HH:MM).")
    return Booking(card, nik, phone, hours)


def _candidate_slots(poli: Poli, day: dt.date, now: dt.datetime, hours: str) -> list[str]:
    slots = list(rules.open_slots(day, now.date(), now.time(), services.poli_hours(poli)))
    m = _HOURS.match(hours)
    if m:  # Mobile JKN's practice hours: the slots that fall inside them
        start, end = m.group(1), m.group(2)
        slots = [s for s in slots if start <= s.split("-")[0] < end]
    return slots


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def ambil(place: Puskesmas, poli: Poli, body: dict, days: int, now: dt.datetime) -> tuple[Reservation, int]:
    """Book Mobile JKN's patient into the first open slot with a place left; (reservation, its
    number among the poli's bookings that day). Raises MobileJknError (day closed or past, quota
    full, the member already holds this poli on that day)."""
    b = booking_fields(body)
    day = parse_day(body.get("tanggalperiksa"), now.date(), days)
    _closed(place, poli, day)
    slots = _candidate_slots(poli, day, now, b.jampraktek)
    if not slots:
        raise MobileJknError(f"Jam pelayanan {poli.name} pada {format_date(day)} sudah lewat.")
    payer = "BPJS" if b.nomorkartu else "UMUM"
    patient = Patient.get_or_none(Patient.nik == b.nik)
    with services.write_transaction():
        services.lock_row(Poli, poli.id)
        same = (Reservation.nik == b.nik) | (Reservation.bpjs_no == (b.nomorkartu or b.nik))
        if patient is not None:
            same = same | (Reservation.patient == patient)
        held = Reservation.select().where(
            (Reservation.puskesmas == place)
            & (Reservation.date == day)
            & Reservation.status.in_((rules.ACTIVE, rules.CHECKED_IN))
            & same
        )
        if held.where(Reservation.poli == poli).exists():
            raise MobileJknError("Nomor Antrean Hanya Dapat Diambil 1 Kali Pada Tanggal dan Poli Yang Sama.")
        if held.exists():
            raise MobileJknError("Pasien sudah punya reservasi di puskesmas ini pada tanggal tersebut.")
        taken = services.places_taken(poli, day)
        slot = next((s for s in slots if taken.get(s, 0) < poli.slot_quota), None)
        if slot is None:
            log.info("Mobile JKN booking refused puskesmas=%s poli=%s: quota full", place.code, poli.code)
            raise MobileJknError(f"Kuota {poli.name} pada {format_date(day)} sudah penuh. Pilih tanggal lain.")
        r = _create(place, poli, day, slot, payer, b, patient)
        feed.publish_reservation(r)
        number = (
            Reservation.select(fn.COUNT(Reservation.id))
            .where((Reservation.poli == poli) & (Reservation.date == day) & (Reservation.id <= r.id))
            .scalar()
        )
    log.info("Mobile JKN reservation %s created puskesmas=%s poli=%s", r.rid, place.code, poli.code)
    return r, number


def _create(place, poli, day, slot, payer, b: Booking, patient) -> Reservation:
    for _attempt in range(5):
        rid = _new_code()
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
        try:
            with database.atomic():
                return Reservation.create(
                    rid=rid,
                    patient=patient,
                    puskesmas=place,
                    poli=poli,
                    date=day,
                    slot=slot,
                    payer=payer,
                    bpjs_no=b.nomorkartu or None,
                    qr_text=qr_text,
                    source="mobilejkn",
                    nik=b.nik,
                    phone=b.phone or None,
                )
        except IntegrityError:  # the code is taken already: draw another
            continue
    raise RuntimeError("no free booking code")


def booked(r: Reservation, number: int, today: dt.date) -> dict:
    """Ambil antrean's answer: the kode booking is the number Mobile JKN shows until check-in."""
    overall = status(r.puskesmas, r.poli, r.date, today)
    return {
        "nomorantrean": r.rid,
        "angkaantrean": number,
        "namapoli": r.poli.name,
        "sisaantrean": overall["sisaantrean"],
        "antreanpanggil": overall["antreanpanggil"],
        "keterangan": _arrival_note(r),
    }


def batal(place: Puskesmas, poli: Poli, number: str, day: dt.date, now: dt.datetime) -> Reservation:
    """Cancel the member's Mobile JKN booking the way a patient's cancellation goes (the edge is told
    through the feed). Raises MobileJknError: none, already cancelled, already checked in."""
    r = _find(place, poli, day, number, rules.HOLDING + (rules.CANCELLED,))
    if r is None or r.source != "mobilejkn":
        raise MobileJknError("Antrean tidak ditemukan.")
    if r.status == rules.CANCELLED:
        raise MobileJknError("Antrean sudah dibatalkan.")
    if r.status in (rules.CHECKED_IN, rules.DONE):
        raise MobileJknError("Pasien Sudah Dilayani, Antrean Tidak Dapat Dibatalkan.")
    if r.patient_id is not None:
        try:
            return services.cancel(r.patient, r.rid, now=now)
        except services.ServiceError as exc:
            raise MobileJknError(exc.message) from None
    with services.write_transaction():
        services.lock_row(Reservation, r.id)
        r = Reservation.get_by_id(r.id)
        if not rules.can_cancel(r.status, r.date, now.date()):
            raise MobileJknError("Antrean ini tidak dapat dibatalkan lagi.")
        r.status = rules.CANCELLED
        r.cancelled_at = utcnow()
        r.save(only=[Reservation.status, Reservation.cancelled_at])
        feed.publish_reservation(r)
    log.info("Mobile JKN reservation %s cancelled", r.rid)
    return r
