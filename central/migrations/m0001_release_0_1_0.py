"""Central's schema of release 0.1.0, created where missing (a 0.1.0 database already has it)."""

from __future__ import annotations

import datetime as dt

from peewee import (
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def up(db) -> None:
    class BaseModel(Model):
        class Meta:
            database = db

    class Puskesmas(BaseModel):
        code = CharField(unique=True, max_length=32)  # e.g. "cibinong"
        name = CharField(max_length=120)
        address = CharField(max_length=250)
        kecamatan = CharField(max_length=80)
        phone = CharField(max_length=40, default="")
        hours = CharField(max_length=120, default="Senin-Kamis 07.30-14.00, Jumat 07.30-11.00, Sabtu 07.30-12.30")
        info = TextField(default="")

    class Poli(BaseModel):
        puskesmas = ForeignKeyField(Puskesmas, backref="polis", on_delete="CASCADE")
        code = CharField(max_length=16)  # e.g. "UMUM"
        name = CharField(max_length=80)  # e.g. "Poli Umum"
        prefix = CharField(max_length=2)  # ticket letter at the edge, e.g. "U"
        slot_quota = IntegerField(default=10)  # reservations per hour slot

        class Meta:
            indexes = ((("puskesmas", "code"), True),)

    class Patient(BaseModel):
        nik = CharField(unique=True, max_length=16)
        name = CharField(max_length=120)
        birth_date = DateField()
        sex = CharField(max_length=1)  # "L" or "P"
        address = CharField(max_length=250)
        phone = CharField(max_length=20)
        created_at = DateTimeField(default=utcnow)

    class Reservation(BaseModel):
        rid = CharField(unique=True, max_length=32)  # random, opaque; in the QR pass
        patient = ForeignKeyField(Patient, backref="reservations", on_delete="CASCADE")
        puskesmas = ForeignKeyField(Puskesmas, backref="reservations")
        poli = ForeignKeyField(Poli, backref="reservations")
        date = DateField()
        slot = CharField(max_length=11)  # "08:00-09:00"
        payer = CharField(max_length=4)  # "UMUM" or "BPJS"
        bpjs_no = CharField(max_length=13, null=True)
        status = CharField(max_length=12, default="active")  # active, cancelled, checked_in, done
        qr_text = TextField()
        created_at = DateTimeField(default=utcnow)
        checked_in_at = DateTimeField(null=True)
        ticket_label = CharField(max_length=8, null=True)

        class Meta:
            indexes = ((("puskesmas", "poli", "date", "slot"), False),)

    class Node(BaseModel):
        """An edge node (one per puskesmas) and its sync checkpoints."""

        node_id = CharField(unique=True, max_length=80)  # retired rows: "<node id>~<row id>"
        puskesmas = ForeignKeyField(Puskesmas, backref="nodes")
        created_at = DateTimeField(default=utcnow)
        up_seq = IntegerField(default=0)  # highest edge event seq stored, contiguous from 1
        online = BooleanField(default=False)
        last_seen = DateTimeField(null=True)
        snapshot = TextField(default="")  # latest live queue snapshot (JSON), for patients' phones

    class Change(BaseModel):
        """The per-node change feed (central to edge); seq grows by one per node."""

        node = ForeignKeyField(Node, backref="changes", on_delete="CASCADE")
        seq = IntegerField()
        type = CharField(max_length=40)
        data = TextField()  # JSON
        created_at = DateTimeField(default=utcnow)

        class Meta:
            indexes = ((("node", "seq"), True),)

    class EdgeEvent(BaseModel):
        """An event received from an edge outbox, stored once per (node, seq)."""

        node = ForeignKeyField(Node, backref="events", on_delete="CASCADE")
        seq = IntegerField()
        type = CharField(max_length=40)
        at = CharField(max_length=40)
        data = TextField()
        received_at = DateTimeField(default=utcnow)

        class Meta:
            indexes = ((("node", "seq"), True),)

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

        class Meta:
            indexes = ((("node", "ticket_key"), True),)

    class SigningKeyRow(BaseModel):
        """Central's Ed25519 QR signing keys; only central ever holds the private part."""

        kid = CharField(unique=True, max_length=16)
        private_b64 = CharField(max_length=64)
        public_b64 = CharField(max_length=64)
        active = BooleanField(default=True)
        created_at = DateTimeField(default=utcnow)

    db.create_tables([Puskesmas, Poli, Patient, Reservation, Node, Change, EdgeEvent, Visit, SigningKeyRow], safe=True)
