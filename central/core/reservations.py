"""Reservation rules: opening days, hour slots, the booking window and request checks.

Pure: the caller passes ``today`` and ``now`` (a time of day) in Asia/Jakarta, and from the
database a poli's reservation hours (``central.core.schedule``; None: the default slots) and the
closed days (date -> holiday name). The quota is not checked here; it needs a count from the
database (see ``central.services``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence

from central.core import schedule
from central.core.calendar import DAY_NAMES, format_date, parse_date

# the default slots (a poli without its own schedule): 08:00-12:00, Friday to 11:00, no Sunday
SLOTS = schedule.slots(schedule.DEFAULT_POLI_HOURS, 1)
FRIDAY_SLOTS = schedule.slots(schedule.DEFAULT_POLI_HOURS, 5)  # Friday prayers: service ends at 11:00
PAYERS = {"UMUM": "Umum", "BPJS": "BPJS Kesehatan"}
ACTIVE = "active"
CANCELLED = "cancelled"
CHECKED_IN = "checked_in"
DONE = "done"
# Statuses that still occupy a place in a slot's quota.
HOLDING = (ACTIVE, CHECKED_IN, DONE)

_BPJS_RE = re.compile(r"^(\d{13}|\d{16})$")  # card number, or NIK
_STATUS_LABELS = {
    ACTIVE: "Aktif",
    CANCELLED: "Dibatalkan",
    CHECKED_IN: "Sudah check-in",
    DONE: "Selesai",
}


def slots_for(day: dt.date, hours: schedule.Hours | None = None) -> tuple[str, ...]:
    """The hour slots a poli with reservation ``hours`` (None: the default) serves on ``day``."""
    return schedule.slots(schedule.DEFAULT_POLI_HOURS if hours is None else hours, day.isoweekday())


def closed_message(day: dt.date, name: str) -> str:
    """What a patient reads for a closed day (a holiday)."""
    return f"Puskesmas tutup pada {format_date(day)}: {name}."


def slot_end(slot: str) -> dt.time:
    """End time of a slot such as ``08:00-09:00``; raises ValueError for a malformed slot."""
    return dt.time.fromisoformat(slot.split("-")[1])


def open_slots(day: dt.date, today: dt.date, now: dt.time, hours: schedule.Hours | None = None) -> tuple[str, ...]:
    """Slots still bookable on ``day``: for today, only slots that have not ended yet."""
    slots = slots_for(day, hours)
    if day == today:
        slots = tuple(s for s in slots if slot_end(s) > now)
    return slots


def available_dates(
    today: dt.date,
    days: int,
    now: dt.time | None = None,
    hours: Sequence[schedule.Hours] | schedule.Hours | None = None,
    closed: Mapping[dt.date, str] | None = None,
) -> list[dt.date]:
    """Open dates from today up to ``days`` days ahead (inclusive), oldest first.

    ``hours``: one poli's reservation hours, or several (a date some poli serves is open);
    None: the default slots. Dates in ``closed`` (holidays) are left out. With ``now`` given,
    today is left out once its last slot has ended.
    """
    if hours is None:
        weeks: list = [None]
    elif isinstance(hours, dict):
        weeks = [hours]
    else:
        weeks = list(hours)
    closed = closed or {}
    dates = []
    for offset in range(days + 1):
        day = today + dt.timedelta(days=offset)
        if day in closed:
            continue
        if not any(slots_for(day, week) for week in weeks):
            continue
        if offset == 0 and now is not None and not any(open_slots(day, today, now, week) for week in weeks):
            continue
        dates.append(day)
    return dates


def normalise_bpjs(raw: str | None) -> str:
    """A BPJS card number without the spaces and dots people type into it."""
    return re.sub(r"[\s.\-]", "", raw or "")


def validate_request(
    *,
    today: dt.date,
    now: dt.time,
    days: int,
    date: str | dt.date | None,
    slot: str | None,
    payer: str | None,
    bpjs_no: str | None,
    hours: schedule.Hours | None = None,
    closed: Mapping[dt.date, str] | None = None,
) -> dict[str, str]:
    """Field errors (field -> Indonesian message) for a reservation request; empty if valid.

    Fields: ``date``, ``slot``, ``payer``, ``bpjs_no``. ``hours`` are the poli's reservation
    hours (None: the default slots), ``closed`` the puskesmas's closed days (date -> name).
    Puskesmas, poli and quota need the database and are checked by the caller.
    """
    errors: dict[str, str] = {}
    closed = closed or {}
    day = parse_date(date)
    if day is None:
        errors["date"] = "Pilih tanggal kunjungan."
    elif day < today or day > today + dt.timedelta(days=days):
        errors["date"] = f"Tanggal harus antara hari ini dan {days} hari ke depan."
    elif day in closed:
        errors["date"] = closed_message(day, closed[day])
    elif not slots_for(day, hours):
        name = DAY_NAMES[day.weekday()]
        if slots_for(day):  # a day puskesmas are open, but not this poli
            errors["date"] = f"Poli ini tidak melayani reservasi pada hari {name}. Pilih tanggal lain."
        else:
            errors["date"] = f"Puskesmas tutup pada hari {name}. Pilih tanggal lain."

    slot = (slot or "").strip()
    week = schedule.DEFAULT_POLI_HOURS if hours is None else hours
    if not slot:
        errors["slot"] = "Pilih jam kunjungan."
    elif slot not in schedule.all_slots(week):
        errors["slot"] = "Jam kunjungan tidak valid."
    elif day is not None and "date" not in errors:
        if slot not in slots_for(day, hours):
            errors["slot"] = f"Jam {slot} tidak tersedia pada hari {DAY_NAMES[day.weekday()]}."
        elif slot not in open_slots(day, today, now, hours):
            errors["slot"] = "Jam ini sudah lewat. Pilih jam yang lain."

    payer = (payer or "").strip().upper()
    if payer not in PAYERS:
        errors["payer"] = "Pilih cara bayar: Umum atau BPJS."
    elif payer == "BPJS":
        number = normalise_bpjs(bpjs_no)
        if not number:
            errors["bpjs_no"] = "Nomor peserta BPJS wajib diisi untuk cara bayar BPJS."
        elif not _BPJS_RE.match(number):
            errors["bpjs_no"] = "Nomor kartu BPJS harus 13 digit angka (atau NIK 16 digit)."
    return errors


def status_label(status: str, day: dt.date, today: dt.date) -> str:
    """How a reservation's status reads to its patient; an unused past booking is "Terlewat"."""
    if status == ACTIVE and day < today:
        return "Terlewat"
    return _STATUS_LABELS.get(status, status)


def can_cancel(status: str, day: dt.date, today: dt.date) -> bool:
    """Only an active reservation for today or later can be cancelled."""
    return status == ACTIVE and day >= today
