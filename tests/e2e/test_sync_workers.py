"""Two ``rosma central sync`` processes on one shared subscription and one PostgreSQL take in
three edges' backlogs: every event once, in each node's order, although a node's batches reach
both workers at once, and are resent and duplicated while they race."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from harness import wait_for

# benchmarks/ is not an installed package: load the module from its file
_spec = importlib.util.spec_from_file_location(
    "bench_sync_drain", Path(__file__).resolve().parents[2] / "benchmarks" / "bench_sync_drain.py"
)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)
Central, SimEdge, counts, pump, stored_upto = bench.Central, bench.SimEdge, bench.counts, bench.pump, bench.stored_upto

pytestmark = pytest.mark.e2e

BACKLOG = 700


def test_two_sync_workers_share_three_edges_backlogs_with_nothing_lost_or_doubled(tmp_path):
    central = Central(tmp_path, nodes=3, workers=2)
    try:
        central.start_broker()
        central.start_workers()
        upto = stored_upto(central.url)
        edges = [
            SimEdge(n, pw, central.broker.port, str(central.broker.ca_path), BACKLOG, upto)
            for n, pw in central.node_pw.items()
        ]
        for e in edges[:2]:
            e.fixed_timeout = 0.0  # resend what is in flight on every step: duplicates racing each other
        for e in edges:
            e.start()
        wait_for(lambda: all(e.t.connected for e in edges), 30, "the edges connected")
        pump(edges, until=float("inf"))
        assert all(e.acked == BACKLOG for e in edges)
        assert sum(e.resends for e in edges[:2]) > 0  # the duplicates were sent
        for e in edges:
            e.stop()
        got = counts(central.url)
        assert sorted(got) == sorted(central.node_pw)
        for node_id, (rows, distinct, up_seq) in got.items():
            assert (rows, distinct, up_seq) == (BACKLOG, BACKLOG, BACKLOG), node_id  # 0 lost, 0 doubled
        for i in range(2):  # both workers applied batches, of every node
            stored = re.findall(r"node (pkm-bench-\d+): events \d+\.\.\d+ received", central.log(i))
            assert stored, f"worker {i} applied nothing:\n{central.log(i)[-2000:]}"
        assert "Traceback" not in central.log(0) + central.log(1)
    finally:
        central.stop()
