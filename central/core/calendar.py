"""Dates as patients read them: the WIB time zone and Indonesian day and month names.

Pure: no clock, no I/O. Callers pass ``today`` / ``now`` already in Asia/Jakarta.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

WIB = ZoneInfo("Asia/Jakarta")

DAY_NAMES = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
MONTH_NAMES = (
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
)


def format_date(day: dt.date) -> str:
    """``Kamis, 26 November 2026``."""
    return f"{DAY_NAMES[day.weekday()]}, {day.day} {MONTH_NAMES[day.month - 1]} {day.year}"


def format_date_short(day: dt.date) -> str:
    """``26 November 2026``."""
    return f"{day.day} {MONTH_NAMES[day.month - 1]} {day.year}"


def parse_date(text: str | dt.date | None) -> dt.date | None:
    """A date from ``YYYY-MM-DD`` (HTML date input, API) or ``DD-MM-YYYY`` / ``DD/MM/YYYY``.

    Returns None for anything else, including impossible dates such as 31-02-2000.
    """
    if isinstance(text, dt.datetime):
        return text.date()
    if isinstance(text, dt.date):
        return text
    text = (text or "").strip()
    if not text or len(text) > 10:
        return None
    for fmt in ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def end_of_day_ts(day: dt.date) -> int:
    """Unix seconds of the last second of ``day`` in Asia/Jakarta (a QR pass expiry)."""
    midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=WIB)
    return int(midnight.timestamp()) - 1
