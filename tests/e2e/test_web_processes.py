"""Central as it runs for a kabupaten: ``rosma central run`` with two web processes on one port
and two ``rosma central sync`` workers on the shared subscription, all on one PostgreSQL.

Both processes answer; a staff member's sign-in and form made through one are good on the other;
wrong PINs sent through both processes add up to one lockout; and a reservation made at central
reaches the edge and its visit comes back to central exactly once."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
from urllib.parse import urlencode, urlparse

import pytest
import requests
from harness import PATIENT_PIN, STAFF_PASSWORD, System, csrf_of, wait_for
from test_flow import call_and_announce, check_in_and_print, reserve_and_sync

from central import db as central_db
from central.models import Visit

pytestmark = pytest.mark.e2e

NIK, BIRTH = "3201015203880002", "1988-03-12"


@pytest.fixture
def kabupaten(tmp_path, pg_database, days):
    s = System(tmp_path, pg_database, days[0], central_settings={"web_processes": 2}, sync_workers=2)
    try:
        s.start()
        yield s
    finally:
        s.stop()


class Connection:
    """One keep-alive connection to central: every request on it is served by the same process."""

    def __init__(self, url: str):
        u = urlparse(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        self.cookies: dict[str, str] = {}
        self.process = None
        self.process = self.get("/api/v1/puskesmas")[0].getheader("X-Rosma-Process")

    def request(self, method: str, path: str, body=None, headers=None, form: dict | None = None):
        head = dict(headers or {})
        if self.cookies:
            head["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if form is not None:
            body = urlencode(form)
            head["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            body = json.dumps(body)
            head["Content-Type"] = "application/json"
        self.conn.request(method, path, body=body, headers=head)
        resp = self.conn.getresponse()
        text = resp.read().decode(errors="replace")
        for value in resp.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        if self.process is not None:
            assert resp.getheader("X-Rosma-Process") == self.process, "a keep-alive connection changed process"
        return resp, text

    def get(self, path: str, headers=None):
        return self.request("GET", path, headers=headers)

    def close(self):
        self.conn.close()


def one_on_each_process(url: str) -> dict[str, Connection]:
    """Open connections until one is held by each of the two web processes."""
    found: dict[str, Connection] = {}

    def both():
        c = Connection(url)
        if c.process in found:
            c.close()
        else:
            found[c.process] = c
        return len(found) == 2

    wait_for(both, 30, "connections served by both web processes", interval=0)
    assert sorted(found) == ["1", "2"], found
    return found


def visits(pg_url: str, label: str) -> list[Visit]:
    central_db.connect(pg_url, migrate=False)
    try:
        return list(Visit.select().where(Visit.label == label))
    finally:
        central_db.database.close()


def test_two_web_processes_and_two_sync_workers_share_one_database(kabupaten, days):
    s = kabupaten
    # one port, two processes: new connections are answered by both
    seen = set()
    wait_for(
        lambda: seen.add(requests.get(s.central_url + "/", timeout=5).headers.get("X-Rosma-Process")) or len(seen) >= 2,
        30,
        "both web processes to answer",
        interval=0,
    )
    assert seen == {"1", "2"}
    one, two = (conns := one_on_each_process(s.central_url))["1"], conns["2"]
    try:
        # a staff member signs in through process 1; the page's form, sent through process 2, works
        page = one.get("/petugas/masuk")[1]
        form = {"csrf_token": csrf_of(page), "username": "petugas.loket", "password": STAFF_PASSWORD}
        resp, _ = one.request("POST", "/petugas/masuk", form=form)
        assert resp.status == 302, "the sign-in failed"
        two.cookies = dict(one.cookies)
        resp, page = two.get("/petugas/reset-pin")
        assert resp.status == 200 and 'name="nik"' in page, "process 2 does not know the signed-in staff member"
        s.patient(NIK, BIRTH, "P")
        form = {"csrf_token": csrf_of(page), "nik": NIK, "birth_date": BIRTH, "ktp": "1"}
        one.cookies = dict(two.cookies)
        resp, page = one.request("POST", "/petugas/reset-pin", form=form)  # the form of process 2, sent to 1
        assert resp.status == 200 and re.search(r'id="reset-code">\d+<', page), page[-1500:]

        # wrong PINs, two through each process: together past the 3 an account may get wrong on a device
        wrong = {"nik": NIK, "birth_date": BIRTH, "pin": "999999"}
        for conn in (one, two, one, two):
            resp, text = conn.request("POST", "/api/v1/login", body=wrong)
            assert resp.status == 401 and json.loads(text)["error"] == "NIK, tanggal lahir, atau PIN salah."
        # now even the right PIN is refused, on either process, with the wait in Indonesian
        for conn in (one, two):
            resp, text = conn.request("POST", "/api/v1/login", body={**wrong, "pin": PATIENT_PIN})
            assert resp.status == 429, text
            assert re.fullmatch(
                r"Terlalu banyak percobaan masuk\. Coba lagi dalam \d+ menit\.", json.loads(text)["error"]
            )
    finally:
        one.close()
        two.close()

    # a reservation booked at central reaches the edge, and its visit comes back once, through two sync workers
    events = s.events()
    try:
        _auth, res, text = reserve_and_sync(s, days)
        check_in_and_print(s, events, text)
        call_and_announce(s, events)
    finally:
        events.close()
    done = wait_for(
        lambda: (v := visits(s.pg_url, "U001")) and v[0].state == "done" and v, 60, "the finished visit at central"
    )
    wait_for(lambda: s.edge_status()["outbox_pending"] == 0, 60, "the edge's outbox to drain")
    assert len(done) == 1 and done[0].rid == res["rid"]
    assert len(visits(s.pg_url, "U001")) == 1  # after the outbox drained: still exactly one
    for name in ("sync", "sync-1"):
        assert "central sync connected" in s.log_text(name), s.log_text(name)[-2000:]

    # a web process that dies is replaced; the site keeps answering meanwhile
    victim = int(re.findall(r"web process 2 started \(pid (\d+)\)", s.log_text("central"))[-1])
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: "starting it again" in s.log_text("central"), 30, "the parent to notice the dead process")
    assert requests.get(s.central_url + "/api/v1/puskesmas", timeout=10).status_code == 200
    seen.clear()
    wait_for(
        lambda: seen.add(requests.get(s.central_url + "/", timeout=5).headers.get("X-Rosma-Process")) or len(seen) >= 2,
        60,
        "both web processes to answer again",
        interval=0,
    )
    assert "Traceback" not in s.log_text("central")
