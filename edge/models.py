"""The edge's peewee models (the day's tickets, check-ins, outbox). ``edge.db`` binds them.

They describe the newest schema; ``edge/migrations/`` brings an older database to it.
"""

from __future__ import annotations

from peewee import (
    AutoField,
    BooleanField,
    CharField,
    DatabaseProxy,
    IntegerField,
    Model,
    TextField,
)

database = DatabaseProxy()


class BaseModel(Model):
    class Meta:
        database = database


class Ticket(BaseModel):
    key = CharField(unique=True, max_length=32)  # random id, also central's Visit.ticket_key
    day = CharField(max_length=10)  # ISO date, WIB
    queue = CharField(max_length=40)  # REG-A, REG-B, POLI-UMUM, ...
    number = IntegerField()  # number within (day, queue) for tickets issued in that queue; 0 for transfers
    label = CharField(max_length=8)  # A007, U003
    kind = CharField(max_length=12)  # walkin, reservation, transfer
    payer = CharField(max_length=4)  # UMUM, BPJS
    poli = CharField(max_length=16, null=True)
    rid = CharField(max_length=32, null=True)
    priority = BooleanField(default=False)
    state = CharField(max_length=12, default="waiting")
    sort_time = CharField(max_length=40)  # ISO, for ordering
    issued_at = CharField(max_length=40)
    called_at = CharField(max_length=40, null=True)  # the first call
    destination = CharField(max_length=40, null=True)  # "Loket 1", "Poli Umum"
    counter = CharField(max_length=40, null=True)  # counter id it was called to: loket-1, poli-UMUM
    serving_at = CharField(max_length=40, null=True)
    finished_at = CharField(max_length=40, null=True)
    parent = CharField(max_length=32, null=True)  # ticket key this one was transferred from
    slot = CharField(max_length=11, null=True)  # a reservation's slot
    note = CharField(max_length=80, default="")
    token = CharField(max_length=24, default="", index=True)  # the ticket's live-page token (its QR)
    priority_class = CharField(max_length=12, default="")  # lansia, disabilitas, ibu_hamil; "" for none

    class Meta:
        # and ticket_waiting_order (calling order) below; migration m0007 adds both new ones
        indexes = ((("day", "queue", "state"), False), (("day", "called_at"), False))


Ticket.add_index(
    Ticket.day,
    Ticket.queue,
    Ticket.state,
    Ticket.priority.desc(),
    Ticket.sort_time,
    Ticket.number,
    name="ticket_waiting_order",
)


class QueueCounter(BaseModel):
    """Last number issued per (day, queue): numbers are never reused, even after a crash."""

    day = CharField(max_length=10)
    queue = CharField(max_length=40)
    last = IntegerField(default=0)

    class Meta:
        indexes = ((("day", "queue"), True),)


class CheckIn(BaseModel):
    """One row per reservation checked in: the unique rid makes every QR single-use."""

    rid = CharField(unique=True, max_length=32)
    ticket_key = CharField(max_length=32)
    at = CharField(max_length=40)


class Reservation(BaseModel):
    """Reservations for this puskesmas, from central's change feed (no personal data)."""

    rid = CharField(unique=True, max_length=32)
    poli = CharField(max_length=16)
    date = CharField(max_length=10)
    slot = CharField(max_length=11)
    payer = CharField(max_length=4)
    status = CharField(max_length=12)
    idents = CharField(max_length=100, default="")  # keyed hashes of its NIK / card number (protocol.idents)
    membership = CharField(max_length=16, default="")  # a BPJS booking's membership as central checked it


class BpjsCheck(BaseModel):
    """The membership check of a BPJS ticket issued here (the kiosk's "Pasien BPJS", a card scan or
    a loket check), for the staff page. Staff see the number's kind (kartu or NIK) and its last
    four digits; the whole number is kept for the day only, so the loket can ask PCare again
    ("Periksa ulang") for a check that was tertunda (``QueueService`` blanks older days')."""

    ticket_key = CharField(unique=True, max_length=32)
    membership = CharField(max_length=16, default="")  # aktif, tidak_aktif, fktp_lain, tidak_terdaftar, tertunda, ""
    note = CharField(max_length=200, default="")
    number = CharField(max_length=16, default="")  # today only; blanked the next day
    number_hint = CharField(max_length=20, default="")  # e.g. "•••• 0001"
    number_kind = CharField(max_length=5, default="")  # kartu, nik
    checked_at = CharField(max_length=40)


class Outbox(BaseModel):
    """Typed events for central (``protocol.events``), written in the same transaction as the
    change they describe."""

    seq = AutoField()  # contiguous: rows are never deleted before delivery
    type = CharField(max_length=40)  # event NAME
    v = IntegerField(default=1)  # event VERSION
    at = CharField(max_length=40)
    data = TextField()  # protocol.events.to_data(event) as JSON
    delivered = BooleanField(default=False, index=True)


class KeyValue(BaseModel):
    """Small facts the node keeps across restarts (``edge.state``): checkpoints, incarnation."""

    key = CharField(unique=True, max_length=40)
    value = CharField(max_length=200)

    class Meta:
        table_name = "syncstate"


class DeferredChange(BaseModel):
    """A change-feed row of a type this release does not know yet, applied after an upgrade."""

    seq = IntegerField(unique=True)
    type = CharField(max_length=80)
    v = IntegerField(default=1)
    data = TextField()


class PrintJob(BaseModel):
    ticket_key = CharField(max_length=32)
    # pending, printed, failed (not printable: staff reprint), expired (waited too long for paper)
    status = CharField(max_length=10, default="pending", index=True)  # printjob_status (m0007)
    attempts = IntegerField(default=0)
    error = CharField(max_length=200, default="")
    created_at = CharField(max_length=40)
    printed_at = CharField(max_length=40, null=True)


class Announcement(BaseModel):
    ticket_key = CharField(max_length=32)
    label = CharField(max_length=8)
    destination = CharField(max_length=40)
    # pending, done, failed (cannot be spoken), expired (too late after a restart)
    status = CharField(max_length=10, default="pending")
    attempts = IntegerField(default=0)
    path = CharField(max_length=300, default="")
    error = CharField(max_length=200, default="")
    created_at = CharField(max_length=40)


class ScanLog(BaseModel):
    """Outcome of each kiosk QR scan (never the scanned text itself)."""

    id = AutoField()
    at = CharField(max_length=40)
    ok = BooleanField()
    code = CharField(max_length=20)  # ok, again, format, signature, other-puskesmas, ...
    message = CharField(max_length=200)
    ticket_key = CharField(max_length=32, null=True)
    label = CharField(max_length=8, null=True)


class Staff(BaseModel):
    """A staff account of this puskesmas (and admin kabupaten), from central's change feed."""

    username = CharField(unique=True, max_length=40)
    name = CharField(max_length=120)
    role = CharField(max_length=20)
    polis = CharField(max_length=200, default="")  # petugas_poli: comma-separated poli codes
    password_hash = CharField(max_length=200)  # argon2id; never the password
    active = BooleanField(default=True)


class StaffSession(BaseModel):
    """A signed-in staff browser: the cookie holds a random key, this row its hash."""

    key_hash = CharField(unique=True, max_length=64)
    username = CharField(max_length=40, index=True)
    created_at = CharField(max_length=40)  # UTC ISO
    last_seen = CharField(max_length=40)
    expires_at = CharField(max_length=40)
    revoked = BooleanField(default=False)


class KioskDevice(BaseModel):
    """A browser a staff member paired as a kiosk (APM); only kiosks may issue tickets."""

    key_hash = CharField(unique=True, max_length=64)
    name = CharField(max_length=60)
    paired_by = CharField(max_length=40)
    created_at = CharField(max_length=40)
    revoked = BooleanField(default=False)


class QrKey(BaseModel):
    """A QR signing key central rotated in after provisioning (from the change feed). Keys in the
    config are trusted always; these until ``trusted_until`` (empty: no end)."""

    kid = CharField(unique=True, max_length=16)
    public_b64 = CharField(max_length=64)
    trusted_until = CharField(max_length=40, default="")


class Site(BaseModel):
    """The puskesmas's details as central's back office keeps them (one row, id 1; from the change
    feed). Until it exists the config's name, address and loket count stand."""

    name = CharField(max_length=120)
    address = CharField(max_length=250, default="")
    phone = CharField(max_length=40, default="")
    hours = CharField(max_length=200, default="")
    lokets = IntegerField()
    running_text = CharField(max_length=200, default="")  # the TV's running text ("" for none)


class Poli(BaseModel):
    """A poli as central's back office keeps it (from the change feed). Once central has sent one,
    these rows, not the config's list, are the node's poli; an inactive one takes no new tickets."""

    code = CharField(unique=True, max_length=16)
    name = CharField(max_length=80)
    prefix = CharField(max_length=2)
    active = BooleanField(default=True)
    order = IntegerField(default=0)


class ClosedDay(BaseModel):
    """A day the puskesmas is closed (a holiday, cuti bersama or its own), from the change feed;
    ``closed`` False: a day that no longer is."""

    date = CharField(unique=True, max_length=10)  # ISO, WIB
    name = CharField(max_length=120)
    closed = BooleanField(default=True)


MODELS = [
    Ticket,
    QueueCounter,
    CheckIn,
    Reservation,
    BpjsCheck,
    Outbox,
    KeyValue,
    DeferredChange,
    PrintJob,
    Announcement,
    ScanLog,
    Staff,
    StaffSession,
    KioskDevice,
    QrKey,
    Site,
    Poli,
    ClosedDay,
]
