"""Release 0.4.0: a Mobile JKN booking is a reservation without a Rosma account.

``reservation.patient_id`` may be NULL: BPJS's Mobile JKN books for any member by NIK (kept in
``reservation.nik`` with the phone, migration 8); a Rosma account with that NIK is linked when
there is one. PostgreSQL drops the constraint in place; SQLite rebuilds the table once (its
indexes are made again; no other table references reservation, and migrations run with foreign
keys off, so nothing cascades).
"""

from __future__ import annotations

from playhouse.migrate import SchemaMigrator, migrate


def up(db) -> None:
    m = SchemaMigrator.from_database(db)
    migrate(m.drop_not_null("reservation", "patient_id"))
