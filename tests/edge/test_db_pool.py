"""The edge's SQLite connections: a few, shared by the web and worker threads, each as durable as
before (WAL, synchronous=FULL) with a small page cache."""

from __future__ import annotations

import threading

import pytest

from edge import db as edge_db
from edge.app import WEB_THREADS, Runtime, create_app
from edge.config import from_dict
from edge.models import database
from edge.workers import Worker


@pytest.fixture
def runtime(tmp_path):
    cfg = from_dict(
        {
            "node_id": "pkm-test",
            "puskesmas_code": "cibinong",
            "qr_public_keys": {"56475aa75463474c": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="},
            "polis": [{"code": "UMUM", "name": "Poli Umum", "prefix": "U"}],
            "data_dir": str(tmp_path),
        }
    )
    rt = Runtime(cfg)  # not started: no workers, no sync
    yield rt
    rt.stop.set()
    rt.db.close_all()


def test_many_requests_on_many_threads_open_at_most_the_pool(runtime):
    app = create_app(runtime.config, runtime)
    threads = WEB_THREADS + 8  # more threads than waitress has, all asking at once
    start = threading.Barrier(threads)
    failures = []

    def tab():
        client = app.test_client()
        start.wait()
        for _ in range(10):
            for path in ("/api/board", "/api/status", "/kiosk"):
                r = client.get(path)
                if r.status_code != 200:
                    failures.append((path, r.status_code))

    workers = [threading.Thread(target=tab) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert failures == []
    assert runtime.db.opened <= edge_db.POOL_SIZE
    assert runtime.db.open_connections() <= edge_db.POOL_SIZE
    assert runtime.db._in_use == {}  # every request gave its connection back


def test_every_pooled_connection_is_durable_and_has_a_small_cache(runtime):
    conns = []
    hold = threading.Barrier(4)

    def look():
        conn = runtime.db.connection()
        conns.append(
            (
                conn.execute("PRAGMA journal_mode").fetchone()[0],
                conn.execute("PRAGMA synchronous").fetchone()[0],
                conn.execute("PRAGMA cache_size").fetchone()[0],
            )
        )
        hold.wait()  # four threads at once: four connections
        runtime.db.release()

    ts = [threading.Thread(target=look) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert conns == [("wal", 2, edge_db.PRAGMAS["cache_size"])] * 4  # 2: FULL
    assert -edge_db.PRAGMAS["cache_size"] * edge_db.POOL_SIZE <= 8 * 1024  # KiB: at most 8 MB of page cache


def test_a_worker_gives_its_connection_back_between_jobs(runtime):
    seen = []

    class Probe(Worker):
        name_ = "probe"

        def loop(self):
            database.execute_sql("SELECT 1")
            seen.append(database.is_closed())
            self.beat()
            seen.append(database.is_closed())
            self.stop.set()

    w = Probe(threading.Event())
    w.start()
    w.join(5)
    assert seen == [False, True]


def test_a_connection_in_a_transaction_is_not_given_back(runtime):
    with database.atomic():
        database.execute_sql("SELECT 1")
        runtime.db.release()
        assert not database.is_closed()
    runtime.db.release()
    assert database.is_closed()


def test_malloc_arenas_are_capped_on_glibc():
    import platform

    from edge.memory import limit_malloc_arenas

    assert limit_malloc_arenas() is (platform.libc_ver()[0] == "glibc")


def test_malloc_mmap_threshold_is_fixed_on_glibc():
    import platform

    from edge import memory

    glibc = platform.libc_ver()[0] == "glibc"
    assert memory.fix_mmap_threshold() is glibc
    assert memory.tune_malloc() is glibc
    memory.trim()  # never raises, whatever it gives back
