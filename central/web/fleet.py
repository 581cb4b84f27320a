"""Back office: the fleet of edge nodes (admin kabupaten only).

``/petugas/node/`` shows the alerts (red, then amber) and every live node (a table on a laptop,
cards on a phone), refreshed every 30 s by ``static/fleet.js``, which fetches the same page's
body (``?bagian=isi``). ``/petugas/node/data.json`` is the same content as JSON.

``POST /petugas/node/tangani`` (node, kind, note; CSRF like every form) marks an alert "sedang
ditangani" with a short note, shown beside it until the alert clears by itself.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for

from central import fleet as fleetview
from central.services import ValidationError
from central.web import backoffice
from central.web.staff import roles

bp = Blueprint("fleet", __name__, url_prefix="/petugas/node")

REFRESH_S = 30


def anchor(node_id: str, kind: str) -> str:
    """The alert's element id on the page (node ids and kinds are letters, digits and dashes)."""
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch == "-") else "-" for ch in f"{node_id}--{kind}")
    return "peringatan-" + safe


def _context() -> dict:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    nodes, alerts = fleetview.overview(now)
    for a in alerts:
        a["anchor"] = anchor(a["node_id"], a["kind"])
    return {
        "nodes": nodes,
        "alerts": alerts,
        "generated_text": fleetview.wib(now, now),
        "generated_at": now.isoformat(timespec="seconds") + "Z",
        "central_version": fleetview.software_version(),
        "online": sum(1 for n in nodes if n["online"]),
        "note_max": fleetview.NOTE_MAX,
        "note_error": None,
    }


@bp.route("/")
@roles(*backoffice.KABUPATEN)
def index():
    context = _context()
    if request.args.get("bagian") == "isi":  # the refresh fetches only the part that changes
        response = render_template("fleet_body.html", **context)
        return response, 200, {"Cache-Control": "no-store"}
    every = request.args.get("setiap", "")
    refresh_s = int(every) if every.isdigit() and 1 <= int(every) <= 300 else REFRESH_S
    return render_template("fleet.html", refresh_s=refresh_s, **context), 200, {"Cache-Control": "no-store"}


@bp.route("/tangani", methods=["POST"])
@roles(*backoffice.KABUPATEN)
def handle():
    """Mark an alert "sedang ditangani" with a note (or change its note)."""
    node_id = request.form.get("node", "")[:80]
    kind = request.form.get("kind", "")[:40]
    note = request.form.get("note", "")
    try:
        fleetview.mark_handling(g.staff, node_id, kind, note)
    except ValidationError as e:
        context = _context()
        context["note_error"] = {
            "anchor": anchor(node_id, kind),
            "message": e.errors.get("note", e.message),
            "value": note[: fleetview.NOTE_MAX * 2],
        }
        return render_template("fleet.html", refresh_s=REFRESH_S, **context), 400, {"Cache-Control": "no-store"}
    except fleetview.NoSuchAlert as e:
        flash(e.message, "error")
        return redirect(url_for("fleet.index"))
    flash("Peringatan ditandai sedang ditangani. Catatan tampil sampai peringatan pulih dengan sendirinya.", "ok")
    return redirect(url_for("fleet.index") + "#" + anchor(node_id, kind))


@bp.route("/data.json")
def data():
    if g.staff is None:
        return jsonify({"error": "Masuk sebagai petugas terlebih dahulu.", "fields": {}}), 401
    if g.staff.role not in backoffice.KABUPATEN:
        return jsonify({"error": "Peran Anda tidak boleh membuka halaman ini.", "fields": {}}), 403
    context = _context()
    body = {
        "generated_at": context["generated_at"],
        "central_version": context["central_version"],
        "alerts": context["alerts"],
        "nodes": context["nodes"],
    }
    return jsonify(body), 200, {"Cache-Control": "no-store"}
