"""Release 0.3: the back office. Puskesmas details, hours and quality targets; poli schedules,
order and closing; holidays; an audit log; kritik & saran; staff API tokens; the fleet view's
last status per node."""

from __future__ import annotations

import datetime as dt

from peewee import BooleanField, CharField, DateField, DateTimeField, ForeignKeyField, IntegerField, Model, TextField
from playhouse.migrate import SchemaMigrator, migrate

from infra.migrations import add_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def up(db) -> None:
    m = SchemaMigrator.from_database(db)
    migrate(
        add_column(m, "puskesmas", "map_url", CharField(max_length=300, default="")),
        add_column(m, "puskesmas", "lokets", IntegerField(default=2)),
        add_column(m, "puskesmas", "schedule", TextField(default="")),
        add_column(m, "puskesmas", "targets", TextField(default="")),
        add_column(m, "poli", "active", BooleanField(default=True)),
        add_column(m, "poli", "schedule", TextField(default="")),
        add_column(m, "poli", "order", IntegerField(default=0)),
        add_column(m, "node", "status", TextField(default="")),
        add_column(m, "node", "status_at", DateTimeField(null=True)),
        add_column(m, "node", "offline_since", DateTimeField(null=True)),
        add_column(m, "visit", "wait_s", IntegerField(null=True)),
        add_column(m, "visit", "slot_wait_s", IntegerField(null=True)),
        add_column(m, "visit", "service_s", IntegerField(null=True)),
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
        class Meta:
            table_name = "staff"

    class Holiday(Base):
        date = DateField(index=True)
        name = CharField(max_length=120)
        kind = CharField(max_length=10, default="libur")
        puskesmas = ForeignKeyField(Puskesmas, null=True, on_delete="CASCADE")
        created_at = DateTimeField(default=utcnow)

        class Meta:
            table_name = "holiday"

    class StaffToken(Base):
        token_hash = CharField(unique=True, max_length=64)
        staff = ForeignKeyField(Staff, on_delete="CASCADE")
        name = CharField(max_length=120, default="")
        created_at = DateTimeField(default=utcnow)
        last_used = DateTimeField(null=True)
        expires_at = DateTimeField()
        revoked_at = DateTimeField(null=True)

        class Meta:
            table_name = "stafftoken"

    class AuditLog(Base):
        at = DateTimeField(default=utcnow, index=True)
        staff = ForeignKeyField(Staff, null=True, on_delete="SET NULL")
        actor = CharField(max_length=40, default="")
        puskesmas = ForeignKeyField(Puskesmas, null=True, on_delete="CASCADE")
        entity = CharField(max_length=20)
        entity_key = CharField(max_length=80)
        action = CharField(max_length=10)
        before = TextField(default="")
        after = TextField(default="")

        class Meta:
            table_name = "auditlog"

    class Feedback(Base):
        puskesmas = ForeignKeyField(Puskesmas, on_delete="CASCADE")
        patient = ForeignKeyField(Patient, null=True, on_delete="CASCADE")
        rid = CharField(max_length=32, null=True)
        rating = IntegerField()
        text = TextField(default="")
        source = CharField(max_length=10, default="web")
        created_at = DateTimeField(default=utcnow, index=True)
        followed_up_at = DateTimeField(null=True)
        followed_up_by = ForeignKeyField(Staff, null=True, on_delete="SET NULL", backref="+")
        answer = TextField(default="")
        answered_at = DateTimeField(null=True)
        answered_by = ForeignKeyField(Staff, null=True, on_delete="SET NULL", backref="+")

        class Meta:
            table_name = "feedback"
            indexes = ((("puskesmas", "created_at"), False),)

    db.create_tables([Holiday, StaffToken, AuditLog, Feedback])
    _backfill_timings(db)


def _seconds(start: str | None, end: str | None) -> int | None:
    """Whole seconds between two ISO times, rounded half up (as central.kpi.seconds)."""
    if not start or not end:
        return None
    try:
        delta = dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)
    except (TypeError, ValueError):
        return None
    ms = (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000
    return (ms + 500) // 1000


def _backfill_timings(db) -> None:
    """Waiting and service seconds of the visits stored before this release (central.kpi.timings);
    a loket ticket's poli from the poli ticket it was sent on with."""
    db.execute_sql(
        "UPDATE visit SET poli = (SELECT c.poli FROM visit c WHERE c.node_id = visit.node_id "
        "AND c.parent = visit.ticket_key AND c.poli IS NOT NULL ORDER BY c.id LIMIT 1) "
        "WHERE poli IS NULL AND kind = 'walkin' AND state = 'transferred'"
    )
    param = db.param
    last = 0
    while True:
        rows = db.execute_sql(
            "SELECT id, day, issued_at, called_at, serving_at, done_at, state, kind, slot FROM visit "
            f"WHERE id > {param} AND called_at IS NOT NULL ORDER BY id LIMIT 5000",
            [last],
        ).fetchall()
        if not rows:
            return
        for vid, day, issued, called, serving, done, state, kind, slot in rows:
            wait = _seconds(issued, called)
            slot_wait = None
            if kind == "reservation" and slot and len(slot) >= 5:
                slot_wait = _seconds(f"{str(day)[:10]}T{slot[:5]}:00.000+07:00", called)
            service = _seconds(serving or called, done) if state in ("done", "transferred") else None
            db.execute_sql(
                f"UPDATE visit SET wait_s = {param}, slot_wait_s = {param}, service_s = {param} WHERE id = {param}",
                [wait, slot_wait, service, vid],
            )
            last = vid
