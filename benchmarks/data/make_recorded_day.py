"""Makes ``recorded_day.csv``: the tickets of five Mondays at one busy puskesmas, simulated.

The last Monday is the day the waiting-time benchmark replays (``benchmarks.estimate_replay``);
the four before it are its same-weekday history. A day, as simulated:

- walk-ins (about 190, varying by day) arrive between 07.00 and 11.30, most of them between
  07.30 and 09.30 (a peak around 08.20); about 70 % are BPJS (``REG-B``), the rest Umum
  (``REG-A``); about 8 % are priority patients (lansia, disabilitas, ibu hamil);
- two loket call from both registration queues together from 07.30 (priority first, then by
  arrival), registration taking lognormal time (median 1.8 min);
- each registered patient goes on to one of four poli (``POLI-UMUM`` with three doctors,
  ``POLI-KIA`` with two midwives, ``POLI-GIGI`` and ``POLI-LANSIA`` with one each; lognormal
  medians 5, 7, 9 and 5 minutes); about 38 reservations check in straight to their poli and
  sort by their slot;
  the poli call from 08.00;
- nobody is called between 12.00 and 13.00 (the midday break; a patient being served then is
  finished); about 3 % do not answer their poli call and about 1 % leave before being called.

    python benchmarks/data/make_recorded_day.py  # rewrites recorded_day.csv next to this file

The output depends only on ``SEED``.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import random
from pathlib import Path

SEED = 20261123
DAYS = [dt.date(2026, 11, 23) - dt.timedelta(weeks=w) for w in range(4, -1, -1)]  # history first
WIB = dt.timezone(dt.timedelta(hours=7))
BREAK = (dt.time(12, 0), dt.time(13, 0))
POLIS = {  # code: (share of walk-ins, doctors, median minutes, reservations a day)
    "UMUM": (0.57, 3, 5.0, 16),
    "KIA": (0.15, 2, 7.0, 10),
    "GIGI": (0.08, 1, 9.0, 6),
    "LANSIA": (0.20, 1, 5.0, 6),
}
PREFIX = {"UMUM": "U", "KIA": "K", "GIGI": "G", "LANSIA": "L"}
HEADER = [
    "Tickets of five Mondays at one busy puskesmas: a realistic simulation, not real patients",
    "(made by benchmarks/data/make_recorded_day.py; see its docstring for the assumptions).",
    "The last day is the one replayed; the four before it are its same-weekday history.",
    "Times are ISO 8601 in WIB; called_at is empty for a ticket never called.",
]


class Ticket:
    def __init__(self, queue: str, kind: str, issued: dt.datetime, sort: dt.datetime, priority: bool, label: str):
        self.queue, self.kind, self.issued, self.sort, self.priority = queue, kind, issued, sort, priority
        self.label = label
        self.number = 0
        self.called: dt.datetime | None = None
        self.finished: dt.datetime | None = None
        self.leaves_at: dt.datetime | None = None  # leaves before being called if not called by then
        self.no_show = False


def _at(day: dt.date, hh: int, mm: float) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hh), WIB) + dt.timedelta(minutes=mm)


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0, sigma))


def _out_of_break(t: dt.datetime) -> dt.datetime:
    b0 = dt.datetime.combine(t.date(), BREAK[0], WIB)
    b1 = dt.datetime.combine(t.date(), BREAK[1], WIB)
    return b1 if b0 <= t < b1 else t


def serve(tickets: list[Ticket], servers: int, opens: dt.datetime, duration, rng: random.Random) -> None:
    """Calls ``tickets`` with ``servers`` counters from ``opens``: priority, sort time, number."""
    free = [opens] * servers
    todo = sorted(tickets, key=lambda t: t.issued)
    while todo:
        i = min(range(servers), key=lambda s: free[s])
        t = _out_of_break(free[i])
        present = [x for x in todo if x.issued <= t]
        if not present:
            free[i] = _out_of_break(max(t, todo[0].issued))
            continue
        nxt = min(present, key=lambda x: (0 if x.priority else 1, x.sort, x.number))
        todo.remove(nxt)
        if nxt.leaves_at is not None and nxt.leaves_at < t:
            continue  # gone before being called: never called
        nxt.called = t + dt.timedelta(seconds=rng.uniform(5, 40))
        nxt.no_show = nxt.kind != "walkin" and rng.random() < 0.03
        minutes = rng.uniform(1.0, 2.0) if nxt.no_show else duration(nxt)
        nxt.finished = nxt.called + dt.timedelta(minutes=minutes)
        free[i] = nxt.finished


def simulate(day: dt.date, rng: random.Random) -> list[Ticket]:
    walkins = int(rng.gauss(190, 15))
    reg: list[Ticket] = []
    numbers = {"REG-A": 0, "REG-B": 0}
    arrivals = []
    for _ in range(walkins):
        if rng.random() < 0.75:
            m = rng.gauss(80, 35)  # minutes after 07.00: a peak at 08.20
            while not 20 <= m <= 150:  # mostly 07.20-09.30
                m = rng.gauss(80, 35)
        else:
            m = rng.uniform(0, 270)  # 07.00-11.30
        arrivals.append(_at(day, 7, m))
    for at in sorted(arrivals):
        queue = "REG-B" if rng.random() < 0.7 else "REG-A"
        numbers[queue] += 1
        label = ("B" if queue == "REG-B" else "A") + f"{numbers[queue]:03d}"
        t = Ticket(queue, "walkin", at, at, rng.random() < 0.08, label)
        t.number = numbers[queue]
        if rng.random() < 0.01:
            t.leaves_at = at + dt.timedelta(minutes=rng.uniform(10, 40))
        reg.append(t)
    serve(reg, 2, _at(day, 7, 30), lambda t: _lognormal(rng, 1.8, 0.45), rng)

    out = list(reg)
    codes = list(POLIS)
    shares = [POLIS[c][0] for c in codes]
    by_poli: dict[str, list[Ticket]] = {c: [] for c in codes}
    for t in reg:
        if t.called is None:
            continue
        code = rng.choices(codes, shares)[0]
        by_poli[code].append(Ticket(f"POLI-{code}", "transfer", t.finished, t.finished, t.priority, t.label))
    for code, (_share, _doctors, _median, reservations) in POLIS.items():
        for n in range(1, int(rng.gauss(reservations, 2)) + 1):
            slot = _at(day, rng.choice((8, 9, 10)), 0)
            arrived = slot + dt.timedelta(minutes=rng.gauss(-12, 12))
            sort = slot if arrived <= slot + dt.timedelta(minutes=15) else arrived
            t = Ticket(f"POLI-{code}", "reservation", arrived, sort, rng.random() < 0.05, f"{PREFIX[code]}{n:03d}")
            t.number = n
            by_poli[code].append(t)
    for code, tickets in by_poli.items():
        _share, doctors, median, _r = POLIS[code]
        serve(tickets, doctors, _at(day, 8, 0), lambda t, m=median: _lognormal(rng, m, 0.5), rng)
        out += tickets
    return out


def _iso(t: dt.datetime | None) -> str:
    return t.isoformat(timespec="milliseconds") if t else ""


def main() -> None:
    rng = random.Random(SEED)
    path = Path(__file__).with_name("recorded_day.csv")
    with path.open("w", newline="", encoding="utf-8") as f:
        for line in HEADER:
            f.write(f"# {line}\n")
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["day", "queue", "label", "kind", "priority", "sort_time", "issued_at", "called_at"])
        for day in DAYS:
            tickets = simulate(day, rng)
            for t in sorted(tickets, key=lambda t: (t.issued, t.queue, t.label)):
                row = [day.isoformat(), t.queue, t.label, t.kind, int(t.priority), _iso(t.sort), _iso(t.issued)]
                w.writerow([*row, _iso(t.called)])
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
