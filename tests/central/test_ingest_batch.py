"""A batch is applied in one transaction with a handful of statements besides its events' own,
and exactly once whatever the network does to it: resent, reordered, duplicated, cut in pieces."""

from __future__ import annotations

import random

import pytest

from central.ingest import apply_batch
from central.models import EdgeEvent, NodeStream, Visit, database
from protocol.messages import EventRecord
from tests.central.test_ingest import batch, called, issued, node  # noqa: F401 - the node fixture

# what one batch may cost besides its events' handlers: lock the node, its history, the kept
# tickets, the visits it names, one savepoint, the stored events, the history's and node's
# progress, the KPI stamps
PER_BATCH = 11


class Statements:
    """Counts the SQL statements the database runs (BEGIN / COMMIT / SAVEPOINT included)."""

    def __init__(self, monkeypatch):
        self.sql: list[str] = []
        db = database.obj
        run = db.execute_sql

        def counted(sql, params=None, *args, **kwargs):
            self.sql.append(sql)
            return run(sql, params, *args, **kwargs)

        monkeypatch.setattr(db, "execute_sql", counted)

    def __len__(self):
        return len(self.sql)


def walkins(first: int, n: int) -> list[EventRecord]:
    return [issued(seq, f"k{seq}", f"A{seq:03d}") for seq in range(first, first + n)]


def test_a_batch_of_walk_ins_costs_a_fixed_handful_of_statements(node, monkeypatch):  # noqa: F811
    apply_batch(node, batch(*walkins(1, 1)))  # the node's history exists
    count = Statements(monkeypatch)
    assert apply_batch(node, batch(*walkins(2, 100))) == 101
    assert len(count) <= PER_BATCH, "\n".join(s[:70] for s in count.sql)
    assert Visit.select().count() == 101 and EdgeEvent.select().count() == 101


def test_calls_cost_their_update_and_not_a_lookup_each(node, monkeypatch):  # noqa: F811
    apply_batch(node, batch(*walkins(1, 50)))
    count = Statements(monkeypatch)
    assert apply_batch(node, batch(*[called(50 + i, f"k{i}") for i in range(1, 51)])) == 100
    # one UPDATE per call and push's two questions (nobody subscribed): no per-event read, savepoint or INSERT
    assert len(count) <= PER_BATCH + 3 * 50, "\n".join(s[:70] for s in count.sql)
    assert Visit.select().where(Visit.state == "called").count() == 50


def test_one_refused_event_is_rejected_alone_and_the_batch_still_applies(node):  # noqa: F811
    bad = issued(2, "k2", "A002")
    bad = EventRecord(2, bad.type, bad.at, {**bad.data, "label": "X" * 500})  # longer than its column
    assert apply_batch(node, batch(issued(1, "k1", "A001"), bad, issued(3, "k3", "A003"), called(4, "k3"))) == 4
    assert [e.status for e in EdgeEvent.select().order_by(EdgeEvent.seq)][1:] == ["rejected", "applied", "applied"]
    assert sorted(v.label for v in Visit.select()) == ["A001", "A003"]
    assert Visit.get(Visit.ticket_key == "k3").state == "called"


@pytest.mark.parametrize("seed", range(4))
def test_batches_resent_reordered_and_duplicated_apply_every_event_once(node, seed):  # noqa: F811
    records = []
    for i in range(1, 31):
        records.append(issued(len(records) + 1, f"t{i}", f"A{i:03d}"))
        records.append(called(len(records) + 1, f"t{i}"))
    rnd = random.Random(seed)
    pieces = []
    for _ in range(40):  # overlapping slices of the history, some twice, in any order
        a = rnd.randrange(len(records))
        pieces.append(records[a : a + rnd.randint(1, 12)])
    rnd.shuffle(pieces)
    acked = 0
    for piece in pieces:
        acked = max(acked, apply_batch(node, batch(*piece)))
    while acked < len(records):  # the edge resends from the ack on
        acked = apply_batch(node, batch(*records[acked : acked + 10]))
    assert EdgeEvent.select().count() == len(records)
    assert sorted(e.seq for e in EdgeEvent.select()) == list(range(1, len(records) + 1))
    assert Visit.select().count() == 30
    assert {v.state for v in Visit.select()} == {"called"}
    assert NodeStream.get().up_seq == len(records)
