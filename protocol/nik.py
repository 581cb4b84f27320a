"""NIK (Nomor Induk Kependudukan) rules.

A NIK has 16 digits: 6 for the region (province, kabupaten/kota, kecamatan), 6 for the date
of birth as DDMMYY where women add 40 to the day, and 4 for a serial number. These checks
catch typing errors; they do not prove the NIK exists (only Dukcapil can).
"""

from __future__ import annotations

import datetime as dt
import re

_NIK_RE = re.compile(r"[0-9]{16}")  # ASCII digits only: "\d" would admit other scripts' digits


class NikError(ValueError):
    """The NIK is invalid; ``str(e)`` is a message in Bahasa Indonesia for the form field."""


def normalise(raw: str) -> str:
    """Strip spaces and dots people type into a NIK."""
    return re.sub(r"[\s.\-]", "", raw or "")


def check(nik: str, birth_date: dt.date, sex: str) -> str:
    """Validate a NIK against the date of birth and sex given; returns the normalised NIK.

    ``sex`` is "L" (laki-laki) or "P" (perempuan). Raises NikError with the reason.
    """
    nik = normalise(nik)
    if not _NIK_RE.fullmatch(nik):
        raise NikError("NIK harus 16 digit angka.")
    if nik[:6] == "000000" or nik[12:] == "0000":
        raise NikError("NIK tidak valid.")
    day, month, year2 = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    female = day > 40
    if female:
        day -= 40
    if not (1 <= day <= 31 and 1 <= month <= 12):
        raise NikError("Tanggal lahir di dalam NIK tidak valid.")
    if (day, month, year2) != (birth_date.day, birth_date.month, birth_date.year % 100):
        raise NikError("NIK tidak cocok dengan tanggal lahir.")
    if sex in ("L", "P") and female != (sex == "P"):
        raise NikError("NIK tidak cocok dengan jenis kelamin (tanggal lahir perempuan ditambah 40).")
    return nik


def mask(nik: str) -> str:
    """A NIK safe to show to its owner on screen: only the last 4 digits."""
    nik = normalise(nik)
    return "************" + nik[-4:] if len(nik) == 16 else "****"
