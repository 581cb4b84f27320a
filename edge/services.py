"""Queue operations of the edge. The rules live in ``edge.core.queue``, which returns a typed
event for every change; ``QueueService`` writes the ticket row and the outbox row from that same
event in one SQLite transaction (with the print or announce job), and publishes the event on the
bus once the transaction has committed.

A caller that renders a response from the result (a kiosk page) runs the operation and the
rendering inside ``unit()``: if anything fails before the response is ready, nothing is kept,
nothing is printed and nothing reaches central.

The calling order of ``edge.core.queue`` (priority, then sort time, then number) is asked of
SQLite with the ``ticket_waiting_order`` index: the next ticket and a ticket's place in line cost
the same with ten or a thousand waiting. ``board()`` is built once per change and shared by the
TVs, the staff pages and the phones' snapshot: every committed ``unit()`` and every batch of
central's changes (``ReservationsChanged``) starts a new one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import queue as queue_mod
import secrets
import threading
from collections.abc import Iterator

from peewee import IntegrityError, Tuple

from edge import bpjs_check, estimates
from edge.bpjs_check import Checked, MembershipChecker
from edge.bus import Bus
from edge.config import EdgeConfig
from edge.core import estimate
from edge.core import queue as q
from edge.models import (
    Announcement,
    BpjsCheck,
    CheckIn,
    ClosedDay,
    Outbox,
    Poli,
    PrintJob,
    QrKey,
    QueueCounter,
    Reservation,
    ScanLog,
    Site,
    Ticket,
    database,
)
from edge.notices import PrintQueued, ReservationsChanged, ScanRecorded
from protocol import events, idents, qrpass
from protocol.clock import WIB, Clock
from protocol.events import Actor, Event, ReservationCheckedIn, TicketCalled, TicketIssued, TicketServing

log = logging.getLogger(__name__)


# why a number goes first (given by staff at the loket, who see the patient): code -> what staff read
PRIORITY_CLASSES = {"lansia": "Lansia (≥ 60 th)", "disabilitas": "Disabilitas", "ibu_hamil": "Ibu hamil"}
# ... and the short badge the TV and the staff lists show on the number
PRIORITY_BADGES = {"lansia": "Lansia", "disabilitas": "Disabilitas", "ibu_hamil": "Ibu hamil"}
RECENT_CALLS = 5  # the last calls the TVs list, for the loket and for the poli each


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
        self.bpjs = MembershipChecker(config, clock)
        self._local = threading.local()
        # the board as last built, for (change generation, minute): see board()
        self._generation = 0
        self._generation_lock = threading.Lock()
        self._build_lock = threading.Lock()
        self._board: tuple[tuple, dict] | None = None
        # central's change feed commits site, poli, closed days and reservations, then says so
        self._central_changes = bus.subscribe(ReservationsChanged)

    # ---- transactions --------------------------------------------------------------------
    @contextlib.contextmanager
    def unit(self) -> Iterator[None]:
        """One transaction around everything inside; bus messages go out only after it commits.

        Nested units join the outer one. An exception rolls everything back and drops the
        messages, so nothing is printed, announced or sent for a change that was not kept.
        """
        if getattr(self._local, "pending", None) is not None:
            yield
            return
        self._local.pending = []
        try:
            with database.atomic("IMMEDIATE"):
                yield
            pending = self._local.pending
        finally:
            self._local.pending = None
        self._changed()  # before the messages: a screen woken by one reads the new board
        for message in pending:
            self.bus.publish(message)

    def _changed(self) -> None:
        """Something committed: the next board() is built afresh."""
        with self._generation_lock:
            self._generation += 1
            self._board = None

    def _post(self, message) -> None:
        pending = getattr(self._local, "pending", None)
        if pending is None:
            self.bus.publish(message)
        else:
            pending.append(message)

    def _record(self, ticket: Ticket | None, event: Event) -> None:
        """Write ``event`` to the ticket row and the outbox, and publish it after the commit."""
        if ticket is not None:
            _apply_to_row(ticket, event)
            ticket.save()
        Outbox.create(type=event.NAME, v=event.VERSION, at=event.at, data=json.dumps(events.to_data(event)))
        if getattr(self._local, "pending", None) is None:  # outside a unit: it has committed by now
            self._changed()
        self._post(event)

    # ---- helpers -------------------------------------------------------------------------
    def _now(self) -> dt.datetime:
        return self.clock.now()

    def _at(self) -> str:
        return events.now_text(self._now())

    def _next_number(self, day: str, queue: str) -> int:
        counter, _ = QueueCounter.get_or_create(day=day, queue=queue)
        QueueCounter.update(last=QueueCounter.last + 1).where(QueueCounter.id == counter.id).execute()
        return QueueCounter.get_by_id(counter.id).last

    # ---- the puskesmas as central's back office keeps it ----------------------------------
    # The config's values (set at provisioning) stand until central has sent its own through the
    # change feed; read on every use, so a change shows without restarting the node.
    def site(self) -> dict:
        """Name, address, phone, hours, loket count and the TV's running text of this puskesmas."""
        row = Site.get_or_none(Site.id == 1)
        if row is None:
            c = self.config
            return {
                "name": c.puskesmas_name,
                "address": c.puskesmas_address,
                "phone": "",
                "hours": "",
                "lokets": c.lokets,
                "running_text": "",
            }
        return {
            "name": row.name,
            "address": row.address,
            "phone": row.phone,
            "hours": row.hours,
            "lokets": row.lokets,
            "running_text": row.running_text,
        }

    def _all_polis(self) -> list[dict]:
        rows = list(Poli.select().order_by(Poli.order, Poli.code))
        if not rows:
            return [{**p, "active": True} for p in self.config.polis]
        return [{"code": r.code, "name": r.name, "prefix": r.prefix, "active": r.active} for r in rows]

    def polis(self) -> list[dict]:
        """The poli taking patients now (code, name, prefix), in the kiosk's and TV's order."""
        return [p for p in self._all_polis() if p["active"]]

    def poli(self, code: str, inactive: bool = False) -> dict | None:
        """An active poli by code (``inactive``: also one that no longer takes new tickets)."""
        return next((p for p in self._all_polis() if p["code"] == code and (p["active"] or inactive)), None)

    def closed_on(self, day: str) -> str | None:
        """The holiday's name when the puskesmas is closed on ``day`` (ISO), else None."""
        row = ClosedDay.get_or_none((ClosedDay.date == day) & ClosedDay.closed)
        return row.name if row else None

    def closed_today(self) -> str | None:
        return self.closed_on(self._now().date().isoformat())

    def site_rev(self) -> str:
        """A short fingerprint of what the screens show of the site (details, poli, today's
        closing): a screen built with another one reloads."""
        facts = [self.site(), self._all_polis(), self.closed_today()]
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:12]

    def queue_name(self, queue: str) -> str:
        """Human name of a queue, e.g. "Pendaftaran Umum", "Poli Gigi"."""
        if queue == q.REG_UMUM:
            return "Pendaftaran Umum"
        if queue == q.REG_BPJS:
            return "Pendaftaran BPJS"
        poli = self.poli(queue.removeprefix("POLI-"), inactive=True)
        return poli["name"] if poli else queue

    def waiting_ahead(self, ticket: Ticket) -> int:
        """How many are called before ``ticket`` (a registration ticket: in both registration
        queues, as every loket calls from both); 0 once it is not waiting."""
        if ticket.state != q.WAITING:
            return 0
        queues = q.REG_QUEUES if ticket.queue in q.REG_QUEUES else (ticket.queue,)
        return sum(self._ahead_in(ticket, queue) for queue in queues)

    def waiting_estimate(self, ticket: Ticket) -> str:
        """What the printed ticket says of her wait ("Perkiraan tunggu: 10–20 menit"), from
        her place in her own queue; "" when it cannot be estimated yet."""
        if ticket.state != q.WAITING:
            return ""
        at = self._ahead_in(ticket, ticket.queue)
        if at >= estimates.MAX_ENTRIES:
            return ""
        now = self._now()
        # with ``at`` people ahead she is where one taking a number now would be behind them
        found = estimates.queue_estimates(now.date(), [ticket.queue], {ticket.queue: [""] * at}, now)
        text = estimate.words(found.get(ticket.queue, {}).get("estimate_next"))
        return f"Perkiraan tunggu: {text.removeprefix('perkiraan ')}" if text else ""

    @staticmethod
    def _waiting_in(day: str, queue: str):
        """Today's waiting tickets of one queue in calling order (``edge.core.queue.order_key``:
        priority first, then sort time, then number; ties by row), read along the
        ``ticket_waiting_order`` index."""
        return (
            Ticket.select()
            .where((Ticket.day == day) & (Ticket.queue == queue) & (Ticket.state == q.WAITING))
            .order_by(Ticket.priority.desc(), Ticket.sort_time, Ticket.number, Ticket.id)
        )

    @staticmethod
    def _ahead_in(ticket: Ticket, queue: str) -> int:
        """How many waiting tickets of ``queue`` come before ``ticket`` in calling order."""
        before = (Ticket.priority > ticket.priority) | (
            (Ticket.priority == ticket.priority)
            & (Tuple(Ticket.sort_time, Ticket.number, Ticket.id) < Tuple(ticket.sort_time, ticket.number, ticket.id))
        )
        return (
            Ticket.select()
            .where((Ticket.day == ticket.day) & (Ticket.queue == queue) & (Ticket.state == q.WAITING) & before)
            .count()
        )

    def next_waiting(self, day: str, queues) -> Ticket | None:
        """The ticket to call next among ``queues``: each queue's first in SQL, then the rules'
        ``next_to_call`` among those few."""
        firsts = [t for t in (self._waiting_in(day, queue).first() for queue in queues) if t is not None]
        nxt = q.next_to_call([_waiting_facts(t) for t in firsts])
        return next((t for t in firsts if t.key == nxt.key), None) if nxt else None

    def _issue(
        self,
        queue,
        kind,
        payer,
        actor: Actor,
        *,
        prefix,
        poli=None,
        rid=None,
        slot=None,
        priority=False,
        priority_class="",
        sort_time=None,
        note="",
        print_it=True,
        parent=None,
        label=None,
        key=None,
    ) -> Ticket:
        at = self._at()
        day = self._now().date().isoformat()
        number = 0 if label else self._next_number(day, queue)
        # The live-page token printed as the ticket's QR (16 URL-safe characters, 96 bits). A
        # poli ticket a loket ticket is sent on with keeps its token and priority: the patient's
        # one paper follows her.
        from_ticket = Ticket.get_or_none(Ticket.key == parent) if parent else None
        token = from_ticket.token if from_ticket is not None and from_ticket.token else secrets.token_urlsafe(12)
        if from_ticket is not None and not priority_class:
            priority_class = from_ticket.priority_class
        event = TicketIssued(
            ticket=key or secrets.token_hex(8),
            day=day,
            queue=queue,
            label=label or q.label(prefix, number),
            number=number,
            kind=kind,
            payer=payer,
            poli=poli,
            rid=rid,
            slot=slot,
            priority=priority,
            priority_class=priority_class or "",
            parent=parent,
            token=token,
            at=at,
            actor=actor,
        )
        # WIB with microseconds: the text sorts as the time (the calling order is asked of SQLite)
        sort_text = (sort_time or self._now()).astimezone(WIB).isoformat(timespec="microseconds")
        t = Ticket(key=event.ticket, sort_time=sort_text, note=note)
        self._record(t, event)
        if print_it:
            PrintJob.create(ticket_key=t.key, created_at=at)
            self._post(PrintQueued(t.key))
        return t

    # ---- kiosk ---------------------------------------------------------------------------
    def issue_walkin(
        self, payer: str, priority: bool = False, actor: Actor = events.KIOSK, priority_class: str = ""
    ) -> Ticket:
        """A walk-in registration ticket (Umum -> A, BPJS -> B), queued and sent to the printer.

        ``priority_class`` (lansia, disabilitas, ibu_hamil; staff at the loket only) makes it a
        priority number and says why."""
        if payer not in ("UMUM", "BPJS"):
            raise QueueError("Pilih Pasien Umum atau Pasien BPJS.")
        if priority_class and priority_class not in PRIORITY_CLASSES:
            raise QueueError("Pilih kelas prioritas: Lansia (≥ 60 th), Disabilitas atau Ibu hamil.")
        queue = q.REG_UMUM if payer == "UMUM" else q.REG_BPJS
        with self.unit():
            t = self._issue(
                queue,
                "walkin",
                payer,
                actor,
                prefix=q.REG_PREFIX[queue],
                priority=priority or bool(priority_class),
                priority_class=priority_class,
            )
        log.info("issued walk-in ticket %s", t.label)
        return t

    # ---- BPJS patients without a QR: card number or NIK ------------------------------------
    def reservation_for_number(self, number: str) -> Reservation | None:
        """Today's active booking made with this NIK or card number (normalised) and not yet
        checked in, the earliest slot first; None when there is none."""
        today = self._now().date().isoformat()
        rows = (
            Reservation.select()
            .where((Reservation.date == today) & (Reservation.status == "active") & (Reservation.idents != ""))
            .order_by(Reservation.slot, Reservation.id)
        )
        found = [r for r in rows if idents.matches(r.rid, r.idents, number)]
        if not found:
            return None
        used = {c.rid for c in CheckIn.select(CheckIn.rid).where(CheckIn.rid.in_([r.rid for r in found]))}
        return next((r for r in found if r.rid not in used), found[0])

    def check_in_number(self, number: str, actor: Actor) -> Ticket | None:
        """Check in today's booking made with this NIK or card number (a Mobile JKN booking, a
        lost phone), as its QR would; None when there is no such booking. Raises CheckinRefused
        as ``check_in_code`` (``again`` when it was checked in already)."""
        with self.unit():
            r = self.reservation_for_number(number)
            if r is None:
                return None
            t = self._admit(r.rid, r.poli, r.date, r.slot, r.payer, actor, self._now())
        log.info("reservation checked in by NIK / card number as %s", t.label)
        return t

    def scan_number(self, number: str, actor: Actor = events.SCANNER) -> Ticket | None:
        """A BPJS card's barcode (or a NIK) read by the kiosk's scanner: today's booking made with
        it is checked in, otherwise a BPJS walk-in ticket is issued with its membership checked
        (an inactive one too: the loket settles it, the screen does not say it). The outcome shows
        on the kiosk as any scan's (``ScanLog``), without the number or the membership."""
        try:
            with self.unit():  # the check-in and its scan log: one transaction
                t = self.check_in_number(number, actor)
                if t is not None:
                    self._log_scan(
                        True, "ok", f"Reservasi ditemukan. Nomor antrean Anda {t.label}, {self.queue_name(t.queue)}.", t
                    )
        except CheckinRefused as exc:
            self._log_scan(False, exc.code, str(exc), exc.ticket)
            raise
        if t is not None:
            return t
        checked = self.bpjs.check(number)  # outside any transaction: PCare may be slow
        with self.unit():
            t = self.issue_bpjs_walkin(number, checked, actor)
            self._log_scan(True, "ok", f"Nomor antrean Anda {t.label}, {self.queue_name(t.queue)}.", t)
        return t

    def issue_bpjs_walkin(self, number: str, checked: Checked, actor: Actor = events.KIOSK) -> Ticket:
        """A BPJS walk-in registration ticket (B) for the patient who gave ``number``, with its
        membership check kept for the loket and sent to central (``bpjs.checked``) in the same
        transaction. The ticket and the TV never show the membership."""
        with self.unit():
            t = self._issue(q.REG_BPJS, "walkin", "BPJS", actor, prefix=q.REG_PREFIX[q.REG_BPJS])
            self._bpjs_checked(t, number, checked, actor)
        log.info("issued BPJS walk-in ticket %s (%s)", t.label, checked.membership or "unchecked")
        return t

    def check_bpjs(self, ticket_key: str, number: str = "", actor: Actor | None = None) -> tuple[Ticket, Checked]:
        """The loket checks a BPJS ticket's membership (again): with the number she gives now, or
        the one given at the kiosk today. Asks PCare afresh; raises QueueError."""
        t = Ticket.get_or_none(Ticket.key == ticket_key)
        if t is None or t.day != self._now().date().isoformat():
            raise QueueError("Antrean hari ini tidak ditemukan.")
        if t.payer != "BPJS":
            raise QueueError(f"{t.label} bukan pasien BPJS.")
        given = idents.normalise(number) if number else ""
        if number and not given:
            raise QueueError("Masukkan nomor kartu BPJS (13 digit) atau NIK (16 digit).")
        if not given:
            row = BpjsCheck.get_or_none(BpjsCheck.ticket_key == self._root_key(t))
            given = row.number if row is not None else ""
        if not given:
            raise QueueError("Nomor kartu BPJS atau NIK pasien ini belum ada: masukkan nomornya.")
        checked = self.bpjs.check(given, fresh=True)  # outside any transaction: PCare may be slow
        root = Ticket.get(Ticket.key == self._root_key(t))
        with self.unit():
            self._bpjs_checked(root, given, checked, actor or Actor(t.counter or ""))
        return t, checked

    def _root_key(self, t: Ticket) -> str:
        """The loket ticket a poli ticket was sent on from (its BPJS check is that ticket's)."""
        seen = 0
        while t.parent and seen < 10:
            parent = Ticket.get_or_none(Ticket.key == t.parent)
            if parent is None:
                break
            t, seen = parent, seen + 1
        return t.key

    def _bpjs_checked(self, t: Ticket, number: str, checked: Checked, actor: Actor) -> None:
        at = self._at()
        self._record(
            None,
            events.BpjsMembershipChecked(
                ticket=t.key,
                kartu=checked.kartu,
                nik=checked.nik,
                membership=checked.membership,
                note=checked.message[:200],
                at=at,
                actor=actor,
            ),
        )
        kind, shown = bpjs_check.hint(number)
        fields = {
            "membership": checked.membership,
            "note": checked.message[:200],
            "number": number,
            "number_kind": kind,
            "number_hint": shown,
            "checked_at": at,
        }
        BpjsCheck.insert(ticket_key=t.key, **fields).on_conflict(
            conflict_target=[BpjsCheck.ticket_key], update=fields
        ).execute()
        self.forget_old_numbers(at[:10])

    def forget_old_numbers(self, today: str | None = None) -> int:
        """Blank the BPJS card numbers and NIKs of days before ``today`` (ISO): the loket's copy
        in ``bpjscheck`` and the ``bpjs.checked`` events central has acknowledged (Antrean FKTP
        is reported the same day). Returns how many outbox rows were blanked."""
        today = today or self._now().date().isoformat()
        BpjsCheck.update(number="").where((BpjsCheck.number != "") & (BpjsCheck.checked_at < today)).execute()
        done = 0
        old = Outbox.select().where(
            (Outbox.type == events.BpjsMembershipChecked.NAME) & Outbox.delivered & (Outbox.at < today)
        )
        for row in old:
            data = json.loads(row.data)
            if data.get("kartu") or data.get("nik"):
                data["kartu"], data["nik"] = "", ""
                Outbox.update(data=json.dumps(data)).where(Outbox.seq == row.seq).execute()
                done += 1
        return done

    def bpjs_statuses(self, tickets: list[Ticket]) -> dict[str, dict]:
        """Ticket key -> the BPJS membership staff see (label, kelas, note, hint, whether it can be
        checked again) for the BPJS tickets among ``tickets``: a walk-in's (or its loket ticket's)
        check here, or a booking's as central checked it."""
        out: dict[str, dict] = {}
        bpjs = [t for t in tickets if t.payer == "BPJS"]
        if not bpjs:
            return out
        roots = {t.key: self._root_key(t) for t in bpjs}
        wanted = list(set(roots.values()))
        checks = {c.ticket_key: c for c in BpjsCheck.select().where(BpjsCheck.ticket_key.in_(wanted))}
        rids = [t.rid for t in bpjs if t.rid]
        booked = {r.rid: r.membership for r in Reservation.select().where(Reservation.rid.in_(rids))} if rids else {}
        for t in bpjs:
            c = checks.get(roots[t.key])
            if c is not None:
                status, note, shown, again = c.membership, c.note, c.number_hint, bool(c.number)
            elif t.rid:
                status = booked.get(t.rid, "")
                note = "Diperiksa saat reservasi." if status else "Kepesertaan belum diperiksa."
                shown, again = "", False
            else:
                status, note, shown, again = "", "Nomor kartu BPJS belum diberikan: periksa di loket.", "", False
            out[t.key] = {
                "status": status,
                "label": bpjs_check.LABELS.get(status, status),
                "kelas": bpjs_check.KELAS.get(status, "info"),
                "note": note,
                "hint": shown,
                "again": again,
            }
        return out

    RATINGS = {1: "Sangat buruk", 2: "Buruk", 3: "Cukup", 4: "Baik", 5: "Sangat baik"}

    def give_feedback(self, rating, poli: str = "", actor: Actor = events.KIOSK) -> events.KioskFeedbackGiven:
        """A patient's rating of the service at the kiosk (1..5, optionally the active poli she
        visited); kept in the outbox like every event, so it reaches central when the link is up."""
        if isinstance(rating, str) and rating.strip().isascii() and rating.strip().isdigit():
            rating = int(rating.strip())
        if isinstance(rating, bool) or not isinstance(rating, int) or rating not in self.RATINGS:
            raise QueueError("Pilih salah satu dari lima nilai, 1 (sangat buruk) sampai 5 (sangat baik).")
        poli = poli.strip() if isinstance(poli, str) else ""
        if poli and self.poli(poli) is None:
            raise QueueError("Poli tidak ditemukan. Pilih poli dari daftar, atau lewati.")
        event = events.KioskFeedbackGiven(rating=rating, poli=poli, at=self._at(), actor=actor)
        with self.unit():
            self._record(None, event)
        log.info("kiosk rating %d recorded", rating)
        return event

    def trusted_keys(self) -> dict[str, bytes]:
        """The QR keys a pass may be signed with now: the config's, and those central rotated in.

        Central's word wins for a key it knows: a retired key (even one in the config) is
        trusted only until ``trusted_until``, when the last pass it signed has expired.
        """
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        keys = dict(self.public_keys)
        for row in QrKey.select():
            if row.trusted_until and row.trusted_until <= now:
                keys.pop(row.kid, None)
                continue
            try:
                keys.update(qrpass.load_public_keys({row.kid: row.public_b64}))
            except ValueError:
                log.error("QR key %s from central does not match its id; not trusted", row.kid)
        return keys

    def check_in(self, text: str, actor: Actor = events.SCANNER) -> Ticket:
        """Check a reservation QR in: verify offline, enforce single use, queue at its poli.

        Raises CheckinRefused with a code (format, unknown-key, signature, other-puskesmas,
        not-today, expired, cancelled, unknown-poli, again) and a message for the patient.
        Every outcome is recorded in ScanLog (without the QR text).
        """
        try:
            with self.unit():  # the check-in, its print job and its scan log: one transaction
                t = self._check_in(text, actor)
                self._log_scan(True, "ok", f"Nomor antrean Anda {t.label}, {self.queue_name(t.queue)}.", t)
        except CheckinRefused as exc:
            self._log_scan(False, exc.code, str(exc), exc.ticket)
            raise
        log.info("reservation checked in as %s", t.label)
        return t

    def _check_in(self, text: str, actor: Actor) -> Ticket:
        now = self._now()
        try:
            p = qrpass.verify(text, self.trusted_keys(), self.config.puskesmas_code, now.date(), now.timestamp())
        except qrpass.PassError as exc:
            log.warning("QR pass refused: %s", exc.code)
            raise CheckinRefused(exc.code, str(exc)) from None
        return self._admit(p.rid, p.poli, p.date, p.slot, p.payer, actor, now)

    def check_in_code(self, code: str, actor: Actor) -> Ticket:
        """Check a reservation in by its kode booking, or by the NIK or card number it was made
        with, for today, as its QR would (a Mobile JKN booking has no QR; a patient may have lost
        the phone). Staff at the loket and patients at the kiosk do this.

        Raises CheckinRefused: format, unknown-code (not in the change feed yet, or a mistyped
        code), unknown-number, not-today, and the QR's closed, poli-closed, unknown-poli, again,
        cancelled.
        """
        text = "".join(ch for ch in str(code or "") if ch not in " -.")[:33]
        if not text or len(text) > 32 or not text.isascii() or not text.isalnum():
            raise CheckinRefused(
                "format", "Masukkan kode booking (huruf dan angka, tanpa spasi), NIK atau nomor kartu BPJS."
            )
        number = idents.normalise(text)
        if number:
            t = self.check_in_number(number, actor)
            if t is not None:
                return t
            if not Reservation.select().where(Reservation.rid.in_({text, text.lower(), text.upper()})).exists():
                raise CheckinRefused(
                    "unknown-number",
                    "Tidak ada reservasi hari ini dengan NIK atau nomor kartu BPJS ini. Periksa kembali nomornya, "
                    "atau ambil antrean sebagai pasien baru.",
                )
        now = self._now()
        with self.unit():
            r = Reservation.get_or_none(Reservation.rid.in_({text, text.upper(), text.lower()}))
            if r is None:
                raise CheckinRefused(
                    "unknown-code",
                    "Kode booking tidak ditemukan. Periksa kembali kodenya; reservasi yang baru dibuat "
                    "belum sampai bila puskesmas sedang tidak terhubung ke pusat.",
                )
            if r.date != now.date().isoformat():
                day = dt.date.fromisoformat(r.date).strftime("%d-%m-%Y")
                raise CheckinRefused("not-today", f"Kode booking ini untuk tanggal {day}, bukan hari ini.")
            t = self._admit(r.rid, r.poli, r.date, r.slot, r.payer, actor, now)
        log.info("reservation checked in by kode booking as %s", t.label)
        return t

    def _admit(self, rid: str, poli_code: str, day: str, slot: str, payer: str, actor: Actor, now) -> Ticket:
        """Queue a reservation (already known to be this puskesmas's, for today) at its poli, once."""
        closed = self.closed_on(day)
        if closed:
            raise CheckinRefused(
                "closed",
                f"Hari ini puskesmas tutup ({closed}); reservasi tidak dapat dipakai. "
                "Bila darurat, silakan ke petugas loket.",
            )
        poli = self.poli(poli_code)
        if poli is None:
            if self.poli(poli_code, inactive=True) is not None:
                raise CheckinRefused(
                    "poli-closed", "Poli pada reservasi ini tidak menerima antrean baru. Silakan ke petugas loket."
                )
            raise CheckinRefused("unknown-poli", "Poli pada reservasi ini tidak tersedia di puskesmas ini.")
        # A pass that was used is "used", even if central cancelled the booking afterwards: the
        # check-in is a fact, and the patient holds that ticket.
        self._refuse_if_used(rid)
        known = Reservation.get_or_none(Reservation.rid == rid)
        if known is not None and known.status == "cancelled":
            raise CheckinRefused("cancelled", "Reservasi ini sudah dibatalkan.")
        if known is None:  # booked after the last sync: the signature is enough to admit
            log.info("checking in a reservation not yet synced to this node")
        elif known.payer in ("UMUM", "BPJS"):
            payer = known.payer  # central's word: the patient may have switched to Umum after her QR was made
        start = q.slot_start(dt.date.fromisoformat(day), slot, WIB)
        t = self._issue(
            q.poli_queue(poli_code),
            "reservation",
            payer,
            actor,
            prefix=poli["prefix"],
            poli=poli_code,
            rid=rid,
            slot=slot,
            sort_time=q.reservation_sort_time(start, now),
            note=f"Reservasi {slot.replace(':', '.')} WIB",  # "Reservasi 08.00-09.00 WIB"
        )
        try:
            with database.atomic():
                CheckIn.create(rid=rid, ticket_key=t.key, at=t.issued_at)
        except IntegrityError:  # a second scan of the same pass in the same instant
            self._refuse_if_used(rid)
            raise
        self._record(None, ReservationCheckedIn(rid=rid, ticket=t.key, label=t.label, at=t.issued_at, actor=actor))
        return t

    @staticmethod
    def _refuse_if_used(rid: str) -> None:
        first = CheckIn.get_or_none(CheckIn.rid == rid)
        if first is None:
            return
        prev = Ticket.get(Ticket.key == first.ticket_key)
        at = dt.datetime.fromisoformat(first.at).strftime("%H.%M")
        raise CheckinRefused(
            "again",
            f"QR ini sudah dipakai check-in pukul {at}, nomor antrean {prev.label}. Tiket tidak dicetak lagi.",
            prev,
        )

    def _log_scan(self, ok: bool, code: str, message: str, ticket: Ticket | None) -> None:
        """Record a scan's outcome: in the check-in's own transaction when it joins one (a
        refused scan's transaction was rolled back: its own)."""
        with self.unit():
            row = ScanLog.create(
                at=self._now().isoformat(timespec="seconds"),
                ok=ok,
                code=code,
                message=message,
                ticket_key=ticket.key if ticket else None,
                label=ticket.label if ticket else None,
            )
            self._post(ScanRecorded(row.id, ok, code, message, row.label))

    # ---- staff ---------------------------------------------------------------------------
    def counters(self) -> list[dict]:
        """Places that call patients: each loket and each poli. A poli no longer active stays
        (``active`` False) while today's tickets in its queue are not finished."""
        out = [
            {"id": f"loket-{i}", "name": f"Loket {i}", "queues": list(q.REG_QUEUES), "active": True}
            for i in range(1, self.site()["lokets"] + 1)
        ]
        open_queues = set()
        polis = self._all_polis()
        if not all(p["active"] for p in polis):
            open_queues = {
                t.queue
                for t in Ticket.select(Ticket.queue)
                .where((Ticket.day == self._now().date().isoformat()) & Ticket.state.not_in(list(q.FINAL_STATES)))
                .distinct()
            }
        out += [
            {"id": f"poli-{p['code']}", "name": p["name"], "queues": [q.poli_queue(p["code"])], "active": p["active"]}
            for p in polis
            if p["active"] or q.poli_queue(p["code"]) in open_queues
        ]
        return out

    def counter(self, counter_id: str) -> dict:
        c = next((c for c in self.counters() if c["id"] == counter_id), None)
        if c is None:
            raise QueueError("Loket atau poli tidak dikenal.")
        return c

    def call_next(self, counter_id: str, actor: Actor | None = None) -> Ticket | None:
        """Call the next waiting ticket for a loket/poli; None when nobody is waiting."""
        c = self.counter(counter_id)
        with self.unit():
            t = self.next_waiting(self._now().date().isoformat(), c["queues"])
            if t is None:
                return None
            event = q.call(_facts(t), c["id"], c["name"], actor or Actor(c["id"]), self._at())
            self._record(t, event)
            self._announce(t, event)
        return t

    def act(self, ticket_key: str, action: str, to_poli: str | None = None, actor: Actor | None = None) -> Ticket:
        """recall, serve, finish, no_show, cancel, or transfer (finish at loket, send to a poli)."""
        with self.unit():
            t = Ticket.get_or_none(Ticket.key == ticket_key)
            if t is None:
                raise QueueError("Antrean tidak ditemukan.")
            actor = actor or Actor(t.counter or "")
            try:
                if action == "transfer":
                    self._transfer(t, to_poli, actor)
                elif action in q.ACTION_EVENTS or action == "recall":
                    event = q.act(_facts(t), action, actor, self._at())
                    self._record(t, event)
                    if isinstance(event, TicketCalled):
                        self._announce(t, event)
                else:
                    raise QueueError(f"Aksi tidak dikenal: {action}")
            except q.TransitionError as exc:
                raise QueueError(str(exc)) from None
        return t

    def _transfer(self, t: Ticket, to_poli: str | None, actor: Actor) -> None:
        poli = self.poli(to_poli or "")
        if poli is None:
            raise QueueError("Pilih poli tujuan yang masih menerima pasien.")
        new_key = secrets.token_hex(8)
        self._record(t, q.transfer(_facts(t), new_key, poli["code"], actor, self._at()))
        self._issue(
            q.poli_queue(poli["code"]),
            "transfer",
            t.payer,
            actor,
            prefix="",
            poli=poli["code"],
            priority=t.priority,
            priority_class=t.priority_class,
            parent=t.key,
            label=t.label,
            print_it=False,
            key=new_key,
        )

    def _announce(self, t: Ticket, event: TicketCalled) -> None:
        Announcement.create(ticket_key=t.key, label=t.label, destination=event.destination, created_at=event.at)

    def reprint(self, ticket_key: str) -> Ticket:
        """Print one of today's tickets again (staff, e.g. after the paper ran out)."""
        with self.unit():
            t = Ticket.get_or_none(Ticket.key == ticket_key)
            if t is None:
                raise QueueError("Antrean tidak ditemukan.")
            if t.day != self._now().date().isoformat():
                raise QueueError("Hanya tiket hari ini yang dapat dicetak ulang.")
            PrintJob.create(ticket_key=t.key, created_at=self._at())
            self._post(PrintQueued(t.key))
        return t

    # ---- views of the day ----------------------------------------------------------------
    def board(self) -> dict:
        """The day's public state: who each counter has called and is serving now, the last
        calls, and who waits, by queue (a waiting number's priority class in ``priority``).

        Ticket numbers and room names only (this is shown on TVs and phones).

        Built once per change and shared: the same dict is returned until a unit commits,
        central's changes arrive or the minute turns (the estimates move with the clock), so
        callers must not change it. Inside a unit it is built from what the unit sees, and not
        kept.
        """
        if getattr(self._local, "pending", None) is not None:
            return self._build_board()
        while True:  # central's changes committed since the last look
            try:
                self._central_changes.queue.get_nowait()
            except queue_mod.Empty:
                break
            self._changed()
        minute = self._now().replace(second=0, microsecond=0)
        with self._generation_lock:
            gen, kept = self._generation, self._board
        if kept is not None and kept[0] == (gen, minute):
            return kept[1]
        with self._build_lock:  # the screens woken by one change wait for one build
            with self._generation_lock:
                gen, kept = self._generation, self._board
            if kept is not None and kept[0] == (gen, minute):
                return kept[1]
            board = self._build_board()
            with self._generation_lock:
                if self._generation == gen:  # nothing committed since it began: keep it
                    self._board = ((gen, minute), board)
            return board

    def _build_board(self) -> dict:
        day = self._now().date().isoformat()
        queues = {}
        places = self.counters()  # a poli the back office closed (and its queue done) is not shown
        names = {c["name"] for c in places}
        poli_queues = [c["queues"][0] for c in places if c["id"].startswith("poli-")]
        shown = [*q.REG_QUEUES, *poli_queues]
        for queue in shown:
            queues[queue] = {"name": self.queue_name(queue), "waiting": [], "priority": {}}
        # every queue's waiting numbers in calling order in one statement (queue by queue along
        # the ticket_waiting_order index), read off the cursor: the day's whole waiting list is
        # what grows with a busy morning, so no model rows are made for it
        waiting = (
            Ticket.select(Ticket.queue, Ticket.label, Ticket.priority_class)
            .where((Ticket.day == day) & Ticket.queue.in_(shown) & (Ticket.state == q.WAITING))
            .order_by(Ticket.queue, Ticket.priority.desc(), Ticket.sort_time, Ticket.number, Ticket.id)
        )
        for queue, label, cls in database.execute(waiting).fetchall():
            entry = queues[queue]
            entry["waiting"].append(label)
            if cls:
                entry["priority"][label] = cls
        # "perkiraan … menit" for each waiting ticket and for one taken now (edge.estimates)
        now = self._now()
        ranges = estimates.queue_estimates(now.date(), list(queues), {k: v["waiting"] for k, v in queues.items()}, now)
        for queue, found in ranges.items():
            queues[queue].update(found)
        # a counter shows the number it has called or is serving: once that ticket is finished,
        # not there or cancelled, the counter shows nothing until it calls again
        counters = {}
        active = (
            Ticket.select()
            .where((Ticket.day == day) & Ticket.called_at.is_null(False) & Ticket.state.in_([q.CALLED, q.SERVING]))
            .order_by(Ticket.called_at.desc(), Ticket.id.desc())
        )
        for t in active:
            if t.destination and t.destination not in counters and t.destination in names:
                counters[t.destination] = t.label
        # the last calls, newest first: five to the loket and five to the poli, so each TV
        # (registration, poli) lists its own even when the other side is busier
        recent = []
        for side in (Ticket.queue.in_(list(q.REG_QUEUES)), Ticket.queue.not_in(list(q.REG_QUEUES))):
            calls = (
                Ticket.select()
                .where((Ticket.day == day) & Ticket.called_at.is_null(False) & side)
                .order_by(Ticket.called_at.desc(), Ticket.id.desc())
                .limit(RECENT_CALLS)
            )
            recent += [(t.called_at, t.id, t) for t in calls]
        recent = [
            {"label": t.label, "destination": t.destination, "at": t.called_at[11:16]}
            for _at, _id, t in sorted(recent, key=lambda c: (c[0], c[1]), reverse=True)
        ]
        return {
            "day": day,
            "queues": queues,
            "order": list(queues),  # registration first, then the poli in the back office's order
            "counters": counters,
            "recent": recent,  # the last calls, newest first, finished or not
            "site": self.site_rev(),
        }

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

    def print_state(self, ticket_key: str) -> str:
        """The newest print job's status for a ticket: pending, printed, failed, expired or none."""
        job = PrintJob.select().where(PrintJob.ticket_key == ticket_key).order_by(PrintJob.id.desc()).first()
        return job.status if job else "none"

    def todays_tickets(self, queues: list[str] | None = None, number: str = "") -> list[dict]:
        """Today's tickets, newest first, with their state and print status (the staff reprint list)."""
        day = self._now().date().isoformat()
        query = Ticket.select().where((Ticket.day == day) & (Ticket.kind != "transfer"))
        if queues:
            query = query.where(Ticket.queue.in_(queues))
        if number:
            query = query.where(Ticket.label == number.strip().upper())
        rows = list(query.order_by(Ticket.id.desc()).limit(200))
        jobs: dict[str, str] = {}
        keys = [t.key for t in rows]
        if keys:
            for job in PrintJob.select().where(PrintJob.ticket_key.in_(keys)).order_by(PrintJob.id):
                jobs[job.ticket_key] = job.status
        memberships = self.bpjs_statuses(rows)
        return [
            {
                "key": t.key,
                "label": t.label,
                "queue": self.queue_name(t.queue),
                "state": t.state,
                "issued": t.issued_at[11:16],
                "print": jobs.get(t.key, "none"),
                "payer": t.payer,
                "priority": PRIORITY_BADGES.get(t.priority_class, ""),
                "bpjs": memberships.get(t.key),
            }
            for t in rows
        ]


def _waiting_facts(t: Ticket) -> q.Waiting:
    return q.Waiting(t.key, t.number, t.priority, dt.datetime.fromisoformat(t.sort_time))


def _facts(t: Ticket) -> q.TicketFacts:
    return q.TicketFacts(t.key, t.label, t.state, t.destination, t.counter)


def _apply_to_row(t: Ticket, event: Event) -> None:
    """What an event changes on the edge's ticket row (the same event goes to central)."""
    if isinstance(event, TicketIssued):
        t.key, t.day, t.queue, t.number, t.label = event.ticket, event.day, event.queue, event.number, event.label
        t.kind, t.payer, t.poli, t.rid, t.slot = event.kind, event.payer, event.poli, event.rid, event.slot
        t.priority, t.parent, t.issued_at = event.priority, event.parent, event.at
        t.token, t.priority_class = event.token, event.priority_class or ""
    elif isinstance(event, TicketCalled):
        if not event.recall:
            t.called_at = event.at
        t.destination, t.counter = event.destination, event.counter
    elif isinstance(event, TicketServing):
        t.serving_at = event.at
    t.state = q.state_after(event)
    if t.state in q.FINAL_STATES:
        t.finished_at = event.at
