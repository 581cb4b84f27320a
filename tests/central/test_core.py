"""Table tests for central's pure rules: slots, booking window, request and registration checks."""

from __future__ import annotations

import ast
import datetime as dt
import sys
from pathlib import Path

import pytest

from central.core import calendar, patients, reservations

CORE = Path(__file__).resolve().parents[2] / "central" / "core"

THU = dt.date(2026, 11, 26)
FRI = dt.date(2026, 11, 27)
SAT = dt.date(2026, 11, 28)
SUN = dt.date(2026, 11, 29)


def test_core_imports_only_stdlib_and_protocol():
    for path in CORE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                ok = top in sys.stdlib_module_names or top == "protocol" or name.startswith("central.core")
                assert ok, f"{path.name} imports {name}"


@pytest.mark.parametrize(
    ("day", "slots"),
    [
        pytest.param(THU, reservations.SLOTS, id="thursday-all"),
        pytest.param(FRI, ("08:00-09:00", "09:00-10:00", "10:00-11:00"), id="friday-until-11"),
        pytest.param(SAT, reservations.SLOTS, id="saturday-all"),
        pytest.param(SUN, (), id="sunday-closed"),
    ],
)
def test_slots_for(day, slots):
    assert reservations.slots_for(day) == slots


def test_available_dates_skip_sunday_and_respect_window():
    dates = reservations.available_dates(THU, 7)
    assert dates[0] == THU
    assert SUN not in dates
    assert dates[-1] == THU + dt.timedelta(days=7)
    assert len(dates) == 7  # 8 days, one Sunday


def test_available_dates_drop_today_after_last_slot():
    assert reservations.available_dates(FRI, 2, now=dt.time(11, 0))[0] == SAT
    assert reservations.available_dates(FRI, 2, now=dt.time(10, 59))[0] == FRI


def _check(**kw):
    args = {
        "today": THU,
        "now": dt.time(7, 0),
        "days": 7,
        "date": FRI.isoformat(),
        "slot": "08:00-09:00",
        "payer": "UMUM",
        "bpjs_no": "",
    }
    args.update(kw)
    return reservations.validate_request(**args)


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        pytest.param({"date": ""}, "date", "Pilih tanggal", id="date-missing"),
        pytest.param({"date": "2026-02-30"}, "date", "Pilih tanggal", id="date-impossible"),
        pytest.param({"date": "2026-11-25"}, "date", "antara hari ini", id="date-yesterday"),
        pytest.param({"date": "2026-12-04"}, "date", "antara hari ini", id="date-beyond-window"),
        pytest.param({"date": SUN.isoformat()}, "date", "tutup pada hari Minggu", id="date-sunday"),
        pytest.param({"slot": ""}, "slot", "Pilih jam", id="slot-missing"),
        pytest.param({"slot": "12:00-13:00"}, "slot", "tidak valid", id="slot-unknown"),
        pytest.param({"slot": "11:00-12:00"}, "slot", "tidak tersedia pada hari Jumat", id="slot-friday-11"),
        pytest.param({"date": THU.isoformat(), "now": dt.time(9, 0)}, "slot", "sudah lewat", id="slot-past-today"),
        pytest.param({"payer": "ASURANSI"}, "payer", "Umum atau BPJS", id="payer-unknown"),
        pytest.param({"payer": "BPJS"}, "bpjs_no", "wajib diisi", id="bpjs-missing"),
        pytest.param({"payer": "BPJS", "bpjs_no": "12345"}, "bpjs_no", "13 digit", id="bpjs-short"),
    ],
)
def test_validate_request_errors(change, field, text):
    errors = _check(**change)
    assert text in errors[field]


def test_validate_request_accepts_valid():
    assert _check() == {}
    assert _check(payer="BPJS", bpjs_no="0001 2345 67890") == {}
    assert _check(date=THU.isoformat(), now=dt.time(8, 30)) == {}  # the 08-09 slot is still running


def test_end_of_day_is_last_second_in_jakarta():
    ts = calendar.end_of_day_ts(THU)
    end = dt.datetime.fromtimestamp(ts, calendar.WIB)
    assert (end.date(), end.time()) == (THU, dt.time(23, 59, 59))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1990-08-17", dt.date(1990, 8, 17)),
        ("17-08-1990", dt.date(1990, 8, 17)),
        ("17/08/1990", dt.date(1990, 8, 17)),
        ("1990-02-30", None),
        ("kemarin", None),
        ("", None),
    ],
)
def test_parse_date(text, expected):
    assert calendar.parse_date(text) == expected


def test_format_date_indonesian():
    assert calendar.format_date(THU) == "Kamis, 26 November 2026"


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        pytest.param("081234567890", None, id="08"),
        pytest.param("+62 812-3456-7890", None, id="plus62"),
        pytest.param("6281234567890", None, id="62"),
        pytest.param("0812345", "tidak valid", id="too-short"),
        pytest.param("0212345678", "tidak valid", id="landline"),
        pytest.param("08123456789012345", "tidak valid", id="too-long"),
        pytest.param("", "wajib", id="empty"),
    ],
)
def test_phone(raw, error):
    result = patients.check_phone(raw)
    assert (result is None) if error is None else (error in result)


def test_registration_cleans_values():
    clean, errors = patients.validate_registration(
        {
            "name": "  Ani   Lestari ",
            "nik": "3201 0157 0890 0002",
            "birth_date": "1990-08-17",
            "sex": "p",
            "address": "Cibinong",
            "phone": "+6281234567890",
        },
        THU,
    )
    assert errors == {}
    assert clean == {
        "name": "Ani Lestari",
        "nik": "3201015708900002",
        "birth_date": dt.date(1990, 8, 17),
        "sex": "P",
        "address": "Cibinong",
        "phone": "081234567890",
    }


def test_registration_future_birth_date():
    _clean, errors = patients.validate_registration({"birth_date": "2030-01-01", "nik": "123"}, THU)
    assert "sebelum hari ini" in errors["birth_date"]
    assert errors["nik"] == "NIK harus 16 digit angka."
    assert set(errors) == {"name", "nik", "birth_date", "sex", "address", "phone"}


def test_status_label():
    assert reservations.status_label("active", THU, THU) == "Aktif"
    assert reservations.status_label("active", THU, FRI) == "Terlewat"
    assert reservations.status_label("cancelled", THU, THU) == "Dibatalkan"
