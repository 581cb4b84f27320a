"""Release 0.4.0: a BPJS walk-in's membership check at the kiosk (the edge's ``bpjs.checked`` event).

``bpjswalkin``: one row per (node, ticket) of a BPJS walk-in, with the card number or NIK she gave
at the kiosk (or PCare returned for it), PCare's answer (``membership``: aktif, tidak_aktif,
fktp_lain, tidak_terdaftar, tertunda, "" when not checked, and its ``note``) and the ``at`` of the
newest check (``checked_at``, as the event wrote it): a re-check by staff replaces an older one.
Central reports the ticket to Antrean FKTP from it when it is transferred to a poli. The table
starts empty: no release before this one sent such events.
"""

from __future__ import annotations

import datetime as dt

from peewee import CharField, DateTimeField, ForeignKeyField, Model


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def up(db) -> None:
    class Base(Model):
        class Meta:
            database = db

    class Node(Base):
        class Meta:
            table_name = "node"

    class BpjsWalkin(Base):
        node = ForeignKeyField(Node, on_delete="CASCADE")
        ticket_key = CharField(max_length=40)
        kartu = CharField(max_length=13, default="")
        nik = CharField(max_length=16, default="")
        membership = CharField(max_length=16, default="")
        note = CharField(max_length=200, default="")
        checked_at = CharField(max_length=40)
        created_at = DateTimeField(default=utcnow)

        class Meta:
            table_name = "bpjswalkin"
            indexes = ((("node", "ticket_key"), True),)

    db.create_tables([BpjsWalkin])
