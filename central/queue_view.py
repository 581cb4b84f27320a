"""The live queue of a puskesmas as patients see it on their phones.

Built from the snapshot the edge publishes (retained) whenever its queues change: ticket
numbers and room names only, never who holds them. ``public_board`` is what the phone page
is rendered from and what the phone streams (``central.streams``) push; ``place_of`` finds one
number in it. The page's script repeats ``place_of`` for each pushed board.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json

from central.models import Node, Puskesmas
from protocol.clock import WIB


def revisions() -> dict:
    """``{puskesmas code: (snapshot_rev, online, node row)}`` of each puskesmas's newest live node:
    one small query, run by the phone streams every fraction of a second."""
    rows = (
        Node.select(Node.id, Node.snapshot_rev, Node.online, Puskesmas.code)
        .join(Puskesmas)
        .where(~Node.retired)
        .order_by(Node.id)
        .tuples()
    )
    return {code: (rev, online, node_id) for node_id, rev, online, code in rows}


def _hhmm(moment: dt.datetime | None) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:  # stored UTC, naive
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(WIB).strftime("%H.%M")


def public_board(place: Puskesmas, today: dt.date) -> dict:
    """The board of ``place`` for ``today`` as any phone may see it.

    ``available`` False: no edge has reported a queue for today yet. ``online`` False: the edge
    is not connected now, and ``updated`` ("08.12", WIB) says how old the numbers are.
    """
    node = Node.live().where(Node.puskesmas == place).order_by(Node.id.desc()).first()
    base = {
        "puskesmas": place.code,
        "name": place.name,
        "rev": node.snapshot_rev if node else 0,
        "online": bool(node and node.online),
        "updated": _hhmm(node.last_seen) if node else "",
    }
    board = {}
    snap = {}
    if node is not None and node.snapshot:
        try:
            snap = json.loads(node.snapshot)
            board = (snap.get("queues") or [{}])[0]
        except (ValueError, AttributeError, IndexError):
            board = {}
    if not isinstance(board, dict) or board.get("day") != today.isoformat():
        return {**base, "available": False, "called": [], "queues": [], "recent": []}
    if board.get("at"):  # the edge's own clock when it made the board
        with contextlib.suppress(TypeError, ValueError):
            base["updated"] = _hhmm(dt.datetime.fromisoformat(board["at"]))
    queues = []
    order = board.get("order") or list(board.get("queues", {}))
    for key in order:
        info = board.get("queues", {}).get(key)
        if not isinstance(info, dict):
            continue
        item = {"name": info.get("name", ""), "waiting": list(info.get("waiting", []))}
        for extra in ("estimate_next", "estimates", "priority"):
            if extra in info:
                item[extra] = info[extra]
        queues.append(item)
    called = [{"destination": d, "label": label} for d, label in sorted(board.get("counters", {}).items())]
    recent = [
        {
            "label": r.get("label", ""),
            "destination": r.get("destination", ""),
            "at": str(r.get("at", "")).replace(":", "."),
        }
        for r in board.get("recent", [])[:5]
        if isinstance(r, dict)
    ]
    return {**base, "available": True, "called": called, "queues": queues, "recent": recent}


def estimate_words(rng) -> str:
    """A range of minutes as the page says it (the same words as the ticket and the TV):
    "perkiraan 10–20 menit", "perkiraan kurang dari 5 menit", "perkiraan lebih dari 2 jam"."""
    if not rng or len(rng) != 2:
        return ""
    lo, hi = rng
    if lo >= 120:
        return "perkiraan lebih dari 2 jam"
    if lo <= 0:
        return f"perkiraan kurang dari {hi} menit"
    return f"perkiraan {lo}–{hi} menit"


def place_of(board: dict, number: str) -> dict | None:
    """Where ``number`` is on ``board``: being called (``called_to``), or waiting in a queue with
    ``ahead`` people before it (and its estimate when the board has one); None: not on the board."""
    number = (number or "").strip().upper()[:8]
    if not number or not board.get("available"):
        return None
    for c in board.get("called", []):
        if c["label"] == number:
            return {"called_to": c["destination"]}
    for item in board.get("queues", []):
        if number in item["waiting"]:
            ahead = item["waiting"].index(number)
            out = {"queue": item["name"], "ahead": ahead}
            estimates = item.get("estimates") or []
            if ahead < len(estimates) and estimates[ahead]:
                out["estimate"] = estimates[ahead]
            return out
    return None


def live_queue(place: Puskesmas, today: dt.date, number: str = "") -> dict:
    """The board with ``number``'s place on it (for the page rendered on the server)."""
    board = public_board(place, today)
    number = (number or "").strip().upper()[:8]
    return {**board, "number": number, "mine": place_of(board, number)}
