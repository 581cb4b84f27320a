"""The per-node change feed: what central tells each edge (typed ``protocol.changes``), in seq order."""

from __future__ import annotations

import datetime as dt
import json

from peewee import PostgresqlDatabase, fn

from central.models import (
    Change,
    Holiday,
    Node,
    Poli,
    Puskesmas,
    Reservation,
    SigningKeyRow,
    Staff,
    database,
    utcnow,
)
from protocol import changes, idents
from protocol.changes import HolidayChanged, PoliChanged, QrKeyChanged, ReservationChanged, SiteChanged, StaffChanged

# PostgreSQL: the advisory lock (class, node id) a transaction holds from its append to a node's
# feed until it commits. Appends to one node take turns; each takes the next seq after the rows
# already committed, so seqs are contiguous and a node's feed grows in commit order (an edge that
# has read up to seq N never finds a row below N appear later). SQLite's write lock does the same.
FEED_LOCK_CLASS = 0x0F33D


def append(puskesmas_id: int, change: changes.Change) -> None:
    """Append a change for every live node of a puskesmas; call inside the writer's transaction."""
    nodes = _lock_nodes(Node.select(Node.id).where((Node.puskesmas == puskesmas_id) & ~Node.retired))
    if nodes:
        _insert(nodes, change)


def _lock_nodes(query) -> list[int]:
    """The ids of the nodes ``query`` selects (ordered, so two appends lock them in one order),
    their feeds locked for this transaction: one statement."""
    query = query.order_by(Node.id)
    if isinstance(database.obj, PostgresqlDatabase):
        lock = fn.pg_advisory_xact_lock(FEED_LOCK_CLASS, Node.id)
        return [node_id for node_id, _ in query.select(Node.id, lock).tuples()]
    return [node_id for (node_id,) in query.tuples()]


def _insert(node_ids: list[int], change: changes.Change) -> None:
    """One row per node at the seq after its last, one statement each (the seq a subquery: the
    lock makes the last row the node's last committed one, so no retry and no gap)."""
    data = json.dumps(changes.to_data(change))
    now = utcnow()
    for node_id in node_ids:
        nxt = Change.select(fn.COALESCE(fn.MAX(Change.seq), 0) + 1).where(Change.node == node_id)
        Change.insert(node=node_id, seq=nxt, type=change.NAME, v=change.VERSION, data=data, created_at=now).execute()


def _append_to(node: Node, change: changes.Change) -> None:
    if database.in_transaction():
        _insert(_lock_nodes(Node.select(Node.id).where(Node.id == node.id)), change)
        return
    with database.atomic():  # the lock lasts until this commits
        _insert(_lock_nodes(Node.select(Node.id).where(Node.id == node.id)), change)


def reservation_change(r: Reservation) -> ReservationChanged:
    """What an edge needs of a reservation: no name, NIK, birth date or BPJS number. The numbers it
    was made with (the account's NIK, a Mobile JKN booking's NIK, the card number or NIK given for
    BPJS) only as keyed hashes (``protocol.idents``), to check her in by the number she types; a
    BPJS booking's membership as PCare answered, for the staff page."""
    patient_nik = r.patient.nik if r.patient_id is not None else ""
    return ReservationChanged(
        rid=r.rid,
        poli=r.poli.code,
        date=r.date.isoformat(),
        slot=r.slot,
        payer=r.payer,
        status=r.status,
        idents=idents.idents(r.rid, [patient_nik, r.nik, r.bpjs_no]),
        membership=(r.bpjs_status or "") if r.payer == "BPJS" else "",
    )


def publish_reservation(r: Reservation) -> None:
    """Queue a reservation (new, changed or cancelled) for its puskesmas' edge."""
    append(r.puskesmas_id, reservation_change(r))


def staff_change(s: Staff) -> StaffChanged:
    """A staff account as its edges need it (the password only as its hash)."""
    return StaffChanged(
        username=s.username, name=s.name, role=s.role, polis=s.polis, password_hash=s.password_hash, active=s.active
    )


def publish_staff(s: Staff) -> None:
    """Send a staff account to the edges it may sign in at (every edge for an admin kabupaten)."""
    if s.puskesmas_id is None:
        for pkm in Puskesmas.select():
            append(pkm.id, staff_change(s))
    else:
        append(s.puskesmas_id, staff_change(s))


def site_change(p: Puskesmas) -> SiteChanged:
    """The puskesmas's details as its edge shows them."""
    return SiteChanged(
        name=p.name,
        address=p.address,
        phone=p.phone,
        hours=p.hours,
        lokets=p.lokets,
        running_text=p.running_text,
    )


def publish_site(p: Puskesmas) -> None:
    append(p.id, site_change(p))


def poli_change(p: Poli) -> PoliChanged:
    return PoliChanged(code=p.code, name=p.name, prefix=p.prefix, active=p.active, order=p.order)


def publish_poli(p: Poli) -> None:
    """A poli added or changed: its edge shows it on the kiosk, staff and TV pages at once."""
    append(p.puskesmas_id, poli_change(p))


def holiday_change(h: Holiday, closed: bool = True) -> HolidayChanged:
    return HolidayChanged(date=h.date.isoformat(), name=h.name, closed=closed)


def publish_holiday(h: Holiday, closed: bool = True) -> None:
    """A closed day (``closed`` False: no longer closed) for its puskesmas, or every one."""
    targets = [h.puskesmas_id] if h.puskesmas_id is not None else [p.id for p in Puskesmas.select(Puskesmas.id)]
    for pid in targets:
        append(pid, holiday_change(h, closed))


def key_change(row: SigningKeyRow) -> QrKeyChanged:
    """A QR key as edges need it: the public part and until when a retired one is trusted."""
    until = row.trusted_until.replace(tzinfo=dt.UTC).isoformat(timespec="seconds") if row.trusted_until else ""
    return QrKeyChanged(kid=row.kid, public_key=row.public_b64, trusted_until=until)


def backfill_node(node: Node) -> None:
    """Give a newly provisioned node the staff accounts and the active reservations that already
    exist for its puskesmas, and the end of trust of a retired QR key its config lists; then its
    details, poli and coming closed days as the back office keeps them."""
    _append_site(node)
    for row in SigningKeyRow.select().where(SigningKeyRow.active & SigningKeyRow.trusted_until.is_null(False)):
        _append_to(node, key_change(row))
    for s in Staff.select().where((Staff.puskesmas == node.puskesmas) | Staff.puskesmas.is_null()):
        _append_to(node, staff_change(s))
    for r in Reservation.select().where((Reservation.puskesmas == node.puskesmas) & (Reservation.status == "active")):
        _append_to(node, reservation_change(r))


def backfill_back_office() -> int:
    """Upgrade path: a node provisioned before the back office never got its puskesmas's details,
    poli and closed days. Give each live node that has no site change yet the site, its poli and
    the coming closed days (a node that has one already is left alone, so a repeat adds nothing).
    Returns how many nodes were given them."""
    sent = Change.select(Change.node).where(Change.type == SiteChanged.NAME)
    done = 0
    for node in Node.live().where(Node.id.not_in(sent)).order_by(Node.id):
        with database.atomic():
            _append_site(node)
        done += 1
    return done


def _append_site(node: Node) -> None:
    """The node's puskesmas's details, all its poli (inactive ones too) and its coming closed days."""
    pkm = Puskesmas.get_by_id(node.puskesmas_id)
    _append_to(node, site_change(pkm))
    for p in Poli.select().where(Poli.puskesmas == pkm).order_by(Poli.order, Poli.code):
        _append_to(node, poli_change(p))
    since = dt.date.today() - dt.timedelta(days=1)
    for h in (
        Holiday.select()
        .where(((Holiday.puskesmas == pkm) | Holiday.puskesmas.is_null()) & (Holiday.date >= since))
        .order_by(Holiday.date)
    ):
        _append_to(node, holiday_change(h))


def changes_after(node: Node, after: int, limit: int = 200) -> tuple[list[Change], int]:
    """Changes with seq > after (oldest first, at most ``limit``) and the node's head seq."""
    rows = list(Change.select().where((Change.node == node) & (Change.seq > after)).order_by(Change.seq).limit(limit))
    head = Change.select(fn.MAX(Change.seq)).where(Change.node == node).scalar() or 0
    return rows, head
