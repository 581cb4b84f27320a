"""The phone's live-queue view, built from the edge's snapshot."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from central import db as central_db
from central.models import Node, Puskesmas
from central.queue_view import live_queue

DAY = dt.date(2026, 11, 26)
BOARD = {
    "day": "2026-11-26",
    "counters": {"Loket 1": "A003", "Poli Umum": "U001"},
    "queues": {
        "REG-A": {"name": "Pendaftaran Umum", "waiting": ["A004", "A005"]},
        "POLI-UMUM": {"name": "Poli Umum", "waiting": ["U002", "U003", "U004"]},
    },
}


@pytest.fixture
def place(tmp_path):
    central_db.connect(f"sqlite:///{tmp_path / 'c.db'}")
    pkm = Puskesmas.create(code="cibinong", name="Puskesmas Cibinong", address="-", kecamatan="-")
    Node.create(
        node_id="pkm-cibinong", puskesmas=pkm, online=True, snapshot=json.dumps({"at": "2026-11-26", "queues": [BOARD]})
    )
    yield pkm
    central_db.database.close()


@pytest.mark.parametrize(
    "number, mine",
    [
        pytest.param("u003", {"queue": "Poli Umum", "ahead": 1}, id="waiting-lowercase"),
        pytest.param("A004", {"queue": "Pendaftaran Umum", "ahead": 0}, id="next"),
        pytest.param("U001", {"called_to": "Poli Umum"}, id="being-called"),
        pytest.param("B999", None, id="unknown-number"),
    ],
)
def test_place_in_queue(place, number, mine):
    view = live_queue(place, DAY, number)
    assert view["available"] and view["mine"] == mine
    assert view["called"] == [
        {"destination": "Loket 1", "label": "A003"},
        {"destination": "Poli Umum", "label": "U001"},
    ]


def test_yesterdays_snapshot_is_not_shown(place):
    assert live_queue(place, DAY + dt.timedelta(days=1))["available"] is False


@pytest.mark.parametrize(
    "rng, words",
    [
        ([10, 20], "perkiraan 10–20 menit"),
        ([0, 5], "perkiraan kurang dari 5 menit"),
        ([0, 15], "perkiraan kurang dari 15 menit"),
        ([120, 180], "perkiraan lebih dari 2 jam"),
        (None, ""),
        ([], ""),
    ],
)
def test_estimates_in_words(rng, words):
    from central.queue_view import estimate_words

    assert estimate_words(rng) == words
