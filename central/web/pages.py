"""Public pages: home, puskesmas info, and the files that make the site an installable app."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, current_app, g, jsonify, render_template, request, url_for

from central import runtime, services, ticket_link
from central.core import reservations as rules
from central.queue_view import estimate_words, live_queue
from central.web.csp import CSP
from central.web.errors import http_error

bp = Blueprint("pages", __name__)

THEME = "#0f766e"


@bp.app_template_filter("kode_reservasi")
def reservation_code(rid: str) -> str:
    """A reservation code as patients read it out at the loket: capitals in groups of four
    (``442B 9B55 A3B0 A8BA``). Display only: the code itself stays as it is everywhere else."""
    text = (rid or "").upper()
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


bp.app_template_filter("perkiraan")(estimate_words)


@bp.route("/")
def home():
    """Login/register choice (or the patient's next bookings) and the list of puskesmas."""
    upcoming = []
    if g.patient is not None:
        today = runtime.now().date()
        upcoming = [r for r in services.history(g.patient) if r.status == rules.ACTIVE and r.date >= today][::-1][:3]
    return render_template("home.html", places=services.list_puskesmas(), upcoming=upcoming)


@bp.route("/puskesmas/<code>")
def puskesmas(code: str):
    """Address, hours, services and poli of one puskesmas."""
    try:
        place = services.get_puskesmas(code)
    except services.NotFoundError as e:
        raise http_error(404, e.message) from None
    info = [_info_line(line) for line in place.info.splitlines() if line.strip()]
    show_hours = "jam buka" not in place.info.lower()
    return render_template("puskesmas.html", place=place, info=info, show_hours=show_hours)


@bp.route("/antrian/<code>")
def queue(code: str):
    """The puskesmas' queue today, pushed live to the page; ``?nomor=U001`` shows one's place."""
    try:
        place = services.get_puskesmas(code)
    except services.NotFoundError as e:
        raise http_error(404, e.message) from None
    today = runtime.now().date()
    number = request.args.get("nomor", "")
    token = request.args.get("tiket", "")
    link_expired = False
    if token:  # the QR on the printed ticket: that ticket's number, today only
        visit = ticket_link.visit_for_token(token, today) if ticket_link.valid_token(token) else None
        if visit is not None and visit.puskesmas_id == place.id:
            number = visit.label
        else:
            link_expired = True
    view = live_queue(place, today, number)
    view["link_expired"] = link_expired
    stream = stream_url(place.code)
    response = Response(render_template("queue.html", place=place, q=view, stream=stream))
    origin = _origin(stream)
    if origin:  # the streams may be served from another port or host than the page
        response.headers["Content-Security-Policy"] = CSP.replace("connect-src 'self'", f"connect-src 'self' {origin}")
    return response


def stream_url(code: str) -> str:
    """Where this page's phone opens the live stream of ``code`` (``central.streams``)."""
    cfg = runtime.current().config
    if cfg.stream_url:
        base = cfg.stream_url.rstrip("/")
    elif cfg.https:  # behind the TLS proxy, which routes /arus/ to the streams
        base = "/arus"
    else:
        host = request.host
        host = host[: host.rindex("]") + 1] if host.startswith("[") else host.split(":")[0]
        base = f"http://{host}:{cfg.stream_port}/arus"
    return f"{base}/{code}"


def _origin(url: str) -> str:
    if url.startswith("/"):
        return ""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/')[0]}"


def _info_line(line: str) -> tuple[str, str]:
    """``("Jam buka", "Senin-...")`` for a ``Label: text`` line, else ``("", line)``."""
    label, sep, rest = line.partition(": ")
    if sep and 0 < len(label) <= 24:
        return label, rest.strip()
    return "", line.strip()


@bp.route("/offline")
def offline():
    """Shown by the service worker when there is no connection."""
    return render_template("offline.html")


@bp.route("/manifest.webmanifest")
def manifest():
    """The web app manifest (installable on Android)."""
    icon = lambda name: url_for("static", filename=f"icons/{name}")  # noqa: E731
    body = {
        "name": "Rosma - Reservasi Puskesmas Kabupaten Bogor",
        "short_name": "Rosma",
        "description": "Reservasi dan antrean puskesmas Kabupaten Bogor.",
        "lang": "id",
        "start_url": url_for("pages.home"),
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#f4faf8",
        "theme_color": THEME,
        "icons": [
            {"src": icon("icon-192.png"), "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": icon("icon-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "any"},
            {"src": icon("maskable-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "maskable"},
            {"src": icon("icon.svg"), "sizes": "any", "type": "image/svg+xml"},
        ],
    }
    response = jsonify(body)
    response.mimetype = "application/manifest+json"
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.route("/.well-known/assetlinks.json")
def assetlinks():
    """Digital Asset Links: the Android app (a Trusted Web Activity of this site, docs/android.md)
    may open it full screen. From the config (``android_package``, ``android_cert_sha256``);
    404 when no app is configured."""
    config = current_app.extensions["rosma.config"]
    if not config.android_package or not config.android_cert_sha256:
        abort(404)
    body = [
        {
            "relation": ["delegate_permission/common.handle_all_urls"],
            "target": {
                "namespace": "android_app",
                "package_name": config.android_package,
                "sha256_cert_fingerprints": list(config.android_cert_sha256),
            },
        }
    ]
    response = jsonify(body)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.route("/sw.js")
def service_worker():
    """The service worker, served from the root so its scope is the whole site."""
    path = Path(current_app.static_folder, "sw.js")
    response = Response(path.read_bytes(), mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return response
