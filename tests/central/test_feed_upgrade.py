"""The upgrade path of the change feed: nodes provisioned before the back office existed get their
puskesmas's details, poli and coming closed days once, at central's start-up (on both databases)."""

from __future__ import annotations

import datetime as dt
import json

from central import feed
from central.models import Change, Holiday, Node, Poli, Puskesmas
from central.runtime import CentralRuntime


def feed_of(node: Node) -> list[tuple[str, dict]]:
    return [(c.type, json.loads(c.data)) for c in Change.select().where(Change.node == node).order_by(Change.seq)]


def test_an_old_node_gets_site_poli_and_coming_holidays_once(app, db_config):
    cib = Puskesmas.get(code="cibinong")
    old = Node.create(node_id="pkm-cibinong", puskesmas=cib)  # provisioned by the release before
    new = Node.create(node_id="pkm-ciawi", puskesmas=Puskesmas.get(code="ciawi"))
    feed._append_site(new)  # provisioned by this release: backfill_node sent it already
    retired = Node.create(node_id="pkm-cibinong-old", puskesmas=cib, retired=True)
    today = dt.date.today()
    Holiday.create(date=today + dt.timedelta(days=5), name="Libur daerah Cibinong", kind="lokal", puskesmas=cib)
    Holiday.create(date=today - dt.timedelta(days=30), name="Sudah lewat", kind="lokal", puskesmas=cib)
    new_before = feed_of(new)

    CentralRuntime(db_config)  # central starts: the upgrade step runs

    got = feed_of(old)
    assert got[0] == (
        "site.upsert",
        {
            "name": cib.name,
            "address": cib.address,
            "phone": cib.phone,
            "hours": cib.hours,
            "lokets": cib.lokets,
            "running_text": "",
        },
    )
    polis = [d for t, d in got if t == "poli.upsert"]
    expected = Poli.select().where(Poli.puskesmas == cib).order_by(Poli.order, Poli.code)
    assert [p["code"] for p in polis] == [p.code for p in expected] and polis
    assert all(set(p) == {"code", "name", "prefix", "active", "order"} for p in polis)
    holidays = {d["name"]: d for t, d in got if t == "holiday.upsert"}
    assert holidays["Libur daerah Cibinong"] == {
        "date": (today + dt.timedelta(days=5)).isoformat(),
        "name": "Libur daerah Cibinong",
        "closed": True,
    }
    assert "Sudah lewat" not in holidays
    assert all(d["date"] >= (today - dt.timedelta(days=1)).isoformat() for d in holidays.values())
    assert [c.seq for c in Change.select().where(Change.node == old).order_by(Change.seq)] == list(
        range(1, len(got) + 1)
    )
    assert feed_of(new) == new_before  # already had them
    assert feed_of(retired) == []

    # a second start (or a second process starting) adds nothing
    assert feed.backfill_back_office() == 0
    CentralRuntime(db_config)
    assert feed_of(old) == got


def test_no_nodes_no_changes(app):
    assert feed.backfill_back_office() == 0
    assert Change.select().count() == 0
