"""Release 0.2: exact serving time and counter per ticket, event versions in the outbox, failed
job reasons, changes kept for a later upgrade, and the database's incarnation id."""

from __future__ import annotations

import secrets

from peewee import CharField, IntegerField, Model, TextField
from playhouse.migrate import SchemaMigrator, migrate

from infra.migrations import add_column


def up(db) -> None:
    m = SchemaMigrator.from_database(db)
    migrate(
        add_column(m, "ticket", "serving_at", CharField(max_length=40, null=True)),
        add_column(m, "ticket", "counter", CharField(max_length=40, null=True)),
        add_column(m, "ticket", "slot", CharField(max_length=11, null=True)),
        add_column(m, "outbox", "v", IntegerField(default=1)),
        add_column(m, "printjob", "printed_at", CharField(max_length=40, null=True)),
        add_column(m, "announcement", "error", CharField(max_length=200, default="")),
    )

    class DeferredChange(Model):
        seq = IntegerField(unique=True)
        type = CharField(max_length=80)
        v = IntegerField(default=1)
        data = TextField()

        class Meta:
            database = db
            table_name = "deferredchange"

    db.create_tables([DeferredChange])
    # every database gets its own identity: central tells a replaced database from its predecessor
    db.execute_sql(
        "INSERT INTO syncstate (key, value) SELECT 'incarnation', ? WHERE NOT EXISTS "
        "(SELECT 1 FROM syncstate WHERE key = 'incarnation')",
        (secrets.token_hex(8),),
    )
