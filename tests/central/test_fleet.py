"""The fleet view: what each node's facts mean for an admin (a decision table), the health an
edge publishes stored by central's sync worker through a broker, and the page and its JSON per
role, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

import pytest

from central import fleet, staff
from central.fleet import DANGER, WARNING, NodeFacts
from central.models import Node, NodeAlert, Puskesmas
from central.sync import CentralSync
from infra.mqtt import Settings
from infra.mqtt.memory import MemoryBroker
from protocol import messages, topics
from protocol.messages import NodeStatus, Presence
from tests.central.live import SHOTS, every_error, open_tab

PASSWORD = "kata-sandi-rahasia"
NOW = dt.datetime(2026, 12, 2, 1, 30)  # 08.30 WIB
V = "0.2.0"
OK_DEVICES = {
    "printer": {"ok": True, "message": "Printer siap"},
    "scanner": {"ok": True, "message": "Pemindai QR siap"},
    "audio": {"ok": True, "message": "Suara siap"},
}


def healthy(**over) -> dict:
    s = {
        "at": "2026-12-02T08:29:30.000+07:00",
        "version": V,
        "backlog": 0,
        "oldest_s": 0,
        "last_sync": "2026-12-02T08:29:00+07:00",
        "uptime_s": 3600,
        "devices": dict(OK_DEVICES),
        "skew_s": 0.4,
        "received_at": "2026-12-02T01:29:30",
    }
    s.update(over)
    return s


def facts(online=True, status=None, **over) -> NodeFacts:
    base = {
        "node_id": "pkm-cibinong",
        "puskesmas": "Puskesmas Cibinong",
        "puskesmas_code": "cibinong",
        "online": online,
        "offline_since": None,
        "last_seen": NOW - dt.timedelta(seconds=30),
        "status": healthy() if status is None else status,
        "status_at": NOW - dt.timedelta(seconds=30),
    }
    base.update(over)
    return NodeFacts(**base)


def printer(ok, message):
    return healthy(devices={**OK_DEVICES, "printer": {"ok": ok, "message": message}})


CASES = [
    pytest.param(facts(), [], id="online-and-all-well"),
    pytest.param(facts(False, offline_since=NOW - dt.timedelta(minutes=9)), [], id="offline-9-min-not-yet"),
    pytest.param(
        facts(False, offline_since=dt.datetime(2026, 12, 2, 1, 12)),
        [(DANGER, "offline", "Luring sejak 08.12 (18 menit)")],
        id="offline-18-min",
    ),
    pytest.param(
        facts(False, offline_since=dt.datetime(2026, 12, 1, 10, 0), status=printer(False, "Kertas habis")),
        [(DANGER, "offline", "Luring sejak 1 Des 17.00 (15 jam 30 menit)")],
        id="offline-its-stale-printer-says-nothing",
    ),
    pytest.param(
        facts(False, offline_since=None, last_seen=None, status={}),
        [(WARNING, "never", "Belum pernah terhubung ke server pusat")],
        id="never-connected",
    ),
    pytest.param(
        facts(status=printer(False, "Kertas habis")), [(DANGER, "printer", "Printer: Kertas habis")], id="paper-out"
    ),
    pytest.param(
        facts(status=printer(False, "Printer tidak terhubung")),
        [(DANGER, "printer", "Printer: Printer tidak terhubung")],
        id="printer-unplugged",
    ),
    pytest.param(
        facts(status=printer(True, "Kertas hampir habis")),
        [(WARNING, "printer", "Printer: Kertas hampir habis")],
        id="paper-low",
    ),
    pytest.param(
        facts(
            status=healthy(devices={**OK_DEVICES, "scanner": {"ok": False, "message": "Pemindai QR tidak terhubung"}})
        ),
        [(WARNING, "scanner", "Pemindai QR: Pemindai QR tidak terhubung")],
        id="scanner-unplugged",
    ),
    pytest.param(
        facts(status=healthy(devices={**OK_DEVICES, "audio": {"ok": False, "message": "Kartu suara tidak ada"}})),
        [(WARNING, "audio", "Suara: Kartu suara tidak ada")],
        id="no-sound",
    ),
    pytest.param(facts(status=healthy(backlog=100, oldest_s=600)), [], id="backlog-100-oldest-10-min-ok"),
    pytest.param(
        facts(status=healthy(backlog=101, oldest_s=30)),
        [(WARNING, "backlog", "Antrean kirim menumpuk: 101 kejadian, tertua 30 detik")],
        id="backlog-101",
    ),
    pytest.param(
        facts(status=healthy(backlog=3, oldest_s=601)),
        [(WARNING, "backlog", "Antrean kirim menumpuk: 3 kejadian, tertua 10 menit")],
        id="oldest-over-10-min",
    ),
    pytest.param(facts(status=healthy(skew_s=120)), [], id="skew-2-min-ok"),
    pytest.param(
        facts(status=healthy(skew_s=185.2)),
        [(WARNING, "clock", "Jam node 3 menit lebih cepat dari server pusat")],
        id="clock-fast",
    ),
    pytest.param(
        facts(status=healthy(skew_s=-7300)),
        [(WARNING, "clock", "Jam node 2 jam 1 menit lebih lambat dari server pusat")],
        id="clock-slow",
    ),
    pytest.param(
        facts(status=healthy(version="0.1.0")),
        [(WARNING, "version", "Versi 0.1.0, server pusat 0.2.0: perlu diperbarui")],
        id="older-version",
    ),
    pytest.param(facts(status=healthy(version="0.10.0")), [], id="newer-version-by-number-not-text"),
    pytest.param(
        facts(status={}),
        [(WARNING, "no-status", "Node belum mengirim status perangkat (versi lama?)")],
        id="online-old-edge-without-health",
    ),
    pytest.param(
        facts(status_at=NOW - dt.timedelta(minutes=4)),
        [(WARNING, "stale", "Status tidak diperbarui sejak 08.26")],
        id="health-not-refreshed",
    ),
    pytest.param(
        facts(open_alerts=(("new-incarnation", "Database node diganti", dt.datetime(2026, 12, 2, 0, 5)),)),
        [(WARNING, "new-incarnation", "Database node diganti (07.05)")],
        id="open-node-alert",
    ),
    pytest.param(
        facts(status=healthy(backlog=500, devices={**OK_DEVICES, "printer": {"ok": False, "message": "Kertas habis"}})),
        [(DANGER, "printer", "Printer: Kertas habis"), (WARNING, "backlog", "Antrean kirim menumpuk: 500 kejadian")],
        id="red-before-amber",
    ),
]


@pytest.mark.parametrize(("node", "expected"), CASES)
def test_what_needs_an_admin(node, expected):
    got = [(a.level, a.kind, a.message) for a in fleet.decide(node, NOW, V)]
    assert got == expected


@pytest.mark.parametrize(
    ("node", "presence", "backlog", "skew"),
    [
        pytest.param(facts(), "Daring", "Antrean kirim: kosong", "Sesuai", id="online"),
        pytest.param(
            facts(False, offline_since=dt.datetime(2026, 12, 2, 1, 12), status=healthy(backlog=120, oldest_s=720)),
            "Luring sejak 08.12",
            "Antrean kirim: 120 kejadian, tertua 12 menit",
            "Sesuai",
            id="offline-with-backlog",
        ),
        pytest.param(
            facts(False, offline_since=None, last_seen=None, status={}),
            "Belum pernah terhubung",
            "Tidak dilaporkan",
            "Belum diukur",
            id="new-node",
        ),
    ],
)
def test_each_node_reads_in_plain_indonesian(node, presence, backlog, skew):
    row = fleet.describe(node, NOW, V)
    assert (row["presence"], row["backlog_text"], row["skew_text"]) == (presence, backlog, skew)


def test_times_are_wib_and_other_days_say_which():
    assert fleet.wib(dt.datetime(2026, 12, 2, 1, 12), NOW) == "08.12"
    assert fleet.wib("2026-12-02T08:12:40+07:00", NOW) == "08.12"
    assert fleet.wib(dt.datetime(2026, 12, 1, 16, 59), NOW) == "1 Des 23.59"
    assert fleet.wib(dt.datetime(2026, 12, 1, 17, 0), NOW) == "00.00"  # midnight WIB is already today
    assert fleet.wib(dt.datetime(2025, 12, 31, 10, 0), NOW) == "31 Des 2025 17.00"
    assert fleet.wib("", NOW) == "" and fleet.wib("not a time", NOW) == ""


def test_devices_not_reported_say_so():
    row = fleet.describe(facts(status=healthy(devices={"printer": {"ok": False, "message": "Kertas habis"}})), NOW, V)
    assert [(d["label"], d["ok"], d["message"]) for d in row["devices"]] == [
        ("Printer", False, "Kertas habis"),
        ("Pemindai QR", None, "Tidak dilaporkan"),
        ("Suara", None, "Tidak dilaporkan"),
    ]
    assert row["level"] == DANGER and row["alerts"] == ["Printer: Kertas habis"]
    low = fleet.describe(facts(status=printer(True, "Kertas hampir habis")), NOW, V)["devices"][0]
    assert low["ok"] is True and low["warn"] is True  # still prints, but amber


# ---- central's sync worker storing what a node publishes, through a broker -------------------


@pytest.fixture
def wired(app):
    """Central's sync worker and one Cibinong node's MQTT client on an in-memory broker."""
    pkm = Puskesmas.get(Puskesmas.code == "cibinong")
    node = Node.create(node_id="pkm-cibinong", puskesmas=pkm)
    broker = MemoryBroker()
    broker.apply_rosma_acl()
    central = CentralSync(broker.transport(Settings(username="central", client_id="central")))
    central.transport.subscribe(topics.all_up_filter(), qos=1)
    central.transport.start()
    edge = broker.transport(Settings(username=node.node_id, client_id=node.node_id))
    edge.start()

    def send(kind, msg, retain=True):
        assert edge.publish(topics.up(node.node_id, kind), messages.encode(msg), retain=retain)

    yield node, send, broker, central
    edge.stop()
    central.transport.stop()


def health(at=None, **over) -> NodeStatus:
    at = at or dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=7)))
    body = {
        "at": at.isoformat(timespec="milliseconds"),
        "version": fleet.software_version(),
        "backlog": 0,
        "oldest_s": 0,
        "last_sync": "",
        "uptime_s": 12,
        "devices": dict(OK_DEVICES),
    }
    body.update(over)
    return NodeStatus(**body)


def test_the_health_a_node_publishes_is_stored_and_shown(wired):
    node, send, _, _ = wired
    send(topics.UP_STATUS, Presence(True))
    send(
        topics.UP_HEALTH,
        health(backlog=120, oldest_s=720, devices={**OK_DEVICES, "printer": {"ok": False, "message": "Kertas habis"}}),
    )
    row = Node.get_by_id(node.id)
    assert row.online and row.offline_since is None and row.status_at is not None
    stored = json.loads(row.status)
    assert stored["backlog"] == 120 and stored["devices"]["printer"] == {"ok": False, "message": "Kertas habis"}
    assert abs(stored["skew_s"]) < 5
    (shown,) = [n for n in fleet.fleet() if n["node_id"] == "pkm-cibinong"]
    assert shown["presence"] == "Daring" and shown["backlog_text"] == "Antrean kirim: 120 kejadian, tertua 12 menit"
    assert shown["devices"][0]["message"] == "Kertas habis"
    assert ("danger", "Printer: Kertas habis") in [(a["level"], a["message"]) for a in fleet.alerts()]


def test_a_node_clock_five_minutes_fast_is_measured_and_a_retained_repeat_keeps_the_measure(wired):
    node, send, broker, central = wired
    send(topics.UP_STATUS, Presence(True))
    fast = health(at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5))
    send(topics.UP_HEALTH, fast)
    skew = json.loads(Node.get_by_id(node.id).status)["skew_s"]
    assert 290 < skew < 310
    assert "Jam node 5 menit lebih cepat dari server pusat" in [a["message"] for a in fleet.alerts()]
    # central restarts: the broker hands it the same retained message, later
    central.transport.stop()
    again = CentralSync(broker.transport(Settings(username="central", client_id="central-2")))
    again.transport.subscribe(topics.all_up_filter(), qos=1)
    again.transport.start()
    assert json.loads(Node.get_by_id(node.id).status)["skew_s"] == skew
    again.transport.stop()


def test_offline_since_is_the_first_offline_heard_and_is_cleared_online(wired):
    node, send, _, _ = wired
    send(topics.UP_STATUS, Presence(False))
    first = Node.get_by_id(node.id).offline_since
    assert first is not None
    Node.update(offline_since=first - dt.timedelta(minutes=11)).where(Node.id == node.id).execute()
    send(topics.UP_STATUS, Presence(False))  # a retained repeat
    assert Node.get_by_id(node.id).offline_since == first - dt.timedelta(minutes=11)
    (alert,) = [a for a in fleet.alerts() if a["node_id"] == "pkm-cibinong"]
    assert alert["level"] == "danger" and alert["message"].startswith("Luring sejak ")
    send(topics.UP_STATUS, Presence(True))
    row = Node.get_by_id(node.id)
    assert row.online and row.offline_since is None


def test_a_newer_node_is_not_a_problem_for_central(wired, caplog):
    node, send, broker, _ = wired
    edge = broker.transport(Settings(username=node.node_id, client_id="newer"))
    edge.start()
    with caplog.at_level(logging.WARNING, logger="central.sync"):
        # a message kind this release does not know
        assert edge.publish(f"rosma/v1/node/{node.node_id}/up/telemetry", b'{"m":"telemetry"}')
        # the health with fields and a device this release does not know: those are ignored
        body = json.loads(messages.encode(health(backlog=4)))
        body["battery"] = 80
        body["devices"]["camera"] = {"ok": False, "message": "x"}
        assert edge.publish(topics.up(node.node_id, topics.UP_HEALTH), json.dumps(body).encode(), retain=True)
        # and a broken one is dropped, keeping what was stored
        assert edge.publish(topics.up(node.node_id, topics.UP_HEALTH), b'{"m":"health","at":"x"}')
    assert "dropped a malformed message" in caplog.text and "telemetry" in caplog.text
    stored = json.loads(Node.get_by_id(node.id).status)
    assert stored["backlog"] == 4 and set(stored["devices"]) == {"printer", "scanner", "audio"}
    assert not broker.errors
    edge.stop()


# ---- the page and its JSON, per role ---------------------------------------------------------


def token(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def sign_in(client, username: str):
    page = client.get("/petugas/masuk")
    r = client.post("/petugas/masuk", data={"csrf_token": token(page), "username": username, "password": PASSWORD})
    assert r.status_code == 302


@pytest.fixture
def nodes(app):
    """Two nodes: Cibinong online with its printer out of paper, Ciawi offline since 08.12 WIB."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    cibinong = Puskesmas.get(Puskesmas.code == "cibinong")
    ciawi = Puskesmas.get(Puskesmas.code == "ciawi")
    status = healthy(
        version=fleet.software_version(),
        backlog=120,
        oldest_s=30,
        devices={**OK_DEVICES, "printer": {"ok": False, "message": "Kertas habis <b>segera</b>"}},
    )
    a = Node.create(
        node_id="pkm-cibinong", puskesmas=cibinong, online=True, last_seen=now, status=json.dumps(status), status_at=now
    )
    since = now - dt.timedelta(minutes=25)
    Node.create(node_id="pkm-ciawi", puskesmas=ciawi, online=False, last_seen=since, offline_since=since)
    NodeAlert.create(node=a, kind="new-incarnation", message="Database node diganti")
    return since


def test_admin_kabupaten_sees_alerts_on_top_and_every_node(client, nodes):
    staff.add("dinkes", "Dinas Kesehatan", "admin_kabupaten", None, "", PASSWORD)
    sign_in(client, "dinkes")
    page = client.get("/petugas/node/")
    assert page.status_code == 200
    text = page.text
    assert text.index("Peringatan") < text.index("Semua node")
    wib_since = fleet.wib(nodes, nodes)
    assert f"Luring sejak {wib_since}" in text and "(25 menit)" in text
    assert "Printer: Kertas habis &lt;b&gt;segera&lt;/b&gt;" in text and "<b>segera</b>" not in text  # escaped
    assert "Antrean kirim: 120 kejadian, tertua 30 detik" in text and "Daring" in text
    assert "Database node diganti" in text
    assert text.index("fleet-alert-danger") < text.index("fleet-alert-warning")  # red first
    assert 'href="/petugas/node/"' in text  # the menu names the page
    body = client.get("/petugas/node/?bagian=isi")
    assert body.status_code == 200 and "<html" not in body.text and "Kertas habis" in body.text
    data = client.get("/petugas/node/data.json")
    assert data.status_code == 200 and data.headers["Cache-Control"] == "no-store"
    by_node = {n["node_id"]: n for n in data.json["nodes"]}
    assert by_node["pkm-ciawi"]["presence"] == f"Luring sejak {wib_since}" and not by_node["pkm-ciawi"]["online"]
    assert by_node["pkm-cibinong"]["devices"][0]["message"] == "Kertas habis <b>segera</b>"
    assert by_node["pkm-cibinong"]["backlog"] == 120
    assert [a["kind"] for a in data.json["alerts"]][:2] == ["offline", "printer"]  # red ones by puskesmas name


@pytest.mark.parametrize(
    ("role", "polis"),
    [("admin_puskesmas", ""), ("kepala_puskesmas", ""), ("petugas_loket", ""), ("petugas_poli", "UMUM")],
)
def test_other_roles_get_a_refusal_and_no_menu_item(client, nodes, role, polis):
    staff.add("orang.cibinong", "Orang", role, "cibinong", polis, PASSWORD)
    sign_in(client, "orang.cibinong")
    page = client.get("/petugas/node/")
    assert page.status_code == 403 and "Peran Anda tidak boleh membuka halaman ini." in page.text
    assert "Kertas habis" not in page.text and "pkm-ciawi" not in page.text
    assert client.get("/petugas/node/?bagian=isi").status_code == 403
    data = client.get("/petugas/node/data.json")
    assert data.status_code == 403 and data.json["error"] == "Peran Anda tidak boleh membuka halaman ini."
    assert 'href="/petugas/node/"' not in client.get("/petugas/").text


def test_signed_out_the_page_asks_to_sign_in_and_the_json_says_401(client, nodes):
    page = client.get("/petugas/node/")
    assert page.status_code == 302 and "/petugas/masuk" in page.headers["Location"]
    data = client.get("/petugas/node/data.json")
    assert data.status_code == 401 and data.json == {"error": "Masuk sebagai petugas terlebih dahulu.", "fields": {}}


def test_with_no_node_yet_the_page_says_how_to_make_one(client, app):
    staff.add("dinkes", "Dinas Kesehatan", "admin_kabupaten", None, "", PASSWORD)
    sign_in(client, "dinkes")
    page = client.get("/petugas/node/")
    assert page.status_code == 200 and "Belum ada node." in page.text and "rosma provision" in page.text
    assert "Tidak ada peringatan" in page.text


# ---- in a real Chromium: laptop and phone, the refresh, a refused role -----------------------


def _fleet_of_five() -> None:
    """The five seed puskesmas's nodes in five different states."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    version = fleet.software_version()

    def status(**over):
        return json.dumps(
            healthy(version=version, last_sync=(now + dt.timedelta(hours=7)).isoformat() + "+07:00", **over)
        )

    place = {p.code: p for p in Puskesmas.select()}
    Node.create(
        node_id="pkm-cibinong",
        puskesmas=place["cibinong"],
        online=True,
        last_seen=now,
        status_at=now,
        status=status(
            backlog=120, oldest_s=95, devices={**OK_DEVICES, "printer": {"ok": False, "message": "Kertas habis"}}
        ),
    )
    since = now - dt.timedelta(minutes=25)
    Node.create(
        node_id="pkm-ciawi",
        puskesmas=place["ciawi"],
        online=False,
        last_seen=since,
        offline_since=since,
        status_at=since,
        status=status(),
    )
    Node.create(
        node_id="pkm-cileungsi",
        puskesmas=place["cileungsi"],
        online=True,
        last_seen=now,
        status_at=now,
        status=status(),
    )
    Node.create(
        node_id="pkm-citeureup",
        puskesmas=place["citeureup"],
        online=True,
        last_seen=now,
        status_at=now,
        status=json.dumps(
            healthy(
                version="0.1.0",
                skew_s=-400.0,
                devices={**OK_DEVICES, "printer": {"ok": True, "message": "Kertas hampir habis"}},
            )
        ),
    )
    Node.create(node_id="pkm-cisarua", puskesmas=place["cisarua"])


@pytest.fixture
def fleet_site(central_config, serve):
    from central.app import build

    app = build(central_config)
    _fleet_of_five()
    staff.add("dinkes", "Dinas Kesehatan", "admin_kabupaten", None, "", PASSWORD)
    staff.add("kepala.cibinong", "Kepala Cibinong", "kepala_puskesmas", "cibinong", "", PASSWORD)
    return serve(app)


@pytest.fixture
def browser(fleet_site, chromium):
    return lambda width, height, phone=False: open_tab(
        chromium, fleet_site, (width, height), phone=phone, console=every_error
    )


def browser_sign_in(page, username: str) -> None:
    page.goto("/petugas/masuk")
    page.get_by_label("Nama pengguna").fill(username)
    page.get_by_label("Kata sandi").fill(PASSWORD)
    page.get_by_role("button", name="Masuk").click()
    page.wait_for_url("**/petugas/")


def test_the_fleet_page_on_a_laptop_refreshes_by_itself(browser):
    from playwright.sync_api import expect

    page = browser(1280, 800)
    browser_sign_in(page, "dinkes")
    page.get_by_role("navigation", name="Menu petugas").get_by_role("link", name="Node", exact=True).click()
    expect(page.get_by_role("heading", name="Node puskesmas")).to_be_visible()
    alerts = page.locator(".fleet-alert")
    expect(alerts.first).to_contain_text("Luring sejak")  # red first: Ciawi offline 25 min, then Cibinong's printer
    expect(page.locator(".fleet-alert-danger")).to_have_count(2)
    expect(page.locator(".fleet-alert-danger").nth(1)).to_contain_text("Printer: Kertas habis")
    expect(page.locator(".fleet-alert-warning")).to_contain_text(
        [
            "Antrean kirim menumpuk: 120 kejadian, tertua 1 menit",
            "Belum pernah terhubung ke server pusat",
            "Printer: Kertas hampir habis",
            "Jam node 6 menit lebih lambat dari server pusat",
            "Versi 0.1.0, server pusat",
        ]
    )  # amber ones by puskesmas: Cibinong, Cisarua, Citeureup
    row = page.locator("tr[data-node='pkm-cibinong']")
    expect(row).to_contain_text("Antrean kirim: 120 kejadian, tertua 1 menit")
    expect(row.locator("td[data-label='Printer']")).to_have_text("Kertas habis")
    expect(page.locator("tr[data-node='pkm-cisarua']")).to_contain_text("Belum pernah terhubung")
    page.screenshot(path=str(SHOTS / "fleet-laptop.png"), full_page=True)

    page.goto("/petugas/node/?setiap=1")  # the same page, refreshing every second
    expect(page.locator("tr[data-node='pkm-cileungsi'] td[data-label='Suara']")).to_have_text("Suara siap")
    node = Node.get(Node.node_id == "pkm-cileungsi")
    broken = json.loads(node.status)
    broken["devices"]["audio"] = {"ok": False, "message": "Kartu suara <tidak> ada"}
    Node.update(status=json.dumps(broken)).where(Node.id == node.id).execute()
    cell = page.locator("tr[data-node='pkm-cileungsi'] td[data-label='Suara']")
    expect(cell).to_have_text("Kartu suara <tidak> ada", timeout=5000)  # shown as text, never as markup
    expect(page.locator(".fleet-alert-warning").first).to_be_visible()
    expect(page.locator(".fleet-alerts")).to_contain_text("Suara: Kartu suara <tidak> ada")
    assert page.locator("tidak").count() == 0
    expect(page.locator("#fleet-refresh")).to_have_text("Diperbarui otomatis tiap 1 detik.")
    assert page.problems == []


def test_the_fleet_page_on_a_phone_is_cards_and_a_kepala_is_refused(browser):
    from playwright.sync_api import expect

    phone = browser(390, 844, phone=True)
    browser_sign_in(phone, "dinkes")
    phone.goto("/petugas/node/")
    card = phone.locator("tr[data-node='pkm-cibinong']")
    expect(card.locator("td[data-label='Printer']")).to_be_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing wider than the phone: rows are cards
    box = card.bounding_box()
    assert box["width"] <= 390 and box["height"] > 200  # a row stands as a card of its fields
    phone.screenshot(path=str(SHOTS / "fleet-phone.png"), full_page=True)
    assert phone.problems == []

    kepala = browser(1280, 800)
    browser_sign_in(kepala, "kepala.cibinong")
    expect(kepala.get_by_role("navigation", name="Menu petugas")).to_be_visible()
    expect(kepala.get_by_role("link", name="Node", exact=True)).to_have_count(0)
    response = kepala.goto("/petugas/node/")
    assert response.status == 403
    expect(kepala.get_by_text("Peran Anda tidak boleh membuka halaman ini.")).to_be_visible()
    expect(kepala.locator("body")).not_to_contain_text("pkm-ciawi")
    kepala.screenshot(path=str(SHOTS / "fleet-refused-kepala.png"), full_page=True)
