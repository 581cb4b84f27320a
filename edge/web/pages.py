"""HTML pages of the edge: kiosk (APM), staff calling page and TV boards."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from edge.core import queue as q
from edge.models import Ticket
from edge.services import QueueError

bp = Blueprint("pages", __name__)


def rt():
    return current_app.extensions["rosma"]


@bp.context_processor
def common():
    r = rt()
    return {"puskesmas": r.config.puskesmas_name, "devices": r.status.snapshot()}


@bp.get("/")
def index():
    return render_template("index.html", counters=rt().service.counters())


@bp.get("/kiosk")
def kiosk():
    return render_template("kiosk.html")


@bp.post("/kiosk/ambil")
def kiosk_take():
    try:
        t = rt().service.issue_walkin(request.form.get("payer", ""), priority=request.form.get("priority") == "1")
    except QueueError as exc:
        return render_template("kiosk_result.html", error=str(exc)), 400
    return render_template(
        "kiosk_result.html", ticket=t, queue_name=rt().service.queue_name(t.queue), ahead=rt().service.waiting_ahead(t)
    )


@bp.get("/kiosk/scan")
def kiosk_scan():
    return render_template("kiosk_scan.html")


@bp.get("/staff")
def staff():
    return render_template("staff_index.html", counters=rt().service.counters())


@bp.get("/staff/<counter_id>")
def staff_counter(counter_id):
    svc = rt().service
    try:
        counter = svc.counter(counter_id)
    except QueueError:
        abort(404)
    board = svc.board()
    waiting = {name: board["queues"][name] for name in counter["queues"]}
    return render_template(
        "staff.html",
        counter=counter,
        current=svc.current(counter_id),
        waiting=waiting,
        polis=rt().config.polis,
        is_loket=counter_id.startswith("loket-"),
        states=q.STATE_LABELS,
    )


@bp.post("/staff/<counter_id>/next")
def staff_next(counter_id):
    try:
        t = rt().service.call_next(counter_id)
        flash(f"Memanggil {t.label}" if t else "Tidak ada antrian yang menunggu.")
    except QueueError as exc:
        flash(str(exc))
    return redirect(url_for("pages.staff_counter", counter_id=counter_id))


@bp.post("/staff/<counter_id>/prioritas")
def staff_priority(counter_id):
    """A priority number (lansia, disabilitas, ibu hamil) issued by staff at the loket."""
    try:
        t = rt().service.issue_walkin(request.form.get("payer", ""), priority=True)
        flash(f"Nomor prioritas {t.label} dibuat dan dicetak.")
    except QueueError as exc:
        flash(str(exc))
    return redirect(url_for("pages.staff_counter", counter_id=counter_id))


@bp.post("/staff/<counter_id>/<key>/<action>")
def staff_act(counter_id, key, action):
    if action not in ("recall", "serve", "finish", "no_show", "transfer", "reprint"):
        abort(404)
    svc = rt().service
    try:
        if action == "reprint":
            svc.reprint(key)
            flash("Tiket dicetak ulang.")
        else:
            t = svc.act(key, action, to_poli=request.form.get("poli"))
            if action == "transfer":
                flash(f"{t.label} diteruskan ke {rt().config.poli(request.form['poli'])['name']}.")
            else:
                flash(f"{t.label}: {q.STATE_LABELS[t.state]}")
    except QueueError as exc:
        flash(str(exc))
    return redirect(url_for("pages.staff_counter", counter_id=counter_id))


@bp.get("/tv")
@bp.get("/tv/<section>")
def tv(section="semua"):
    if section not in ("semua", "pendaftaran", "poli"):
        abort(404)
    return render_template("tv.html", section=section)


@bp.get("/tiket/<key>")
def ticket(key):
    t = Ticket.get_or_none(Ticket.key == key)
    if t is None:
        abort(404)
    return render_template(
        "kiosk_result.html", ticket=t, queue_name=rt().service.queue_name(t.queue), ahead=rt().service.waiting_ahead(t)
    )
