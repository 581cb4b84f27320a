"""Release 0.4.0: BPJS Kesehatan (issue 8): membership at reservation, Antrean FKTP, Mobile JKN.

``reservation`` gains where it came from (``source``: web, api, mobilejkn), the outcome of its
BPJS membership check (``bpjs_status``: "" for Umum or not checked, aktif, tidak_aktif,
fktp_lain, tidak_terdaftar, tertunda while PCare could not be reached; ``bpjs_note``,
``bpjs_checked_at``), and the NIK and phone given for a Mobile JKN booking that has no Rosma
account. ``bpjs_no`` also holds a 16-digit NIK now (PostgreSQL enforces the length; SQLite
does not).

``bpjsmember``: the day's cache of PCare answers, one row per number (card or NIK), puskesmas
and day. ``bpjsreport``: the durable outbox of Antrean FKTP reports (add, panggil, batal), one
row per (kind, idempotency key). ``mobilejkntoken``: tokens central issued to Mobile JKN
(hashes only).
"""

from __future__ import annotations

import datetime as dt

from peewee import (
    CharField,
    DateField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    PostgresqlDatabase,
    TextField,
)
from playhouse.migrate import SchemaMigrator, migrate

from infra.migrations import add_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def up(db) -> None:
    m = SchemaMigrator.from_database(db)
    migrate(
        add_column(m, "reservation", "source", CharField(max_length=12, default="web")),
        add_column(m, "reservation", "bpjs_status", CharField(max_length=16, default="")),
        add_column(m, "reservation", "bpjs_note", CharField(max_length=200, default="")),
        add_column(m, "reservation", "bpjs_checked_at", DateTimeField(null=True)),
        add_column(m, "reservation", "nik", CharField(max_length=16, null=True)),
        add_column(m, "reservation", "phone", CharField(max_length=20, null=True)),
    )
    if isinstance(db, PostgresqlDatabase):
        db.execute_sql("ALTER TABLE reservation ALTER COLUMN bpjs_no TYPE VARCHAR(16)")
    db.execute_sql("CREATE INDEX reservation_bpjs_status ON reservation (bpjs_status) WHERE bpjs_status = 'tertunda'")

    class Base(Model):
        class Meta:
            database = db

    class Puskesmas(Base):
        class Meta:
            table_name = "puskesmas"

    class BpjsMember(Base):
        number = CharField(max_length=16)
        puskesmas = ForeignKeyField(Puskesmas, on_delete="CASCADE")
        day = DateField()
        status = CharField(max_length=16)
        note = CharField(max_length=200, default="")
        provider = CharField(max_length=60, default="")
        checked_at = DateTimeField(default=utcnow)

        class Meta:
            table_name = "bpjsmember"
            indexes = ((("number", "puskesmas", "day"), True),)

    class BpjsReport(Base):
        puskesmas = ForeignKeyField(Puskesmas, on_delete="CASCADE")
        kind = CharField(max_length=8)
        key = CharField(max_length=80)
        payload = TextField()
        state = CharField(max_length=10, default="pending")
        attempts = IntegerField(default=0)
        next_at = DateTimeField(null=True)
        last_error = CharField(max_length=200, default="")
        created_at = DateTimeField(default=utcnow)
        sent_at = DateTimeField(null=True)

        class Meta:
            table_name = "bpjsreport"
            indexes = ((("kind", "key"), True), (("state", "next_at"), False))

    class MobileJknToken(Base):
        token_hash = CharField(max_length=64, unique=True)
        username = CharField(max_length=40)
        puskesmas = ForeignKeyField(Puskesmas, null=True, on_delete="CASCADE")
        expires_at = DateTimeField()
        created_at = DateTimeField(default=utcnow)

        class Meta:
            table_name = "mobilejkntoken"

    db.create_tables([BpjsMember, BpjsReport, MobileJknToken])
