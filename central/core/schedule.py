"""Opening hours and reservation hours as data: one week of open intervals per ISO weekday.

The stored shape (``Puskesmas.schedule``, ``Poli.schedule``) is JSON text such as
``{"1": [["07:30", "12:00"], ["12:30", "14:00"]], ..., "7": []}``: ISO weekday (1 = Senin,
7 = Minggu) to the intervals it is open, earliest first; the gaps between them are breaks and an
empty list is a closed day. ``""`` means the defaults below.

Pure: no I/O, no database. ``central.admin`` validates the back office's forms with these
functions and ``central.core.reservations`` turns a poli's hours into bookable slots.
"""

from __future__ import annotations

import copy
import json
import re

WEEKDAYS = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
EARLIEST = "05:00"  # no interval may open before this ...
LATEST = "22:00"  # ... or close after this

Hours = dict[str, list[list[str]]]

# a puskesmas: Senin-Kamis 07.30-14.00, Jumat short for Friday prayers, Sabtu until 12.30, Minggu closed
DEFAULT_HOURS: Hours = {
    "1": [["07:30", "14:00"]],
    "2": [["07:30", "14:00"]],
    "3": [["07:30", "14:00"]],
    "4": [["07:30", "14:00"]],
    "5": [["07:30", "11:00"]],
    "6": [["07:30", "12:30"]],
    "7": [],
}
# a poli's reservation hours: the hour slots 08.00-12.00, Jumat until 11.00, no Minggu
DEFAULT_POLI_HOURS: Hours = {
    "1": [["08:00", "12:00"]],
    "2": [["08:00", "12:00"]],
    "3": [["08:00", "12:00"]],
    "4": [["08:00", "12:00"]],
    "5": [["08:00", "11:00"]],
    "6": [["08:00", "12:00"]],
    "7": [],
}

_TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_DAYS = tuple(str(d) for d in range(1, 8))


def _minutes(hhmm: str) -> int:
    return int(hhmm[:2]) * 60 + int(hhmm[3:])


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse(text: str | None, default: Hours | None = None) -> Hours:
    """The week stored in ``text``; ``""`` gives (a copy of) ``default`` or ``DEFAULT_HOURS``.

    Every weekday "1".."7" is present in the answer (a day the text leaves out is closed) and
    each day's intervals are sorted. Raises ValueError for text that is not such a week (use
    ``validate`` to check the times themselves).
    """
    if text is None or not text.strip():
        return copy.deepcopy(DEFAULT_HOURS if default is None else default)
    try:
        raw = json.loads(text)
    except ValueError:
        raise ValueError("Jadwal bukan JSON yang sah.") from None
    if not isinstance(raw, dict):
        raise ValueError("Jadwal harus berupa daftar per hari.")
    hours: Hours = {day: [] for day in _DAYS}
    for key, spans in raw.items():
        if key not in hours:
            raise ValueError(f"Hari {key!r} tidak dikenal: pakai 1 (Senin) sampai 7 (Minggu).")
        if not isinstance(spans, list):
            raise ValueError(f"Jam hari {key} harus berupa daftar.")
        day = []
        for span in spans:
            if not (isinstance(span, list | tuple) and len(span) == 2 and all(isinstance(t, str) for t in span)):
                raise ValueError(f"Jam hari {key} harus pasangan [buka, tutup].")
            day.append([span[0], span[1]])
        hours[key] = sorted(day)
    return hours


def parse_poli(text: str | None) -> Hours:
    """A poli's reservation hours; ``""`` gives ``DEFAULT_POLI_HOURS``."""
    return parse(text, DEFAULT_POLI_HOURS)


def safe(text: str | None, default: Hours | None = None) -> Hours:
    """Like ``parse``, but stored text that cannot be read (or whose times are invalid) falls
    back to the default, so a bad row never stops bookings."""
    try:
        hours = parse(text, default)
    except ValueError:
        return copy.deepcopy(DEFAULT_HOURS if default is None else default)
    if validate(hours):
        return copy.deepcopy(DEFAULT_HOURS if default is None else default)
    return hours


def dump(hours: Hours) -> str:
    """The JSON text to store for ``hours`` (every weekday, sorted intervals, stable order)."""
    week = {day: sorted([list(span) for span in hours.get(day, [])]) for day in _DAYS}
    return json.dumps(week, separators=(",", ":"))


def validate(hours: Hours) -> dict[str, str]:
    """Field errors in Indonesian, keyed by ISO weekday ("1".."7", or "hours" for the week
    itself); empty when every interval is HH:MM, opens before it closes, lies within
    05:00-22:00 and overlaps no other interval of its day."""
    errors: dict[str, str] = {}
    if not isinstance(hours, dict):
        return {"hours": "Jadwal harus berupa daftar per hari."}
    unknown = [k for k in hours if k not in _DAYS]
    if unknown:
        errors["hours"] = f"Hari {unknown[0]!r} tidak dikenal: pakai 1 (Senin) sampai 7 (Minggu)."
    for day in _DAYS:
        name = WEEKDAYS[int(day) - 1]
        spans = hours.get(day) or []
        message = None
        checked: list[tuple[int, int]] = []
        for span in spans:
            if not (isinstance(span, list | tuple) and len(span) == 2):
                message = f"{name}: setiap jam harus pasangan buka dan tutup."
                break
            start, end = span
            bad = next((t for t in (start, end) if not (isinstance(t, str) and _TIME_RE.match(t))), None)
            if bad is not None:
                message = f"{name}: jam {str(bad)[:10]!s} tidak sah. Tulis JJ:MM, contoh 07:30."
                break
            if _minutes(start) >= _minutes(end):
                message = f"{name}: jam buka {start} harus sebelum jam tutup {end}."
                break
            if _minutes(start) < _minutes(EARLIEST) or _minutes(end) > _minutes(LATEST):
                message = f"{name}: jam {start}–{end} harus di antara {EARLIEST} dan {LATEST}."
                break
            checked.append((_minutes(start), _minutes(end)))
        if message is None:
            checked.sort()
            for (s1, e1), (s2, e2) in zip(checked, checked[1:], strict=False):
                if s2 < e1:
                    message = f"{name}: jam {_hhmm(s1)}–{_hhmm(e1)} dan {_hhmm(s2)}–{_hhmm(e2)} bertumpuk."
                    break
        if message:
            errors[day] = message
    return errors


def slots(poli_hours: Hours, weekday: int | str) -> tuple[str, ...]:
    """The reservation slots "08:00-09:00" of ISO ``weekday`` (1 = Senin .. 7 = Minggu).

    Each interval is cut into hours from its start; a remainder shorter than an hour is a last,
    shorter slot (08:00-11:30 gives 08-09, 09-10, 10-11 and 11:00-11:30).
    """
    out = []
    for start, end in sorted(poli_hours.get(str(weekday)) or []):
        a, b = _minutes(start), _minutes(end)
        while a < b:
            nxt = min(a + 60, b)
            out.append(f"{_hhmm(a)}-{_hhmm(nxt)}")
            a = nxt
    return tuple(out)


def all_slots(poli_hours: Hours) -> tuple[str, ...]:
    """Every slot the poli has on any weekday, earliest first (for a form's slot list)."""
    return tuple(sorted({s for day in _DAYS for s in slots(poli_hours, day)}))


def outside(poli_hours: Hours, puskesmas_hours: Hours) -> list[str]:
    """The poli's slots that do not lie within one of the puskesmas's open intervals of that
    day (a slot across a break is outside), as "Jumat 11:00-12:00"."""
    bad = []
    for day in _DAYS:
        spans = [(_minutes(a), _minutes(b)) for a, b in puskesmas_hours.get(day) or []]
        for slot in slots(poli_hours, day):
            a, b = _minutes(slot[:5]), _minutes(slot[6:])
            if not any(s <= a and b <= e for s, e in spans):
                bad.append(f"{WEEKDAYS[int(day) - 1]} {slot}")
    return bad


def _dots(hhmm: str) -> str:
    return hhmm.replace(":", ".")


def _day_text(spans: list[list[str]]) -> str:
    if not spans:
        return "tutup"
    spans = sorted(spans)
    text = f"{_dots(spans[0][0])}–{_dots(spans[-1][1])}"
    breaks = [f"{_dots(a[1])}–{_dots(b[0])}" for a, b in zip(spans, spans[1:], strict=False)]
    if breaks:
        text += f" (istirahat {', '.join(breaks)})"
    return text


def describe(hours: Hours) -> str:
    """The week as people read it: consecutive days with the same hours together, e.g.
    "Senin–Kamis 07.30–14.00 (istirahat 12.00–12.30), Jumat 07.30–11.00, Sabtu 07.30–12.30,
    Minggu tutup"."""
    texts = [_day_text(hours.get(day) or []) for day in _DAYS]
    if all(t == "tutup" for t in texts):
        return "Tutup setiap hari"
    parts = []
    i = 0
    while i < 7:
        j = i
        while j + 1 < 7 and texts[j + 1] == texts[i]:
            j += 1
        days = WEEKDAYS[i] if i == j else f"{WEEKDAYS[i]}–{WEEKDAYS[j]}"
        parts.append(f"{days} {texts[i]}")
        i = j + 1
    return ", ".join(parts)
