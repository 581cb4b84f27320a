"""Upgrading in place: this release starts on release 0.1.0's configs and databases (made by that
release's code, see fixtures/release-0.1.0/README.md), migrates them, keeps every row, and the
sync carries on where it stopped: the undelivered events go up, the missing change comes down."""

from __future__ import annotations

import pytest
from peewee import fn

from central import config as central_config
from central import db as central_db
from central.models import Change, EdgeEvent, Node, NodeAlert, NodeStream, Patient, Reservation, Visit
from central.sync import CentralSync
from edge import config as edge_config
from edge import db as edge_db
from edge import state
from edge.app import mqtt_settings
from edge.bus import Bus
from edge.models import CheckIn, Outbox, PrintJob, QueueCounter, ScanLog, Ticket
from edge.models import Reservation as EdgeReservation
from edge.services import QueueService
from edge.sync import SyncClient
from edge.workers import DeviceStatus
from infra import migrations
from infra.mqtt import Settings
from infra.mqtt.memory import MemoryBroker
from protocol.clock import Clock

CENTRAL_TABLES = (
    "change",
    "edgeevent",
    "node",
    "patient",
    "poli",
    "puskesmas",
    "reservation",
    "signingkeyrow",
    "visit",
)
EDGE_TABLES = ("announcement", "checkin", "outbox", "printjob", "queuecounter", "reservation", "scanlog", "ticket")


def counts(db, tables) -> dict[str, int]:
    return {t: db.execute_sql(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}


@pytest.fixture
def upgraded(release):
    """Both sides opened by this release's code on the old files (which migrates them)."""
    d = release["dir"]
    ccfg = central_config.load(d / "central.toml")  # the old config file is still a valid config
    cdb = central_db.connect(ccfg.database_url)
    ecfg = edge_config.load(d / "edge.toml")
    edb = edge_db.connect(ecfg.db_path)
    yield {**release, "central": ccfg, "edge": ecfg, "cdb": cdb, "edb": edb}
    edge_db.database.close()
    central_db.database.close()


def test_every_row_is_kept_and_both_schemas_are_current(upgraded, manifest):
    central_counts = counts(upgraded["cdb"], CENTRAL_TABLES)
    old_counts = dict(manifest["counts"]["central.db"])
    # every old change is kept; migration 5 adds one per coming 2026 holiday for the live node
    added = central_counts.pop("change") - old_counts.pop("change")
    assert added == Change.select().where(Change.type == "holiday.upsert").count()
    assert central_counts == old_counts
    assert counts(upgraded["edb"], EDGE_TABLES) == {
        t: n for t, n in manifest["counts"]["edge.db"].items() if t in EDGE_TABLES
    }
    for db, expected in ((upgraded["cdb"], central_db.MIGRATIONS), (upgraded["edb"], edge_db.MIGRATIONS)):
        assert migrations.current_version(db) == expected[-1].number


def test_the_edge_database_was_copied_aside_before_migrating(upgraded):
    (backup,) = (upgraded["dir"] / "backups").glob("edge-v0-*.db")
    assert backup.stat().st_mode & 0o077 == 0
    import sqlite3

    old = sqlite3.connect(backup)
    try:
        assert old.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 29
        assert "rosma_schema" not in {r[0] for r in old.execute("SELECT name FROM sqlite_master")}
    finally:
        old.close()


def test_central_rows_read_back_as_the_old_release_wrote_them(upgraded, manifest):
    res = manifest["reservations"]
    for info in res.values():
        r = Reservation.get(Reservation.rid == info["rid"])
        assert (r.status, r.ticket_label, r.slot) == (
            info["central_status"],
            info["central_ticket_label"],
            info["slot"],
        )
        assert r.patient.nik == info["patient_nik"] and r.conflict == ""
    assert Patient.select().count() == 5
    retired = Node.get_by_id(manifest["retired_node"]["id"])
    live = Node.get_by_id(manifest["central_node"]["id"])
    assert (retired.node_id, retired.retired) == ("pkm-cibinong", True)  # "~1" became a column
    assert (live.node_id, live.retired) == ("pkm-cibinong", False)
    assert list(Node.live().where(Node.node_id == "pkm-cibinong")) == [live]
    assert {(s.node_id, s.incarnation, s.up_seq) for s in NodeStream.select()} == {
        (retired.id, "", 3),
        (live.id, "", 24),
    }
    assert {e.status for e in EdgeEvent.select()} == {"applied"} and EdgeEvent.select().count() == 27
    assert Visit.select().count() == 10


def test_edge_rows_read_back_as_the_old_release_wrote_them(upgraded, manifest):
    e = manifest["edge"]
    for t in e["tickets"]:
        row = Ticket.get(Ticket.key == t["key"])
        assert (row.label, row.queue, row.state, row.priority, row.parent) == (
            t["label"],
            t["queue"],
            t["state"],
            t["priority"],
            t["parent"],
        )
    assert [o.seq for o in Outbox.select().where(~Outbox.delivered).order_by(Outbox.seq)] == e[
        "outbox_undelivered_seqs"
    ]
    assert {o.v for o in Outbox.select()} == {1}
    assert state.change_seq() == e["change_seq_checkpoint"]
    assert len(state.incarnation()) == 16  # the database got its identity
    assert CheckIn.select().count() == 3 and QueueCounter.select().count() == 5
    assert ScanLog.select().count() == 7 and PrintJob.select().count() == 9


def test_numbering_continues_and_a_used_pass_stays_used(upgraded, manifest):
    svc = QueueService(upgraded["edge"], Bus(), Clock(upgraded["edge"].clock_start))
    assert svc.issue_walkin("UMUM").label == "A005"  # A001..A004 were issued by release 0.1.0
    assert svc.issue_walkin("BPJS").label == "B003"
    assert svc.call_next("poli-GIGI").label == "G001"


def test_the_sync_carries_on_where_release_0_1_0_stopped(upgraded, manifest):
    broker = MemoryBroker()
    broker.apply_rosma_acl()
    central = CentralSync(broker.transport(Settings(username="central")))
    central.start()
    bus = Bus()
    edge = SyncClient(upgraded["edge"], bus, DeviceStatus(bus), broker.transport(mqtt_settings(upgraded["edge"])))
    try:
        edge.start(threads=False)
        assert edge.send_batch()  # the five events release 0.1.0 never delivered
        assert Outbox.select().where(~Outbox.delivered).count() == 0
        late = manifest["reservations"]["checked_in_not_delivered"]
        r = Reservation.get(Reservation.rid == late["rid"])
        assert (r.status, r.ticket_label) == ("checked_in", "G001")
        live = Node.get_by_id(manifest["central_node"]["id"])
        stream = NodeStream.get(NodeStream.node == live)
        assert (stream.incarnation, stream.up_seq) == (state.incarnation(), 29)  # the same history, now named
        assert NodeAlert.select().count() == 0
        # change 8 came down, and whatever central added for the node since (coming holidays)
        head = Change.select(fn.MAX(Change.seq)).where(Change.node == live).scalar()
        assert head >= manifest["edge"]["central_change_head"] and state.change_seq() == head
        missing = manifest["reservations"]["future_not_at_edge"]["rid"]
        assert EdgeReservation.get(EdgeReservation.rid == missing).status == "active"
    finally:
        edge.transport.stop()
        central.close()


def _shape(db) -> dict:
    """Tables with their columns (name, null allowed) and indexes (columns, unique)."""
    out = {}
    for table in sorted(db.get_tables()):
        columns = sorted((c.name, c.null) for c in db.get_columns(table))
        indexes = sorted((tuple(i.columns), i.unique) for i in db.get_indexes(table))
        out[table] = (columns, indexes)
    return out


def test_a_migrated_database_has_the_shape_of_a_new_one(upgraded, tmp_path):
    fresh_edge = tmp_path / "fresh" / "edge.db"
    old_edge = _shape(upgraded["edb"])
    edge_db.database.close()
    assert _shape(edge_db.connect(fresh_edge)) == old_edge
    if upgraded["db"] == "sqlite":
        old_central = _shape(upgraded["cdb"])
        central_db.database.close()
        assert _shape(central_db.connect(f"sqlite:///{tmp_path / 'fresh' / 'central.db'}")) == old_central
