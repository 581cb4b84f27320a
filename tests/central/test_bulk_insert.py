"""``infra.bulk.insert_rows``: the multi-row INSERT the ingest uses for a batch's visits and
events stores what ``Model.insert_many`` would, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from infra import bulk


def _node():
    from central.models import Node, Puskesmas

    pkm = Puskesmas.select().first()
    return Node.create(node_id="pkm-bulk", puskesmas=pkm), pkm


def _visit(node, pkm, i: int, **extra) -> dict:
    return {
        "node": node,
        "ticket_key": f"t-{i}",
        "puskesmas": pkm.id,
        "label": f"A{i:03d}",
        "queue": "REG-A",
        "payer": "UMUM",
        "day": "2026-11-26",
        "issued_at": "2026-11-26T08:00:00.000+07:00",
        **extra,
    }


def test_rows_are_stored_with_their_fields_defaults_and_conversions(app):
    from central.models import Visit

    node, pkm = _node()
    bulk.insert_rows(Visit, [_visit(node, pkm, 1), _visit(node, pkm, 2, priority=True, priority_class="lansia")])

    rows = {v.ticket_key: v for v in Visit.select().where(Visit.node == node)}
    assert set(rows) == {"t-1", "t-2"}
    assert rows["t-1"].state == "waiting" and rows["t-1"].priority is False and rows["t-1"].token == ""
    assert rows["t-2"].priority is True and rows["t-2"].priority_class == "lansia"
    assert rows["t-1"].day == dt.date(2026, 11, 26) and rows["t-1"].puskesmas_id == pkm.id


def test_conflicting_rows_are_skipped_when_asked(app):
    from central.models import Visit

    node, pkm = _node()
    bulk.insert_rows(Visit, [_visit(node, pkm, 1)])
    bulk.insert_rows(Visit, [_visit(node, pkm, 1, label="X999"), _visit(node, pkm, 2)], ignore_conflicts=True)

    labels = dict(Visit.select(Visit.ticket_key, Visit.label).where(Visit.node == node).tuples())
    assert labels == {"t-1": "A001", "t-2": "A002"}  # the first t-1 kept, t-2 added


def test_more_rows_than_one_statement_may_carry_are_split(app, monkeypatch):
    from central.models import Visit

    node, pkm = _node()
    monkeypatch.setattr(bulk, "MAX_PARAMS", 100)  # a handful of rows per statement
    bulk.insert_rows(Visit, [_visit(node, pkm, i) for i in range(250)])

    assert Visit.select().where(Visit.node == node).count() == 250


def test_nothing_to_insert_is_no_statement(app):
    from central.models import Visit

    bulk.insert_rows(Visit, [])
    assert Visit.select().count() == 0
