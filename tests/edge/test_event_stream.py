"""The edge's event stream: capped, and a reconnecting screen gets what it missed."""

from __future__ import annotations

import json
import threading

import pytest

from edge.app import Runtime, create_app
from edge.config import from_dict
from edge.notices import PrintQueued, ScanRecorded
from protocol.events import TicketCalled

AT = "2026-11-26T08:05:00.000+07:00"


@pytest.fixture
def app(tmp_path):
    cfg = from_dict(
        {
            "node_id": "pkm-test",
            "puskesmas_code": "cibinong",
            "qr_public_keys": {
                "56475aa75463474c": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
            },  # a key: an edge without one checks nobody in
            "polis": [{"code": "UMUM", "name": "Poli Umum", "prefix": "U"}],
            "data_dir": str(tmp_path),
        }
    )
    rt = Runtime(cfg)  # not started: no workers, no sync
    a = create_app(cfg, rt)
    yield a
    rt.stop.set()
    rt.db.close()


def frames(resp, n):
    """The first ``n`` SSE events of a streaming response, as (id, type, data) triples."""
    out, buf = [], ""
    for chunk in resp.response:
        buf += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buf:
            block, buf = buf.split("\n\n", 1)
            fields = dict(
                line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":")
            )
            if "event" in fields:
                out.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
        if len(out) >= n:
            return out
    return out


CALL = TicketCalled(ticket="k1", label="A001", destination="Loket 1", counter="loket-1", at=AT)
SCAN = ScanRecorded(1, True, "ok", "Nomor antrean Anda U001, Poli Umum.", "U001")


def test_reconnecting_screen_gets_the_events_it_missed(app):
    bus = app.extensions["rosma"].bus
    for message in (CALL, PrintQueued("k1"), SCAN, CALL):
        bus.publish(message)
    client = app.test_client()
    resp = client.get("/api/events", headers={"Last-Event-ID": "1"}, buffered=False)
    try:
        assert resp.status_code == 200
        # 2.. were missed; a print job is internal and never sent to browsers
        assert [(i, t) for i, t, _ in frames(resp, 2)] == [(3, "scan"), (4, "queue")]
    finally:
        resp.close()


def test_new_page_gets_no_replay_and_live_events_arrive(app):
    bus = app.extensions["rosma"].bus
    bus.publish(CALL)
    resp = app.test_client().get("/api/events", buffered=False)
    try:
        threading.Timer(0.2, bus.publish, args=(SCAN,)).start()
        assert [(i, t) for i, t, _ in frames(resp, 1)] == [(2, "scan")]
    finally:
        resp.close()


def test_screens_get_numbers_and_rooms_never_ticket_keys(app):
    bus = app.extensions["rosma"].bus
    resp = app.test_client().get("/api/events", buffered=False)
    try:
        threading.Timer(0.2, bus.publish, args=(CALL,)).start()
        ((_, kind, data),) = frames(resp, 1)
        assert kind == "queue" and data == {
            "event": "ticket.called",
            "label": "A001",
            "call": True,
            "destination": "Loket 1",
        }
    finally:
        resp.close()


def test_streams_are_capped_and_a_closed_one_frees_its_slot(app):
    rt = app.extensions["rosma"]
    rt.stream_slots = threading.BoundedSemaphore(1)
    client = app.test_client()
    first = client.get("/api/events", buffered=False)
    assert first.status_code == 200
    second = client.get("/api/events")
    assert second.status_code == 503 and "layar" in second.get_json()["error"]
    first.close()
    third = client.get("/api/events", buffered=False)
    assert third.status_code == 200
    third.close()


def test_a_page_gets_what_happened_since_it_was_built(app):
    """The printed notice of a ticket that printed while the page was on its way is not lost."""
    bus = app.extensions["rosma"].bus
    bus.publish(CALL)
    page = app.test_client().get("/kiosk")
    since = int(page.text.split('data-events-since="')[1].split('"')[0])
    assert since == 1
    bus.publish(SCAN)  # between the page and its event stream
    resp = app.test_client().get(f"/api/events?since={since}", buffered=False)
    try:
        assert [(i, t) for i, t, _ in frames(resp, 1)] == [(2, "scan")]
    finally:
        resp.close()


@pytest.mark.parametrize("since", ["%C2%B2", "99999999999999999999999", "-1", "abc"])
def test_a_bad_since_neither_fails_nor_uses_up_a_stream_slot(app, since):
    rt = app.extensions["rosma"]
    rt.stream_slots = threading.BoundedSemaphore(1)
    client = app.test_client()
    for _ in range(3):
        resp = client.get(f"/api/events?since={since}", buffered=False)
        assert resp.status_code == 200
        resp.close()


def test_an_id_from_before_a_restart_does_not_silence_the_stream(app):
    bus = app.extensions["rosma"].bus
    resp = app.test_client().get("/api/events", headers={"Last-Event-ID": "5000"}, buffered=False)
    try:
        threading.Timer(0.2, bus.publish, args=(SCAN,)).start()
        assert [t for _, t, _ in frames(resp, 1)] == ["scan"]
    finally:
        resp.close()


class FakeClock:
    """The stream's monotonic clock, moved by the test."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_stream_stays_open_past_the_old_25_s_end_and_asks_for_a_quick_reconnect(app):
    clock = FakeClock()
    app.config["EVENT_STREAM_CLOCK"] = clock
    bus = app.extensions["rosma"].bus
    resp = app.test_client().get("/api/events", buffered=False)
    try:
        chunks = iter(resp.response)
        first = next(chunks)
        assert (first.decode() if isinstance(first, bytes) else first) == "retry: 250\n\n"
        clock.now += 5 * 60  # well past where a stream used to end and leave the TV waiting a second
        bus.publish(SCAN)
        assert [t for _, t, _ in frames(resp, 1)] == ["scan"]  # still the same stream
    finally:
        resp.close()


def test_a_stream_ends_at_its_lifetime_and_frees_its_slot(app):
    rt = app.extensions["rosma"]
    rt.stream_slots = threading.BoundedSemaphore(1)
    clock = FakeClock()
    app.config.update(EVENT_STREAM_CLOCK=clock, EVENT_STREAM_SECONDS=600)
    resp = app.test_client().get("/api/events", buffered=False)
    chunks = iter(resp.response)
    next(chunks)  # the retry line: the stream is running
    clock.now += 601
    assert list(chunks) == []  # it ends by itself (the browser reconnects with Last-Event-ID)
    resp.close()
    again = app.test_client().get("/api/events", buffered=False)
    assert again.status_code == 200
    again.close()


def test_a_waiting_stream_holds_no_database_connection(app):
    rt = app.extensions["rosma"]
    resp = app.test_client().get("/api/events", buffered=False)
    try:
        next(iter(resp.response))
        assert rt.db.is_closed()  # this thread's connection went back to the pool
    finally:
        resp.close()
