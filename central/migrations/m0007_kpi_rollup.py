"""Release 0.3.1: the back office's KPI rollup (``central.kpi_rollup``).

``kpistamp`` says whether a day's or a month's rollup is current; ``kpicell`` holds it: counts and
tenth-of-a-minute histograms of every puskesmas's visits together, per day and per month, which
the kabupaten's dashboard sums instead of reading millions of visits. Both start empty: central
builds them in the background from the visits already stored, and a report reads the visits
themselves for whatever is not built yet, so its figures are the same either way.
"""

from __future__ import annotations

import datetime as dt

from peewee import CharField, DateField, DateTimeField, IntegerField, Model


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def up(db) -> None:
    class Base(Model):
        class Meta:
            database = db

    class KpiStamp(Base):
        start = DateField()
        grain = CharField(max_length=1)
        gen = IntegerField(default=0)
        built = IntegerField(default=-1)
        version = IntegerField(default=0)
        created_at = DateTimeField(default=utcnow)

        class Meta:
            table_name = "kpistamp"
            indexes = ((("grain", "start"), True),)

    class KpiCell(Base):
        start = DateField()
        grain = CharField(max_length=1)
        q = IntegerField()
        g1 = CharField(max_length=40, null=True)
        g2 = CharField(max_length=40, null=True)
        g3 = CharField(max_length=40, null=True)
        g4 = CharField(max_length=40, null=True)
        b = IntegerField(null=True)
        o = IntegerField(default=0)
        n = IntegerField()

        class Meta:
            table_name = "kpicell"
            indexes = ((("grain", "start"), False),)

    db.create_tables([KpiStamp, KpiCell])
