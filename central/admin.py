"""The back office's admin rules: puskesmas details, hours and loket count; poli (code, name,
ticket prefix, quota, reservation hours, closing); staff accounts. Pages (``central.web.admin``)
and the command line call these.

Every change is checked field by field (Indonesian errors; nothing changes on an error), is
audited (who, when, before/after: ``central.audit``) and goes down the change feed to the
puskesmas's edge in the same transaction, so the kiosk, staff pages and TV follow without
re-provisioning.
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

from peewee import fn

from central import audit, feed, services
from central import staff as staff_accounts
from central.core import reservations as rules
from central.core.calendar import format_date_short
from central.core.patients import _hidden
from central.identity import ROLES, IdentityError
from central.models import Poli, Puskesmas, Reservation, Staff, StaffToken, WebSession, database, utcnow

# the same rules as the edge's config (edge/config.py): a poli code is announced nowhere but keys
# every queue; a prefix is spelled letter by letter; A and B are the registration queues' own
CODE_RE = re.compile(r"^[A-Z0-9_]{1,16}\Z")
PUSKESMAS_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}\Z")
PREFIX_RE = re.compile(r"^[A-Z]{1,2}\Z")
REGISTRATION_PREFIXES = ("A", "B")
# words the back office's addresses and filters already use for something else
RESERVED_CODES = ("audit", "petugas", "dinkes", "semua")
MAX_ROOM_NAME = 40
MAX_LOKETS = 20
MAX_QUOTA = 200
WEEKDAYS = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
_LETTER_RE = re.compile(r"[^\W\d_]")


def _schedule():
    """Opening-hours rules (central.core.schedule), imported when first needed."""
    from central.core import schedule

    return schedule


class AdminError(Exception):
    """A change was refused; ``fields`` maps each form field to its Indonesian error."""

    def __init__(self, fields: dict[str, str], message: str = "Ada isian yang perlu diperbaiki."):
        super().__init__(message)
        self.message = message
        self.fields = fields


def today() -> dt.date:
    """Today in WIB, on the clock ``services.now_wib`` reads (the system's; a test sets its own)."""
    return services.now_wib().date()


def _text(form: dict, name: str, errors: dict, label: str, limit: int, required: bool = True) -> str:
    value = (form.get(name) or "").strip()
    if not value:
        if required:
            errors[name] = f"{label} wajib diisi."
        return ""
    if len(value) > limit:
        errors[name] = f"{label} maksimal {limit} karakter."
    elif _hidden(value.replace("\n", " ").replace("\r", "")):
        errors[name] = f"{label} mengandung karakter yang tidak diizinkan."
    return value


def _int(form: dict, name: str, errors: dict, label: str, low: int, high: int) -> int | None:
    raw = (form.get(name) or "").strip()
    if not raw:
        errors[name] = f"{label} wajib diisi."
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6:
        errors[name] = f"{label} harus berupa angka."
        return None
    value = int(raw)
    if not low <= value <= high:
        errors[name] = f"{label} harus antara {low} dan {high}."
        return None
    return value


# ---- opening hours as a form --------------------------------------------------------------


def hours_form(hours: dict) -> dict[str, str]:
    """Form values for a week of hours: ``h1_open``, ``h1_close``, ``h1_break_start``,
    ``h1_break_end`` ... for ISO weekdays 1..7 (one break a day; empty open: closed)."""
    values = {}
    for day in range(1, 8):
        spans = hours.get(str(day)) or []
        opened = spans[0][0] if spans else ""
        closed = spans[-1][1] if spans else ""
        brk = (spans[0][1], spans[1][0]) if len(spans) > 1 else ("", "")
        values.update(
            {
                f"h{day}_open": opened,
                f"h{day}_close": closed,
                f"h{day}_break_start": brk[0],
                f"h{day}_break_end": brk[1],
            }
        )
    return values


_TIME_RE = re.compile(r"^(\d{1,2})(?:[.:](\d{2}))?\Z")


def clock(raw: str | None) -> str:
    """A time as typed ("7.30", "07:30", "14") in the stored form "07:30"; other text is kept
    as it is, for the hours check to refuse."""
    text = (raw or "").strip()
    m = _TIME_RE.match(text)
    if m is None:
        return text[:8]
    return f"{int(m.group(1)):02d}:{m.group(2) or '00'}"


def hours_from_form(form: dict, prefix: str, errors: dict, with_break: bool = True) -> dict:
    """A week of hours from the form (see ``hours_form``); field errors go to ``errors``."""
    hours: dict[str, list[list[str]]] = {}
    for day in range(1, 8):
        name = WEEKDAYS[day - 1]
        opened = clock(form.get(f"{prefix}{day}_open"))
        closed = clock(form.get(f"{prefix}{day}_close"))
        b1 = clock(form.get(f"{prefix}{day}_break_start")) if with_break else ""
        b2 = clock(form.get(f"{prefix}{day}_break_end")) if with_break else ""
        if not opened and not closed:
            if b1 or b2:
                errors[f"{prefix}{day}_open"] = f"{name}: isi jam buka dan tutup, atau kosongkan istirahat."
            hours[str(day)] = []
            continue
        if not opened or not closed:
            errors[f"{prefix}{day}_open"] = f"{name}: isi jam buka dan jam tutup (atau kosongkan keduanya: tutup)."
            continue
        if bool(b1) != bool(b2):
            errors[f"{prefix}{day}_break_start"] = f"{name}: isi mulai dan selesai istirahat, atau kosongkan keduanya."
            continue
        spans = [[opened, b1], [b2, closed]] if b1 else [[opened, closed]]
        hours[str(day)] = spans
    if any(k.startswith(prefix) for k in errors):
        return hours
    for field, message in _schedule().validate(hours).items():
        day = field if field.isdigit() else ""
        errors[f"{prefix}{day}_open" if day else f"{prefix}1_open"] = message
    return hours


# ---- puskesmas ----------------------------------------------------------------------------


def puskesmas_values(p: Puskesmas) -> dict:
    """The audited (and edited) values of a puskesmas."""
    return {
        "code": p.code,
        "name": p.name,
        "address": p.address,
        "kecamatan": p.kecamatan,
        "phone": p.phone,
        "map_url": p.map_url,
        "lokets": p.lokets,
        "hours": p.hours,
        "schedule": p.schedule,
        "info": p.info,
        "running_text": p.running_text,
    }


def puskesmas_hours(p: Puskesmas) -> dict:
    return _schedule().parse(p.schedule) if p.schedule else _schedule().parse("")


def save_puskesmas(by: Staff | None, p: Puskesmas | None, form: dict) -> Puskesmas:
    """Create (``p`` None: admin kabupaten only) or update a puskesmas from form values."""
    errors: dict[str, str] = {}
    values: dict = {}
    if p is None:
        code = (form.get("code") or "").strip().lower()
        if not PUSKESMAS_CODE_RE.match(code):
            errors["code"] = "Kode 2-32 huruf kecil, angka atau -, contoh: cibinong."
        elif code in RESERVED_CODES:
            errors["code"] = f"Kode {code} dipakai halaman back office. Pilih kode lain, contoh: nama kecamatannya."
        elif Puskesmas.select().where(Puskesmas.code == code).exists():
            errors["code"] = "Kode ini sudah dipakai puskesmas lain."
        values["code"] = code
    values["name"] = _text(form, "name", errors, "Nama puskesmas", 120)
    if values["name"] and not _LETTER_RE.search(values["name"]):
        errors["name"] = "Nama puskesmas harus berisi huruf."
    values["address"] = _text(form, "address", errors, "Alamat", 250)
    values["kecamatan"] = _text(form, "kecamatan", errors, "Kecamatan", 80)
    values["phone"] = _text(form, "phone", errors, "Telepon", 40, required=False)
    if values["phone"] and not re.fullmatch(r"[0-9+() .-]{5,40}", values["phone"]):
        errors["phone"] = "Telepon hanya angka, spasi, +, -, ( dan ). Contoh: (0251) 8123456."
    values["map_url"] = _text(form, "map_url", errors, "Tautan peta", 300, required=False)
    if values["map_url"]:
        parts = urlsplit(values["map_url"])
        if parts.scheme != "https" or not parts.netloc or " " in values["map_url"]:
            errors["map_url"] = "Tautan peta harus alamat https://, contoh: https://maps.app.goo.gl/..."
    values["info"] = _text(form, "info", errors, "Informasi", 4000, required=False)
    # one line across the bottom of the waiting-room TV ("" for none)
    values["running_text"] = _text(form, "running_text", errors, "Teks berjalan di TV", 200, required=False)
    if "running_text" not in errors and ("\n" in values["running_text"] or "\r" in values["running_text"]):
        errors["running_text"] = "Teks berjalan di TV harus satu baris, tanpa ganti baris."
    lokets = _int(form, "lokets", errors, "Jumlah loket", 1, MAX_LOKETS)
    hours = hours_from_form(form, "h", errors)
    if p is not None and not errors:
        problem = _polis_outside(p, hours)
        if problem:
            errors["h1_open"] = problem
    if errors:
        raise AdminError(errors)
    values["lokets"] = lokets
    values["schedule"] = _schedule().dump(hours)
    values["hours"] = _schedule().describe(hours)[:120]
    with database.atomic():
        if p is None:
            p = Puskesmas.create(**values)
            audit.record(by, "puskesmas", p.code, "create", None, puskesmas_values(p), p.id)
            _seed_default_poli(p)
        else:
            before = puskesmas_values(p)
            Puskesmas.update(**values).where(Puskesmas.id == p.id).execute()
            p = Puskesmas.get_by_id(p.id)
            after = puskesmas_values(p)
            if after == before:
                return p
            audit.record(by, "puskesmas", p.code, "update", before, after, p.id)
        feed.publish_site(p)
    return p


def _seed_default_poli(p: Puskesmas) -> None:
    """A new puskesmas starts with Poli Umum, so its kiosk has somewhere to send patients."""
    poli = Poli.create(puskesmas=p, code="UMUM", name="Poli Umum", prefix="U", slot_quota=10)
    feed.publish_poli(poli)


def _polis_outside(p: Puskesmas, hours: dict) -> str | None:
    for poli in Poli.select().where((Poli.puskesmas == p) & Poli.active):
        bad = _schedule().outside(poli_hours(poli), hours)
        if bad:
            return f"Jam reservasi {poli.name} ({', '.join(bad[:3])}) di luar jam buka ini. Ubah jam poli itu dahulu."
    return None


# ---- poli ---------------------------------------------------------------------------------


def poli_values(poli: Poli) -> dict:
    return {
        "code": poli.code,
        "name": poli.name,
        "prefix": poli.prefix,
        "slot_quota": poli.slot_quota,
        "active": poli.active,
        "order": poli.order,
        "schedule": poli.schedule,
    }


def poli_hours(poli: Poli) -> dict:
    return _schedule().parse(poli.schedule) if poli.schedule else _schedule().parse_poli("")


def busiest_slot(poli: Poli, since: dt.date) -> tuple[int, dt.date | None, str]:
    """The most reservations held by one slot of this poli from ``since`` on: (count, day, slot)."""
    row = (
        Reservation.select(Reservation.date, Reservation.slot, fn.COUNT(Reservation.id).alias("n"))
        .where((Reservation.poli == poli) & (Reservation.date >= since) & Reservation.status.in_(rules.HOLDING))
        .group_by(Reservation.date, Reservation.slot)
        .order_by(fn.COUNT(Reservation.id).desc(), Reservation.date)
        .first()
    )
    if row is None:
        return 0, None, ""
    return row.n, row.date, row.slot


def save_poli(by: Staff | None, p: Puskesmas, poli: Poli | None, form: dict) -> Poli:
    """Create (``poli`` None) or update a poli of ``p`` from form values."""
    errors: dict[str, str] = {}
    values: dict = {}
    others = Poli.select().where(Poli.puskesmas == p)
    if poli is not None:
        others = others.where(Poli.id != poli.id)
    if poli is None:
        code = (form.get("code") or "").strip().upper()
        if not CODE_RE.match(code):
            errors["code"] = "Kode 1-16 huruf besar, angka atau _, contoh: UMUM, GIGI, KIA."
        elif others.where(Poli.code == code).exists():
            errors["code"] = "Kode poli ini sudah ada di puskesmas ini."
        values["code"] = code
    name = _text(form, "name", errors, "Nama poli", MAX_ROOM_NAME)
    if name and not _LETTER_RE.search(name):
        errors["name"] = "Nama poli harus berisi huruf (nama ini diumumkan)."
    values["name"] = name
    prefix = (form.get("prefix") or "").strip().upper()
    if not PREFIX_RE.match(prefix):
        errors["prefix"] = "Awalan nomor 1-2 huruf besar, contoh: U atau KB."
    elif prefix in REGISTRATION_PREFIXES:
        errors["prefix"] = "Awalan A dan B dipakai antrean pendaftaran (loket). Pilih huruf lain."
    else:
        clash = others.where((Poli.prefix == prefix) & Poli.active).first()
        if clash is not None:
            errors["prefix"] = f"Awalan {prefix} sudah dipakai {clash.name}. Nomor antrean dua poli tidak boleh sama."
    values["prefix"] = prefix
    quota = _int(form, "slot_quota", errors, "Kuota reservasi per jam", 0, MAX_QUOTA)
    order = _int(form, "order", errors, "Urutan", 0, 999) if (form.get("order") or "").strip() else 0
    active = (form.get("active") or "") in ("1", "on", "true")
    hours = hours_from_form(form, "s", errors, with_break=False)
    if not errors:
        bad = _schedule().outside(hours, puskesmas_hours(p))
        if bad:
            errors["s1_open"] = (
                f"Jam reservasi {', '.join(bad[:3])} di luar jam buka puskesmas ({p.hours}). Sesuaikan jamnya."
            )
    if poli is not None and quota is not None and "slot_quota" not in errors:
        held, day, slot = busiest_slot(poli, today())
        if quota < held:
            errors["slot_quota"] = (
                f"Sudah ada {held} reservasi pada {format_date_short(day)} jam {slot}; "
                f"kuota tidak boleh kurang dari {held}."
            )
    if errors:
        raise AdminError(errors)
    values.update(slot_quota=quota, order=order or 0, active=active, schedule=_schedule().dump(hours))
    with database.atomic():
        if poli is None:
            poli = Poli.create(puskesmas=p, **values)
            audit.record(by, "poli", f"{p.code}/{poli.code}", "create", None, poli_values(poli), p.id)
        else:
            before = poli_values(poli)
            Poli.update(**values).where(Poli.id == poli.id).execute()
            poli = Poli.get_by_id(poli.id)
            after = poli_values(poli)
            if after == before:
                return poli
            audit.record(by, "poli", f"{p.code}/{poli.code}", "update", before, after, p.id)
        feed.publish_poli(poli)
    return poli


# ---- staff accounts -----------------------------------------------------------------------


def creatable_roles(by: Staff) -> dict[str, str]:
    """The roles ``by`` may give: an admin puskesmas never makes an admin kabupaten."""
    if by.role == "admin_kabupaten":
        return dict(ROLES)
    return {k: v for k, v in ROLES.items() if k != "admin_kabupaten"}


staff_values = staff_accounts.values


def may_manage(by: Staff, s: Staff) -> bool:
    if by.role == "admin_kabupaten":
        return True
    return by.role == "admin_puskesmas" and s.puskesmas_id == by.puskesmas_id and s.role != "admin_kabupaten"


def add_staff(by: Staff, form: dict) -> Staff:
    role = (form.get("role") or "").strip()
    puskesmas = (form.get("puskesmas") or "").strip().lower()
    if by.role != "admin_kabupaten":
        puskesmas = by.puskesmas.code
        if role == "admin_kabupaten":
            raise AdminError({"role": "Hanya admin Dinas Kesehatan yang boleh membuat akun admin Dinas Kesehatan."})
    polis = ",".join(form.getlist("polis")) if hasattr(form, "getlist") else (form.get("polis") or "")
    if (form.get("password") or "") != (form.get("password2") or ""):
        raise AdminError({"password2": "Ulangi kata sandi yang sama."})
    errors: dict[str, str] = {}
    _text(form, "name", errors, "Nama", 120)  # a name is shown on every staff page and the audit log
    if "name" in errors:
        raise AdminError(errors)
    try:
        with database.atomic():
            s = staff_accounts.add(
                form.get("username") or "",
                form.get("name") or "",
                role,
                puskesmas,
                polis,
                form.get("password") or "",
                by=by,
            )
    except IdentityError as e:
        raise AdminError(e.fields or {"username": e.message}) from None
    return s


def set_staff_active(by: Staff, s: Staff, active: bool) -> Staff:
    if s.id == by.id and not active:
        raise AdminError({"active": "Anda tidak bisa menonaktifkan akun Anda sendiri."})
    before = staff_values(s)
    with database.atomic():
        Staff.update(active=active).where(Staff.id == s.id).execute()
        s = Staff.get_by_id(s.id)
        if not active:
            end_sign_ins(s)
        feed.publish_staff(s)
        audit.record(by, "staff", s.username, "update", before, staff_values(s), s.puskesmas_id)
    return s


def end_sign_ins(s: Staff) -> None:
    """End every web session and back-office API token of an account (disabled, or its password
    reset: whoever signed in with the old password is out)."""
    now = utcnow()
    WebSession.update(revoked_at=now).where((WebSession.staff == s) & WebSession.revoked_at.is_null()).execute()
    StaffToken.update(revoked_at=now).where((StaffToken.staff == s) & StaffToken.revoked_at.is_null()).execute()


def reset_staff_password(by: Staff, s: Staff, password: str, again: str) -> Staff:
    if password != again:
        raise AdminError({"password2": "Ulangi kata sandi yang sama."})
    try:
        with database.atomic():
            s = staff_accounts.set_password(s.username, password, by=by)
            end_sign_ins(s)
    except IdentityError as e:
        raise AdminError(e.fields or {"password": e.message}) from None
    return s
