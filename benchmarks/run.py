"""``make bench``: the edge's hot paths, measured in one run so figures compare as ratios.

- ticket issuance at the kiosk (one SQLite transaction with the outbox and print job), with
  synchronous=FULL (what the edge uses) against NORMAL;
- QR pass verification (what the kiosk does per scan), valid and forged;
- central storing a batch of edge events;
- rendering one call announcement from cached clips;
- the waiting-time estimator replaying a recorded day (``benchmarks/estimate_replay.py``);
- a call at the edge reaching patients' phones, and one call to 2,000 phone streams
  (``benchmarks/bench_phone.py``, real processes on PostgreSQL);
- then, when a PostgreSQL server answers (``ROSMA_BENCH_PG_URL``, default the local one), the
  back office at a kabupaten-year (``benchmarks/bench_backoffice.py``: 9 million visits, the
  dashboard's period queries and the exports).
Prints Markdown tables; docs/benchmarks.md records a run.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path


def _timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _row(name: str, samples: list[float], unit_per: str) -> str:
    mean = statistics.fmean(samples)
    p99 = sorted(samples)[int(len(samples) * 0.99) - 1]
    return f"| {name} | {len(samples)} | {1 / mean:,.0f} {unit_per}/s | {mean * 1e3:.2f} ms | {p99 * 1e3:.2f} ms |"


def bench_issuance(tmp: Path, synchronous: str, n: int) -> list[float]:
    from edge import db as edge_db
    from edge.bus import Bus
    from edge.config import from_dict
    from edge.services import QueueService
    from protocol.clock import Clock

    cfg = from_dict(
        {
            "node_id": "pkm-bench",
            "puskesmas_code": "bench",
            "data_dir": str(tmp / synchronous),
            "qr_public_keys": {"56475aa75463474c": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="},
            "polis": [{"code": "UMUM", "name": "Poli Umum", "prefix": "U"}],
        }
    )
    edge_db.connect(cfg.db_path, synchronous=synchronous)
    svc = QueueService(cfg, Bus(), Clock())
    try:
        return _timed(lambda: svc.issue_walkin("UMUM"), n)
    finally:
        edge_db.database.close()


def bench_qr(n: int) -> tuple[list[float], list[float]]:
    import contextlib
    import datetime as dt

    from protocol import qrpass

    key = qrpass.SigningKey.generate()
    p = qrpass.Pass("a1b2c3d4e5f6a7b8", "cibinong", "UMUM", "2026-11-26", "09:00-10:00", "BPJS", 2_000_000_000)
    text = qrpass.sign(p, key)
    forged = text[:100] + ("A" if text[100] != "A" else "B") + text[101:]
    keys = {key.kid: key.public}
    day = dt.date(2026, 11, 26)

    def bad():
        with contextlib.suppress(qrpass.PassError):
            qrpass.verify(forged, keys, "cibinong", day, 0)

    return _timed(lambda: qrpass.verify(text, keys, "cibinong", day, 0), n), _timed(bad, n)


def bench_central_apply(tmp: Path, batches: int, size: int) -> list[float]:
    from central import db as central_db
    from central.ingest import apply_batch
    from central.models import Node, Puskesmas
    from protocol import events, messages

    central_db.connect(f"sqlite:///{tmp / 'central.db'}")
    pkm = Puskesmas.create(code="bench", name="Bench", address="-", kecamatan="-")
    node = Node.create(node_id="pkm-bench", puskesmas=pkm)
    seq = 0

    def one():
        nonlocal seq
        evs = []
        for _ in range(size):
            seq += 1
            e = events.TicketIssued(
                ticket=f"k{seq}",
                day="2026-11-26",
                queue="REG-A",
                label="A001",
                number=1,
                kind="walkin",
                payer="UMUM",
                at="2026-11-26T08:00:00.000+07:00",
                actor=events.KIOSK,
            )
            evs.append(messages.EventRecord(seq, e.NAME, e.at, events.to_data(e), e.VERSION))
        apply_batch(node, messages.EventBatch(tuple(evs), "bench"))

    try:
        return [t / size for t in _timed(one, batches)]
    finally:
        central_db.database.close()


def bench_announce(tmp: Path, n: int) -> list[float]:
    from devices.audio import Announcer, ClipLibrary, open_audio
    from edge.core import speech

    ann = Announcer(ClipLibrary(tmp / "clips"), open_audio("none"))
    phrases = speech.call_phrases("A123", "Loket 2")
    ann.render(phrases)  # renders and caches the clips once
    return _timed(lambda: ann.render(phrases), n)


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        os.environ.setdefault("ESCPOS_CAPABILITIES_PICKLE_DIR", str(tmp / "escpos"))
        full = bench_issuance(tmp, "FULL", 300)
        normal = bench_issuance(tmp, "NORMAL", 300)
        ok, forged = bench_qr(2000)
        apply = bench_central_apply(tmp, 50, 50)
        announce = bench_announce(tmp, 50)
    print("| operation | samples | throughput | mean | p99 |")
    print("|---|---|---|---|---|")
    print(_row("edge: issue a walk-in ticket (synchronous=FULL)", full, "tickets"))
    print(_row("edge: issue a walk-in ticket (synchronous=NORMAL)", normal, "tickets"))
    print(_row("edge: verify a valid QR pass", ok, "passes"))
    print(_row("edge: reject a forged QR pass", forged, "passes"))
    print(_row("central: store one edge event (batches of 50)", apply, "events"))
    print(_row("edge: render one call announcement (cached clips)", announce, "calls"))
    print()
    print(f"FULL / NORMAL mean issuance time: {statistics.fmean(full) / statistics.fmean(normal):.2f}x")
    from benchmarks import estimate_replay

    print("\nWaiting-time estimates, a recorded day replayed (python -m benchmarks.estimate_replay):\n", flush=True)
    estimate_replay.main()
    from benchmarks import bench_edge_flat

    print("\nThe edge with 10 and 1,000 waiting tickets (python -m benchmarks.bench_edge_flat):\n", flush=True)
    bench_edge_flat.main()
    bench_phone_if_postgres()
    bench_real_processes_if_postgres()
    bench_backoffice_if_postgres()


def bench_real_processes_if_postgres() -> None:
    """Sync drains, the edge's latencies and central's throughput: real processes on PostgreSQL."""
    import importlib

    import psycopg2

    from benchmarks import bench_phone

    try:
        psycopg2.connect(bench_phone.PG_URL, connect_timeout=5).close()
    except psycopg2.OperationalError:
        print("\n(sync, edge latency and central throughput not measured: no PostgreSQL)")
        return
    for name, title in (
        ("bench_sync_drain", "Backlogs drained after the broker returns"),
        ("bench_edge_latency", "The edge's call, print and voice paths"),
        ("bench_central_tput", "Central's reservations against pgbench on the same server"),
    ):
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"\n{title} (python -m benchmarks.{name}):\n", flush=True)
        module.main()


def bench_phone_if_postgres() -> None:
    """The live phone page: call -> phone latency and one call to 2,000 phone streams (real processes)."""
    import psycopg2

    from benchmarks import bench_phone

    try:
        psycopg2.connect(bench_phone.PG_URL, connect_timeout=5).close()
    except psycopg2.OperationalError:
        print("\n(phone streams not measured: no PostgreSQL; set ROSMA_BENCH_PG_URL)")
        return
    print("\nThe queue on patients' phones, real processes (python -m benchmarks.bench_phone):\n", flush=True)
    bench_phone.main()


def bench_backoffice_if_postgres() -> None:
    import psycopg2

    from benchmarks import bench_backoffice

    admin = os.environ.get("ROSMA_BENCH_PG_URL", bench_backoffice.PG_DEFAULT)
    try:
        psycopg2.connect(admin, connect_timeout=5).close()
    except psycopg2.OperationalError:
        print("\n(back office at a kabupaten-year not measured: no PostgreSQL; set ROSMA_BENCH_PG_URL)")
        return
    print("\nBack office, a kabupaten-year on PostgreSQL (python -m benchmarks.bench_backoffice):\n", flush=True)
    bench_backoffice.main([])


if __name__ == "__main__":
    main()
