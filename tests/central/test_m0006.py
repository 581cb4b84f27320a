"""Migration 6 on a database of the previous release (schema 5), on SQLite and PostgreSQL: every
kritik & saran is kept, and learns the poli it was about where that is known (a visit's poli, the
poli a kiosk rating's event carried); the fleet's alert notes start empty."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

from central import db as central_db
from central.models import MODELS, AlertNote, Feedback, database
from infra import migrations

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
KIOSK_AT = "2026-11-26T09:15:30.500+07:00"
MODEL = {m._meta.table_name: m for m in MODELS}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    """A database nobody has migrated yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/central.db"
        return
    admin = psycopg2.connect(os.environ.get("ROSMA_TEST_PG_URL", PG_DEFAULT), connect_timeout=5)
    admin.autocommit = True
    name = "rosma_m0006_" + secrets.token_hex(4)
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(urlsplit(os.environ.get("ROSMA_TEST_PG_URL", PG_DEFAULT))._replace(path="/" + name))
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def _insert(db, table: str, **values) -> int:
    """A row as the previous release wrote it: the models' defaults, no column of migration 6 (nor
    of a later migration)."""
    model = MODEL[table]
    columns = {c.name for c in db.get_columns(table)}
    defaults = model._meta.defaults
    model._meta.defaults = {f: v for f, v in defaults.items() if f.column_name in columns}
    try:
        return model.insert(**values).execute()
    finally:
        model._meta.defaults = defaults


def _release_5(db) -> dict:
    """What the previous release stored: a web feedback about a visit, one without, two kiosk
    ratings (one with a poli in its event, one without)."""
    now = "2026-11-26 02:00:00"
    place = _insert(db, "puskesmas", code="cibinong", name="Puskesmas Cibinong", address="Jl. Mayor", kecamatan="X")
    gigi = _insert(db, "poli", puskesmas_id=place, code="GIGI", name="Poli Gigi", prefix="G")
    ani = _insert(
        db, "patient", nik="3201234567890001", name="Ani", birth_date="1990-01-01", sex="P", address="-", phone="0"
    )
    _insert(
        db,
        "reservation",
        rid="r-gigi",
        patient_id=ani,
        puskesmas_id=place,
        poli_id=gigi,
        date="2026-11-25",
        slot="08:00-09:00",
        payer="UMUM",
        qr_text="x",
    )
    node = _insert(db, "node", node_id="pkm-cibinong", puskesmas_id=place)
    for seq, poli in ((1, "UMUM"), (2, "")):
        data = {"rating": seq + 2, "poli": poli, "at": KIOSK_AT, "actor": {"counter": "kiosk"}}
        _insert(db, "edgeevent", node_id=node, seq=seq, type="feedback.kiosk", at=KIOSK_AT, data=json.dumps(data))
    ids = {}
    for key, rid, rating, source, created in (
        ("visit", "r-gigi", 5, "web", now),
        ("plain", None, 4, "web", now),
        ("kiosk-umum", None, 3, "kiosk", "2026-11-26 02:15:30.500000"),
        ("kiosk-none", None, 4, "kiosk", "2026-11-26 02:15:30.500000"),
    ):
        ids[key] = _insert(
            db,
            "feedback",
            puskesmas_id=place,
            patient_id=ani if source == "web" else None,
            rid=rid,
            rating=rating,
            text="Pelayanan ramah" if source == "web" else "",
            source=source,
            created_at=dt.datetime.fromisoformat(created),
        )
    return ids


def test_an_upgrade_keeps_every_feedback_and_fills_in_the_poli_it_was_about(empty_url):
    db = central_db.open_database(empty_url)
    database.initialize(db)
    db.connect(reuse_if_open=True)
    try:
        migrations.migrate(db, central_db.MIGRATIONS[:5])
        ids = _release_5(db)
        before, after = migrations.migrate(db, central_db.MIGRATIONS)
        assert (before, after) == (5, central_db.MIGRATIONS[-1].number)
        migrations.check(db, central_db.MIGRATIONS, MODELS)
        poli = {key: Feedback.get_by_id(i).poli for key, i in ids.items()}
        assert poli == {"visit": "GIGI", "plain": None, "kiosk-umum": "UMUM", "kiosk-none": None}
        assert [(f.rating, f.text) for f in Feedback.select().order_by(Feedback.id)] == [
            (5, "Pelayanan ramah"),
            (4, "Pelayanan ramah"),
            (3, ""),
            (4, ""),
        ]
        assert AlertNote.select().count() == 0
    finally:
        db.close()
