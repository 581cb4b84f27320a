"""JSON endpoints of the edge: the board, status (the health check), the SSE stream, kiosk and
staff actions."""

from __future__ import annotations

import json
import logging
import time

from flask import Blueprint, Response, current_app, g, jsonify, request, session, stream_with_context

from edge import state
from edge.core.queue import REG_QUEUES
from edge.models import Reservation, ScanLog, Ticket
from edge.notices import (
    Announced,
    AnnouncementFailed,
    DeviceChanged,
    PrintFailed,
    ReservationsChanged,
    ScanRecorded,
    TicketPrinted,
)
from edge.services import PRIORITY_CLASSES, CheckinRefused, QueueError
from edge.web import auth
from infra.config import is_loopback
from protocol import events, idents
from protocol.events import Actor, TicketCalled

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api")


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
    """The node's state for staff screens and monitoring; 503 when the node is unhealthy
    (database gone or at another schema, a worker or the sync stuck)."""
    r = rt()
    problems = r.problems()
    body = {
        "node": r.config.node_id,
        "healthy": not problems,
        "problems": problems,
        "clock": r.clock.now().isoformat(timespec="seconds"),
        "devices": r.status.snapshot(),
        "online": bool(r.sync and r.sync.connected.is_set()),
    }
    if not any(p.startswith("database") for p in problems):
        body.update(
            outbox_pending=r.sync.pending() if r.sync else None,
            change_seq=state.change_seq(),
            reservations=Reservation.select().count(),
        )
    return jsonify(body), 503 if problems else 200


STREAMS_PER_CLIENT = 6  # a TV, a kiosk and a few staff tabs; one host cannot take every stream
# (the node's own screens, on 127.0.0.1, share only the overall cap: its HDMI TV and touchscreen)
# A stream lives long: a TV reconnecting misses nothing (Last-Event-ID) but gets what it missed
# late, so streams end seldom. A gone client still frees its thread within KEEPALIVE_SECONDS: the
# keep-alive comment is a write, and writing to a closed connection ends the stream.
STREAM_SECONDS = 15 * 60
KEEPALIVE_SECONDS = 5
RETRY_MS = 250  # how soon the browser reconnects after a stream ended
STREAMED = (
    events.Event,
    ScanRecorded,
    DeviceChanged,
    TicketPrinted,
    PrintFailed,
    Announced,
    AnnouncementFailed,
    ReservationsChanged,
)


def notice(message) -> tuple[str, dict]:
    """A bus message as the screens' event stream carries it: a name and public data only
    (ticket numbers and room names; never ticket keys, reservation ids or payer numbers)."""
    if isinstance(message, events.Event):
        return "queue", {
            "event": message.NAME,
            "label": getattr(message, "label", None),
            "call": isinstance(message, TicketCalled),
            "destination": getattr(message, "destination", None),
        }
    if isinstance(message, ScanRecorded):
        return "scan", {
            "id": message.id,
            "ok": message.ok,
            "code": message.code,
            "message": message.message,
            "label": message.label,
        }
    if isinstance(message, DeviceChanged):
        return "device", {"device": message.device, "ok": message.ok, "message": message.message}
    if isinstance(message, TicketPrinted):
        return "printed", {"label": message.label}
    if isinstance(message, PrintFailed):
        return "print-failed", {"label": message.label, "message": message.message, "final": message.final}
    if isinstance(message, Announced):
        return "announced", {"label": message.label, "destination": message.destination}
    if isinstance(message, AnnouncementFailed):
        return "announce-failed", {"label": message.label, "message": message.message}
    return "reservations", {"applied": message.applied}


@bp.get("/events", endpoint="events")
def stream():
    """Server-sent events: queue changes, calls, scans and device status, as they happen.

    Each stream holds a server thread, so streams are capped (503 above the cap; the browser
    retries), leaving threads for the kiosk and staff actions. A stream lasts at most
    ``EVENT_STREAM_SECONDS`` (app config; STREAM_SECONDS by default); it holds no database
    connection while it waits.
    """
    r = rt()
    lifetime = float(current_app.config.get("EVENT_STREAM_SECONDS", STREAM_SECONDS))
    clock = current_app.config.get("EVENT_STREAM_CLOCK", time.monotonic)
    # a reconnecting EventSource sends the id of the last event it got; a new page sends none
    # (a page's first connection names the moment it was built instead: ?since=N)
    header = request.headers.get("Last-Event-ID", "") or request.args.get("since", "")
    last_id = int(header) if header.isascii() and header.isdigit() and len(header) < 19 else 0
    if last_id > r.bus.last_id:  # an id from before this node restarted: the numbers began again
        last_id = 0
    who = request.remote_addr or ""
    with r.streams_lock:
        if not is_loopback(who) and r.streams_per_client.get(who, 0) >= STREAMS_PER_CLIENT:
            return error("Terlalu banyak layar dari perangkat ini; mencoba lagi.", 503)
        if not r.stream_slots.acquire(blocking=False):
            return error("Terlalu banyak layar terhubung; mencoba lagi.", 503)
        r.streams_per_client[who] = r.streams_per_client.get(who, 0) + 1
    sub = r.bus.subscribe(*STREAMED)
    stopping = r.stop
    deadline = clock() + lifetime
    missed = r.bus.since(last_id, STREAMED) if last_id else []

    def frame(posted) -> str:
        name, data = notice(posted.message)
        return f"id: {posted.id}\nevent: {name}\ndata: {json.dumps(data)}\n\n"

    def body():
        r.db.release()  # back to the pool: a TV waits for minutes without touching the database
        yield f"retry: {RETRY_MS}\n\n"
        sent = last_id
        for posted in missed:  # what happened while this screen was reconnecting
            yield frame(posted)
            sent = posted.id
        idle = 0.0
        while not stopping.is_set() and clock() < deadline:
            posted = sub.get(timeout=1.0)
            if posted is None:
                idle += 1.0
                if idle >= KEEPALIVE_SECONDS:
                    idle = 0.0
                    yield ": keep-alive\n\n"
                continue
            idle = 0.0
            if posted.id > sent:
                sent = posted.id
                yield frame(posted)

    def release():
        sub.close()
        with r.streams_lock:
            r.streams_per_client[who] -= 1
            if not r.streams_per_client[who]:
                del r.streams_per_client[who]
        r.stream_slots.release()

    resp = Response(
        stream_with_context(body()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    resp.call_on_close(release)
    return resp


class BadBody(Exception):
    """A JSON body nothing should read: too deep, or text no database can store."""


def _json_body() -> dict:
    """The request's JSON object ({} when there is none); raises BadBody (answered 400)."""
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except RecursionError:  # nesting deeper than the parser goes
        raise BadBody from None
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    for key, value in body.items():
        for text in (key, value):
            if isinstance(text, str):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:  # a lone surrogate ("\\ud800")
                    raise BadBody from None
            elif isinstance(text, (dict, list)):
                raise BadBody
    return body


@bp.errorhandler(BadBody)
def _bad_body(_e):
    return error("Data tidak valid. Kirim sebuah objek JSON berisi teks.", 400)


@bp.post("/staff/login")
def staff_login():
    """Sign in for the JSON API (scripts, tests): sets the session cookie; send the answered
    ``csrf_token`` as ``X-CSRF-Token`` with every POST."""
    body = _json_body()
    try:
        staff = auth.sign_in(str(body.get("username", "")), str(body.get("password", "")), request.remote_addr or "")
    except ValueError as exc:
        return error(str(exc), 429 if isinstance(exc, auth.TooManyTries) else 401)
    session.clear()
    session["sk"] = auth.open_session(staff)
    return jsonify({"username": staff.username, "role": staff.role, "csrf_token": auth.csrf_token()})


@bp.post("/kiosk/walkin")
@auth.kiosk_required
def walkin():
    body = _json_body()
    svc = rt().service
    if not auth.kiosk_may_issue():
        return error("Terlalu banyak tiket dalam satu menit. Tunggu sebentar.", 429)
    try:
        with svc.unit():  # the answer is built before the ticket is kept: a failure leaves nothing
            # never a priority number: those are given by staff at the loket (who see the patient)
            t = svc.issue_walkin(str(body.get("payer", "")))
            answer = ticket_json(t)
    except QueueError as exc:
        return error(str(exc))
    return jsonify(answer), 201


@bp.post("/kiosk/bpjs")
@auth.kiosk_required
def kiosk_bpjs():
    """The kiosk's "Pasien BPJS" as JSON: ``{"nomor": card number or NIK, "lanjut": "bpjs"}``.

    201 with the ticket and ``membership`` (status, label, message; ``checked_in`` when today's
    booking made with the number was checked in instead). A refused membership without
    ``lanjut`` gives 409 with what BPJS said and what to do, and issues nothing.
    """
    body = _json_body()
    svc = rt().service
    number = idents.normalise(str(body.get("nomor", "")))
    if not number:
        return error(
            "Nomor kartu BPJS harus 13 digit, NIK 16 digit. Periksa kembali nomornya.",
            fields={"nomor": "13 atau 16 digit"},
        )
    if not auth.kiosk_may_issue():
        return error("Terlalu banyak tiket dalam satu menit. Tunggu sebentar.", 429)
    try:
        with svc.unit():
            t = svc.check_in_number(number, events.KIOSK)
            if t is not None:
                return jsonify({**ticket_json(t), "checked_in": True}), 201
    except CheckinRefused as exc:
        return error(str(exc), 409 if exc.code == "again" else 422, code=exc.code)
    checked = svc.bpjs.check(number)
    membership = {"status": checked.membership, "label": checked.label, "message": checked.message}
    if checked.refused and body.get("lanjut") != "bpjs":
        return error(checked.message, 409, code="membership", membership={**membership, "advice": checked.advice})
    try:
        with svc.unit():
            t = svc.issue_bpjs_walkin(number, checked, events.KIOSK)
            answer = {**ticket_json(t), "checked_in": False, "membership": membership}
    except QueueError as exc:
        return error(str(exc))
    return jsonify(answer), 201


@bp.post("/kiosk/scan")
@auth.kiosk_required
def scan():
    """Check in a QR text typed or pasted at the kiosk (same path as the scanner)."""
    text = str(_json_body().get("text", ""))
    try:
        t = rt().service.check_in(text, actor=events.KIOSK)
    except CheckinRefused as exc:
        return error(str(exc), 409 if exc.code == "again" else 422, code=exc.code)
    return jsonify(ticket_json(t)), 201


@bp.post("/kiosk/nilai", endpoint="kiosk_rating")
@auth.kiosk_required
def kiosk_rating():
    """The kiosk's rating ("Bagaimana layanan kami?"): ``{"rating": 1..5, "poli": "UMUM" or ""}``."""
    body = _json_body()
    if not auth.kiosk_may_rate():
        return error("Terlalu banyak penilaian dalam satu menit. Tunggu sebentar.", 429)
    try:
        event = rt().service.give_feedback(body.get("rating"), body.get("poli") or "")
    except QueueError as exc:
        return error(str(exc), fields={"rating" if "nilai" in str(exc) else "poli": str(exc)})
    return jsonify({"rating": event.rating, "poli": event.poli, "message": "Terima kasih atas penilaian Anda."}), 201


@bp.get("/kiosk/scans")
@auth.kiosk_required
def scans():
    after = min(max(request.args.get("after", 0, type=int), 0), 2**62)  # SQLite integers are 64-bit
    rows = ScanLog.select().where(ScanLog.id > after).order_by(ScanLog.id).limit(50)
    return jsonify(
        [{"id": s.id, "at": s.at, "ok": s.ok, "code": s.code, "message": s.message, "label": s.label} for s in rows]
    )


@bp.post("/counters/<counter_id>/next")
@auth.staff_required("counter_id", act=True)
def call_next(counter_id):
    svc = rt().service
    try:
        with svc.unit():
            t = svc.call_next(counter_id, actor=Actor(counter_id, g.staff.username))
            answer = ticket_json(t) if t else None
    except QueueError as exc:
        return error(str(exc), 404)
    if answer is None:
        return error("Tidak ada antrean yang menunggu.", 404)
    return jsonify(answer)


@bp.post("/counters/<counter_id>/prioritas")
@auth.staff_required("counter_id", act=True)
def priority_number(counter_id):
    """A priority number issued by staff at a loket: ``{"payer": "UMUM" or "BPJS", "kelas":
    "lansia", "disabilitas" or "ibu_hamil"}``; 201 with the ticket (the kiosk never gives one)."""
    if not counter_id.startswith("loket-"):
        return error("Nomor prioritas hanya dibuat di loket pendaftaran.", 404)
    body = _json_body()
    kelas = body.get("kelas")
    if not isinstance(kelas, str) or kelas not in PRIORITY_CLASSES:
        return error(
            "Kelas prioritas tidak dikenal. Pilih lansia (≥ 60 th), disabilitas atau ibu_hamil.",
            fields={"kelas": "lansia, disabilitas atau ibu_hamil"},
        )
    svc = rt().service
    try:
        with svc.unit():
            t = svc.issue_walkin(
                str(body.get("payer", "")), actor=Actor(counter_id, g.staff.username), priority_class=kelas
            )
            answer = {**ticket_json(t), "kelas": t.priority_class}
    except QueueError as exc:
        return error(str(exc))
    return jsonify(answer), 201


@bp.post("/tickets/<key>/<action>")
@auth.staff_required(act=True)
def act(key, action):
    if action not in ("recall", "serve", "finish", "no_show", "transfer", "cancel", "reprint"):
        return error("Aksi tidak dikenal.", 404)
    svc = rt().service
    t = Ticket.get_or_none(Ticket.key == key)
    if t is None:
        return error("Antrean tidak ditemukan.", 404)
    counter = t.counter or ("loket-1" if t.queue in REG_QUEUES else f"poli-{t.poli}")
    if not auth.may_use(g.staff, counter):
        return error("Antrean ini bukan milik loket/poli Anda.", 403)
    try:
        with svc.unit():
            if action == "reprint":
                svc.reprint(key)
                return jsonify({"ok": True})
            t = svc.act(
                key,
                action,
                to_poli=_json_body().get("poli") or request.form.get("poli"),
                actor=Actor(t.counter or counter, g.staff.username),
            )
            answer = ticket_json(t)
    except QueueError as exc:
        return error(str(exc), 409)
    return jsonify(answer)
