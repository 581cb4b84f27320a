"""Web Push to the patient's phone: "3 nomor lagi" and "Nomor Anda dipanggil ke Poli Umum".

A patient asks for it on her reservation's page; her browser gives a push subscription (the push
service's endpoint and the browser's keys), kept in ``PushSubscription`` for that reservation.
When central applies a call from the edge (``central.ingest``), ``on_called`` stores what to send
in ``PushMessage`` in the same transaction, once per subscription and message (its ``key``):

- "called" for the reservation's own ticket (not for a recall): the number, the room, the time;
- "near" for a reservation's ticket still waiting in the queue just called, when at most
  ``NEAR`` tickets wait before it (by the order they were issued; a priority number may still
  go first).

A thread of ``rosma central sync`` sends the pending rows (``send_due``) with VAPID (RFC 8292,
pywebpush; the key pair is ``<keys_dir>/vapid.pem``, 0600, made on first use) and the payload
encrypted for the browser (RFC 8291). A push service answering 404 or 410 means the subscription
is gone: it is switched off. Other failures are retried (30 s, doubling, ``MAX_ATTEMPTS``). Only
endpoints under the push services in the config (``push_services``) are ever contacted: a
subscription is data from the browser, and central must not be made to call anywhere else.
Nothing personal is sent: the ticket number, the room and the time only.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import threading
from pathlib import Path

from peewee import IntegrityError

from central import keys
from central.core.calendar import format_date
from central.models import (
    Patient,
    PhoneReminder,
    Poli,
    PushMessage,
    PushSubscription,
    Puskesmas,
    Reservation,
    Visit,
    database,
    utcnow,
)
from infra.files import write_private_file

log = logging.getLogger(__name__)

NEAR = 3
MAX_ATTEMPTS = 6
BACKOFF_S = 30.0
BATCH = 50
TTL_S = 30 * 60  # a "3 nomor lagi" half an hour late is no use
DEFAULT_SERVICES = (
    "https://fcm.googleapis.com/",
    "https://updates.push.services.mozilla.com/",
    "https://web.push.apple.com/",
)
_settings: dict = {"services": DEFAULT_SERVICES, "contact": "mailto:rosma@localhost", "notifier": None}
REMIND_FROM_HOUR = 16  # the day-before reminder goes out from 16.00 WIB
TEMPLATE = "rosma_pengingat"  # the WhatsApp template: {{1}} what, {{2}} when, {{3}} where
_lock = threading.Lock()


class SubscriptionError(ValueError):
    """A subscription the browser sent is not usable; ``str(e)`` is for the patient (Indonesian)."""


def configure(services: list[str] | tuple[str, ...], contact: str, notifier=None) -> None:
    """The push services central may contact, its VAPID contact and the notification port for
    WhatsApp / SMS reminders (the runtime and ``rosma central sync`` call this)."""
    _settings.update(services=tuple(services), contact=contact, notifier=notifier)


def _vapid_path() -> Path:
    return keys._file("vapid").with_name("vapid.pem")


def ensure_vapid() -> Path:
    """Make the Web Push (VAPID) key pair unless it exists. Several processes (web processes, sync
    workers) may race to make it: the file appears at once and whole (a hard link of a finished
    file, which fails if another process linked first), so every process uses the same key."""
    from py_vapid import Vapid

    path = _vapid_path()
    with _lock:
        if not path.exists():
            v = Vapid()
            v.generate_keys()
            draft = write_private_file(path.with_name(f".vapid.{os.getpid()}.pem"), v.private_pem().decode())
            try:
                os.link(draft, path)
                log.info("made the Web Push (VAPID) key pair %s", path)
            except FileExistsError:
                pass  # another process made it first: use that one
            finally:
                draft.unlink()
    return path


def _vapid():
    from py_vapid import Vapid

    return Vapid.from_file(str(ensure_vapid()))


def public_key() -> str:
    """The application server key a page gives ``PushManager.subscribe`` (base64url, uncompressed P-256)."""
    from cryptography.hazmat.primitives import serialization

    raw = _vapid().public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64(text, size: int) -> str:
    if not isinstance(text, str) or len(text) > 200:
        raise SubscriptionError("Data langganan pemberitahuan dari peramban tidak valid.")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raise SubscriptionError("Data langganan pemberitahuan dari peramban tidak valid.") from None
    if len(raw) != size:
        raise SubscriptionError("Data langganan pemberitahuan dari peramban tidak valid.")
    return text


def subscribe(reservation: Reservation, data) -> PushSubscription:
    """Keep the browser's subscription for ``reservation`` (its owner asked); raises SubscriptionError."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
        raise SubscriptionError("Data langganan pemberitahuan dari peramban tidak valid.")
    endpoint = data.get("endpoint")
    if not isinstance(endpoint, str) or len(endpoint) > 1000 or not endpoint.startswith(_settings["services"]):
        raise SubscriptionError("Layanan pemberitahuan peramban ini tidak dikenal; pemberitahuan tidak dapat dipasang.")
    p256dh = _b64(data["keys"].get("p256dh"), 65)
    auth = _b64(data["keys"].get("auth"), 16)
    with database.atomic():
        try:
            with database.atomic():
                sub = PushSubscription.create(
                    patient=reservation.patient_id,
                    reservation=reservation.id,
                    endpoint=endpoint,
                    p256dh=p256dh,
                    auth=auth,
                )
        except IntegrityError:
            sub = PushSubscription.get(
                (PushSubscription.reservation == reservation.id) & (PushSubscription.endpoint == endpoint)
            )
            PushSubscription.update(p256dh=p256dh, auth=auth, active=True).where(
                PushSubscription.id == sub.id
            ).execute()
    log.info("push subscription %d for reservation %s", sub.id, reservation.rid)
    return sub


def unsubscribe(reservation: Reservation) -> int:
    """Switch off every subscription of ``reservation``; returns how many."""
    return (
        PushSubscription.update(active=False)
        .where((PushSubscription.reservation == reservation.id) & PushSubscription.active)
        .execute()
    )


def subscribed(reservation: Reservation) -> bool:
    return (
        PushSubscription.select()
        .where((PushSubscription.reservation == reservation.id) & PushSubscription.active)
        .exists()
    )


# ---- made inside the ingest transaction ------------------------------------------------------


def _enqueue(reservation_id: int, key: str, title: str, body: str, url: str) -> None:
    subs = PushSubscription.select().where((PushSubscription.reservation == reservation_id) & PushSubscription.active)
    for sub in subs:
        PushMessage.insert(
            subscription=sub.id, key=key[:80], title=title[:100], body=body[:200], url=url[:200]
        ).on_conflict_ignore().execute()


def _rid_ids(rids: list[str], puskesmas_id: int) -> dict[str, int]:
    if not rids:
        return {}
    rows = Reservation.select(Reservation.id, Reservation.rid).where(
        Reservation.rid.in_(rids) & (Reservation.puskesmas == puskesmas_id)
    )
    return {r.rid: r.id for r in rows}


def on_called(e, visit: Visit) -> None:
    """A ticket was called (``central.ingest``): tell its patient, and those a few places behind."""
    wanted = PushSubscription.select(PushSubscription.id).where(PushSubscription.active)
    if not wanted.exists() and not Patient.select(Patient.id).where(Patient.remind_turn_near).exists():
        return  # nobody asked: nothing to look at
    at = e.at[11:16].replace(":", ".")
    ids = _rid_ids([visit.rid] if visit.rid else [], visit.puskesmas_id)
    if visit.rid in ids and not e.recall:
        _enqueue(
            ids[visit.rid],
            f"called:{visit.id}",
            f"Nomor {visit.label} dipanggil",
            f"Silakan menuju {e.destination} sekarang ({at} WIB).",
            f"/antrian/{visit.puskesmas.code}?nomor={visit.label}",
        )
    waiting = list(
        Visit.select(Visit.id, Visit.rid, Visit.label, Visit.issued_at, Visit.puskesmas)
        .where(
            (Visit.puskesmas == visit.puskesmas_id)
            & (Visit.day == visit.day)
            & (Visit.queue == visit.queue)
            & (Visit.state == "waiting")
        )
        .order_by(Visit.issued_at, Visit.id)
    )
    near = [(ahead, v) for ahead, v in enumerate(waiting[: NEAR + 1]) if v.rid]
    ids = _rid_ids([v.rid for _, v in near], visit.puskesmas_id)
    for ahead, v in near:
        if v.rid not in ids:
            continue
        _remind_near(ids[v.rid], v, ahead, visit.destination or e.destination, at)
        words = "Anda berikutnya" if ahead == 0 else f"{ahead} nomor lagi"
        _enqueue(
            ids[v.rid],
            f"near:{v.id}",
            f"{words}: {v.label}",
            f"Antrean {visit.destination or e.destination} baru memanggil {visit.label} ({at} WIB). Bersiaplah.",
            f"/antrian/{visit.puskesmas.code}?nomor={v.label}",
        )


def _remind_near(reservation_id: int, v: Visit, ahead: int, room: str, at: str) -> None:
    r = Reservation.select(Reservation, Patient).join(Patient).where(Reservation.id == reservation_id).first()
    if r is None or not r.patient.remind_turn_near:
        return
    what = "Nomor Anda berikutnya" if ahead == 0 else f"Tinggal {ahead} nomor lagi sebelum nomor Anda"
    text = f"Rosma: {what} ({v.label}) di {room}. Pukul {at} WIB. Silakan bersiap."
    PhoneReminder.insert(
        patient=r.patient_id,
        reservation=r.id,
        key=f"dekat:{v.id}",
        text=text[:300],
        params=json.dumps([f"{what} ({v.label})", f"pukul {at} WIB", room]),
    ).on_conflict_ignore().execute()


def remind_tomorrow(now_wib: dt.datetime) -> int:
    """Queue the day-before reminders of tomorrow's active reservations whose patients chose them
    (from ``REMIND_FROM_HOUR`` WIB; once each: ``reminded_at``). Returns how many were queued."""
    if now_wib.hour < REMIND_FROM_HOUR:
        return 0
    tomorrow = now_wib.date() + dt.timedelta(days=1)
    rows = list(
        Reservation.select(Reservation, Patient, Puskesmas, Poli)
        .join(Patient)
        .switch(Reservation)
        .join(Puskesmas)
        .switch(Reservation)
        .join(Poli)
        .where(
            (Reservation.date == tomorrow)
            & (Reservation.status == "active")
            & Reservation.reminded_at.is_null()
            & Patient.remind_day_before
        )
        .limit(200)
    )
    for r in rows:
        when = f"besok {format_date(r.date)} pukul {r.slot[:5].replace(':', '.')} WIB"
        where = f"{r.poli.name}, {r.puskesmas.name}"
        bring = "KTP dan kartu BPJS" if r.payer == "BPJS" else "KTP"
        text = f"Pengingat Rosma: reservasi Anda {when} di {where}. Bawa {bring}."
        with database.atomic():
            PhoneReminder.insert(
                patient=r.patient_id,
                reservation=r.id,
                key="besok",
                text=text[:300],
                params=json.dumps(["Reservasi Anda", when, where]),
            ).on_conflict_ignore().execute()
            Reservation.update(reminded_at=utcnow()).where(Reservation.id == r.id).execute()
    return len(rows)


def send_reminders_due(now: dt.datetime | None = None) -> int:
    """Send the due WhatsApp / SMS reminders through the notification port; returns how many went."""
    from infra.notify.base import KIND_INFO, Notification, NotifyError

    notifier = _settings["notifier"]
    if notifier is None or not notifier.reaches_phones:
        return 0
    now = now or utcnow()
    rows = list(
        PhoneReminder.select(PhoneReminder, Patient)
        .join(Patient)
        .where((PhoneReminder.state == "pending") & (PhoneReminder.next_at <= now))
        .order_by(PhoneReminder.id)
        .limit(BATCH)
    )
    sent = 0
    for row in rows:
        claimed = (
            PhoneReminder.update(next_at=now + dt.timedelta(seconds=60), attempts=PhoneReminder.attempts + 1)
            .where((PhoneReminder.id == row.id) & (PhoneReminder.state == "pending") & (PhoneReminder.next_at <= now))
            .execute()
        )
        if not claimed:
            continue
        try:
            note = Notification(
                phone=row.patient.phone,
                template=TEMPLATE,
                params=tuple(json.loads(row.params)),
                text=row.text,
                kind=KIND_INFO,
            )
            notifier.send(note)
        except (NotifyError, ValueError) as exc:
            attempts = row.attempts + 1
            if attempts >= MAX_ATTEMPTS or isinstance(exc, ValueError):
                PhoneReminder.update(state="failed", error=str(exc)[:200]).where(PhoneReminder.id == row.id).execute()
            else:
                PhoneReminder.update(
                    next_at=now + dt.timedelta(seconds=BACKOFF_S * 2 ** (attempts - 1)), error=str(exc)[:200]
                ).where(PhoneReminder.id == row.id).execute()
            log.warning("reminder %d not sent: %s", row.id, type(exc).__name__)
            continue
        PhoneReminder.update(state="sent", sent_at=utcnow(), error="").where(PhoneReminder.id == row.id).execute()
        sent += 1
    return sent


# ---- sending, by central's sync worker ---------------------------------------------------------


def due(now: dt.datetime | None = None, limit: int = BATCH) -> list[PushMessage]:
    now = now or utcnow()
    return list(
        PushMessage.select(PushMessage, PushSubscription)
        .join(PushSubscription)
        .where((PushMessage.state == "pending") & (PushMessage.next_at <= now))
        .order_by(PushMessage.id)
        .limit(limit)
    )


def send_due(now: dt.datetime | None = None) -> int:
    """Send what is due; returns how many were delivered to their push service."""
    from pywebpush import WebPushException, webpush

    now = now or utcnow()
    rows = due(now)
    if not rows:
        return 0
    vapid = _vapid()
    sent = 0
    for row in rows:
        # claimed first: a worker that stops mid-request tries it again later, never twice at once
        claimed = (
            PushMessage.update(next_at=now + dt.timedelta(seconds=60), attempts=PushMessage.attempts + 1)
            .where((PushMessage.id == row.id) & (PushMessage.state == "pending") & (PushMessage.next_at <= now))
            .execute()
        )
        if not claimed:
            continue
        sub = row.subscription
        if not sub.active or not sub.endpoint.startswith(_settings["services"]):
            PushMessage.update(state="gone", error="langganan tidak aktif").where(PushMessage.id == row.id).execute()
            continue
        payload = json.dumps({"title": row.title, "body": row.body, "url": row.url, "tag": row.key}, ensure_ascii=False)
        info = {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
        try:
            webpush(
                info,
                data=payload,
                vapid_private_key=vapid,
                vapid_claims={"sub": _settings["contact"]},
                ttl=TTL_S,
                timeout=10,
            )
        except WebPushException as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status in (404, 410):
                PushSubscription.update(active=False).where(PushSubscription.id == sub.id).execute()
                PushMessage.update(state="gone", error=f"HTTP {status}").where(PushMessage.id == row.id).execute()
                log.info("push subscription %d is gone (HTTP %s); switched off", sub.id, status)
                continue
            _retry(row, now, f"HTTP {status}" if status else type(exc).__name__)
            continue
        except Exception as exc:  # unreachable, time-out: the push service is another party
            _retry(row, now, type(exc).__name__)
            continue
        PushMessage.update(state="sent", sent_at=utcnow(), error="").where(PushMessage.id == row.id).execute()
        sent += 1
    if sent:
        log.info("sent %d push notification(s)", sent)
    return sent


def _retry(row: PushMessage, now: dt.datetime, reason: str) -> None:
    attempts = row.attempts + 1
    if attempts >= MAX_ATTEMPTS:
        PushMessage.update(state="failed", error=reason[:200]).where(PushMessage.id == row.id).execute()
        log.warning("push notification %d failed after %d tries: %s", row.id, attempts, reason)
        return
    delay = BACKOFF_S * 2 ** (attempts - 1)
    PushMessage.update(next_at=now + dt.timedelta(seconds=delay), error=reason[:200]).where(
        PushMessage.id == row.id
    ).execute()
