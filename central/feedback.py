"""Kritik & saran: a patient rates a puskesmas (1-5) with a short text, optionally about one of her
visits; the back office lists them within its scope, marks them followed up and answers.

Patients send from the web (``source="web"``) and the installed app (``"app"``). Sending is
throttled per account and per client address (``central.limits``: counted before storing, given
back when nothing was stored). Text is plain text, kept as typed apart from trimming; the pages
escape it. Every follow-up and answer is audited (``central.audit``). A back-office list never
shows more of the patient than her first name.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from peewee import JOIN, SQL, NodeList, fn

from central import audit, limits
from central.core.calendar import WIB, parse_date
from central.core.patients import _hidden
from central.models import Feedback, Patient, Poli, Puskesmas, Reservation, Staff, database
from central.services import ServiceError, ValidationError

MAX_TEXT = 1000
PAGE_SIZE = 20
SOURCES = ("web", "app", "kiosk")
RATINGS = {1: "Sangat buruk", 2: "Buruk", 3: "Cukup", 4: "Baik", 5: "Sangat baik"}
STATUSES = {"baru": "Baru", "ditindaklanjuti": "Sudah ditindaklanjuti", "dijawab": "Sudah dijawab"}
VIEWERS = ("admin_kabupaten", "admin_puskesmas", "kepala_puskesmas")
EVERY = "semua"  # the puskesmas filter's value for every puskesmas (admin kabupaten)

# a patient sends a handful a day; one address (a household, a puskesmas's wifi) a few more an hour
FEEDBACK_ACCOUNT = limits.Limit("feedback-acct", allowed=5, window_s=24 * 3600)
FEEDBACK_CLIENT = limits.Limit("feedback-client", allowed=20, window_s=3600)

RATING_REQUIRED = "Pilih nilai 1 sampai 5 bintang."
PUSKESMAS_REQUIRED = "Pilih puskesmas yang Anda nilai."
PUSKESMAS_UNKNOWN = "Puskesmas tidak ditemukan. Pilih dari daftar."
VISIT_UNKNOWN = "Kunjungan tidak ditemukan. Pilih salah satu kunjungan Anda dari daftar."
VISIT_ELSEWHERE = "Kunjungan ini bukan di puskesmas yang Anda pilih. Pilih puskesmasnya, atau kosongkan kunjungan."
VISIT_FUTURE = "Kunjungan ini belum terjadi. Kritik & saran bisa dikirim pada hari kunjungan atau sesudahnya."
TEXT_TOO_LONG = f"Tulisan terlalu panjang: paling banyak {MAX_TEXT:,} huruf.".replace(",", ".")
TEXT_HIDDEN = "Tulisan berisi karakter yang tidak diizinkan (karakter kontrol atau tak terlihat)."
ANSWER_REQUIRED = "Jawaban wajib diisi."


class TooMany(ServiceError):
    """The throttle refused: the message says when to try again."""

    status = 429


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


def _utc(moment: dt.datetime) -> dt.datetime:
    """A WIB (aware) moment as the naive UTC every DateTimeField stores."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _wib_now() -> dt.datetime:
    from central.services import now_wib

    return now_wib()


def clean_text(raw, errors: dict, name: str = "text", required_message: str | None = None) -> str:
    """Text as typed, trimmed, line ends made ``\\n``; an error for control or invisible characters,
    for more than ``MAX_TEXT`` characters, or (with ``required_message``) for nothing at all."""
    text = str(raw or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if _hidden(text.replace("\n", " ").replace("\t", " ")):
        errors[name] = TEXT_HIDDEN
    elif len(text) > MAX_TEXT:
        errors[name] = TEXT_TOO_LONG
    elif not text and required_message:
        errors[name] = required_message
    return text


def _rating(raw, errors: dict) -> int | None:
    value = str(raw if raw is not None else "").strip()
    if value.isascii() and value.isdigit() and int(value) in RATINGS:
        return int(value)
    errors["rating"] = RATING_REQUIRED
    return None


def visits_of(patient: Patient, today: dt.date) -> list[Reservation]:
    """The patient's reservations a kritik & saran may be about (up to today, not cancelled), latest first."""
    return list(
        Reservation.select(Reservation, Puskesmas, Poli)
        .join(Puskesmas)
        .switch(Reservation)
        .join(Poli)
        .where((Reservation.patient == patient) & (Reservation.date <= today) & (Reservation.status != "cancelled"))
        .order_by(Reservation.date.desc(), Reservation.slot.desc(), Reservation.id.desc())
        .limit(100)
    )


def check(patient: Patient, puskesmas_code, rating, text, rid=None, today: dt.date | None = None) -> dict:
    """The clean values of a kritik & saran, or ValidationError with Indonesian field errors."""
    today = today or _wib_now().date()
    errors: dict[str, str] = {}
    code = str(puskesmas_code or "").strip().lower()[:32]
    place = None
    if not code:
        errors["puskesmas"] = PUSKESMAS_REQUIRED
    else:
        place = Puskesmas.get_or_none(Puskesmas.code == code)
        if place is None:
            errors["puskesmas"] = PUSKESMAS_UNKNOWN
    value = _rating(rating, errors)
    body = clean_text(text, errors)
    visit = None
    rid = str(rid or "").strip()[:40]
    if rid:
        visit = Reservation.get_or_none((Reservation.rid == rid[:32]) & (Reservation.patient == patient))
        if visit is None or len(rid) > 32:
            errors["rid"] = VISIT_UNKNOWN
        elif visit.date > today:
            errors["rid"] = VISIT_FUTURE
        elif place is not None and visit.puskesmas_id != place.id:
            errors["rid"] = VISIT_ELSEWHERE
    if errors:
        raise ValidationError(errors)
    return {
        "puskesmas": place,
        "rating": value,
        "text": body,
        "rid": visit.rid if visit else None,
        "poli": visit.poli.code if visit else None,
    }


def submit(
    patient: Patient,
    puskesmas_code,
    rating,
    text,
    rid=None,
    source: str = "web",
    client: str = "",
    now: dt.datetime | None = None,
) -> Feedback:
    """Store a patient's kritik & saran; raises ValidationError (fields) or TooMany (throttled).

    ``now`` is the WIB moment (the app's clock); ``client`` the request's address."""
    now = now or _wib_now()
    values = check(patient, puskesmas_code, rating, text, rid, today=now.date())
    moment = _utc(now)
    try:
        limits.hit(FEEDBACK_ACCOUNT, str(patient.id), now=moment)
    except limits.Limited:
        raise TooMany(
            f"Anda sudah mengirim {FEEDBACK_ACCOUNT.allowed} kritik & saran dalam 24 jam terakhir. "
            "Terima kasih atas masukannya; silakan kirim lagi besok."
        ) from None
    try:
        limits.hit(FEEDBACK_CLIENT, client or "-", now=moment)
    except limits.Limited as e:
        limits.release(FEEDBACK_ACCOUNT, str(patient.id))
        raise TooMany(f"Terlalu banyak kiriman dari jaringan ini. Coba lagi dalam {e.minutes} menit.") from None
    try:
        return Feedback.create(
            puskesmas=values["puskesmas"],
            patient=patient,
            rid=values["rid"],
            poli=values["poli"],
            rating=values["rating"],
            text=values["text"],
            source=source if source in SOURCES else "web",
            created_at=moment,
        )
    except Exception:
        limits.release(FEEDBACK_ACCOUNT, str(patient.id))
        limits.release(FEEDBACK_CLIENT, client or "-")
        raise


# ---- what a patient sees ------------------------------------------------------------------------
def status_of(fb: Feedback) -> str:
    if fb.answered_at is not None:
        return "dijawab"
    if fb.followed_up_at is not None:
        return "ditindaklanjuti"
    return "baru"


def mine(patient: Patient) -> list[Feedback]:
    """The patient's own kritik & saran, latest first, with their puskesmas."""
    return list(
        Feedback.select(Feedback, Puskesmas)
        .join(Puskesmas)
        .where(Feedback.patient == patient)
        .order_by(Feedback.created_at.desc(), Feedback.id.desc())
        .limit(200)
    )


def by_visit(patient: Patient) -> dict[str, list[Feedback]]:
    """The patient's kritik & saran about a visit, by reservation id (oldest first)."""
    out: dict[str, list[Feedback]] = {}
    rows = (
        Feedback.select()
        .where((Feedback.patient == patient) & Feedback.rid.is_null(False))
        .order_by(Feedback.created_at, Feedback.id)
    )
    for fb in rows:
        out.setdefault(fb.rid, []).append(fb)
    return out


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") + "Z" if moment else None


def to_json(fb: Feedback, visit: Reservation | None = None) -> dict:
    """A kritik & saran as its patient sees it in the API (the staff member's name is not given)."""
    return {
        "id": fb.id,
        "puskesmas": {"code": fb.puskesmas.code, "name": fb.puskesmas.name},
        "rid": fb.rid,
        "visit": (
            {"date": visit.date.isoformat(), "slot": visit.slot, "poli": visit.poli.name} if visit is not None else None
        ),
        "rating": fb.rating,
        "text": fb.text,
        "source": fb.source,
        "created_at": _iso(fb.created_at),
        "status": status_of(fb),
        "status_label": STATUSES[status_of(fb)],
        "answer": fb.answer or None,
        "answered_at": _iso(fb.answered_at),
    }


def visits_by_rid(rids) -> dict[str, Reservation]:
    rids = sorted({r for r in rids if r})
    if not rids:
        return {}
    rows = Reservation.select(Reservation, Poli).join(Poli).where(Reservation.rid.in_(rids))
    return {r.rid: r for r in rows}


# ---- the back office ------------------------------------------------------------------------------
def _may(staff: Staff | None, puskesmas_id: int) -> None:
    if staff is None or staff.role not in VIEWERS:
        raise Forbidden("Peran Anda tidak boleh membuka kritik & saran.")
    if staff.role != "admin_kabupaten" and staff.puskesmas_id != puskesmas_id:
        raise Forbidden("Anda hanya boleh membuka data puskesmas Anda sendiri.")


def get_for(staff: Staff, feedback_id: int) -> Feedback:
    """One kritik & saran the staff member may see; NotFound or Forbidden."""
    fb = Feedback.get_or_none(Feedback.id == feedback_id)
    if fb is None:
        raise NotFound("Kritik & saran tidak ditemukan.")
    _may(staff, fb.puskesmas_id)
    return fb


@dataclass
class Filters:
    puskesmas: str = ""  # a code, EVERY, or empty (one's own; the first for admin kabupaten)
    rating: str = ""
    status: str = ""
    start: str = ""  # WIB days, included
    end: str = ""
    q: str = ""
    poli: str = ""  # a poli code, NO_POLI, or empty (every poli)
    page: str = "1"

    @classmethod
    def of(cls, args) -> Filters:
        return cls(**{name: str(args.get(key, "") or "").strip()[:200] for name, key in _ARG_NAMES.items()})

    def args(self, **change) -> dict:
        """The filters as query arguments (for links to other pages of the list)."""
        values = {key: getattr(self, name) for name, key in _ARG_NAMES.items()}
        values.update(change)
        return {k: v for k, v in values.items() if v not in ("", None)}


_ARG_NAMES = {
    "puskesmas": "puskesmas",
    "rating": "nilai",
    "status": "status",
    "start": "dari",
    "end": "sampai",
    "q": "cari",
    "poli": "poli",
    "page": "hal",
}
NO_POLI = "-"  # the poli filter's value for kritik & saran about no poli in particular
POLI_UNKNOWN = "Pilih poli dari daftar."


@dataclass
class Item:
    fb: Feedback
    first_name: str
    visit: Reservation | None
    status: str
    poli_name: str = ""  # the poli it is about ("" if none), by name where the puskesmas has it


@dataclass
class Listing:
    places: list  # the puskesmas shown (one, or all for EVERY)
    items: list[Item]
    total: int
    page: int
    pages: int
    count: int  # in the summary (the period and puskesmas, every rating and status)
    average: float | None
    per_star: dict[int, int]
    answered_share: float | None
    errors: dict[str, str] = field(default_factory=dict)
    from_kiosk: int = 0  # of ``count``, the ratings given at a kiosk
    polis: list[tuple[str, str]] = field(default_factory=list)  # the poli filter's (code, label)


def _like(text: str):
    pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return NodeList((fn.LOWER(Feedback.text), SQL("LIKE"), pattern, SQL("ESCAPE '\\'")))


def places_for(staff: Staff, code: str) -> list[Puskesmas]:
    """The puskesmas a list shows: ``EVERY`` (admin kabupaten) or one; Forbidden / NotFound."""
    code = (code or "").strip().lower()
    if staff.role == "admin_kabupaten" and code in ("", EVERY):
        return list(Puskesmas.select().order_by(Puskesmas.name))
    if not code:
        if staff.puskesmas_id is None:
            raise Forbidden("Akun Anda tidak terhubung ke puskesmas mana pun.")
        return [Puskesmas.get_by_id(staff.puskesmas_id)]
    place = Puskesmas.get_or_none(Puskesmas.code == code)
    if place is None:
        raise NotFound("Puskesmas tidak ditemukan.")
    _may(staff, place.id)
    return [place]


def poli_names(puskesmas_ids) -> dict[tuple[int, str], str]:
    """Poli names by (puskesmas id, code), closed poli included (their feedback stays)."""
    ids = sorted(set(puskesmas_ids))
    if not ids:
        return {}
    rows = Poli.select(Poli.puskesmas, Poli.code, Poli.name).where(Poli.puskesmas.in_(ids)).tuples()
    return {(pid, code): name for pid, code, name in rows}


def poli_choices(places: list[Puskesmas]) -> list[tuple[str, str]]:
    """The poli filter's choices for these puskesmas: (code, label), by name; one code shared by
    several puskesmas is one choice (``UMUM`` is Poli Umum everywhere)."""
    names: dict[str, str] = {}
    for (_, code), name in sorted(poli_names(p.id for p in places).items(), key=lambda kv: kv[1].lower()):
        names.setdefault(code, name)
    return sorted(names.items(), key=lambda kv: (kv[1].lower(), kv[0]))


def poli_label(fb: Feedback, visit: Reservation | None, names: dict) -> str:
    if visit is not None:
        return visit.poli.name
    if not fb.poli:
        return ""
    return names.get((fb.puskesmas_id, fb.poli), fb.poli)


def list_for(staff: Staff, filters: Filters, today: dt.date | None = None) -> Listing:
    """Kritik & saran the staff member may see, filtered and paginated (latest first), with a
    summary of the puskesmas and period. Raises Forbidden / NotFound for a puskesmas out of
    scope, ValidationError for a bad filter."""
    if staff is None or staff.role not in VIEWERS:
        raise Forbidden("Peran Anda tidak boleh membuka kritik & saran.")
    today = today or _wib_now().date()
    places = places_for(staff, filters.puskesmas)
    errors: dict[str, str] = {}
    rating = None
    if filters.rating:
        if filters.rating.isascii() and filters.rating.isdigit() and int(filters.rating) in RATINGS:
            rating = int(filters.rating)
        else:
            errors["nilai"] = "Pilih nilai 1 sampai 5."
    status = filters.status.lower()
    if status and status not in STATUSES:
        errors["status"] = "Pilih status: baru, sudah ditindaklanjuti, atau sudah dijawab."
    start = parse_date(filters.start) if filters.start else None
    end = parse_date(filters.end) if filters.end else None
    if filters.start and start is None:
        errors["dari"] = "Tanggal awal tidak valid. Contoh: 01-12-2026."
    if filters.end and end is None:
        errors["sampai"] = "Tanggal akhir tidak valid. Contoh: 31-12-2026."
    if start and end and end < start:
        errors["sampai"] = "Tanggal akhir tidak boleh sebelum tanggal awal."
    q = " ".join(filters.q.split())[:100]
    if q and _hidden(q):
        errors["cari"] = TEXT_HIDDEN
    page = int(filters.page) if filters.page.isascii() and filters.page.isdigit() else 1
    polis = poli_choices(places)
    poli = filters.poli.upper()
    if poli and poli != NO_POLI and poli not in {code for code, _ in polis}:
        errors["poli"] = POLI_UNKNOWN
    if errors:
        raise ValidationError(errors, "Ada saringan yang perlu diperbaiki.")

    base = Feedback.select().where(Feedback.puskesmas.in_([p.id for p in places]))
    if start:
        base = base.where(Feedback.created_at >= _utc(dt.datetime.combine(start, dt.time(0), tzinfo=WIB)))
    if end:
        limit = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), tzinfo=WIB)
        base = base.where(Feedback.created_at < _utc(limit))
    if poli == NO_POLI:
        base = base.where(Feedback.poli.is_null())
    elif poli:
        base = base.where(Feedback.poli == poli)

    # the summary: every rating and status in the period and puskesmas
    per_star = {star: 0 for star in RATINGS}
    answered = 0
    # the kiosk's ratings have nobody to read an answer: the share answered leaves them out
    answerable = base.where(Feedback.source != "kiosk").count()
    from_kiosk = base.where(Feedback.source == "kiosk").count()
    for row in (
        base.select(Feedback.rating, fn.COUNT(Feedback.id).alias("n"), fn.COUNT(Feedback.answered_at).alias("a"))
        .group_by(Feedback.rating)
        .dicts()
    ):
        if row["rating"] in per_star:
            per_star[row["rating"]] = row["n"]
            answered += row["a"]
    count = sum(per_star.values())
    average = sum(star * n for star, n in per_star.items()) / count if count else None

    query = base
    if rating:
        query = query.where(Feedback.rating == rating)
    if status == "baru":
        query = query.where(Feedback.answered_at.is_null() & Feedback.followed_up_at.is_null())
    elif status == "ditindaklanjuti":
        query = query.where(Feedback.answered_at.is_null() & Feedback.followed_up_at.is_null(False))
    elif status == "dijawab":
        query = query.where(Feedback.answered_at.is_null(False))
    if q:
        query = query.where(_like(q))
    total = query.count()
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(page, 1), pages)
    rows = list(
        query.select(Feedback, Puskesmas, Patient)
        .join(Puskesmas, on=Feedback.puskesmas == Puskesmas.id)
        .switch(Feedback)
        .join(Patient, join_type=JOIN.LEFT_OUTER, on=Feedback.patient == Patient.id)
        .order_by(Feedback.created_at.desc(), Feedback.id.desc())
        .paginate(page, PAGE_SIZE)
    )
    visits = visits_by_rid(fb.rid for fb in rows)
    names = poli_names(fb.puskesmas_id for fb in rows)
    items = [
        Item(
            fb=fb,
            first_name=(fb.patient.name.split() or ["Pasien"])[0] if fb.patient_id else "",
            visit=visits.get(fb.rid),
            status=status_of(fb),
            poli_name=poli_label(fb, visits.get(fb.rid), names),
        )
        for fb in rows
    ]
    return Listing(
        places=places,
        items=items,
        total=total,
        page=page,
        pages=pages,
        count=count,
        average=average,
        per_star=per_star,
        answered_share=answered / answerable if answerable else None,
        from_kiosk=from_kiosk,
        polis=polis,
    )


def _audited(fb: Feedback) -> dict:
    """What the audit keeps of a kritik & saran's follow-up (nothing about the patient)."""
    return {
        "status": status_of(fb),
        "followed_up_at": _iso(fb.followed_up_at),
        "answer": fb.answer,
    }


def follow_up(staff: Staff, fb: Feedback, now: dt.datetime | None = None) -> Feedback:
    """Mark as followed up (once; marking again changes nothing). Audited."""
    _may(staff, fb.puskesmas_id)
    if fb.followed_up_at is not None:
        return fb
    moment = _utc(now or _wib_now())
    with database.atomic():
        before = _audited(fb)
        fb.followed_up_at, fb.followed_up_by = moment, staff
        fb.save()
        audit.record(staff, "feedback", str(fb.id), "update", before, _audited(fb), fb.puskesmas_id)
    return fb


def answer(staff: Staff, fb: Feedback, text, now: dt.datetime | None = None) -> Feedback:
    """Answer (or change the answer); the patient sees it in her history. Also marks it followed
    up. Raises ValidationError for an empty, too long or hidden-character answer. Audited."""
    _may(staff, fb.puskesmas_id)
    if fb.source == "kiosk":  # an anonymous rating at the APM: no patient would ever read it
        raise ValidationError(
            {"answer": "Penilaian dari anjungan tidak bisa dijawab: tidak ada pasien yang membacanya."}
        )
    errors: dict[str, str] = {}
    body = clean_text(text, errors, "answer", ANSWER_REQUIRED)
    if errors:
        raise ValidationError(errors)
    if body == fb.answer:
        return fb
    moment = _utc(now or _wib_now())
    with database.atomic():
        before = _audited(fb)
        fb.answer, fb.answered_at, fb.answered_by = body, moment, staff
        if fb.followed_up_at is None:
            fb.followed_up_at, fb.followed_up_by = moment, staff
        fb.save()
        audit.record(staff, "feedback", str(fb.id), "update", before, _audited(fb), fb.puskesmas_id)
    return fb


def average_rating(place: Puskesmas) -> tuple[float | None, int]:
    """The puskesmas's average rating and how many ratings it has."""
    row = (
        Feedback.select(fn.AVG(Feedback.rating).alias("avg"), fn.COUNT(Feedback.id).alias("n"))
        .where(Feedback.puskesmas == place)
        .dicts()
        .get()
    )
    return (float(row["avg"]) if row["n"] else None), row["n"]
