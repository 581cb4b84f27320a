"""The demo's history: plausible puskesmas days, made of typed events applied by central's ingest,
so the visits are exactly what the events say; the newest days first; a second run adds nothing,
and a run killed in the middle of a day and started again makes the same history as one never
stopped."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

from central import history, kpi
from central.app import build
from central.history import PATIENT_FEEDBACK, give_patient_a_visit, history_days, history_node_id, seed_history
from central.models import EdgeEvent, Feedback, Holiday, Node, NodeStream, Patient, Reservation, Visit

TODAY = dt.date(2026, 11, 24)  # a Tuesday: the four days before are Friday, Saturday, Sunday, Monday
FRIDAY, SATURDAY, SUNDAY, MONDAY = (dt.date(2026, 11, d) for d in (20, 21, 22, 23))


def _t(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def _counts() -> tuple[int, ...]:
    return tuple(m.select().count() for m in (Visit, EdgeEvent, Reservation, Feedback, Patient, Node))


def test_open_days_skip_sundays_and_closed_days():
    days = history_days(TODAY, 8, closed={SATURDAY})
    assert days == [dt.date(2026, 11, d) for d in (16, 17, 18, 19, 20, 23)]
    assert all(d.isoweekday() != 7 for d in days)


def test_a_puskesmas_history_is_plausible_and_made_of_its_events(app, client, ani, ani_data, web_login):
    Holiday.create(date=SATURDAY, name="Libur contoh", kind="lokal")  # a closed day takes no visits
    made = []
    added = seed_history(days=4, today=TODAY, codes=["cisarua"], progress=lambda day, _n: made.append(day), pause=0)
    assert made == [MONDAY, SATURDAY, FRIDAY]  # the newest day first: the dashboard's last days fill first
    node = Node.get(Node.node_id == history_node_id("cisarua"))
    assert node.retired  # not a live node: no change feed is kept for it
    visits = list(Visit.select().where(Visit.node == node))
    assert added == len(visits) > 0
    assert {v.puskesmas.code for v in visits} == {"cisarua"}

    # open days only: Friday and Monday (Saturday closed, Sunday never)
    assert {v.day for v in visits} == {FRIDAY, MONDAY}
    # patients a day: each walk-in's loket ticket and each reservation's check-in
    patients = Counter(v.day for v in visits if v.kind in ("walkin", "reservation"))
    assert all(120 <= n <= 300 for n in patients.values()), patients
    assert patients[FRIDAY] < patients[MONDAY]  # the short Friday

    # every visit's times are in order, within the day, and waits and services are plausible
    for v in visits:
        issued, called, serving, done = _t(v.issued_at), _t(v.called_at), _t(v.serving_at), _t(v.done_at)
        assert issued.date() == v.day and dt.time(7, 0) <= issued.time() <= dt.time(15, 0)
        assert v.state in ("done", "no_show", "transferred", "cancelled"), v.state
        if v.state == "cancelled":
            assert called is None and done > issued
            continue
        assert called is not None
        assert 120 <= (called - issued).total_seconds() <= 40 * 60, v.label
        assert serving is None or called < serving
        assert done > (serving or called)
        if v.queue.startswith("POLI-") and v.state == "done":
            assert 3 * 60 <= (done - (serving or called)).total_seconds() <= 15 * 60 + 90

    loket = [v for v in visits if v.queue in ("REG-A", "REG-B")]
    poli = [v for v in visits if v.queue.startswith("POLI-")]
    # payer: about 70% BPJS, the queue matches the payer
    assert all((v.queue == "REG-B") == (v.payer == "BPJS") for v in loket)
    assert 0.55 <= sum(v.payer == "BPJS" for v in poli) / len(poli) <= 0.85
    # the morning peak
    rush = sum(dt.time(7, 30) <= _t(v.issued_at).time() <= dt.time(9, 30) for v in loket)
    assert rush / len(loket) > 0.5
    # a few no-shows (about 5% of the tickets called)
    no_shows = sum(v.state == "no_show" for v in visits)
    assert 0.02 <= no_shows / sum(v.called_at is not None for v in visits) <= 0.08
    # counters and staff as an edge records them
    assert {v.counter for v in loket if v.called_at} <= {"loket-1", "loket-2"}
    assert {v.called_by for v in loket if v.called_at} <= {"loket.cisarua", "loket2.cisarua"}
    assert {v.counter for v in poli if v.called_at} == {f"poli-{v.poli}" for v in poli if v.called_at}

    # a registered walk-in continues at a poli with the same number
    by_key = {v.ticket_key: v for v in visits}
    transfers = [v for v in poli if v.kind == "transfer"]
    assert transfers
    for v in transfers:
        parent = by_key[v.parent]
        assert parent.state == "transferred" and parent.label == v.label and parent.done_at == v.issued_at
    # ticket numbers are never reused within a day and queue
    for queue_day, labels in _labels(visits).items():
        assert len(labels) == len(set(labels)), queue_day

    # reservations: checked in ones are the reservation visits; the rest were cancelled or never came
    booked = list(Reservation.select().where(Reservation.puskesmas == node.puskesmas))
    reserved = [v for v in poli if v.kind == "reservation"]
    came = [r for r in booked if r.status in ("checked_in", "done")]
    assert reserved and len(came) == len(reserved)
    assert {r.rid for r in came} == {v.rid for v in reserved}
    status = {r.rid: r.status for r in booked}
    assert all(status[v.rid] == ("done" if v.state == "done" else "checked_in") for v in reserved)
    assert all(r.checked_in_at is not None and r.date in (FRIDAY, MONDAY) for r in came)
    assert any(r.status == "cancelled" for r in booked) and any(r.status == "active" for r in booked)
    assert all(v.slot and v.slot == next(r.slot for r in came if r.rid == v.rid) for v in reserved)

    # the visits are what the stored events say, all applied in seq order
    rows = list(EdgeEvent.select().where(EdgeEvent.node == node).order_by(EdgeEvent.seq))
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    days_in_order = [r.at[:10] for r in rows]
    assert days_in_order == sorted(days_in_order, reverse=True)  # a day's events together, Monday's first
    assert NodeStream.get(NodeStream.node == node).up_seq == len(rows)
    assert {r.status for r in rows} == {"applied"}
    assert sum(r.type == "reservation.checked_in" for r in rows) == len(reserved)
    first, last = {}, {}
    for r in rows:
        first.setdefault(r.ticket, r)
        if r.type in ("ticket.done", "ticket.no_show", "ticket.transferred", "ticket.cancelled"):
            last[r.ticket] = r
    for v in visits:
        assert first[v.ticket_key].type == "ticket.issued" and first[v.ticket_key].at == v.issued_at
        assert json.loads(first[v.ticket_key].data)["label"] == v.label
        assert last[v.ticket_key].at == v.done_at
        # the KPIs' seconds, kept at ingest, are those of the events' times
        assert kpi.timings(v) == {"wait_s": v.wait_s, "slot_wait_s": v.slot_wait_s, "service_s": v.service_s}

    # kritik & saran: ratings 1-5, some answered
    feedback = list(Feedback.select().where(Feedback.puskesmas == node.puskesmas))
    assert len(feedback) >= 5 and all(1 <= f.rating <= 5 and f.text for f in feedback)
    answered = [f for f in feedback if f.answer]
    assert answered and all(f.answered_at >= f.created_at for f in answered)
    assert any(not f.answer for f in feedback)

    # a second run adds nothing
    before = _counts()
    assert seed_history(days=4, today=TODAY, codes=["cisarua"], pause=0) == 0
    assert _counts() == before

    # the demo patient is given one of the served visits and sees her kritik & saran answered
    assert give_patient_a_visit(ani.nik, "cisarua")
    assert not give_patient_a_visit(ani.nik, "cisarua")  # once
    mine = list(Reservation.select().where(Reservation.patient == ani))
    assert len(mine) == 1 and mine[0].status == "done"
    web_login(client, ani_data)
    page = client.get("/riwayat").text
    assert PATIENT_FEEDBACK[1] in page and PATIENT_FEEDBACK[2] in page


def _labels(visits) -> dict:
    out: dict = {}
    for v in visits:
        if v.kind != "transfer":
            out.setdefault((v.day, v.queue), []).append(v.label)
    return out


# A history run in its own process: "reference" makes it whole on a fresh database and prints
# what it made; "stop" makes it on an existing one and, inside the transaction of its third
# batch, says so and waits to be killed.
RUN = """
import datetime as dt, json, sys
sys.path.insert(0, sys.argv[4])
from central import history
mode, url, base = sys.argv[1:4]
today = dt.date.fromisoformat(sys.argv[5])
if mode == "reference":
    from central.app import build
    from central.config import from_dict
    fields = {"database_url": url, "secret_key": "s" * 40, "seed": True, "notify_uri": "log://"}
    build(from_dict({**fields, "keys_dir": base + "/keys"}))
    history.seed_history(days=4, today=today, codes=["cisarua"], pause=0)
    from test_history import made
    print(json.dumps(made("cisarua")))
else:
    from central import db
    db.connect(url)
    applied, real = [], history.apply_batch
    def apply_batch(node, batch):
        out = real(node, batch)
        applied.append(batch)
        if len(applied) == 3:
            print("in the third batch", flush=True)
            sys.stdin.read()
        return out
    history.apply_batch = apply_batch
    history.seed_history(days=4, today=today, codes=["cisarua"], pause=0)
"""


def _run(mode: str, url: str, base: Path) -> subprocess.Popen:
    args = [sys.executable, "-c", RUN, mode, url, str(base), str(Path(__file__).parent), TODAY.isoformat()]
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _text(value) -> str | None:
    return None if value is None else str(value)


def made(code: str) -> dict:
    """What a puskesmas's history consists of, in a form two databases can be compared by."""
    node = Node.get(Node.node_id == history_node_id(code))
    return {
        "events": [
            [e.seq, e.type, e.at, e.ticket, e.status, json.loads(e.data)]
            for e in EdgeEvent.select().where(EdgeEvent.node == node).order_by(EdgeEvent.seq)
        ],
        "up_seq": NodeStream.get(NodeStream.node == node).up_seq,
        "visits": sorted(
            [v.ticket_key, v.day.isoformat(), v.state, v.label, v.queue, v.called_at, v.done_at, v.wait_s, v.service_s]
            for v in Visit.select().where(Visit.node == node)
        ),
        "reservations": sorted(
            [r.rid, r.date.isoformat(), r.slot, r.status, _text(r.checked_in_at), _text(r.cancelled_at), r.ticket_label]
            for r in Reservation.select().where(Reservation.puskesmas == node.puskesmas)
        ),
        "feedback": sorted(
            [f.rating, f.text, _text(f.created_at), f.answer]
            for f in Feedback.select().where(Feedback.puskesmas == node.puskesmas)
        ),
    }


def test_a_history_killed_in_the_middle_of_a_day_and_started_again_is_the_whole_history(app, db_config, tmp_path):
    reference = _run("reference", f"sqlite:///{tmp_path}/fresh.db", tmp_path)
    with _run("stop", db_config.database_url, tmp_path) as stopped:
        try:
            assert stopped.stdout.readline() == "in the third batch\n"
        finally:
            os.kill(stopped.pid, signal.SIGKILL)  # kill -9, with the third batch's transaction open
    node = Node.get(Node.node_id == history_node_id("cisarua"))
    # what it left: Monday (the newest day) cut after its second batch, nothing of the other days
    assert NodeStream.get(NodeStream.node == node).up_seq == EdgeEvent.select().count() == 400
    visits = list(Visit.select().where(Visit.node == node))
    assert {v.day for v in visits} == {MONDAY}
    assert any(v.state in ("waiting", "called", "serving") for v in visits)  # patients left mid-way

    added = seed_history(days=4, today=TODAY, codes=["cisarua"], pause=0)  # the demo started again

    with reference:
        out, _ = reference.communicate(timeout=120)
    assert reference.returncode == 0
    whole = json.loads(out)
    assert json.loads(json.dumps(made("cisarua"))) == whole  # the same events, seqs, visits, reservations
    assert added == len(whole["visits"]) - len(visits)
    assert {v[1] for v in whole["visits"]} == {d.isoformat() for d in (FRIDAY, SATURDAY, MONDAY)}
    assert {v[2] for v in whole["visits"]} <= {"done", "no_show", "transferred", "cancelled"}  # no day left partial
    assert seed_history(days=4, today=TODAY, codes=["cisarua"], pause=0) == 0


def test_a_commit_elsewhere_as_the_history_starts_does_not_stop_it(central_config, monkeypatch):
    """The demo starts its history while central and the edge already write (SQLite)."""
    build(central_config)
    path = central_config.database_url.removeprefix("sqlite:///")
    prepare = history._Place.prepare.__func__

    def prepare_after_a_commit(cls, *args):
        other = sqlite3.connect(path)  # a staff sign-in, say, commits just then
        with other:
            other.execute("UPDATE puskesmas SET address = address || '.' WHERE code = 'cibinong'")
        other.close()
        return prepare(cls, *args)

    monkeypatch.setattr(history._Place, "prepare", classmethod(prepare_after_a_commit))
    assert seed_history(days=2, today=TODAY, codes=["cisarua", "ciawi"], pause=0) > 0
