"""Kritik & saran on the web.

Patients (``/kritik-saran``, signed in): rate a puskesmas 1-5 with a short text, optionally about
one of their visits, and read the puskesmas's answers (also on ``/riwayat``, beside the visit).

Back office (``/petugas/kritik-saran/``). Roles: ``VIEWERS`` (admin kabupaten: every puskesmas;
admin puskesmas and kepala puskesmas: their own); petugas get 403, another puskesmas 403. They
filter the list, mark an item followed up and answer it. Only the patient's first name shows.
"""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from central import feedback as service
from central import runtime, services
from central.core.calendar import MONTH_NAMES
from central.web.auth import login_required
from central.web.backoffice import VIEWERS
from central.web.errors import http_error
from central.web.staff import roles

bp = Blueprint("feedback", __name__)
admin_bp = Blueprint("feedback_admin", __name__, url_prefix="/petugas/kritik-saran")

THANKS = "Terima kasih! Kritik & saran Anda sudah kami terima dan akan dibaca petugas puskesmas."


@bp.app_template_global("feedback_by_visit")
def feedback_by_visit(patient) -> dict:
    """For the history page: the patient's kritik & saran per reservation id."""
    return service.by_visit(patient) if patient is not None else {}


@bp.app_template_global("feedback_average")
def feedback_average(place) -> tuple:
    """For the puskesmas page: (average rating, how many ratings)."""
    return service.average_rating(place)


@bp.app_template_global("feedback_today")
def feedback_today():
    """Today in WIB on the app's clock (the history page offers kritik & saran for visits up to today)."""
    return runtime.now().date()


def _stars(rating: int) -> str:
    return "★" * rating + "☆" * (5 - rating)


@bp.app_template_filter("bintang")
def stars_filter(rating) -> str:
    """``★★★☆☆`` for a rating of 3."""
    return _stars(int(rating or 0))


def _visit_label(r) -> str:
    """``29 Nov 2026 · Poli Gigi``: short enough for a phone's select (grouped by puskesmas)."""
    return f"{r.date.day} {MONTH_NAMES[r.date.month - 1][:3]} {r.date.year} · {r.poli.name}"


def _form(values: dict, errors: dict, error: str | None = None, status: int = 200):
    today = runtime.now().date()
    visits = service.visits_of(g.patient, today)
    sent = service.mine(g.patient)
    return render_template(
        "feedback.html",
        values=values,
        errors=errors,
        error=error,
        places=services.list_puskesmas(),
        visits=[
            {"rid": r.rid, "label": _visit_label(r), "code": r.puskesmas.code, "place": r.puskesmas.name}
            for r in visits
        ],
        sent=sent,
        sent_visits=service.visits_by_rid(fb.rid for fb in sent),
        ratings=service.RATINGS,
        statuses=service.STATUSES,
        max_text=service.MAX_TEXT,
    ), status


@bp.route("/kritik-saran", methods=["GET", "POST"])
@login_required
def form():
    """The form and the patient's sent kritik & saran with the answers.

    ``?kunjungan=<rid>`` (from the history page) chooses that visit and its puskesmas."""
    values = {"puskesmas": "", "rid": "", "rating": "", "text": ""}
    if request.method == "GET":
        rid = request.args.get("kunjungan", "").strip()[:32]
        if rid:
            try:
                visit = services.get_reservation(g.patient, rid)
            except services.NotFoundError:
                visit = None
            if visit is not None:
                values.update(rid=visit.rid, puskesmas=visit.puskesmas.code)
        else:
            values["puskesmas"] = request.args.get("puskesmas", "").strip().lower()[:32]
        return _form(values, {})
    values = {name: request.form.get(name, "") for name in values}
    try:
        service.submit(
            g.patient,
            values["puskesmas"],
            values["rating"],
            values["text"],
            rid=values["rid"] or None,
            source="web",
            client=request.remote_addr or "",
            now=runtime.now(),
        )
    except services.ValidationError as e:
        return _form(values, e.errors, status=400)
    except service.TooMany as e:
        return _form(values, {}, e.message, status=429)
    flash(THANKS, "ok")
    return redirect(url_for("feedback.form") + "#terkirim")


# ---- back office --------------------------------------------------------------------------------
def _raise(e: services.ServiceError):
    raise http_error(e.status, e.message) from None


@admin_bp.route("/")
@roles(*VIEWERS)
def index():
    """The list with its filters and summary."""
    filters = service.Filters.of(request.args)
    errors: dict[str, str] = {}
    try:
        listing = service.list_for(g.staff, filters, today=runtime.now().date())
    except services.ValidationError as e:
        errors = e.errors
        listing = service.list_for(g.staff, service.Filters(puskesmas=filters.puskesmas), today=runtime.now().date())
    except (service.Forbidden, service.NotFound) as e:
        _raise(e)
    status = 400 if errors else 200
    kabupaten = g.staff.role == "admin_kabupaten"
    return render_template(
        "feedback_admin.html",
        listing=listing,
        filters=filters,
        errors=errors,
        kabupaten=kabupaten,
        places=service.places_for(g.staff, service.EVERY if kabupaten else ""),
        every=service.EVERY,
        ratings=service.RATINGS,
        statuses=service.STATUSES,
        max_text=service.MAX_TEXT,
        answering=request.args.get("jawab", ""),
        answer_errors={},
        answer_value="",
        from_kiosk=listing.from_kiosk,
        polis=listing.polis,
        no_poli=service.NO_POLI,
    ), status


def _back(fb_id: int):
    target = request.form.get("kembali", "")
    if not target.startswith("/petugas/kritik-saran/") or "//" in target or "\\" in target:
        target = url_for("feedback_admin.index")
    return redirect(f"{target.split('#')[0]}#ks-{fb_id}")


def _get(feedback_id: int):
    try:
        return service.get_for(g.staff, feedback_id)
    except (service.Forbidden, service.NotFound) as e:
        _raise(e)


@admin_bp.route("/<int(max=2147483647):feedback_id>/tindak-lanjut", methods=["POST"])
@roles(*VIEWERS)
def follow_up(feedback_id: int):
    """Mark one as followed up."""
    fb = _get(feedback_id)
    service.follow_up(g.staff, fb, now=runtime.now())
    flash("Kritik & saran ditandai sudah ditindaklanjuti.", "ok")
    return _back(fb.id)


@admin_bp.route("/<int(max=2147483647):feedback_id>/jawab", methods=["GET", "POST"])
@roles(*VIEWERS)
def answer(feedback_id: int):
    """Answer one (the patient reads it in her history). GET shows the form on its own."""
    fb = _get(feedback_id)
    errors: dict[str, str] = {}
    value = fb.answer
    if request.method == "POST":
        value = request.form.get("answer", "")
        try:
            service.answer(g.staff, fb, value, now=runtime.now())
        except services.ValidationError as e:
            errors = e.errors
        else:
            flash("Jawaban tersimpan. Pasien dapat membacanya di riwayatnya.", "ok")
            return _back(fb.id)
    visit = service.visits_by_rid([fb.rid]).get(fb.rid)
    item = service.Item(
        fb=fb,
        first_name=(fb.patient.name.split() or [""])[0] if fb.patient_id else "",
        visit=visit,
        status=service.status_of(fb),
        poli_name=service.poli_label(fb, visit, service.poli_names([fb.puskesmas_id])),
    )
    return render_template(
        "feedback_answer.html",
        item=item,
        errors=errors,
        value=value,
        statuses=service.STATUSES,
        ratings=service.RATINGS,
        max_text=service.MAX_TEXT,
        back=request.values.get("kembali", ""),
    ), (400 if errors else 200)
