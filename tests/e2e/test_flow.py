"""The whole journey with real processes: reserve online -> QR -> kiosk scan -> printed
ticket -> staff call -> TV event -> WAV announcement -> the visit back at central."""

from __future__ import annotations

import pytest
import requests
from harness import wait_for

from central import db as central_db
from central.models import Reservation, Visit
from devices.audio import wav_stats
from devices.printer import decode_escpos

pytestmark = pytest.mark.e2e


def central_visit(pg_url: str, label: str):
    central_db.connect(pg_url)
    try:
        return Visit.get_or_none(Visit.label == label)
    finally:
        central_db.database.close()


def central_reservation(pg_url: str, rid: str):
    central_db.connect(pg_url)
    try:
        return Reservation.get(Reservation.rid == rid)
    finally:
        central_db.database.close()


def reserve_and_sync(system, days):
    auth = system.patient("3201011705900001", "1990-05-17", "L")
    res = system.reserve(auth, days[0])
    text = system.qr_text_from_png(auth, res["rid"])
    assert text == res["qr_text"]
    for secret in ("3201011705900001", "1990-05-17", "17-05-1990", "Budi"):
        assert secret not in text
    wait_for(lambda: system.edge_status()["reservations"] >= 1, 30, "the reservation to reach the edge")
    return auth, res, text


def whole_tickets_after(system, before: int):
    """Tickets printed after the first ``before``, once every one is completely written: the printer
    writes a ticket's .escpos, then its .txt, then its .png, so a ticket whose .png is there can be read."""
    tickets = system.tickets_printed()
    if all(t.with_suffix(".png").exists() for t in tickets):
        return tickets[before:]
    return []


def check_in_and_print(system, events, text):
    before = len(system.tickets_printed())
    system.scan(text)
    scan = events.expect("scan")
    assert scan["ok"], scan
    assert scan["label"] == "U001"
    assert "U001" in scan["message"]
    printed = wait_for(lambda: whole_tickets_after(system, before), 30, "the ticket to be printed")
    ticket = decode_escpos(printed[0].read_bytes())
    assert "U001" in ticket.lines
    assert "Poli Umum" in ticket.lines
    assert ticket.cuts == 1
    return scan


def call_and_announce(system, events, while_called=lambda: None):
    """Call U001 to Poli Umum, hear it announced, then finish it (``while_called`` runs before)."""
    wavs_before = len(system.wavs())
    r = system.staff().post(system.edge_url + "/api/counters/poli-UMUM/next", timeout=10)
    assert r.status_code == 200, r.text
    called = r.json()
    assert called["label"] == "U001" and called["destination"] == "Poli Umum"
    while_called()
    events.expect("queue", lambda d: d.get("call"))
    board = requests.get(system.edge_url + "/api/board", timeout=5).json()
    assert board["counters"]["Poli Umum"] == "U001"
    wav = wait_for(lambda: system.wavs()[wavs_before:], 60, "the announcement WAV")[0]
    duration, rms = wav_stats(wav.read_bytes())
    assert duration > 3.0 and rms > 0.02, (duration, rms)
    r = system.staff().post(f"{system.edge_url}/api/tickets/{called['ticket']}/finish", timeout=10)
    assert r.status_code == 200 and r.json()["state"] == "done"
    return called


def phone_page(system, number: str) -> str:
    """The patient's live-queue page at central, as a phone would load it."""
    r = requests.get(f"{system.central_url}/antrian/cibinong", params={"nomor": number}, timeout=5)
    assert r.status_code == 200
    return r.text


def test_reserve_scan_print_call_announce_and_visit_reaches_central(system, days):
    events = system.events()
    try:
        _auth, res, text = reserve_and_sync(system, days)
        check_in_and_print(system, events, text)
        wait_for(
            lambda: "<strong>Berikutnya</strong> di Poli Umum" in phone_page(system, "U001"),
            30,
            "the phone page to show U001 next",
        )
        call_and_announce(
            system,
            events,
            while_called=lambda: wait_for(
                lambda: "<strong>Sedang dipanggil</strong>: silakan menuju Poli Umum" in phone_page(system, "U001"),
                30,
                "the phone page to show the call",
            ),
        )
        # done: U001 is no longer under "sedang dipanggil", and the last calls list it
        page = wait_for(
            lambda: (p := phone_page(system, "U001")) and "Sedang dipanggil</strong>" not in p and p,
            30,
            "the phone page to drop the finished call",
        )
        assert "U001</span> → Poli Umum" in page
    finally:
        events.close()
    visit = wait_for(
        lambda: (v := central_visit(system.pg_url, "U001")) and v.state == "done" and v, 30, "the visit at central"
    )
    assert visit.rid == res["rid"] and visit.poli == "UMUM" and visit.called_at and visit.done_at
    assert central_reservation(system.pg_url, res["rid"]).status == "done"


def test_edge_keeps_working_without_central_and_catches_up(system, days):
    events = system.events()
    try:
        _auth, res, text = reserve_and_sync(system, days)
        system.broker.stop()  # the link to central is cut
        wait_for(lambda: not system.edge_status()["online"], 60, "the edge to notice the broker is gone")
        check_in_and_print(system, events, text)
        walkin = requests.post(system.edge_url + "/api/kiosk/walkin", json={"payer": "UMUM"}, timeout=10)
        assert walkin.status_code == 201 and walkin.json()["label"] == "A001"
        call_and_announce(system, events)
        assert system.edge_status()["outbox_pending"] > 0
        assert central_visit(system.pg_url, "U001") is None
        system.broker.start()  # the link is back
        wait_for(lambda: system.edge_status()["outbox_pending"] == 0, 90, "the outbox to drain")
    finally:
        events.close()
    visit = central_visit(system.pg_url, "U001")
    assert visit is not None and visit.state == "done"
    assert central_visit(system.pg_url, "A001") is not None
    assert central_reservation(system.pg_url, res["rid"]).status == "done"
