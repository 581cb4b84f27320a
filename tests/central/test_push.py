"""Web Push: a patient asks on her reservation's page to be told about her ticket; when the edge's
calls reach central she gets "3 nomor lagi" once and "Nomor ... dipanggil" once, sent with VAPID
and encrypted for her browser, received and decrypted by a stand-in push service over real HTTP
(central/fake_push.py, itself checked here against RFC 8291/8292). Nothing personal is sent; a
subscription that is gone is switched off; central contacts no endpoint outside its push services."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json

import pytest
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from central import db as central_db
from central import keys, push
from central.app import build
from central.fake_push import FakePushService, PushRefused, check_vapid
from central.ingest import apply_batch
from central.models import Node, Patient, Poli, PushMessage, PushSubscription, Puskesmas, Reservation
from protocol.events import Actor, TicketCalled, TicketIssued
from protocol.messages import EventBatch
from tests.central.conftest import ANI, register
from tests.central.test_bpjs_reports import at, record, service_day


@pytest.fixture
def fake():
    with FakePushService() as server:
        yield server


# ---- the stand-in itself ---------------------------------------------------------------------


def test_the_stand_in_decrypts_what_a_real_web_push_library_sends(fake):
    v = Vapid()
    v.generate_keys()
    sub = fake.subscribe()
    answer = webpush(sub, data=json.dumps({"title": "Uji"}), vapid_private_key=v, vapid_claims={"sub": "mailto:a@b.id"})
    assert answer.status_code == 201 and fake.received() == [{"title": "Uji"}]


def test_the_stand_in_refuses_what_a_push_service_refuses(fake):
    v = Vapid()
    v.generate_keys()
    with pytest.raises(WebPushException) as gone:
        webpush(fake.subscribe(gone=True), data="x", vapid_private_key=v, vapid_claims={"sub": "mailto:a@b.id"})
    assert gone.value.response.status_code == 410
    other = fake.subscribe()
    stolen = dict(other, keys={**other["keys"], "auth": base64.urlsafe_b64encode(b"0" * 16).rstrip(b"=").decode()})
    with pytest.raises(WebPushException) as bad:
        webpush(stolen, data="x", vapid_private_key=v, vapid_claims={"sub": "mailto:a@b.id"})
    assert bad.value.response.status_code == 400 and "does not decrypt" in fake.refused[-1]
    token = v.sign({"aud": "https://elsewhere.example", "sub": "mailto:a@b.id"})["Authorization"]
    with pytest.raises(PushRefused, match="audience"):
        check_vapid(token, fake.url)


# ---- central -----------------------------------------------------------------------------------


@pytest.fixture
def place(db_config, tmp_path, fake):
    central_db.connect(db_config.database_url)
    keys.bind(tmp_path / "keys")
    push.configure([fake.url + "/"], "mailto:dinkes@bogorkab.go.id")
    pkm = Puskesmas.create(code="cibinong", name="Puskesmas Cibinong", address="Cibinong", kecamatan="Cibinong")
    Poli.create(puskesmas=pkm, code="UMUM", name="Poli Umum", prefix="U", slot_quota=10)
    yield Node.create(node_id="pkm-cibinong", puskesmas=pkm)
    push.configure(push.DEFAULT_SERVICES, "mailto:rosma@localhost")
    central_db.database.close()


def _booking(rid: str) -> Reservation:
    patient = Patient.get_or_none(Patient.nik == ANI["nik"]) or register(ANI)
    return Reservation.create(
        rid=rid,
        patient=patient,
        puskesmas=Puskesmas.get(),
        poli=Poli.get(),
        date=service_day(),
        slot="09:00-10:00",
        payer="UMUM",
        qr_text="-",
        status="checked_in",
    )


def _issued(seq, ticket, label, rid=None):
    e = TicketIssued(
        ticket=ticket,
        day=service_day().isoformat(),
        queue="POLI-UMUM",
        label=label,
        number=int(label[1:]),
        kind="reservation" if rid else "walkin",
        payer="UMUM",
        poli="UMUM",
        rid=rid,
        at=at(seq),
        actor=Actor("kiosk"),
    )
    return record(seq, e)


def _called(seq, ticket, label, recall=False):
    e = TicketCalled(
        ticket=ticket,
        label=label,
        destination="Poli Umum",
        counter="poli-UMUM",
        recall=recall,
        at=at(seq),
        actor=Actor("poli-UMUM", "dr"),
    )
    return record(seq, e)


def test_a_subscribed_patient_hears_three_more_then_her_call_once_each(place, fake):
    booking = _booking("r-ani")
    push.subscribe(booking, fake.subscribe())
    tickets = [
        ("t1", "U001", None),
        ("t2", "U002", None),
        ("t3", "U003", None),
        ("t4", "U004", None),
        ("t5", "U005", "r-ani"),
    ]
    recs = [_issued(i + 1, t, label, rid) for i, (t, label, rid) in enumerate(tickets)]
    apply_batch(place, EventBatch(tuple(recs), "db-1"))
    seq = len(recs)
    for ticket, label, _ in tickets[:2]:  # U001 called: 3 wait before her (U002-U004); then U002: 2
        seq += 1
        apply_batch(place, EventBatch((_called(seq, ticket, label),), "db-1"))
    assert [m.key.split(":")[0] for m in PushMessage.select().order_by(PushMessage.id)] == ["near"]
    for ticket, label, _ in tickets[2:]:
        seq += 1
        apply_batch(place, EventBatch((_called(seq, ticket, label),), "db-1"))
    seq += 1
    apply_batch(place, EventBatch((_called(seq, "t5", "U005", recall=True),), "db-1"))  # a recall adds nothing
    assert push.send_due() == 2
    got = fake.received()
    assert [m["title"] for m in got] == ["3 nomor lagi: U005", "Nomor U005 dipanggil"]
    assert "Poli Umum" in got[1]["body"] and "WIB" in got[1]["body"] and got[1]["url"].endswith("?nomor=U005")
    text = json.dumps(got)
    assert ANI["nik"] not in text and ANI["name"] not in text
    assert push.send_due() == 0  # nothing twice


def test_a_gone_subscription_is_switched_off_and_a_failing_service_retried(place, fake, monkeypatch):
    booking = _booking("r-ani")
    push.subscribe(booking, fake.subscribe(gone=True))
    apply_batch(place, EventBatch((_issued(1, "t5", "U005", "r-ani"), _called(2, "t5", "U005")), "db-1"))
    assert push.send_due() == 0
    assert PushSubscription.get().active is False and PushMessage.get().state == "gone"
    fake.stop()  # the push service is down: kept and tried again later
    booking2 = _booking("r-two")
    PushSubscription.update(active=True).execute()
    push.subscribe(booking2, {"endpoint": fake.url + "/push/x", "keys": fake.subscribe()["keys"]})
    apply_batch(place, EventBatch((_issued(3, "t6", "U006", "r-two"), _called(4, "t6", "U006")), "db-1"))
    assert push.send_due() == 0
    row = PushMessage.select().where(PushMessage.key.startswith("called:")).order_by(PushMessage.id.desc()).get()
    assert row.state == "pending" and row.attempts == 1 and row.next_at > dt.datetime.now(dt.UTC).replace(tzinfo=None)


def test_the_reservation_page_subscribes_and_refuses_strange_endpoints(db_config, tmp_path, fake, web_login):
    config = dataclasses.replace(db_config, keys_dir=str(tmp_path / "keys"), push_services=[fake.url + "/"])
    app = build(config)
    app.config["TESTING"] = True
    try:
        client = app.test_client()
        register(ANI)
        web_login(client, ANI)
        booking = _booking("r-web")
        key = client.get("/push/kunci").json["key"]
        assert len(base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))) == 65
        page = client.get("/reservasi/r-web").text
        assert 'id="push-box"' in page
        token = page.split('data-csrf="', 1)[1].split('"', 1)[0]
        headers = {"X-CSRF-Token": token}
        ok = client.post("/reservasi/r-web/pemberitahuan", json=fake.subscribe(), headers=headers)
        assert ok.status_code == 201 and "3 nomor lagi" in ok.json["message"]
        assert push.subscribed(booking)
        foreign = {"endpoint": "http://169.254.169.254/latest", "keys": fake.subscribe()["keys"]}
        refused = client.post("/reservasi/r-web/pemberitahuan", json=foreign, headers=headers)
        assert refused.status_code == 400 and "tidak dikenal" in refused.json["error"]
        broken = client.post(
            "/reservasi/r-web/pemberitahuan",
            json={"endpoint": fake.url + "/push/a", "keys": {"p256dh": "x"}},
            headers=headers,
        )
        assert broken.status_code == 400 and "tidak valid" in broken.json["error"]
        assert client.post("/reservasi/r-web/pemberitahuan", json=fake.subscribe()).status_code == 400  # no CSRF token
        assert client.post("/reservasi/r-web/pemberitahuan/berhenti", headers=headers).status_code == 200
        assert not push.subscribed(booking)
        assert PushSubscription.select().count() == 1
    finally:
        app.extensions["rosma.db"].close()


# ---- reminders by WhatsApp / SMS (the notification port) ---------------------------------------


def test_reminders_she_chose_go_the_day_before_and_when_her_turn_is_near(db_config, tmp_path, web_login, fake):
    sent = tmp_path / "sent.jsonl"
    config = dataclasses.replace(db_config, keys_dir=str(tmp_path / "keys"), notify_uri=f"log://{sent}")
    app = build(config)
    app.config["TESTING"] = True
    try:
        client = app.test_client()
        patient = register(ANI)
        token = web_login(client, ANI)
        page = client.get("/akun").text
        assert 'id="remind-day-before"' in page and "checked" not in page.split('id="remind-day-before"')[1][:20]
        saved = client.post("/akun/pengingat", data={"csrf_token": token, "besok": "1", "dekat": "1"})
        assert saved.status_code == 302
        patient = Patient.get_by_id(patient.id)
        assert patient.remind_day_before and patient.remind_turn_near

        tomorrow = Reservation.create(
            rid="r-besok",
            patient=patient,
            puskesmas=Puskesmas.get(Puskesmas.code == "cibinong"),
            poli=Poli.select().join(Puskesmas).where(Puskesmas.code == "cibinong").get(),
            date=service_day() + dt.timedelta(days=1),
            slot="09:00-10:00",
            payer="BPJS",
            qr_text="-",
        )
        afternoon = dt.datetime.combine(service_day(), dt.time(17, 0))
        assert push.remind_tomorrow(afternoon.replace(hour=9)) == 0  # too early in the day
        assert push.remind_tomorrow(afternoon) == 1
        assert push.remind_tomorrow(afternoon) == 0  # once
        assert push.send_reminders_due() == 1
        [line] = [json.loads(x) for x in sent.read_text().splitlines()]
        assert line["template"] == "rosma_pengingat" and "besok" in line["text"] and "09.00 WIB" in line["text"]
        assert (
            "KTP dan kartu BPJS" in line["text"] and ANI["nik"] not in line["text"] and ANI["name"] not in line["text"]
        )
        assert Reservation.get_by_id(tomorrow.id).reminded_at is not None

        # her turn is near: the same call that would push tells her phone too
        node = Node.create(node_id="pkm-cibinong", puskesmas=Puskesmas.get(Puskesmas.code == "cibinong"))
        _booking("r-ani")
        recs = [_issued(1, "t1", "U001"), _issued(2, "t2", "U002", "r-ani"), _called(3, "t1", "U001")]
        apply_batch(node, EventBatch(tuple(recs), "db-1"))
        assert push.send_reminders_due() == 1
        last = json.loads(sent.read_text().splitlines()[-1])
        assert "Nomor Anda berikutnya (U002)" in last["text"] and "Poli Umum" in last["text"]
        assert push.send_reminders_due() == 0
    finally:
        app.extensions["rosma.db"].close()
