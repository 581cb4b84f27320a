"""How fast central takes in the edges' backlogs once the broker is back, every event once.

(a) One real edge (``rosma edge run``, with ``rosma central run`` and ``rosma central sync``,
    tests/e2e/harness.py) whose outbox holds a 5,000-event backlog made while the broker was
    down (walk-ins issued through the edge's own ``QueueService`` while the edge was stopped);
    the broker returns: seconds until central holds them all, and events per second.
(b) Many edges at once (``EDGES``, as many as this machine allows), each an in-process edge
    with its own broker login publishing real protocol batches with the edge's own sending rules
    (``edge.sync``: batch size, window, ack timeout), reconnecting with backlogs: events, seconds,
    events per second, lost, doubled, and needless resends (a batch sent again although central
    had already stored it).

Three repetitions each; the median is reported. Needs Mosquitto and PostgreSQL
(``ROSMA_TEST_PG_URL``, default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "tests" / "e2e") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from edge import sync as edge_sync  # noqa: E402
from infra.mqtt import Settings  # noqa: E402
from infra.mqtt.paho import PahoTransport  # noqa: E402
from protocol import events, messages, topics  # noqa: E402

PG = os.environ.get("ROSMA_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKLOG = 5000
EDGES = 101
EDGE_BACKLOG = 129  # 101 x 129 = 13,029 events, the measurement
REPEAT = 3
GOALS = {"drain_s": 10.0, "drain_rate": 2000.0, "many_rate": 2000.0}
AT = "2026-11-26T08:00:00.000+07:00"


# ---- a database per run ----------------------------------------------------------------------
def fresh_database() -> str:
    name = f"rosma_bench_{secrets.token_hex(4)}"
    conn = psycopg2.connect(PG)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return PG.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    conn = psycopg2.connect(PG)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    conn.close()


def counts(url: str) -> dict[str, tuple[int, int, int]]:
    """node id -> (events stored, distinct seqs, highest contiguous seq) at central."""
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT n.node_id, COUNT(e.id), COUNT(DISTINCT (e.incarnation, e.seq)), "
            "COALESCE((SELECT MAX(s.up_seq) FROM nodestream s WHERE s.node_id = n.id), 0) "
            "FROM node n LEFT JOIN edgeevent e ON e.node_id = n.id GROUP BY n.id, n.node_id"
        )
        rows = {r[0]: (r[1], r[2], r[3]) for r in cur.fetchall()}
    conn.close()
    return rows


# ---- simulated edges -------------------------------------------------------------------------
def walkin(seq: int, node: str) -> messages.EventRecord:
    e = events.TicketIssued(
        ticket=f"{node}-{seq}",
        day="2026-11-26",
        queue="REG-A",
        label=f"A{seq % 1000:03d}",
        number=seq,
        kind="walkin",
        payer="UMUM",
        at=AT,
        actor=events.KIOSK,
    )
    return messages.EventRecord(seq, e.NAME, e.at, events.to_data(e), e.VERSION)


class SimEdge:
    """An edge's outbox sender on its own broker login, following ``edge.sync``'s rules (what
    this release has of them: batch size, window of batches in flight, ack timeout)."""

    def __init__(self, node_id: str, password: str, port: int, ca: str, backlog: int, stored_upto=None):
        self.node = node_id
        self.records = [walkin(seq, node_id) for seq in range(1, backlog + 1)]
        self.incarnation = "bench" + secrets.token_hex(4)
        self.stored_upto = stored_upto  # callable: what central holds of this node now (needless resends)
        self.acked = 0
        self.in_flight: list[tuple[int, int, float]] = []
        self.progress_at = 0.0
        self.ack_s = 0.0
        self.resends = 0
        self.needless = 0
        self.sent = 0
        self.fixed_timeout: float | None = None  # tests: resend after this many seconds, whatever the acks say
        self.done = threading.Event()
        self.wake = threading.Event()
        self.lock = threading.Lock()
        settings = Settings(
            host="127.0.0.1", port=port, username=node_id, password=password, client_id=node_id, tls_ca=ca
        )
        self.t = PahoTransport(settings)
        self.t.on_message = self._message
        self.t.on_connect = self._connected
        self.t.subscribe(topics.node_down_filter(node_id), qos=1)

    def start(self) -> None:
        self.t.start()

    def _connected(self) -> None:
        with self.lock:
            self.in_flight = []
        self.wake.set()

    def _message(self, msg) -> None:
        t = topics.parse(msg.topic)
        if t.kind != topics.DOWN_ACK:
            return
        ack = messages.decode(t.kind, msg.payload)
        now = time.monotonic()
        with self.lock:
            if ack.incarnation != self.incarnation or ack.upto <= self.acked:
                return
            self.acked = ack.upto
            done = [b for b in self.in_flight if b[1] <= ack.upto]
            if done:
                sample = now - done[-1][2]
                self.ack_s = sample if not self.ack_s else 0.7 * self.ack_s + 0.3 * sample
                self.in_flight = self.in_flight[len(done) :]
                self.progress_at = now
            if self.acked >= len(self.records):
                self.done.set()
        self.wake.set()

    def timeout(self) -> float:
        if self.fixed_timeout is not None:
            return self.fixed_timeout
        if not hasattr(edge_sync, "ACK_FACTOR"):  # one batch in flight, a fixed timeout
            return edge_sync.ACK_TIMEOUT_S
        return max(edge_sync.ACK_MIN_S, edge_sync.ACK_FACTOR * self.ack_s) if self.ack_s else edge_sync.ACK_TIMEOUT_S

    def step(self) -> None:
        if not self.t.connected or self.done.is_set():
            return
        window = getattr(edge_sync, "WINDOW", 1)
        while True:
            now = time.monotonic()
            with self.lock:
                if self.in_flight and now - max(self.progress_at, self.in_flight[0][2]) >= self.timeout():
                    late = list(self.in_flight)
                    self.in_flight = []
                    self.resends += len(late)
                    if self.stored_upto is not None:
                        have = self.stored_upto(self.node)
                        self.needless += sum(1 for b in late if b[1] <= have)
                if len(self.in_flight) >= window:
                    return
                after = max(self.in_flight[-1][1] if self.in_flight else 0, self.acked)
            rows = self.records[after : after + edge_sync.BATCH]
            if not rows:
                return
            batch = messages.EventBatch(tuple(rows), self.incarnation)
            if not self.t.publish(topics.up(self.node, topics.UP_EVENTS), messages.encode(batch), qos=1):
                return
            with self.lock:
                if not self.in_flight:
                    self.progress_at = time.monotonic()
                self.in_flight.append((rows[0].seq, rows[-1].seq, time.monotonic()))
                self.sent += 1

    def stop(self) -> None:
        self.t.stop()


def pump(edges: list[SimEdge], until: float) -> None:
    """Drive the edges' senders (one thread, as each edge's pump would) until all are acked."""
    while time.monotonic() < until and not all(e.done.is_set() for e in edges):
        for e in edges:
            e.step()
        time.sleep(0.02)  # the pump's own pace (an edge wakes on acks and every 2 s)


# ---- a central with its sync workers, on a private broker --------------------------------------
class Central:
    """PostgreSQL, a private Mosquitto, and ``workers`` ``rosma central sync`` processes, each
    its own broker user on the shared subscription."""

    def __init__(self, base: Path, nodes: int, workers: int = 1):
        from central import db as central_db
        from central.models import Node, Poli, Puskesmas
        from provisioning.local_broker import LocalBroker

        self.base = base
        self.url = fresh_database()
        central_db.connect(self.url)
        pkm = Puskesmas.create(code="cibinong", name="Puskesmas Cibinong", address="Cibinong", kecamatan="Cibinong")
        Poli.create(puskesmas=pkm, code="UMUM", name="Poli Umum", prefix="U", slot_quota=10)
        self.node_pw = {f"pkm-bench-{i:03d}": secrets.token_urlsafe(12) for i in range(nodes)}
        for node_id in self.node_pw:
            Node.create(node_id=node_id, puskesmas=pkm)
        central_db.database.close()
        self.users = {f"central-{w}" if w else "central": secrets.token_urlsafe(12) for w in range(workers)}
        self.broker = LocalBroker(base / "broker", {**self.users, **self.node_pw}, central_user=list(self.users))
        self.procs: list[subprocess.Popen] = []
        self.logs: list = []

    def start_broker(self) -> None:
        self.broker.start()

    def start_workers(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "ESCPOS_CAPABILITIES_PICKLE_DIR": str(self.base / "escpos")}
        for i, (user, pw) in enumerate(self.users.items()):
            cfg = self.base / f"central-{i}.toml"
            cfg.write_text(
                f'database_url = "{self.url}"\nsecret_key = "{secrets.token_urlsafe(32)}"\n'
                f'mqtt_port = {self.broker.port}\nmqtt_username = "{user}"\nmqtt_password = "{pw}"\n'
                f'mqtt_ca = "{self.broker.ca_path}"\nkeys_dir = "{self.base / "keys"}"\n'
            )
            log = open(self.base / f"sync-{i}.log", "ab")  # noqa: SIM115 - closed in stop()
            self.logs.append(log)
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "rosma.cli", "central", "sync", "--config", str(cfg)],
                    cwd=self.base,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + 60
        for i in range(len(self.users)):  # each worker says when it is connected
            path = self.base / f"sync-{i}.log"
            while "central sync connected" not in path.read_text(errors="replace"):
                if time.monotonic() > deadline or self.procs[i].poll() is not None:
                    raise RuntimeError(f"sync worker {i} did not connect:\n{path.read_text()[-2000:]}")
                time.sleep(0.1)

    def log(self, i: int) -> str:
        return (self.base / f"sync-{i}.log").read_text(errors="replace")

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in self.logs:
            log.close()
        self.broker.stop()
        drop_database(self.url)


def stored_upto(url: str):
    conn = psycopg2.connect(url)
    conn.autocommit = True
    lock = threading.Lock()

    def upto(node_id: str) -> int:
        with lock, conn.cursor() as cur:
            cur.execute(
                "SELECT COALESCE(MAX(s.up_seq), 0) FROM nodestream s JOIN node n ON n.id = s.node_id "
                "WHERE n.node_id = %s",
                (node_id,),
            )
            return cur.fetchone()[0]

    return upto


def many_edges(edges: int = EDGES, backlog: int = EDGE_BACKLOG, workers: int = 1, timeout: float = 300.0) -> dict:
    """(b): ``edges`` simulated edges with ``backlog`` events each, connecting together."""
    with tempfile.TemporaryDirectory(prefix="rosma-bench-") as tmp:
        central = Central(Path(tmp), edges, workers)
        try:
            central.start_broker()
            central.start_workers()
            upto = stored_upto(central.url)
            sims = [
                SimEdge(n, pw, central.broker.port, str(central.broker.ca_path), backlog, upto)
                for n, pw in central.node_pw.items()
            ]
            t0 = time.monotonic()
            for s in sims:
                s.start()
            pump(sims, t0 + timeout)
            seconds = time.monotonic() - t0
            for s in sims:
                s.stop()
            got = counts(central.url)
        finally:
            central.stop()
    total = edges * backlog
    stored = sum(c[1] for c in got.values())
    rows = sum(c[0] for c in got.values())
    return {
        "edges": edges,
        "events": total,
        "seconds": round(seconds, 2),
        "rate": round(total / seconds),
        "lost": total - stored,
        "doubled": rows - stored,
        "needless": sum(s.needless for s in sims),
        "resends": sum(s.resends for s in sims),
    }


# ---- (a): one real edge ------------------------------------------------------------------------
MAKE_BACKLOG = """
import sys
from edge import config, db
from edge.services import QueueService
from edge.bus import Bus
from protocol.clock import Clock
cfg = config.load(sys.argv[1])
db.connect(cfg.db_path)
service = QueueService(cfg, Bus(), Clock(cfg.clock_start))
for i in range(int(sys.argv[2])):
    service.issue_walkin("UMUM" if i % 2 else "BPJS")
"""


def one_edge(backlog: int = BACKLOG) -> dict:
    from harness import System, wait_for

    with tempfile.TemporaryDirectory(prefix="rosma-bench-") as tmp:
        url = fresh_database()
        system = System(Path(tmp), url, "2026-11-26")
        try:
            system.start()
            system.broker.stop()
            system.stop_process("edge")
            made = subprocess.run(
                [sys.executable, "-c", MAKE_BACKLOG, str(system.edge_cfg), str(backlog)],
                cwd=system.base,
                env=system.env,
                capture_output=True,
                text=True,
            )
            assert made.returncode == 0, made.stderr[-2000:]
            system.start_edge()  # the broker is still down
            t0 = time.monotonic()
            system.broker.start()
            first = []  # when central had stored the first events of the backlog

            def drained() -> bool:
                stored = counts(url).get(system.node_id, (0, 0, 0))[2]
                if stored and not first:
                    first.append((time.monotonic(), stored))
                return stored >= backlog

            wait_for(drained, 600, "the backlog at central", interval=0.05)
            end = time.monotonic()
            seconds = end - t0
            got = counts(url)[system.node_id]
            began, already = first[0]
            ingest = (backlog - already) / max(end - began, 1e-3)  # events/s once they flow
        finally:
            system.stop()
            drop_database(url)
    return {
        "events": backlog,
        "seconds": round(seconds, 2),
        "rate": round(backlog / seconds),
        "ingest": round(ingest),
        "first_s": round(began - t0, 2),
        "stored": got[1],
    }


def run(repeat: int = REPEAT, edges: int = EDGES) -> dict:
    a = [one_edge() for _ in range(repeat)]
    b = [many_edges(edges) for _ in range(repeat)]

    def median(rows, key):
        return statistics.median(r[key] for r in rows)

    return {
        "drain": {k: median(a, k) for k in ("events", "seconds", "rate", "ingest", "first_s", "stored")},
        "many": {k: median(b, k) for k in ("edges", "events", "seconds", "rate", "lost", "doubled", "needless")},
        "runs": {"drain": a, "many": b},
    }


def main() -> None:
    r = run()
    d, m = r["drain"], r["many"]

    def mark(ok: bool) -> str:
        return "" if ok else " MISSING"

    print("| path | measured (median of 3) | goal |")
    print("|---|---|---|")
    print(
        f"| {d['events']:,}-event backlog drained after the broker returns (1 edge) | "
        f"{d['seconds']} s in all ({d['rate']:,} events/s), of which {d['first_s']} s until the first events"
        f" were stored (broker start, reconnect, TLS); ingest {d['ingest']:,} events/s once they flow"
        f" | ≤ {GOALS['drain_s']:g} s, ≥ {GOALS['drain_rate']:,.0f} events/s"
        f"{mark(d['seconds'] <= GOALS['drain_s'] and d['ingest'] >= GOALS['drain_rate'])} |"
    )
    ok = m["lost"] == 0 and m["doubled"] == 0 and m["needless"] == 0 and m["rate"] >= GOALS["many_rate"]
    print(
        f"| {m['edges']} edges reconnecting with backlogs | {m['events']:,} events in {m['seconds']} s, "
        f"{m['rate']:,} events/s, {m['lost']} lost / {m['doubled']} doubled, {m['needless']} needless resends | "
        f"0 / 0, no needless resends, ≥ {GOALS['many_rate']:,.0f} events/s{mark(ok)} |"
    )


if __name__ == "__main__":
    main()
