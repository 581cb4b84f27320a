"""The edge schema of release 0.1.0, created where missing (a 0.1.0 database already has it)."""

from __future__ import annotations

from peewee import AutoField, BooleanField, CharField, IntegerField, Model, TextField


def up(db) -> None:
    class Base(Model):
        class Meta:
            database = db

    class Ticket(Base):
        key = CharField(unique=True, max_length=32)
        day = CharField(max_length=10)
        queue = CharField(max_length=40)
        number = IntegerField()
        label = CharField(max_length=8)
        kind = CharField(max_length=12)
        payer = CharField(max_length=4)
        poli = CharField(max_length=16, null=True)
        rid = CharField(max_length=32, null=True)
        priority = BooleanField(default=False)
        state = CharField(max_length=12, default="waiting")
        sort_time = CharField(max_length=40)
        issued_at = CharField(max_length=40)
        called_at = CharField(max_length=40, null=True)
        destination = CharField(max_length=40, null=True)
        finished_at = CharField(max_length=40, null=True)
        parent = CharField(max_length=32, null=True)
        note = CharField(max_length=80, default="")

        class Meta:
            indexes = ((("day", "queue", "state"), False),)

    class QueueCounter(Base):
        day = CharField(max_length=10)
        queue = CharField(max_length=40)
        last = IntegerField(default=0)

        class Meta:
            indexes = ((("day", "queue"), True),)

    class CheckIn(Base):
        rid = CharField(unique=True, max_length=32)
        ticket_key = CharField(max_length=32)
        at = CharField(max_length=40)

    class Reservation(Base):
        rid = CharField(unique=True, max_length=32)
        poli = CharField(max_length=16)
        date = CharField(max_length=10)
        slot = CharField(max_length=11)
        payer = CharField(max_length=4)
        status = CharField(max_length=12)

    class Outbox(Base):
        seq = AutoField()
        type = CharField(max_length=40)
        at = CharField(max_length=40)
        data = TextField()
        delivered = BooleanField(default=False, index=True)

    class SyncState(Base):
        key = CharField(unique=True, max_length=40)
        value = CharField(max_length=200)

    class PrintJob(Base):
        ticket_key = CharField(max_length=32)
        status = CharField(max_length=10, default="pending")
        attempts = IntegerField(default=0)
        error = CharField(max_length=200, default="")
        created_at = CharField(max_length=40)

    class Announcement(Base):
        ticket_key = CharField(max_length=32)
        label = CharField(max_length=8)
        destination = CharField(max_length=40)
        status = CharField(max_length=10, default="pending")
        attempts = IntegerField(default=0)
        path = CharField(max_length=300, default="")
        created_at = CharField(max_length=40)

    class ScanLog(Base):
        id = AutoField()
        at = CharField(max_length=40)
        ok = BooleanField()
        code = CharField(max_length=20)
        message = CharField(max_length=200)
        ticket_key = CharField(max_length=32, null=True)
        label = CharField(max_length=8, null=True)

    db.create_tables(
        [Ticket, QueueCounter, CheckIn, Reservation, Outbox, SyncState, PrintJob, Announcement, ScanLog], safe=True
    )
