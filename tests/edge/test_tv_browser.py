"""The waiting-room TV in a real Chromium at 1920x1080 (a 43" 1080p screen read from 5 m): the
called number and the rows are large enough, nothing is cut off with 6 poli, priority numbers
wear their class, the admin's running text runs along the bottom, and a number leaves the screen
when the petugas presses "Selesai". Screenshots go to var/screenshots/ for a person to look at."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from waitress.server import create_server

from edge.app import Runtime, create_app
from edge.config import from_dict
from edge.models import Ticket
from edge.sync import SyncClient
from protocol import passwords
from protocol.changes import SiteChanged, StaffChanged

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "var" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
PASSWORD = "kata-sandi-loket"
POLIS = [
    ("UMUM", "Poli Umum", "U"),
    ("GIGI", "Poli Gigi & Mulut", "G"),
    ("KIA", "Poli Kesehatan Ibu & Anak", "K"),
    ("LANSIA", "Poli Lansia", "L"),
    ("MTBS", "Poli MTBS (Anak Sakit)", "M"),
    ("TB", "Poli TB-Paru", "T"),
]
RUNNING = "Pendaftaran pasien umum ditutup pukul 11.00 WIB. Bawa kartu BPJS atau KTP. Terima kasih atas kesabaran Anda."

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's Chromium")


@pytest.fixture
def node(tmp_path):
    cfg = from_dict(
        {
            "node_id": "pkm-test",
            "puskesmas_code": "cibinong",
            "puskesmas_name": "Puskesmas Cibinong",
            "qr_public_keys": {"56475aa75463474c": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="},
            "polis": [{"code": c, "name": n, "prefix": p} for c, n, p in POLIS],
            "lokets": 2,
            "data_dir": str(tmp_path),
            "kiosk_on_this_device": False,
            "clock_start": "2026-11-26T08:05:00+07:00",
        }
    )
    rt = Runtime(cfg)  # not started: no printer, no sync; the pages and the event stream are real
    SyncClient._upsert_site(SiteChanged(name="Puskesmas Cibinong", lokets=2, running_text=RUNNING))
    SyncClient._upsert_staff(
        StaffChanged(username="rina", name="Rina", role="petugas_loket", password_hash=passwords.hash_secret(PASSWORD))
    )
    app = create_app(cfg, rt)
    server = create_server(app, host="127.0.0.1", port=0, threads=8)
    stop = threading.Event()

    def run():
        while not stop.is_set():
            server.asyncore.loop(timeout=0.2, map=server._map, count=1)
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        for channel in list(server._map.values()):  # open connections too (the TV's event stream)
            channel.close()

    thread = threading.Thread(target=run, name="waitress-tv", daemon=True)
    thread.start()
    yield rt.service, f"http://127.0.0.1:{server.effective_port}"
    stop.set()
    thread.join(timeout=10)
    rt.stop.set()
    rt.db.close()


@pytest.fixture
def browser():
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def a_busy_morning(svc) -> dict:
    """Registration and all six poli at work: numbers waiting everywhere, a few called. Returns
    what each counter called."""
    for i in range(24):  # registered at the loket and sent on, four to each poli
        t = svc.issue_walkin("UMUM" if i % 3 else "BPJS")
        svc.call_next("loket-1")
        svc.act(t.key, "transfer", to_poli=POLIS[i % 6][0])
    for _ in range(9):
        svc.issue_walkin("UMUM")
    for _ in range(4):
        svc.issue_walkin("BPJS")
    svc.issue_walkin("UMUM", priority_class="disabilitas")
    called = {f"poli-{code}": svc.call_next(f"poli-{code}").label for code, _name, _prefix in POLIS}
    called["loket-2"] = svc.call_next("loket-2").label  # the priority number first
    called["loket-1"] = svc.call_next("loket-1").label  # called last: the one on the big display
    # two more priority numbers wait, each with its class on the TV
    called["lansia"] = svc.issue_walkin("UMUM", priority_class="lansia").label
    called["ibu_hamil"] = svc.issue_walkin("BPJS", priority_class="ibu_hamil").label
    return called


def sizes(tv) -> dict:
    return tv.evaluate(
        """() => {
          const px = (el) => parseFloat(getComputedStyle(el).fontSize);
          const all = (sel) => Array.from(document.querySelectorAll(sel));
          const outside = [];
          const H = window.innerHeight, W = window.innerWidth;
          for (const el of all('.counter, .queue, #recent li, .chip, .now-number, .now-dest, .tv-foot')) {
            const r = el.getBoundingClientRect();
            let box = el.closest('section') || document.body;
            const b = box.getBoundingClientRect();
            if (r.bottom > Math.min(b.bottom, H) + 1 || r.right > Math.min(b.right, W) + 1 || r.left < b.left - 1)
              outside.push(el.className + ': ' + el.textContent.slice(0, 40));
          }
          const number = document.getElementById('now-number');
          if (number.scrollWidth > number.clientWidth + 1) outside.push('now-number is wider than its box');
          return {
            number: px(number),
            chips: all('#waiting .chip:not(.more)').map(px),
            counters: all('#counters .counter').map(px),
            recent: all('#recent li').length,
            outside: outside,
            overflowing: document.documentElement.scrollHeight > H || document.documentElement.scrollWidth > W,
          };
        }"""
    )


def test_the_tv_is_legible_at_1080p_and_follows_the_counters(node, browser):
    svc, base = node
    called = a_busy_morning(svc)
    board = svc.board
    # another branch adds the waiting estimate to the board: the TV shows it when it is there
    svc.board = lambda: {
        **(b := board()),
        "queues": {q: {**v, "estimate_next": [10, 20] if q == "POLI-UMUM" else None} for q, v in b["queues"].items()},
    }
    problems = []
    for section, queues, counters in (("poli", 6, 6), ("pendaftaran", 2, 2), ("semua", 8, 8)):
        tv = browser.new_page(viewport={"width": 1920, "height": 1080})
        tv.on("pageerror", lambda exc: problems.append(str(exc)))
        tv.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
        tv.goto(f"{base}/tv/{section}")
        tv.wait_for_function(
            f"() => document.querySelectorAll('#waiting .queue').length === {queues}"
            f" && document.querySelectorAll('#counters .counter').length === {counters}"
        )
        tv.wait_for_function("() => /WIB$/.test(document.getElementById('clock').textContent)")
        expect(tv.locator("#clock")).to_have_text(re.compile(r"^\d\d\.\d\d WIB$"))  # 08.05 WIB
        got = sizes(tv)
        tv.screenshot(path=str(SHOTS / f"edge-tv-{section}-1080p.png"))
        assert got["number"] >= 160, (section, got)
        if section != "semua":  # "semua" crowds 8 queues on one screen: smaller chips are allowed there
            assert got["chips"] and min(got["chips"]) >= 48, (section, got)
        assert got["counters"] and min(got["counters"]) >= 48, (section, got)
        assert 4 <= got["recent"] <= 5 and not got["outside"] and not got["overflowing"], (section, got)
        expect(tv.locator("#running-line")).to_have_text(RUNNING)
        assert tv.locator("#running-line").evaluate("e => getComputedStyle(e).animationName") == "marquee"
        if section == "poli":
            expect(tv.locator("#now-number")).to_have_text(called["poli-TB"])
            expect(tv.locator("#now-dest")).to_have_text("silakan menuju Poli TB-Paru")
            expect(tv.locator("#waiting .queue").first).to_contain_text("perkiraan 10–20 menit")
            expect(tv.locator("#waiting .estimate")).to_have_count(1)
            first = re.compile(re.escape(called["poli-TB"]) + r"\s*→ Poli TB-Paru\s*08\.\d\d")
            expect(tv.locator("#recent li").first).to_contain_text(first)
        if section == "pendaftaran":
            expect(tv.locator("#now-number")).to_have_text(called["loket-1"])
            expect(tv.locator("#now-dest")).to_have_text("silakan menuju Loket 1")
            expect(tv.locator("#waiting .chip.prio", has_text=called["lansia"])).to_contain_text("Lansia")
            expect(tv.locator("#waiting .chip.prio", has_text=called["ibu_hamil"])).to_contain_text("Ibu hamil")
            expect(tv.locator("#waiting .chip.prio")).to_have_count(2)
        tv.close()
    assert not problems, problems

    # the petugas at Loket 1 presses "Selesai": the number leaves "Dipanggil" and the counter list
    # (it stays in the last calls); Loket 2's call shows again on the big display
    tv = browser.new_page(viewport={"width": 1920, "height": 1080})
    tv.goto(f"{base}/tv/pendaftaran")
    expect(tv.locator("#now-number")).to_have_text(called["loket-1"])
    staff = browser.new_page(viewport={"width": 1280, "height": 900})
    staff.goto(f"{base}/staff/loket-1")
    staff.locator("#username").fill("rina")
    staff.locator("#password").fill(PASSWORD)
    staff.locator("#sign-in").click()
    expect(staff.locator("#current-number")).to_have_text(called["loket-1"])
    staff.get_by_role("button", name="✔ Selesai").click()
    expect(staff.get_by_text(f"{called['loket-1']}: Selesai")).to_be_visible()
    expect(tv.locator("#now-number")).to_have_text(called["loket-2"], timeout=10000)  # Loket 2's, still open
    expect(tv.locator("#counters")).not_to_contain_text(called["loket-1"])
    expect(tv.locator("#recent li").first).to_contain_text(called["loket-1"])
    done = Ticket.get((Ticket.label == called["loket-1"]) & Ticket.queue.startswith("REG-"))
    assert done.state == "done"
    # Loket 2's patient does not come: nothing is called any more
    svc.act(Ticket.get((Ticket.label == called["loket-2"]) & (Ticket.state == "called")).key, "no_show")
    expect(tv.locator("#now-number")).to_have_text("–", timeout=10000)
    expect(tv.locator("#counters")).to_have_text("Belum ada nomor dipanggil.")
    tv.screenshot(path=str(SHOTS / "edge-tv-pendaftaran-after-selesai-1080p.png"))


def test_the_running_text_stands_still_for_reduced_motion_and_a_phone_can_read_the_board(node, browser):
    svc, base = node
    a_busy_morning(svc)
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, reduced_motion="reduce")
    tv = context.new_page()
    tv.goto(f"{base}/tv/poli")
    tv.wait_for_function("() => document.querySelectorAll('#waiting .queue').length === 6")
    line = tv.locator("#running-line")
    expect(line).to_have_text(RUNNING)
    assert line.evaluate("e => getComputedStyle(e).animationName") == "none"
    box = line.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 1920  # all of it on the screen
    got = sizes(tv)
    assert min(got["chips"]) >= 48 and not got["outside"] and not got["overflowing"], got
    tv.screenshot(path=str(SHOTS / "edge-tv-poli-reduced-motion-1080p.png"))
    context.close()
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(f"{base}/tv")
    phone.wait_for_function("() => document.querySelectorAll('#waiting .queue').length === 8")
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390
    phone.screenshot(path=str(SHOTS / "edge-tv-phone.png"), full_page=True)
