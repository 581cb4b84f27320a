"""Back office: closed days (``/petugas/libur``). Roles: ``ADMINS`` only; others get 403.

Admin kabupaten keeps the national holidays and cuti bersama (every puskesmas) and may add a
puskesmas's own closed day; admin puskesmas sees those and adds, renames and deletes only its
own puskesmas's closed days (kind ``lokal``). A closed day takes no bookings. Every change is
audited and sent to the edges of the puskesmas it concerns in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import re

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from central import audit, feed, runtime
from central.core import reservations as rules
from central.core.calendar import format_date, parse_date
from central.models import Holiday, Puskesmas, Reservation, database
from central.web.backoffice import ADMINS
from central.web.errors import http_error
from central.web.staff import roles

bp = Blueprint("holidays", __name__, url_prefix="/petugas/libur")

KINDS = {"libur": "Libur nasional", "cuti": "Cuti bersama", "lokal": "Libur puskesmas"}
MAX_NAME = 120
_LETTER_RE = re.compile(r"[^\W\d_]")
_BAD_CHARS_RE = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")
EVERY = "semua"  # the scope field's value for every puskesmas


class HolidayError(Exception):
    def __init__(self, fields: dict[str, str]):
        super().__init__(", ".join(sorted(fields)))
        self.fields = fields


def _today() -> dt.date:
    return runtime.now().date()


def _kabupaten() -> bool:
    return g.staff.role == "admin_kabupaten"


def values_of(h: Holiday) -> dict:
    """The audited values of a closed day."""
    return {
        "date": h.date.isoformat(),
        "name": h.name,
        "kind": h.kind,
        "puskesmas": h.puskesmas.code if h.puskesmas_id is not None else "",
    }


def _key(h: Holiday) -> str:
    return f"{h.puskesmas.code}/{h.date.isoformat()}" if h.puskesmas_id is not None else h.date.isoformat()


def _clean_name(raw: str | None, errors: dict) -> str:
    name = " ".join((raw or "").split())
    if not name:
        errors["name"] = "Nama hari libur wajib diisi, contoh: Hari Raya Idulfitri."
    elif len(name) > MAX_NAME:
        errors["name"] = f"Nama hari libur paling banyak {MAX_NAME} huruf."
    elif _BAD_CHARS_RE.search(raw or ""):
        errors["name"] = "Nama hari libur berisi karakter yang tidak boleh dipakai."
    elif not _LETTER_RE.search(name):
        errors["name"] = "Nama hari libur harus berisi huruf."
    return name


def _editable(h: Holiday) -> bool:
    """May the signed-in admin rename or delete this closed day?"""
    return _kabupaten() or (h.puskesmas_id is not None and h.puskesmas_id == g.staff.puskesmas_id)


def _active_bookings(h: Holiday) -> int:
    query = Reservation.select().where((Reservation.date == h.date) & (Reservation.status == rules.ACTIVE))
    if h.puskesmas_id is not None:
        query = query.where(Reservation.puskesmas == h.puskesmas_id)
    return query.count()


def add(form) -> Holiday:
    """Check and store a new closed day from form values; raises HolidayError."""
    errors: dict[str, str] = {}
    raw_date = (form.get("date") or "").strip()
    day = parse_date(raw_date)
    if not raw_date:
        errors["date"] = "Tanggal wajib diisi."
    elif day is None:
        errors["date"] = "Tanggal tidak valid. Pilih tanggal dari kalender."
    elif day < _today():
        errors["date"] = "Tanggal sudah lewat. Hari libur hanya bisa ditambahkan untuk hari ini atau sesudahnya."
    elif day > _today() + dt.timedelta(days=3 * 366):
        errors["date"] = "Tanggal terlalu jauh: paling lambat tiga tahun dari sekarang."
    name = _clean_name(form.get("name"), errors)
    place = None
    if _kabupaten():
        scope = (form.get("puskesmas") or EVERY).strip().lower()
        if scope != EVERY:
            place = Puskesmas.get_or_none(Puskesmas.code == scope)
            if place is None:
                errors["puskesmas"] = "Pilih puskesmas, atau semua puskesmas."
        kind = (form.get("kind") or "").strip().lower()
        if place is not None or "puskesmas" in errors:
            kind = "lokal"
        elif kind not in ("libur", "cuti"):
            errors["kind"] = "Pilih jenis: libur nasional atau cuti bersama (untuk semua puskesmas)."
    else:
        place = Puskesmas.get_by_id(g.staff.puskesmas_id)
        kind = "lokal"
    if day is not None and "date" not in errors and "puskesmas" not in errors:
        on_day = Holiday.select().where(Holiday.date == day)
        clash = on_day.where(Holiday.puskesmas.is_null()).first()
        if clash is None and place is not None:
            clash = on_day.where(Holiday.puskesmas == place).first()
        if clash is not None:
            where = "semua puskesmas" if clash.puskesmas_id is None else clash.puskesmas.name
            errors["date"] = f"Sudah ada hari libur pada {format_date(day)} untuk {where}: {clash.name}."
    if errors:
        raise HolidayError(errors)
    with database.atomic():
        h = Holiday.create(date=day, name=name, kind=kind, puskesmas=place)
        audit.record(g.staff, "holiday", _key(h), "create", None, values_of(h), h.puskesmas_id)
        feed.publish_holiday(h)
    return h


def rename(h: Holiday, form) -> bool:
    """Give a closed day a new name; False when nothing changed. Raises HolidayError."""
    errors: dict[str, str] = {}
    name = _clean_name(form.get("name"), errors)
    if errors:
        raise HolidayError(errors)
    if name == h.name:
        return False
    with database.atomic():
        before = values_of(h)
        Holiday.update(name=name).where(Holiday.id == h.id).execute()
        h = Holiday.get_by_id(h.id)
        audit.record(g.staff, "holiday", _key(h), "update", before, values_of(h), h.puskesmas_id)
        feed.publish_holiday(h)
    return True


def delete(h: Holiday) -> None:
    """The day is open again: the edges are told it is no longer closed."""
    with database.atomic():
        audit.record(g.staff, "holiday", _key(h), "delete", values_of(h), None, h.puskesmas_id)
        feed.publish_holiday(h, closed=False)
        Holiday.delete_by_id(h.id)


def _holiday(holiday_id: int) -> Holiday:
    h = Holiday.get_or_none(Holiday.id == holiday_id)
    if h is None:
        raise http_error(404, "Hari libur tidak ditemukan.")
    if not _kabupaten() and h.puskesmas_id is not None and h.puskesmas_id != g.staff.puskesmas_id:
        raise http_error(403, "Anda hanya boleh membuka data puskesmas Anda sendiri.")
    return h


def _year() -> int:
    raw = (request.args.get("tahun") or "").strip()
    if raw.isdigit() and len(raw) == 4 and 2000 <= int(raw) <= 2100:
        return int(raw)
    return _today().year


def _listing(year: int) -> list[Holiday]:
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    query = Holiday.select().where((Holiday.date >= start) & (Holiday.date <= end))
    if not _kabupaten():
        query = query.where(Holiday.puskesmas.is_null() | (Holiday.puskesmas == g.staff.puskesmas_id))
    return list(query.order_by(Holiday.date, Holiday.id))


def _page(year: int, values: dict, errors: dict, status: int = 200):
    today = _today()
    rows = _listing(year)
    places = list(Puskesmas.select().order_by(Puskesmas.name)) if _kabupaten() else []
    own = None if _kabupaten() else Puskesmas.get_by_id(g.staff.puskesmas_id)
    return render_template(
        "holidays.html",
        year=year,
        years=(year - 1, year + 1),
        rows=rows,
        today=today,
        kinds=KINDS,
        places=places,
        own=own,
        values=values,
        errors=errors,
        editable=_editable,
        format_date=format_date,
        every=EVERY,
    ), status


@bp.route("/", methods=["GET"])
@roles(*ADMINS)
def index():
    values = {"date": "", "name": "", "kind": "libur", "puskesmas": EVERY}
    return _page(_year(), values, {})


@bp.route("/", methods=["POST"])
@roles(*ADMINS)
def create():
    values = {k: (request.form.get(k) or "").strip() for k in ("date", "name", "kind", "puskesmas")}
    try:
        h = add(request.form)
    except HolidayError as e:
        day = parse_date(values["date"])
        return _page(day.year if day else _year(), values, e.fields, 400)
    where = "semua puskesmas" if h.puskesmas_id is None else h.puskesmas.name
    message = f"Hari libur {format_date(h.date)} ({h.name}) untuk {where} disimpan dan dikirim ke node."
    held = _active_bookings(h)
    if held:
        message += f" Ada {held} reservasi aktif pada tanggal itu: hubungi pasiennya untuk pindah jadwal."
    flash(message, "ok")
    return redirect(url_for("holidays.index", tahun=h.date.year))


@bp.route("/<int:holiday_id>", methods=["GET", "POST"])
@roles(*ADMINS)
def edit(holiday_id: int):
    h = _holiday(holiday_id)
    if not _editable(h):
        raise http_error(403, "Hari libur nasional dan cuti bersama hanya diubah oleh admin kabupaten.")
    values, errors, status = {"name": h.name}, {}, 200
    if request.method == "POST":
        values["name"] = request.form.get("name") or ""
        try:
            changed = rename(h, request.form)
        except HolidayError as e:
            errors, status = e.fields, 400
        else:
            flash("Nama hari libur disimpan." if changed else "Tidak ada perubahan.", "ok")
            return redirect(url_for("holidays.index", tahun=h.date.year))
    return render_template(
        "holidays_edit.html", h=h, values=values, errors=errors, kinds=KINDS, format_date=format_date
    ), status


@bp.route("/<int:holiday_id>/hapus", methods=["POST"])
@roles(*ADMINS)
def remove(holiday_id: int):
    h = _holiday(holiday_id)
    if not _editable(h):
        raise http_error(403, "Hari libur nasional dan cuti bersama hanya dihapus oleh admin kabupaten.")
    year, label = h.date.year, f"{format_date(h.date)} ({h.name})"
    delete(h)
    flash(f"Hari libur {label} dihapus: puskesmas buka dan menerima reservasi pada hari itu.", "ok")
    return redirect(url_for("holidays.index", tahun=year))
