"""The queue following the patient: a call at the edge reaching patients' phones.

Drives the real processes (as ``tests/e2e`` does: a private Mosquitto over TLS, ``rosma central
run`` with its phone streams, ``rosma central sync`` on PostgreSQL, a provisioned ``rosma edge
run``) and measures, on this machine, in one run:

- **latency**: from staff pressing "Panggil berikutnya" (the edge's HTTP API) to a phone's stream
  delivering the board with that number under "sedang dipanggil" (edge -> broker -> central's sync
  -> database -> phone streams -> phone), ``CALLS`` calls, p50 / p95 / max;
- **fan-out**: ``PHONES`` phone streams open on one puskesmas at once; one call; when the first
  and the last phone had it (their spread is the fan-out time), and central's memory (the web
  process, which serves the streams) before and with the phones connected.

The phones are one asyncio client in this process (raw sockets, reading each stream's events),
so on a 2-core machine they share the CPU with the servers; the figures include that.

    python -m benchmarks.bench_phone         (or: make bench)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

PHONES = int(os.environ.get("ROSMA_BENCH_PHONES", "2000"))
CALLS = int(os.environ.get("ROSMA_BENCH_CALLS", "20"))
PG_URL = os.environ.get("ROSMA_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Phone:
    """One phone's stream on a raw asyncio connection: the boards as they arrive."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, code: str) -> Phone:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /arus/{code} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.decode(errors="replace"))
        return cls(reader, writer)

    async def board(self) -> dict:
        while True:
            raw = await self.reader.readuntil(b"\n\n")
            data = [ln[5:].strip() for ln in raw.split(b"\n") if ln.startswith(b"data:")]
            if data:
                return json.loads(b"".join(data))

    async def until_called(self, label: str, room: str) -> float:
        """perf_counter time at which a board with ``label`` being called to ``room`` arrived (the
        raw event is searched, not parsed: 2,000 phones in one client process must stay cheap)."""
        mark = json.dumps({"destination": room, "label": label}, separators=(",", ":"))[1:-1].encode()
        while True:
            raw = await self.reader.readuntil(b"\n\n")
            if b'"called":[' in raw and mark in raw.split(b'"called":[', 1)[1].split(b"]", 1)[0]:
                return time.perf_counter()

    def close(self) -> None:
        self.writer.close()


def _raise_open_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, PHONES * 2 + 256))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _system(base: Path):
    import psycopg2

    from tests.e2e.harness import System

    name = f"rosma_bench_phone_{os.getpid()}"
    admin = psycopg2.connect(PG_URL)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    day = dt.date.today()
    while day.weekday() == 6:  # a Sunday is closed
        day += dt.timedelta(days=1)
    return System(base, url, day.isoformat()), name


def _drop(name: str) -> None:
    import psycopg2

    admin = psycopg2.connect(PG_URL)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


async def _post(staff, url: str, **kw):
    loop = asyncio.get_running_loop()
    r = await loop.run_in_executor(None, lambda: staff.post(url, timeout=10, **kw))
    if r.status_code not in (200, 201):
        raise RuntimeError(f"{url}: {r.status_code} {r.text[:200]}")
    return r.json()


async def _latency(system, staff, n: int) -> list[float]:
    """``n`` calls (each walk-in called at the loket, then sent to Poli Umum and called there: the
    kiosk takes 12 tickets a minute) while one phone watches; seconds from each call to the phone."""
    edge = system.edge_url
    phone = await Phone.open(system.stream_port, "cibinong")
    await phone.board()
    tickets = [await _post(staff, edge + "/api/kiosk/walkin", json={"payer": "UMUM"}) for _ in range((n + 1) // 2)]
    out = []
    try:
        for _ticket in tickets:
            for counter, room in (("loket-1", "Loket 1"), ("poli-UMUM", "Poli Umum")):
                if len(out) == n:
                    break
                t0 = time.perf_counter()
                called = await _post(staff, f"{edge}/api/counters/{counter}/next")
                arrived = await asyncio.wait_for(phone.until_called(called["label"], room), 30)
                out.append(arrived - t0)
                if counter == "loket-1":
                    await _post(staff, f"{edge}/api/tickets/{called['ticket']}/transfer", json={"poli": "UMUM"})
                else:
                    await _post(staff, f"{edge}/api/tickets/{called['ticket']}/finish")
    finally:
        phone.close()
    return out


async def _fan_out(system, staff, phones: int) -> dict:
    central_pid = system.procs["central"].pid
    await _post(staff, system.edge_url + "/api/kiosk/walkin", json={"payer": "UMUM"})  # before the phones come
    rss_before = _rss_mb(central_pid)
    t_open = time.perf_counter()
    opened: list[Phone] = []
    for start in range(0, phones, 200):  # in waves, as a morning's phones would come
        opened += await asyncio.gather(
            *(Phone.open(system.stream_port, "cibinong") for _ in range(min(200, phones - start)))
        )
    await asyncio.gather(*(p.board() for p in opened))
    open_s = time.perf_counter() - t_open
    rss_with = _rss_mb(central_pid)
    t0 = time.perf_counter()
    called = await _post(staff, system.edge_url + "/api/counters/loket-1/next")
    arrivals = await asyncio.wait_for(
        asyncio.gather(*(p.until_called(called["label"], "Loket 1") for p in opened)), 120
    )
    for p in opened:
        p.close()
    first, last = min(arrivals), max(arrivals)
    return {
        "phones": phones,
        "open_s": open_s,
        "first_ms": (first - t0) * 1e3,
        "last_ms": (last - t0) * 1e3,
        "fanout_ms": (last - first) * 1e3,
        "rss_before_mb": rss_before,
        "rss_with_mb": rss_with,
        "per_stream_kb": (rss_with - rss_before) * 1024 / phones,
    }


def _signed_in(system):
    """The admin's session at the edge, once the accounts have come down the change feed."""
    import requests

    from tests.e2e.harness import STAFF_PASSWORD, wait_for

    def attempt():
        s = requests.Session()
        body = {"username": "admin.pkm", "password": STAFF_PASSWORD}
        r = s.post(system.edge_url + "/api/staff/login", json=body, timeout=10)
        if r.status_code != 200:
            return None
        s.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return s

    return wait_for(attempt, 60, "the staff accounts at the edge")


def run(phones: int = PHONES, calls: int = CALLS) -> dict:
    _raise_open_files()
    with tempfile.TemporaryDirectory(prefix="rosma-bench-phone-") as tmp:
        system, dbname = _system(Path(tmp))
        try:
            system.start()
            staff = _signed_in(system)  # the admin may use the loket and every poli
            latency = asyncio.run(_latency(system, staff, calls))
            fan = asyncio.run(_fan_out(system, staff, phones))
        finally:
            system.stop()
            _drop(dbname)
    ordered = sorted(latency)
    return {
        "calls": len(latency),
        "p50_ms": statistics.median(latency) * 1e3,
        "p95_ms": ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1e3,
        "max_ms": ordered[-1] * 1e3,
        **fan,
        "load": os.getloadavg()[0],
    }


def main() -> None:
    r = run()
    print("| phone: call at the edge -> phone stream | figure |")
    print("|---|---|")
    figures = f"{r['p50_ms']:.0f} / {r['p95_ms']:.0f} / {r['max_ms']:.0f} ms"
    print(f"| latency over {r['calls']} calls, p50 / p95 / max | {figures} |")
    print(f"| {r['phones']} phone streams opened (and first board read) | {r['open_s']:.1f} s |")
    print(f"| one call to {r['phones']} phones: first / last phone | {r['first_ms']:.0f} / {r['last_ms']:.0f} ms |")
    print(f"| fan-out (last minus first phone) | {r['fanout_ms']:.0f} ms |")
    print(
        f"| central web process RSS, no phones / {r['phones']} phones | "
        f"{r['rss_before_mb']:.0f} / {r['rss_with_mb']:.0f} MB ({r['per_stream_kb']:.1f} KB per stream) |"
    )
    print(f"\n(load average at the end: {r['load']:.2f})")


if __name__ == "__main__":
    main()
