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
import threading
from pathlib import Path

from peewee import IntegrityError

from central import keys
from central.models import PushMessage, PushSubscription, Reservation, Visit, database, utcnow
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
_settings: dict = {"services": DEFAULT_SERVICES, "contact": "mailto:rosma@localhost"}
_lock = threading.Lock()


class SubscriptionError(ValueError):
    """A subscription the browser sent is not usable; ``str(e)`` is for the patient (Indonesian)."""


def configure(services: list[str] | tuple[str, ...], contact: str) -> None:
    """The push services central may contact and its VAPID contact (the runtime calls this)."""
    _settings.update(services=tuple(services), contact=contact)


def _vapid_path() -> Path:
    return keys._file("vapid").with_name("vapid.pem")


def _vapid():
    from py_vapid import Vapid

    path = _vapid_path()
    with _lock:
        if not path.exists():
            v = Vapid()
            v.generate_keys()
            pem = v.private_pem().decode()
            write_private_file(path, pem)
            log.info("made the Web Push (VAPID) key pair %s", path)
        return Vapid.from_file(str(path))


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
    if not wanted.exists():  # nobody asked: nothing to look at (the common case)
        return
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
        words = "Anda berikutnya" if ahead == 0 else f"{ahead} nomor lagi"
        _enqueue(
            ids[v.rid],
            f"near:{v.id}",
            f"{words}: {v.label}",
            f"Antrean {visit.destination or e.destination} baru memanggil {visit.label} ({at} WIB). Bersiaplah.",
            f"/antrian/{visit.puskesmas.code}?nomor={v.label}",
        )


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
