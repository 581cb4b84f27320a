"""A few weeks of plausible history for the demo, so the back office's dashboard is not empty.

Made the way real history is made: for each seeded puskesmas a synthetic edge node (retired,
so no change feed is kept for it) sends the typed events of each open day (``protocol.events``)
through ``central.ingest.apply_batch``, in seq order, exactly as an edge's sync client does; the
``visit`` rows and the reservations' check-ins are what central makes of them. Nothing here
writes a visit itself.

A day (Monday to Saturday; Friday and Saturday shorter; no Sundays, no closed days) has about
120 to 300 patients: walk-ins take a registration number (``REG-A`` Umum, ``REG-B`` BPJS; about
70% BPJS), are called to a loket, registered and sent on to a poli; reservations made a few days
ahead are checked in at the kiosk and go straight to their poli queue (some are cancelled, some
never come). The morning peak is 07:30-09:30; waits are 2-40 minutes, poli service 3-15
minutes; about 5% of the tickets called are not there (tidak hadir). Counters and staff
usernames are those an edge records. A few kritik & saran, some answered, come with it.

Deterministic for a given ``seed`` and ``today`` (a day's reservations and events are drawn
first, written after), newest day first, and resumable: a run killed at any point and started
again completes the day it was in with the same events and seq numbers (ingest keeps the ones
it has), and leaves the days it finished alone, so a second run adds nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import random
import time
from collections.abc import Iterable

from peewee import Case, fn

from central.ingest import apply_batch
from central.models import (
    EdgeEvent,
    Feedback,
    Holiday,
    Node,
    NodeStream,
    Patient,
    Poli,
    Puskesmas,
    Reservation,
    Staff,
    Visit,
    database,
)
from protocol import events, messages
from protocol.clock import WIB
from protocol.events import (
    Actor,
    Event,
    ReservationCheckedIn,
    TicketCalled,
    TicketCancelled,
    TicketDone,
    TicketIssued,
    TicketNoShow,
    TicketServing,
    TicketTransferred,
)

log = logging.getLogger(__name__)

NODE_PREFIX = "riwayat-"  # the synthetic history node of puskesmas <code> is riwayat-<code>
# events per apply_batch call, each its own transaction: SQLite has one writer, and the demo
# makes its history while patients and staff already use it, so no write may hold it long
BATCH = 200
# seconds without a transaction after each batch: SQLite's busy handler retries a waiting
# writer after 1, 2, 5, 10 ... 50 ms and then every 100 ms, so it needs a gap to find the lock
# free; with none, staff sign-ins took 3 to 18 s during the history (docs/benchmarks.md)
PAUSE = 0.05

# how busy each seeded puskesmas is (patients on an ordinary Monday-Thursday, before noise)
SIZE = {"cibinong": 260, "cileungsi": 230, "citeureup": 200, "ciawi": 170, "cisarua": 150}
DEFAULT_SIZE = 180

# share of patients per poli (renormalised over the poli a puskesmas has)
POLI_SHARE = {"UMUM": 0.48, "KIA": 0.2, "LANSIA": 0.17, "GIGI": 0.15}
# median poli service time in minutes, per poli (clipped to 3-15)
SERVICE_MEDIAN = {"UMUM": 6.0, "GIGI": 10.0, "KIA": 8.0, "LANSIA": 7.0}

BPJS_SHARE = 0.7
RESERVATION_SHARE = 0.22  # of the patients who come
RESERVATION_CANCELLED = 0.08  # of the reservations made, cancelled before the day
RESERVATION_NOT_COME = 0.05  # of the reservations made, never checked in
LOKET_NO_SHOW = 0.03
POLI_NO_SHOW = 0.055
WALKIN_CANCELLED = 0.01
PRIORITY_SHARE = 0.07
LOKET_SERVING = 0.2  # of the calls at a loket followed by "Layani" before the transfer
POLI_SERVING = 0.7  # of the calls at a poli followed by "Layani" before "Selesai"

OPEN = dt.time(7, 30)
# per ISO weekday: (last registration, end of poli service)
HOURS = {
    1: (dt.time(12, 0), dt.time(14, 0)),
    2: (dt.time(12, 0), dt.time(14, 0)),
    3: (dt.time(12, 0), dt.time(14, 0)),
    4: (dt.time(12, 0), dt.time(14, 0)),
    5: (dt.time(10, 0), dt.time(11, 0)),
    6: (dt.time(11, 30), dt.time(12, 30)),
}
DAY_FACTOR = {1: 1.12, 2: 1.0, 3: 0.97, 4: 0.95, 5: 0.62, 6: 0.7}

FIRST_NAMES_F = [
    "Siti",
    "Nurhaliza",
    "Ani",
    "Dewi",
    "Rina",
    "Yuni",
    "Sri",
    "Wati",
    "Lestari",
    "Rahma",
    "Nur",
    "Aisyah",
    "Fitri",
    "Putri",
    "Indah",
    "Ratna",
    "Euis",
    "Neneng",
    "Ai",
    "Ikah",
    "Cucu",
    "Tati",
    "Yanti",
    "Mega",
]
FIRST_NAMES_M = [
    "Budi",
    "Agus",
    "Dedi",
    "Asep",
    "Ujang",
    "Cecep",
    "Dadang",
    "Yayan",
    "Rudi",
    "Hendra",
    "Joko",
    "Ahmad",
    "Muhammad",
    "Rizky",
    "Dimas",
    "Bayu",
    "Iwan",
    "Ade",
    "Eko",
    "Taufik",
]
LAST_NAMES = [
    "Santoso",
    "Hidayat",
    "Saputra",
    "Lestari",
    "Kurniawan",
    "Permana",
    "Setiawan",
    "Suryana",
    "Rohman",
    "Maulana",
    "Nugraha",
    "Sopandi",
]
KAMPUNG = [
    "Babakan",
    "Cikaret",
    "Sukahati",
    "Pabuaran",
    "Nanggewer",
    "Karadenan",
    "Tengah",
    "Pakansari",
    "Cirimekar",
    "Harapan",
    "Jaya",
]

FEEDBACK = (
    (5, "Pelayanan cepat dan ramah, terima kasih. Reservasi online sangat membantu, tidak perlu antre lama."),
    (5, "Petugas poli KIA sabar menjelaskan jadwal imunisasi anak saya. Terima kasih banyak."),
    (4, "Antrean lebih tertib sejak ada layar TV dan panggilan suara. Mohon kursi ruang tunggu ditambah."),
    (4, "Dokter menjelaskan dengan jelas. Hanya parkir motor agak sempit di pagi hari."),
    (3, "Menunggu di loket pendaftaran hampir 40 menit jam 8 pagi. Mohon loket dibuka lebih banyak saat ramai."),
    (3, "Nomor antrean di layar kadang terlalu kecil untuk orang tua. Mohon diperbesar."),
    (2, "Toilet di ruang tunggu kurang bersih, mohon diperhatikan."),
    (2, "Sudah reservasi jam 09.00 tapi baru dipanggil jam 09.45. Mohon jadwal reservasi ditepati."),
    (1, "Petugas loket kurang ramah ketika saya bertanya soal kartu BPJS. Mohon dibina."),
    (5, "Poli lansia nyaman, ibu saya dilayani lebih dulu. Terima kasih."),
    (4, "Mesin antrean mudah dipakai, tiket langsung keluar. Semoga selalu seperti ini."),
    (3, "Apotek lama, obat baru diterima setengah jam setelah pemeriksaan."),
)
ANSWERS = {
    1: "Mohon maaf atas ketidaknyamanan Ibu/Bapak. Petugas loket sudah kami ingatkan dan akan mendapat pembinaan.",
    2: "Terima kasih atas masukannya. Sudah kami tindak lanjuti bersama petugas terkait.",
    3: "Terima kasih, masukan Ibu/Bapak kami bahas dalam rapat mutu bulan ini.",
    4: "Terima kasih atas penilaiannya; saran Ibu/Bapak kami catat untuk perbaikan.",
    5: "Terima kasih atas apresiasinya. Kami akan terus menjaga mutu layanan.",
}


class _Day:
    """The events of one puskesmas day, in the order an edge's outbox would hold them."""

    def __init__(self) -> None:
        self.items: list[tuple[dt.datetime, int, Event]] = []
        self.order = 0

    def add(self, moment: dt.datetime, event_type: type[Event], **fields) -> Event:
        event = event_type(at=events.now_text(moment), **fields)
        self.order += 1
        self.items.append((moment, self.order, event))
        return event

    def sorted(self) -> list[Event]:
        return [e for _m, _o, e in sorted(self.items, key=lambda item: (item[0], item[1]))]


def history_node_id(code: str) -> str:
    return NODE_PREFIX + code


def seed_history(
    days: int = 21,
    seed: int = 20261202,
    today: dt.date | None = None,
    codes: Iterable[str] | None = None,
    progress=None,
    pause: float = PAUSE,
) -> int:
    """Generate ``days`` days (before ``today``, WIB) of history for the seeded puskesmas (or
    those in ``codes``); returns how many visit rows were added.

    Day by day, newest first, every puskesmas in turn: the dashboard's usual periods (the last
    days) fill first, and a history still being made already compares puskesmas over the same
    days. Each batch of ``BATCH`` events is one transaction, followed by ``pause`` seconds
    without one, so that others (a staff member signing in) get SQLite's write lock in between.

    A run may be killed at any moment and started again: a puskesmas-day is made only if its
    history node has none of that day's events yet, and the day the node's stream was at when
    it stopped is made again first, from the same draws and with the same seq numbers, so
    ingest keeps what it already stored and applies only the rest. A second run adds nothing.
    ``progress`` is called with (day, visits added so far) after each day.
    """
    from central import seed as seed_data
    from central.services import now_wib

    today = today or now_wib().date()
    wanted = list(codes) if codes is not None else [item["code"] for item in seed_data.PUSKESMAS]
    # read to the end before writing: a query still being read keeps its snapshot, and SQLite
    # refuses that connection the write lock at once (no waiting) if anyone committed since
    chosen = list(Puskesmas.select().where(Puskesmas.code.in_(wanted)).order_by(Puskesmas.id))
    places = [_Place.prepare(place, days, today, seed) for place in chosen]
    places = [p for p in places if p.polis]
    added = 0
    for p in places:  # the day each stream stopped in (complete or not) comes first
        if p.last is not None:
            added += _seed_day(p, p.last[0], seed, pause, first_seq=p.last[1])
    for day in reversed(history_days(today, days)):
        for p in places:
            if day in p.closed or day in p.started:
                continue
            added += _seed_day(p, day, seed, pause)
        if progress is not None:
            progress(day, added)
    texts = [text for _rating, text in FEEDBACK]
    for p in places:
        with database.atomic():
            if not Feedback.select().where((Feedback.puskesmas == p.place) & Feedback.text.in_(texts)).exists():
                _feedback(p.place, random.Random(f"{seed}:{p.place.code}:feedback"), today, days)
    log.info("history: %d visits added over %d days for %d puskesmas", added, days, len(places))
    return added


@dataclasses.dataclass
class _Place:
    """A puskesmas being given history: its history node, open poli, closed days, patients who
    book, the days its node has events for, and the day of the node's last event with that
    day's first seq (None before its first)."""

    place: Puskesmas
    node: Node
    polis: list[Poli]
    closed: set[dt.date]
    patients: list[Patient]
    started: set[dt.date]
    last: tuple[dt.date, int] | None

    @classmethod
    def prepare(cls, place: Puskesmas, days: int, today: dt.date, seed: int) -> _Place:
        polis = list(Poli.select().where((Poli.puskesmas == place) & Poli.active).order_by(Poli.order, Poli.id))
        closed = {
            h.date
            for h in Holiday.select().where(
                (Holiday.puskesmas.is_null() | (Holiday.puskesmas == place))
                & (Holiday.date >= today - dt.timedelta(days=days))
                & (Holiday.date < today)
            )
        }
        with database.atomic():
            node = Node.get_or_none(Node.node_id == history_node_id(place.code))
            if node is None:
                node = Node.create(
                    node_id=history_node_id(place.code),
                    puskesmas=place,
                    retired=True,  # no change feed for it; its visits are the puskesmas's history
                    incarnation=history_node_id(place.code),
                )
            patients = _patients(random.Random(f"{seed}:{place.code}:patients"), place) if polis else []
        # every event of a history day happens on that day (WIB), and ``at`` starts with the date
        day_of = fn.SUBSTR(EdgeEvent.at, 1, 10)
        spans = {
            dt.date.fromisoformat(day): (first, end)
            for day, first, end in EdgeEvent.select(day_of, fn.MIN(EdgeEvent.seq), fn.MAX(EdgeEvent.seq))
            .where((EdgeEvent.node == node) & (EdgeEvent.incarnation == node.incarnation))
            .group_by(day_of)
            .tuples()
        }
        top = max(spans.items(), key=lambda item: item[1][1], default=None)
        last = (top[0], top[1][0]) if top else None
        return cls(place, node, polis, closed, patients, set(spans), last)

    def stream_seq(self) -> int:
        stream = NodeStream.get_or_none(
            (NodeStream.node == self.node) & (NodeStream.incarnation == self.node.incarnation)
        )
        return stream.up_seq if stream else 0


def _seed_day(p: _Place, day: dt.date, seed: int, pause: float, first_seq: int | None = None) -> int:
    """One day's events for ``p``'s node, sent through ``apply_batch`` as the edge's outbox would;
    returns how many visits it added.

    The events are numbered from ``first_seq`` (the day's first seq when it is made again after
    an interruption) or else after the stream's last; those central already has are not sent.
    A batch's check-in times are set in the batch's own transaction, so a day cut short keeps
    no check-in at the wrong time.
    """
    rng = random.Random(f"{seed}:{p.place.code}:{day}")
    booked, day_events = _Generator(p.place, p.polis, p.patients, rng).day(day)
    have = p.stream_seq()
    start = have + 1 if first_seq is None else first_seq
    records = [
        messages.EventRecord(start + i, e.NAME, e.at, events.to_data(e), e.VERSION) for i, e in enumerate(day_events)
    ]
    records = [r for r in records if r.seq > have]
    if not records:
        return 0
    before = _visits(p, day)
    if booked:
        with database.atomic():  # the reservations the day's check-ins name, made once
            Reservation.insert_many(booked).on_conflict_ignore().execute()
    for offset in range(0, len(records), BATCH):
        batch = records[offset : offset + BATCH]
        with database.atomic():
            apply_batch(p.node, messages.EventBatch(tuple(batch), p.node.incarnation))
            _checked_in_times(batch)
        if pause:
            time.sleep(pause)  # not waiting for anything: letting other writers in
    return _visits(p, day) - before


def _visits(p: _Place, day: dt.date) -> int:
    return Visit.select().where((Visit.puskesmas == p.place) & (Visit.day == day) & (Visit.node == p.node)).count()


def _checked_in_times(batch: list[messages.EventRecord]) -> None:
    """A live sync stores a check-in moments after it happened (ingest stamps its own clock)."""
    moments = {
        r.data["rid"]: dt.datetime.fromisoformat(r.at).astimezone(dt.UTC).replace(tzinfo=None) + dt.timedelta(seconds=2)
        for r in batch
        if r.type == ReservationCheckedIn.NAME
    }
    if moments:
        Reservation.update(checked_in_at=Case(Reservation.rid, list(moments.items()))).where(
            Reservation.rid.in_(list(moments))
        ).execute()


def _patients(rng: random.Random, place: Puskesmas) -> list[Patient]:
    """Patients who book: made once per puskesmas (valid NIKs of Kabupaten Bogor, no PIN, so no
    one can sign in as them)."""
    out = []
    for i in range(60):
        female = rng.random() < 0.6
        birth = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 55))
        serial = 5000 + (place.id % 50) * 80 + i
        nik = f"320101{birth.day + (40 if female else 0):02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"
        # every draw is made whether or not the patient exists, so a second run finds the same NIKs
        first = rng.choice(FIRST_NAMES_F if female else FIRST_NAMES_M)
        name = f"{first} {rng.choice(LAST_NAMES)}"
        rt, rw, kampung = rng.randint(1, 9), rng.randint(1, 12), rng.choice(KAMPUNG)
        phone = f"08{rng.randint(1, 9)}{rng.randrange(10**8, 10**9)}"
        patient = Patient.get_or_none(Patient.nik == nik)
        if patient is None:
            patient = Patient.create(
                nik=nik,
                name=name,
                birth_date=birth,
                sex="P" if female else "L",
                address=f"Kp. {kampung} RT {rt:02d}/{rw:02d}, {place.kecamatan}",
                phone=phone,
            )
        out.append(patient)
    return out


def _lognormal_minutes(rng: random.Random, median: float, spread: float, low: float, high: float) -> float:
    """A skewed duration in minutes within [low, high]; a draw outside is drawn again (clipping
    would pile values up at the ends and fake the p90)."""
    for _ in range(20):
        value = median * math.exp(rng.gauss(0, spread))
        if low <= value <= high:
            return value
    return min(high, max(low, median))


class _Generator:
    """Makes the typed events of one puskesmas day."""

    def __init__(self, place: Puskesmas, polis: list[Poli], patients: list[Patient], rng: random.Random) -> None:
        self.place, self.polis, self.patients, self.rng = place, polis, patients, rng
        shares = [POLI_SHARE.get(p.code, 0.1) for p in polis]
        total = sum(shares)
        self.weights = [s / total for s in shares]
        self.lokets = max(1, place.lokets or 1)
        self.size = SIZE.get(place.code, DEFAULT_SIZE)

    # ---- helpers --------------------------------------------------------------------------
    def key(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    def loket_staff(self, n: int) -> str:
        return f"loket.{self.place.code}" if n == 1 else f"loket{n}.{self.place.code}"

    def poli_staff(self, poli: Poli) -> str:
        return f"poli.{poli.code.lower()}.{self.place.code}"

    def peak(self, moment: dt.datetime) -> float:
        """How crowded the waiting room is at ``moment``: 1 in the 07:45-09:30 rush, less after."""
        minutes = moment.hour * 60 + moment.minute
        if 465 <= minutes <= 570:
            return 1.0
        if minutes < 465:
            return 0.5
        return max(0.2, 1.0 - (minutes - 570) / 120)

    def arrival(self, day: dt.date, last: dt.time) -> dt.datetime:
        opening = dt.datetime.combine(day, OPEN, WIB)
        span = (dt.datetime.combine(day, last, WIB) - opening).total_seconds() / 60
        while True:
            rush = self.rng.random() < 0.75  # three in four come in the morning rush
            minutes = self.rng.gauss(50, 35) if rush else self.rng.uniform(-10, span)
            if -15 <= minutes <= span:
                return opening + dt.timedelta(minutes=minutes, seconds=self.rng.random())

    def count(self, day: dt.date) -> int:
        n = self.size * DAY_FACTOR[day.isoweekday()] * self.rng.uniform(0.9, 1.1)
        return max(120, min(300, round(n)))

    # ---- one day ---------------------------------------------------------------------------
    def day(self, day: dt.date) -> tuple[list[dict], list[Event]]:
        """The reservations made for ``day`` (rows to insert, cancelled ones included) and the
        day's events in outbox order; writes nothing, and the same draws make the same day."""
        rng = self.rng
        booked_rows: list[dict] = []
        out = _Day()
        last_reg, _end = HOURS[day.isoweekday()]
        patients = self.count(day)
        booked = round(patients * RESERVATION_SHARE)
        walkins = patients - booked
        # the reservations made for this day, in slots of an hour from 08:00
        last_slot = 11 if day.isoweekday() == 5 else 12
        slots = [f"{h:02d}:00-{h + 1:02d}:00" for h in range(8, last_slot)]
        held: dict[tuple[int, str], int] = {}
        arrivals: list[tuple[dt.datetime, str, object]] = []
        made = round(booked / (1 - RESERVATION_CANCELLED - RESERVATION_NOT_COME))
        for i in range(made):
            poli = rng.choices(self.polis, self.weights)[0]
            slot = rng.choices(slots, [4, 3, 2, 1][: len(slots)])[0]
            if held.get((poli.id, slot), 0) >= poli.slot_quota:
                free = [s for s in slots if held.get((poli.id, s), 0) < poli.slot_quota]
                if not free:
                    continue
                slot = free[0]
            held[(poli.id, slot)] = held.get((poli.id, slot), 0) + 1
            r = self.reservation(day, poli, slot)
            booked_rows.append(r)
            if i >= booked:  # the share that is cancelled or never comes
                if rng.random() < RESERVATION_CANCELLED / (RESERVATION_CANCELLED + RESERVATION_NOT_COME):
                    when = dt.datetime.combine(day, dt.time(6), WIB) - dt.timedelta(hours=rng.randint(2, 60))
                    r.update(status="cancelled", cancelled_at=when.astimezone(dt.UTC).replace(tzinfo=None))
                continue
            start = dt.datetime.combine(day, dt.time(int(slot[:2])), WIB)
            arrive = start - dt.timedelta(minutes=rng.uniform(-10, 35), seconds=rng.random())
            arrivals.append((arrive, "reservation", (r, poli)))
        for _ in range(walkins):
            arrivals.append((self.arrival(day, last_reg), "walkin", None))
        arrivals.sort(key=lambda a: a[0])
        numbers: dict[str, int] = {}
        for moment, kind, extra in arrivals:
            if kind == "walkin":
                self.walkin(out, day, moment, numbers)
            else:
                r, poli = extra
                self.checkin(out, day, moment, numbers, r, poli)
        return booked_rows, out.sorted()

    def reservation(self, day: dt.date, poli: Poli, slot: str) -> dict:
        """A reservation made a few days before ``day``, as the row to insert."""
        rng = self.rng
        made = dt.datetime.combine(day, dt.time(rng.randint(6, 21), rng.randint(0, 59)), WIB) - dt.timedelta(
            days=rng.randint(1, 7)
        )
        payer = "BPJS" if rng.random() < BPJS_SHARE else "UMUM"
        return dict(
            rid=self.key(),
            patient=rng.choice(self.patients).id,
            puskesmas=self.place.id,
            poli=poli.id,
            date=day,
            slot=slot,
            payer=payer,
            bpjs_no=None,
            status="active",
            qr_text="",  # the pass of a past day is not kept
            created_at=made.astimezone(dt.UTC).replace(tzinfo=None),
            cancelled_at=None,
        )

    def walkin(self, out: _Day, day: dt.date, moment: dt.datetime, numbers: dict[str, int]) -> None:
        rng = self.rng
        payer = "BPJS" if rng.random() < BPJS_SHARE else "UMUM"
        queue = "REG-B" if payer == "BPJS" else "REG-A"
        numbers[queue] = numbers.get(queue, 0) + 1
        label = f"{'B' if payer == 'BPJS' else 'A'}{numbers[queue]:03d}"
        key = self.key()
        poli = rng.choices(self.polis, self.weights)[0]
        priority = rng.random() < (0.35 if poli.code == "LANSIA" else PRIORITY_SHARE)
        out.add(
            moment,
            TicketIssued,
            ticket=key,
            day=day.isoformat(),
            queue=queue,
            label=label,
            number=numbers[queue],
            kind="walkin",
            payer=payer,
            priority=priority,
            actor=events.KIOSK,
        )
        if rng.random() < WALKIN_CANCELLED:
            out.add(
                moment + dt.timedelta(minutes=rng.uniform(5, 20)),
                TicketCancelled,
                ticket=key,
                actor=Actor("loket-1", self.loket_staff(1)),
            )
            return
        crowd = self.peak(moment)
        wait = _lognormal_minutes(rng, 3 + 9 * crowd * (0.6 if priority else 1), 0.55, 2, 40)
        called = moment + dt.timedelta(minutes=wait)
        n = rng.randint(1, self.lokets)
        counter, staff = f"loket-{n}", self.loket_staff(n)
        actor = Actor(counter, staff)
        if self.called_and_gone(out, key, label, f"Loket {n}", counter, actor, called, LOKET_NO_SHOW):
            return
        serving = called + dt.timedelta(seconds=rng.uniform(15, 70))
        if rng.random() < LOKET_SERVING:  # most loket staff go straight from the call to "Kirim ke poli"
            out.add(serving, TicketServing, ticket=key, actor=actor)
        registered = serving + dt.timedelta(minutes=_lognormal_minutes(rng, 2.5, 0.35, 1, 6))
        poli_key = self.key()
        out.add(registered, TicketTransferred, ticket=key, to_ticket=poli_key, to_poli=poli.code, actor=actor)
        out.add(
            registered,
            TicketIssued,
            ticket=poli_key,
            day=day.isoformat(),
            queue=f"POLI-{poli.code}",
            label=label,
            number=0,
            kind="transfer",
            payer=payer,
            poli=poli.code,
            priority=priority,
            parent=key,
            actor=actor,
        )
        poli_wait = _lognormal_minutes(rng, 6 + 10 * self.peak(registered), 0.5, 2, 40)
        self.at_poli(out, poli_key, label, poli, registered + dt.timedelta(minutes=poli_wait))

    def checkin(
        self, out: _Day, day: dt.date, moment: dt.datetime, numbers: dict[str, int], r: dict, poli: Poli
    ) -> None:
        rng = self.rng
        queue = f"POLI-{poli.code}"
        numbers[queue] = numbers.get(queue, 0) + 1
        label = f"{poli.prefix}{numbers[queue]:03d}"
        key = self.key()
        out.add(
            moment,
            TicketIssued,
            ticket=key,
            day=day.isoformat(),
            queue=queue,
            label=label,
            number=numbers[queue],
            kind="reservation",
            payer=r["payer"],
            poli=poli.code,
            rid=r["rid"],
            slot=r["slot"],
            actor=events.SCANNER,
        )
        out.add(moment, ReservationCheckedIn, rid=r["rid"], ticket=key, label=label, actor=events.SCANNER)
        start = dt.datetime.combine(day, dt.time(int(r["slot"][:2])), WIB)
        # called near the slot's start: a little early when the poli is quiet, later in the rush
        called = start + dt.timedelta(minutes=rng.gauss(4 + 10 * self.peak(start), 8))
        earliest = moment + dt.timedelta(minutes=2)
        latest = moment + dt.timedelta(minutes=40)
        self.at_poli(out, key, label, poli, min(latest, max(earliest, called)))

    def at_poli(self, out: _Day, key: str, label: str, poli: Poli, called: dt.datetime) -> None:
        rng = self.rng
        counter = f"poli-{poli.code}"
        actor = Actor(counter, self.poli_staff(poli))
        if self.called_and_gone(out, key, label, poli.name, counter, actor, called, POLI_NO_SHOW):
            return
        serving = called + dt.timedelta(seconds=rng.uniform(20, 90))
        if rng.random() < POLI_SERVING:
            out.add(serving, TicketServing, ticket=key, actor=actor)
        service = _lognormal_minutes(rng, SERVICE_MEDIAN.get(poli.code, 7.0), 0.4, 3, 15)
        out.add(serving + dt.timedelta(minutes=service), TicketDone, ticket=key, actor=actor)

    def called_and_gone(
        self,
        out: _Day,
        key: str,
        label: str,
        destination: str,
        counter: str,
        actor: Actor,
        called: dt.datetime,
        share: float,
    ) -> bool:
        """Call the ticket; with probability ``share`` the patient does not come (called again,
        then marked tidak hadir). Returns whether they did not come."""
        out.add(called, TicketCalled, ticket=key, label=label, destination=destination, counter=counter, actor=actor)
        if self.rng.random() >= share:
            return False
        again = called + dt.timedelta(minutes=self.rng.uniform(1, 3))
        out.add(
            again,
            TicketCalled,
            ticket=key,
            label=label,
            destination=destination,
            counter=counter,
            recall=True,
            actor=actor,
        )
        out.add(again + dt.timedelta(minutes=self.rng.uniform(1, 3)), TicketNoShow, ticket=key, actor=actor)
        return True


def _feedback(place: Puskesmas, rng: random.Random, today: dt.date, days: int) -> None:
    """A few kritik & saran over the period; some followed up and answered by the puskesmas's admin."""
    admin = (
        Staff.select()
        .where((Staff.puskesmas == place) & (Staff.role == "admin_puskesmas") & Staff.active)
        .order_by(Staff.id)
        .first()
    )
    done = list(
        Reservation.select()
        .where((Reservation.puskesmas == place) & (Reservation.status == "done"))
        .order_by(Reservation.date.desc(), Reservation.id)
        .limit(40)
    )
    for i, (rating, text) in enumerate(rng.sample(FEEDBACK, 7)):
        about = done[i] if done and i % 2 == 0 and i < len(done) else None
        day = about.date if about else today - dt.timedelta(days=rng.randint(1, days))
        created = dt.datetime.combine(day, dt.time(rng.randint(10, 20), rng.randint(0, 59)), WIB)
        created_utc = created.astimezone(dt.UTC).replace(tzinfo=None)
        answered = i % 3 != 2 and created.date() < today - dt.timedelta(days=1)
        answer_at = created_utc + dt.timedelta(hours=rng.randint(3, 40))
        Feedback.create(
            puskesmas=place,
            patient=about.patient if about else None,
            rid=about.rid if about else None,
            rating=rating,
            text=text,
            source=("web", "app", "kiosk")[i % 3] if not about else "web",
            created_at=created_utc,
            followed_up_at=answer_at if answered else None,
            followed_up_by=admin if answered else None,
            answer=ANSWERS[rating] if answered else "",
            answered_at=answer_at if answered else None,
            answered_by=admin if answered else None,
        )


def history_days(today: dt.date, days: int, closed: Iterable[dt.date] = ()) -> list[dt.date]:
    """The open days (not Sunday, not closed) among the ``days`` days before ``today``."""
    closed = set(closed)
    out = []
    for back in range(days, 0, -1):
        day = today - dt.timedelta(days=back)
        if day.isoweekday() != 7 and day not in closed:
            out.append(day)
    return out


PATIENT_FEEDBACK = (
    4,
    "Pemeriksaan di Poli Umum cepat dan dokternya ramah. Hanya saja antrean apotek masih lama.",
    "Terima kasih, Ibu. Mulai bulan ini apotek kami buka dua loket pada jam ramai.",
)


def give_patient_a_visit(nik: str, code: str) -> bool:
    """Make one of the history's served reservations at puskesmas ``code`` (the latest) a visit
    of the patient with NIK ``nik``, with kritik & saran she sent about it and the puskesmas's
    answer, so she sees both in her history. Only the reservation's owner changes (the events
    name no patient). Returns whether anything changed; once only."""
    patient = Patient.get_or_none(Patient.nik == nik)
    place = Puskesmas.get_or_none(Puskesmas.code == code)
    if patient is None or place is None:
        return False
    rating, text, answer = PATIENT_FEEDBACK
    if Feedback.select().where((Feedback.patient == patient) & (Feedback.text == text)).exists():
        return False
    r = (
        Reservation.select()
        .where((Reservation.puskesmas == place) & (Reservation.status == "done"))
        .order_by(Reservation.date.desc(), Reservation.id)
        .first()
    )
    if r is None:
        return False
    admin = Staff.select().where((Staff.puskesmas == place) & (Staff.role == "admin_puskesmas")).first()
    with database.atomic():
        Reservation.update(patient=patient).where(Reservation.id == r.id).execute()
        visit = Visit.get((Visit.rid == r.rid) & (Visit.puskesmas == place))
        sent = dt.datetime.fromisoformat(visit.done_at).astimezone(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=3)
        replied = sent + dt.timedelta(hours=20)
        Feedback.create(
            puskesmas=place,
            patient=patient,
            rid=r.rid,
            rating=rating,
            text=text,
            source="web",
            created_at=sent,
            followed_up_at=replied,
            followed_up_by=admin,
            answer=answer,
            answered_at=replied,
            answered_by=admin,
        )
    return True
