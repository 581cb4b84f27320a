"""Release 0.4.0: Web Push. ``pushsubscription``: a patient's browser that asked to be told about
one reservation's ticket ("3 nomor lagi", "Nomor Anda dipanggil"); ``pushmessage``: the durable
queue of those notifications, made with the event that called for them and sent by central's
sync worker. Reminders by WhatsApp / SMS, which a patient chooses in her account
(``patient.remind_day_before``, ``patient.remind_turn_near``, both off for everyone at first):
``phonereminder`` is their queue, ``reservation.reminded_at`` marks the day-before reminder sent."""

from __future__ import annotations

import datetime as dt

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, Model, TextField
from playhouse.migrate import SchemaMigrator, migrate

from infra.migrations import add_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def up(db) -> None:
    class Base(Model):
        class Meta:
            database = db

    class Patient(Base):
        class Meta:
            table_name = "patient"

    class Reservation(Base):
        class Meta:
            table_name = "reservation"

    class PushSubscription(Base):
        patient = ForeignKeyField(Patient, on_delete="CASCADE")
        reservation = ForeignKeyField(Reservation, on_delete="CASCADE")
        endpoint = TextField()
        p256dh = CharField(max_length=100)
        auth = CharField(max_length=40)
        active = BooleanField(default=True)
        created_at = DateTimeField(default=utcnow)

        class Meta:
            table_name = "pushsubscription"
            indexes = ((("reservation", "endpoint"), True),)

    class PushMessage(Base):
        subscription = ForeignKeyField(PushSubscription, on_delete="CASCADE")
        key = CharField(max_length=80)
        title = CharField(max_length=100)
        body = CharField(max_length=200)
        url = CharField(max_length=200, default="/")
        state = CharField(max_length=8, default="pending")
        attempts = IntegerField(default=0)
        error = CharField(max_length=200, default="")
        next_at = DateTimeField(default=utcnow)
        created_at = DateTimeField(default=utcnow)
        sent_at = DateTimeField(null=True)

        class Meta:
            table_name = "pushmessage"
            indexes = ((("subscription", "key"), True), (("state", "next_at"), False))

    class PhoneReminder(Base):
        patient = ForeignKeyField(Patient, on_delete="CASCADE")
        reservation = ForeignKeyField(Reservation, on_delete="CASCADE")
        key = CharField(max_length=80)
        text = CharField(max_length=300)
        params = CharField(max_length=300, default="[]")
        state = CharField(max_length=8, default="pending")
        attempts = IntegerField(default=0)
        error = CharField(max_length=200, default="")
        next_at = DateTimeField(default=utcnow)
        created_at = DateTimeField(default=utcnow)
        sent_at = DateTimeField(null=True)

        class Meta:
            table_name = "phonereminder"
            indexes = ((("reservation", "key"), True), (("state", "next_at"), False))

    db.create_tables([PushSubscription, PushMessage, PhoneReminder])
    m = SchemaMigrator.from_database(db)
    migrate(
        add_column(m, "patient", "remind_day_before", BooleanField(default=False)),
        add_column(m, "patient", "remind_turn_near", BooleanField(default=False)),
        add_column(m, "reservation", "reminded_at", DateTimeField(null=True)),
    )
