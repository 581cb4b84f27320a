"""The booking path under load: statements per booking, the PostgreSQL connection pool (reuse,
recovery after the server ends a connection) and the change feed's seq under concurrent bookings."""

from __future__ import annotations

import datetime as dt
import threading
import time

import psycopg2
import pytest

from central.app import build
from central.config import from_dict
from central.models import Change, Node, Patient, Poli, Puskesmas, database, utcnow
from tests.central.conftest import SECRET, _truncate

BOOKING_STATEMENTS = 15  # at most, BEGIN and COMMIT included (it was 27 with the throttles' reads)


def _book(client, headers, day, poli="UMUM"):
    body = {"puskesmas": "ciawi", "poli": poli, "date": day.isoformat(), "slot": "08:00-09:00", "payer": "UMUM"}
    return client.post("/api/v1/reservations", json=body, headers=headers)


class _Counting:
    """Every statement sent through the database's cursors (BEGIN, COMMIT and savepoints too)."""

    def __init__(self, db):
        self.db, self.sql, self._cursor = db, [], db.cursor

    def __enter__(self):
        outer = self

        def cursor(*args, **kwargs):
            real = outer._cursor(*args, **kwargs)

            class Cursor:
                def execute(self, sql, params=()):
                    outer.sql.append(sql)
                    return real.execute(sql, params)

                def __getattr__(self, name):
                    return getattr(real, name)

                def __iter__(self):
                    return iter(real)

            return Cursor()

        self.db.cursor = cursor
        return self

    def __exit__(self, *exc):
        del self.db.cursor


def test_one_booking_takes_few_statements(client, ani, ani_data, budi, budi_data, auth_header, visit_date):
    Node.create(node_id="edge-ciawi", puskesmas=Puskesmas.get(code="ciawi"))
    first = auth_header(client, ani_data)
    assert _book(client, first, visit_date).status_code == 201  # the QR key is made at the first booking
    headers = auth_header(client, budi_data)
    client.get("/api/v1/me", headers=headers)  # the token's last use is recorded once
    with _Counting(database.obj) as counted:
        response = _book(client, headers, visit_date)
    assert response.status_code == 201, response.json
    assert len(counted.sql) <= BOOKING_STATEMENTS, "\n".join(counted.sql)
    assert [c.seq for c in Change.select().order_by(Change.seq)] == [1, 2]


@pytest.fixture
def pg_app(pg_url, tmp_path, clock_start):
    """The app on PostgreSQL only (what is tested is its connection pool)."""
    _truncate(pg_url)
    config = {"database_url": pg_url, "secret_key": SECRET, "seed": True, "keys_dir": str(tmp_path / "keys")}
    application = build(from_dict({**config, "notify_uri": "log://", "clock_start": clock_start}))
    yield application
    application.extensions["rosma.db"].close_all()


def _pooled_pids(db) -> list[int]:
    """The server processes behind the connections waiting in the pool."""
    return [conn.info.backend_pid for _ts, _n, conn in db._connections]


def _patients(n: int) -> list[Patient]:
    """Accounts made directly (their PIN is never used here), a week old (not "new")."""
    week_ago = utcnow() - dt.timedelta(days=7)
    rows = []
    for i in range(n):
        nik = f"320101{(i % 28) + 1:02d}0190{i:04d}"
        rows.append(
            Patient.create(
                nik=nik,
                name=f"Pasien {i}",
                birth_date=dt.date(1990, 1, (i % 28) + 1),
                sex="L",
                address="Ciawi",
                phone="0812",
                created_at=week_ago,
            )
        )
    return rows


def test_a_second_request_reuses_the_pooled_connection(pg_app, ani_data, auth_header, visit_date):
    client = pg_app.test_client()
    db = database.obj
    db.close()
    assert client.post("/api/v1/patients", json=ani_data).status_code == 201
    pids = _pooled_pids(db)
    assert len(pids) == 1
    headers = auth_header(client, ani_data)
    assert _book(client, headers, visit_date).status_code == 201
    assert db.is_closed() and _pooled_pids(db) == pids  # the same server process served them all


def test_a_connection_the_server_ended_is_replaced_without_an_error(pg_app, pg_url, ani_data, auth_header, visit_date):
    client = pg_app.test_client()
    db = database.obj
    db.close()
    assert client.post("/api/v1/patients", json=ani_data).status_code == 201
    headers = auth_header(client, ani_data)
    [pid] = _pooled_pids(db)
    admin = psycopg2.connect(pg_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(500):  # until the server process is gone (it ends soon after the signal)
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
            if cur.fetchone()[0] == 0:
                break
            time.sleep(0.01)
    admin.close()
    response = _book(client, headers, visit_date)
    assert response.status_code == 201, response.json
    assert client.get("/api/v1/reservations", headers=headers).status_code == 200
    assert pid not in _pooled_pids(db)


def test_concurrent_bookings_keep_the_feed_contiguous(pg_app, visit_date):
    from central import services

    place = Puskesmas.get(code="ciawi")
    node = Node.create(node_id="edge-ciawi", puskesmas=place)
    polis = list(Poli.select().where((Poli.puskesmas == place) & Poli.active))
    Poli.update(slot_quota=1000).where(Poli.puskesmas == place).execute()
    threads_n, each = 8, 20
    patients = _patients(threads_n * each)
    database.close()
    errors: list[BaseException] = []

    def book(t: int) -> None:
        try:
            for i in range(each):
                n = t * each + i
                poli = polis[n % len(polis)]
                services.reserve(
                    patients[n], "ciawi", poli.code, visit_date, "08:00-09:00", "UMUM", client=f"10.1.{t}.{i}"
                )
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            database.close()

    workers = [threading.Thread(target=book, args=(t,)) for t in range(threads_n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors
    seqs = [c.seq for c in Change.select(Change.seq).where(Change.node == node).order_by(Change.seq)]
    assert seqs == list(range(1, threads_n * each + 1))
