"""JSON endpoints of the edge: the board, the SSE stream, kiosk and staff actions."""

from __future__ import annotations

import json
import logging
import time

from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context

from edge.models import Reservation, ScanLog
from edge.services import CheckinRefused, QueueError
from edge.sync import get_state

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api")

SSE_TYPES = {"queue", "scan", "device", "printed", "print-failed", "announced", "reservations"}


def rt():
    return current_app.extensions["rosma"]


def error(message: str, status: int = 400, **extra):
    return jsonify({"error": message, **extra}), status


def ticket_json(t) -> dict:
    svc = rt().service
    return {
        "ticket": t.key,
        "label": t.label,
        "queue": t.queue,
        "queue_name": svc.queue_name(t.queue),
        "state": t.state,
        "destination": t.destination,
        "waiting_ahead": svc.waiting_ahead(t),
    }


@bp.get("/board")
def board():
    return jsonify(rt().service.board())


@bp.get("/status")
def status():
    r = rt()
    return jsonify(
        {
            "node": r.config.node_id,
            "devices": r.status.snapshot(),
            "outbox_pending": r.sync.pending() if r.sync else None,
            "online": bool(r.sync and r.sync.connected.is_set()),
            "change_seq": int(get_state("change_seq")),
            "reservations": Reservation.select().count(),
            "clock": r.clock.now().isoformat(timespec="seconds"),
        }
    )


STREAM_SECONDS = 25  # each stream ends and the browser reconnects: a gone client frees its thread
KEEPALIVE_SECONDS = 5


@bp.get("/events")
def events():
    """Server-sent events: queue changes, calls, scans and device status, as they happen.

    Each stream holds a server thread, so streams are capped (503 above the cap; the browser
    retries) and last at most STREAM_SECONDS, leaving threads for the kiosk and staff actions.
    """
    r = rt()
    if not r.stream_slots.acquire(blocking=False):
        return error("Terlalu banyak layar terhubung; mencoba lagi.", 503)
    sub = r.bus.subscribe()
    stopping = r.stop
    deadline = time.monotonic() + STREAM_SECONDS
    # a reconnecting EventSource sends the id of the last event it got; a new page sends none
    header = request.headers.get("Last-Event-ID", "")
    last_id = int(header) if header.isdigit() else 0
    missed = r.bus.since(last_id) if last_id else []

    def frame(ev: dict) -> str:
        return f"id: {ev['id']}\nevent: {ev['type']}\ndata: {json.dumps(ev)}\n\n"

    def stream():
        yield "retry: 1000\n\n"
        sent = last_id
        for ev in missed:  # what happened while this screen was reconnecting
            if ev.get("type") in SSE_TYPES:
                yield frame(ev)
            sent = ev["id"]
        idle = 0.0
        while not stopping.is_set() and time.monotonic() < deadline:
            ev = sub.get(timeout=1.0)
            if ev is None:
                idle += 1.0
                if idle >= KEEPALIVE_SECONDS:
                    idle = 0.0
                    yield ": keep-alive\n\n"
                continue
            idle = 0.0
            if ev["id"] > sent and ev.get("type") in SSE_TYPES:
                sent = ev["id"]
                yield frame(ev)

    def release():
        sub.close()
        r.stream_slots.release()

    resp = Response(
        stream_with_context(stream()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    resp.call_on_close(release)
    return resp


def _json_body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


@bp.post("/kiosk/walkin")
def walkin():
    body = _json_body()
    try:
        t = rt().service.issue_walkin(str(body.get("payer", "")), priority=bool(body.get("priority", False)))
    except QueueError as exc:
        return error(str(exc))
    return jsonify(ticket_json(t)), 201


@bp.post("/kiosk/scan")
def scan():
    """Check in a QR text typed or pasted at the kiosk (same path as the scanner)."""
    text = str(_json_body().get("text", ""))
    try:
        t = rt().service.check_in(text)
    except CheckinRefused as exc:
        return error(str(exc), 409 if exc.code == "again" else 422, code=exc.code)
    return jsonify(ticket_json(t)), 201


@bp.get("/kiosk/scans")
def scans():
    after = request.args.get("after", 0, type=int)
    rows = ScanLog.select().where(ScanLog.id > after).order_by(ScanLog.id).limit(50)
    return jsonify(
        [{"id": s.id, "at": s.at, "ok": s.ok, "code": s.code, "message": s.message, "label": s.label} for s in rows]
    )


@bp.post("/counters/<counter_id>/next")
def call_next(counter_id):
    try:
        t = rt().service.call_next(counter_id)
    except QueueError as exc:
        return error(str(exc), 404)
    if t is None:
        return error("Tidak ada antrian yang menunggu.", 404)
    return jsonify(ticket_json(t))


@bp.post("/tickets/<key>/<action>")
def act(key, action):
    if action not in ("recall", "serve", "finish", "no_show", "transfer", "cancel", "reprint"):
        return error("Aksi tidak dikenal.", 404)
    try:
        if action == "reprint":
            rt().service.reprint(key)
            return jsonify({"ok": True})
        t = rt().service.act(key, action, to_poli=_json_body().get("poli") or request.form.get("poli"))
    except QueueError as exc:
        return error(str(exc), 409)
    return jsonify(ticket_json(t))
