"""Release 0.3: what the back office keeps about the puskesmas reaches the edge through the change
feed: its details and loket count, its poli (added, renamed, deactivated) and its closed days."""

from __future__ import annotations

from peewee import BooleanField, CharField, IntegerField, Model


def up(db) -> None:
    class Base(Model):
        class Meta:
            database = db

    class Site(Base):
        name = CharField(max_length=120)
        address = CharField(max_length=250, default="")
        phone = CharField(max_length=40, default="")
        hours = CharField(max_length=200, default="")
        lokets = IntegerField()

        class Meta:
            table_name = "site"

    class Poli(Base):
        code = CharField(unique=True, max_length=16)
        name = CharField(max_length=80)
        prefix = CharField(max_length=2)
        active = BooleanField(default=True)
        order = IntegerField(default=0)

        class Meta:
            table_name = "poli"

    class ClosedDay(Base):
        date = CharField(unique=True, max_length=10)
        name = CharField(max_length=120)
        closed = BooleanField(default=True)

        class Meta:
            table_name = "closedday"

    db.create_tables([Site, Poli, ClosedDay])
