"""Release 0.2: typed events from the edge kept with their version and outcome, one event
history per edge database (incarnation), retired nodes as a column, alerts, richer visits, and
the check-in that outlived a cancellation."""

from __future__ import annotations

import datetime as dt

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, Model
from playhouse.migrate import SchemaMigrator, migrate

from infra.migrations import add_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def up(db) -> None:
    m = SchemaMigrator.from_database(db)

    # retired nodes: a column instead of "<node id>~<row id>"; the live id stays unique
    migrate(
        add_column(m, "node", "retired", BooleanField(default=False)),
        add_column(m, "node", "incarnation", CharField(max_length=64, default="")),
    )
    migrate(m.drop_index("node", "node_node_id"))
    rows = db.execute_sql(f"SELECT id, node_id FROM node WHERE node_id LIKE {_p(db)}", ("%~%",)).fetchall()
    for row_id, node_id in rows:
        db.execute_sql(
            f"UPDATE node SET node_id = {_p(db)}, retired = {_p(db)}, online = {_p(db)} WHERE id = {_p(db)}",
            (node_id.split("~", 1)[0], True, False, row_id),
        )
    db.execute_sql("CREATE UNIQUE INDEX node_live_node_id ON node (node_id) WHERE NOT retired")
    db.execute_sql("CREATE INDEX node_node_id ON node (node_id)")

    class Base(Model):
        class Meta:
            database = db

    class Node(Base):
        class Meta:
            table_name = "node"

    class NodeStream(Base):
        node = ForeignKeyField(Node, on_delete="CASCADE")
        incarnation = CharField(max_length=64, default="")
        up_seq = IntegerField(default=0)
        first_seen = DateTimeField(default=utcnow)
        last_seen = DateTimeField(null=True)

        class Meta:
            table_name = "nodestream"
            indexes = ((("node", "incarnation"), True),)

    class NodeAlert(Base):
        node = ForeignKeyField(Node, on_delete="CASCADE")
        kind = CharField(max_length=40)
        message = CharField(max_length=300)
        created_at = DateTimeField(default=utcnow)
        resolved_at = DateTimeField(null=True)

        class Meta:
            table_name = "nodealert"

    db.create_tables([NodeStream, NodeAlert])
    # each node's history so far becomes its first stream; release 0.1.0 edges named no incarnation
    db.execute_sql(
        "INSERT INTO nodestream (node_id, incarnation, up_seq, first_seen, last_seen) "
        "SELECT id, '', up_seq, created_at, last_seen FROM node"
    )
    migrate(m.drop_column("node", "up_seq"))

    # events: kept per (node, incarnation, seq) with their version and what became of them
    migrate(
        add_column(m, "edgeevent", "incarnation", CharField(max_length=64, default="")),
        add_column(m, "edgeevent", "v", IntegerField(default=1)),
        add_column(m, "edgeevent", "status", CharField(max_length=10, default="applied")),
        add_column(m, "edgeevent", "error", CharField(max_length=200, default="")),
        add_column(m, "edgeevent", "ticket", CharField(max_length=40, default="")),
        m.drop_index("edgeevent", "edgeevent_node_id_seq"),
        m.add_index("edgeevent", ("node_id", "incarnation", "seq"), True),
        m.add_index("edgeevent", ("status",), False),
        m.add_index("edgeevent", ("node_id", "incarnation", "ticket"), False),
    )

    # change-feed rows carry their change type's version, like events
    migrate(add_column(m, "change", "v", IntegerField(default=1)))

    # visits: what the KPIs need from the events
    migrate(
        add_column(m, "visit", "kind", CharField(max_length=12, default="")),
        add_column(m, "visit", "slot", CharField(max_length=11, null=True)),
        add_column(m, "visit", "priority", BooleanField(default=False)),
        add_column(m, "visit", "parent", CharField(max_length=40, null=True)),
        add_column(m, "visit", "counter", CharField(max_length=40, null=True)),
        add_column(m, "visit", "called_by", CharField(max_length=40, default="")),
        add_column(m, "visit", "done_by", CharField(max_length=40, default="")),
        m.add_index("visit", ("puskesmas_id", "day"), False),
    )

    # a reservation cancelled at central and checked in at an offline edge keeps both facts
    migrate(
        add_column(m, "reservation", "cancelled_at", DateTimeField(null=True)),
        add_column(m, "reservation", "conflict", CharField(max_length=40, default="")),
    )


def _p(db) -> str:
    return "%s" if db.param == "%s" else "?"
