"""Guessing a birth date for a NIK is slowed down: NIK + birth date is a weak secret."""

from __future__ import annotations

from central.core.throttle import Throttle


def test_throttle_counts_failures_in_a_sliding_window():
    t = Throttle(3, 60)
    for now in (0, 10, 20):
        assert t.wait_s("k", now) == 0
        t.failed("k", now)
    assert t.wait_s("k", 30) == 30  # the first failure leaves the window at 60
    assert t.wait_s("other", 30) == 0
    assert t.wait_s("k", 60) == 0
    t.succeeded("k")
    assert t.wait_s("k", 25) == 0


def test_api_refuses_a_nik_after_five_wrong_birth_dates(client, ani, ani_data):
    for _ in range(5):
        r = client.post("/api/v1/login", json={"nik": ani_data["nik"], "birth_date": "1991-01-01"})
        assert r.status_code == 401
    r = client.post("/api/v1/login", json={"nik": ani_data["nik"], "birth_date": ani_data["birth_date"]})
    assert r.status_code == 429
    assert "Terlalu banyak percobaan masuk" in r.get_json()["error"]


def test_web_login_shows_the_wait_and_other_patients_are_not_locked_out(
    client, ani, budi, ani_data, budi_data, csrf_from
):
    token = csrf_from(client.get("/masuk").text)
    for _ in range(5):
        client.post("/masuk", data={"csrf_token": token, "nik": ani_data["nik"], "birth_date": "1991-01-01"})
    r = client.post("/masuk", data={"csrf_token": token, "nik": ani_data["nik"], "birth_date": ani_data["birth_date"]})
    assert r.status_code == 429 and "Coba lagi dalam" in r.text
    r = client.post(
        "/masuk", data={"csrf_token": token, "nik": budi_data["nik"], "birth_date": budi_data["birth_date"]}
    )
    assert r.status_code == 302
