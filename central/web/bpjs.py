"""Back office: the Antrean FKTP reports to BPJS (``/petugas/bpjs``). Roles: ``ADMINS``.

Admin puskesmas sees its own puskesmas, admin kabupaten every one (or one, ``?puskesmas=``):
today's counts (waiting, sent, failed), then the reports that failed or still wait, with the
reason and the tries. "Kirim ulang" (``POST /petugas/bpjs/kirim-ulang``, CSRF like every form)
puts a report back in the queue with a fresh count of tries; audited. Card numbers and NIKs are
never shown: a report is named by its ticket number, poli and day.
"""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from peewee import fn

from central import audit, bpjs_reports
from central.core.calendar import format_date
from central.models import BpjsReport, Puskesmas, database, utcnow
from central.web import backoffice
from central.web.errors import http_error
from central.web.staff import roles

bp = Blueprint("bpjs_antrean", __name__, url_prefix="/petugas/bpjs")

WIB = ZoneInfo("Asia/Jakarta")
LIST_MAX = 200
STATES = {"pending": "Menunggu", "sent": "Terkirim", "failed": "Gagal"}


def _wib(moment: dt.datetime | None) -> str:
    if moment is None:
        return ""
    return moment.replace(tzinfo=dt.UTC).astimezone(WIB).strftime("%d-%m-%Y %H.%M")


def _today_start() -> dt.datetime:
    """Midnight WIB of today, as the naive UTC the rows' times are stored in."""
    now = dt.datetime.now(WIB)
    return dt.datetime.combine(now.date(), dt.time(), WIB).astimezone(dt.UTC).replace(tzinfo=None)


def _places() -> tuple[list[Puskesmas], Puskesmas | None]:
    """The puskesmas shown: the staff member's own, or for admin kabupaten all (or the one asked)."""
    if g.staff.role == "admin_kabupaten":
        code = (request.values.get("puskesmas") or "").strip().lower()
        if code:
            place = backoffice.pick(g.staff, code)
            return [place], place
        return backoffice.scope(g.staff), None
    place = backoffice.pick(g.staff, None)
    return [place], place


def _row(r: BpjsReport, now: dt.datetime) -> dict:
    try:
        p = json.loads(r.payload)
    except ValueError:
        p = {}
    waiting = ""
    if r.state == "pending":
        if r.next_at is not None and r.next_at > now:
            waiting = f"Dicoba lagi {_wib(r.next_at)} WIB"
        else:
            waiting = "Segera dikirim"
    day = p.get("tanggal", "")
    try:
        day_text = format_date(dt.date.fromisoformat(day))
    except (TypeError, ValueError):
        day_text = day
    return {
        "id": r.id,
        "puskesmas": r.puskesmas.name,
        "kind": bpjs_reports.KINDS.get(r.kind, r.kind),
        "label": p.get("label", ""),
        "poli": p.get("poli_nama") or p.get("poli", ""),
        "day": day_text,
        "state": r.state,
        "state_text": STATES.get(r.state, r.state),
        "attempts": r.attempts,
        "error": r.last_error,
        "waiting": waiting,
        "created": _wib(r.created_at),
    }


def _context() -> dict:
    places, place = _places()
    ids = [p.id for p in places]
    now = utcnow()
    counts = dict.fromkeys(STATES, 0)
    if ids:
        today = (
            BpjsReport.select(BpjsReport.state, fn.COUNT(BpjsReport.id))
            .where(BpjsReport.puskesmas.in_(ids) & (BpjsReport.created_at >= _today_start()))
            .group_by(BpjsReport.state)
            .tuples()
        )
        counts.update(dict(today))
        open_rows = (
            BpjsReport.select(BpjsReport, Puskesmas)
            .join(Puskesmas)
            .where(BpjsReport.puskesmas.in_(ids) & BpjsReport.state.in_(("failed", "pending")))
            .order_by(BpjsReport.state, BpjsReport.id.desc())
            .limit(LIST_MAX)
        )
        rows = [_row(r, now) for r in open_rows]
    else:
        rows = []
    unconfigured = [p.name for p in places if bpjs_reports.for_puskesmas(p.code) is None]
    return {
        "places": backoffice.scope(g.staff) if g.staff.role == "admin_kabupaten" else [],
        "place": place,
        "kabupaten": g.staff.role == "admin_kabupaten",
        "counts": counts,
        "rows": [r for r in rows if r["state"] == "failed"],
        "pending": [r for r in rows if r["state"] == "pending"],
        "unconfigured": unconfigured,
        "all_unconfigured": len(unconfigured) == len(places),
        "list_max": LIST_MAX,
        "max_attempts": bpjs_reports.MAX_ATTEMPTS,
    }


@bp.route("/")
@roles(*backoffice.ADMINS)
def index():
    return render_template("bpjs_reports.html", **_context()), 200, {"Cache-Control": "no-store"}


@bp.route("/kirim-ulang", methods=["POST"])
@roles(*backoffice.ADMINS)
def resend():
    """Put a failed or waiting report back in the queue, to be sent at once."""
    raw = (request.form.get("id") or "").strip()
    row = BpjsReport.get_or_none(BpjsReport.id == int(raw)) if raw.isdigit() and len(raw) < 12 else None
    if row is None:
        raise http_error(404, "Laporan BPJS tidak ditemukan. Muat ulang halaman.")
    backoffice.pick(g.staff, row.puskesmas.code)  # 403 for another puskesmas
    back = url_for("bpjs_antrean.index", puskesmas=request.form.get("puskesmas") or None)
    if row.state == "sent":
        flash("Laporan ini sudah terkirim ke BPJS.", "ok")
        return redirect(back)
    before = {"state": row.state, "attempts": row.attempts, "last_error": row.last_error}
    with database.atomic():
        bpjs_reports.resend(row)
        audit.record(
            g.staff,
            "bpjs_report",
            f"{row.puskesmas.code}/{row.kind}/{row.id}",
            "update",
            before,
            {"state": "pending", "attempts": 0, "last_error": row.last_error},
            puskesmas_id=row.puskesmas_id,
        )
    flash("Laporan dikirim ulang ke BPJS dalam beberapa detik. Muat ulang halaman untuk melihat hasilnya.", "ok")
    return redirect(back)
