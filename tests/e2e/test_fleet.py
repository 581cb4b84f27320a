"""The fleet view with real processes: the edge's printer runs out of paper and the admin
kabupaten sees "Kertas habis" at central; the edge stops and the node shows offline."""

from __future__ import annotations

import pytest
from harness import wait_for

pytestmark = pytest.mark.e2e


def test_paper_out_at_the_edge_and_the_edge_stopping_show_at_central(system_with_printer):
    system = system_with_printer
    system.add_staff("dinkes.bogor", "admin_kabupaten")
    dinkes = system.central_staff("dinkes.bogor")
    loket = system.central_staff("petugas.loket")
    url = system.central_url + "/petugas/node/data.json"

    def node(pred):
        r = dinkes.get(url, timeout=10)
        assert r.status_code == 200, r.text
        found = [n for n in r.json()["nodes"] if n["node_id"] == system.node_id]
        return found[0] if found and pred(found[0], r.json()) else None

    def printer(n):
        return next(d for d in n["devices"] if d["device"] == "printer")

    up = wait_for(lambda: node(lambda n, _: n["online"] and printer(n)["ok"]), 60, "the node online, printer ready")
    assert up["presence"] == "Daring" and up["puskesmas_code"] == system.puskesmas
    assert up["version"] and not up["version_old"] and abs(up["skew_s"]) < 5

    system.set_printer("paper_out")
    out = wait_for(lambda: node(lambda n, _: printer(n)["ok"] is False), 30, "paper out at central")
    assert printer(out)["message"] == "Kertas habis" and out["level"] == "danger"
    alerts = dinkes.get(url, timeout=10).json()["alerts"]
    assert {"node_id": system.node_id, "level": "danger", "kind": "printer"}.items() <= next(
        a for a in alerts if a["kind"] == "printer"
    ).items()
    page = dinkes.get(system.central_url + "/petugas/node/", timeout=10)
    assert page.status_code == 200 and "Printer: Kertas habis" in page.text and system.node_id in page.text
    assert loket.get(url, timeout=10).status_code == 403  # the loket of that puskesmas may not see the fleet

    system.stop_process("edge")
    down = wait_for(lambda: node(lambda n, _: not n["online"]), 30, "the node offline at central")
    assert down["presence"].startswith("Luring sejak ") and down["offline_since"]
    page = dinkes.get(system.central_url + "/petugas/node/", timeout=10)
    assert down["presence"] in page.text
