"""Central's booking throughput against what its PostgreSQL server does with ``pgbench -N``.

Starts the real ``rosma central run`` on a fresh PostgreSQL database (created and dropped here),
registers patients through the real API (valid NIKs, each from its own address as a proxy in
front of central presents them: ``trusted_proxies`` is 127.0.0.1 and every simulated patient
sends its own X-Forwarded-For), logs them in, and books through ``POST /api/v1/reservations``
with 1, 8 and 32 concurrent clients for ``SECONDS`` each. In the same run, on the same server
and with the same client counts, ``pgbench -N`` (a scratch database at scale 1) gives the
server's TPS. Three repetitions; the table shows medians and their ratio.

Between phases the benchmark resets its own scratch data directly in the database (the
reservations and the booking throttles: a patient may hold 3 upcoming reservations and make 6 a
day), gives every poli a quota no phase can fill, and dates the accounts a week back (new accounts
may hold only half a slot). A phase ends early when its patients have booked everything they may.

    python -m benchmarks.bench_central_tput

``ROSMA_BENCH_SOURCE``: a directory holding another copy of the source tree, run as central
instead of this one (to compare with an earlier commit in the same way).
``ROSMA_BENCH_WEB_PROCESSES``: central's ``web_processes`` (default 1).

Besides the rates, each phase reports the CPU time spent per booking (user + system, from
``/proc/<pid>/stat`` over the phase, divided by the bookings made): by central (all its
processes), by its PostgreSQL backends, and by this benchmark's own client threads. On a
machine with C cores no rate can exceed C x 1000 ms / (the three together).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg2

from infra.toml_writer import toml_key, toml_value
from provisioning.local_broker import free_port

PG_URL = os.environ.get("ROSMA_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SECONDS = float(os.environ.get("ROSMA_BENCH_TPUT_SECONDS", "10"))
PATIENTS = int(os.environ.get("ROSMA_BENCH_TPUT_PATIENTS", "600"))
CLIENTS = (1, 8, 32)
REPEATS = 3
GOAL = 0.30
PUSKESMAS = "ciawi"
PIN = "482913"
WEB_PROCESSES = int(os.environ.get("ROSMA_BENCH_WEB_PROCESSES", "1"))
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pids) -> float:
    """User + system CPU seconds of the processes ``pids`` (all their threads), so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        out += [int(c) for c in task.read_text().split()]
    return out


def backends(url: str) -> list[int]:
    """The PostgreSQL server processes serving the database of ``url``."""
    name = urlparse(url).path.lstrip("/")
    return [pid for (pid,) in _sql(PG_URL, f"SELECT pid FROM pg_stat_activity WHERE datname = '{name}'")]


def _with_db(url: str, name: str) -> str:
    return urlunparse(urlparse(url)._replace(path="/" + name))


def _admin(sql: str) -> None:
    conn = psycopg2.connect(PG_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def _pgbench() -> str:
    found = shutil.which("pgbench")
    if found:
        return found
    for path in sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True):
        return str(path)
    raise RuntimeError("pgbench not found (it comes with the PostgreSQL server packages)")


def _pg_args(url: str) -> list[str]:
    u = urlparse(url)
    args = ["-h", u.hostname or "127.0.0.1", "-p", str(u.port or 5432)]
    if u.username:
        args += ["-U", u.username]
    return [*args, u.path.lstrip("/")]


def pgbench_tps(url: str, clients: int, seconds: float) -> float:
    env = {**os.environ}
    out = subprocess.run(
        [
            _pgbench(),
            "-N",
            "-n",
            "-c",
            str(clients),
            "-j",
            str(min(clients, 2)),
            "-T",
            str(int(seconds)),
            *_pg_args(url),
        ],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    found = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out) or re.search(r"tps = ([0-9.]+)", out)
    if not found:
        raise RuntimeError(out)
    return float(found.group(1))


def _nik(i: int) -> tuple[str, str, str]:
    """A valid NIK (Kabupaten Bogor, 320101) with its birth date and sex: women add 40 to the day."""
    day = 1 + i % 28
    month = 1 + (i // 28) % 12
    year = 1950 + (i // 336) % 50
    serial = 1 + i // 16800
    woman = i % 2 == 1
    nik = f"320101{day + 40 if woman else day:02d}{month:02d}{year % 100:02d}{serial:04d}"
    return nik, f"{year}-{month:02d}-{day:02d}", "P" if woman else "L"


def _address(i: int) -> str:
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


class Central:
    """``rosma central run`` on its own database and port."""

    def __init__(self, base: Path, url: str):
        self.base, self.url, self.port = base, url, free_port()
        cfg = base / "central.toml"
        settings = {
            "database_url": url,
            "secret_key": secrets.token_urlsafe(32),
            "http_port": self.port,
            "stream_port": free_port(),
            "keys_dir": str(base / "keys"),
            "seed": True,
            "trusted_proxies": ["127.0.0.1"],
            "log_level": "WARNING",
        }
        if WEB_PROCESSES != 1:  # (a source tree from before the setting refuses the key)
            settings["web_processes"] = WEB_PROCESSES
        cfg.write_text("".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in settings.items()))
        env = {**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(base / "escpos"), "PYTHONUNBUFFERED": "1"}
        source = os.environ.get("ROSMA_BENCH_SOURCE")
        if source:
            env["PYTHONPATH"] = os.pathsep.join([source, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.log = open(base / "central.log", "ab")  # noqa: SIM115 (open for the process's life)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rosma.cli", "central", "run", "--config", str(cfg)],
            cwd=source or base,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError((base / "central.log").read_text(errors="replace")[-3000:])
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/puskesmas", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def pids(self) -> list[int]:
        """The central process and its web processes."""
        return [self.proc.pid, *children(self.proc.pid)]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class Client:
    """One keep-alive HTTP connection to central."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, body=None, headers=None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        head = {"Content-Type": "application/json", **(headers or {})}
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=data, headers=head)
                resp = self.conn.getresponse()
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw else {})
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        raise AssertionError("unreachable")


def _patients(port: int, db_url: str, n: int) -> list[dict]:
    """Register and log in ``n`` patients through the API (four at a time: PIN hashing is slow)."""

    def one(i: int) -> dict:
        nik, birth, sex = _nik(i)
        client = Client(port)
        who = {"X-Forwarded-For": _address(i)}
        person = {
            "name": f"Pasien Uji {i}",
            "nik": nik,
            "birth_date": birth,
            "sex": sex,
            "address": "Jl. Raya Ciawi No. 1",
            "phone": "081234567890",
            "pin": PIN,
        }
        status, body = client.call("POST", "/api/v1/patients", person, who)
        assert status == 201, (status, body)
        status, body = client.call("POST", "/api/v1/login", {"nik": nik, "birth_date": birth, "pin": PIN}, who)
        assert status == 200, (status, body)
        client.conn.close()
        return {"i": i, "auth": {"Authorization": "Bearer " + body["token"], **who}}

    out: list[dict] = []
    batch = 250  # the site-wide registration ceiling is 300 an hour: the benchmark clears it
    with ThreadPoolExecutor(4) as pool:
        for start in range(0, n, batch):
            _sql(db_url, "DELETE FROM throttlebucket WHERE key LIKE 'register-global%'")
            out += list(pool.map(one, range(start, min(n, start + batch))))
    return out


def _sql(url: str, *statements: str) -> list:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    rows = []
    with conn.cursor() as cur:
        for sql in statements:
            cur.execute(sql)
            if cur.description:
                rows = cur.fetchall()
    conn.close()
    return rows


def _reset(url: str) -> None:
    """Between phases: no reservations, no booking throttles, quotas no phase fills, old accounts."""
    _sql(
        url,
        "DELETE FROM change",
        "DELETE FROM reservation",
        "DELETE FROM throttlebucket WHERE key LIKE 'book-%'",
        "UPDATE poli SET slot_quota = 1000000",
        "UPDATE patient SET created_at = created_at - interval '7 days' WHERE created_at > now() - interval '2 days'",
        "VACUUM ANALYZE reservation",
    )


def _targets(port: int) -> list[list[dict]]:
    """For each of 3 open dates, the (poli, slot) pairs one can book there (at least one each)."""
    client = Client(port)
    status, body = client.call("GET", "/api/v1/puskesmas")
    place = next(p for p in body["puskesmas"] if p["code"] == PUSKESMAS)
    polis = [p["code"] for p in place["polis"]]
    today = dt.date.today()
    dates = []
    for ahead in range(1, 15):
        day = (today + dt.timedelta(days=ahead)).isoformat()
        choices = []
        for poli in polis:
            status, slots = client.call("GET", f"/api/v1/puskesmas/{PUSKESMAS}/slots?poli={poli}&date={day}")
            if status == 200:
                free = [s["slot"] for s in slots["slots"] if s["available"]]
                if free:
                    choices.append({"puskesmas": PUSKESMAS, "poli": poli, "date": day, "slot": free[0]})
        if choices:
            dates.append(choices)
        if len(dates) == 3:
            break
    client.conn.close()
    if len(dates) < 3:
        raise RuntimeError("fewer than 3 open days in the booking window")
    return dates


def book_phase(
    central: Central, db_url: str, patients: list[dict], targets: list[list[dict]], clients: int, seconds: float
) -> dict:
    """Reservations per second with ``clients`` concurrent clients, each with its own patients, and
    the CPU milliseconds per booking of central, of its PostgreSQL backends and of the clients."""
    port = central.port
    jobs = [
        (p, {**targets[k][p["i"] % len(targets[k])], "payer": "UMUM"}) for k in range(len(targets)) for p in patients
    ]
    # each patient books her three days in turn; the clients take patients apart from each other
    per_client = [jobs[c::clients] for c in range(clients)]
    done = [0] * clients
    failures: list[str] = []
    start_gate = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def worker(c: int) -> None:
        client = Client(port)
        start_gate.wait()
        for patient, body in per_client[c]:
            if time.perf_counter() >= stop_at[0]:
                break
            status, answer = client.call("POST", "/api/v1/reservations", body, patient["auth"])
            if status == 201:
                done[c] += 1
            else:
                failures.append(f"{status} {answer.get('error', '')}")
        client.conn.close()

    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    pg_pids = backends(db_url)
    cpu0 = (cpu_s(central.pids()), cpu_s(pg_pids), time.process_time())
    begin = time.perf_counter()
    stop_at[0] = begin + seconds
    start_gate.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - begin
    pg_now = backends(db_url)
    cpu1 = (cpu_s(central.pids()), cpu_s(pg_pids) + cpu_s(set(pg_now) - set(pg_pids)), time.process_time())
    if failures:
        raise RuntimeError(f"{len(failures)} bookings failed, e.g. {failures[:3]}")
    n = max(1, sum(done))
    ms = [(b - a) * 1000 / n for a, b in zip(cpu0, cpu1, strict=True)]
    return {"rate": sum(done) / elapsed, "central_ms": ms[0], "pg_ms": ms[1], "client_ms": ms[2]}


def run(seconds: float = SECONDS, patients: int = PATIENTS, repeats: int = REPEATS) -> dict:
    tag = secrets.token_hex(4)
    app_db, bench_db = f"rosma_bench_tput_{tag}", f"rosma_pgbench_{tag}"
    app_url, bench_url = _with_db(PG_URL, app_db), _with_db(PG_URL, bench_db)
    _admin(f'CREATE DATABASE "{app_db}"')
    _admin(f'CREATE DATABASE "{bench_db}"')
    central = None
    try:
        subprocess.run([_pgbench(), "-i", "-q", "-s", "1", *_pg_args(bench_url)], check=True, capture_output=True)
        with tempfile.TemporaryDirectory(prefix="rosma-tput-") as tmp:
            central = Central(Path(tmp), app_url)
            _reset(app_url)
            targets = _targets(central.port)
            people = _patients(central.port, app_url, patients)
            res: dict[int, list[float]] = {c: [] for c in CLIENTS}
            cpu: dict[int, list[dict]] = {c: [] for c in CLIENTS}
            tps: dict[int, list[float]] = {c: [] for c in CLIENTS}
            for _ in range(repeats):
                for c in CLIENTS:
                    _reset(app_url)
                    phase = book_phase(central, app_url, people, targets, c, seconds)
                    res[c].append(phase["rate"])
                    cpu[c].append(phase)
                    tps[c].append(pgbench_tps(bench_url, c, seconds))
            central.stop()
            central = None
    finally:
        if central is not None:
            central.stop()
        _admin(f'DROP DATABASE IF EXISTS "{app_db}" WITH (FORCE)')
        _admin(f'DROP DATABASE IF EXISTS "{bench_db}" WITH (FORCE)')
    rows = []
    for c in CLIENTS:
        r, t = statistics.median(res[c]), statistics.median(tps[c])
        ms = {k: statistics.median(p[k] for p in cpu[c]) for k in ("central_ms", "pg_ms", "client_ms")}
        rows.append({"clients": c, "reservations_s": r, "tps": t, "ratio": r / t if t else 0.0, "goal": GOAL, **ms})
    return {
        "seconds": seconds,
        "patients": patients,
        "repeats": repeats,
        "web_processes": WEB_PROCESSES,
        "cores": os.cpu_count(),
        "rows": rows,
        "raw": {"res": res, "tps": tps, "cpu": cpu},
    }


def table(result: dict) -> str:
    lines = [
        "| clients | reservations/s | pgbench -N TPS | ratio | goal | CPU ms/booking: central | PostgreSQL |"
        " client | ceiling res/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        mark = "" if row["ratio"] >= row["goal"] else " MISSING"
        spent = row["central_ms"] + row["pg_ms"] + row["client_ms"]
        ceiling = result["cores"] * 1000 / spent if spent else 0.0
        lines.append(
            f"| {row['clients']} | {row['reservations_s']:.1f} | {row['tps']:.0f} | {row['ratio']:.3f} |"
            f" ≥ {row['goal']:.2f}{mark} | {row['central_ms']:.1f} | {row['pg_ms']:.1f} | {row['client_ms']:.1f} |"
            f" {ceiling:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    result = run()
    print(
        f"Central bookings (POST /api/v1/reservations) vs pgbench -N, same server, median of "
        f"{result['repeats']} x {result['seconds']:.0f} s; {result['web_processes']} web process(es), "
        f"{result['cores']} cores"
    )
    print()
    print(table(result))


if __name__ == "__main__":
    main()
