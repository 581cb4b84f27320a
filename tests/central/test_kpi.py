"""The back office's figures from one fixed day of typed events with known timings: every KPI
table, the visit's stored seconds, filters, the kabupaten comparison, today live and the quality
targets, on SQLite and on PostgreSQL (which must give the very same numbers)."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest

from central import db as central_db
from central import kpi
from central.ingest import apply_batch
from central.migrations import m0004_back_office
from central.models import AuditLog, Node, Patient, Poli, Puskesmas, Reservation, Staff, Visit
from protocol import events
from protocol.events import (
    Actor,
    ReservationCheckedIn,
    TicketCalled,
    TicketCancelled,
    TicketDone,
    TicketIssued,
    TicketNoShow,
    TicketServing,
    TicketTransferred,
)
from protocol.messages import EventBatch, EventRecord

DAY = "2026-11-26"
DATE = dt.date(2026, 11, 26)


def at(day: str, hms: str) -> str:
    return f"{day}T{hms}+07:00"


class Stream:
    """One edge's outbox: events numbered in order, sent as one batch."""

    def __init__(self):
        self.records: list[EventRecord] = []

    def add(self, event: events.Event) -> None:
        self.records.append(
            EventRecord(len(self.records) + 1, event.NAME, event.at, events.to_data(event), event.VERSION)
        )

    def issue(self, key, hms, queue, label, kind, payer, day=DAY, **kw):
        self.add(
            TicketIssued(
                ticket=key, day=day, queue=queue, label=label, number=1, kind=kind, payer=payer, at=at(day, hms), **kw
            )
        )

    def call(self, key, hms, counter, staff, day=DAY, recall=False):
        room = "Loket " + counter[-1] if counter.startswith("loket") else "Poli"
        self.add(
            TicketCalled(
                ticket=key,
                label="X",
                destination=room,
                counter=counter,
                recall=recall,
                at=at(day, hms),
                actor=Actor(counter, staff),
            )
        )

    def end(self, cls, key, hms, day=DAY, **kw):
        self.add(cls(ticket=key, at=at(day, hms), actor=Actor("x", "y"), **kw))

    def batch(self) -> EventBatch:
        return EventBatch(tuple(self.records), "db-1")


def cibinong_day(s: Stream) -> None:
    """The fixed day at Puskesmas Cibinong (times in the comments are the exact expectations)."""
    # W1: walk-in Umum, wait 120.4 s -> 120, registration 180.5 s -> 181, sent to Poli Umum
    s.issue("w1", "07:30:00.000", "REG-A", "A001", "walkin", "UMUM")
    s.call("w1", "07:32:00.400", "loket-1", "loket.siti")
    s.end(TicketTransferred, "w1", "07:35:00.900", to_ticket="t1", to_poli="UMUM")
    s.issue("t1", "07:35:01.000", "POLI-UMUM", "A001", "transfer", "UMUM", poli="UMUM", parent="w1")
    # T1 at Poli Umum: wait 900.5 s -> 901; serving 07:51 -> done 08:01: 600 s
    s.call("t1", "07:50:01.500", "poli-UMUM", "dr.umum")
    s.call("t1", "07:58:00.000", "poli-UMUM", "dr.umum", recall=True)  # the first call's time stands
    s.end(TicketServing, "t1", "07:51:00.000")
    s.end(TicketDone, "t1", "08:01:00.000")
    # W2: walk-in BPJS, wait 540, registration 240, sent to Poli Gigi; there a wait of 1800 and no-show
    s.issue("w2", "07:31:00.000", "REG-B", "B001", "walkin", "BPJS")
    s.call("w2", "07:40:00.000", "loket-2", "loket.budi")
    s.end(TicketTransferred, "w2", "07:44:00.000", to_ticket="t2", to_poli="GIGI")
    s.issue("t2", "07:44:00.000", "POLI-GIGI", "B001", "transfer", "BPJS", poli="GIGI", parent="w2")
    s.call("t2", "08:14:00.000", "poli-GIGI", "drg.gigi")
    s.end(TicketNoShow, "t2", "08:20:00.000")
    # W3: walk-in Umum, wait 60, no-show at the loket; W4 BPJS cancelled before a call; W5 still waiting
    s.issue("w3", "08:05:00.000", "REG-A", "A002", "walkin", "UMUM")
    s.call("w3", "08:06:00.000", "loket-1", "loket.siti")
    s.end(TicketNoShow, "w3", "08:08:00.000")
    s.issue("w4", "08:10:00.000", "REG-B", "B002", "walkin", "BPJS")
    s.end(TicketCancelled, "w4", "08:12:00.000")
    s.issue("w5", "08:20:00.000", "REG-A", "A003", "walkin", "UMUM")
    # R1: reservation BPJS 08:00-09:00 at Poli Umum: wait 480, from slot start 180, service 600.499 -> 600
    s.issue(
        "r1", "07:55:00.000", "POLI-UMUM", "U001", "reservation", "BPJS", poli="UMUM", rid="rid1", slot="08:00-09:00"
    )
    s.add(ReservationCheckedIn(rid="rid1", ticket="r1", label="U001", at=at(DAY, "07:55:00.000")))
    s.call("r1", "08:03:00.000", "poli-UMUM", "dr.umum")
    s.end(TicketDone, "r1", "08:13:00.499")
    # R2: reservation Umum 09:00-10:00, called early: wait 600, from slot start -600; served 600.5 -> 601
    s.issue(
        "r2", "08:40:00.000", "POLI-UMUM", "U002", "reservation", "UMUM", poli="UMUM", rid="rid2", slot="09:00-10:00"
    )
    s.call("r2", "08:50:00.000", "poli-UMUM", "dr.umum")
    s.end(TicketServing, "r2", "08:51:00.000")
    s.end(TicketDone, "r2", "09:01:00.500")
    # R3: reservation BPJS 09:00-10:00 at Poli Gigi: wait 1200, from slot start 1800, service 600
    s.issue(
        "r3", "09:10:00.000", "POLI-GIGI", "G001", "reservation", "BPJS", poli="GIGI", rid="rid3", slot="09:00-10:00"
    )
    s.call("r3", "09:30:00.000", "poli-GIGI", "drg.gigi")
    s.end(TicketDone, "r3", "09:40:00.000")
    # the day before: one walk-in, wait 60, registration 120
    s.issue("x1", "08:00:00.000", "REG-A", "A001", "walkin", "UMUM", day="2026-11-25")
    s.call("x1", "08:01:00.000", "loket-1", "loket.siti", day="2026-11-25")
    s.end(TicketTransferred, "x1", "08:03:00.000", day="2026-11-25", to_poli="UMUM")


def ciawi_day(s: Stream) -> None:
    s.issue("c1", "08:00:00.000", "REG-A", "A001", "walkin", "UMUM")
    s.call("c1", "08:10:00.000", "loket-1", "")
    s.end(TicketTransferred, "c1", "08:15:00.000", to_ticket="c2", to_poli="UMUM")
    s.issue("c2", "08:15:00.000", "POLI-UMUM", "A001", "transfer", "UMUM", poli="UMUM", parent="c1")
    s.call("c2", "08:45:00.000", "poli-UMUM", "")
    s.end(TicketDone, "c2", "09:00:00.000")


@pytest.fixture
def day(db_config):
    """Two puskesmas and their nodes; the fixed day's events applied through central's ingest."""
    central_db.connect(db_config.database_url)
    cib = Puskesmas.create(code="cibinong", name="Puskesmas Cibinong", address="Cibinong", kecamatan="Cibinong")
    cia = Puskesmas.create(code="ciawi", name="Puskesmas Ciawi", address="Ciawi", kecamatan="Ciawi")
    umum = Poli.create(puskesmas=cib, code="UMUM", name="Poli Umum", prefix="U", order=1)
    Poli.create(puskesmas=cib, code="GIGI", name="Poli Gigi", prefix="G", order=2)
    Poli.create(puskesmas=cia, code="UMUM", name="Poli Umum", prefix="U", order=1)
    Staff.create(username="loket.siti", name="Siti Aminah", role="petugas_loket", puskesmas=cib, password_hash="x")
    patient = Patient.create(
        nik="3201015708900002", name="Ani", birth_date=dt.date(1990, 8, 17), sex="P", address="-", phone="0812"
    )
    for rid, status in [
        ("rid1", "active"),
        ("rid2", "active"),
        ("rid3", "active"),
        ("rid4", "cancelled"),
        ("rid5", "active"),
    ]:
        Reservation.create(
            rid=rid, patient=patient, puskesmas=cib, poli=umum, date=DATE, slot="08:00-09:00", payer="BPJS",
            status=status, qr_text="-",
        )  # fmt: skip
    cib.targets = json.dumps({"pendaftaran": {"menit": 5, "persen": 90}, "poli": {"menit": 20, "persen": 60}})
    cib.save()
    n1 = Node.create(node_id="pkm-cibinong", puskesmas=cib)
    n2 = Node.create(node_id="pkm-ciawi", puskesmas=cia)
    s1, s2 = Stream(), Stream()
    cibinong_day(s1)
    ciawi_day(s2)
    assert apply_batch(n1, s1.batch()) == len(s1.records)
    assert apply_batch(n2, s2.batch()) == len(s2.records)
    yield {"cibinong": cib, "ciawi": cia, "node": n1, "stream": s1}
    central_db.database.close()


def rows(rep, key):
    return rep.tables[key].rows


def test_each_visit_keeps_its_exact_seconds(day):
    got = {v.ticket_key: (v.wait_s, v.slot_wait_s, v.service_s) for v in Visit.select()}
    assert got == {
        "w1": (120, None, 181),
        "t1": (901, None, 600),
        "w2": (540, None, 240),
        "t2": (1800, None, None),
        "w3": (60, None, None),
        "w4": (None, None, None),
        "w5": (None, None, None),
        "r1": (480, 180, 600),
        "r2": (600, -600, 601),
        "r3": (1200, 1800, 600),
        "x1": (60, None, 120),
        "c1": (600, None, 300),
        "c2": (1800, None, 900),
    }
    # a loket ticket is counted at the poli it sent the patient to
    assert Visit.get(Visit.ticket_key == "w1").poli == "UMUM" and Visit.get(Visit.ticket_key == "w3").poli is None


def test_sending_the_events_again_changes_nothing(day):
    before = kpi.report([day["cibinong"].id], DATE, DATE).as_dict()
    assert apply_batch(day["node"], day["stream"].batch()) == len(day["stream"].records)
    assert kpi.report([day["cibinong"].id], DATE, DATE).as_dict() == before


def test_every_kpi_of_the_day(day):
    rep = kpi.report([day["cibinong"].id], DATE, DATE)
    assert rows(rep, "harian") == [["2026-11-26", 8, 3, 5, 4, 4]]
    assert rows(rep, "poli") == [["Poli Umum", 3, 2, 1, 3, 0, 0, 0], ["Poli Gigi", 2, 1, 1, 1, 1, 0, 0]]
    assert rows(rep, "cara_bayar") == [["BPJS", 4, 50.0], ["Umum", 4, 50.0]]
    assert rows(rep, "jenis") == [["Reservasi", 3, 37.5], ["Datang langsung", 5, 62.5]]
    # nearest rank: waits at the loket 60, 120, 540 -> p50 120 s, p90 540 s
    assert rows(rep, "tunggu_poli") == [
        ["Pendaftaran (loket)", 3, 2.0, 9.0, None, None, None],
        ["Poli Umum", 3, 10.0, 15.0, 2, -10.0, 3.0],
        ["Poli Gigi", 2, 20.0, 30.0, 1, 30.0, 30.0],
    ]
    assert rows(rep, "tunggu_jam") == [
        ["07:00", 2, 2.0, 9.0, 3, 15.0, 30.0],
        ["08:00", 1, 1.0, 1.0, 1, 10.0, 10.0],
        ["09:00", 0, None, None, 1, 20.0, 20.0],
    ]
    assert rows(rep, "layanan_poli") == [
        ["Pendaftaran (loket)", 2, 3.0, 4.0],
        ["Poli Umum", 3, 10.0, 10.0],
        ["Poli Gigi", 1, 10.0, 10.0],
    ]
    assert rows(rep, "petugas") == [
        ["loket-1", "Siti Aminah", 2, 1.0, 2.0, 1, 3.0, 3.0],
        ["loket-2", "loket.budi", 1, 9.0, 9.0, 1, 4.0, 4.0],
        ["poli-GIGI", "drg.gigi", 2, 20.0, 30.0, 1, 10.0, 10.0],
        ["poli-UMUM", "dr.umum", 3, 10.0, 15.0, 3, 10.0, 10.0],
    ]
    assert rows(rep, "tidak_hadir") == [
        ["Pendaftaran (loket)", 3, 1, 33.3],
        ["Poli Umum", 3, 0, 0.0],
        ["Poli Gigi", 2, 1, 50.0],
        ["Semua", 8, 2, 25.0],
    ]
    assert rows(rep, "reservasi") == [["2026-11-26", 5, 1, 3, 75.0], ["Jumlah", 5, 1, 3, 75.0]]
    assert rows(rep, "target") == [
        ["Pendaftaran (loket)", "Tunggu pendaftaran ≤ 5 menit untuk 90% pasien", 3, 2, 66.7, 90, "Tidak"],
        ["Poli", "Tunggu poli ≤ 20 menit untuk 60% pasien", 5, 4, 80.0, 60, "Ya"],
        [
            "Reservasi (dari awal slot)",
            "Pasien reservasi dipanggil ≤ 15 menit setelah awal slot untuk 80% pasien",
            3,
            2,
            66.7,
            80,
            "Tidak",
        ],
    ]
    assert "puskesmas" not in rep.tables
    for table in rep.tables.values():  # plain values only, a header per column
        assert all(len(r) == len(table.columns) for r in table.rows)
        assert all(v is None or isinstance(v, (str, int, float)) for r in table.rows for v in r)


def test_the_period_poli_and_payer_filters(day):
    cib = day["cibinong"].id
    two = kpi.report([cib], DATE - dt.timedelta(days=1), DATE)
    assert rows(two, "harian") == [["2026-11-25", 1, 0, 1, 0, 1], ["2026-11-26", 8, 3, 5, 4, 4]]
    assert rows(two, "tunggu_poli")[0] == ["Pendaftaran (loket)", 4, 1.0, 9.0, None, None, None]
    umum = kpi.report([cib], DATE, DATE, poli="UMUM")
    assert rows(umum, "harian") == [["2026-11-26", 3, 2, 1, 1, 2]]
    assert rows(umum, "tunggu_poli") == [
        ["Pendaftaran (loket)", 1, 2.0, 2.0, None, None, None],
        ["Poli Umum", 3, 10.0, 15.0, 2, -10.0, 3.0],
    ]
    bpjs = kpi.report([cib], DATE, DATE, payer="BPJS")
    assert rows(bpjs, "cara_bayar") == [["BPJS", 4, 100.0], ["Umum", 0, 0.0]]
    assert rows(bpjs, "tidak_hadir")[-1] == ["Semua", 4, 1, 25.0]  # w2, t2 (no-show), r1, r3
    empty = kpi.report([cib], dt.date(2026, 1, 1), dt.date(2026, 1, 2))
    assert rows(empty, "harian") == [["2026-01-01", 0, 0, 0, 0, 0], ["2026-01-02", 0, 0, 0, 0, 0]]
    assert rows(empty, "tunggu_poli") == [["Pendaftaran (loket)", 0, None, None, None, None, None]]
    assert rows(empty, "cara_bayar") == [["BPJS", 0, None], ["Umum", 0, None]]


def test_the_kabupaten_compares_puskesmas_each_against_its_own_targets(day):
    rep = kpi.report([day["cibinong"].id, day["ciawi"].id], DATE, DATE)
    assert rows(rep, "puskesmas") == [
        ["Puskesmas Ciawi", 1, 0.0, 0.0, 10.0, 10.0, 30.0, 30.0, 0.0],
        ["Puskesmas Cibinong", 8, 37.5, 50.0, 2.0, 9.0, 15.0, 30.0, 25.0],
    ]
    assert rows(rep, "harian") == [["2026-11-26", 9, 3, 6, 4, 5]]
    target = rows(rep, "target")
    # Ciawi's loket wait of 600 s misses its 5 minutes; its poli wait of 1800 s meets the default 30
    assert target[0] == [
        "Pendaftaran (loket)",
        "Tunggu pendaftaran ≤ 5 menit untuk 90% pasien",
        4,
        2,
        50.0,
        90,
        "Tidak",
    ]
    assert target[1] == ["Poli", "Target tiap puskesmas", 6, 5, 83.3, None, None]


def test_bad_filters_are_refused_in_indonesian(day):
    cib = day["cibinong"].id
    with pytest.raises(kpi.KpiError) as e:
        kpi.report([cib], DATE, DATE - dt.timedelta(days=1))
    assert e.value.fields == {"to": "Tanggal akhir tidak boleh sebelum tanggal awal."}
    with pytest.raises(kpi.KpiError) as e:
        kpi.report([cib], DATE, DATE, payer="ASURANSI")
    assert e.value.fields == {"payer": "Cara bayar harus BPJS atau Umum."}
    with pytest.raises(kpi.KpiError) as e:
        kpi.Period.parse("2026-13-01", "kemarin")
    assert set(e.value.fields) == {"from", "to"}
    assert kpi.Period.parse("26-11-2026", "2026-11-30") == kpi.Period(DATE, dt.date(2026, 11, 30))
    assert kpi.Period.parse("", "", today=DATE) == kpi.Period(DATE - dt.timedelta(days=29), DATE)


def test_today_live(day):
    s = day["stream"]
    s.issue("w6", "09:50:00.000", "REG-A", "A004", "walkin", "UMUM")
    s.call("w6", "09:55:00.000", "loket-1", "loket.siti")
    apply_batch(day["node"], s.batch())
    now = dt.datetime(2026, 11, 26, 10, 0, tzinfo=kpi.WIB)
    live = kpi.live_today(day["cibinong"], now=now)
    assert live["day"] == DAY and live["now"] == "2026-11-26T10:00:00+07:00"
    assert [
        (q["name"], q["waiting"], q["called"], q["served"], q["no_show"], q["cancelled"]) for q in live["queues"]
    ] == [
        ("Pendaftaran Umum (A)", 1, 1, 1, 1, 0),
        ("Pendaftaran BPJS (B)", 0, 0, 1, 0, 1),
        ("Poli Umum", 0, 0, 3, 0, 0),
        ("Poli Gigi", 0, 0, 1, 1, 0),
    ]
    assert live["totals"] == {"waiting": 1, "called": 1, "served": 6, "no_show": 2, "cancelled": 1}
    assert kpi.live_today(day["ciawi"], now=now + dt.timedelta(days=1))["queues"] == []


def test_quality_targets_are_checked_stored_and_audited(day):
    cib = day["cibinong"]
    assert kpi.targets(cib)["reservasi"] == {"menit": 15, "persen": 80}  # the default for a step not set
    form = {f"{s}_{k}": str(v[k]) for s, v in kpi.targets(cib).items() for k in ("menit", "persen")}
    bad = dict(form, pendaftaran_menit="0", poli_persen="lima", reservasi_menit="")
    with pytest.raises(kpi.KpiError) as e:
        kpi.set_targets(None, cib, bad)
    assert e.value.fields == {
        "pendaftaran_menit": "Harus antara 1 dan 240 menit.",
        "poli_persen": "Tulis bilangan bulat persen, misalnya 80.",
        "reservasi_menit": "Wajib diisi.",
    }
    assert kpi.targets(Puskesmas.get_by_id(cib.id))["pendaftaran"]["menit"] == 5 and AuditLog.select().count() == 0
    kpi.set_targets(None, cib, dict(form, pendaftaran_menit="10"))
    assert kpi.targets(Puskesmas.get_by_id(cib.id))["pendaftaran"] == {"menit": 10, "persen": 90}
    log = AuditLog.get()
    assert (log.entity, log.entity_key, log.action, log.actor) == ("targets", "cibinong", "update", "cli")
    assert json.loads(log.before)["pendaftaran"]["menit"] == 5 and json.loads(log.after)["pendaftaran"]["menit"] == 10
    # the report follows the new target: the loket waits of 60, 120 and 540 s are all within 10 minutes
    assert rows(kpi.report([cib.id], DATE, DATE), "target")[0][3:5] == [3, 100.0]


def test_the_migration_fills_the_seconds_of_visits_stored_before(day):
    before = {v.ticket_key: (v.wait_s, v.slot_wait_s, v.service_s, v.poli) for v in Visit.select()}
    Visit.update(wait_s=None, slot_wait_s=None, service_s=None).execute()
    Visit.update(poli=None).where(Visit.queue.startswith("REG-")).execute()
    m0004_back_office._backfill_timings(central_db.database.obj)
    after = {v.ticket_key: (v.wait_s, v.slot_wait_s, v.service_s, v.poli) for v in Visit.select()}
    # x1 was sent on by an old edge without naming its poli ticket: its poli cannot be known
    assert after == dict(before, x1=(60, None, 120, None))


def test_percentiles_at_rounding_edges_are_those_of_the_seconds(day):
    """Nearest rank over the seconds, then rounded to tenths of a minute (half away from zero):
    the database's histogram gives the very same figures, negative waits included."""
    values = [-9, -3, -2, 0, 2, 3, 8, 9, 57, 63, 3597, 3603]
    keys = ["t1", "r1", "r2", "t2", "r3"]
    rng = random.Random(5)
    for trial in range(6):
        chosen = sorted(rng.sample(values, len(keys)))
        for key, v in zip(keys, chosen, strict=True):
            Visit.update(wait_s=v, slot_wait_s=v if key.startswith("r") else None).where(
                Visit.ticket_key == key
            ).execute()
        rep = kpi.report([day["cibinong"].id], DATE, DATE)
        by_poli = {r[0]: r for r in rows(rep, "tunggu_poli")}
        for name, ks in {"Poli Umum": ["t1", "r1", "r2"], "Poli Gigi": ["t2", "r3"]}.items():
            seconds = sorted(v for k, v in zip(keys, chosen, strict=True) if k in ks)
            slots = sorted(v for k, v in zip(keys, chosen, strict=True) if k in ks and k.startswith("r"))
            expect = [len(seconds), *[kpi.minutes(kpi.nearest_rank(seconds, p)) for p in (50, 90)]]
            expect += [len(slots), *[kpi.minutes(kpi.nearest_rank(slots, p)) for p in (50, 90)]]
            assert by_poli[name][1:] == expect, (trial, name, chosen)
    assert kpi.minutes(-3) == -0.1 and kpi.minutes(3) == 0.1 and kpi.minutes(2) == 0.0 and kpi.minutes(-2) == 0.0


def test_one_read_of_the_period_gives_the_same_figures_as_one_query_each(day, monkeypatch):
    ids = [day["cibinong"].id, day["ciawi"].id]
    sent = []
    real = kpi._rows
    monkeypatch.setattr(kpi, "_rows", lambda sql, params: sent.append(sql) or real(sql, params))
    together = kpi.report(ids, DATE - dt.timedelta(days=1), DATE).as_dict()
    assert len(sent) == 1  # every grouping from one read of the period's rows
    monkeypatch.setattr(kpi, "_prefetch", lambda where, specs: None)
    assert kpi.report(ids, DATE - dt.timedelta(days=1), DATE).as_dict() == together
    assert len(sent) > 10
