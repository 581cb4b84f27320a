"""Back office: the fleet of edge nodes (admin kabupaten only).

``/petugas/node/`` shows the alerts (red, then amber) and every live node (a table on a laptop,
cards on a phone), refreshed every 30 s by ``static/fleet.js``, which fetches the same page's
body (``?bagian=isi``). ``/petugas/node/data.json`` is the same content as JSON.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, g, jsonify, render_template, request

from central import fleet as fleetview
from central.web import backoffice
from central.web.staff import roles

bp = Blueprint("fleet", __name__, url_prefix="/petugas/node")

REFRESH_S = 30


def _context() -> dict:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    nodes, alerts = fleetview.overview(now)
    return {
        "nodes": nodes,
        "alerts": alerts,
        "generated_text": fleetview.wib(now, now),
        "generated_at": now.isoformat(timespec="seconds") + "Z",
        "central_version": fleetview.software_version(),
        "online": sum(1 for n in nodes if n["online"]),
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
