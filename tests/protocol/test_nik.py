"""Table tests for NIK checks (16 digits, DDMMYY birth date with +40 for women) and masking."""

from __future__ import annotations

import datetime as dt

import pytest

from protocol import nik
from protocol.nik import NikError

# Region 320101 (Kabupaten Bogor, Cibinong); born 17 May 1990.
BORN = dt.date(1990, 5, 17)
MAN = "3201011705900001"  # day 17
WOMAN = "3201015705900002"  # day 17 + 40 = 57

MSG_FORMAT = "NIK harus 16 digit angka."
MSG_INVALID = "NIK tidak valid."
MSG_BAD_DATE = "Tanggal lahir di dalam NIK tidak valid."
MSG_DATE = "NIK tidak cocok dengan tanggal lahir."
MSG_SEX = "NIK tidak cocok dengan jenis kelamin (tanggal lahir perempuan ditambah 40)."


@pytest.mark.parametrize(
    ("raw", "birth", "sex", "expected"),
    [
        pytest.param(MAN, BORN, "L", MAN, id="man"),
        pytest.param(WOMAN, BORN, "P", WOMAN, id="woman-day-plus-40"),
        pytest.param("3201010101000003", dt.date(2000, 1, 1), "L", "3201010101000003", id="man-born-1-jan-2000"),
        pytest.param("3201014101000004", dt.date(2000, 1, 1), "P", "3201014101000004", id="woman-born-1st-day-41"),
        pytest.param("3201013112990005", dt.date(1999, 12, 31), "L", "3201013112990005", id="man-born-31-dec"),
        pytest.param("3201017112990006", dt.date(1999, 12, 31), "P", "3201017112990006", id="woman-born-31st-day-71"),
        pytest.param("3201012902000007", dt.date(2000, 2, 29), "L", "3201012902000007", id="leap-day"),
        pytest.param("3201 0117 0590 0001", BORN, "L", MAN, id="spaces-removed"),
        pytest.param("3201.0117.0590.0001", BORN, "L", MAN, id="dots-removed"),
        pytest.param("3201-0117-0590-0001", BORN, "L", MAN, id="dashes-removed"),
        pytest.param(" 3201011705900001\n", BORN, "L", MAN, id="surrounding-whitespace-removed"),
        pytest.param("3201011705900001\t", BORN, "L", MAN, id="tab-removed"),
    ],
)
def test_valid_nik_returns_normalised_digits(raw, birth, sex, expected):
    assert nik.check(raw, birth, sex) == expected


@pytest.mark.parametrize(
    ("raw", "birth", "sex", "message"),
    [
        pytest.param(MAN[:15], BORN, "L", MSG_FORMAT, id="15-digits"),
        pytest.param(MAN + "1", BORN, "L", MSG_FORMAT, id="17-digits"),
        pytest.param("", BORN, "L", MSG_FORMAT, id="empty"),
        pytest.param(None, BORN, "L", MSG_FORMAT, id="none"),
        pytest.param("32010117059O0001", BORN, "L", MSG_FORMAT, id="letter-o-for-zero"),
        pytest.param("320101170590000l", BORN, "L", MSG_FORMAT, id="letter-l-for-one"),
        pytest.param("+3201011705900001", BORN, "L", MSG_FORMAT, id="plus-sign"),
        pytest.param("3201011705900001/", BORN, "L", MSG_FORMAT, id="trailing-slash"),
        pytest.param("0000001705900001", BORN, "L", MSG_INVALID, id="region-all-zero"),
        pytest.param("3201011705900000", BORN, "L", MSG_INVALID, id="serial-0000"),
        pytest.param("3201013205900001", BORN, "L", MSG_BAD_DATE, id="day-32"),
        pytest.param("3201010005900001", BORN, "L", MSG_BAD_DATE, id="day-00"),
        pytest.param("3201014005900001", BORN, "L", MSG_BAD_DATE, id="day-40"),
        pytest.param("3201017205900001", BORN, "P", MSG_BAD_DATE, id="woman-day-72"),
        pytest.param("3201011713900001", BORN, "L", MSG_BAD_DATE, id="month-13"),
        pytest.param("3201011700900001", BORN, "L", MSG_BAD_DATE, id="month-00"),
        pytest.param(MAN, dt.date(1990, 5, 18), "L", MSG_DATE, id="day-mismatch"),
        pytest.param(MAN, dt.date(1990, 6, 17), "L", MSG_DATE, id="month-mismatch"),
        pytest.param(MAN, dt.date(1991, 5, 17), "L", MSG_DATE, id="year-mismatch"),
        pytest.param(MAN, BORN, "P", MSG_SEX, id="man-nik-sex-p"),
        pytest.param(WOMAN, BORN, "L", MSG_SEX, id="woman-nik-sex-l"),
    ],
)
def test_invalid_nik_is_refused_with_indonesian_reason(raw, birth, sex, message):
    with pytest.raises(NikError) as exc:
        nik.check(raw, birth, sex)
    assert str(exc.value) == message


def test_nik_error_is_a_value_error():
    # Form code catches ValueError for every field; a NikError must not slip through.
    with pytest.raises(ValueError):
        nik.check("123", BORN, "L")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(MAN.translate({ord("0") + i: 0xFF10 + i for i in range(10)}), id="full-width-digits"),
        pytest.param(MAN.translate({ord("0") + i: 0x0660 + i for i in range(10)}), id="arabic-indic-digits"),
    ],
)
def test_non_ascii_digits_are_refused(raw):
    with pytest.raises(NikError) as exc:
        nik.check(raw, BORN, "L")
    assert str(exc.value) == MSG_FORMAT


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        pytest.param(MAN, "************0001", id="man"),
        pytest.param(WOMAN, "************0002", id="woman"),
        pytest.param("3201 0117 0590 0001", "************0001", id="typed-with-spaces"),
        pytest.param("3201.0117.0590.4321", "************4321", id="typed-with-dots"),
        pytest.param("320101170590000", "****", id="15-digits-shows-nothing"),
        pytest.param("32010117059000012", "****", id="17-digits-shows-nothing"),
        pytest.param("", "****", id="empty"),
        pytest.param(None, "****", id="none"),
    ],
)
def test_mask_shows_only_the_last_four_digits(raw, masked):
    assert nik.mask(raw) == masked


def test_mask_hides_region_and_birth_date():
    masked = nik.mask(WOMAN)
    assert sum(c.isdigit() for c in masked) == 4
    assert "320101" not in masked
    assert "570590" not in masked
