"""The edge's queue operations on a full day, and the path from the kiosk to the printer.

In-process ``QueueService`` on a real SQLite file with synchronous=FULL (what a node uses):

- walk-in, call_next, board() (right after a change, and again with nothing changed) and a
  reservation QR check-in, with 10 and with 1,000 tickets waiting in the day (p50/p99 and the
  1000/10 ratios: the goal is a flat queue, at most 2x, judged on the p50s, which a shared
  machine disturbs less than the p99s);
- a QR scan (check-in) and a kiosk walk-in to the last byte of the ticket written by the
  printer worker (``PrinterWorker`` on a ``file://`` printer), p99 with 1,000 waiting;
- the physical references measured in the same run: one write+fsync of a small file on the
  same disk (median of 100), and the ticket's length on a 9600-baud serial line (8N1, 960
  bytes/s) and on USB 1.1 full speed (12 Mbit/s raw).

Three repetitions; each figure is the median of the three. ``main()`` prints a Markdown table
with the goal and MISSING where a goal is not met.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

SIZES = (10, 1000)
SAMPLES = 60
REPEATS = 3
GOAL_FLAT = 2.0
GOAL_PRINT_MS = 50.0
SERIAL_BYTES_PER_S = 9600 / 10  # 8N1: ten bits a byte
USB_BYTES_PER_S = 12e6 / 8  # USB 1.1 full speed, what receipt printers speak: 12 Mbit/s raw


def _p(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def fsync_ms(directory: Path, n: int = 100) -> float:
    """Median time of writing 200 bytes and fsyncing the file, on the database's disk."""
    path = directory / "fsync-probe"
    out = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            os.write(fd, b"x" * 200)
            os.fsync(fd)
            out.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(out) * 1e3


class _Day:
    """A node's service on a fresh database holding ``waiting`` tickets waiting today."""

    def __init__(self, tmp: Path, waiting: int):
        import datetime as dt

        from edge import db as edge_db
        from edge.bus import Bus
        from edge.config import from_dict
        from edge.services import QueueService
        from protocol import qrpass
        from protocol.clock import Clock

        self.key = qrpass.SigningKey.generate()
        self.dir = tmp / f"day-{waiting}"
        cfg = from_dict(
            {
                "node_id": "pkm-bench",
                "puskesmas_code": "bench",
                "data_dir": str(self.dir),
                "polis": [
                    {"code": "UMUM", "name": "Poli Umum", "prefix": "U"},
                    {"code": "GIGI", "name": "Poli Gigi", "prefix": "G"},
                ],
                "qr_public_keys": {self.key.kid: self.key.public_b64()},
                "central_public_url": "https://rosma.example.id",  # tickets print their live page's QR
            }
        )
        edge_db.connect(cfg.db_path, synchronous="FULL")
        self.db = edge_db.database
        self.bus = Bus()
        self.svc = QueueService(cfg, self.bus, Clock())
        self.rids = 0
        svc = self.svc
        # a few calls already made today, so the estimates have a pace to work with
        for i in range(6):
            svc.issue_walkin("UMUM" if i % 2 else "BPJS")
            svc.call_next("loket-1")
        # the waiting day, written in one transaction (no print jobs)
        from edge.core import queue as q
        from protocol import events

        queues = [
            (q.REG_UMUM, "A", None),
            (q.REG_BPJS, "B", None),
            ("POLI-UMUM", "U", "UMUM"),
            ("POLI-GIGI", "G", "GIGI"),
        ]
        with svc.unit():
            for i in range(waiting):
                queue, prefix, poli = queues[i % len(queues)]
                svc._issue(
                    queue,
                    "walkin" if poli is None else "reservation",
                    "UMUM",
                    events.KIOSK,
                    prefix=prefix,
                    poli=poli,
                    priority=i % 10 == 0,
                    print_it=False,
                )
        self.today = svc.clock.now().date().isoformat()
        hour = svc.clock.now().hour
        self.slot = f"{hour:02d}:00-{(hour + 1) % 24:02d}:00"
        self.exp = int((svc.clock.now() + dt.timedelta(hours=12)).timestamp())

    def qr(self) -> str:
        from protocol import qrpass

        self.rids += 1
        p = qrpass.Pass(f"r{self.rids:015d}", "bench", "UMUM", self.today, self.slot, "BPJS", self.exp)
        return qrpass.sign(p, self.key)

    def close(self) -> None:
        self.db.close()


def _operations(day: _Day, n: int) -> dict[str, list[float]]:
    svc = day.svc
    out: dict[str, list[float]] = {"walk-in": [], "call_next": [], "board() after a change": [], "board() again": []}
    out["check-in (QR)"] = []
    for i in range(n):
        t0 = time.perf_counter()
        svc.issue_walkin("UMUM" if i % 2 else "BPJS")
        t1 = time.perf_counter()
        svc.board()
        t2 = time.perf_counter()
        svc.board()
        t3 = time.perf_counter()
        svc.call_next("loket-1")
        t4 = time.perf_counter()
        svc.check_in(day.qr())
        t5 = time.perf_counter()
        svc.call_next("poli-UMUM")  # the day keeps its size
        out["walk-in"].append(t1 - t0)
        out["board() after a change"].append(t2 - t1)
        out["board() again"].append(t3 - t2)
        out["call_next"].append(t4 - t3)
        out["check-in (QR)"].append(t5 - t4)
    return out


def _to_printer(day: _Day, n: int) -> tuple[dict[str, list[float]], int]:
    """Scan -> last byte and walk-in -> last byte, with a PrinterWorker writing to a file."""
    from edge.notices import TicketPrinted
    from edge.workers import DeviceStatus, PrinterWorker

    stop = threading.Event()
    worker = PrinterWorker(stop, day.svc, DeviceStatus(day.bus), f"file://{day.dir / 'printer.bin'}", "TM-T20II")
    written: dict[str, float] = {}
    sizes: list[int] = []
    original = worker.printer.print_ticket

    def print_ticket(layout):
        before = os.path.getsize(worker.printer.path) if os.path.exists(worker.printer.path) else 0
        original(layout)
        written[layout.number] = time.perf_counter()
        sizes.append(os.path.getsize(worker.printer.path) - before)

    worker.printer.print_ticket = print_ticket
    printed = day.bus.subscribe(TicketPrinted)
    worker.start()
    out: dict[str, list[float]] = {"scan → last byte": [], "walk-in → last byte": []}
    try:
        for i in range(-1, n):  # the first round warms the printer's imports and renderer up
            for name, op in (("scan → last byte", lambda: day.svc.check_in(day.qr())), ("walk-in → last byte", None)):
                t0 = time.perf_counter()
                t = op() if op else day.svc.issue_walkin("UMUM" if i % 2 else "BPJS")
                while True:  # the worker says so once the job is marked printed
                    got = printed.get(timeout=30)
                    if got is None:
                        raise RuntimeError("the printer worker printed nothing in 30 s")
                    if got.message.label == t.label:
                        break
                if i >= 0:
                    out[name].append(written[t.label] - t0)
            day.svc.call_next("poli-UMUM")
            day.svc.call_next("loket-1")
    finally:
        stop.set()
        worker.join(timeout=10)
        printed.close()
    return out, int(statistics.median(sizes))


def run(samples: int = SAMPLES, repeats: int = REPEATS) -> dict:
    """Median over ``repeats`` of each figure (seconds), the fsync and the serial line time (ms)."""
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="rosma-bench-", dir=os.environ.get("ROSMA_BENCH_DIR")) as tmp:
        tmp = Path(tmp)
        for r in range(repeats):
            one: dict = {"fsync_ms": fsync_ms(tmp)}
            for size in SIZES:
                day = _Day(tmp / f"run{r}", size)
                try:
                    ops = _operations(day, samples)
                    printer, ticket_bytes = _to_printer(day, max(10, samples // 2))
                finally:
                    day.close()
                for name, s in {**ops, **printer}.items():
                    one[(name, size, "p50")] = _p(s, 0.5)
                    one[(name, size, "p99")] = _p(s, 0.99)
                one["ticket_bytes"] = ticket_bytes
            runs.append(one)
    keys = runs[0].keys()
    return {k: statistics.median(r[k] for r in runs) for k in keys}


def table(res: dict) -> str:
    lo, hi = SIZES
    names = ["walk-in", "call_next", "board() after a change", "board() again", "check-in (QR)"]
    lines = [
        f"| operation | p50 {lo} | p99 {lo} | p50 {hi} | p99 {hi} | p50 {hi}/{lo} | p99 {hi}/{lo} | goal |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        ratio = res[(name, hi, "p50")] / res[(name, lo, "p50")]
        ratio99 = res[(name, hi, "p99")] / res[(name, lo, "p99")]
        goal = f"≤ {GOAL_FLAT:.0f}× (p50)" + ("" if ratio <= GOAL_FLAT else " MISSING")
        lines.append(
            f"| {name} | {res[(name, lo, 'p50')] * 1e3:.2f} ms | {res[(name, lo, 'p99')] * 1e3:.2f} ms "
            f"| {res[(name, hi, 'p50')] * 1e3:.2f} ms | {res[(name, hi, 'p99')] * 1e3:.2f} ms "
            f"| {ratio:.2f}× | {ratio99:.2f}× | {goal} |"
        )
    for name in ("scan → last byte", "walk-in → last byte"):
        p99 = res[(name, hi, "p99")] * 1e3
        goal = f"≤ {GOAL_PRINT_MS:.0f} ms" + ("" if p99 <= GOAL_PRINT_MS else " MISSING")
        lines.append(
            f"| {name} | {res[(name, lo, 'p50')] * 1e3:.2f} ms | {res[(name, lo, 'p99')] * 1e3:.2f} ms "
            f"| {res[(name, hi, 'p50')] * 1e3:.2f} ms | {p99:.2f} ms | – | – | {goal} (p99, {hi} waiting) |"
        )
    serial_ms = res["ticket_bytes"] / SERIAL_BYTES_PER_S * 1e3
    usb_ms = res["ticket_bytes"] / USB_BYTES_PER_S * 1e3
    lines += [
        "",
        f"Physical reference, same run: write+fsync of 200 bytes on the database's disk, median of 100: "
        f"{res['fsync_ms']:.2f} ms; the ticket's {res['ticket_bytes']:.0f} bytes on a 9600-baud serial line "
        f"(8N1, 960 bytes/s): {serial_ms:.0f} ms; on USB 1.1 full speed (12 Mbit/s raw): {usb_ms:.1f} ms.",
    ]
    return "\n".join(lines)


def main() -> None:
    print(table(run()))


if __name__ == "__main__":
    main()
