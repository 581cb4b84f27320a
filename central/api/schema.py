"""How patients, puskesmas and reservations look in the API's JSON."""

from __future__ import annotations

from flask import url_for

from central import bpjs_membership, runtime
from central.core import reservations as rules
from central.models import Patient, Puskesmas, Reservation
from protocol import nik as nikrules


def patient(p: Patient) -> dict:
    """A patient's own profile: the NIK masked, no birth date."""
    return {
        "id": p.id,
        "name": p.name,
        "nik": nikrules.mask(p.nik),
        "sex": p.sex,
        "address": p.address,
        "phone": p.phone,
    }


def token(t, current: bool = False) -> dict:
    """An API token as its owner sees it (never the token itself)."""
    return {
        "id": t.id,
        "name": t.name,
        "created_at": t.created_at.isoformat(timespec="seconds") + "Z",
        "last_used": t.last_used.isoformat(timespec="seconds") + "Z" if t.last_used else None,
        "expires_at": t.expires_at.isoformat(timespec="seconds") + "Z",
        "current": current,
    }


def puskesmas(place: Puskesmas) -> dict:
    """A puskesmas with its poli (``place.poli_list`` must be loaded)."""
    return {
        "code": place.code,
        "name": place.name,
        "address": place.address,
        "kecamatan": place.kecamatan,
        "phone": place.phone,
        "hours": place.hours,
        "info": place.info,
        "polis": [{"code": x.code, "name": x.name, "slot_quota": x.slot_quota} for x in place.poli_list],
    }


def reservation(r: Reservation, with_qr: bool = False) -> dict:
    """A reservation for its owner; the BPJS number masked, the QR text only when asked."""
    body = {
        "rid": r.rid,
        "status": r.status,
        "status_label": rules.status_label(r.status, r.date, runtime.now().date()),
        "puskesmas": {"code": r.puskesmas.code, "name": r.puskesmas.name},
        "poli": {"code": r.poli.code, "name": r.poli.name},
        "date": r.date.isoformat(),
        "slot": r.slot,
        "payer": r.payer,
        "bpjs_no": ("*" * 9 + r.bpjs_no[-4:]) if r.bpjs_no else None,
        "bpjs": bpjs.as_json() if (bpjs := bpjs_membership.outcome_of(r)) else None,
        "created_at": r.created_at.isoformat(timespec="seconds") + "Z",
        "qr_png_url": url_for("api.reservation_qr", rid=r.rid),
    }
    if with_qr:
        body["qr_text"] = r.qr_text
    return body
