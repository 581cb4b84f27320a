"""Release 0.5.0: the queue follows the patient.

- ``visit.token``: the per-ticket token the edge prints as a QR (``ticket.issued``'s ``token``);
  it opens that ticket's live page without login, for its day only ("" for older visits).
- ``visit.priority_class``: why a priority ticket went first (``lansia``, ``disabilitas``,
  ``ibu_hamil``; "" for none).
- ``puskesmas.running_text``: the optional running text the admin sets for the TV.
- ``node.snapshot_rev``: bumped with every queue snapshot the edge publishes, so the phone
  streams notice a change with one cheap query.
"""

from __future__ import annotations

from peewee import CharField, IntegerField
from playhouse.migrate import SchemaMigrator, migrate

from infra.migrations import add_column


def up(db) -> None:
    m = SchemaMigrator.from_database(db)
    migrate(
        add_column(m, "visit", "token", CharField(max_length=24, default="")),
        add_column(m, "visit", "priority_class", CharField(max_length=12, default="")),
        add_column(m, "puskesmas", "running_text", CharField(max_length=200, default="")),
        add_column(m, "node", "snapshot_rev", IntegerField(default=0)),
    )
    db.execute_sql('CREATE INDEX IF NOT EXISTS "visit_token" ON "visit" ("token")')
