"""The queue follows the patient, on the real processes: a walk-in's printed ticket carries a QR;
decoded off the printed ticket and opened in Chromium it shows that ticket's live page, and the
loket's call arrives on it without a reload (edge -> broker -> central's sync -> phone streams)."""

from __future__ import annotations

import requests
from harness import SHOTS, System, wait_for
from PIL import Image

from devices.scanner.image import read_qr_codes


def test_a_tickets_qr_opens_its_live_page_and_the_call_arrives_without_a_reload(tmp_path, pg_database, days, browser):
    system = System(tmp_path, pg_database, days[0])
    system.central_settings["public_url"] = system.central_url  # what rosma provision hands the edge
    try:
        system.start()
        r = requests.post(system.edge_url + "/api/kiosk/walkin", json={"payer": "UMUM"}, timeout=10)
        assert r.status_code == 201, r.text
        label = r.json()["label"]
        png = wait_for(
            lambda: [t.with_suffix(".png") for t in system.tickets_printed() if t.with_suffix(".png").exists()]
        )
        codes = read_qr_codes(Image.open(png[0]))
        assert len(codes) == 1 and codes[0].startswith(system.central_url + "/t/"), codes
        token = codes[0].rsplit("/", 1)[1]
        assert len(token) >= 16
        text = png[0].with_suffix(".txt").read_text()
        assert "NOMOR ANTREAN" in text and "Pantau antrean dari HP" in text

        phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
        errors = []
        phone.on("pageerror", lambda exc: errors.append(str(exc)))
        phone.goto(codes[0])
        assert "/antrian/cibinong?tiket=" in phone.url
        assert label in phone.inner_text(".my-number")
        # the ticket's board reaches central; the stream brings it to the page
        phone.wait_for_function(
            "() => /Berikutnya|sebelum Anda/.test(document.getElementById('my-place').innerText)", timeout=30000
        )
        phone.evaluate("() => { window.__sameDocument = true; }")
        staff = system.staff("petugas.loket")
        called = staff.post(system.edge_url + "/api/counters/loket-1/next", timeout=10).json()
        assert called["label"] == label
        phone.wait_for_function(
            "() => document.getElementById('my-place').innerText.includes('Sedang dipanggil')", timeout=10000
        )
        assert "silakan menuju Loket 1" in phone.inner_text("#my-place")
        assert phone.evaluate("() => window.__sameDocument") is True  # no reload
        phone.screenshot(path=str(SHOTS / "phone-ticket-called.png"), full_page=True)
        assert errors == []
        # finished: the number leaves "sedang dipanggil"
        staff.post(f"{system.edge_url}/api/tickets/{called['ticket']}/finish", timeout=10)
        phone.wait_for_function(
            "() => !document.getElementById('my-place').innerText.includes('Sedang dipanggil')", timeout=10000
        )
        assert label not in phone.inner_text("#called")
    finally:
        system.stop()
