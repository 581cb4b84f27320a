"""Central storing and applying the edges' typed events, within each node's own puskesmas.

``apply_batch`` stores each event once per (node, database incarnation, seq), in order, and
applies it through ``HANDLERS`` (one function per event type). What this release cannot apply
yet (an unknown type, a newer version) is stored as deferred and still acknowledged, so an edge
newer than central never stalls; ``apply_deferred`` applies it after central's own upgrade. A
malformed event is stored as rejected, logged, and acknowledged too: resending it would not
make it better.

An edge only ever changes its own puskesmas's data: a reservation of another puskesmas named
in an event is left alone.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
from collections.abc import Callable

from peewee import DataError, IntegrityError, fn

from central import bpjs_reports, kpi, kpi_rollup, push
from central.core import reservations as rules
from central.models import (
    BpjsWalkin,
    EdgeEvent,
    Feedback,
    Node,
    NodeAlert,
    NodeStream,
    Reservation,
    Visit,
    database,
    utcnow,
)
from infra.bulk import insert_rows
from protocol import events, messages
from protocol.events import (
    BpjsMembershipChecked,
    Event,
    KioskFeedbackGiven,
    ReservationCheckedIn,
    TicketCalled,
    TicketCancelled,
    TicketDone,
    TicketIssued,
    TicketNoShow,
    TicketServing,
    TicketTransferred,
)

log = logging.getLogger(__name__)

CONFLICT_CANCELLED = "cancelled-then-checked-in"
CONFLICT_OVER_QUOTA = "cancelled-then-checked-in-over-quota"
MEMBERSHIPS = frozenset({"aktif", "tidak_aktif", "fktp_lain", "tidak_terdaftar", "tertunda", ""})
_CARD = re.compile(r"[0-9]{13}")
_NIK = re.compile(r"[0-9]{16}")


def apply_batch(node: Node, batch: messages.EventBatch, registry: dict | None = None) -> int:
    """Store and apply a batch for ``node``; returns the highest contiguous seq stored for the
    batch's database incarnation (what the ack names). ``registry`` plays an older central in
    tests (event types it knows).

    One transaction per batch, and a handful of statements for the batch besides the handlers'
    own: the node's row is locked first (PostgreSQL), so sync workers sharing the load apply a
    node's batches one after the other, each seeing where the last one ended; the batch's
    events are stored with one INSERT after they were applied.
    """
    kpi_rollup.discard()
    with database.atomic():
        node = _locked_node(node.id)
        stream = _stream(node, batch.incarnation, batch.events[0] if batch.events else None)
        last = stream.up_seq
        todo: list[messages.EventRecord] = []
        for record in batch.events:
            if record.seq <= last:
                continue
            if record.seq != last + 1:
                log.info("node %s: gap at seq %d (have %d); waiting for resend", node.node_id, record.seq, last)
                break
            todo.append(record)
            last = record.seq
        if todo:
            _store_and_apply(node, stream.incarnation, todo, registry)
            NodeStream.update(up_seq=last, last_seen=utcnow()).where(NodeStream.id == stream.id).execute()
            Node.update(last_seen=utcnow()).where(Node.id == node.id).execute()
        kpi_rollup.flush()  # the days whose visits changed: their KPI rollup is out of date
    return last


def _locked_node(pk: int) -> Node:
    """The node's row, locked until the transaction ends where the database can (PostgreSQL)."""
    query = Node.select().where(Node.id == pk)
    if getattr(database.obj, "for_update", False):
        query = query.for_update()
    return query.get()


def _store_and_apply(node: Node, incarnation: str, records: list[messages.EventRecord], registry: dict | None) -> None:
    """Apply ``records`` (contiguous, in seq order) and store them, with their outcomes, in one INSERT.

    First all at once (no savepoint per event, plain walk-in issues inserted together, each
    visit read once); if any event is refused on the way, that attempt is rolled back and the
    batch applied again one event at a time, each in its own savepoint, so the refused event is
    rejected alone and the others apply.
    """
    try:
        with database.atomic():
            rows = _apply_all(node, incarnation, records, registry, _Batch(node, records))
    except _Redo:
        rows = _apply_all(node, incarnation, records, registry, None)
    finally:
        _current.batch = None
    insert_rows(EdgeEvent, [row.__data__ for row in rows])


def _apply_all(
    node: Node, incarnation: str, records: list[messages.EventRecord], registry: dict | None, batch: _Batch | None
) -> list[EdgeEvent]:
    _current.batch = batch
    kept = _kept_tickets(node, incarnation)
    rows = []
    for record in records:
        ticket = record.data.get("ticket")
        row = EdgeEvent(
            node=node,
            incarnation=incarnation,
            seq=record.seq,
            type=record.type,
            v=record.v,
            at=record.at,
            ticket=ticket[:40] if isinstance(ticket, str) else "",
            data=json.dumps(record.data),
            status="applied",
            error="",
            received_at=utcnow(),
        )
        _apply_row(node, row, registry, kept)
        if row.status == "deferred" and row.ticket:
            kept.add(row.ticket)
        rows.append(row)
    if batch is not None:
        batch.flush()
    return rows


def _kept_tickets(node: Node, incarnation: str) -> set[str]:
    """The tickets of this history with an event kept for later (their later events wait too)."""
    query = (
        EdgeEvent.select(EdgeEvent.ticket)
        .where((EdgeEvent.node == node) & (EdgeEvent.incarnation == incarnation) & (EdgeEvent.status == "deferred"))
        .distinct()
    )
    return {ticket for (ticket,) in query.tuples()}


class _Redo(Exception):
    """An event was refused while the batch was applied all at once: apply it event by event."""


class _Batch:
    """What applying one batch at once keeps: the visits read (each once), and the plain walk-in
    issues not inserted yet (one INSERT for a run of them, before anything else looks)."""

    def __init__(self, node: Node, records: list[messages.EventRecord]):
        self.node = node
        self.issues: list[dict] = []
        wanted = {
            r.data["ticket"]
            for r in records
            if r.type != TicketIssued.NAME and isinstance(r.data.get("ticket"), str) and r.data["ticket"]
        }
        self.visits: dict[str, Visit | None] = dict.fromkeys(wanted)
        if wanted:
            for v in Visit.select().where((Visit.node == node) & Visit.ticket_key.in_(sorted(wanted))):
                self.visits[v.ticket_key] = v

    def visit(self, ticket: str) -> Visit:
        if ticket not in self.visits:
            self.visits[ticket] = Visit.get_or_none((Visit.node == self.node) & (Visit.ticket_key == ticket))
        visit = self.visits[ticket]
        if visit is None:
            raise _NotYet
        return visit

    def forget(self, *tickets: str) -> None:
        for ticket in tickets:
            self.visits.pop(ticket, None)

    def flush(self) -> None:
        if self.issues:
            issues, self.issues = self.issues, []
            insert_rows(Visit, issues, ignore_conflicts=True)


class _Current(threading.local):
    batch: _Batch | None = None


_current = _Current()


class _NotYet(Exception):
    """The event is about a ticket central does not know yet (its first event is kept for later)."""


def _apply_row(node: Node, row: EdgeEvent, registry: dict | None = None, kept: set[str] | None = None) -> None:
    """Decode a stored event and apply it; records the outcome on the row.

    Deferred (kept, applied later by ``apply_deferred``): a type or version this release does
    not know, an event about a ticket whose earlier event is deferred, or about a ticket not
    known yet; so a ticket's events are applied in their order once everything is known.
    Rejected: malformed, or refused by the database (a value too long for its column).
    """
    try:
        event = events.from_data(row.type, {"at": row.at, **json.loads(row.data)}, row.v, registry)
    except events.UnknownEvent as exc:
        _outcome(row, "deferred", str(exc))
        log.info(
            "node %s: event %d (%s v%d) kept until this release can apply it", node.node_id, row.seq, row.type, row.v
        )
        return
    except (events.EventError, ValueError) as exc:
        _outcome(row, "rejected", str(exc))
        _forget_numbers(row)
        log.warning("node %s: event %d (%s) is malformed: %s", node.node_id, row.seq, row.type, exc)
        return
    if row.ticket and (_earlier_kept(row) if kept is None else row.ticket in kept):
        _outcome(row, "deferred", "an earlier event of this ticket is kept for later")
        return
    handlers = HANDLERS if registry is None else {k: v for k, v in HANDLERS.items() if k.NAME in registry}
    batch = _current.batch
    try:
        if batch is None:
            with database.atomic():
                handlers[type(event)](node, event)
        elif isinstance(event, TicketIssued) and _plain_issue(event):
            batch.issues.append(_visit_fields(node, event))
            batch.forget(event.ticket)
            kpi_rollup.note(event.day)
        else:
            batch.flush()
            handlers[type(event)](node, event)
    except _NotYet:
        _outcome(row, "deferred", "ticket not known yet")
        return
    except (ValueError, TypeError, KeyError, DataError, IntegrityError) as exc:
        if batch is not None:
            raise _Redo from exc  # roll the batch back; applied again event by event
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        _outcome(row, "rejected", reason)
        _forget_numbers(row)
        log.warning("node %s: event %d (%s) could not be applied: %s", node.node_id, row.seq, row.type, reason)
        return
    _outcome(row, "applied", "")
    _forget_numbers(row)


def _forget_numbers(row: EdgeEvent) -> None:
    """A ``bpjs.checked`` event, once applied (its numbers are in ``bpjswalkin``) or refused, is
    kept without its card number and NIK: the raw event store is not a second copy of them."""
    if row.type != BpjsMembershipChecked.NAME:
        return
    data = json.loads(row.data)
    if isinstance(data, dict) and (data.get("kartu") or data.get("nik")):
        data["kartu"], data["nik"] = "", ""
        row.data = json.dumps(data)
        if row.id is not None:  # a row stored before (kept, applied late)
            EdgeEvent.update(data=row.data).where(EdgeEvent.id == row.id).execute()


def _earlier_kept(row: EdgeEvent) -> bool:
    return (
        EdgeEvent.select()
        .where(
            (EdgeEvent.node == row.node_id)
            & (EdgeEvent.incarnation == row.incarnation)
            & (EdgeEvent.ticket == row.ticket)
            & (EdgeEvent.status == "deferred")
            & (EdgeEvent.seq < row.seq)
        )
        .exists()
    )


def _outcome(row: EdgeEvent, status: str, error: str) -> None:
    if (row.status, row.error) != (status, error[:200]):
        row.status, row.error = status, error[:200]
        if row.id is not None:
            EdgeEvent.update(status=status, error=row.error).where(EdgeEvent.id == row.id).execute()


def apply_deferred() -> int:
    """Apply the stored events this release now knows (after an upgrade), in each stream's
    seq order; returns how many were applied."""
    done = 0
    rows = (
        EdgeEvent.select()
        .where(EdgeEvent.status == "deferred")
        .order_by(EdgeEvent.node, EdgeEvent.incarnation, EdgeEvent.seq)
    )
    for row in rows:
        kpi_rollup.discard()
        with database.atomic():
            _apply_row(row.node, row)
            kpi_rollup.flush()
        done += row.status == "applied"
    if done:
        log.info("applied %d events kept from before this upgrade", done)
    return done


def _stream(node: Node, incarnation: str, first: messages.EventRecord | None) -> NodeStream:
    """The event history of the edge database ``incarnation``; a new one is a replaced database.

    A release-0.1.0 history (no incarnation) is taken over by the first incarnation its node
    names if that batch continues it: it starts after the history's last seq, or it resends an
    event the history holds, to the letter (an ack lost before the upgrade). A batch whose seq
    is already taken by another event is a new database, whose events must not be taken for
    repeats.
    """
    stream = NodeStream.get_or_none((NodeStream.node == node) & (NodeStream.incarnation == incarnation))
    if stream is not None:
        return stream
    streams = list(NodeStream.select().where(NodeStream.node == node))
    legacy = len(streams) == 1 and streams[0].incarnation == ""
    if incarnation and legacy and _continues(node, streams[0], first):
        # a release-0.1.0 edge upgraded in place names its database for the first time: the same history
        old = streams[0]
        NodeStream.update(incarnation=incarnation).where(NodeStream.id == old.id).execute()
        EdgeEvent.update(incarnation=incarnation).where(
            (EdgeEvent.node == node) & (EdgeEvent.incarnation == "")
        ).execute()
        Node.update(incarnation=incarnation).where(Node.id == node.id).execute()
        log.info("node %s: its database is now known as %s", node.node_id, incarnation)
        return NodeStream.get_by_id(old.id)
    stream = NodeStream.create(node=node, incarnation=incarnation)
    previous = [s for s in streams if s.up_seq > 0]
    if previous:
        before = max(previous, key=lambda s: s.last_seen or s.first_seen)
        message = (
            f"Database node {node.node_id} berganti (sebelumnya {before.incarnation or 'tanpa nama'} dengan "
            f"{before.up_seq} kejadian, sekarang {incarnation or 'tanpa nama'}); riwayat keduanya disimpan terpisah."
        )
        NodeAlert.create(node=node, kind="new-incarnation", message=message)
        log.error(
            "node %s: a new edge database %s replaced %s (%d events); histories kept apart",
            node.node_id,
            incarnation,
            before.incarnation,
            before.up_seq,
        )
    Node.update(incarnation=incarnation).where(Node.id == node.id).execute()
    return stream


def _continues(node: Node, history: NodeStream, first: messages.EventRecord | None) -> bool:
    if first is None or first.seq > history.up_seq:
        return True
    held = EdgeEvent.get_or_none(
        (EdgeEvent.node == node) & (EdgeEvent.incarnation == "") & (EdgeEvent.seq == first.seq)
    )
    return held is not None and (held.type, held.at, json.loads(held.data)) == (first.type, first.at, first.data)


# ---- handlers: one per event type ---------------------------------------------------------------
# how far along a visit is: an event applied late (kept over an upgrade) never moves it back
RANK = {"waiting": 0, "called": 1, "serving": 2}
FINAL_RANK = 3


def _visit(node: Node, ticket: str) -> Visit:
    if _current.batch is not None:
        return _current.batch.visit(ticket)
    visit = Visit.get_or_none((Visit.node == node) & (Visit.ticket_key == ticket))
    if visit is None:
        raise _NotYet
    return visit


def _advance(visit: Visit, state: str) -> None:
    if RANK.get(state, FINAL_RANK) >= RANK.get(visit.state, FINAL_RANK):
        visit.state = state


def _visit_fields(node: Node, e: TicketIssued) -> dict:
    return {
        "node": node,
        "ticket_key": e.ticket,
        "puskesmas": node.puskesmas_id,
        "label": e.label,
        "queue": e.queue,
        "poli": e.poli,
        "payer": e.payer,
        "rid": e.rid,
        "day": e.day,
        "issued_at": e.at,
        "kind": e.kind,
        "slot": e.slot,
        "priority": e.priority,
        "priority_class": e.priority_class,
        "token": e.token,  # a transfer's poli visit carries its loket ticket's token (central.ticket_link)
        "parent": e.parent,
    }


def _plain_issue(e: TicketIssued) -> bool:
    """An issue that only inserts its visit: it continues no ticket and is no BPJS reservation's
    check-in (``_issued`` does nothing else for it, ``bpjs_reports.on_issued`` neither)."""
    return not e.parent and not (e.payer == "BPJS" and e.rid and e.kind == "reservation")


def _issued(node: Node, e: TicketIssued) -> None:
    if _current.batch is not None:
        _current.batch.forget(e.ticket, e.parent)
    Visit.insert(**_visit_fields(node, e)).on_conflict_ignore().execute()
    kpi_rollup.note(e.day)
    bpjs_reports.on_issued(node, e)  # a BPJS check-in or walk-in sent to a poli: Antrean FKTP add, same transaction
    if e.parent and e.poli:  # the loket ticket it continues was for this poli (central.kpi)
        Visit.update(poli=e.poli).where(
            (Visit.node == node) & (Visit.ticket_key == e.parent) & Visit.poli.is_null()
        ).execute()


def _called(node: Node, e: TicketCalled) -> None:
    visit = _visit(node, e.ticket)
    if visit.called_at is None or not e.recall:
        visit.called_at = visit.called_at or e.at
        visit.counter = visit.counter or e.counter or None
        visit.called_by = visit.called_by or e.actor.staff
    visit.destination = e.destination
    _advance(visit, "called")
    _time(visit)
    visit.save(only=visit.dirty_fields)  # the columns the event set
    bpjs_reports.on_called(node, e, visit)
    push.on_called(e, visit)


def _time(visit: Visit) -> None:
    """Keep the visit's waiting and service seconds (central.kpi.timings) in step with its times."""
    kpi_rollup.note(visit.day)
    for name, value in kpi.timings(visit).items():
        setattr(visit, name, value)


def _finished(state: str, stamp: str) -> Callable[[Node, Event], None]:
    def handler(node: Node, e: Event) -> None:
        visit = _visit(node, e.ticket)
        setattr(visit, stamp, e.at)
        _advance(visit, state)
        if state == "done":
            visit.done_by = e.actor.staff
        if state == "transferred" and visit.poli is None and getattr(e, "to_poli", ""):
            visit.poli = e.to_poli  # a loket ticket's poli: where it sent the patient (central.kpi)
        _time(visit)
        visit.save(only=visit.dirty_fields)
        bpjs_reports.on_finished(node, e, visit, state)
        if state == "done" and visit.rid:
            Reservation.update(status=rules.DONE).where(
                (Reservation.rid == visit.rid)
                & (Reservation.puskesmas == node.puskesmas_id)
                & Reservation.status.in_((rules.ACTIVE, rules.CHECKED_IN))
            ).execute()

    return handler


def _checked_in(node: Node, e: ReservationCheckedIn) -> None:
    r = Reservation.get_or_none((Reservation.rid == e.rid) & (Reservation.puskesmas == node.puskesmas_id))
    if r is None:
        log.warning("node %s: check-in for a reservation of another puskesmas ignored", node.node_id)
        return
    if r.status in (rules.CHECKED_IN, rules.DONE):
        return
    conflict = ""
    if r.status == rules.CANCELLED:
        # the patient was checked in and served at an offline edge after cancelling here: the
        # check-in is a fact; the booking holds its place again, and if the slot was taken
        # meanwhile it is over quota, said so rather than counted twice silently
        held = (
            Reservation.select(fn.COUNT(Reservation.id))
            .where(
                (Reservation.poli == r.poli_id)
                & (Reservation.date == r.date)
                & (Reservation.slot == r.slot)
                & Reservation.status.in_(rules.HOLDING)
            )
            .scalar()
        )
        over = held + 1 > r.poli.slot_quota
        conflict = CONFLICT_OVER_QUOTA if over else CONFLICT_CANCELLED
        log.warning(
            "a reservation (id %d) was cancelled at central but checked in at node %s; the check-in stands%s",
            r.id,
            node.node_id,
            " (slot now over quota)" if over else "",
        )
    Reservation.update(status=rules.CHECKED_IN, checked_in_at=utcnow(), ticket_label=e.label, conflict=conflict).where(
        Reservation.id == r.id
    ).execute()
    bpjs_reports.on_checked_in(node, e)


def _kiosk_feedback(node: Node, e: KioskFeedbackGiven) -> None:
    """A rating at the kiosk: a kritik & saran of the node's puskesmas, from nobody in particular
    (source ``kiosk``, no patient, no text), about the poli she chose if any (its code, kept as
    sent). Applied once: ingest stores each event once."""
    if not 1 <= e.rating <= 5:
        raise ValueError(f"rating {e.rating} is not 1..5")
    Feedback.create(
        puskesmas=node.puskesmas_id,
        patient=None,
        poli=(e.poli or "").strip()[:16] or None,
        rating=e.rating,
        text="",
        source="kiosk",
        created_at=e.at_datetime.astimezone(dt.UTC).replace(tzinfo=None),
    )


def _bpjs_checked(node: Node, e: BpjsMembershipChecked) -> None:
    """A BPJS walk-in's number and PCare's answer, for the ticket's Antrean FKTP report: one row per
    ticket, the newest check (by ``at``) standing. A ticket already sent on to a poli is reported
    now. The numbers are refused when malformed, and never named in an error or a log."""
    if e.kartu and not _CARD.fullmatch(e.kartu):
        raise ValueError("kartu is not a 13-digit card number")
    if e.nik and not _NIK.fullmatch(e.nik):
        raise ValueError("nik is not a 16-digit NIK")
    if e.membership not in MEMBERSHIPS:
        raise ValueError("membership is not one of PCare's answers")
    _visit(node, e.ticket)  # its ticket first (kept for later until central has it)
    values = {"kartu": e.kartu, "nik": e.nik, "membership": e.membership, "note": e.note[:200], "checked_at": e.at}
    row = BpjsWalkin.get_or_none((BpjsWalkin.node == node) & (BpjsWalkin.ticket_key == e.ticket))
    if row is None:
        BpjsWalkin.insert(node=node, ticket_key=e.ticket, created_at=utcnow(), **values).execute()
    elif e.at_datetime < dt.datetime.fromisoformat(row.checked_at):
        return  # an older check, applied late: the newer one stands
    else:
        BpjsWalkin.update(**values).where(BpjsWalkin.id == row.id).execute()
    bpjs_reports.on_walkin_checked(node, e.ticket)


HANDLERS: dict[type[Event], Callable[[Node, Event], None]] = {
    TicketIssued: _issued,
    TicketCalled: _called,
    TicketServing: _finished("serving", "serving_at"),
    TicketDone: _finished("done", "done_at"),
    TicketNoShow: _finished("no_show", "done_at"),
    TicketCancelled: _finished("cancelled", "done_at"),
    TicketTransferred: _finished("transferred", "done_at"),
    ReservationCheckedIn: _checked_in,
    KioskFeedbackGiven: _kiosk_feedback,
    BpjsMembershipChecked: _bpjs_checked,
}
