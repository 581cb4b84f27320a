"""What the back office changes reaches the edge's screens: central's site, poli and closed-day
changes applied through the sync client's change batches (with the checkpoint), on a real SQLite
database, seen through the kiosk, staff and TV pages the way a patient or a petugas sees them."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest

from edge import state
from edge.app import Runtime, create_app, mqtt_settings
from edge.config import from_dict
from edge.models import ClosedDay, DeferredChange, Poli, Site, Ticket
from edge.notices import ReservationsChanged
from edge.services import CheckinRefused, QueueError
from edge.sync import SyncClient
from edge.workers import PrinterWorker
from infra.mqtt.memory import MemoryBroker
from protocol import changes, messages, passwords, qrpass
from protocol.changes import HolidayChanged, PoliChanged, SiteChanged, StaffChanged

DAY = "2026-11-26"
KEY = qrpass.SigningKey.generate()
LAN = {"REMOTE_ADDR": "192.168.10.23"}
PASSWORD = "kata-sandi-loket"


@pytest.fixture
def node(tmp_path):
    cfg = from_dict(
        {
            "node_id": "pkm-test",
            "puskesmas_code": "cibinong",
            "puskesmas_name": "Puskesmas Cibinong (config)",
            "puskesmas_address": "Alamat dari config",
            "qr_public_keys": {KEY.kid: KEY.public_b64()},
            "polis": [
                {"code": "UMUM", "name": "Poli Umum", "prefix": "U"},
                {"code": "GIGI", "name": "Poli Gigi", "prefix": "G"},
            ],
            "lokets": 2,
            "data_dir": str(tmp_path),
            "clock_start": f"{DAY}T08:30:00+07:00",
        }
    )
    rt = Runtime(cfg)
    broker = MemoryBroker()
    rt.sync = SyncClient(cfg, rt.bus, rt.status, broker.transport(mqtt_settings(cfg)), board=rt.service.board)
    hashed = passwords.hash_secret(PASSWORD)
    for username, role in (("rina", "petugas_loket"), ("admin", "admin_puskesmas")):
        SyncClient._upsert_staff(
            StaffChanged(username=username, name=username.title(), role=role, password_hash=hashed)
        )
    app = create_app(cfg, rt)
    app.rt = rt
    yield app
    rt.stop.set()
    rt.db.close()


def send(app, *items, extra: dict | None = None) -> int:
    """Central's next change batch for this node (typed changes, or raw (type, data) pairs)."""
    last = state.change_seq()
    records = []
    for i, item in enumerate(items, start=last + 1):
        if isinstance(item, tuple):
            name, data = item
        else:
            name, data = item.NAME, {**changes.to_data(item), **(extra or {})}
        records.append(messages.ChangeRecord(i, name, data))
    app.rt.sync._apply_changes(messages.ChangeBatch(tuple(records), last + len(records)))
    return state.change_seq()


def signed_in(app, username="admin"):
    client = app.test_client()
    page = client.get("/staff/masuk", environ_base=LAN)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post(
        "/staff/masuk", data={"csrf_token": token, "username": username, "password": PASSWORD}, environ_base=LAN
    )
    assert r.status_code == 302
    return client


def token(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def kiosk_polis(app) -> list[str]:
    html = app.test_client().get("/kiosk").text  # the node's own touchscreen (127.0.0.1) is a kiosk
    return re.findall(r'<li data-poli="[A-Z0-9_]+">([^<]+)</li>', html)


def staff_counters(client) -> list[str]:
    return re.findall(r'class="card" href="[^"]+"><b>([^<]+)</b>', client.get("/staff", environ_base=LAN).text)


def qr(rid="r1", poli="UMUM") -> str:
    return qrpass.sign(
        qrpass.Pass(rid, "cibinong", poli, DAY, "09:00-10:00", "BPJS", int(time.time()) + 10 * 86400), KEY
    )


SITE = SiteChanged(
    name="UPTD Puskesmas Cibinong",
    address="Jl. Mayor Oking No. 1, Cibinong",
    phone="(0251) 8653012",
    hours="Senin-Kamis 07.30-14.00, Jumat 07.30-11.00",
    lokets=3,
)
POLIS = (
    PoliChanged(code="UMUM", name="Poli Umum", prefix="U", order=1),
    PoliChanged(code="GIGI", name="Poli Gigi & Mulut", prefix="G", order=2),
    PoliChanged(code="KIA", name="Poli KIA", prefix="K", order=3),
)


def test_until_central_sends_its_own_the_config_stands(node):
    svc = node.rt.service
    assert kiosk_polis(node) == ["Poli Umum", "Poli Gigi"]
    assert staff_counters(signed_in(node)) == ["Loket 1", "Loket 2", "Poli Umum", "Poli Gigi"]
    assert "Selamat datang di Puskesmas Cibinong (config)" in node.test_client().get("/kiosk").text
    assert svc.site()["address"] == "Alamat dari config"
    assert "tutup" not in node.test_client().get("/kiosk").text


def test_site_and_poli_from_central_show_at_once_and_a_new_poli_takes_patients(node):
    svc = node.rt.service
    admin = signed_in(node)
    sub = node.rt.bus.subscribe(ReservationsChanged)
    rev_before = svc.board()["site"]

    assert send(node, SITE, *POLIS) == 4

    assert sub.get(timeout=1).message == ReservationsChanged(4)  # the screens' cue to look again
    assert svc.board()["site"] != rev_before
    kiosk = node.test_client().get("/kiosk").text
    assert "Selamat datang di UPTD Puskesmas Cibinong" in kiosk
    assert "Jl. Mayor Oking No. 1, Cibinong · Telp. (0251) 8653012" in kiosk
    assert "Jam layanan: Senin-Kamis 07.30-14.00, Jumat 07.30-11.00" in kiosk
    assert kiosk_polis(node) == ["Poli Umum", "Poli Gigi &amp; Mulut", "Poli KIA"]  # escaped
    assert staff_counters(admin) == ["Loket 1", "Loket 2", "Loket 3", "Poli Umum", "Poli Gigi &amp; Mulut", "Poli KIA"]
    assert "POLI-KIA" in svc.board()["queues"]
    assert "UPTD Puskesmas Cibinong" in node.test_client().get("/tv").text

    # a walk-in is called at the new Loket 3 and sent to the new poli, which calls it
    t = svc.issue_walkin("UMUM")
    page = admin.get("/staff/loket-3", environ_base=LAN)
    r = admin.post("/staff/loket-3/next", data={"csrf_token": token(page)}, environ_base=LAN)
    assert r.status_code == 302 and Ticket.get(Ticket.key == t.key).destination == "Loket 3"
    page = admin.get("/staff/loket-3", environ_base=LAN)
    assert '<option value="KIA">Poli KIA</option>' in page.text
    r = admin.post(
        f"/staff/loket-3/{t.key}/transfer",
        data={"csrf_token": token(page), "poli": "KIA"},
        environ_base=LAN,
        follow_redirects=True,
    )
    assert f"{t.label} diteruskan ke Poli KIA." in r.text
    kia = svc.board()["queues"]["POLI-KIA"]
    assert (kia["name"], kia["waiting"]) == ("Poli KIA", [t.label])
    called = svc.call_next("poli-KIA")
    assert called.label == t.label and called.destination == "Poli KIA"
    # and the printed ticket carries the back office's name and address
    layout = PrinterWorker(threading.Event(), svc, node.rt.status, "none", "TM-T20II")._layout(t)
    assert (layout.puskesmas_name, layout.puskesmas_address) == ("UPTD Puskesmas Cibinong", SITE.address)


def test_a_repeat_changes_nothing_and_an_old_batch_is_skipped(node):
    send(node, SITE, *POLIS)
    before = (list(Site.select().dicts()), list(Poli.select().order_by(Poli.code).dicts()))
    seq = state.change_seq()
    # the same batch again (a resend after a lost ack): below the checkpoint, skipped
    records = tuple(messages.ChangeRecord(i + 1, c.NAME, changes.to_data(c)) for i, c in enumerate((SITE, *POLIS)))
    node.rt.sync._apply_changes(messages.ChangeBatch(records, seq))
    assert state.change_seq() == seq
    # the same changes at new seqs (the back office saved twice): the same rows
    send(node, SITE, *POLIS)
    assert (list(Site.select().dicts()), list(Poli.select().order_by(Poli.code).dicts())) == before
    assert Poli.select().count() == 3 and Site.select().count() == 1


def test_fields_a_newer_central_adds_are_ignored(node):
    send(node, SITE, POLIS[2], extra={"warna": "hijau", "kuota_per_slot": 12})
    send(node, ("holiday.upsert", {"date": DAY, "name": "Libur daerah", "closed": True, "sumber": "SKB"}))
    assert Site.get().lokets == 3
    assert kiosk_polis(node) == ["Poli KIA"]  # central's list now, not the config's
    assert node.rt.service.closed_today() == "Libur daerah"


def test_an_inactive_poli_leaves_the_screens_takes_no_new_tickets_and_finishes_its_queue(node):
    svc = node.rt.service
    admin = signed_in(node)
    send(node, SITE, *POLIS)
    waiting = svc.issue_walkin("BPJS")
    svc.call_next("loket-1")
    svc.act(waiting.key, "transfer", to_poli="KIA")

    send(node, PoliChanged(code="KIA", name="Poli KIA", prefix="K", active=False, order=3))

    assert kiosk_polis(node) == ["Poli Umum", "Poli Gigi &amp; Mulut"]
    assert '<option value="KIA">' not in admin.get("/staff/loket-1", environ_base=LAN).text
    t2 = svc.issue_walkin("UMUM")
    svc.call_next("loket-2")
    with pytest.raises(QueueError, match="Pilih poli tujuan yang masih menerima pasien"):
        svc.act(t2.key, "transfer", to_poli="KIA")
    with pytest.raises(CheckinRefused, match="tidak menerima antrean baru"):
        svc.check_in(qr("r-kia", "KIA"))
    # the patient already sent there is still called and served, then the counter goes
    page = admin.get("/staff", environ_base=LAN).text
    assert "tidak menerima pasien baru; selesaikan antrean yang ada" in page
    assert "Poli ini tidak lagi menerima pasien baru" in admin.get("/staff/poli-KIA", environ_base=LAN).text
    assert svc.board()["queues"]["POLI-KIA"]["waiting"] == [waiting.label]
    called = svc.call_next("poli-KIA")
    assert called.label == waiting.label
    svc.act(called.key, "finish")
    assert "Poli KIA" not in staff_counters(admin)
    assert "POLI-KIA" not in svc.board()["queues"]
    assert admin.get("/staff/poli-KIA", environ_base=LAN).status_code == 404
    # its history keeps the name
    assert svc.queue_name("POLI-KIA") == "Poli KIA"


def test_a_closed_day_is_shown_refuses_reservations_and_leaves_staff_working(node):
    svc = node.rt.service
    admin = signed_in(node)
    send(node, HolidayChanged(date=DAY, name="Cuti bersama <Natal>"), HolidayChanged(date="2026-12-25", name="Natal"))

    notice = "Hari ini puskesmas tutup: Cuti bersama &lt;Natal&gt;"
    assert notice in node.test_client().get("/kiosk").text
    assert notice in admin.get("/staff", environ_base=LAN).text
    assert notice in admin.get("/staff/loket-1", environ_base=LAN).text
    assert notice in node.test_client().get("/tv").text
    with pytest.raises(CheckinRefused, match=r"Hari ini puskesmas tutup \(Cuti bersama <Natal>\)") as refused:
        svc.check_in(qr())
    assert refused.value.code == "closed"
    assert not Ticket.select().where(Ticket.kind == "reservation").exists()
    # emergencies: staff still issue and call
    page = admin.get("/staff/loket-1", environ_base=LAN)
    form = {"csrf_token": token(page), "payer": "UMUM", "kelas": "ibu_hamil"}
    admin.post("/staff/loket-1/prioritas", data=form, environ_base=LAN)
    assert svc.call_next("loket-1").label == "A001"

    send(node, HolidayChanged(date=DAY, name="Cuti bersama <Natal>", closed=False))
    assert "tutup" not in node.test_client().get("/kiosk").text
    assert svc.check_in(qr("r2")).kind == "reservation"
    assert ClosedDay.select().count() == 2


def test_a_bad_change_is_skipped_and_the_feed_goes_on(node):
    seq = send(
        node,
        SiteChanged(name="Puskesmas X", lokets=0),
        PoliChanged(code="REG", name="Pendaftaran", prefix="A"),
        PoliChanged(code="bad code", name="Poli", prefix="P"),
        ("holiday.upsert", {"date": "26-11-2026", "name": "salah"}),
        ("poli.upsert", {"code": "LANSIA", "name": "Poli Lansia"}),  # no prefix: malformed
        PoliChanged(code="LANSIA", name="Poli Lansia", prefix="L"),
    )
    assert seq == 6
    assert Site.select().count() == 0 and node.rt.service.site()["lokets"] == 2
    assert kiosk_polis(node) == ["Poli Lansia"]
    assert ClosedDay.select().count() == 0


def test_a_change_applied_with_its_checkpoint_or_not_at_all(node, monkeypatch):
    def broken(change):
        raise RuntimeError("disk full")

    monkeypatch.setitem(node.rt.sync.change_handlers, HolidayChanged, broken)
    with pytest.raises(RuntimeError):
        send(node, SITE, POLIS[2], HolidayChanged(date=DAY, name="Libur"))
    assert state.change_seq() == 0 and Site.select().count() == 0 and Poli.select().count() == 0
    assert kiosk_polis(node) == ["Poli Umum", "Poli Gigi"]


def test_changes_kept_by_an_older_release_apply_after_the_upgrade(node):
    # an edge of the release before this one kept the changes it did not know yet
    for seq, change in enumerate((SITE, POLIS[2]), start=1):
        DeferredChange.create(seq=seq, type=change.NAME, v=1, data=json.dumps(changes.to_data(change)))
    assert node.rt.sync.apply_deferred() == 2
    assert DeferredChange.select().count() == 0
    assert kiosk_polis(node) == ["Poli KIA"]
    assert "Selamat datang di UPTD Puskesmas Cibinong" in node.test_client().get("/kiosk").text


def test_the_running_text_is_kept_as_one_line_and_shown_on_the_tv_only_when_set(node):
    send(node, SiteChanged(name="Puskesmas Cibinong", lokets=2, running_text=" Libur\nbesok\x07  <b>tutup</b> "))
    assert Site.get_by_id(1).running_text == "Libur besok   <b>tutup</b>"
    page = node.test_client().get("/tv").text
    assert '<span id="running-line">Libur besok   &lt;b&gt;tutup&lt;/b&gt;</span>' in page
    send(node, ("site.upsert", {"name": "Puskesmas Cibinong", "lokets": 2}))  # from an older central
    assert Site.get_by_id(1).running_text == ""
    assert 'id="running-line"' not in node.test_client().get("/tv").text
