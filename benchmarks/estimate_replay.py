"""Waiting-time estimates against a recorded day: how far off "perkiraan … menit" is.

Loads ``benchmarks/data/recorded_day.csv`` (five Mondays of one busy puskesmas; the last is
replayed, the four before it are its same-weekday history) into a fresh edge database, then
for every ticket of the replayed day, at the moment it was issued and with only what was known
then (the calls made so far, the queue as it stood), asks ``edge.estimates.queue_estimates``
for that ticket's range and compares it with when the ticket was actually called.

Reports the median absolute error in minutes (the range's midpoint against the actual wait,
tickets with an estimate that were called), the share of actual waits inside the predicted
range, the share of tickets with no estimate, the median width of the ranges, and the time one
``queue_estimates`` call takes. ``run()`` returns them (also per stage: registration and
poli); ``main()`` prints one line.

    python -m benchmarks.estimate_replay
"""

from __future__ import annotations

import csv
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "recorded_day.csv"


def load(path: Path = DATA) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def _store(rows: list[dict]) -> None:
    from edge.models import Ticket, database

    def row(i: int, r: dict) -> dict:
        number = 0 if r["kind"] == "transfer" else int(r["label"][1:])
        return {
            "key": f"t{i:05d}",
            "day": r["day"],
            "queue": r["queue"],
            "number": number,
            "label": r["label"],
            "kind": r["kind"],
            "payer": "BPJS" if r["queue"] == "REG-B" else "UMUM",
            "poli": r["queue"].removeprefix("POLI-") if r["queue"].startswith("POLI-") else None,
            "priority": r["priority"] == "1",
            "state": "done" if r["called_at"] else "cancelled",
            "sort_time": r["sort_time"],
            "issued_at": r["issued_at"],
            "called_at": r["called_at"] or None,
        }

    with database.atomic():
        rows_ = [row(i, r) for i, r in enumerate(rows)]
        for start in range(0, len(rows_), 200):
            Ticket.insert_many(rows_[start : start + 200]).execute()


def _t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def replay(rows: list[dict], day: str) -> dict:
    from edge import estimates

    estimates.clear_cache()
    today = [r for r in rows if r["day"] == day]
    for i, r in enumerate(today):
        r["_order"] = (0 if r["priority"] == "1" else 1, _t(r["sort_time"]), i)
    by_queue: dict[str, list[dict]] = {}
    for r in today:
        by_queue.setdefault(r["queue"], []).append(r)
    results = []  # (stage, actual minutes or None, range or None)
    timings = []
    for r in sorted(today, key=lambda r: r["issued_at"]):
        now = _t(r["issued_at"])
        waiting = [
            x
            for x in by_queue[r["queue"]]
            if _t(x["issued_at"]) <= now and (not x["called_at"] or _t(x["called_at"]) > now)
        ]
        waiting.sort(key=lambda x: x["_order"])
        ahead = next(i for i, x in enumerate(waiting) if x is r)
        t0 = time.perf_counter()
        got = estimates.queue_estimates(
            dt.date.fromisoformat(day), [r["queue"]], {r["queue"]: [x["label"] for x in waiting[: ahead + 1]]}, now
        )
        timings.append(time.perf_counter() - t0)
        rng = got[r["queue"]]["estimates"][ahead] if ahead < estimates.MAX_ENTRIES else None
        actual = (_t(r["called_at"]) - now).total_seconds() / 60 if r["called_at"] else None
        results.append(("registration" if r["queue"].startswith("REG-") else "poli", actual, rng))
    out = _figures(results)
    out["by_stage"] = {s: _figures([x for x in results if x[0] == s]) for s in ("registration", "poli")}
    out["ms_per_call"] = round(statistics.fmean(timings) * 1e3, 2)
    out["day"] = day
    return out


def _figures(results: list[tuple[str, float | None, list[int] | None]]) -> dict:
    known = [(a, r) for _s, a, r in results if r is not None and a is not None]
    errors = [abs((r[0] + r[1]) / 2 - a) for a, r in known]
    inside = [r[0] <= a <= r[1] for a, r in known]
    return {
        "tickets": len(results),
        "median_abs_error_min": round(statistics.median(errors), 1) if errors else None,
        "inside_range": round(sum(inside) / len(inside), 3) if inside else None,
        "no_estimate": round(sum(r is None for _s, _a, r in results) / len(results), 3) if results else None,
        "median_wait_min": round(statistics.median(a for a, _r in known), 1) if known else None,
        "median_range_width_min": statistics.median(r[1] - r[0] for _a, r in known) if known else None,
    }


def run(path: Path = DATA) -> dict:
    """Replay the last day in the recorded file; the figures as a dict."""
    from edge import db as edge_db

    rows = load(path)
    day = max(r["day"] for r in rows)
    with tempfile.TemporaryDirectory() as d:
        edge_db.connect(Path(d) / "edge.db", synchronous="NORMAL")
        try:
            _store(rows)
            return replay(rows, day)
        finally:
            edge_db.database.close()


def line(f: dict) -> str:
    return (
        f"estimate replay {f['day']} ({f['tickets']} tickets): median absolute error "
        f"{f['median_abs_error_min']} min (registration {f['by_stage']['registration']['median_abs_error_min']}, "
        f"poli {f['by_stage']['poli']['median_abs_error_min']}), {f['inside_range']:.0%} of waits inside the range, "
        f"{f['no_estimate']:.0%} without an estimate, ranges {f['median_range_width_min']} min wide (median), "
        f"{f['ms_per_call']} ms per call"
    )


def main() -> None:
    print(line(run()))


if __name__ == "__main__":
    main()
