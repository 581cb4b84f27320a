"""Patient and reservation services on SQLite and PostgreSQL: what a patient would notice."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from PIL import Image

from central import keys, services
from central.core.calendar import WIB
from central.models import Change, Node, Poli, Puskesmas, Reservation
from central.seed import seed
from devices.scanner.image import read_qr_codes
from protocol import qrpass


def _decode(png: bytes) -> str:
    results = read_qr_codes(Image.open(io.BytesIO(png)))
    assert len(results) == 1
    return results[0]


def test_reserve_signs_a_pass_the_kiosk_accepts(app, ani, visit_date):
    node = Node.create(node_id="edge-ciawi", puskesmas=Puskesmas.get(code="ciawi"))
    r = services.reserve(ani, "ciawi", "UMUM", visit_date.isoformat(), "08:00-09:00", "BPJS", "0001 2345 67890")
    assert r.status == "active" and r.bpjs_no == "0001234567890"

    text = _decode(services.qr_png(r.qr_text))
    assert text == r.qr_text
    public = qrpass.load_public_keys(keys.public_keys())
    at_visit = dt.datetime.combine(visit_date, dt.time(8, 15), tzinfo=WIB).timestamp()
    checked = qrpass.verify(text, public, "ciawi", visit_date, at_visit)
    assert (checked.rid, checked.poli, checked.slot, checked.payer) == (r.rid, "UMUM", "08:00-09:00", "BPJS")
    with pytest.raises(qrpass.PassError) as other:
        qrpass.verify(text, public, "cibinong", visit_date, at_visit)
    assert other.value.code == "other-puskesmas"

    decoded = text.upper()
    for secret in ("3201015708900002", "ANI", "LESTARI", "1990", "0001234567890"):
        assert secret not in decoded
    payload = json.dumps(checked.__dict__)
    assert "3201015708900002" not in payload and "Ani" not in payload and "1990-08-17" not in payload

    change = Change.get(Change.node == node)
    assert change.seq == 1 and change.type == "reservation.upsert"
    data = json.loads(change.data)
    assert data["rid"] == r.rid and data["status"] == "active"
    for secret in ("3201015708900002", "Ani", "1990-08-17", "0001234567890", "Babakan", "081234567890"):
        assert secret not in change.data


def test_reserve_without_node_still_works(app, ani, visit_date):
    r = services.reserve(ani, "cibinong", "GIGI", visit_date, "09:00-10:00", "UMUM")
    assert Change.select().count() == 0
    assert services.history(ani)[0].rid == r.rid


def test_bpjs_without_number_is_a_field_error(app, ani, visit_date):
    with pytest.raises(services.ValidationError) as caught:
        services.reserve(ani, "ciawi", "UMUM", visit_date, "08:00-09:00", "BPJS", "")
    assert "wajib diisi" in caught.value.errors["bpjs_no"]
    assert Reservation.select().count() == 0


def test_unknown_poli_at_puskesmas(app, ani, visit_date):
    with pytest.raises(services.ValidationError) as caught:
        services.reserve(ani, "citeureup", "GIGI", visit_date, "08:00-09:00", "UMUM")
    assert "poli" in caught.value.errors


def test_quota_full(app, ani, budi, visit_date):
    Poli.update(slot_quota=1).where(Poli.code == "UMUM").execute()
    services.reserve(ani, "ciawi", "UMUM", visit_date, "08:00-09:00", "UMUM")
    with pytest.raises(services.ConflictError) as caught:
        services.reserve(budi, "ciawi", "UMUM", visit_date, "08:00-09:00", "UMUM")
    assert caught.value.status == 409
    assert "Kuota jam ini sudah penuh" in caught.value.message
    assert Reservation.select().count() == 1
    # another slot is still free
    services.reserve(budi, "ciawi", "UMUM", visit_date, "09:00-10:00", "UMUM")


def test_one_active_reservation_per_day_and_puskesmas(app, ani, visit_date):
    services.reserve(ani, "ciawi", "UMUM", visit_date, "08:00-09:00", "UMUM")
    with pytest.raises(services.ConflictError) as caught:
        services.reserve(ani, "ciawi", "GIGI", visit_date, "10:00-11:00", "UMUM")
    assert "sudah punya reservasi" in caught.value.message
    services.reserve(ani, "cibinong", "GIGI", visit_date, "10:00-11:00", "UMUM")


def test_cancel_frees_the_place_and_tells_the_edge(app, ani, budi, visit_date):
    node = Node.create(node_id="edge-ciawi", puskesmas=Puskesmas.get(code="ciawi"))
    Poli.update(slot_quota=1).where(Poli.code == "UMUM").execute()
    r = services.reserve(ani, "ciawi", "UMUM", visit_date, "08:00-09:00", "UMUM")
    cancelled = services.cancel(ani, r.rid)
    assert cancelled.status == "cancelled"
    assert Reservation.get(Reservation.rid == r.rid).status == "cancelled"
    rows = list(Change.select().where(Change.node == node).order_by(Change.seq))
    assert [c.seq for c in rows] == [1, 2]
    assert json.loads(rows[1].data) == {**json.loads(rows[0].data), "status": "cancelled"}
    with pytest.raises(services.ConflictError):
        services.cancel(ani, r.rid)
    services.reserve(budi, "ciawi", "UMUM", visit_date, "08:00-09:00", "UMUM")


def test_other_patient_cannot_see_or_cancel(app, ani, budi, visit_date):
    r = services.reserve(ani, "ciawi", "UMUM", visit_date, "08:00-09:00", "UMUM")
    with pytest.raises(services.NotFoundError):
        services.get_reservation(budi, r.rid)
    with pytest.raises(services.NotFoundError):
        services.cancel(budi, r.rid)
    assert Reservation.get(Reservation.rid == r.rid).status == "active"


def test_past_slot_today_is_refused(app, ani):
    monday = dt.datetime(2026, 11, 30, 10, 30, tzinfo=WIB)
    with pytest.raises(services.ValidationError) as caught:
        services.reserve(ani, "ciawi", "UMUM", "2026-11-30", "09:00-10:00", "UMUM", now=monday)
    assert "sudah lewat" in caught.value.errors["slot"]
    r = services.reserve(ani, "ciawi", "UMUM", "2026-11-30", "10:00-11:00", "UMUM", now=monday)
    assert r.slot == "10:00-11:00"


def test_slot_availability_counts(app, ani, visit_date):
    services.reserve(ani, "ciawi", "UMUM", visit_date, "08:00-09:00", "UMUM")
    result = services.slot_availability("ciawi", "UMUM", visit_date.isoformat(), 7)
    first = result["slots"][0]
    assert first == {"slot": "08:00-09:00", "quota": 10, "remaining": 9, "available": True}


def test_qr_png_is_a_png():
    png = services.qr_png("RS1:TEST")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert _decode(png) == "RS1:TEST"


def test_seed_is_idempotent(app):
    places = Puskesmas.select().count()
    polis = Poli.select().count()
    assert places >= 3 and polis >= 9
    assert seed() == 0
    assert (Puskesmas.select().count(), Poli.select().count()) == (places, polis)
    cibinong = Puskesmas.get(code="cibinong")
    assert {p.code: (p.name, p.prefix, p.slot_quota) for p in cibinong.polis} == {
        "UMUM": ("Poli Umum", "U", 10),
        "GIGI": ("Poli Gigi", "G", 10),
        "KIA": ("Poli KIA", "K", 10),
        "LANSIA": ("Poli Lansia", "L", 10),
    }
    assert "Layanan" in cibinong.info and "Jam buka" in cibinong.info


def test_last_place_goes_to_exactly_one_of_two_racing_patients(app, ani, budi, visit_date):
    import threading

    from central.models import database

    Poli.update(slot_quota=1).where(Poli.code == "UMUM").execute()
    barrier = threading.Barrier(2)
    outcomes = []

    def book(patient):
        try:
            barrier.wait(timeout=5)
            services.reserve(patient, "ciawi", "UMUM", visit_date, "08:00-09:00", "UMUM")
            outcomes.append("ok")
        except services.ConflictError:
            outcomes.append("full")
        finally:
            database.close()

    threads = [threading.Thread(target=book, args=(p,)) for p in (ani, budi)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert sorted(outcomes) == ["full", "ok"]
    assert Reservation.select().count() == 1
