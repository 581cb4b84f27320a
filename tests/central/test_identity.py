"""Who is who, at the service level (SQLite and PostgreSQL): registration with a PIN that never tells
whether a NIK had an account, login throttles the owner is not locked out by, revocable sessions and
tokens, "Lupa PIN" by one-time code and at the loket, accounts from release 0.1.0, booking limits."""

from __future__ import annotations

import datetime as dt

import pytest

from central import identity, limits, services, staff
from central.models import ApiToken, Patient, PinReset, Poli, Reservation, ThrottleBucket, WebSession, utcnow
from infra.notify import FakeNotifier

HOME = identity.Client("198.51.100.7")
STRANGER = identity.Client("203.0.113.66")


def now():
    return services.now_wib()


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        pytest.param({"nik": "320101570890000"}, "nik", "NIK harus 16 digit angka.", id="nik-15-digits"),
        pytest.param({"nik": "3201015709900002"}, "nik", "NIK tidak cocok dengan tanggal lahir.", id="nik-other-date"),
        pytest.param({"sex": "L"}, "nik", "jenis kelamin", id="female-nik-as-male"),
        pytest.param({"birth_date": "2999-01-01"}, "birth_date", "sebelum hari ini", id="birth-future"),
        pytest.param({"name": " "}, "name", "wajib diisi", id="name-empty"),
        pytest.param({"name": "Ani\u202eitseL"}, "name", "tidak diizinkan", id="name-bidi-override"),
        pytest.param({"name": "Ani\x07"}, "name", "tidak diizinkan", id="name-control-char"),
        pytest.param({"address": ""}, "address", "wajib diisi", id="address-empty"),
        pytest.param({"phone": "12345"}, "phone", "tidak valid", id="phone-bad"),
        pytest.param({"pin": "12345"}, "pin", "6 digit", id="pin-short"),
        pytest.param({"pin": "abcdef"}, "pin", "6 digit", id="pin-letters"),
        pytest.param({"pin": "123456"}, "pin", "mudah ditebak", id="pin-run"),
        pytest.param({"pin": "999999"}, "pin", "mudah ditebak", id="pin-repeated"),
        pytest.param({"pin": "121212"}, "pin", "mudah ditebak", id="pin-two-digits"),
        pytest.param({"pin": "000001"}, "pin", "mudah ditebak", id="pin-nearly-repeated"),
        pytest.param({"pin": "385385"}, "pin", "mudah ditebak", id="pin-half-repeated"),
        pytest.param({"pin": "557799"}, "pin", "mudah ditebak", id="pin-pairs"),
        pytest.param({"name": "Ani\u061cLestari"}, "name", "tidak diizinkan", id="name-arabic-letter-mark"),
        pytest.param({"name": "Ani\u2060Lestari"}, "name", "tidak diizinkan", id="name-word-joiner"),
        pytest.param({"name": "Ani\u00adLestari"}, "name", "tidak diizinkan", id="name-soft-hyphen"),
        pytest.param({"name": "Ani \u3164"}, "name", "tidak diizinkan", id="name-hangul-filler"),
        pytest.param({"name": "Ani\U000e0041"}, "name", "tidak diizinkan", id="name-tag-character"),
        pytest.param({"pin_again": "111112"}, "pin_again", "Ulangi", id="pin-confirm-differs"),
        pytest.param({"pin": "", "pin_again": ""}, "pin", "wajib diisi", id="pin-empty"),
        pytest.param({"pin": "170890", "pin_again": "170890"}, "pin", "tanggal lahir", id="pin-birth-ddmmyy"),
        pytest.param({"pin": "900817", "pin_again": "900817"}, "pin", "tanggal lahir", id="pin-birth-yymmdd"),
        pytest.param({"pin": "081790", "pin_again": "081790"}, "pin", "tanggal lahir", id="pin-birth-mmddyy"),
    ],
)
def test_registration_field_errors_create_nothing(app, ani_data, change, field, text):
    ani_data.update(change)
    with pytest.raises(identity.IdentityError) as caught:
        identity.register(ani_data, HOME, now=now())
    assert text in caught.value.fields[field]
    assert Patient.select().count() == 0


def test_registration_stores_the_pin_hashed_never_in_clear(app, ani_data):
    identity.register(ani_data, HOME, now=now())
    p = Patient.get()
    assert p.pin_hash.startswith("$argon2id$") and ani_data["pin"] not in p.pin_hash


def test_registering_a_taken_nik_answers_the_same_and_changes_nothing(app, ani, ani_data):
    before = (ani.name, ani.phone, ani.pin_hash)
    impostor = {**ani_data, "name": "Orang Lain", "phone": "089999999999", "pin": "864209"}
    identity.register(impostor, STRANGER, now=now())  # no error: the same answer as a new account
    p = Patient.get_by_id(ani.id)
    assert (p.name, p.phone, p.pin_hash) == before and Patient.select().count() == 1


def test_login_needs_nik_birth_date_and_pin_with_one_answer_for_every_mistake(app, ani, ani_data):
    assert identity.login(ani_data["nik"], ani_data["birth_date"], ani_data["pin"], HOME).id == ani.id
    wrong = [
        (ani_data["nik"], ani_data["birth_date"], "000111"),  # wrong PIN
        (ani_data["nik"], "1990-08-18", ani_data["pin"]),  # wrong birth date
        ("3201011203850001", "1985-03-12", ani_data["pin"]),  # no such account
        ("", "", ""),
    ]
    for nik, birth, pin in wrong:
        with pytest.raises(identity.IdentityError) as caught:
            identity.login(nik, birth, pin, identity.Client(f"192.0.2.{len(nik)}"))
        assert caught.value.message == identity.LOGIN_FAILED and caught.value.status == 401


def test_an_account_from_release_0_1_0_has_no_pin_and_cannot_log_in_until_it_sets_one(app, ani, ani_data):
    Patient.update(pin_hash=None, pin_set_at=None).where(Patient.id == ani.id).execute()  # as 0.1.0 left it
    for pin in ("", "000000", ani_data["pin"]):
        with pytest.raises(identity.IdentityError, match="PIN salah"):
            identity.login(ani_data["nik"], ani_data["birth_date"], pin, HOME)
    notifier = FakeNotifier()
    identity.send_reset_code(ani_data["nik"], ani_data["birth_date"], HOME, notifier)
    (sent,) = notifier.sent
    code = sent.params[0]
    identity.reset_pin(ani_data["nik"], ani_data["birth_date"], code, "582037", "582037", HOME)
    assert identity.login(ani_data["nik"], ani_data["birth_date"], "582037", HOME).id == ani.id


def test_wrong_pins_from_one_device_back_off_and_the_block_names_the_wait(app, ani, ani_data):
    for _ in range(3):
        with pytest.raises(identity.IdentityError):
            identity.login(ani_data["nik"], ani_data["birth_date"], "000111", STRANGER)
    with pytest.raises(identity.IdentityError):  # the 4th wrong try starts the delay
        identity.login(ani_data["nik"], ani_data["birth_date"], "000111", STRANGER)
    with pytest.raises(identity.Throttled) as caught:  # now even the right PIN waits, from there
        identity.login(ani_data["nik"], ani_data["birth_date"], ani_data["pin"], STRANGER)
    assert caught.value.status == 429 and "Coba lagi dalam 1 menit" in caught.value.message


def test_strangers_cannot_lock_the_owner_out_of_her_own_device(app, ani, ani_data):
    mine = identity.Client(HOME.address, device=identity.device_mark(ani))  # she signed in here before
    for i in range(30):  # a botnet: every try from another address
        with pytest.raises(identity.IdentityError):
            identity.login(
                ani_data["nik"], ani_data["birth_date"], f"{i:06d}"[:5] + "9", identity.Client(f"10.9.{i}.1")
            )
    with pytest.raises(identity.Throttled):  # a new device is now refused for this account...
        identity.login(ani_data["nik"], ani_data["birth_date"], ani_data["pin"], identity.Client("10.99.0.1"))
    assert identity.login(ani_data["nik"], ani_data["birth_date"], ani_data["pin"], mine).id == ani.id  # ...not hers


def test_one_address_sweeping_many_accounts_is_stopped(app, ani, ani_data):
    for i in range(20):
        with pytest.raises(identity.IdentityError):
            identity.login(f"32010117059000{i:02d}", "1990-05-17", "000111", STRANGER)
    with pytest.raises(identity.IdentityError):
        identity.login(ani_data["nik"], ani_data["birth_date"], "000111", STRANGER)
    with pytest.raises(identity.Throttled):
        identity.login(ani_data["nik"], ani_data["birth_date"], ani_data["pin"], STRANGER)


def test_throttle_counters_live_in_the_database_not_in_one_process(app, ani, ani_data):
    for _ in range(4):
        with pytest.raises(identity.IdentityError):
            identity.login(ani_data["nik"], ani_data["birth_date"], "000111", STRANGER)
    assert ThrottleBucket.select().count() >= 3
    assert ani_data["nik"] not in "".join(b.key for b in ThrottleBucket.select())  # hashed, never in clear


def test_registrations_from_one_address_are_limited(app, ani_data):
    for i in range(5):
        person = {**ani_data, "nik": f"32010157089{i:05d}"[:16]}
        person["nik"] = "3201015708900" + f"{i + 10:03d}"
        identity.register(person, STRANGER, now=now())
    with pytest.raises(identity.Throttled):
        identity.register({**ani_data, "nik": "3201015708900099"}, STRANGER, now=now())
    assert Patient.select().count() == 5


def test_sessions_end_on_logout_and_a_pin_change_ends_all_the_others(app, ani, ani_data):
    phone = identity.open_session(patient=ani, device="Android")
    laptop = identity.open_session(patient=ani, device="Firefox")
    app_token, _row = identity.issue_token(ani, "Rosma Android")
    assert identity.session(phone) and identity.session(laptop) and identity.token(app_token)
    identity.revoke_session(identity.session(laptop).id)
    assert identity.session(laptop) is None  # a saved cookie is worth nothing after logout
    identity.change_pin(ani, ani_data["pin"], "582037", "582037", keep_session=identity.session(phone).id)
    assert identity.session(phone) is not None  # the device that changed it stays
    assert identity.token(app_token) is None  # every other one ends
    assert WebSession.select().where(WebSession.key_hash == phone).count() == 0  # only hashes are stored
    assert ApiToken.select().where(ApiToken.token_hash == app_token).count() == 0


def test_an_expired_session_is_no_session(app, ani):
    key = identity.open_session(patient=ani)
    WebSession.update(expires_at=utcnow() - dt.timedelta(seconds=1)).execute()
    assert identity.session(key) is None


def test_a_reset_code_works_once_for_a_short_while_and_not_after_five_wrong_tries(app, ani, ani_data):
    notifier = FakeNotifier()
    assert identity.send_reset_code(ani_data["nik"], ani_data["birth_date"], HOME, notifier) == identity.RESET_SENT
    assert identity.send_reset_code("3201011203850001", "1985-03-12", HOME, notifier) == identity.RESET_SENT
    assert len(notifier.sent) == 1  # the same answer, but nothing sent for data that match nothing
    code = notifier.sent[0].params[0]
    assert notifier.sent[0].phone == ani.phone and code in notifier.sent[0].text
    assert code not in PinReset.get().code_hash
    for _ in range(5):
        with pytest.raises(identity.IdentityError, match="Kode tidak cocok"):
            identity.reset_pin(ani_data["nik"], ani_data["birth_date"], "000000", "582037", "582037", HOME)
    with pytest.raises(identity.IdentityError, match="Kode tidak cocok"):  # too many tries: even the right one
        identity.reset_pin(ani_data["nik"], ani_data["birth_date"], code, "582037", "582037", HOME)


def test_one_time_codes_are_limited_per_account(app, ani, ani_data):
    notifier = FakeNotifier()
    for _ in range(3):
        identity.send_reset_code(ani_data["nik"], ani_data["birth_date"], identity.Client("10.0.0.1"), notifier)
    with pytest.raises(identity.Throttled):
        identity.send_reset_code(ani_data["nik"], ani_data["birth_date"], identity.Client("10.0.0.2"), notifier)


def test_the_loket_gives_a_code_after_checking_the_ktp_and_only_staff_who_may(app, ani, ani_data):
    loket = staff.add("loket.cibinong", "Rina", "petugas_loket", "cibinong", "", "kata-sandi-rahasia")
    kepala = staff.add("kepala.cibinong", "Dr. Hadi", "kepala_puskesmas", "cibinong", "", "kata-sandi-rahasia")
    with pytest.raises(identity.IdentityError) as refused:
        identity.loket_reset_code(kepala, ani_data["nik"], ani_data["birth_date"])
    assert refused.value.status == 403
    patient, code = identity.loket_reset_code(loket, ani_data["nik"], ani_data["birth_date"])
    assert patient.id == ani.id and len(code) == 8
    token, _ = identity.issue_token(ani, "lost phone")
    identity.reset_pin(ani_data["nik"], ani_data["birth_date"], code, "582037", "582037", HOME)
    assert identity.token(token) is None  # whoever had her phone is out
    with pytest.raises(identity.IdentityError):  # one use
        identity.reset_pin(ani_data["nik"], ani_data["birth_date"], code, "582037", "582037", HOME)


def test_staff_sign_in_answers_one_way_and_a_disabled_account_cannot(app):
    staff.add("loket.ciawi", "Rina", "petugas_loket", "ciawi", "", "kata-sandi-rahasia")
    assert identity.staff_login("loket.ciawi", "kata-sandi-rahasia", HOME).name == "Rina"
    for user, pw in (("loket.ciawi", "salah"), ("tidak.ada", "kata-sandi-rahasia")):
        with pytest.raises(identity.IdentityError, match="Nama pengguna atau kata sandi salah"):
            identity.staff_login(user, pw, identity.Client("10.1.1.1"))
    staff.disable("loket.ciawi")
    with pytest.raises(identity.IdentityError):
        identity.staff_login("loket.ciawi", "kata-sandi-rahasia", HOME)


# ---- booking limits ---------------------------------------------------------------------------
def test_an_account_holds_at_most_three_upcoming_reservations(app, ani):
    window, today = services.booking_window(7), services.now_wib().date()
    ahead = [d for d in window if d > today] or window  # near a long holiday fewer than four, or none
    days = [ahead[i % len(ahead)] for i in range(4)]  # one puskesmas each, so days may repeat
    for place, day in zip(("ciawi", "cibinong", "cisarua"), days[:3], strict=True):
        services.reserve(ani, place, "UMUM", day, "09:00-10:00", "UMUM")
    with pytest.raises(services.ConflictError, match="3 reservasi aktif"):
        services.reserve(ani, "cileungsi", "UMUM", days[3], "09:00-10:00", "UMUM")


def test_fresh_accounts_cannot_drain_a_slot(app, visit_date, ani_data):
    Poli.update(slot_quota=4).where(Poli.code == "UMUM").execute()
    fresh = []
    for i in range(3):
        nik = "3201011705900" + f"{i + 10:03d}"
        identity.register({**ani_data, "nik": nik, "sex": "L", "birth_date": "1990-05-17"},
                          identity.Client(f"10.2.0.{i}"), now=now())  # fmt: skip
        fresh.append(Patient.get(Patient.nik == nik))
    services.reserve(fresh[0], "ciawi", "UMUM", visit_date, "08:00-09:00", "UMUM")
    services.reserve(fresh[1], "ciawi", "UMUM", visit_date, "08:00-09:00", "UMUM")
    with pytest.raises(services.ConflictError, match="akun baru"):  # half of the quota is the most they get
        services.reserve(fresh[2], "ciawi", "UMUM", visit_date, "08:00-09:00", "UMUM")
    Patient.update(created_at=utcnow() - dt.timedelta(days=30)).where(Patient.id == fresh[2].id).execute()
    services.reserve(Patient.get_by_id(fresh[2].id), "ciawi", "UMUM", visit_date, "08:00-09:00", "UMUM")


def test_one_address_cannot_book_faster_than_the_limit(app, ani, budi, visit_date):
    for _ in range(limits.BOOK_CLIENT.allowed):
        limits.hit(limits.BOOK_CLIENT, "10.3.3.3")
    with pytest.raises(services.TooManyBookings):
        services.reserve(budi, "ciawi", "UMUM", visit_date, "08:00-09:00", "UMUM", client="10.3.3.3")
    assert Reservation.select().count() == 0


def test_without_a_channel_to_phones_lupa_pin_sends_everyone_to_the_loket(app, ani, ani_data):
    from infra.notify import open_notifier

    off = open_notifier("none")
    for nik, birth in ((ani_data["nik"], ani_data["birth_date"]), ("3201011203850001", "1985-03-12")):
        with pytest.raises(identity.IdentityError) as e:
            identity.send_reset_code(nik, birth, HOME, off)
        assert e.value.message == identity.RESET_NO_CHANNEL and e.value.status == 503
    assert PinReset.select().count() == 0


# ---- a PIN made of the birth date ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("birth", "pins"),
    [
        (dt.date(1990, 5, 17), {"170590", "900517", "051790"}),
        (dt.date(2001, 1, 2), {"020101", "010102"}),  # DDMMYY and YYMMDD meet here; MMDDYY is 010201
    ],
)
def test_the_pins_a_birth_date_spells(birth, pins):
    assert pins <= identity.birth_date_pins(birth)
    for pin in identity.birth_date_pins(birth):
        errors = identity.check_pin_fields(pin, pin, birth)
        assert errors == {"pin": "PIN tidak boleh berupa tanggal lahir Anda. Pilih PIN lain."}


def test_a_pin_close_to_the_birth_date_or_without_a_known_date_is_fine():
    birth = dt.date(1990, 5, 17)
    assert identity.check_pin_fields("170591", "170591", birth) == {}  # one digit off: allowed
    assert identity.check_pin_fields("199005", "199005", birth) == {}  # YYYYMM: not one of the three forms
    assert identity.check_pin_fields("170590", "170590") == {}  # the date is not known here (e.g. the demo)


def test_a_pin_change_or_reset_refuses_the_birth_date_too(app, ani, ani_data):
    for pin in ("170890", "900817", "081790"):  # Ani was born 17-08-1990
        with pytest.raises(identity.IdentityError) as caught:
            identity.change_pin(ani, ani_data["pin"], pin, pin)
        assert "tanggal lahir" in caught.value.fields["pin"]
    notifier = FakeNotifier()
    identity.send_reset_code(ani_data["nik"], ani_data["birth_date"], HOME, notifier)
    code = notifier.sent[0].params[0]
    with pytest.raises(identity.IdentityError) as caught:
        identity.reset_pin(ani_data["nik"], ani_data["birth_date"], code, "170890", "170890", HOME)
    assert "tanggal lahir" in caught.value.fields["pin"]
    identity.reset_pin(ani_data["nik"], ani_data["birth_date"], code, "582037", "582037", HOME)  # the code still works
    assert identity.login(ani_data["nik"], ani_data["birth_date"], "582037", HOME).id == ani.id


def test_the_api_refuses_a_pin_made_of_the_birth_date(client, ani, ani_data, auth_header):
    header = auth_header(client, ani_data)
    r = client.post("/api/v1/pin", json={"old_pin": ani_data["pin"], "pin": "170890"}, headers=header)
    assert r.status_code == 400 and "tanggal lahir" in r.json["fields"]["pin"]
    register = client.post("/api/v1/patients", json={**ani_data, "nik": "3201015708900003", "pin": "900817"})
    assert register.status_code == 400 and "tanggal lahir" in register.json["fields"]["pin"]


# ---- attacks the probe found -------------------------------------------------------------------
def _in_parallel(n: int, work) -> list:
    import threading

    from central.models import database

    barrier, results = threading.Barrier(n), []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results.append(work(i))
        except identity.Throttled:
            results.append("throttled")
        except identity.IdentityError:
            results.append("wrong")
        finally:
            database.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_a_burst_of_guesses_sent_at_once_is_not_all_judged(app, ani, ani_data):
    results = _in_parallel(
        12, lambda i: identity.login(ani_data["nik"], ani_data["birth_date"], f"{100200 + i * 7919}", STRANGER)
    )
    assert len(results) == 12 and results.count("wrong") <= 4  # 3 free tries and the one that blocks
    with pytest.raises(identity.Throttled):
        identity.login(ani_data["nik"], ani_data["birth_date"], ani_data["pin"], STRANGER)


def test_the_device_mark_cannot_be_made_by_a_stranger_and_a_new_pin_renews_it(app, ani, ani_data):
    mark = identity.device_mark(ani)
    assert mark and mark != limits.who(f"device:{ani.id}:{ani.nik}")  # not derived from public data
    identity.change_pin(ani, ani_data["pin"], "582037", "582037")
    assert identity.device_mark(Patient.get_by_id(ani.id)) != mark


def test_a_flood_of_wrong_logins_does_not_lock_the_owner_out_on_her_own_device(app, ani, ani_data):
    mine = identity.Client(HOME.address, device=identity.device_mark(ani))
    for _ in range(limits.LOGIN_GLOBAL.allowed):  # the site-wide brake is full
        limits.hit(limits.LOGIN_GLOBAL)
    with pytest.raises(identity.Throttled):
        identity.login(ani_data["nik"], ani_data["birth_date"], ani_data["pin"], identity.Client("10.7.7.7"))
    assert identity.login(ani_data["nik"], ani_data["birth_date"], ani_data["pin"], mine).id == ani.id


def test_a_stolen_session_cannot_guess_the_pin_through_pin_change(app, ani, ani_data):
    for i in range(6):
        with pytest.raises(identity.IdentityError) as wrong:
            identity.change_pin(ani, f"{300100 + i * 7}", "582037", "582037")
        assert not isinstance(wrong.value, identity.Throttled)
    with pytest.raises(identity.Throttled):  # even the right one waits now
        identity.change_pin(ani, ani_data["pin"], "582037", "582037")


def test_asking_for_a_code_by_phone_does_not_cancel_the_code_the_loket_gave(app, ani, ani_data):
    loket = staff.add("loket.cibinong", "Rina", "petugas_loket", "cibinong", "", "kata-sandi-rahasia")
    _patient, code = identity.loket_reset_code(loket, ani_data["nik"], ani_data["birth_date"])
    identity.send_reset_code(ani_data["nik"], ani_data["birth_date"], STRANGER, FakeNotifier())  # a stranger asks
    identity.reset_pin(ani_data["nik"], ani_data["birth_date"], code, "582037", "582037", HOME)
    assert identity.login(ani_data["nik"], ani_data["birth_date"], "582037", HOME).id == ani.id


def test_a_burst_of_code_guesses_gets_only_the_allowed_tries(app, ani, ani_data):
    loket = staff.add("loket.cibinong", "Rina", "petugas_loket", "cibinong", "", "kata-sandi-rahasia")
    _patient, code = identity.loket_reset_code(loket, ani_data["nik"], ani_data["birth_date"])
    guesses = [f"{int(code) + 1 + i:08d}"[-8:] for i in range(11)] + [code]
    results = _in_parallel(
        12,
        lambda i: identity.reset_pin(
            ani_data["nik"], ani_data["birth_date"], guesses[i], "582037", "582037", identity.Client(f"10.5.0.{i}")
        ),
    )
    assert PinReset.get().attempts <= identity.CODE_TRIES  # never more tries judged than allowed
    assert len(results) == 12


def test_staff_sign_in_slows_down_one_account_guessed_from_many_addresses(app):
    staff.add("loket.ciawi", "Rina", "petugas_loket", "ciawi", "", "kata-sandi-rahasia")
    for i in range(11):
        with pytest.raises(identity.IdentityError):
            identity.staff_login("loket.ciawi", f"tebakan-{i}", identity.Client(f"10.8.{i}.1"))
    with pytest.raises(identity.Throttled):
        identity.staff_login("loket.ciawi", "kata-sandi-rahasia", identity.Client("10.8.99.1"))


def test_registrations_at_the_same_moment_all_get_their_answer(app, ani_data):
    def register(i: int):
        year = 80 + i  # a man born 17-05-19yy: NIK 320101 170 5yy 1xxx
        person = {**ani_data, "name": f"Pasien {i}", "sex": "L", "nik": f"32010117052{year % 10}{1000 + i:04d}"}
        person["nik"] = f"3201011705{year:02d}{1000 + i:04d}"
        person["birth_date"] = f"19{year}-05-17"
        identity.register(person, identity.Client(f"10.6.0.{i}"), now=now())
        return "ok"

    results = _in_parallel(8, register)
    assert results.count("ok") == 8, results
