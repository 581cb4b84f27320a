"""Release 0.4: BPJS at the kiosk. A reservation from the change feed keeps the keyed hashes of the
numbers it was made with (to check a patient in by NIK or card number) and its BPJS membership;
each BPJS ticket's membership check (what the loket sees) is kept in ``bpjscheck``."""

from __future__ import annotations

from peewee import CharField, Model
from playhouse.migrate import SchemaMigrator, migrate

from infra.migrations import add_column


def up(db) -> None:
    m = SchemaMigrator.from_database(db)
    migrate(
        add_column(m, "reservation", "idents", CharField(max_length=100, default="")),
        add_column(m, "reservation", "membership", CharField(max_length=16, default="")),
    )

    class BpjsCheck(Model):
        ticket_key = CharField(unique=True, max_length=32)
        membership = CharField(max_length=16, default="")
        note = CharField(max_length=200, default="")
        number = CharField(max_length=16, default="")
        number_hint = CharField(max_length=20, default="")
        number_kind = CharField(max_length=5, default="")
        checked_at = CharField(max_length=40)

        class Meta:
            database = db
            table_name = "bpjscheck"

    db.create_tables([BpjsCheck])
