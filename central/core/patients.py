"""Checks for a patient's registration form. Pure: the caller passes today's WIB date.

Whether a NIK is already registered needs the database; ``central.services`` checks that.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from central.core.calendar import parse_date
from protocol import nik as nikrules

SEXES = {"L": "Laki-laki", "P": "Perempuan"}
MAX_AGE_YEARS = 130
_LETTER_RE = re.compile(r"[^\W\d_]")
# control characters and the bidirectional overrides/isolates that make text display in an order
# other than it is stored (a name that reads differently on the staff screen than in the record)
_HIDDEN_RE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
# and every other invisible character: Unicode's format characters (Cf: soft hyphen, word joiner,
# Arabic letter mark, tag characters, ...), unassigned or private code points, and the Hangul fillers
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")


def _hidden(text: str) -> bool:
    return bool(_HIDDEN_RE.search(text)) or any(
        ch in _FILLERS or unicodedata.category(ch) in ("Cf", "Co", "Cn", "Cs") for ch in text
    )


def normalise_phone(raw: str | None) -> str:
    """An Indonesian phone number in the ``08...`` form, separators and +62/62 removed."""
    number = re.sub(r"[\s.\-()]", "", raw or "")
    if number.startswith("+62"):
        number = "0" + number[3:]
    elif number.startswith("62"):
        number = "0" + number[2:]
    return number


def check_phone(raw: str | None) -> str | None:
    """Error message for a mobile number, or None if it is a valid 08xx number of 10-14 digits."""
    number = normalise_phone(raw)
    if not number:
        return "Nomor HP wajib diisi."
    if not (number.isascii() and number.isdigit()) or not number.startswith("08") or not 10 <= len(number) <= 14:
        return "Nomor HP tidak valid. Contoh: 081234567890."
    return None


def validate_registration(form: dict, today: dt.date) -> tuple[dict, dict[str, str]]:
    """Check a registration; returns (clean values, field errors in Indonesian).

    Fields: name, nik, birth_date, sex, address, phone. The clean values are only complete
    when the errors are empty.
    """
    errors: dict[str, str] = {}
    clean: dict = {}

    name = " ".join(str(form.get("name") or "").split())
    if _hidden(str(form.get("name") or "").replace("\n", " ").replace("\t", " ")):
        errors["name"] = "Nama berisi karakter yang tidak diizinkan."
    elif not name:
        errors["name"] = "Nama lengkap wajib diisi."
    elif len(name) > 120:
        errors["name"] = "Nama terlalu panjang (maksimal 120 huruf)."
    elif not _LETTER_RE.search(name):
        errors["name"] = "Nama harus berisi huruf."
    clean["name"] = name

    raw_birth = str(form.get("birth_date") or "").strip()
    birth = parse_date(raw_birth)
    if not raw_birth:
        errors["birth_date"] = "Tanggal lahir wajib diisi."
    elif birth is None:
        errors["birth_date"] = "Tanggal lahir tidak valid."
    elif birth >= today:
        errors["birth_date"] = "Tanggal lahir harus sebelum hari ini."
    elif today.year - birth.year > MAX_AGE_YEARS:
        errors["birth_date"] = "Tanggal lahir tidak valid."
    clean["birth_date"] = birth

    sex = str(form.get("sex") or "").strip().upper()
    if sex not in SEXES:
        errors["sex"] = "Pilih jenis kelamin."
    clean["sex"] = sex

    raw_nik = nikrules.normalise(str(form.get("nik") or ""))
    if not raw_nik:
        errors["nik"] = "NIK wajib diisi."
    elif "birth_date" in errors:
        if not (len(raw_nik) == 16 and raw_nik.isascii() and raw_nik.isdigit()):
            errors["nik"] = "NIK harus 16 digit angka."
    else:
        try:
            raw_nik = nikrules.check(raw_nik, birth, sex if sex in SEXES else "")
        except nikrules.NikError as e:
            errors["nik"] = str(e)
    clean["nik"] = raw_nik

    address = " ".join(str(form.get("address") or "").split())
    if _hidden(str(form.get("address") or "").replace("\n", " ").replace("\r", " ").replace("\t", " ")):
        errors["address"] = "Alamat berisi karakter yang tidak diizinkan."
    elif not address:
        errors["address"] = "Alamat wajib diisi."
    elif len(address) > 250:
        errors["address"] = "Alamat terlalu panjang (maksimal 250 huruf)."
    clean["address"] = address

    phone_error = check_phone(str(form.get("phone") or ""))
    if phone_error:
        errors["phone"] = phone_error
    clean["phone"] = normalise_phone(str(form.get("phone") or ""))
    return clean, errors
