"""The phone's live queue page in a real Chromium: a call at the puskesmas shows on the page
without a reload, pushed by the phone streams (central.streams) from what the sync worker stores."""

from __future__ import annotations

import dataclasses

import pytest

from central.app import build
from central.models import Node, Puskesmas
from central.streams import server_for
from central.sync import CentralSync
from infra.mqtt import Settings
from infra.mqtt.memory import MemoryBroker
from protocol import messages
from protocol.clock import Clock
from provisioning.local_broker import free_port
from tests.central.live import PHONE, SHOTS, open_tab


@pytest.fixture
def live(central_config, serve):
    cfg = dataclasses.replace(central_config, stream_port=free_port())
    app = build(cfg)
    clock = Clock(cfg.clock_start)
    today = clock.now().date()
    place = Puskesmas.get(Puskesmas.code == "cibinong")
    node = Node.create(node_id="pkm-cibinong", puskesmas=place, online=True)
    sync = CentralSync(MemoryBroker().transport(Settings(username="central")))

    def publish(counters: dict, waiting: list[str], recent: list[dict] = ()):
        board = {
            "day": today.isoformat(),
            "at": clock.now().isoformat(timespec="seconds"),
            "counters": counters,
            "queues": {
                "REG-A": {"name": "Pendaftaran Umum", "waiting": waiting, "estimates": [[5, 15]] * len(waiting)},
                "POLI-UMUM": {"name": "Poli Umum", "waiting": [], "estimate_next": None},
            },
            "order": ["REG-A", "POLI-UMUM"],
            "recent": list(recent),
        }
        sync.handlers[messages.QueueSnapshot](Node.get_by_id(node.id), messages.QueueSnapshot(board["day"], [board]))

    publish({"Loket 1": "A001"}, ["A002", "A003"])
    streams = server_for(cfg, lambda: today).start()
    assert streams.error is None
    yield serve(app), publish, node, sync
    streams.stop()


def test_a_call_reaches_the_phone_page_without_a_reload(live, chromium):
    base, publish, node, sync = live
    tab = open_tab(chromium, base, PHONE)
    tab.goto("/antrian/cibinong?nomor=A003")
    assert "Ada 1 orang sebelum Anda" in tab.inner_text("#my-place")
    assert tab.inner_text("#my-place").count("Dipanggil perkiraan 5–15 menit lagi") == 1
    tab.wait_for_function("() => document.getElementById('live').dataset.rev !== undefined")  # the stream is open
    tab.evaluate("() => { window.__notReloaded = true; }")
    publish({"Loket 1": "A002"}, ["A003"], [{"label": "A002", "destination": "Loket 1", "at": "08:15"}])
    tab.wait_for_function("() => document.getElementById('my-place').innerText.includes('Berikutnya')")
    publish({"Loket 2": "A003", "Loket 1": "A002"}, [], [{"label": "A003", "destination": "Loket 2", "at": "08:16"}])
    tab.wait_for_function("() => document.getElementById('my-place').innerText.includes('Sedang dipanggil')")
    assert "silakan menuju Loket 2" in tab.inner_text("#my-place")
    assert tab.evaluate("() => window.__notReloaded") is True  # the same page, not a reload
    assert tab.title().startswith("Dipanggil: A003")
    assert "A003" in tab.inner_text("#called") and "08.16" in tab.inner_text("#recent")
    assert tab.locator("meta[http-equiv=refresh]").count() == 0
    tab.screenshot(path=str(SHOTS / "phone-queue-called.png"), full_page=True)
    # the edge drops off: the page says since when its numbers are
    sync.handlers[messages.Presence](Node.get_by_id(node.id), messages.Presence(False))
    tab.wait_for_function("() => document.getElementById('live-status').innerText.includes('tidak terhubung')")
    assert "Data terakhir pukul" in tab.inner_text("#live-status")
    tab.screenshot(path=str(SHOTS / "phone-queue-offline.png"), full_page=True)
    assert tab.problems == []


def test_the_page_lets_only_its_own_and_the_streams_origin_connect(live, chromium):
    base, *_ = live
    tab = open_tab(chromium, base, PHONE)
    response = tab.goto("/antrian/cibinong")
    csp = response.headers["content-security-policy"]
    stream = tab.get_attribute("#live", "data-stream")
    origin = stream.split("/arus/")[0]
    assert f"connect-src 'self' {origin};" in csp and stream.endswith("/arus/cibinong")
    tab.wait_for_function("() => document.getElementById('live').dataset.rev !== undefined")
    assert "Pantau nomor antrean Anda" in tab.inner_text("#live")
    tab.screenshot(path=str(SHOTS / "phone-queue.png"), full_page=True)
    assert tab.problems == []
