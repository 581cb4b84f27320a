"""The edge's event stream: capped, and a reconnecting screen gets what it missed."""

from __future__ import annotations

import threading

import pytest

from edge.app import Runtime, create_app
from edge.config import from_dict


@pytest.fixture
def app(tmp_path):
    cfg = from_dict(
        {
            "node_id": "pkm-test",
            "puskesmas_code": "cibinong",
            "polis": [{"code": "UMUM", "name": "Poli Umum", "prefix": "U"}],
            "data_dir": str(tmp_path),
        }
    )
    rt = Runtime(cfg, start_workers=False)
    a = create_app(cfg, rt)
    yield a
    rt.stop.set()
    rt.db.close()


def frames(resp, n):
    """The first ``n`` SSE events of a streaming response, as (id, type) pairs."""
    out, buf = [], ""
    for chunk in resp.response:
        buf += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buf:
            block, buf = buf.split("\n\n", 1)
            fields = dict(
                line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":")
            )
            if "event" in fields:
                out.append((int(fields["id"]), fields["event"]))
        if len(out) >= n:
            return out
    return out


def test_reconnecting_screen_gets_the_events_it_missed(app):
    bus = app.extensions["rosma"].bus
    for kind in ("queue", "outbox", "scan", "queue"):
        bus.publish({"type": kind})
    client = app.test_client()
    resp = client.get("/api/events", headers={"Last-Event-ID": "1"}, buffered=False)
    try:
        assert resp.status_code == 200
        # events 2.. were missed; "outbox" is internal and never sent to browsers
        assert frames(resp, 2) == [(3, "scan"), (4, "queue")]
    finally:
        resp.close()


def test_new_page_gets_no_replay_and_live_events_arrive(app):
    bus = app.extensions["rosma"].bus
    bus.publish({"type": "queue"})
    resp = app.test_client().get("/api/events", buffered=False)
    try:
        threading.Timer(0.2, bus.publish, args=({"type": "scan", "ok": True},)).start()
        assert frames(resp, 1) == [(2, "scan")]
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
