"""Release 0.5: the queue follows the patient.

- ``ticket.token``: the unguessable per-ticket token printed as a QR on every ticket; it opens that
  ticket's live page on central without login, for its day only ("" for older tickets).
- ``ticket.priority_class``: why a priority ticket goes first (``lansia``, ``disabilitas``,
  ``ibu_hamil``; "" for none or a priority given before this release).
- ``site.running_text``: the optional running text the admin sets for the TV.
"""

from __future__ import annotations

from peewee import CharField
from playhouse.migrate import SchemaMigrator, migrate

from infra.migrations import add_column


def up(db) -> None:
    m = SchemaMigrator.from_database(db)
    migrate(
        add_column(m, "ticket", "token", CharField(max_length=24, default="")),
        add_column(m, "ticket", "priority_class", CharField(max_length=12, default="")),
        add_column(m, "site", "running_text", CharField(max_length=200, default="")),
    )
    db.execute_sql('CREATE INDEX IF NOT EXISTS "ticket_token" ON "ticket" ("token")')
