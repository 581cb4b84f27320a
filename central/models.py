"""Central's peewee models. They declare no database; ``central.db`` binds them.

They describe the newest schema; ``central/migrations/`` brings an older database to it.
"""

from __future__ import annotations

import datetime as dt

from peewee import (
    BooleanField,
    CharField,
    DatabaseProxy,
    DateField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

database = DatabaseProxy()


def utcnow() -> dt.datetime:
    """Naive UTC timestamp, the form every DateTimeField here stores."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class BaseModel(Model):
    class Meta:
        database = database


class Puskesmas(BaseModel):
    code = CharField(unique=True, max_length=32)  # e.g. "cibinong"
    name = CharField(max_length=120)
    address = CharField(max_length=250)
    kecamatan = CharField(max_length=80)
    phone = CharField(max_length=40, default="")
    hours = CharField(max_length=120, default="Senin-Kamis 07.30-14.00, Jumat 07.30-11.00, Sabtu 07.30-12.30")
    info = TextField(default="")
    map_url = CharField(max_length=300, default="")  # a map link (https only)
    lokets = IntegerField(default=2)  # registration counters at its edge
    # opening hours per ISO weekday as JSON {"1": [["07:30", "12:00"], ["12:30", "14:00"]], ...}
    # (the gaps are breaks); "" means central.core.schedule.DEFAULT_HOURS
    schedule = TextField(default="")
    # quality targets set by the kepala puskesmas, JSON (central.kpi); "" means the defaults
    targets = TextField(default="")
    running_text = CharField(max_length=200, default="")  # the TV's running text ("" for none)


class Poli(BaseModel):
    puskesmas = ForeignKeyField(Puskesmas, backref="polis", on_delete="CASCADE")
    code = CharField(max_length=16)  # e.g. "UMUM"
    name = CharField(max_length=80)  # e.g. "Poli Umum"
    prefix = CharField(max_length=2)  # ticket letter at the edge, e.g. "U"
    slot_quota = IntegerField(default=10)  # reservations per hour slot
    active = BooleanField(default=True)  # False: closed for new tickets and bookings (history kept)
    # reservation hours per ISO weekday, JSON like Puskesmas.schedule; "" means the default slots
    schedule = TextField(default="")
    order = IntegerField(default=0)  # position on the kiosk, TV and booking form

    class Meta:
        indexes = ((("puskesmas", "code"), True),)


class Holiday(BaseModel):
    """A day without service: a national holiday or cuti bersama (``puskesmas`` NULL: every
    puskesmas) or one puskesmas's own closed day. Closed days take no bookings; the edge knows."""

    date = DateField(index=True)
    name = CharField(max_length=120)
    kind = CharField(max_length=10, default="libur")  # libur (national), cuti (cuti bersama), lokal
    puskesmas = ForeignKeyField(Puskesmas, backref="holidays", null=True, on_delete="CASCADE")
    created_at = DateTimeField(default=utcnow)


class Patient(BaseModel):
    nik = CharField(unique=True, max_length=16)
    name = CharField(max_length=120)
    birth_date = DateField()
    sex = CharField(max_length=1)  # "L" or "P"
    address = CharField(max_length=250)
    phone = CharField(max_length=20)
    created_at = DateTimeField(default=utcnow)
    # the patient's secret: a 6-digit PIN, argon2id (protocol.secrets); NULL for an account
    # from release 0.1.0, which must set one (one-time code or the loket) before logging in
    pin_hash = CharField(max_length=200, null=True)
    pin_set_at = DateTimeField(null=True)
    remind_day_before = BooleanField(default=False)  # WhatsApp / SMS the day before a reservation
    remind_turn_near = BooleanField(default=False)  # WhatsApp / SMS when a few numbers are left before hers


class Staff(BaseModel):
    """A staff account. Roles: admin_kabupaten (every puskesmas), admin_puskesmas,
    kepala_puskesmas (read only), petugas_loket, petugas_poli (its ``polis`` only)."""

    username = CharField(unique=True, max_length=40)
    name = CharField(max_length=120)
    role = CharField(max_length=20)
    puskesmas = ForeignKeyField(Puskesmas, backref="staff", null=True)  # NULL only for admin_kabupaten
    polis = CharField(max_length=200, default="")  # comma-separated poli codes, for petugas_poli
    password_hash = CharField(max_length=200)
    active = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow)
    password_changed_at = DateTimeField(default=utcnow)


class WebSession(BaseModel):
    """A signed-in browser (patient or staff): the cookie holds a random key, this row its hash.

    Revoking (logout, a PIN change, an admin) deletes the row's power at once, in every process.
    """

    key_hash = CharField(unique=True, max_length=64)
    patient = ForeignKeyField(Patient, backref="sessions", null=True, on_delete="CASCADE")
    staff = ForeignKeyField(Staff, backref="sessions", null=True, on_delete="CASCADE")
    created_at = DateTimeField(default=utcnow)
    last_seen = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    revoked_at = DateTimeField(null=True)
    device = CharField(max_length=120, default="")  # browser, as its user agent names it (shown to its owner)


class ApiToken(BaseModel):
    """A bearer token of the patient API, stored as a SHA-256 hash; listed and revocable."""

    token_hash = CharField(unique=True, max_length=64)
    patient = ForeignKeyField(Patient, backref="tokens", on_delete="CASCADE")
    name = CharField(max_length=120, default="")
    created_at = DateTimeField(default=utcnow)
    last_used = DateTimeField(null=True)
    expires_at = DateTimeField()
    revoked_at = DateTimeField(null=True)


class StaffToken(BaseModel):
    """A bearer token of the back-office API, for a staff account; stored as a SHA-256 hash."""

    token_hash = CharField(unique=True, max_length=64)
    staff = ForeignKeyField(Staff, backref="tokens", on_delete="CASCADE")
    name = CharField(max_length=120, default="")
    created_at = DateTimeField(default=utcnow)
    last_used = DateTimeField(null=True)
    expires_at = DateTimeField()
    revoked_at = DateTimeField(null=True)


class AuditLog(BaseModel):
    """Who changed what in the back office, when, and the values before and after (JSON)."""

    at = DateTimeField(default=utcnow, index=True)
    staff = ForeignKeyField(Staff, null=True, on_delete="SET NULL")  # NULL: the command line
    actor = CharField(max_length=40, default="")  # username (kept if the account goes)
    puskesmas = ForeignKeyField(Puskesmas, null=True, on_delete="CASCADE")
    entity = CharField(max_length=20)  # puskesmas, poli, holiday, staff, targets, feedback
    entity_key = CharField(max_length=80)  # e.g. "cibinong/UMUM", "2026-12-25", a username
    action = CharField(max_length=10)  # create, update, delete
    before = TextField(default="")
    after = TextField(default="")


class Feedback(BaseModel):
    """Kritik & saran from a patient (web, app) or the kiosk, and the back office's follow-up."""

    puskesmas = ForeignKeyField(Puskesmas, backref="feedback", on_delete="CASCADE")
    patient = ForeignKeyField(Patient, backref="feedback", null=True, on_delete="CASCADE")
    rid = CharField(max_length=32, null=True)  # the reservation (visit) it is about, if any
    poli = CharField(max_length=16, null=True)  # code of the poli it is about (visit's, kiosk's choice)
    rating = IntegerField()  # 1..5
    text = TextField(default="")
    source = CharField(max_length=10, default="web")  # web, app, kiosk
    created_at = DateTimeField(default=utcnow, index=True)
    followed_up_at = DateTimeField(null=True)
    followed_up_by = ForeignKeyField(Staff, null=True, on_delete="SET NULL", backref="+")
    answer = TextField(default="")
    answered_at = DateTimeField(null=True)
    answered_by = ForeignKeyField(Staff, null=True, on_delete="SET NULL", backref="+")

    class Meta:
        indexes = ((("puskesmas", "created_at"), False),)


class PinReset(BaseModel):
    """A way to set a new PIN: a one-time code sent to the phone on file, or a code the loket
    gave after checking the KTP. Stored hashed; one use; short-lived; a few tries."""

    patient = ForeignKeyField(Patient, backref="pin_resets", on_delete="CASCADE")
    code_hash = CharField(max_length=64)
    channel = CharField(max_length=10)  # otp, loket
    staff = ForeignKeyField(Staff, null=True)
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)
    attempts = IntegerField(default=0)


class ThrottleBucket(BaseModel):
    """A rate-limit counter shared by every web process (login, registration, booking, OTP)."""

    key = CharField(unique=True, max_length=120)  # "<what>:<hash of who>"
    count = IntegerField(default=0)
    window_start = DateTimeField(default=utcnow)
    blocked_until = DateTimeField(null=True)


class Reservation(BaseModel):
    rid = CharField(unique=True, max_length=32)  # random, opaque; in the QR pass
    # NULL: a Mobile JKN booking by someone without a Rosma account (``nik``, ``phone`` below)
    patient = ForeignKeyField(Patient, backref="reservations", on_delete="CASCADE", null=True)
    puskesmas = ForeignKeyField(Puskesmas, backref="reservations")
    poli = ForeignKeyField(Poli, backref="reservations")
    date = DateField()
    slot = CharField(max_length=11)  # "08:00-09:00"
    payer = CharField(max_length=4)  # "UMUM" or "BPJS"
    bpjs_no = CharField(max_length=16, null=True)  # card number (13 digits) or NIK (16)
    status = CharField(max_length=12, default="active")  # active, cancelled, checked_in, done
    qr_text = TextField()
    created_at = DateTimeField(default=utcnow)
    checked_in_at = DateTimeField(null=True)
    ticket_label = CharField(max_length=8, null=True)
    cancelled_at = DateTimeField(null=True)
    # "cancelled-then-checked-in": cancelled here while an offline edge checked it in; the
    # check-in stands (the patient was served) and both facts are kept
    conflict = CharField(max_length=40, default="")
    source = CharField(max_length=12, default="web")  # web, api, mobilejkn
    # BPJS membership check (central.bpjs_membership): "" (Umum / not checked), aktif,
    # tidak_aktif, fktp_lain, tidak_terdaftar, tertunda (PCare unreachable: checked again later)
    bpjs_status = CharField(max_length=16, default="")
    bpjs_note = CharField(max_length=200, default="")
    bpjs_checked_at = DateTimeField(null=True)
    reminded_at = DateTimeField(null=True)  # the day-before reminder was queued (central.push)
    nik = CharField(max_length=16, null=True)  # given for a booking with no Rosma account (Mobile JKN)
    phone = CharField(max_length=20, null=True)  # likewise

    class Meta:
        indexes = ((("puskesmas", "poli", "date", "slot"), False),)


class Node(BaseModel):
    """An edge node (one per puskesmas). A re-provisioned node's old row is kept, retired."""

    node_id = CharField(max_length=80, index=True)  # unique among live rows (partial index, migration 2)
    puskesmas = ForeignKeyField(Puskesmas, backref="nodes")
    created_at = DateTimeField(default=utcnow)
    retired = BooleanField(default=False)
    incarnation = CharField(max_length=64, default="")  # the edge database it last heard from
    online = BooleanField(default=False)
    last_seen = DateTimeField(null=True)
    snapshot = TextField(default="")  # latest live queue snapshot (JSON), for patients' phones
    snapshot_rev = IntegerField(default=0)  # bumped with every snapshot: the phone streams watch it
    status = TextField(default="")  # latest device/sync status the edge published (JSON), fleet view
    status_at = DateTimeField(null=True)
    offline_since = DateTimeField(null=True)

    @classmethod
    def live(cls):
        return cls.select().where(~cls.retired)


class NodeStream(BaseModel):
    """One edge database's event history: a replaced database (new incarnation) starts a new one."""

    node = ForeignKeyField(Node, backref="streams", on_delete="CASCADE")
    incarnation = CharField(max_length=64, default="")  # "" for a release-0.1.0 edge
    up_seq = IntegerField(default=0)  # highest event seq stored, contiguous from 1
    first_seen = DateTimeField(default=utcnow)
    last_seen = DateTimeField(null=True)

    class Meta:
        indexes = ((("node", "incarnation"), True),)


class NodeAlert(BaseModel):
    """Something about a node that an admin must look at (e.g. its database was replaced)."""

    node = ForeignKeyField(Node, backref="alerts", on_delete="CASCADE")
    kind = CharField(max_length=40)  # new-incarnation, ...
    message = CharField(max_length=300)
    created_at = DateTimeField(default=utcnow)
    resolved_at = DateTimeField(null=True)


class AlertNote(BaseModel):
    """An admin kabupaten's "sedang ditangani" note on a node's fleet alert (node, kind), shown
    beside the alert until it clears by itself (``cleared_at``)."""

    node = ForeignKeyField(Node, backref="alert_notes", on_delete="CASCADE")
    kind = CharField(max_length=40)  # central.fleet Alert.kind
    note = CharField(max_length=200)
    staff = ForeignKeyField(Staff, null=True, on_delete="SET NULL", backref="+")
    actor = CharField(max_length=40, default="")  # the staff username, kept if the account goes
    created_at = DateTimeField(default=utcnow)
    cleared_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("node", "kind"), False),)


class Change(BaseModel):
    """The per-node change feed (central to edge); seq grows by one per node."""

    node = ForeignKeyField(Node, backref="changes", on_delete="CASCADE")
    seq = IntegerField()
    type = CharField(max_length=40)  # protocol.changes NAME
    v = IntegerField(default=1)  # its VERSION
    data = TextField()  # protocol.changes.to_data(change) as JSON
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("node", "seq"), True),)


class EdgeEvent(BaseModel):
    """An event received from an edge outbox, stored once per (node, incarnation, seq).

    ``status``: applied; deferred (a type or version this release does not know yet: applied
    after the upgrade); rejected (malformed; kept for inspection).
    """

    node = ForeignKeyField(Node, backref="events", on_delete="CASCADE")
    incarnation = CharField(max_length=64, default="")
    seq = IntegerField()
    type = CharField(max_length=40)
    v = IntegerField(default=1)
    at = CharField(max_length=40)
    ticket = CharField(max_length=40, default="")  # the ticket it is about, if any (keeps a ticket's events in order)
    data = TextField()
    received_at = DateTimeField(default=utcnow)
    status = CharField(max_length=10, default="applied", index=True)
    error = CharField(max_length=200, default="")

    class Meta:
        indexes = ((("node", "incarnation", "seq"), True), (("node", "incarnation", "ticket"), False))


class Visit(BaseModel):
    """One queue ticket's life at a puskesmas, built from the edge's events."""

    node = ForeignKeyField(Node, backref="visits", on_delete="CASCADE")
    ticket_key = CharField(max_length=40)  # the edge's ticket id
    puskesmas = ForeignKeyField(Puskesmas, backref="visits")
    label = CharField(max_length=8)  # e.g. "A007"
    queue = CharField(max_length=40)  # e.g. "REG-A", "POLI-UMUM"
    poli = CharField(max_length=16, null=True)
    payer = CharField(max_length=4)
    rid = CharField(max_length=32, null=True)
    day = DateField()
    issued_at = CharField(max_length=40)
    called_at = CharField(max_length=40, null=True)
    serving_at = CharField(max_length=40, null=True)
    done_at = CharField(max_length=40, null=True)
    destination = CharField(max_length=40, null=True)
    state = CharField(max_length=12, default="waiting")
    kind = CharField(max_length=12, default="")  # walkin, reservation, transfer
    slot = CharField(max_length=11, null=True)  # a reservation's slot
    priority = BooleanField(default=False)
    priority_class = CharField(max_length=12, default="")  # lansia, disabilitas, ibu_hamil; "" for none
    token = CharField(max_length=24, default="", index=True)  # the ticket's live-page token (its QR)
    parent = CharField(max_length=40, null=True)  # the loket ticket a transfer continues
    counter = CharField(max_length=40, null=True)  # counter id of the (first) call
    called_by = CharField(max_length=40, default="")  # staff id once accounts exist
    done_by = CharField(max_length=40, default="")
    # seconds, kept from the events' exact times for the KPIs (central.kpi): issued -> first
    # call; a reservation's slot start -> first call (negative: called early); call (or
    # serving) -> done. NULL until both ends are known.
    wait_s = IntegerField(null=True)
    slot_wait_s = IntegerField(null=True)
    service_s = IntegerField(null=True)

    class Meta:
        indexes = ((("node", "ticket_key"), True), (("puskesmas", "day"), False))


class SigningKeyRow(BaseModel):
    """Central's Ed25519 QR signing keys (public parts); the private parts are files only central reads."""

    kid = CharField(unique=True, max_length=16)
    private_b64 = CharField(max_length=64, default="")  # always "": the private part is a 0600 file (central.keys)
    public_b64 = CharField(max_length=64)
    active = BooleanField(default=True)  # trusted by edges (until trusted_until)
    signs = BooleanField(default=True)  # the key that signs new passes
    trusted_until = DateTimeField(null=True)  # a retired key: until its last pass has expired
    created_at = DateTimeField(default=utcnow)


class KpiStamp(BaseModel):
    """Whether the KPI rollup of a day, month or year (``central.kpi_rollup``) is current: ``gen``
    grows whenever a visit of that day, or of a day of that month, changes (``central.ingest``);
    the rollup was built from the visits as they were at ``built``. Current iff ``built == gen``."""

    start = DateField()  # the day, or the month's or the year's first day
    grain = CharField(max_length=1)  # "d" a day, "m" a month, "y" a year
    gen = IntegerField(default=0)
    built = IntegerField(default=-1)
    version = IntegerField(default=0)  # of the rollup's shape (central.kpi.ROLLUP_VERSION)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("grain", "start"), True),)


class KpiCell(BaseModel):
    """One cell of the KPI rollup for every puskesmas together: the count of visits of a day, month
    or year in one grouping (``q``, by ``central.kpi`` spec) with its group values (``g1``..``g4``,
    text) and, for a waiting/service time, its tenth-of-a-minute bucket ``b`` and whether the
    value lies above the bucket's nominal value (``o``)."""

    start = DateField()
    grain = CharField(max_length=1)
    q = IntegerField()
    g1 = CharField(max_length=40, null=True)
    g2 = CharField(max_length=40, null=True)
    g3 = CharField(max_length=40, null=True)
    g4 = CharField(max_length=40, null=True)
    b = IntegerField(null=True)
    o = IntegerField(default=0)
    n = IntegerField()

    class Meta:
        indexes = ((("grain", "start"), False),)


class BpjsMember(BaseModel):
    """The day's cache of PCare membership answers: one per number (card or NIK), puskesmas and day."""

    number = CharField(max_length=16)
    puskesmas = ForeignKeyField(Puskesmas, backref="+", on_delete="CASCADE")
    day = DateField()
    status = CharField(max_length=16)  # aktif, tidak_aktif, fktp_lain, tidak_terdaftar
    note = CharField(max_length=200, default="")
    provider = CharField(max_length=60, default="")  # the FKTP PCare names
    checked_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "bpjsmember"
        indexes = ((("number", "puskesmas", "day"), True),)


class BpjsReport(BaseModel):
    """The durable Antrean FKTP outbox: one report (add, panggil, batal) per idempotency key."""

    puskesmas = ForeignKeyField(Puskesmas, backref="+", on_delete="CASCADE")
    kind = CharField(max_length=8)  # add, panggil, batal
    key = CharField(max_length=80)  # e.g. "<kodebooking>" or "<node>:<ticket>"
    payload = TextField()  # JSON
    state = CharField(max_length=10, default="pending")  # pending, sent, failed
    attempts = IntegerField(default=0)
    next_at = DateTimeField(null=True)
    last_error = CharField(max_length=200, default="")
    created_at = DateTimeField(default=utcnow)
    sent_at = DateTimeField(null=True)

    class Meta:
        table_name = "bpjsreport"
        indexes = ((("kind", "key"), True), (("state", "next_at"), False))


class BpjsWalkin(BaseModel):
    """A BPJS walk-in's membership check at the edge (``bpjs.checked``): the number she gave and
    PCare's answer, for its Antrean FKTP report once the ticket reaches a poli. One per ticket;
    the check with the newest ``at`` stands (staff may check again)."""

    node = ForeignKeyField(Node, backref="+", on_delete="CASCADE")
    ticket_key = CharField(max_length=40)  # the walk-in (REG-B) ticket
    kartu = CharField(max_length=13, default="")  # 13-digit card number, "" when not known
    nik = CharField(max_length=16, default="")  # 16-digit NIK, "" when not given
    membership = CharField(max_length=16, default="")  # aktif, tidak_aktif, fktp_lain, tidak_terdaftar, tertunda, ""
    note = CharField(max_length=200, default="")  # what PCare said
    checked_at = CharField(max_length=40)  # the event's ``at`` (ISO with offset)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "bpjswalkin"
        indexes = ((("node", "ticket_key"), True),)


class MobileJknToken(BaseModel):
    """A token central issued to the Mobile JKN web service (only its hash is kept)."""

    token_hash = CharField(unique=True, max_length=64)
    username = CharField(max_length=40)
    puskesmas = ForeignKeyField(Puskesmas, backref="+", null=True, on_delete="CASCADE")
    expires_at = DateTimeField()
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "mobilejkntoken"


class PushSubscription(BaseModel):
    """A patient's browser (or installed app) that asked to be told about one reservation's ticket
    (Web Push): where to send (the push service's endpoint) and the browser's keys. No name, NIK
    or number: messages carry the ticket number, the room and the time only."""

    patient = ForeignKeyField(Patient, backref="+", on_delete="CASCADE")
    reservation = ForeignKeyField(Reservation, backref="+", on_delete="CASCADE")
    endpoint = TextField()
    p256dh = CharField(max_length=100)
    auth = CharField(max_length=40)
    active = BooleanField(default=True)  # False: withdrawn, or the push service said it is gone
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "pushsubscription"
        indexes = ((("reservation", "endpoint"), True),)


class PushMessage(BaseModel):
    """A notification to send (``central.push``): made in the transaction that applied the event,
    sent by central's sync worker; ``key`` makes each (e.g. "called:<visit>") once per subscription."""

    subscription = ForeignKeyField(PushSubscription, backref="+", on_delete="CASCADE")
    key = CharField(max_length=80)
    title = CharField(max_length=100)
    body = CharField(max_length=200)
    url = CharField(max_length=200, default="/")
    state = CharField(max_length=8, default="pending")  # pending, sent, failed, gone
    attempts = IntegerField(default=0)
    error = CharField(max_length=200, default="")
    next_at = DateTimeField(default=utcnow)
    created_at = DateTimeField(default=utcnow)
    sent_at = DateTimeField(null=True)

    class Meta:
        table_name = "pushmessage"
        indexes = ((("subscription", "key"), True), (("state", "next_at"), False))


class PhoneReminder(BaseModel):
    """A reminder by WhatsApp / SMS the patient chose (``central.push``): the day before her
    reservation, or when her turn is near; sent through the notification port by central's sync
    worker, once per reservation and ``key``. The text holds no NIK, name or birth date."""

    patient = ForeignKeyField(Patient, backref="+", on_delete="CASCADE")
    reservation = ForeignKeyField(Reservation, backref="+", on_delete="CASCADE")
    key = CharField(max_length=80)  # "besok", "dekat:<visit>"
    text = CharField(max_length=300)
    params = CharField(max_length=300, default="[]")  # the WhatsApp template's parameters (JSON list)
    state = CharField(max_length=8, default="pending")  # pending, sent, failed
    attempts = IntegerField(default=0)
    error = CharField(max_length=200, default="")
    next_at = DateTimeField(default=utcnow)
    created_at = DateTimeField(default=utcnow)
    sent_at = DateTimeField(null=True)

    class Meta:
        table_name = "phonereminder"
        indexes = ((("reservation", "key"), True), (("state", "next_at"), False))


MODELS = [
    Puskesmas,
    Poli,
    Holiday,
    Patient,
    Staff,
    StaffToken,
    AuditLog,
    Feedback,
    WebSession,
    ApiToken,
    PinReset,
    ThrottleBucket,
    Reservation,
    Node,
    NodeStream,
    NodeAlert,
    AlertNote,
    Change,
    EdgeEvent,
    Visit,
    SigningKeyRow,
    KpiStamp,
    KpiCell,
    BpjsMember,
    BpjsReport,
    BpjsWalkin,
    MobileJknToken,
    PushSubscription,
    PushMessage,
    PhoneReminder,
]
