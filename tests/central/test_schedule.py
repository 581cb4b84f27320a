"""Opening hours and reservation hours as data (central.core.schedule), and the reservation rules
that follow a poli's hours and the closed days: pure functions, table tests."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from central.core import reservations, schedule

THU = dt.date(2026, 12, 3)
FRI = dt.date(2026, 12, 4)
SAT = dt.date(2026, 12, 5)
SUN = dt.date(2026, 12, 6)
MON = dt.date(2026, 12, 7)
TUE = dt.date(2026, 12, 8)

WITH_BREAK = {"1": [["07:30", "12:00"], ["12:30", "14:00"]], "5": [["07:30", "11:00"]]}


def week(**days) -> dict:
    """A week from d1=[...], ..., d7=[...]; days left out are closed."""
    return {str(d): [list(s) for s in days.get(f"d{d}", [])] for d in range(1, 8)}


# ---- parse / dump ---------------------------------------------------------------------------


def test_empty_text_means_the_defaults_which_match_the_former_fixed_hours():
    hours = schedule.parse("")
    assert hours == schedule.DEFAULT_HOURS and hours is not schedule.DEFAULT_HOURS
    assert hours["1"] == [["07:30", "14:00"]] and hours["5"] == [["07:30", "11:00"]]
    assert hours["6"] == [["07:30", "12:30"]] and hours["7"] == []
    poli = schedule.parse_poli("")
    assert poli == schedule.DEFAULT_POLI_HOURS
    assert schedule.slots(poli, 1) == ("08:00-09:00", "09:00-10:00", "10:00-11:00", "11:00-12:00")
    assert schedule.slots(poli, 5) == ("08:00-09:00", "09:00-10:00", "10:00-11:00")
    assert schedule.slots(poli, 7) == ()
    assert schedule.slots(poli, 1) == reservations.SLOTS and schedule.slots(poli, 5) == reservations.FRIDAY_SLOTS


def test_parse_fills_every_weekday_and_sorts_and_dump_round_trips():
    hours = schedule.parse(json.dumps({"1": [["12:30", "14:00"], ["07:30", "12:00"]]}))
    assert hours["1"] == [["07:30", "12:00"], ["12:30", "14:00"]]
    assert all(hours[str(d)] == [] for d in range(2, 8))
    text = schedule.dump(hours)
    assert schedule.parse(text) == hours
    assert list(json.loads(text)) == [str(d) for d in range(1, 8)]
    assert schedule.dump(schedule.parse(schedule.dump(WITH_BREAK))) == schedule.dump(WITH_BREAK)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("{", id="not-json"),
        pytest.param("[]", id="not-a-week"),
        pytest.param('{"8": []}', id="weekday-8"),
        pytest.param('{"Senin": []}', id="weekday-name"),
        pytest.param('{"1": "07:30-14:00"}', id="day-not-a-list"),
        pytest.param('{"1": [["07:30"]]}', id="half-interval"),
        pytest.param('{"1": [[730, 1400]]}', id="numbers"),
    ],
)
def test_parse_refuses_text_that_is_not_a_week(text):
    with pytest.raises(ValueError):
        schedule.parse(text)


def test_safe_falls_back_to_the_default_for_a_stored_value_it_cannot_use():
    assert schedule.safe("{", schedule.DEFAULT_POLI_HOURS) == schedule.DEFAULT_POLI_HOURS
    assert schedule.safe('{"1": [["09:00", "08:00"]]}', schedule.DEFAULT_POLI_HOURS) == schedule.DEFAULT_POLI_HOURS
    good = schedule.dump(week(d2=[("13:00", "15:00")]))
    assert schedule.safe(good, schedule.DEFAULT_POLI_HOURS)["2"] == [["13:00", "15:00"]]


# ---- validate -------------------------------------------------------------------------------


def test_valid_weeks_have_no_errors():
    assert schedule.validate(schedule.DEFAULT_HOURS) == {}
    assert schedule.validate(schedule.DEFAULT_POLI_HOURS) == {}
    assert schedule.validate(WITH_BREAK) == {}
    assert schedule.validate(week(d7=[("05:00", "22:00")])) == {}  # the outer limits themselves
    assert schedule.validate(week(d1=[("08:00", "10:00"), ("10:00", "12:00")])) == {}  # touching is no overlap


@pytest.mark.parametrize(
    ("hours", "day", "text"),
    [
        pytest.param(week(d1=[("7:30", "14:00")]), "1", "Senin: jam 7:30 tidak sah. Tulis JJ:MM", id="no-leading-0"),
        pytest.param(week(d2=[("07.30", "14:00")]), "2", "Selasa: jam 07.30 tidak sah", id="dot"),
        pytest.param(week(d3=[("24:00", "25:00")]), "3", "Rabu: jam 24:00 tidak sah", id="hour-24"),
        pytest.param(week(d4=[("07:60", "14:00")]), "4", "Kamis: jam 07:60 tidak sah", id="minute-60"),
        pytest.param(
            week(d5=[("11:00", "07:30")]), "5", "Jumat: jam buka 11:00 harus sebelum jam tutup 07:30", id="rev"
        ),
        pytest.param(week(d6=[("08:00", "08:00")]), "6", "Sabtu: jam buka 08:00 harus sebelum", id="empty"),
        pytest.param(
            week(d7=[("04:30", "12:00")]), "7", "Minggu: jam 04:30–12:00 harus di antara 05:00 dan 22:00", id="early"
        ),
        pytest.param(week(d1=[("20:00", "22:30")]), "1", "harus di antara 05:00 dan 22:00", id="late"),
        pytest.param(
            week(d1=[("07:30", "12:00"), ("11:30", "14:00")]),
            "1",
            "Senin: jam 07:30–12:00 dan 11:30–14:00 bertumpuk.",
            id="overlap",
        ),
        pytest.param(week(d2=[("07:30",)]), "2", "Selasa: setiap jam harus pasangan buka dan tutup.", id="half"),
        pytest.param({**week(), "9": []}, "hours", "Hari '9' tidak dikenal", id="weekday-9"),
    ],
)
def test_validate_names_the_day_and_the_problem_in_indonesian(hours, day, text):
    errors = schedule.validate(hours)
    assert text in errors[day]
    assert len(errors) == 1


# ---- slots / outside ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spans", "slots"),
    [
        pytest.param([("08:00", "12:00")], ("08:00-09:00", "09:00-10:00", "10:00-11:00", "11:00-12:00"), id="hours"),
        pytest.param(
            [("08:00", "11:30")], ("08:00-09:00", "09:00-10:00", "10:00-11:00", "11:00-11:30"), id="short-last"
        ),
        pytest.param([("07:30", "09:30")], ("07:30-08:30", "08:30-09:30"), id="half-past"),
        pytest.param(
            [("13:00", "14:00"), ("08:00", "10:00")], ("08:00-09:00", "09:00-10:00", "13:00-14:00"), id="two-intervals"
        ),
        pytest.param([], (), id="closed"),
    ],
)
def test_slots_cut_each_interval_into_hours(spans, slots):
    assert schedule.slots(week(d2=spans), 2) == slots
    assert schedule.slots(week(d2=spans), "2") == slots
    assert schedule.slots(week(d2=spans), 3) == ()


def test_all_slots_is_every_slot_of_the_week_once():
    hours = week(d1=[("08:00", "10:00")], d2=[("09:00", "11:00")])
    assert schedule.all_slots(hours) == ("08:00-09:00", "09:00-10:00", "10:00-11:00")


@pytest.mark.parametrize(
    ("poli", "puskesmas", "bad"),
    [
        pytest.param(schedule.DEFAULT_POLI_HOURS, schedule.DEFAULT_HOURS, [], id="defaults-fit"),
        pytest.param(
            week(d5=[("08:00", "12:00")]), schedule.DEFAULT_HOURS, ["Jumat 11:00-12:00"], id="after-friday-close"
        ),
        pytest.param(week(d7=[("08:00", "09:00")]), schedule.DEFAULT_HOURS, ["Minggu 08:00-09:00"], id="closed-day"),
        pytest.param(week(d1=[("11:00", "14:00")]), WITH_BREAK, ["Senin 12:00-13:00"], id="across-break"),
        pytest.param(week(d1=[("07:30", "08:30")]), WITH_BREAK, [], id="from-opening"),
        pytest.param(week(d1=[("07:00", "08:00")]), WITH_BREAK, ["Senin 07:00-08:00"], id="before-opening"),
    ],
)
def test_outside_lists_the_poli_slots_the_puskesmas_is_not_open_for(poli, puskesmas, bad):
    assert schedule.outside(poli, puskesmas) == bad


# ---- describe -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "text"),
    [
        pytest.param(
            schedule.DEFAULT_HOURS,
            "Senin–Kamis 07.30–14.00, Jumat 07.30–11.00, Sabtu 07.30–12.30, Minggu tutup",
            id="defaults",
        ),
        pytest.param(
            {
                **{str(d): [["07:30", "12:00"], ["12:30", "14:00"]] for d in range(1, 5)},
                "5": [["07:30", "11:00"]],
                "6": [["07:30", "12:30"]],
                "7": [],
            },
            "Senin–Kamis 07.30–14.00 (istirahat 12.00–12.30), Jumat 07.30–11.00, Sabtu 07.30–12.30, Minggu tutup",
            id="with-break",
        ),
        pytest.param(
            week(d1=[("08:00", "12:00")], d3=[("08:00", "12:00")]),
            "Senin 08.00–12.00, Selasa tutup, Rabu 08.00–12.00, Kamis–Minggu tutup",
            id="not-consecutive",
        ),
        pytest.param(
            week(d1=[("07:00", "09:00"), ("10:00", "11:00"), ("13:00", "15:00")]),
            "Senin 07.00–15.00 (istirahat 09.00–10.00, 11.00–13.00), Selasa–Minggu tutup",
            id="two-breaks",
        ),
        pytest.param(week(), "Tutup setiap hari", id="never-open"),
    ],
)
def test_describe_reads_as_people_write_opening_hours(hours, text):
    assert schedule.describe(hours) == text


def test_describe_of_the_defaults_fits_the_puskesmas_hours_column():
    assert len(schedule.describe(schedule.DEFAULT_HOURS)) <= 120


# ---- reservation rules with a poli's hours and closed days -----------------------------------

AFTERNOON = week(d2=[("13:00", "15:00")], d7=[("08:00", "10:00")])  # Selasa afternoon and Minggu morning only
CLOSED = {FRI: "Hari Contoh"}


def _check(**kw):
    args = {
        "today": THU,
        "now": dt.time(7, 0),
        "days": 7,
        "date": TUE.isoformat(),
        "slot": "13:00-14:00",
        "payer": "UMUM",
        "bpjs_no": "",
        "hours": AFTERNOON,
        "closed": CLOSED,
    }
    args.update(kw)
    return reservations.validate_request(**args)


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        pytest.param(
            {"date": FRI.isoformat(), "hours": None},
            "date",
            "Puskesmas tutup pada Jumat, 4 Desember 2026: Hari Contoh.",
            id="holiday",
        ),
        pytest.param(
            {"date": MON.isoformat()}, "date", "Poli ini tidak melayani reservasi pada hari Senin", id="poli-off"
        ),
        pytest.param({"slot": "10:00-11:00"}, "slot", "Jam kunjungan tidak valid.", id="slot-not-of-this-poli"),
        pytest.param(
            {"date": SUN.isoformat()}, "slot", "Jam 13:00-14:00 tidak tersedia pada hari Minggu", id="other-day"
        ),
    ],
)
def test_a_request_follows_the_poli_hours_and_the_closed_days(change, field, text):
    assert text in _check(**change)[field]


def test_a_poli_with_its_own_hours_is_bookable_in_them_even_on_sunday():
    assert _check() == {}
    assert _check(date=SUN.isoformat(), slot="09:00-10:00") == {}
    assert _check(date=TUE.isoformat(), slot="14:00-15:00") == {}


def test_available_dates_leave_out_closed_days_and_days_no_poli_serves():
    assert reservations.available_dates(THU, 4, closed=CLOSED) == [THU, SAT, MON]
    assert reservations.available_dates(THU, 5, hours=[AFTERNOON]) == [SUN, TUE]
    both = reservations.available_dates(THU, 5, hours=[AFTERNOON, schedule.DEFAULT_POLI_HOURS], closed=CLOSED)
    assert both == [THU, SAT, SUN, MON, TUE]
    assert reservations.available_dates(TUE, 0, now=dt.time(14, 59), hours=AFTERNOON) == [TUE]
    assert reservations.available_dates(TUE, 0, now=dt.time(15, 0), hours=AFTERNOON) == []


def test_open_slots_today_drop_the_slots_already_over():
    assert reservations.open_slots(TUE, TUE, dt.time(13, 30), AFTERNOON) == ("13:00-14:00", "14:00-15:00")
    assert reservations.open_slots(TUE, TUE, dt.time(14, 0), AFTERNOON) == ("14:00-15:00",)
