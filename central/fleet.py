"""The fleet view: every live edge node's presence, sync and devices, and what needs an admin.

``describe(facts, now, version)`` and ``decide(facts, now, version)`` are pure: what central
knows of one node (``NodeFacts``, from the ``node`` row and the health the node published, see
``protocol.messages.NodeStatus``) in, the row shown and the alerts out (Indonesian, times in
WIB). ``fleet()`` and ``alerts()`` read the database. Nothing here names a patient.

An admin kabupaten marks an alert "sedang ditangani" with a short note (``mark_handling``,
audited); the note is shown beside the alert, keyed by node and alert kind, until the alert
clears by itself: the next ``overview`` that no longer finds the alert closes the note, so a
later alert of the same kind starts unmarked.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from importlib import metadata

from central import audit
from central.core.patients import _hidden
from central.models import AlertNote, Node, NodeAlert, Puskesmas, Staff, database
from central.services import ValidationError
from protocol.clock import WIB

OFFLINE_ALERT_S = 10 * 60  # offline longer than this is an alert
BACKLOG_MAX = 100  # undelivered events
OLDEST_MAX_S = 10 * 60  # age of the oldest undelivered event
SKEW_MAX_S = 120  # clock difference with central
STALE_S = 3 * 60  # an online node publishes its health every minute

NOTE_MAX = 200  # characters of an alert note

DANGER, WARNING = "danger", "warning"
DEVICE_LABELS = {"printer": "Printer", "scanner": "Pemindai QR", "audio": "Suara"}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")


@dataclass(frozen=True)
class NodeFacts:
    """What central knows of one node; times naive UTC like the database."""

    node_id: str
    puskesmas: str
    puskesmas_code: str
    online: bool
    offline_since: dt.datetime | None = None
    last_seen: dt.datetime | None = None
    status: dict = field(default_factory=dict)  # the stored health ({} if the node never sent one)
    status_at: dt.datetime | None = None
    open_alerts: tuple[tuple[str, str, dt.datetime], ...] = ()  # NodeAlert (kind, message, created_at)


@dataclass(frozen=True)
class Alert:
    level: str  # danger (red) or warning (amber)
    node_id: str
    puskesmas: str
    kind: str
    message: str

    def as_dict(self) -> dict:
        return {
            "level": self.level,
            "node_id": self.node_id,
            "puskesmas": self.puskesmas,
            "kind": self.kind,
            "message": self.message,
        }


def software_version() -> str:
    """Central's release, as installed."""
    try:
        return metadata.version("rosma")
    except metadata.PackageNotFoundError:
        return "0"


def version_key(v: str) -> tuple[int, ...]:
    """``0.10.1`` > ``0.9``: numbers compared as numbers; anything unreadable sorts first."""
    out = []
    for part in (v or "").split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        if not digits:
            break
        out.append(int(digits))
    return tuple(out)


def wib(at: dt.datetime | str | None, now: dt.datetime) -> str:
    """``08.12`` today (WIB), ``1 Des 08.12`` another day, ``1 Des 2025 08.12`` another year."""
    if at is None or at == "":
        return ""
    if isinstance(at, str):
        try:
            at = dt.datetime.fromisoformat(at)
        except ValueError:
            return ""
    local = (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).astimezone(WIB)
    today = now.replace(tzinfo=dt.UTC).astimezone(WIB).date()
    clock = f"{local.hour:02d}.{local.minute:02d}"
    if local.date() == today:
        return clock
    if local.year == today.year:
        return f"{local.day} {MONTHS[local.month - 1]} {clock}"
    return f"{local.day} {MONTHS[local.month - 1]} {local.year} {clock}"


def duration(seconds: float) -> str:
    """``45 detik``, ``12 menit``, ``3 jam 5 menit``, ``2 hari``."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} detik"
    if s < 3600:
        return f"{s // 60} menit"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h} jam {m} menit" if m else f"{h} jam"
    return f"{s // 86400} hari"


def skew_text(skew: float | None) -> str:
    if skew is None:
        return "Belum diukur"
    if abs(skew) < 5:
        return "Sesuai"
    return f"{duration(abs(skew))} lebih {'cepat' if skew > 0 else 'lambat'}"


def _offline_since(f: NodeFacts) -> dt.datetime | None:
    return f.offline_since or f.last_seen


def describe(f: NodeFacts, now: dt.datetime, central_version: str) -> dict:
    """The node's row as the fleet page and its JSON show it."""
    s = f.status or {}
    since = _offline_since(f)
    if f.online:
        presence = "Daring"
    elif since is None:
        presence = "Belum pernah terhubung"
    else:
        presence = f"Luring sejak {wib(since, now)}"
    backlog = s.get("backlog")
    if backlog is None:
        backlog_text = "Tidak dilaporkan"
    elif backlog == 0:
        backlog_text = "Antrean kirim: kosong"
    else:
        backlog_text = f"Antrean kirim: {backlog} kejadian"
        if s.get("oldest_s"):
            backlog_text += f", tertua {duration(s['oldest_s'])}"
    devices = []
    reported = s.get("devices") or {}
    for name, label in DEVICE_LABELS.items():
        d = reported.get(name)
        if d is None:
            devices.append({"device": name, "label": label, "ok": None, "warn": False, "message": "Tidak dilaporkan"})
        else:
            message = d.get("message", "")
            warn = bool(d.get("ok")) and "hampir habis" in message.lower()  # paper low: still prints
            devices.append({"device": name, "label": label, "ok": bool(d.get("ok")), "warn": warn, "message": message})
    version = s.get("version", "")
    skew = s.get("skew_s")
    alerts = decide(f, now, central_version)
    level = DANGER if any(a.level == DANGER for a in alerts) else WARNING if alerts else "ok"
    return {
        "node_id": f.node_id,
        "puskesmas": f.puskesmas,
        "puskesmas_code": f.puskesmas_code,
        "online": f.online,
        "presence": presence,
        "offline_since": since.isoformat() + "Z" if since and not f.online else None,
        "last_sync": s.get("last_sync") or None,
        "last_sync_text": wib(s.get("last_sync"), now) or "Belum pernah",
        "reported_at": f.status_at.isoformat() + "Z" if f.status_at else None,
        "reported_text": wib(f.status_at, now) or "belum ada",
        "backlog": backlog,
        "oldest_s": s.get("oldest_s"),
        "backlog_text": backlog_text,
        "devices": devices,
        "skew_s": skew,
        "skew_text": skew_text(skew),
        "skew_bad": skew is not None and abs(skew) > SKEW_MAX_S,
        "version": version,
        "version_old": bool(version) and version_key(version) < version_key(central_version),
        "uptime_text": duration(s["uptime_s"]) if "uptime_s" in s else "",
        "level": level,
        "alerts": [a.message for a in alerts],
    }


def decide(f: NodeFacts, now: dt.datetime, central_version: str) -> list[Alert]:
    """What an admin must look at for this node, most serious first.

    A node offline for more than 10 minutes is one alert; what it last reported about its
    devices, backlog and clock is stale then and raises nothing more.
    """
    out: list[Alert] = []

    def add(level: str, kind: str, message: str) -> None:
        out.append(Alert(level, f.node_id, f.puskesmas, kind, message))

    s = f.status or {}
    if not f.online:
        since = _offline_since(f)
        if since is None:
            add(WARNING, "never", "Belum pernah terhubung ke server pusat")
        elif (now - since).total_seconds() > OFFLINE_ALERT_S:
            add(DANGER, "offline", f"Luring sejak {wib(since, now)} ({duration((now - since).total_seconds())})")
    else:
        devices = s.get("devices") or {}
        printer = devices.get("printer")
        if printer is not None and not printer.get("ok"):
            add(DANGER, "printer", f"Printer: {printer.get('message') or 'bermasalah'}")
        elif printer is not None and "hampir habis" in (printer.get("message") or "").lower():
            add(WARNING, "printer", f"Printer: {printer['message']}")
        for name in ("scanner", "audio"):
            d = devices.get(name)
            if d is not None and not d.get("ok"):
                add(WARNING, name, f"{DEVICE_LABELS[name]}: {d.get('message') or 'bermasalah'}")
        backlog, oldest = s.get("backlog") or 0, s.get("oldest_s") or 0
        if backlog > BACKLOG_MAX or oldest > OLDEST_MAX_S:
            oldest_text = f", tertua {duration(oldest)}" if oldest else ""
            add(WARNING, "backlog", f"Antrean kirim menumpuk: {backlog} kejadian{oldest_text}")
        skew = s.get("skew_s")
        if skew is not None and abs(skew) > SKEW_MAX_S:
            add(WARNING, "clock", f"Jam node {skew_text(skew)} dari server pusat")
        if not s:
            add(WARNING, "no-status", "Node belum mengirim status perangkat (versi lama?)")
        elif f.status_at is not None and (now - f.status_at).total_seconds() > STALE_S:
            add(WARNING, "stale", f"Status tidak diperbarui sejak {wib(f.status_at, now)}")
    version = s.get("version", "")
    if version and version_key(version) < version_key(central_version):
        add(WARNING, "version", f"Versi {version}, server pusat {central_version}: perlu diperbarui")
    for kind, message, created_at in f.open_alerts:
        add(WARNING, kind, f"{message} ({wib(created_at, now)})")
    out.sort(key=lambda a: a.level != DANGER)
    return out


def _facts() -> list[NodeFacts]:
    nodes = list(Node.live().select(Node, Puskesmas).join(Puskesmas).order_by(Puskesmas.name, Node.node_id))
    open_alerts: dict[int, list] = {}
    for a in NodeAlert.select().where(NodeAlert.resolved_at.is_null()).order_by(NodeAlert.created_at):
        open_alerts.setdefault(a.node_id, []).append((a.kind, a.message, a.created_at))
    out = []
    for n in nodes:
        try:
            status = json.loads(n.status) if n.status else {}
        except ValueError:
            status = {}
        out.append(
            NodeFacts(
                node_id=n.node_id,
                puskesmas=n.puskesmas.name,
                puskesmas_code=n.puskesmas.code,
                online=n.online,
                offline_since=n.offline_since,
                last_seen=n.last_seen,
                status=status if isinstance(status, dict) else {},
                status_at=n.status_at,
                open_alerts=tuple(open_alerts.get(n.id, ())),
            )
        )
    return out


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _note_dict(note: AlertNote, now: dt.datetime) -> dict:
    return {
        "text": note.note,
        "by": note.staff.name if note.staff_id and note.staff else note.actor,
        "at": note.created_at.isoformat(timespec="seconds") + "Z",
        "at_text": wib(note.created_at, now),
    }


def _open_notes() -> dict[tuple[str, str], AlertNote]:
    rows = (
        AlertNote.select(AlertNote, Node)
        .join(Node)
        .where(AlertNote.cleared_at.is_null() & ~Node.retired)
        .order_by(AlertNote.id)
    )
    return {(n.node.node_id, n.kind): n for n in rows}


def overview(now: dt.datetime | None = None) -> tuple[list[dict], list[dict]]:
    """(``fleet()``, ``alerts()``) from one read of the database.

    Each alert carries ``note`` (text, by, at, at_text) when an admin marked it "sedang
    ditangani", else None. Notes whose alert has cleared are closed here (``cleared_at``)."""
    now = now or _utcnow()
    version = software_version()
    facts = _facts()
    found = [a for f in facts for a in decide(f, now, version)]
    found.sort(key=lambda a: (a.level != DANGER, a.puskesmas))
    notes = _open_notes()
    present = {(a.node_id, a.kind) for a in found}
    cleared = [n.id for key, n in notes.items() if key not in present]
    if cleared:
        AlertNote.update(cleared_at=now).where(AlertNote.id.in_(cleared) & AlertNote.cleared_at.is_null()).execute()
    alerts = []
    for a in found:
        row = a.as_dict()
        note = notes.get((a.node_id, a.kind))
        row["note"] = _note_dict(note, now) if note is not None else None
        alerts.append(row)
    return [describe(f, now, version) for f in facts], alerts


class NoSuchAlert(Exception):
    """The alert is not there (any more): it cleared by itself, or the node is unknown."""

    status = 404
    message = "Peringatan ini sudah tidak ada: mungkin sudah pulih dengan sendirinya. Muat ulang halaman."


NOTE_REQUIRED = "Tulis catatan singkat, misalnya siapa yang menangani dan apa yang dilakukan."
NOTE_TOO_LONG = f"Catatan terlalu panjang: paling banyak {NOTE_MAX} huruf."
NOTE_HIDDEN = "Catatan berisi karakter yang tidak diizinkan (karakter kontrol atau tak terlihat)."


def clean_note(raw) -> str:
    """The note as typed, spaces and line ends made single spaces; ValidationError({"note": ...})
    when it is empty, longer than ``NOTE_MAX`` or holds control or invisible characters."""
    text = str(raw or "")
    if _hidden(text.replace("\r", " ").replace("\n", " ").replace("\t", " ")):
        raise ValidationError({"note": NOTE_HIDDEN})
    text = " ".join(text.split())
    if not text:
        raise ValidationError({"note": NOTE_REQUIRED})
    if len(text) > NOTE_MAX:
        raise ValidationError({"note": NOTE_TOO_LONG})
    return text


def mark_handling(staff: Staff, node_id: str, kind: str, note, now: dt.datetime | None = None) -> AlertNote:
    """Mark a node's current alert of ``kind`` "sedang ditangani" with ``note`` (or change the
    note of one already marked). Audited (entity ``alert``, key ``node_id:kind``).

    Raises ValidationError for a bad note, NoSuchAlert when the node has no such alert now.
    The caller checks the role (admin kabupaten)."""
    now = now or _utcnow()
    text = clean_note(note)
    node_id, kind = str(node_id or "")[:80], str(kind or "")[:40]
    node = Node.live().where(Node.node_id == node_id).first()
    if node is None:
        raise NoSuchAlert()
    version = software_version()
    (facts,) = [f for f in _facts() if f.node_id == node_id] or [None]
    if facts is None or kind not in {a.kind for a in decide(facts, now, version)}:
        raise NoSuchAlert()
    with database.atomic():
        current = (
            AlertNote.select()
            .where((AlertNote.node == node) & (AlertNote.kind == kind) & AlertNote.cleared_at.is_null())
            .order_by(AlertNote.id.desc())
            .first()
        )
        key = f"{node_id}:{kind}"
        after = {"status": "sedang ditangani", "note": text}
        if current is not None:
            if current.note == text:
                return current
            before = {"status": "sedang ditangani", "note": current.note}
            current.note, current.staff, current.actor, current.created_at = text, staff, staff.username, now
            current.save()
            audit.record(staff, "alert", key, "update", before, after, node.puskesmas_id)
            return current
        row = AlertNote.create(node=node, kind=kind, note=text, staff=staff, actor=staff.username, created_at=now)
        audit.record(staff, "alert", key, "create", {"status": "baru"}, after, node.puskesmas_id)
        return row


def fleet(now: dt.datetime | None = None) -> list[dict]:
    """One row per live node, by puskesmas name."""
    return overview(now)[0]


def alerts(now: dt.datetime | None = None) -> list[dict]:
    """Every node's alerts, red ones first, then by puskesmas."""
    return overview(now)[1]
