"""Queue operations of the edge: each one a single SQLite transaction that also writes the
outbox row for central and the print/announce job, then tells the bus.

Views and workers call these; the rules themselves live in ``edge.core.queue``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets

from peewee import IntegrityError

from edge.bus import Bus
from edge.config import EdgeConfig
from edge.core import queue as q
from edge.models import Announcement, CheckIn, Outbox, PrintJob, QueueCounter, Reservation, ScanLog, Ticket, database
from protocol import messages, qrpass
from protocol.clock import WIB, Clock

log = logging.getLogger(__name__)


# the outbox event for each state a ticket can be moved into (calls have their own event)
STATE_EVENTS = {
    q.SERVING: messages.TICKET_SERVING,
    q.DONE: messages.TICKET_DONE,
    q.NO_SHOW: messages.TICKET_NO_SHOW,
    q.CANCELLED: messages.TICKET_CANCELLED,
    q.TRANSFERRED: messages.TICKET_TRANSFERRED,
}


class QueueError(ValueError):
    """An operation was refused; ``str(e)`` is for the kiosk or staff (Indonesian)."""


class CheckinRefused(QueueError):
    def __init__(self, code: str, message: str, ticket: Ticket | None = None):
        super().__init__(message)
        self.code = code
        self.ticket = ticket


class QueueService:
    def __init__(self, config: EdgeConfig, bus: Bus, clock: Clock):
        self.config = config
        self.bus = bus
        self.clock = clock
        self.public_keys = qrpass.load_public_keys(config.qr_public_keys)

    # ---- helpers -------------------------------------------------------------------------
    def _now(self) -> dt.datetime:
        return self.clock.now()

    def _next_number(self, day: str, queue: str) -> int:
        counter, _ = QueueCounter.get_or_create(day=day, queue=queue)
        QueueCounter.update(last=QueueCounter.last + 1).where(QueueCounter.id == counter.id).execute()
        return QueueCounter.get_by_id(counter.id).last

    def _outbox(self, type_: str, data: dict) -> None:
        Outbox.create(type=type_, at=self._now().isoformat(timespec="seconds"), data=json.dumps(data))

    def _changed(self, **extra) -> None:
        self.bus.publish({"type": "queue", **extra})
        self.bus.publish({"type": "outbox"})

    def queue_name(self, queue: str) -> str:
        """Human name of a queue, e.g. "Pendaftaran Umum", "Poli Gigi"."""
        if queue == q.REG_UMUM:
            return "Pendaftaran Umum"
        if queue == q.REG_BPJS:
            return "Pendaftaran BPJS"
        poli = self.config.poli(queue.removeprefix("POLI-"))
        return poli["name"] if poli else queue

    def waiting_ahead(self, ticket: Ticket) -> int:
        queues = q.REG_QUEUES if ticket.queue in q.REG_QUEUES else (ticket.queue,)
        waiting = self._waiting(ticket.day, queues)
        keys = [w.key for w in q.ordered(waiting)]
        return keys.index(ticket.key) if ticket.key in keys else 0

    def _waiting(self, day: str, queues) -> list[q.Waiting]:
        return [w for w, _label in self._waiting_labelled(day, queues)]

    def _waiting_labelled(self, day: str, queues) -> list[tuple[q.Waiting, str]]:
        rows = Ticket.select().where(
            (Ticket.day == day) & (Ticket.queue.in_(list(queues))) & (Ticket.state == q.WAITING)
        )
        return [(q.Waiting(t.key, t.number, t.priority, dt.datetime.fromisoformat(t.sort_time)), t.label) for t in rows]

    def _issue(self, queue, kind, payer, poli=None, rid=None, priority=False, sort_time=None, prefix=None, note=""):
        now = self._now()
        day = now.date().isoformat()
        number = self._next_number(day, queue)
        t = Ticket.create(
            key=secrets.token_hex(8),
            day=day,
            queue=queue,
            number=number,
            label=q.label(prefix, number),
            kind=kind,
            payer=payer,
            poli=poli,
            rid=rid,
            priority=priority,
            state=q.WAITING,
            sort_time=(sort_time or now).isoformat(),
            issued_at=now.isoformat(timespec="seconds"),
            note=note,
        )
        self._outbox(messages.TICKET_ISSUED, self._ticket_data(t))
        PrintJob.create(ticket_key=t.key, created_at=t.issued_at)
        return t

    @staticmethod
    def _ticket_data(t: Ticket) -> dict:
        return {
            "ticket": t.key,
            "day": t.day,
            "queue": t.queue,
            "label": t.label,
            "kind": t.kind,
            "payer": t.payer,
            "poli": t.poli,
            "rid": t.rid,
            "issued_at": t.issued_at,
            "parent": t.parent,
        }

    # ---- kiosk ---------------------------------------------------------------------------
    def issue_walkin(self, payer: str, priority: bool = False) -> Ticket:
        """A walk-in registration ticket (Umum -> A, BPJS -> B), queued and sent to the printer."""
        if payer not in ("UMUM", "BPJS"):
            raise QueueError("Pilih Pasien Umum atau Pasien BPJS.")
        queue = q.REG_UMUM if payer == "UMUM" else q.REG_BPJS
        with database.atomic("IMMEDIATE"):
            t = self._issue(queue, "walkin", payer, priority=priority, prefix=q.REG_PREFIX[queue])
        log.info("issued walk-in ticket %s", t.label)
        self._changed(ticket=t.key)
        self.bus.publish({"type": "print"})
        return t

    def check_in(self, text: str) -> Ticket:
        """Check a reservation QR in: verify offline, enforce single use, queue at its poli.

        Raises CheckinRefused with a code (format, unknown-key, signature, other-puskesmas,
        not-today, expired, cancelled, unknown-poli, again) and a message for the patient.
        Every outcome is recorded in ScanLog (without the QR text).
        """
        try:
            t = self._check_in(text)
        except CheckinRefused as exc:
            self._log_scan(False, exc.code, str(exc), exc.ticket)
            raise
        self._log_scan(True, "ok", f"Nomor antrian Anda {t.label}, {self.queue_name(t.queue)}.", t)
        self.bus.publish({"type": "print"})
        return t

    def _check_in(self, text: str) -> Ticket:
        now = self._now()
        try:
            p = qrpass.verify(text, self.public_keys, self.config.puskesmas_code, now.date(), now.timestamp())
        except qrpass.PassError as exc:
            log.warning("QR pass refused: %s", exc.code)
            raise CheckinRefused(exc.code, str(exc)) from None
        poli = self.config.poli(p.poli)
        if poli is None:
            raise CheckinRefused("unknown-poli", "Poli pada reservasi ini tidak tersedia di puskesmas ini.")
        known = Reservation.get_or_none(Reservation.rid == p.rid)
        if known is not None and known.status == "cancelled":
            raise CheckinRefused("cancelled", "Reservasi ini sudah dibatalkan.")
        try:
            with database.atomic("IMMEDIATE"):
                queue = q.poli_queue(p.poli)
                start = q.slot_start(dt.date.fromisoformat(p.date), p.slot, WIB)
                note = f"Reservasi {p.slot}"
                if known is None:  # booked after the last sync: the signature is enough to admit
                    log.info("checking in a reservation not yet synced to this node")
                t = self._issue(
                    queue,
                    "reservation",
                    p.payer,
                    poli=p.poli,
                    rid=p.rid,
                    sort_time=q.reservation_sort_time(start, now),
                    prefix=poli["prefix"],
                    note=note,
                )
                CheckIn.create(rid=p.rid, ticket_key=t.key, at=t.issued_at)
                self._outbox(
                    messages.RESERVATION_CHECKED_IN,
                    {"rid": p.rid, "ticket": t.key, "label": t.label, "at": t.issued_at},
                )
        except IntegrityError:
            first = CheckIn.get(CheckIn.rid == p.rid)
            prev = Ticket.get(Ticket.key == first.ticket_key)
            at = dt.datetime.fromisoformat(first.at).strftime("%H:%M")
            raise CheckinRefused(
                "again",
                f"QR ini sudah dipakai check-in pukul {at}, nomor antrian {prev.label}. Tiket tidak dicetak lagi.",
                prev,
            ) from None
        log.info("reservation checked in as %s", t.label)
        self._changed(ticket=t.key)
        return t

    def _log_scan(self, ok: bool, code: str, message: str, ticket: Ticket | None) -> None:
        with database.atomic("IMMEDIATE"):
            row = ScanLog.create(
                at=self._now().isoformat(timespec="seconds"),
                ok=ok,
                code=code,
                message=message,
                ticket_key=ticket.key if ticket else None,
                label=ticket.label if ticket else None,
            )
        self.bus.publish({"type": "scan", "id": row.id, "ok": ok, "code": code, "message": message, "label": row.label})

    # ---- staff ---------------------------------------------------------------------------
    def counters(self) -> list[dict]:
        """Places that call patients: each loket and each poli."""
        out = [
            {"id": f"loket-{i}", "name": f"Loket {i}", "queues": list(q.REG_QUEUES)}
            for i in range(1, self.config.lokets + 1)
        ]
        out += [
            {"id": f"poli-{p['code']}", "name": p["name"], "queues": [q.poli_queue(p["code"])]}
            for p in self.config.polis
        ]
        return out

    def counter(self, counter_id: str) -> dict:
        c = next((c for c in self.counters() if c["id"] == counter_id), None)
        if c is None:
            raise QueueError("Loket atau poli tidak dikenal.")
        return c

    def call_next(self, counter_id: str) -> Ticket | None:
        """Call the next waiting ticket for a loket/poli; None when nobody is waiting."""
        c = self.counter(counter_id)
        with database.atomic("IMMEDIATE"):
            nxt = q.next_to_call(self._waiting(self._now().date().isoformat(), c["queues"]))
            if nxt is None:
                return None
            t = Ticket.get(Ticket.key == nxt.key)
            self._apply(t, "call", destination=c["name"])
        self._changed(ticket=t.key, call=True)
        return t

    def act(self, ticket_key: str, action: str, to_poli: str | None = None) -> Ticket:
        """recall, serve, finish, no_show, cancel, or transfer (finish at loket, send to a poli)."""
        with database.atomic("IMMEDIATE"):
            t = Ticket.get_or_none(Ticket.key == ticket_key)
            if t is None:
                raise QueueError("Antrian tidak ditemukan.")
            if action == "transfer":
                poli = self.config.poli(to_poli or "")
                if poli is None:
                    raise QueueError("Pilih poli tujuan.")
                self._apply(t, "transfer")
                now = self._now()
                nt = Ticket.create(
                    key=secrets.token_hex(8),
                    day=t.day,
                    queue=q.poli_queue(poli["code"]),
                    number=0,
                    label=t.label,
                    kind="transfer",
                    payer=t.payer,
                    poli=poli["code"],
                    priority=t.priority,
                    state=q.WAITING,
                    sort_time=now.isoformat(),
                    issued_at=now.isoformat(timespec="seconds"),
                    parent=t.key,
                )
                self._outbox(messages.TICKET_ISSUED, self._ticket_data(nt))
            else:
                self._apply(t, action, destination=t.destination)
        self._changed(ticket=t.key, call=action == "recall")
        return t

    def _apply(self, t: Ticket, action: str, destination: str | None = None) -> None:
        try:
            t.state = q.transition(t.state, action)
        except q.TransitionError as exc:
            raise QueueError(str(exc)) from None
        now = self._now().isoformat(timespec="seconds")
        if action in ("call", "recall"):
            t.called_at = t.called_at if action == "recall" else now
            t.destination = destination
            Announcement.create(ticket_key=t.key, label=t.label, destination=destination, created_at=now)
            self._outbox(
                messages.TICKET_CALLED,
                {
                    "ticket": t.key,
                    "label": t.label,
                    "destination": destination,
                    "at": now,
                    "recall": action == "recall",
                },
            )
        else:
            if t.state in q.FINAL_STATES:
                t.finished_at = now
            self._outbox(STATE_EVENTS[t.state], {"ticket": t.key, "at": now})
        t.save()
        if action in ("call", "recall"):
            self.bus.publish({"type": "announce"})

    def reprint(self, ticket_key: str) -> None:
        t = Ticket.get_or_none(Ticket.key == ticket_key)
        if t is None:
            raise QueueError("Antrian tidak ditemukan.")
        PrintJob.create(ticket_key=t.key, created_at=self._now().isoformat(timespec="seconds"))
        self.bus.publish({"type": "print"})

    # ---- views of the day ----------------------------------------------------------------
    def board(self) -> dict:
        """The day's public state: what each counter called last and who waits, by queue.

        Ticket numbers and room names only (this is shown on TVs and phones).
        """
        day = self._now().date().isoformat()
        queues = {}
        for queue in [*q.REG_QUEUES, *(q.poli_queue(p["code"]) for p in self.config.polis)]:
            labelled = self._waiting_labelled(day, [queue])
            labels = {w.key: label for w, label in labelled}
            waiting = q.ordered([w for w, _label in labelled])
            queues[queue] = {"name": self.queue_name(queue), "waiting": [labels[w.key] for w in waiting]}
        calls = (
            Ticket.select()
            .where((Ticket.day == day) & Ticket.called_at.is_null(False))
            .order_by(Ticket.called_at.desc(), Ticket.id.desc())
            .limit(40)
        )
        counters = {}
        recent = []
        for t in calls:
            if t.destination and t.destination not in counters:
                counters[t.destination] = t.label
            if len(recent) < 8:
                recent.append({"label": t.label, "destination": t.destination, "at": t.called_at[11:16]})
        return {"day": day, "queues": queues, "counters": counters, "recent": recent}

    def current(self, counter_id: str) -> Ticket | None:
        """The ticket a counter is dealing with now (called or being served)."""
        c = self.counter(counter_id)
        return (
            Ticket.select()
            .where(
                (Ticket.day == self._now().date().isoformat())
                & (Ticket.destination == c["name"])
                & Ticket.state.in_([q.CALLED, q.SERVING])
            )
            .order_by(Ticket.called_at.desc())
            .first()
        )
