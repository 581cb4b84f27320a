"""HTML pages of the edge: kiosk (APM), staff calling page and TV boards."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from edge import bpjs_check
from edge.bpjs_check import Checked
from edge.core import queue as q
from edge.models import Ticket
from edge.services import PRIORITY_BADGES, PRIORITY_CLASSES, CheckinRefused, QueueError
from edge.web import auth
from protocol import events, idents
from protocol.events import Actor

log = logging.getLogger(__name__)
bp = Blueprint("pages", __name__)

ROLE_NAMES = {
    "admin_kabupaten": "Admin Dinas Kesehatan",
    "admin_puskesmas": "Admin puskesmas",
    "kepala_puskesmas": "Kepala puskesmas",
    "petugas_loket": "Petugas loket",
    "petugas_poli": "Petugas poli",
}
PRINT_LABELS = {"pending": "menunggu cetak", "printed": "tercetak", "failed": "gagal", "expired": "tidak tercetak"}


def rt():
    return current_app.extensions["rosma"]


@bp.before_request
def _mark_events():
    # a page shows the state as of now: its event stream starts from here, so nothing that
    # happens between this moment and the browser connecting is missed
    g.events_since = rt().bus.last_id


@bp.app_context_processor
def common():
    r = rt()
    try:
        site, rev, closed = r.service.site(), r.service.site_rev(), r.service.closed_today()
    except Exception:  # the database is gone: the error page still names the puskesmas
        log.exception("could not read the site details")
        site = {
            "name": r.config.puskesmas_name,
            "address": "",
            "phone": "",
            "hours": "",
            "lokets": r.config.lokets,
            "running_text": "",
        }
        rev, closed = "", None
    return {
        "puskesmas": site["name"],
        "site": site,
        "site_rev": rev,
        "closed_today": closed,
        "devices": r.status.snapshot(),
        "events_since": g.get("events_since", 0),
    }


@bp.get("/")
def index():
    return render_template("index.html", counters=rt().service.counters())


@bp.get("/kiosk")
@auth.kiosk_required
def kiosk():
    return render_template("kiosk.html", polis=rt().service.polis())


def _printer_ok() -> bool:
    state = rt().status.get("printer")
    return state is None or state[0]


def _ticket_page(t: Ticket, *, bpjs: Checked | None = None, checkin_note: str = "") -> str:
    svc = rt().service
    print_state = svc.print_state(t.key)
    not_printed = print_state in ("failed", "expired") or (print_state == "pending" and not _printer_ok())
    return render_template(
        "kiosk_result.html",
        ticket=t,
        queue_name=svc.queue_name(t.queue),
        ahead=svc.waiting_ahead(t),
        not_printed=not_printed,
        bpjs=bpjs,
        bpjs_message=_kiosk_bpjs_message(bpjs) if bpjs is not None else "",
        checkin_note=checkin_note,
    )


def _kiosk_bpjs_message(c: Checked) -> str:
    """What the patient reads about her membership under her number (never printed, never on the TV)."""
    if c.refused:
        return "Sampaikan ke petugas loket saat dipanggil: kepesertaan BPJS Anda perlu diurus."
    if c.membership == bpjs_check.PENDING:
        return "Nomor antrean tetap dibuat; petugas loket memeriksa kepesertaan Anda saat dipanggil."
    return c.message


@bp.post("/kiosk/ambil")
@auth.kiosk_required
def kiosk_take():
    svc = rt().service
    if not auth.kiosk_may_issue():
        return render_template(
            "kiosk_result.html", error="Terlalu banyak tiket dalam satu menit. Tunggu sebentar."
        ), 429
    try:
        # the page is rendered before the ticket is kept: if rendering fails, no ticket exists,
        # nothing prints and nothing reaches central
        with svc.unit():
            t = svc.issue_walkin(request.form.get("payer", ""), priority=False)
            page = _ticket_page(t)
    except QueueError as exc:
        return render_template("kiosk_result.html", error=str(exc)), 400
    return page


BPJS_HINT = "Ketik nomor kartu BPJS (13 digit) atau NIK (16 digit) di bawah, atau pindai barcode kartu BPJS."
BPJS_BAD_NUMBER = "Nomor kartu BPJS harus 13 digit, NIK 16 digit. Periksa kembali nomornya."
CODE_HINT = (
    "Untuk pasien yang sudah reservasi (di Rosma atau Mobile JKN) tetapi tidak membawa QR: ketik kode booking, "
    "NIK, atau nomor kartu BPJS."
)
CHECKIN_BY_NUMBER = "Reservasi Anda hari ini ditemukan; check-in berhasil."


def _bpjs_form(error: str = "", value: str = "", status: int = 200):
    return render_template(
        "kiosk_keypad.html",
        title="Pasien BPJS",
        hint=BPJS_HINT,
        field_label="Nomor kartu BPJS atau NIK",
        placeholder="Nomor kartu / NIK",
        action=url_for("pages.kiosk_bpjs"),
        submit="Lanjut",
        letters=False,
        error=error,
        value=value,
        note="Sudah reservasi hari ini? Nomor yang sama juga menemukan reservasi Anda.",
    ), status


def _code_form(error: str = "", value: str = "", status: int = 200):
    return render_template(
        "kiosk_keypad.html",
        title="Check-in tanpa QR",
        hint=CODE_HINT,
        field_label="Kode booking, NIK atau nomor kartu BPJS",
        placeholder="Kode booking / NIK",
        action=url_for("pages.kiosk_code"),
        submit="Check-in",
        letters=True,
        error=error,
        value=value,
        note="",
    ), status


def _too_many():
    return render_template("kiosk_result.html", error="Terlalu banyak tiket dalam satu menit. Tunggu sebentar."), 429


@bp.get("/kiosk/bpjs")
@auth.kiosk_required
def kiosk_bpjs_form():
    """The kiosk's "Pasien BPJS": the card number or NIK on a large keypad."""
    return _bpjs_form()


@bp.post("/kiosk/bpjs")
@auth.kiosk_required
def kiosk_bpjs():
    """A BPJS patient gave her card number or NIK: today's booking made with it is checked in;
    otherwise PCare is asked (when this node can reach it) and a B ticket is issued. An inactive
    membership is told first, with the choice of Umum or the loket's help (``lanjut=bpjs``)."""
    svc = rt().service
    raw = request.form.get("nomor", "")
    number = idents.normalise(raw)
    if not number:
        kept = "".join(ch for ch in str(raw) if ch.isascii() and ch.isdigit())[:19]
        return _bpjs_form(BPJS_BAD_NUMBER, kept, 400)
    if not auth.kiosk_may_issue():
        return _too_many()
    try:
        with svc.unit():
            t = svc.check_in_number(number, events.KIOSK)
            if t is not None:
                return _ticket_page(t, checkin_note=CHECKIN_BY_NUMBER)
    except CheckinRefused as exc:
        return render_template("kiosk_result.html", error=str(exc)), 409 if exc.code == "again" else 422
    checked = svc.bpjs.check(number)  # not inside a transaction: PCare may take seconds
    if checked.refused and request.form.get("lanjut") != "bpjs":
        return render_template("kiosk_bpjs_refused.html", checked=checked, number=number)
    try:
        with svc.unit():
            t = svc.issue_bpjs_walkin(number, checked, events.KIOSK)
            page = _ticket_page(t, bpjs=checked)
    except QueueError as exc:
        return render_template("kiosk_result.html", error=str(exc)), 400
    return page


@bp.get("/kiosk/kode")
@auth.kiosk_required
def kiosk_code_form():
    """Check-in without a QR: the kode booking, NIK or BPJS card number on a keypad."""
    return _code_form()


@bp.post("/kiosk/kode")
@auth.kiosk_required
def kiosk_code():
    svc = rt().service
    raw = str(request.form.get("nomor", ""))
    kept = "".join(ch for ch in raw if ch.isascii() and ch.isalnum())[:32].upper()
    if not kept:
        return _code_form("Masukkan kode booking, NIK atau nomor kartu BPJS.", "", 400)
    if not auth.kiosk_may_issue():
        return _too_many()
    try:
        with svc.unit():
            t = svc.check_in_code(raw, events.KIOSK)
            page = _ticket_page(t, checkin_note="Check-in berhasil.")
    except CheckinRefused as exc:
        if exc.code in ("format", "unknown-code", "unknown-number"):
            return _code_form(str(exc), kept, 422)
        return render_template("kiosk_result.html", error=str(exc)), 409 if exc.code == "again" else 422
    return page


RATINGS_TOO_MANY = "Terlalu banyak penilaian dalam satu menit. Tunggu sebentar."


@bp.get("/kiosk/nilai")
@auth.kiosk_required
def kiosk_rating():
    """The kiosk's "Bagaimana layanan kami?": five big ratings and, optionally, the poli visited."""
    return render_template("kiosk_rating.html", polis=rt().service.polis(), ratings=rt().service.RATINGS)


@bp.post("/kiosk/nilai")
@auth.kiosk_required
def kiosk_rate():
    svc = rt().service
    if not auth.kiosk_may_rate():
        return render_template("kiosk_thanks.html", error=RATINGS_TOO_MANY), 429
    try:
        svc.give_feedback(request.form.get("rating", ""), request.form.get("poli", ""))
    except QueueError as exc:
        return render_template(
            "kiosk_rating.html",
            polis=svc.polis(),
            ratings=svc.RATINGS,
            error=str(exc),
            chosen=request.form.get("poli", ""),
        ), 400
    return render_template("kiosk_thanks.html")


@bp.get("/kiosk/scan")
@auth.kiosk_required
def kiosk_scan():
    return render_template("kiosk_scan.html")


@bp.get("/staff")
@auth.staff_required()
def staff():
    counters = [c for c in rt().service.counters() if auth.may_use(g.staff, c["id"])]
    return render_template(
        "staff_index.html",
        counters=counters,
        role=ROLE_NAMES.get(g.staff.role, g.staff.role),
        can_pair=g.staff.role in (*auth.ADMINS, "petugas_loket"),
        may_act=auth.may_act(g.staff),
    )


@bp.get("/staff/<counter_id>")
@auth.staff_required("counter_id")
def staff_counter(counter_id):
    svc = rt().service
    try:
        counter = svc.counter(counter_id)
    except QueueError:
        abort(404)
    board = svc.board()
    waiting = {name: board["queues"][name] for name in counter["queues"]}
    number = request.args.get("nomor", "").strip()[:8]
    current = svc.current(counter_id)
    return render_template(
        "staff.html",
        counter=counter,
        current=current,
        current_bpjs=svc.bpjs_statuses([current]).get(current.key) if current is not None else None,
        waiting=waiting,
        polis=rt().service.polis(),
        is_loket=counter_id.startswith("loket-"),
        states=q.STATE_LABELS,
        tickets=svc.todays_tickets(counter["queues"], number),
        priority_classes=PRIORITY_CLASSES,
        priority_badges=PRIORITY_BADGES,
        number=number,
        print_labels=PRINT_LABELS,
        may_act=auth.may_act(g.staff),
    )


def _back(counter_id):
    return redirect(url_for("pages.staff_counter", counter_id=counter_id))


def _actor(counter_id: str) -> Actor:
    return Actor(counter_id, g.staff.username)


@bp.post("/staff/<counter_id>/next")
@auth.staff_required("counter_id", act=True)
def staff_next(counter_id):
    try:
        t = rt().service.call_next(counter_id, actor=_actor(counter_id))
        flash(f"Memanggil {t.label}" if t else "Tidak ada antrean yang menunggu.")
    except QueueError as exc:
        flash(str(exc))
    return _back(counter_id)


@bp.post("/staff/<counter_id>/prioritas")
@auth.staff_required("counter_id", act=True)
def staff_priority(counter_id):
    """A priority number (lansia, disabilitas, ibu hamil) issued by staff at the loket."""
    if not counter_id.startswith("loket-"):
        abort(404)
    kelas = request.form.get("kelas", "")
    try:
        if kelas not in PRIORITY_CLASSES:
            raise QueueError("Pilih kelas prioritas: Lansia (≥ 60 th), Disabilitas atau Ibu hamil.")
        t = rt().service.issue_walkin(request.form.get("payer", ""), actor=_actor(counter_id), priority_class=kelas)
        flash(f"Nomor prioritas {t.label} ({PRIORITY_BADGES[kelas]}) dibuat dan dicetak.")
    except QueueError as exc:
        flash(str(exc))
    return _back(counter_id)


@bp.post("/staff/<counter_id>/checkin")
@auth.staff_required("counter_id", act=True)
def staff_checkin(counter_id):
    """Check a reservation in by its kode booking (Mobile JKN bookings have no QR), at a loket."""
    if not counter_id.startswith("loket-"):
        abort(404)
    svc = rt().service
    try:
        t = svc.check_in_code(request.form.get("kode", ""), actor=_actor(counter_id))
        flash(f"Check-in berhasil: nomor antrean {t.label}, {svc.queue_name(t.queue)}. Tiket dicetak.")
    except CheckinRefused as exc:
        flash(str(exc))
    return _back(counter_id)


@bp.post("/staff/<counter_id>/<key>/<action>")
@auth.staff_required("counter_id", act=True)
def staff_act(counter_id, key, action):
    if action not in ("recall", "serve", "finish", "no_show", "transfer", "reprint", "bpjs"):
        abort(404)
    svc = rt().service
    actor = _actor(counter_id)
    try:
        queues = svc.counter(counter_id)["queues"]
    except QueueError:
        abort(404)
    t = Ticket.get_or_none(Ticket.key == key)
    if t is None or t.queue not in queues:
        raise auth.Refused(403, "Antrean ini bukan milik loket/poli Anda.")
    try:
        if action == "reprint":
            t = svc.reprint(key)
            flash(f"Tiket {t.label} dicetak ulang.")
        elif action == "bpjs":
            t, checked = svc.check_bpjs(key, request.form.get("nomor", ""), actor=actor)
            flash(f"{t.label}: {checked.label}. {checked.message}")
        else:
            t = svc.act(key, action, to_poli=request.form.get("poli"), actor=actor)
            if action == "transfer":
                flash(f"{t.label} diteruskan ke {svc.poli(request.form['poli'], inactive=True)['name']}.")
            else:
                flash(f"{t.label}: {q.STATE_LABELS[t.state]}")
    except QueueError as exc:
        flash(str(exc))
    return _back(counter_id)


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
    return _ticket_page(t)
