"""Reservation pages: the booking form, a booking with its QR code, cancel, history."""

from __future__ import annotations

import base64

from flask import Blueprint, Response, current_app, flash, g, jsonify, redirect, render_template, request, url_for

from central import bpjs_membership, push, runtime, services
from central.core import reservations as rules
from central.core import schedule
from central.core.calendar import format_date
from central.web.auth import login_required
from central.web.errors import http_error

bp = Blueprint("booking", __name__)

FIELDS = ("puskesmas", "payer", "bpjs_no", "poli", "date", "slot")


def _days() -> int:
    return current_app.extensions["rosma.config"].booking_days


def _own(rid: str):
    try:
        return services.get_reservation(g.patient, rid)
    except services.NotFoundError as e:
        raise http_error(404, e.message) from None


def _form_context(values: dict) -> dict:
    places = services.list_puskesmas()
    chosen = next((p for p in places if p.code == values.get("puskesmas")), None)
    poli = next((x for x in chosen.poli_list if x.code == values.get("poli")), None) if chosen else None
    # closed days (holidays, days no poli serves) are not offered; the slot list holds every
    # slot of the puskesmas's poli, and the page's script keeps those of the chosen poli and date
    dates = services.booking_window(_days(), runtime.now(), place=chosen, poli=poli)
    weeks = [services.poli_hours(x) for x in (chosen.poli_list if chosen else [x for p in places for x in p.poli_list])]
    slots = sorted({s for week in weeks for s in schedule.all_slots(week)}) or list(rules.SLOTS)
    return {
        "places": places,
        "chosen": chosen,
        "polis": {p.code: [[x.code, x.name] for x in p.poli_list] for p in places},
        "dates": [(d.isoformat(), format_date(d)) for d in dates],
        "slots": slots,
        "slot_hint": (
            f"Jam reservasi {poli.name}: {schedule.describe(services.poli_hours(poli))}."
            if poli is not None
            else "Jumat hanya sampai pukul 11.00. Minggu dan hari libur tutup."
        ),
        "payers": rules.PAYERS,
    }


@bp.route("/reservasi/baru", methods=["GET", "POST"])
@login_required
def new():
    """The booking form. Without JavaScript, "Tampilkan poli" reloads it for the chosen puskesmas."""
    values = {name: "" for name in FIELDS}
    values["payer"] = "UMUM"
    values["puskesmas"] = request.args.get("puskesmas", "").strip().lower()
    errors: dict[str, str] = {}
    error = None
    bpjs = None  # a refused BPJS check: what BPJS said, and the offer to book as Umum
    status = 200
    if request.method == "POST":
        values = {name: request.form.get(name, "").strip() for name in FIELDS}
        if request.form.get("step") != "poli":
            try:
                reservation = services.reserve(
                    g.patient,
                    values["puskesmas"],
                    values["poli"],
                    values["date"],
                    values["slot"],
                    values["payer"],
                    values["bpjs_no"],
                    days=_days(),
                    now=runtime.now(),
                    client=request.remote_addr or "",
                )
            except services.ValidationError as e:
                errors, status = e.errors, 400
                bpjs = getattr(e, "outcome", None)
                error = e.message if bpjs else None
            except services.ServiceError as e:
                error, status = e.message, e.status
            else:
                flash("Reservasi berhasil dibuat.", "ok")
                return redirect(url_for("booking.detail", rid=reservation.rid))
    context = _form_context(values)
    return (
        render_template("reservation_new.html", values=values, errors=errors, error=error, bpjs=bpjs, **context),
        status,
    )


@bp.route("/reservasi/<rid>")
@login_required
def detail(rid: str):
    """One booking with its QR code, ready to show at the APM kiosk."""
    reservation = _own(rid)
    qr_data = base64.b64encode(services.qr_png(reservation.qr_text)).decode()
    today = runtime.now().date()
    return render_template(
        "reservation.html",
        r=reservation,
        bpjs=bpjs_membership.outcome_of(reservation),
        qr_data=qr_data,
        can_cancel=rules.can_cancel(reservation.status, reservation.date, today),
        can_notify=reservation.status in (rules.ACTIVE, rules.CHECKED_IN) and reservation.date >= today,
        notified=push.subscribed(reservation),
        show_qr=reservation.status == rules.ACTIVE and reservation.date >= today,
    )


@bp.route("/reservasi/<rid>/qr.png")
@login_required
def qr(rid: str):
    """The booking's QR code as a PNG (only for its owner); ``?unduh=1`` downloads it."""
    reservation = _own(rid)
    response = Response(services.qr_png(reservation.qr_text), mimetype="image/png")
    if request.args.get("unduh"):
        response.headers["Content-Disposition"] = f'attachment; filename="rosma-{reservation.rid}.png"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/reservasi/<rid>/batal", methods=["POST"])
@login_required
def cancel(rid: str):
    """Cancel the booking and go back to it."""
    _own(rid)
    try:
        services.cancel(g.patient, rid, now=runtime.now())
    except services.ServiceError as e:
        flash(e.message, "error")
    else:
        flash("Reservasi sudah dibatalkan.", "ok")
    return redirect(url_for("booking.detail", rid=rid))


@bp.route("/reservasi/<rid>/umum", methods=["POST"])
@login_required
def to_umum(rid: str):
    """Book the same visit as Umum instead of BPJS, and go back to it (with its new QR)."""
    _own(rid)
    try:
        services.switch_to_umum(g.patient, rid, now=runtime.now())
    except services.ServiceError as e:
        flash(e.message, "error")
    else:
        flash("Cara bayar diganti ke Umum. Gunakan QR di bawah ini.", "ok")
    return redirect(url_for("booking.detail", rid=rid))


@bp.route("/push/kunci")
def push_key():
    """The application server key pages give ``PushManager.subscribe`` (public)."""
    return jsonify({"key": push.public_key()})


@bp.route("/reservasi/<rid>/pemberitahuan", methods=["POST"])
@login_required
def push_on(rid: str):
    """Her browser's push subscription for this booking's ticket ("3 nomor lagi", "dipanggil")."""
    reservation = _own(rid)
    if reservation.status not in (rules.ACTIVE, rules.CHECKED_IN) or reservation.date < runtime.now().date():
        return jsonify({"error": "Pemberitahuan hanya untuk reservasi yang masih aktif."}), 409
    try:
        push.subscribe(reservation, request.get_json(silent=True))
    except push.SubscriptionError as e:
        return jsonify({"error": str(e)}), 400
    return jsonify(
        {"message": "Pemberitahuan aktif: kami kabari saat tinggal 3 nomor lagi dan saat nomor Anda dipanggil."}
    ), 201


@bp.route("/reservasi/<rid>/pemberitahuan/berhenti", methods=["POST"])
@login_required
def push_off(rid: str):
    push.unsubscribe(_own(rid))
    return jsonify({"message": "Pemberitahuan dimatikan."})


@bp.route("/riwayat")
@login_required
def history():
    """Every booking of the patient, latest first."""
    reservations = services.history(g.patient)
    bpjs = {r.id: bpjs_membership.outcome_of(r) for r in reservations}
    return render_template("history.html", reservations=reservations, bpjs=bpjs)
