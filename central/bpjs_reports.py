"""Antrean FKTP reports: the durable queue central fills from the edges' events and a worker empties.

``central.ingest`` calls ``on_issued``, ``on_checked_in``, ``on_called`` and ``on_finished`` inside
the transaction that applies an event, so a report is stored exactly when its event is: an event
resent by an edge finds its report there already (``BpjsReport`` is unique per kind and key, the
key being the reservation id, or ``<node>:<ticket>``) and nothing is doubled.

What is reported, for a BPJS patient of a puskesmas with BPJS credentials only:

- ``add`` (``antrean/add``): a BPJS reservation checked in at the kiosk (its card number, the
  patient's NIK and phone, the poli, the day, the ticket's number). A reservation booked with a
  NIK instead of a card number gets its card number from PCare when the report is sent (``panggil``
  and ``batal`` need it).
- ``add`` for a BPJS walk-in: when the loket sends her registration ticket (REG-B) on to a poli
  (a ``transfer`` ticket), from the number she gave at the kiosk and PCare's answer there
  (``BpjsWalkin``, the edge's ``bpjs.checked`` event), keyed ``<node>:<registration ticket>``: the
  poli, the day and the ticket's label, no phone unless a Rosma account has her NIK, no practice
  hour. A check that arrives after the transfer (staff checked again) reports it then. Nothing
  for a walk-in who gave no number or whom PCare found inactive, unknown or registered at another
  FKTP; a second transfer adds nothing.
- ``panggil`` (``antrean/panggil`` status 1, hadir): the ticket is called (for a walk-in, at the
  poli: the loket's call comes before the add).
- ``absen`` (``antrean/panggil`` status 2, tidak hadir): called and did not come, or taken off the
  queue after a call (BPJS refuses to cancel a patient reported present).
- ``batal`` (``antrean/batal``): taken off the queue before a call.

A report other than ``add`` is only made for a key that has an ``add``: the one of the ticket, or
of any ticket it continues (``Visit.parent``, up to the registration ticket). A reservation is
cancelled at central only before its check-in, when BPJS has not heard of it: nothing to cancel.

``send_due`` (a thread of central's sync worker) sends the due rows in their order per key (a
``panggil`` waits until its ``add`` is sent), through ``bpjs.antrean.AntreanClient``. The poli
code, doctor and practice hours BPJS wants are read from its reference lists at sending time
(a Rosma poli matches the BPJS poli of the same name, e.g. GIGI and "GIGI & MULUT"). A row is
claimed before its request (``next_at`` moves past the request's longest time), so a worker that
dies mid-request retries it later; BPJS answering "already held" to a retried ``add`` or
``batal`` counts as sent. Retryable failures (time-out, unreachable, 5xx, a damaged answer, a
refused signature or account) are tried again with a doubling delay up to ``BACKOFF_CAP_S``;
after ``MAX_ATTEMPTS`` tries, or at once for a refusal BPJS means (code 201 and the like), the
row is ``failed`` with the Indonesian reason, for the back office (``/petugas/bpjs``) to send
again. Card numbers and NIKs stay in the payload: never in logs.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass, field

from peewee import fn

from bpjs import antrean
from bpjs.antrean import AntreanBaru, AntreanClient
from bpjs.errors import BpjsError
from bpjs.pcare import PcareClient
from central import bpjs_credentials
from central.models import (
    BpjsReport,
    BpjsWalkin,
    Node,
    Patient,
    Poli,
    Puskesmas,
    Reservation,
    Visit,
    database,
    utcnow,
)

log = logging.getLogger(__name__)

KINDS = {"add": "Tambah antrean", "panggil": "Panggil (hadir)", "absen": "Tidak hadir", "batal": "Batal"}
MAX_ATTEMPTS = 8
BACKOFF_S = 30.0  # the first retry; doubled for each further one
BACKOFF_CAP_S = 1800.0
BATCH = 50
# BPJS's view of these members makes an add pointless (PCare said so at the reservation)
SKIP_STATUSES = frozenset({"tidak_aktif", "tidak_terdaftar", "fktp_lain"})
ALASAN_BATAL = "Antrean dibatalkan di puskesmas"
_CARD = re.compile(r"[0-9]{13}")
_NIK = re.compile(r"[0-9]{16}")
_WORDS = re.compile(r"[A-Z0-9]+")
MAX_CHAIN = 20  # transfers one ticket can have been through (a loop in bad data ends here)


def for_puskesmas(code: str):
    """This puskesmas's BPJS settings, or None when BPJS is not configured for it."""
    return bpjs_credentials.for_puskesmas(code)


# ---- enqueueing, inside the ingest transaction ---------------------------------------------------


def _enqueue(puskesmas_id: int, kind: str, key: str, payload: dict) -> None:
    BpjsReport.insert(
        puskesmas=puskesmas_id,
        kind=kind,
        key=key[:80],
        payload=json.dumps(payload, ensure_ascii=False, sort_keys=True),
        state="pending",
        created_at=utcnow(),
    ).on_conflict_ignore().execute()


def _configured(puskesmas_id: int) -> bool:
    code = Puskesmas.select(Puskesmas.code).where(Puskesmas.id == puskesmas_id).scalar()
    return code is not None and for_puskesmas(code) is not None


def _phone(raw: str | None) -> str:
    digits = "".join(ch for ch in raw or "" if ch.isascii() and ch.isdigit())
    return "0" + digits[2:] if digits.startswith("62") else digits


def _number(label: str, number: int = 0) -> int:
    if number:
        return number
    digits = "".join(ch for ch in label if ch.isdigit())
    return int(digits) if digits else 0


def _add_for_reservation(node: Node, rid: str | None, label: str, number: int, day: str | None) -> None:
    if not rid or not label:
        return
    r = Reservation.get_or_none((Reservation.rid == rid) & (Reservation.puskesmas == node.puskesmas_id))
    given = (r.bpjs_no or "") if r is not None else ""  # a card number or a NIK
    if r is None or r.payer != "BPJS" or not (_CARD.fullmatch(given) or _NIK.fullmatch(given)):
        return
    if (r.bpjs_status or "") in SKIP_STATUSES:
        return
    if BpjsReport.select().where((BpjsReport.kind == "add") & (BpjsReport.key == rid)).exists():
        return  # a resent event, or the check-in after its ticket
    if not _configured(node.puskesmas_id):
        return
    patient = r.patient if r.patient_id is not None else None
    nik = given if _NIK.fullmatch(given) else patient.nik if patient is not None else (r.nik or "")
    phone = patient.phone if patient is not None else (r.phone or "")
    payload = {
        "tanggal": day or r.date.isoformat(),
        "poli": r.poli.code,
        "poli_nama": r.poli.name,
        "kartu": given if _CARD.fullmatch(given) else "",  # "": learned from PCare when sent
        "nik": nik if _NIK.fullmatch(nik or "") else "",
        "hp": _phone(phone),
        "label": label,
        "angka": _number(label, number),
        "jam": r.slot,
    }
    _enqueue(node.puskesmas_id, "add", rid, payload)


def _chain(node: Node, visit: Visit) -> list[Visit]:
    """The visit and the tickets it continues (``parent``), itself first, its registration ticket last."""
    chain = [visit]
    seen = {visit.ticket_key}
    while chain[-1].parent and chain[-1].parent not in seen and len(chain) < MAX_CHAIN:
        parent = Visit.get_or_none((Visit.node == node) & (Visit.ticket_key == chain[-1].parent))
        if parent is None:
            break
        seen.add(parent.ticket_key)
        chain.append(parent)
    return chain


def walkin_key(node: Node, ticket_key: str) -> str:
    """The idempotency key of a walk-in's reports: its node and its registration ticket."""
    return f"{node.node_id}:{ticket_key}"


def _add_for_walkin(node: Node, root_key: str, label: str, poli_code: str | None, day: str) -> bool:
    """Enqueue the ``add`` of the walk-in whose registration ticket is ``root_key``, now at
    ``poli_code`` with ticket ``label``; True when there is one (new or already stored)."""
    if not poli_code or not label:
        return False
    w = BpjsWalkin.get_or_none((BpjsWalkin.node == node) & (BpjsWalkin.ticket_key == root_key))
    if w is None or not (_CARD.fullmatch(w.kartu) or _NIK.fullmatch(w.nik)) or w.membership in SKIP_STATUSES:
        return False
    key = walkin_key(node, root_key)
    if BpjsReport.select().where((BpjsReport.kind == "add") & (BpjsReport.key == key)).exists():
        return True  # a resent event, or a second transfer
    if not _configured(node.puskesmas_id):
        return False
    poli = Poli.get_or_none((Poli.puskesmas == node.puskesmas_id) & (Poli.code == poli_code))
    patient = Patient.get_or_none(Patient.nik == w.nik) if w.nik else None
    payload = {
        "tanggal": day,
        "poli": poli_code,
        "poli_nama": poli.name if poli is not None else poli_code,
        "kartu": w.kartu,  # "": learned from PCare when sent
        "nik": w.nik,
        "hp": _phone(patient.phone) if patient is not None else "",
        "label": label,
        "angka": _number(label),
        "jam": "",  # a walk-in has no reserved hour
    }
    _enqueue(node.puskesmas_id, "add", key, payload)
    return True


def on_issued(node: Node, e) -> None:
    """A ticket was issued: a BPJS reservation's check-in ticket, or the poli ticket a BPJS
    walk-in is sent on with from the loket, is reported (``add``)."""
    if e.payer == "BPJS" and e.rid and e.kind == "reservation":
        _add_for_reservation(node, e.rid, e.label, e.number, e.day)
    elif e.payer == "BPJS" and e.kind == "transfer" and e.parent and e.poli:
        visit = Visit.get_or_none((Visit.node == node) & (Visit.ticket_key == e.ticket))
        if visit is None:
            return
        root = _chain(node, visit)[-1]
        if root.rid is None:  # a reservation's ticket sent on to another poli has its add already
            _add_for_walkin(node, root.parent or root.ticket_key, e.label, e.poli, e.day)


def on_walkin_checked(node: Node, ticket_key: str) -> None:
    """A walk-in's membership was (again) checked: if her ticket is already at a poli, the ``add``
    that its transfer could not make then is made now, with the call and no-show since."""
    sent_on = (
        Visit.select()
        .where(
            (Visit.node == node)
            & (Visit.parent == ticket_key)
            & (Visit.kind == "transfer")
            & (Visit.payer == "BPJS")
            & Visit.poli.is_null(False)
        )
        .order_by(Visit.id)
        .first()
    )
    if sent_on is None or _add_of(node, sent_on) is not None:
        return
    if not _add_for_walkin(node, ticket_key, sent_on.label, sent_on.poli, sent_on.day.isoformat()):
        return
    add = _add_of(node, sent_on)
    if add is None:
        return
    if sent_on.called_at:
        _follow_up(add, "panggil", status=antrean.HADIR, waktu=sent_on.called_at)
    if sent_on.state == "no_show" and sent_on.done_at:
        _follow_up(add, "absen", status=antrean.TIDAK_HADIR, waktu=sent_on.done_at)
    elif sent_on.state == "cancelled" and sent_on.done_at:
        if sent_on.called_at:
            _follow_up(add, "absen", status=antrean.TIDAK_HADIR, waktu=sent_on.done_at)
        else:
            _follow_up(add, "batal", alasan=ALASAN_BATAL)


def on_checked_in(node: Node, e) -> None:
    """A reservation was checked in (the same ``add`` as its ticket's; stored once)."""
    visit = Visit.get_or_none((Visit.node == node) & (Visit.ticket_key == e.ticket))
    _add_for_reservation(node, e.rid, e.label, 0, visit.day.isoformat() if visit is not None else None)


def _add_of(node: Node, visit: Visit) -> BpjsReport | None:
    """The ``add`` of the visit, or of a ticket it continues (a walk-in's is her registration ticket's)."""
    if visit.payer != "BPJS":
        return None
    chain = _chain(node, visit)
    keys = [k for v in chain for k in (v.rid, walkin_key(node, v.ticket_key)) if k]
    if chain[-1].parent:  # a ticket it continues that central does not hold
        keys.append(walkin_key(node, chain[-1].parent))
    return (
        BpjsReport.select()
        .where((BpjsReport.kind == "add") & BpjsReport.key.in_(keys) & (BpjsReport.puskesmas == node.puskesmas_id))
        .order_by(BpjsReport.id)
        .first()
    )


def _follow_up(add: BpjsReport, kind: str, **extra) -> None:
    p = json.loads(add.payload)
    payload = {"tanggal": p["tanggal"], "poli": p["poli"], "poli_nama": p["poli_nama"], "kartu": p["kartu"]}
    payload["nik"] = p.get("nik", "")
    payload["label"] = p.get("label", "")
    payload.update(extra)
    _enqueue(add.puskesmas_id, kind, add.key, payload)


def on_called(node: Node, e, visit: Visit) -> None:
    """A ticket was called: ``panggil`` (hadir) once per reported ``add`` (a recall adds nothing)."""
    add = _add_of(node, visit)
    if add is not None:
        _follow_up(add, "panggil", status=antrean.HADIR, waktu=e.at)


def on_finished(node: Node, e, visit: Visit, state: str) -> None:
    """No-show: ``absen``. Cancelled: ``batal`` before a call, ``absen`` after one."""
    if state not in ("no_show", "cancelled"):
        return
    add = _add_of(node, visit)
    if add is None:
        return
    called = BpjsReport.select().where((BpjsReport.kind == "panggil") & (BpjsReport.key == add.key)).exists()
    if state == "no_show" or called:
        _follow_up(add, "absen", status=antrean.TIDAK_HADIR, waktu=e.at)
    else:
        _follow_up(add, "batal", alasan=ALASAN_BATAL)


# ---- sending -------------------------------------------------------------------------------------


class _NotSendable(Exception):
    """The report cannot be sent as it is (BPJS's reference lists lack its poli or doctor)."""


@dataclass
class _Pass:
    """What one run of ``send_due`` learns once: clients and BPJS's reference lists."""

    clients: dict = field(default_factory=dict)
    pcare: dict = field(default_factory=dict)
    polis: dict = field(default_factory=dict)
    doctors: dict = field(default_factory=dict)

    def client(self, code: str) -> AntreanClient | None:
        if code not in self.clients:
            config = for_puskesmas(code)
            self.clients[code] = AntreanClient(config) if config is not None else None
        return self.clients[code]


def _card(run: _Pass, code: str, row: BpjsReport, p: dict) -> str:
    """The report's card number: its own, or PCare's for its NIK (kept on every report of the key)."""
    if p.get("kartu"):
        return p["kartu"]
    if not p.get("nik"):
        raise _NotSendable("Nomor kartu BPJS dan NIK pasien tidak ada; laporan tidak dapat dikirim.")
    if code not in run.pcare:
        run.pcare[code] = PcareClient(run.client(code).config)
    member = run.pcare[code].peserta(p["nik"])
    if not _CARD.fullmatch(member.card_number or ""):
        raise _NotSendable(f"NIK pasien tidak ditemukan sebagai peserta BPJS: {member.message}"[:200])
    with database.atomic():
        for other in BpjsReport.select().where((BpjsReport.key == row.key) & (BpjsReport.state != "sent")):
            data = json.loads(other.payload)
            data["kartu"] = member.card_number
            BpjsReport.update(payload=json.dumps(data, ensure_ascii=False, sort_keys=True)).where(
                BpjsReport.id == other.id
            ).execute()
    p["kartu"] = member.card_number
    return member.card_number


def _norm(text: str) -> list[str]:
    return _WORDS.findall((text or "").upper())


def _poli(run: _Pass, client: AntreanClient, code: str, p: dict) -> antrean.Poli:
    day = dt.date.fromisoformat(p["tanggal"])
    cache = (code, day)
    if cache not in run.polis:
        run.polis[cache] = client.ref_poli(day)
    ours = {" ".join(_norm(p["poli"]))}
    name = _norm(p.get("poli_nama", ""))
    if name[:1] == ["POLI"]:
        name = name[1:]
    ours.add(" ".join(name))
    ours.discard("")
    for poli in run.polis[cache]:
        words = _norm(poli.namapoli)
        if poli.kodepoli in ours or " ".join(words) in ours or (words and words[0] in ours):
            return poli
    raise _NotSendable(
        f"{p.get('poli_nama') or p['poli']} tidak ada dalam referensi poli BPJS pada {p['tanggal']}. "
        "Periksa nama poli di pengaturan dan jadwal poli di BPJS."
    )


def _doctor(run: _Pass, client: AntreanClient, code: str, poli: antrean.Poli, p: dict) -> antrean.Dokter:
    day = dt.date.fromisoformat(p["tanggal"])
    cache = (code, poli.kodepoli, day)
    if cache not in run.doctors:
        run.doctors[cache] = client.ref_dokter(poli.kodepoli, day)
    doctors = run.doctors[cache]
    if not doctors:
        raise _NotSendable(f"Tidak ada jadwal dokter {poli.namapoli} di BPJS pada {p['tanggal']}.")
    start = (p.get("jam") or "")[:5]
    for d in doctors:
        hours = d.jampraktek.split("-")
        if len(hours) == 2 and start and hours[0] <= start < hours[1]:
            return d
    return doctors[0]


def _send(run: _Pass, client: AntreanClient, code: str, row: BpjsReport) -> antrean.Outcome:
    p = json.loads(row.payload)
    card = _card(run, code, row, p)
    poli = _poli(run, client, code, p)
    day = dt.date.fromisoformat(p["tanggal"])
    if row.kind == "add":
        doctor = _doctor(run, client, code, poli, p)
        return client.add(
            AntreanBaru(
                nomorkartu=card,
                nik=p.get("nik", ""),
                nohp=p.get("hp", ""),
                kodepoli=poli.kodepoli,
                namapoli=poli.namapoli,
                tanggalperiksa=day,
                nomorantrean=p["label"],
                angkaantrean=int(p["angka"]),
                kodedokter=doctor.kodedokter,
                namadokter=doctor.namadokter,
                jampraktek=doctor.jampraktek,
                keterangan=f"Reservasi jam {p['jam']} WIB" if p.get("jam") else "",
            )
        )
    if row.kind in ("panggil", "absen"):
        when = dt.datetime.fromisoformat(p["waktu"])
        return client.panggil(day, poli.kodepoli, card, int(p["status"]), when)
    if row.kind == "batal":
        return client.batal(day, poli.kodepoli, card, p.get("alasan") or ALASAN_BATAL)
    raise _NotSendable(f"Jenis laporan {row.kind!r} tidak dikenal.")


def backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` tries."""
    return min(BACKOFF_S * 2 ** max(attempts - 1, 0), BACKOFF_CAP_S)


def _lease_s(client: AntreanClient | None) -> float:
    """Longer than one report can take (up to four requests, each connect + read)."""
    if client is None:
        return 60.0
    c = client.config
    return 4 * (c.connect_timeout + c.read_timeout) + 30.0


def due(now: dt.datetime | None = None, limit: int = BATCH) -> list[BpjsReport]:
    """Pending rows whose time has come and whose earlier reports (same key) are all sent."""
    now = now or utcnow()
    prior = BpjsReport.alias()
    blocked = prior.select(prior.id).where(  # every kind named, so the (kind, key) index finds them
        prior.kind.in_(tuple(KINDS))
        & (prior.key == BpjsReport.key)
        & (prior.id < BpjsReport.id)
        & (prior.state != "sent")
    )
    return list(
        BpjsReport.select(BpjsReport, Puskesmas)
        .join(Puskesmas)
        .where(
            (BpjsReport.state == "pending")
            & (BpjsReport.next_at.is_null() | (BpjsReport.next_at <= now))
            & ~fn.EXISTS(blocked)
        )
        .order_by(BpjsReport.id)
        .limit(limit)
    )


def _claim(row: BpjsReport, now: dt.datetime, lease_s: float) -> bool:
    """Take the row for one try (another worker, or a later pass, leaves it alone meanwhile)."""
    with database.atomic():
        taken = (
            BpjsReport.update(next_at=now + dt.timedelta(seconds=lease_s), attempts=BpjsReport.attempts + 1)
            .where((BpjsReport.id == row.id) & (BpjsReport.state == "pending") & (BpjsReport.attempts == row.attempts))
            .execute()
        )
    if taken:
        row.attempts += 1
    return bool(taken)


def _settle(row: BpjsReport, now: dt.datetime, state: str, error: str, next_at: dt.datetime | None = None) -> None:
    values = {"state": state, "last_error": error[:200], "next_at": next_at}
    if state == "sent":
        values["sent_at"] = now
    with database.atomic():
        BpjsReport.update(**values).where(BpjsReport.id == row.id).execute()


def send_due(now: dt.datetime | None = None, rounds: int = 4) -> int:
    """Send the due reports once each; returns how many were sent (BPJS took or already held them).

    A report whose earlier one (e.g. a panggil's add) is sent in this run is sent in the next
    round of the same run, up to ``rounds`` rounds."""
    now = now or utcnow()
    run = _Pass()
    sent = 0
    for _ in range(rounds):
        rows = due(now)
        if not rows:
            break
        done = _send_rows(run, rows, now)
        sent += done
        if not done:
            break
    return sent


def _send_rows(run: _Pass, rows: list[BpjsReport], now: dt.datetime) -> int:
    sent = 0
    for row in rows:
        code = row.puskesmas.code
        client = run.client(code)
        if not _claim(row, now, _lease_s(client)):
            continue
        if client is None:
            _retry(row, now, "BPJS belum diatur untuk puskesmas ini (berkas kredensial BPJS).")
            continue
        try:
            outcome = _send(run, client, code, row)
        except BpjsError as err:
            if err.retryable or err.kind == "auth":
                _retry(row, now, err.message)
            else:
                _fail(row, now, err.message)
            continue
        except _NotSendable as err:
            _fail(row, now, str(err))
            continue
        except (KeyError, TypeError, ValueError) as err:
            _fail(row, now, f"Data laporan tidak lengkap ({type(err).__name__}).")
            continue
        _settle(row, now, "sent", "Sudah tercatat di BPJS sebelumnya." if outcome.already else "")
        log.info("Antrean FKTP %s of report %d sent (puskesmas %s)", row.kind, row.id, code)
        sent += 1
    return sent


def _retry(row: BpjsReport, now: dt.datetime, message: str) -> None:
    if row.attempts >= MAX_ATTEMPTS:
        _fail(row, now, message)
        return
    delay = backoff(row.attempts)
    _settle(row, now, "pending", message, now + dt.timedelta(seconds=delay))
    log.warning("Antrean FKTP %s of report %d: try %d failed, again in %.0f s", row.kind, row.id, row.attempts, delay)


def _fail(row: BpjsReport, now: dt.datetime, message: str) -> None:
    _settle(row, now, "failed", message)
    log.error("Antrean FKTP %s of report %d failed after %d tries", row.kind, row.id, row.attempts)


def resend(row: BpjsReport) -> None:
    """Send a failed (or waiting) report again as soon as possible, with a fresh count of tries."""
    BpjsReport.update(state="pending", attempts=0, next_at=None).where(
        (BpjsReport.id == row.id) & (BpjsReport.state != "sent")
    ).execute()
