"""The demo's back-office history as someone trying the demo meets it.

Starts a fresh demo (``rosma demo`` on a new directory), signs in to the back office as the
demo's admin kabupaten about once a second while the history is being made, and reads the
dashboard's default period each time; prints when the dashboard first shows visits, how many
it shows at 30 s, when the demo says the history is ready, and how long the sign-ins took.
With ``--kill-after S`` the whole demo is killed (SIGKILL to its process group) S seconds in
and started again on the same directory, and the second start is measured the same way.

    .venv/bin/python benchmarks/bench_demo_history.py [--kill-after 75]

It uses the demo's ports (8080, 8081, 18830, 19100): run it with no demo running.
docs/benchmarks.md records a run.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.parse
import urllib.request
from pathlib import Path

CENTRAL = "http://127.0.0.1:8080"
LIMIT = 900  # seconds: a history not ready by then is a failure to look into, not a figure


class Demo:
    """One ``rosma demo`` process group and the lines it prints."""

    def __init__(self, base: Path) -> None:
        self.lines: list[str] = []
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rosma.cli", "demo", "--dir", str(base)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def said(self, text: str) -> str | None:
        return next((line for line in self.lines if text in line), None)

    def stop(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
        self.proc.wait(30)


def sign_in(username: str, password: str) -> tuple[urllib.request.OpenerDirector, float]:
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    start = time.monotonic()
    page = opener.open(CENTRAL + "/petugas/masuk", timeout=60).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"csrf_token": token, "username": username, "password": password}).encode()
    opener.open(CENTRAL + "/petugas/masuk", data=form, timeout=60).read()
    return opener, time.monotonic() - start


def dashboard_visits(opener: urllib.request.OpenerDirector) -> int:
    html = opener.open(CENTRAL + "/petugas/dasbor/", timeout=60).read().decode()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    found = re.search(r"Periode ini ([\d.]+) Kunjungan", text)
    return int(found.group(1).replace(".", "")) if found else 0


def measure(base: Path, kill_after: float | None) -> bool:
    """One start of the demo; returns whether it was killed before its history was ready."""
    demo = Demo(base)
    try:
        while demo.said("Demo accounts") is None:  # the addresses and accounts are printed once all is up
            if demo.proc.poll() is not None:
                sys.exit("the demo exited:\n" + "\n".join(demo.lines))
            time.sleep(0.2)
        password = tomllib.loads((base / "demo-accounts.toml").read_text())["admin.dinkes"]
        took, seen = [], []
        while demo.said("history ready") is None and demo.said("could not be made") is None:
            now = time.monotonic() - demo.started
            if now > LIMIT:
                sys.exit(f"no history after {LIMIT} s:\n" + "\n".join(demo.lines))
            if kill_after is not None and now >= kill_after:
                demo.stop(signal.SIGKILL)
                print(f"killed (SIGKILL) at {now:.0f} s; the dashboard showed {seen[-1][1] if seen else 0:,} kunjungan")
                _report(took, seen)
                return True
            opener, seconds = sign_in("admin.dinkes", password)
            took.append(seconds)
            seen.append((time.monotonic() - demo.started, dashboard_visits(opener)))
            time.sleep(1)
        print(demo.said("history ready") or demo.said("could not be made"))
        _report(took, seen)
        return False
    finally:
        demo.stop(signal.SIGTERM)


def _report(took: list[float], seen: list[tuple[float, int]]) -> None:
    first = next(((t, n) for t, n in seen if n), None)
    by30 = max((n for t, n in seen if t <= 30), default=0)
    if first:
        print(f"dashboard (last 30 days) first showed visits at {first[0]:.0f} s ({first[1]:,} kunjungan)")
    print(f"dashboard at 30 s: {by30:,} kunjungan")
    if took:
        ranked = sorted(took)
        p95 = ranked[min(len(ranked) - 1, int(len(ranked) * 0.95))]
        print(
            f"staff sign-ins meanwhile: {len(took)}, median {statistics.median(took):.2f} s, "
            f"p95 {p95:.2f} s, worst {ranked[-1]:.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kill-after", type=float, help="kill the demo this many seconds in, then start it again")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        base = Path(tmp) / "demo"
        if measure(base, args.kill_after):
            print("started again on the same directory:")
            measure(base, None)


if __name__ == "__main__":
    main()
