"""A printed ticket's link: ``/t/<token>`` opens that ticket's live page on the patient's phone.

Every ticket the edge prints carries a QR of ``<public_url>/t/<token>``: a random token (the edge's
``secrets.token_urlsafe(12)``, 96 bits) that the ticket's visits carry (``Visit.token``; a poli
visit a loket ticket was sent on with keeps its token). No login: the token is the whole secret,
and it opens only the puskesmas' public queue page with the ticket's number, which holds no
personal data. It works on the day the ticket was taken (WIB) only.

Whatever the token, the answer says nothing but "this link works" (a redirect) or "it does not"
(the same page for a token never issued, a malformed one and yesterday's).
"""

from __future__ import annotations

import datetime as dt
import re

from flask import Blueprint, redirect, render_template, url_for

from central import runtime
from central.models import Puskesmas, Visit

bp = Blueprint("ticket_link", __name__)

# the edge issues 16 characters; up to the 24 the schema keeps
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,24}")
EXPIRED = "Tautan tiket ini tidak berlaku lagi. Tiket hanya bisa dipantau pada hari tiket diambil."


def valid_token(token: str) -> bool:
    """True for a token of the shape the edge issues (16-24 URL-safe characters)."""
    return isinstance(token, str) and TOKEN_RE.fullmatch(token) is not None


def visit_for_token(token: str, today: dt.date) -> Visit | None:
    """Today's newest visit of the ticket with this token, with its puskesmas; None when there is
    none (or the token is malformed). A transfer's poli visit wins over the loket visit it
    continues, so the phone follows the patient to the poli."""
    if not valid_token(token):
        return None
    return (
        Visit.select(Visit, Puskesmas)
        .join(Puskesmas)
        .where((Visit.token == token) & (Visit.day == today))
        .order_by(Visit.issued_at.desc(), Visit.id.desc())
        .first()
    )


def _expired(status: int):
    response = render_template("ticket_link.html", title="Tautan tidak berlaku", message=EXPIRED)
    return response, status, {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}


@bp.route("/t/<path:token>")
def follow(token: str):
    """303 to the puskesmas' live queue with this ticket (``?tiket=``) when the ticket is today's;
    410 for a ticket of another day; 404 for anything else."""
    if not valid_token(token):
        return _expired(404)
    visit = visit_for_token(token, runtime.now().date())
    if visit is None:
        earlier = Visit.select(Visit.id).where(Visit.token == token).exists()
        return _expired(410 if earlier else 404)
    target = url_for("pages.queue", code=visit.puskesmas.code, tiket=token)
    response = redirect(target, code=303)
    response.headers["Cache-Control"] = "no-store"  # tomorrow the same link must not open it
    return response
