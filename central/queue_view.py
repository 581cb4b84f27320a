"""The live queue of a puskesmas as patients see it on their phones.

Built from the snapshot the edge publishes (retained) whenever its queues change: ticket
numbers and room names only, never who holds them.
"""

from __future__ import annotations

import datetime as dt
import json

from central.models import Node, Puskesmas


def live_queue(place: Puskesmas, today: dt.date, number: str = "") -> dict:
    """What the phone page shows: the calls, the waiting numbers per queue, and ``number``'s place.

    ``available`` is False when no edge has reported a queue for today yet.
    """
    node = Node.live().where(Node.puskesmas == place).order_by(Node.id.desc()).first()
    board = {}
    if node is not None and node.snapshot:
        snap = json.loads(node.snapshot)
        board = (snap.get("queues") or [{}])[0]
    if board.get("day") != today.isoformat():
        return {"available": False, "online": bool(node and node.online)}
    number = number.strip().upper()[:8]
    mine = None
    queues = []
    for info in board.get("queues", {}).values():
        waiting = list(info.get("waiting", []))
        if number and number in waiting:
            mine = {"queue": info.get("name"), "ahead": waiting.index(number)}
        queues.append({"name": info.get("name"), "waiting": waiting})
    called = {dest: label for dest, label in board.get("counters", {}).items()}
    if number and mine is None:
        dest = next((d for d, label in called.items() if label == number), None)
        if dest:
            mine = {"called_to": dest}
    return {
        "available": True,
        "online": node.online,
        "updated": node.last_seen,
        "called": called,
        "queues": queues,
        "number": number,
        "mine": mine,
    }
