"""Release 0.2: who is who. A PIN per patient (accounts from release 0.1.0 have none until they
set one), staff accounts, server-side sessions, hashed API tokens, PIN resets, shared throttles."""

from __future__ import annotations

import datetime as dt

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, Model
from playhouse.migrate import SchemaMigrator, migrate

from infra.migrations import add_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def up(db) -> None:
    m = SchemaMigrator.from_database(db)
    migrate(
        add_column(m, "patient", "pin_hash", CharField(max_length=200, null=True)),
        add_column(m, "patient", "pin_set_at", DateTimeField(null=True)),
        add_column(m, "signingkeyrow", "signs", BooleanField(default=True)),
        add_column(m, "signingkeyrow", "trusted_until", DateTimeField(null=True)),
    )

    class Base(Model):
        class Meta:
            database = db

    class Puskesmas(Base):
        class Meta:
            table_name = "puskesmas"

    class Patient(Base):
        class Meta:
            table_name = "patient"

    class Staff(Base):
        username = CharField(unique=True, max_length=40)
        name = CharField(max_length=120)
        role = CharField(max_length=20)
        puskesmas = ForeignKeyField(Puskesmas, null=True)
        polis = CharField(max_length=200, default="")
        password_hash = CharField(max_length=200)
        active = BooleanField(default=True)
        created_at = DateTimeField(default=utcnow)
        password_changed_at = DateTimeField(default=utcnow)

        class Meta:
            table_name = "staff"

    class WebSession(Base):
        key_hash = CharField(unique=True, max_length=64)
        patient = ForeignKeyField(Patient, null=True, on_delete="CASCADE")
        staff = ForeignKeyField(Staff, null=True, on_delete="CASCADE")
        created_at = DateTimeField(default=utcnow)
        last_seen = DateTimeField(default=utcnow)
        expires_at = DateTimeField()
        revoked_at = DateTimeField(null=True)
        device = CharField(max_length=120, default="")

        class Meta:
            table_name = "websession"

    class ApiToken(Base):
        token_hash = CharField(unique=True, max_length=64)
        patient = ForeignKeyField(Patient, on_delete="CASCADE")
        name = CharField(max_length=120, default="")
        created_at = DateTimeField(default=utcnow)
        last_used = DateTimeField(null=True)
        expires_at = DateTimeField()
        revoked_at = DateTimeField(null=True)

        class Meta:
            table_name = "apitoken"

    class PinReset(Base):
        patient = ForeignKeyField(Patient, on_delete="CASCADE")
        code_hash = CharField(max_length=64)
        channel = CharField(max_length=10)
        staff = ForeignKeyField(Staff, null=True)
        created_at = DateTimeField(default=utcnow)
        expires_at = DateTimeField()
        used_at = DateTimeField(null=True)
        attempts = IntegerField(default=0)

        class Meta:
            table_name = "pinreset"

    class ThrottleBucket(Base):
        key = CharField(unique=True, max_length=120)
        count = IntegerField(default=0)
        window_start = DateTimeField(default=utcnow)
        blocked_until = DateTimeField(null=True)

        class Meta:
            table_name = "throttlebucket"

    db.create_tables([Staff, WebSession, ApiToken, PinReset, ThrottleBucket])
