"""Make the release-0.1.0 upgrade fixture with the PREVIOUS release's code.

Run from a worktree of the previous release (see fixtures/release-0.1.0/README.md):

    git worktree add /tmp/rosma-prev 2af0a6f
    cd /tmp/rosma-prev && PYTHONPATH=/tmp/rosma-prev ESCPOS_CAPABILITIES_PICKLE_DIR=/tmp/escpos \\
        /work/main/.venv/bin/python /work/main/tests/upgrade/make_fixture.py \\
        --out /work/main/tests/upgrade/fixtures/release-0.1.0 \\
        --pg-url postgresql://postgres@127.0.0.1:5432/postgres

It imports ``central``, ``edge``, ``protocol``, ``provisioning`` and ``rosma`` from whatever is
first on sys.path and refuses to run unless they come from a git worktree other than the one
this script lives in. Only the old code's services are used to build the data: central's
registration, booking, cancelling, provisioning and ``central.sync.apply_batch``; the edge's
``QueueService``, ``SyncClient._apply_changes``/``_acked`` and its printer/announcer workers'
job handling (with a null printer, a fake out-of-paper printer and a silent announcer).

Outputs (all in --out): central.db, central.pg.sql, edge.db, central.toml, edge.toml,
manifest.json and README.md. Nothing in this file may need the new tree: it is linted there
but runs against the old code.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import json
import os
import secrets
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import tomllib
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

import central
import edge
import protocol
import provisioning
import rosma
from central import db as central_db
from central import feed, keys, seed, services
from central import sync as central_sync
from central.models import MODELS as CENTRAL_MODELS
from central.models import Node
from central.models import Reservation as CentralReservation
from edge import config as edge_config
from edge import db as edge_db
from edge.bus import Bus
from edge.models import MODELS as EDGE_MODELS
from edge.models import Announcement, CheckIn, Outbox, PrintJob, QueueCounter, ScanLog, SyncState, Ticket
from edge.models import Reservation as EdgeReservation
from edge.services import CheckinRefused, QueueService
from edge.sync import SyncClient, get_state
from protocol import messages
from protocol.clock import WIB, Clock
from rosma.demo import write_toml
from rosma.provision import provision_node, write_edge_config

FIXTURE_NAME = "release-0.1.0"
EXPECTED_COMMIT = "2af0a6f"
PUSKESMAS = "cibinong"
NODE_ID = "pkm-cibinong"
MQTT_HOST = "127.0.0.1"
MQTT_PORT = 18830
# The configs name this directory; a test replaces it with the directory holding its copies.
PLACEHOLDER = "FIXTURE_DIR"

# Throwaway values for the fixture configs only (never used by any real installation).
CENTRAL_SECRET_KEY = "fixture-release-0.1.0-secret-key-not-for-production"
CENTRAL_MQTT_PASSWORD = "fixture-central-broker-password"

# When things happen, in Asia/Jakarta. The edge's day is a Thursday.
BOOKING_DAY1 = "2026-11-24T10:00:00+07:00"  # Tuesday: first bookings, node provisioned
OLD_EDGE_DAY = "2026-11-25"  # Wednesday: the first node works one morning, then its SD card dies
BOOKING_DAY2 = "2026-11-25T15:00:00+07:00"  # node re-provisioned, more bookings, one cancelled
EDGE_DAY = "2026-11-26"  # Thursday: the fixture's queue day
FUTURE_DAY = "2026-11-30"  # Monday
OTHER_DAY = "2026-11-27"  # Friday
CLOCK_START = f"{EDGE_DAY}T09:00:00+07:00"  # written to both configs: "now" right after the fixture

# Valid NIKs (region 320101, Kabupaten Bogor) with matching birth date and sex (women: day + 40).
PATIENTS = {
    "ani": {
        "name": "Ani Lestari",
        "nik": "3201015708900002",
        "birth_date": "1990-08-17",
        "sex": "P",
        "address": "Kp. Babakan RT 01/02, Cibinong",
        "phone": "081234567890",
    },
    "budi": {
        "name": "Budi Santoso",
        "nik": "3201011203850001",
        "birth_date": "1985-03-12",
        "sex": "L",
        "address": "Jl. Raya Ciawi No. 5",
        "phone": "+62 812-9876-5432",
    },
    "citra": {
        "name": "Citra Dewi",
        "nik": "3201014501950003",
        "birth_date": "1995-01-05",
        "sex": "P",
        "address": "Perum Griya Cibinong Blok C2",
        "phone": "081311112222",
    },
    "dedi": {
        "name": "Dedi Kurniawan",
        "nik": "3201012006480004",
        "birth_date": "1948-06-20",
        "sex": "L",
        "address": "Kp. Pabuaran RT 03/05, Cibinong",
        "phone": "085733334444",
    },
    "eka": {
        "name": "Eka Putri",
        "nik": "3201017011920005",
        "birth_date": "1992-11-30",
        "sex": "P",
        "address": "Jl. Mayor Oking No. 12, Cibinong",
        "phone": "087755556666",
    },
}


class StepClock(Clock):
    """The old ``protocol.clock.Clock`` started at a set moment, standing still until moved.

    Every timestamp the edge writes is then exactly the scripted one.
    """

    def __init__(self, start: str):
        super().__init__(start)
        self._at = dt.datetime.fromisoformat(start).astimezone(WIB)

    def set(self, when: str) -> None:
        self._at = dt.datetime.fromisoformat(when).astimezone(WIB)

    def now(self) -> dt.datetime:
        return self._at


@dataclasses.dataclass(frozen=True)
class Refused:
    code: str


class SilentAnnouncer:
    """Stands in for the announcer's voice synthesis (no espeak needed); plays nothing."""

    def announce(self, phrases, name):
        return None


def at(day: str, hhmm: str) -> str:
    return f"{day}T{hhmm}:00+07:00"


def wib(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(WIB)


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def check_old_code(expect: str) -> tuple[Path, str]:
    """The worktree the old code is imported from and its commit; exits if it is this tree."""
    here = Path(git("rev-parse", "--show-toplevel", cwd=Path(__file__).resolve().parent)).resolve()
    print(f"central imported from {central.__file__}")
    tree = Path(git("rev-parse", "--show-toplevel", cwd=Path(central.__file__).resolve().parent)).resolve()
    for module in (central, edge, protocol, provisioning, rosma):
        path = Path(module.__file__).resolve()
        assert path.is_relative_to(tree), f"{module.__name__} comes from {path}, not from {tree}"
    assert tree != here, f"the old code must come from a worktree of the previous release, not from {here}"
    commit = git("rev-parse", "HEAD", cwd=tree)
    assert commit.startswith(expect), f"worktree {tree} is at {commit}, expected {expect}"
    return tree, commit


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return urlunsplit(parts._replace(netloc=parts.netloc.replace(":" + parts.password + "@", ":***@")))
    return url


def with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def pg_admin(url: str, *statements: str) -> None:
    """Run statements outside a transaction (CREATE/DROP DATABASE); ``with conn`` would open one."""
    conn = psycopg2.connect(url, connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
    finally:
        conn.close()


def sqlite_counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)  # reads without making -wal/-shm
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {n: conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        conn.close()


def pg_counts(url: str) -> dict[str, int]:
    conn = psycopg2.connect(url, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
            names = [r[0] for r in cur.fetchall()]
            out = {}
            for n in names:
                cur.execute(f'SELECT COUNT(*) FROM public."{n}"')
                out[n] = cur.fetchone()[0]
            return out
    finally:
        conn.close()


def checkpoint(path: Path) -> None:
    """Fold the WAL into the file and leave no -wal/-shm beside it (the file stays in WAL mode)."""
    conn = sqlite3.connect(path)
    try:
        busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0, f"{path}: checkpoint blocked"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    for suffix in ("-wal", "-shm"):
        leftover = Path(f"{path}{suffix}")
        assert not leftover.exists(), f"{leftover} left behind"


# ---- central ---------------------------------------------------------------------------


class Central:
    """Builds central's database through its services; remembers what it made."""

    def __init__(self, url: str, broker_dir: Path):
        self.db = central_db.connect(url)
        self.broker_dir = broker_dir
        self.patients = {}
        self.reservations = {}  # name -> rid

    def register(self, now: str) -> None:
        services.set_clock(Clock(now))
        for key, form in PATIENTS.items():
            self.patients[key] = services.register_patient(form, now=wib(now))

    def reserve(self, name, patient, poli, day, slot, payer, now, puskesmas=PUSKESMAS):
        services.set_clock(Clock(now))
        bpjs_no = "000" + self.patients[patient].nik[-10:] if payer == "BPJS" else None
        r = services.reserve(self.patients[patient], puskesmas, poli, day, slot, payer, bpjs_no, days=7, now=wib(now))
        self.reservations[name] = r.rid
        return r

    def cancel(self, name, patient, now):
        services.set_clock(Clock(now))
        return services.cancel(self.patients[patient], self.reservations[name], now=wib(now))

    def provision(self, out: Path, data_dir: Path):
        return provision_node(
            PUSKESMAS,
            NODE_ID,
            self.broker_dir,
            out,
            MQTT_HOST,
            MQTT_PORT,
            data_dir=str(data_dir),
            clock_start=CLOCK_START,
        )

    @staticmethod
    def node() -> Node:
        return Node.get(Node.node_id == NODE_ID)


def send_changes(central_node: Node, client: SyncClient) -> int:
    """What central's sync worker answers to a pull (``CentralSync._send_changes``), applied at the edge."""
    after = int(get_state("change_seq"))
    rows, head = feed.changes_after(central_node, after)
    batch = messages.ChangeBatch(tuple(messages.ChangeRecord(c.seq, c.type, json.loads(c.data)) for c in rows), head)
    client._apply_changes(messages.decode(messages.ChangeBatch.NAME, messages.encode(batch)))
    return int(get_state("change_seq"))


def deliver_outbox(central_node: Node, client: SyncClient) -> list[int]:
    """One round of the outbox (``SyncClient._send_batch``) through central's ``apply_batch`` and its ack."""
    rows = list(Outbox.select().where(~Outbox.delivered).order_by(Outbox.seq).limit(100))
    batch = messages.EventBatch(tuple(messages.EventRecord(r.seq, r.type, r.at, json.loads(r.data)) for r in rows))
    received = messages.decode(messages.EventBatch.NAME, messages.encode(batch))
    upto = central_sync.apply_batch(central_node, received)
    ack = messages.decode(messages.Ack.NAME, messages.encode(messages.Ack(upto)))
    client._acked(ack.upto)
    return [r.seq for r in rows if r.seq <= upto]


def central_presence(central_node: Node, body) -> None:
    """Presence and snapshot messages as central's sync worker stores them (``CentralSync._handle``)."""
    worker = central_sync.CentralSync(MQTT_HOST, MQTT_PORT, "central", CENTRAL_MQTT_PASSWORD)
    worker._handle(Node.get_by_id(central_node.id), body)


# ---- edge ------------------------------------------------------------------------------


class EdgeNode:
    """An edge node run by the old code on a stepped clock, with workers that are never started."""

    def __init__(self, config_path: Path, start: str):
        from edge.workers import AnnouncerWorker, DeviceStatus, PrinterWorker

        self.config = edge_config.load(config_path)
        self.db = edge_db.connect(self.config.db_path)
        self.bus = Bus()
        self.clock = StepClock(start)
        self.service = QueueService(self.config, self.bus, self.clock)
        self.status = DeviceStatus(self.bus)
        self.sync = SyncClient(self.config, self.bus, self.status, board=self.service.board)
        self.pulls: list[int] = []
        self.sync._pull = lambda: self.pulls.append(int(get_state("change_seq")))  # no broker here
        stop = threading.Event()
        stop.set()  # the workers never run as threads; a set stop makes their retry waits return at once
        self.printer = PrinterWorker(stop, self.service, self.status, "none", self.config.printer_profile)
        self.announcer = AnnouncerWorker(stop, self.bus, self.status, "none", self.config.clips_dir)
        self.announcer.announcer = SilentAnnouncer()

    def step(self, when: str) -> None:
        self.clock.set(when)

    def scan(self, text: str):
        """The kiosk's scan: the ticket, or the refusal's code (as recorded in the scan log)."""
        try:
            return self.service.check_in(text)
        except CheckinRefused as exc:
            return Refused(exc.code)

    def print_pending(self, fail: bool = False) -> None:
        """The printer worker's pass over pending jobs; ``fail``: the paper ran out for one attempt each."""
        if fail:
            from devices.printer.fake import FakePrinter

            saved, self.printer.printer = self.printer.printer, FakePrinter()
            self.printer.printer.trigger_fake_out_of_paper()
        for job in list(PrintJob.select().where(PrintJob.status == "pending").order_by(PrintJob.id)):
            self.printer._print(job)
        if fail:
            self.printer.printer = saved

    def announce_pending(self) -> None:
        for a in list(Announcement.select().where(Announcement.status == "pending").order_by(Announcement.id)):
            self.announcer._announce(a)

    def close(self) -> None:
        # A refused repeat check-in leaves peewee's failed INSERT cursor alive in the exception's
        # context until the garbage collector frees it; a connection closed before that stays open
        # as a zombie (sqlite3_close_v2) and keeps edge.db-wal/-shm in place.
        gc.collect()
        self.db.close()


def old_node_morning(c: Central, work: Path) -> dict:
    """The first pkm-cibinong node: one ticket on OLD_EDGE_DAY, delivered; then its SD card dies."""
    cfg = work / "old-node" / "edge.toml"
    cfg.parent.mkdir(parents=True)
    c.provision(cfg, work / "old-node" / "data")
    node = c.node()
    e = EdgeNode(cfg, at(OLD_EDGE_DAY, "07:30"))
    send_changes(node, e.sync)
    e.step(at(OLD_EDGE_DAY, "07:40"))
    t = e.service.issue_walkin("UMUM")
    e.step(at(OLD_EDGE_DAY, "07:45"))
    e.service.call_next("loket-1")
    e.step(at(OLD_EDGE_DAY, "07:50"))
    e.service.act(t.key, "finish")
    delivered = deliver_outbox(node, e.sync)
    info = {"ticket_key": t.key, "label": t.label, "day": OLD_EDGE_DAY, "delivered_seqs": delivered}
    e.close()
    return info


def build(work: Path) -> dict:
    """Run the scenario; returns the facts the manifest records (ids, rids, keys, seqs)."""
    broker_dir = work / "broker"
    c = Central(f"sqlite:///{work / 'central.db'}", broker_dir)
    seed.seed()
    c.register(BOOKING_DAY1)

    # Tuesday: bookings made before any node exists
    c.reserve("future_active", "ani", "UMUM", FUTURE_DAY, "08:00-09:00", "UMUM", BOOKING_DAY1)
    c.reserve("done", "dedi", "LANSIA", EDGE_DAY, "08:00-09:00", "UMUM", BOOKING_DAY1)
    c.reserve("other_puskesmas", "ani", "UMUM", OTHER_DAY, "10:00-11:00", "UMUM", BOOKING_DAY1, puskesmas="ciawi")

    # Wednesday: the first node works a morning, dies, and is re-provisioned (its row is retired)
    old = old_node_morning(c, work)
    old_node_pk = Node.get(Node.node_id == NODE_ID).id
    edge_toml_build = work / "edge.toml"
    bundle = c.provision(edge_toml_build, work / "edge")
    node = c.node()
    c.reserve("checked_in", "citra", "UMUM", EDGE_DAY, "09:00-10:00", "BPJS", BOOKING_DAY2)
    c.reserve("checked_in_not_delivered", "budi", "GIGI", EDGE_DAY, "09:00-10:00", "UMUM", BOOKING_DAY2)
    c.reserve("cancelled", "eka", "UMUM", EDGE_DAY, "08:00-09:00", "UMUM", BOOKING_DAY2)
    c.cancel("cancelled", "eka", "2026-11-25T15:10:00+07:00")  # then she books KIA instead
    c.reserve("edge_day_not_checked_in", "eka", "KIA", EDGE_DAY, "10:00-11:00", "BPJS", "2026-11-25T15:20:00+07:00")
    qr = {name: CentralReservation.get(CentralReservation.rid == rid).qr_text for name, rid in c.reservations.items()}

    # Thursday: the new node's queue day
    e = EdgeNode(edge_toml_build, at(EDGE_DAY, "07:30"))
    central_presence(node, messages.Presence(True))
    send_changes(node, e.sync)  # the pull on connect
    tk = {}
    e.step(at(EDGE_DAY, "07:31"))
    tk["A001"] = e.service.issue_walkin("UMUM")
    e.step(at(EDGE_DAY, "07:32"))
    tk["B001"] = e.service.issue_walkin("BPJS")
    e.step(at(EDGE_DAY, "07:33"))
    tk["A002"] = e.service.issue_walkin("UMUM", priority=True)
    e.step(at(EDGE_DAY, "07:34"))
    tk["A003"] = e.service.issue_walkin("UMUM")
    e.step(at(EDGE_DAY, "07:35"))
    tk["B002"] = e.service.issue_walkin("BPJS")
    e.step(at(EDGE_DAY, "07:36"))
    tk["A004"] = e.service.issue_walkin("UMUM")
    e.step(at(EDGE_DAY, "07:40"))
    refused_format = e.scan("bukan kode reservasi")
    e.step(at(EDGE_DAY, "07:41"))
    refused_not_today = e.scan(qr["future_active"])
    e.step(at(EDGE_DAY, "07:45"))
    tk["L001"] = e.scan(qr["done"])
    e.step(at(EDGE_DAY, "07:46"))
    tk["U001"] = e.scan(qr["checked_in"])
    e.step(at(EDGE_DAY, "07:47"))
    refused_again = e.scan(qr["checked_in"])
    e.step(at(EDGE_DAY, "07:48"))
    refused_cancelled = e.scan(qr["cancelled"])
    refusals = [r.code for r in (refused_format, refused_not_today, refused_again, refused_cancelled)]
    assert refusals == ["format", "not-today", "again", "cancelled"], refusals
    assert not any(isinstance(tk[k], Refused) for k in tk)
    e.print_pending()
    first_round = deliver_outbox(node, e.sync)

    e.step(at(EDGE_DAY, "08:00"))
    assert e.service.call_next("loket-1").key == tk["A002"].key  # priority first
    e.step(at(EDGE_DAY, "08:01"))
    assert e.service.call_next("loket-2").key == tk["A001"].key
    e.step(at(EDGE_DAY, "08:02"))
    e.service.act(tk["A002"].key, "serve")
    e.step(at(EDGE_DAY, "08:03"))
    e.service.act(tk["A001"].key, "serve")
    e.step(at(EDGE_DAY, "08:05"))
    e.service.act(tk["A002"].key, "transfer", to_poli="UMUM")
    transfer = Ticket.get((Ticket.parent == tk["A002"].key) & (Ticket.kind == "transfer"))
    e.step(at(EDGE_DAY, "08:06"))
    e.service.act(tk["A001"].key, "finish")
    e.step(at(EDGE_DAY, "08:07"))
    assert e.service.call_next("loket-2").key == tk["B001"].key
    e.step(at(EDGE_DAY, "08:08"))
    e.service.act(tk["B001"].key, "recall")
    e.step(at(EDGE_DAY, "08:10"))
    e.service.act(tk["B001"].key, "no_show")
    e.step(at(EDGE_DAY, "08:11"))
    e.service.act(tk["A004"].key, "cancel")
    e.step(at(EDGE_DAY, "08:12"))
    assert e.service.call_next("poli-LANSIA").key == tk["L001"].key
    e.step(at(EDGE_DAY, "08:13"))
    e.service.act(tk["L001"].key, "serve")
    e.step(at(EDGE_DAY, "08:20"))
    e.service.act(tk["L001"].key, "finish")
    e.announce_pending()
    second_round = deliver_outbox(node, e.sync)
    central_presence(node, messages.QueueSnapshot(e.service.board()["day"], [e.service.board()]))

    # 08:21 the link to central drops; the queue carries on and the outbox fills up
    e.step(at(EDGE_DAY, "08:25"))
    assert e.service.call_next("poli-UMUM").key == transfer.key  # priority transfer before U001's slot
    e.step(at(EDGE_DAY, "08:26"))
    e.service.act(transfer.key, "serve")
    e.step(at(EDGE_DAY, "08:30"))
    tk["G001"] = e.scan(qr["checked_in_not_delivered"])
    assert not isinstance(tk["G001"], Refused)
    e.step(at(EDGE_DAY, "08:31"))
    assert e.service.call_next("loket-1").key == tk["A003"].key
    e.step(at(EDGE_DAY, "08:32"))
    e.print_pending(fail=True)  # out of paper: G001's job stays pending with one failed attempt
    central_presence(node, messages.Presence(False))  # the edge's last will, seen by central

    # a booking made while the edge is offline: in central's feed, not yet at the edge
    c.reserve("future_not_at_edge", "citra", "GIGI", FUTURE_DAY, "11:00-12:00", "UMUM", at(EDGE_DAY, "08:40"))

    facts = collect(c, e, node, old, old_node_pk, tk, transfer, first_round, second_round)
    facts["bundle"] = bundle
    e.close()
    c.db.close()
    return facts


def ticket_info(t: Ticket) -> dict:
    return {
        "key": t.key,
        "label": t.label,
        "queue": t.queue,
        "kind": t.kind,
        "payer": t.payer,
        "poli": t.poli,
        "rid": t.rid,
        "priority": t.priority,
        "state": t.state,
        "parent": t.parent,
        "destination": t.destination,
    }


def collect(c, e, node, old, old_node_pk, tk, transfer, first_round, second_round) -> dict:
    tickets = [ticket_info(t) for t in Ticket.select().order_by(Ticket.id)]
    by_state: dict[str, list[str]] = {}
    for t in tickets:
        by_state.setdefault(t["state"], []).append(f"{t['label']} {t['queue']} {t['key']}")
    edge_res = {r.rid: r.status for r in EdgeReservation.select()}
    check_ins = {ci.rid: ci.ticket_key for ci in CheckIn.select()}
    reservations = {}
    for name, rid in c.reservations.items():
        r = CentralReservation.get(CentralReservation.rid == rid)
        reservations[name] = {
            "rid": rid,
            "id": r.id,
            "patient_id": r.patient_id,
            "patient_nik": r.patient.nik,
            "puskesmas": r.puskesmas.code,
            "poli": r.poli.code,
            "date": r.date.isoformat(),
            "slot": r.slot,
            "payer": r.payer,
            "central_status": r.status,
            "central_ticket_label": r.ticket_label,
            "edge_status": edge_res.get(rid),
            "edge_ticket_key": check_ins.get(rid),
        }
    outbox = [
        {"seq": o.seq, "type": o.type, "at": o.at, "delivered": o.delivered}
        for o in Outbox.select().order_by(Outbox.seq)
    ]
    nodes = []
    for n in Node.select().order_by(Node.id):
        head = feed.changes_after(n, 0, limit=0)[1]
        nodes.append(
            {
                "id": n.id,
                "node_id": n.node_id,
                "retired": "~" in n.node_id,
                "up_seq": n.up_seq,
                "online": n.online,
                "change_head": head,
                "edge_events": n.events.count(),
                "visits": n.visits.count(),
                "has_snapshot": bool(n.snapshot),
            }
        )
    current = next(n for n in nodes if n["node_id"] == NODE_ID)
    retired = [n for n in nodes if n["retired"]]
    assert [n["id"] for n in retired] == [old_node_pk]
    delivered = [o["seq"] for o in outbox if o["delivered"]]
    undelivered = [o["seq"] for o in outbox if not o["delivered"]]
    assert delivered == first_round + second_round == list(range(1, len(delivered) + 1))
    assert current["up_seq"] == delivered[-1]
    change_seq = int(get_state("change_seq"))
    assert change_seq < current["change_head"], "the edge should be behind central's feed by one booking"
    by_status: dict[str, list[str]] = {}
    for name, v in reservations.items():
        by_status.setdefault(v["central_status"], []).append(name)
    summary = {
        "reservations_by_central_status": by_status,
        "tickets_by_state": {state: [s.split()[0] for s in v] for state, v in by_state.items()},
        "outbox": {"delivered": f"1..{delivered[-1]}", "undelivered": f"{undelivered[0]}..{undelivered[-1]}"},
        "central_node": {"node_id": NODE_ID, "id": current["id"], "up_seq": current["up_seq"]},
        "retired_node": {"node_id": retired[0]["node_id"], "id": retired[0]["id"], "up_seq": retired[0]["up_seq"]},
        "edge_change_seq": change_seq,
        "central_change_head": current["change_head"],
    }
    return {
        "summary": summary,
        "patients": {k: {"id": p.id, "nik": p.nik, "name": p.name} for k, p in c.patients.items()},
        "reservations": reservations,
        "signing_key_kid": keys.active_key().kid,
        "central_nodes": nodes,
        "central_node": current,
        "retired_node": retired[0] | {"old_edge": old},
        "edge": {
            "node_id": NODE_ID,
            "day": EDGE_DAY,
            "change_seq_checkpoint": change_seq,
            "central_change_head": current["change_head"],
            "changes_not_yet_at_edge": list(range(change_seq + 1, current["change_head"] + 1)),
            "tickets": tickets,
            "tickets_by_state": by_state,
            "transfer_ticket_key": transfer.key,
            "queue_counters": [
                {"day": q.day, "queue": q.queue, "last": q.last}
                for q in QueueCounter.select().order_by(QueueCounter.id)
            ],
            "check_ins": [
                {"rid": ci.rid, "ticket_key": ci.ticket_key, "at": ci.at}
                for ci in CheckIn.select().order_by(CheckIn.id)
            ],
            "outbox": outbox,
            "outbox_delivered_seqs": delivered,
            "outbox_undelivered_seqs": undelivered,
            "outbox_delivery_rounds": [first_round, second_round],
            "print_jobs": [
                {"id": p.id, "ticket_key": p.ticket_key, "status": p.status, "attempts": p.attempts, "error": p.error}
                for p in PrintJob.select().order_by(PrintJob.id)
            ],
            "announcements": [
                {"id": a.id, "label": a.label, "destination": a.destination, "status": a.status}
                for a in Announcement.select().order_by(Announcement.id)
            ],
            "scan_log": [
                {"id": s.id, "at": s.at, "ok": s.ok, "code": s.code, "label": s.label}
                for s in ScanLog.select().order_by(ScanLog.id)
            ],
            "sync_state": {s.key: s.value for s in SyncState.select()},
            "pulls_requested": e.pulls,
        },
    }


# ---- PostgreSQL ------------------------------------------------------------------------


def copy_central_to_pg(sqlite_path: Path, pg_url: str) -> None:
    """The same rows, ids included, through the old models; then each id sequence set past its max."""
    db = central_db.connect(f"sqlite:///{sqlite_path}")
    rows = {m: list(m.select().order_by(m.id).dicts()) for m in CENTRAL_MODELS}
    db.close()
    db = central_db.connect(pg_url)  # creates the old schema on PostgreSQL
    try:
        with db.atomic():
            for m in CENTRAL_MODELS:
                if rows[m]:
                    m.insert_many(rows[m]).execute()
            for m in CENTRAL_MODELS:
                table = m._meta.table_name
                db.execute_sql(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                    f'COALESCE((SELECT MAX(id) FROM "{table}"), 1), (SELECT MAX(id) FROM "{table}") IS NOT NULL)'
                )
    finally:
        db.close()


def pg_dump(url: str, out: Path) -> list[str]:
    """``pg_dump --inserts --no-owner --no-privileges``; drops psql-only lines; returns what was dropped."""
    text = subprocess.run(
        ["pg_dump", "--inserts", "--no-owner", "--no-privileges", "--dbname", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    kept, dropped = [], []
    for line in text.splitlines():
        # pg_dump 13.22/14.19/15.14/16.10/17.6 and later wrap the dump in \restrict <random key> ...
        # \unrestrict <key>: psql meta-commands psycopg2 cannot execute (and a random key).
        if line.startswith("\\"):
            dropped.append(line.split(" ", 1)[0])
        else:
            kept.append(line)
    out.write_text("\n".join(kept) + "\n")
    return dropped


def load_sql(url: str, path: Path) -> None:
    conn = psycopg2.connect(url, connect_timeout=5)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(path.read_text())
    finally:
        conn.close()


# ---- output ----------------------------------------------------------------------------


def write_configs(out: Path, bundle) -> None:
    """central.toml and edge.toml for the fixture, written by the old code's TOML writers (mode 0600)."""
    write_toml(
        out / "central.toml",
        {
            "database_url": f"sqlite:///{PLACEHOLDER}/central.db",
            "secret_key": CENTRAL_SECRET_KEY,
            "http_host": "127.0.0.1",
            "http_port": 8080,
            "mqtt_host": MQTT_HOST,
            "mqtt_port": MQTT_PORT,
            "mqtt_username": "central",
            "mqtt_password": CENTRAL_MQTT_PASSWORD,
            "booking_days": 7,
            "seed": False,
            "embedded_sync": True,
            "log_level": "INFO",
            "clock_start": CLOCK_START,
        },
    )
    write_edge_config(
        out / "edge.toml", dataclasses.replace(bundle, data_dir=PLACEHOLDER), {"clock_start": CLOCK_START}
    )


def reopen_with_old_code(out: Path, work: Path) -> None:
    """The old code loads the fixture configs and opens copies of the databases."""
    from central import config as central_config

    check = work / "reopen"
    check.mkdir()
    for name in ("central.db", "edge.db", "central.toml", "edge.toml"):
        shutil.copy(out / name, check / name)
        p = check / name
        if name.endswith(".toml"):
            p.write_text(p.read_text().replace(PLACEHOLDER, str(check)))
    ccfg = central_config.load(check / "central.toml")
    db = central_db.connect(ccfg.database_url)
    assert Node.select().count() == 2
    db.close()
    ecfg = edge_config.load(check / "edge.toml")
    assert ecfg.db_path == check / "edge.db" and ecfg.node_id == NODE_ID
    db = edge_db.connect(ecfg.db_path)
    assert Outbox.select().where(~Outbox.delivered).count() > 0
    db.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path, help="fixture directory to (re)write")
    ap.add_argument("--pg-url", required=True, help="PostgreSQL server where this user may CREATE DATABASE")
    ap.add_argument("--expect-commit", default=EXPECTED_COMMIT, help="commit (prefix) the old code must be at")
    args = ap.parse_args()
    tree, commit = check_old_code(args.expect_commit)
    command = {
        "cwd": os.getcwd(),
        "env": {k: os.environ[k] for k in ("PYTHONPATH", "ESCPOS_CAPABILITIES_PICKLE_DIR") if k in os.environ},
        "argv": [sys.executable, *[redact(a) for a in sys.argv]],
    }
    env_prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in command["env"].items())
    command["shell"] = f"cd {shlex.quote(command['cwd'])} && {env_prefix} {shlex.join(command['argv'])}"

    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    files = ("central.db", "central.pg.sql", "edge.db", "central.toml", "edge.toml", "manifest.json", "README.md")
    strays = [p.name for p in out.iterdir() if p.name not in files]
    if strays:
        raise SystemExit(f"{out} holds files this script does not make: {strays}; remove them first")
    for name in files:
        (out / name).unlink(missing_ok=True)

    admin = args.pg_url
    scratch = "rosma_fixture_" + secrets.token_hex(4)
    reload_db = "rosma_fixture_load_" + secrets.token_hex(4)
    with tempfile.TemporaryDirectory(prefix="rosma-fixture-") as tmp:
        work = Path(tmp)
        facts = build(work)
        bundle = facts.pop("bundle")
        for name in ("central.db", "edge/edge.db"):
            checkpoint(work / name)
        shutil.copyfile(work / "central.db", out / "central.db")
        shutil.copyfile(work / "edge" / "edge.db", out / "edge.db")

        pg_admin(admin, f'CREATE DATABASE "{scratch}"', f'CREATE DATABASE "{reload_db}"')
        try:
            copy_central_to_pg(out / "central.db", with_db(admin, scratch))
            dropped = pg_dump(with_db(admin, scratch), out / "central.pg.sql")
            load_sql(with_db(admin, reload_db), out / "central.pg.sql")
            counts_pg_loaded = pg_counts(with_db(admin, reload_db))
        finally:
            pg_admin(admin, *(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in (scratch, reload_db)))

        write_configs(out, bundle)
        reopen_with_old_code(out, work)
        for name in ("central.db", "edge.db"):
            checkpoint(out / name)

    counts_central = sqlite_counts(out / "central.db")
    counts_edge = sqlite_counts(out / "edge.db")
    assert counts_pg_loaded == counts_central, (counts_pg_loaded, counts_central)
    edge_toml = tomllib.loads((out / "edge.toml").read_text())
    manifest = {
        "fixture": FIXTURE_NAME,
        "made_from_commit": commit,
        "made_from_worktree": str(tree),
        "made_at_utc": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "command": command,
        "placeholder": {
            "text": PLACEHOLDER,
            "central.toml": {"database_url": f"sqlite:///{PLACEHOLDER}/central.db"},
            "edge.toml": {"data_dir": PLACEHOLDER},
            "how": f"replace {PLACEHOLDER} with the directory holding the copies (edge.db at <data_dir>/edge.db)",
        },
        "configs": {
            "central.toml": {
                "rewrite": ["database_url"],
                "maybe_rewrite": ["mqtt_host", "mqtt_port", "mqtt_password", "http_port", "clock_start"],
            },
            "edge.toml": {
                "rewrite": ["data_dir"],
                "maybe_rewrite": ["mqtt_host", "mqtt_port", "http_port", "clock_start"],
                "broker_user": edge_toml["mqtt_username"],
                "broker_password_is_in": "edge.toml mqtt_password (throwaway fixture value)",
            },
            "clock_start": CLOCK_START,
        },
        "pg_dump": {
            "options": ["--inserts", "--no-owner", "--no-privileges"],
            "version": subprocess.run(["pg_dump", "--version"], capture_output=True, text=True).stdout.strip(),
            "psql_meta_lines_removed": dropped,
        },
        "sqlite": {"journal_mode": "wal", "checkpointed": True},
        "counts": {"central.db": counts_central, "central.pg.sql": counts_pg_loaded, "edge.db": counts_edge},
        "tables": {
            "central": sorted(m._meta.table_name for m in CENTRAL_MODELS),
            "edge": sorted(m._meta.table_name for m in EDGE_MODELS),
        },
        "wall_clock_columns": (
            "central created_at, received_at, last_seen and checked_in_at hold the wall-clock UTC time of the run "
            "(the old code stamps them with utcnow, not with the service clock); every edge time is scripted"
        ),
        **facts,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    (out / "README.md").write_text(readme(manifest))
    for name in files:
        size = (out / name).stat().st_size
        assert size < 1_000_000, f"{name} is {size} bytes"
        print(f"{size:>8}  {out / name}")
    leftovers = [p.name for p in out.iterdir() if p.name not in files]
    assert not leftovers, leftovers
    return 0


def readme(m: dict) -> str:
    r = m["reservations"]
    e = m["edge"]
    res_lines = "\n".join(
        f"| {name} | `{v['rid']}` | {v['puskesmas']} {v['poli']} {v['date']} {v['slot']} {v['payer']} "
        f"| {v['central_status']} | {v['edge_status'] or '(not at the edge)'} |"
        for name, v in r.items()
    )
    tickets = "\n".join(
        f"| {t['label']} | `{t['key']}` | {t['queue']} | {t['kind']} | {t['state']} |" for t in e["tickets"]
    )
    counts = "\n".join(
        f"| {t} | {m['counts']['central.db'].get(t, '')} | {m['counts']['central.pg.sql'].get(t, '')} |"
        for t in m["tables"]["central"]
    )
    edge_counts = "\n".join(f"| {t} | {n} |" for t, n in m["counts"]["edge.db"].items())
    return f"""# Upgrade fixture `{FIXTURE_NAME}`

Databases and configs made **by the previous release's code** (commit `{m["made_from_commit"]}`),
for the upgrade test: new code must start on these files, migrate them in place and keep every
row. Generated by `tests/upgrade/make_fixture.py`; do not edit by hand, regenerate instead.
`manifest.json` lists every interesting id, rid, ticket key, seq and count; `test_fixture_shape.py`
checks the files against it with sqlite3/psycopg2 only.

## How it was made

From `/work/main` (a worktree does not touch the main working tree):

```
git worktree add /tmp/rosma-prev 2af0a6f
cd /tmp/rosma-prev && PYTHONPATH=/tmp/rosma-prev ESCPOS_CAPABILITIES_PICKLE_DIR=/tmp/escpos \\
  /work/main/.venv/bin/python /work/main/tests/upgrade/make_fixture.py \\
  --out /work/main/tests/upgrade/fixtures/release-0.1.0 \\
  --pg-url postgresql://postgres@127.0.0.1:5432/postgres
cd /work/main && git worktree remove /tmp/rosma-prev
```

The exact command of this run is in `manifest.json` (`command`). The script prints
`central.__file__` and refuses to run unless `central`, `edge`, `protocol`, `provisioning` and
`rosma` are imported from a worktree at `2af0a6f`. It needs a PostgreSQL server where the user may
`CREATE DATABASE` (it makes two scratch databases and drops them) and `pg_dump` on PATH.
Rids, ticket keys, the QR signing key and the broker password are random in the old code, so a
rerun gives other values (the manifest records them); everything else is scripted.

## Files

- `central.db`: central on SQLite (WAL mode, fully checkpointed: no `-wal`/`-shm`).
- `central.pg.sql`: the same rows (same ids) on PostgreSQL: `pg_dump --inserts --no-owner
  --no-privileges` of a scratch database. The `\\restrict`/`\\unrestrict` psql meta-command lines
  that newer pg_dump writes are removed, so it loads by executing it through psycopg2 into an
  empty database. Id sequences are set past each table's max id.
- `edge.db`: the edge node `{NODE_ID}` (WAL mode, fully checkpointed).
- `central.toml`: central's config (the old `CentralConfig` fields).
- `edge.toml`: the edge's config as written by the old `rosma provision` code (mode 0600 when
  written; git only keeps 0644).
- `manifest.json`: counts per table, the interesting rows, the commit and the command.

Open the SQLite files only on a copy (or with `?immutable=1`): opening a WAL database in place
creates `-wal`/`-shm` files next to it.

## What a test must rewrite in the configs

Both configs name the placeholder directory `{PLACEHOLDER}`: copy the files to a directory of the
test's own and replace the text `{PLACEHOLDER}` with that directory.

- `central.toml`: **`database_url`** (`sqlite:///{PLACEHOLDER}/central.db`; becomes
  `sqlite:///<copy dir>/central.db`, or the URL of a PostgreSQL database loaded from
  `central.pg.sql`). If the test runs a broker: `mqtt_host`, `mqtt_port` (`{MQTT_PORT}`) and the
  broker user `central` with `mqtt_password`; `http_port` (8080) if it serves.
- `edge.toml`: **`data_dir`** (`{PLACEHOLDER}`; the edge opens `<data_dir>/edge.db` and writes voice
  clips to `<data_dir>/clips`). If the test runs a broker: `mqtt_host`, `mqtt_port` (`{MQTT_PORT}`),
  and the broker user `{NODE_ID}` with the `mqtt_password` in this file; `http_port` (8081) if it
  serves. Printer, scanner and audio are `none`.
- Both have `clock_start = "{CLOCK_START}"`, right after the fixture's last edge action, so that
  the fixture's queue day is "today" (drop or change it to run on the system clock).

The secrets in these files (`secret_key`, both `mqtt_password`s) are **throwaway fixture values**,
never used anywhere real.

## What is inside

Seed puskesmas and poli (`central.seed.seed`), {len(m["patients"])} patients, a QR signing key
(kid `{m["signing_key_kid"]}`). The first `{NODE_ID}` node worked one morning ({OLD_EDGE_DAY}: one
ticket, delivered: up_seq {m["retired_node"]["up_seq"]}) and was re-provisioned, so its row is kept as
the retired `{m["retired_node"]["node_id"]}`. The current node (`{NODE_ID}`, id {m["central_node"]["id"]})
has up_seq {m["central_node"]["up_seq"]} and a change feed up to seq {e["central_change_head"]}; the edge's
checkpoint (`sync_state.change_seq`) is {e["change_seq_checkpoint"]}, so change(s)
{e["changes_not_yet_at_edge"]} are still to be pulled.

Reservations (central status vs. what the edge got from the feed):

| name | rid | where / when | central | edge |
|---|---|---|---|---|
{res_lines}

`checked_in_not_delivered` was checked in at the edge (ticket G001) but its event is in the
undelivered outbox, so central still says `active` until the outbox is sent.

Edge queue day {e["day"]} (tickets):

| label | key | queue | kind | state |
|---|---|---|---|---|
{tickets}

Outbox: seqs {e["outbox_delivered_seqs"][0]}..{e["outbox_delivered_seqs"][-1]} delivered (applied at central by
`central.sync.apply_batch` in two rounds, then acked the way `SyncClient._acked` does), seqs
{e["outbox_undelivered_seqs"][0]}..{e["outbox_undelivered_seqs"][-1]} **not delivered** (the edge went offline).
Also: queue counters, check-ins, print jobs (printed, one pending after an out-of-paper attempt),
announcements (done and pending) and scan log rows (ok and refused: format, not-today, again,
cancelled).

Central row counts (SQLite / PostgreSQL after loading the dump):

| table | central.db | central.pg.sql |
|---|---|---|
{counts}

Edge row counts:

| table | edge.db |
|---|---|
{edge_counts}

Central's `created_at`, `received_at`, `last_seen` and `checked_in_at` columns hold the wall-clock
time of the run: the old code stamps them with `utcnow()`, not with the service clock.
"""


if __name__ == "__main__":
    raise SystemExit(main())
