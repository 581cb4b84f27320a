"""Release 0.3.1: the poli a kritik & saran is about, and admins' notes on fleet alerts.

``feedback.poli`` is a poli code of the feedback's puskesmas (NULL: not known). It is filled in
for what is already stored: a kritik & saran about a visit takes the visit's poli; a kiosk rating
takes the poli its ``feedback.kiosk`` event carried (the event is kept in ``edgeevent``).

``alertnote``: an admin kabupaten marked a node's alert (node, kind) "sedang ditangani" with a
short note; ``cleared_at`` is set once the alert has cleared by itself.
"""

from __future__ import annotations

import datetime as dt
import json

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, Model
from playhouse.migrate import SchemaMigrator, migrate

from infra.migrations import add_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def up(db) -> None:
    m = SchemaMigrator.from_database(db)
    migrate(add_column(m, "feedback", "poli", CharField(max_length=16, null=True)))

    class Base(Model):
        class Meta:
            database = db

    class Node(Base):
        class Meta:
            table_name = "node"

    class Staff(Base):
        class Meta:
            table_name = "staff"

    class AlertNote(Base):
        node = ForeignKeyField(Node, on_delete="CASCADE")
        kind = CharField(max_length=40)
        note = CharField(max_length=200)
        staff = ForeignKeyField(Staff, null=True, on_delete="SET NULL")
        actor = CharField(max_length=40, default="")
        created_at = DateTimeField(default=utcnow)
        cleared_at = DateTimeField(null=True)

        class Meta:
            table_name = "alertnote"
            indexes = ((("node", "kind"), False),)

    db.create_tables([AlertNote])
    _backfill_visit_poli(db)
    _backfill_kiosk_poli(db, Base)


def _backfill_visit_poli(db) -> None:
    db.execute_sql(
        "UPDATE feedback SET poli = (SELECT p.code FROM reservation r JOIN poli p ON p.id = r.poli_id "
        "WHERE r.rid = feedback.rid) WHERE poli IS NULL AND rid IS NOT NULL"
    )


def _backfill_kiosk_poli(db, Base) -> None:
    class Feedback(Base):
        puskesmas_id = IntegerField()
        rating = IntegerField()
        source = CharField()
        created_at = DateTimeField()
        poli = CharField(null=True)

        class Meta:
            table_name = "feedback"

    p = db.param
    rows = db.execute_sql(
        "SELECT n.puskesmas_id, e.at, e.data FROM edgeevent e JOIN node n ON n.id = e.node_id "
        f"WHERE e.type = {p} AND e.status = {p} ORDER BY e.id",
        ("feedback.kiosk", "applied"),
    ).fetchall()
    for puskesmas_id, at, data in rows:
        try:
            fields = json.loads(data)
            poli = str(fields.get("poli") or "")[:16]
            rating = int(fields["rating"])
            moment = dt.datetime.fromisoformat(at).astimezone(dt.UTC).replace(tzinfo=None)
        except (TypeError, ValueError, KeyError, AttributeError):
            continue
        if not poli:
            continue
        target = (
            Feedback.select(Feedback.id)
            .where(
                (Feedback.puskesmas_id == puskesmas_id)
                & (Feedback.source == "kiosk")
                & (Feedback.rating == rating)
                & (Feedback.created_at == moment)
                & Feedback.poli.is_null()
            )
            .order_by(Feedback.id)
            .limit(1)
            .scalar()
        )
        if target is not None:
            Feedback.update(poli=poli).where(Feedback.id == target).execute()
