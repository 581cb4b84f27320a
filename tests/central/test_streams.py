"""The phones' live queue streams (central.streams): a real aiohttp server on a free port, read
over real sockets, fed by central's sync worker storing the edge's snapshots."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading

import pytest

from central import db as central_db
from central.config import from_dict
from central.models import Node, Puskesmas
from central.streams import server_for
from central.sync import CentralSync
from infra.mqtt import Settings
from infra.mqtt.memory import MemoryBroker
from protocol import messages
from provisioning.local_broker import free_port

DAY = dt.date(2026, 11, 26)


def board(counters: dict, waiting: list[str], day: str = "2026-11-26") -> dict:
    return {
        "day": day,
        "at": f"{day}T08:12:05+07:00",
        "counters": counters,
        "queues": {
            "REG-A": {"name": "Pendaftaran Umum", "waiting": waiting},
            "POLI-UMUM": {"name": "Poli Umum", "waiting": ["U002"], "estimate_next": [10, 20]},
        },
        "order": ["REG-A", "POLI-UMUM"],
        "recent": [{"label": "A001", "destination": "Loket 1", "at": "08:10"}],
    }


class Reader:
    """One phone's stream, read on a raw socket: the events as they arrive."""

    def __init__(self, port: int, path: str, timeout: float = 10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
        self.buf = b""
        head = self._until(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])
        self.headers = head.decode("latin-1").lower()

    def _until(self, mark: bytes) -> bytes:
        while mark not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("stream closed")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(mark)
        return head

    def body(self) -> bytes:
        """The rest of a short (error) answer."""
        self.sock.settimeout(5)
        while not self.buf.endswith(b"}"):
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        return self.buf

    def event(self) -> dict:
        """The next board event (chunked transfer framing and comments skipped)."""
        while True:
            raw = self._until(b"\n\n")
            lines = [ln for ln in raw.split(b"\n") if ln and not ln.startswith(b":")]
            data = [ln[5:].strip() for ln in lines if ln.startswith(b"data:")]
            if data:
                return json.loads(b"".join(data))

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def central(tmp_path):
    central_db.connect(f"sqlite:///{tmp_path / 'c.db'}")
    pkm = Puskesmas.create(code="cibinong", name="Puskesmas Cibinong", address="-", kecamatan="-")
    Puskesmas.create(code="ciawi", name="Puskesmas Ciawi", address="-", kecamatan="-")
    node = Node.create(node_id="pkm-cibinong", puskesmas=pkm, online=True)
    cfg = from_dict({"secret_key": "s" * 40, "stream_port": free_port(), "stream_per_client": 4})
    server = server_for(cfg, lambda: DAY)
    server.hub.exempt = lambda address: False  # the tests' own address counts as a phone's
    server.start()
    assert server.error is None
    sync = CentralSync(MemoryBroker().transport(Settings(username="central")))
    yield cfg.stream_port, node, sync, server
    server.stop()
    central_db.database.close()


def snapshot(sync: CentralSync, node: Node, data: dict) -> None:
    """What the sync worker does when the edge's snapshot arrives."""
    sync.handlers[messages.QueueSnapshot](Node.get_by_id(node.id), messages.QueueSnapshot(data["day"], [data]))


def test_a_phone_gets_the_board_at_once_and_every_change_pushed(central):
    port, node, sync, _server = central
    snapshot(sync, node, board({"Loket 1": "A001"}, ["A002", "A003"]))
    phone = Reader(port, "/arus/cibinong")
    try:
        assert phone.status == 200
        assert "text/event-stream" in phone.headers and "access-control-allow-origin: *" in phone.headers
        first = phone.event()
        assert first["available"] and first["online"]
        assert first["called"] == [{"destination": "Loket 1", "label": "A001"}]
        assert first["queues"][0] == {"name": "Pendaftaran Umum", "waiting": ["A002", "A003"]}
        assert first["queues"][1]["estimate_next"] == [10, 20]
        assert first["updated"] == "08.12"
        snapshot(sync, node, board({"Loket 1": "A002"}, ["A003"]))  # the edge called A002
        second = phone.event()
        assert second["called"] == [{"destination": "Loket 1", "label": "A002"}]
        assert second["queues"][0]["waiting"] == ["A003"]
        assert second["rev"] > first["rev"]
    finally:
        phone.close()


def test_every_phone_of_the_puskesmas_gets_the_call_and_no_other(central):
    port, node, sync, _server = central
    snapshot(sync, node, board({}, ["A001"]))
    phones = [Reader(port, "/arus/cibinong") for _ in range(3)]
    other = Reader(port, "/arus/ciawi")
    try:
        assert all(p.event()["called"] == [] for p in phones)
        assert other.event()["available"] is False  # Ciawi has no edge reporting
        snapshot(sync, node, board({"Loket 2": "A001"}, []))
        assert [p.event()["called"][0]["label"] for p in phones] == ["A001"] * 3
        other.sock.settimeout(0.5)
        with pytest.raises(TimeoutError):  # nothing changed at Ciawi: it gets no event
            other.event()
    finally:
        for p in [*phones, other]:
            p.close()


def test_a_phone_that_reconnects_is_right_at_once(central):
    port, node, sync, _server = central
    snapshot(sync, node, board({"Loket 1": "A001"}, ["A002"]))
    phone = Reader(port, "/arus/cibinong")
    phone.event()
    phone.close()
    snapshot(sync, node, board({"Loket 1": "A002"}, []))  # while the phone was away
    again = Reader(port, "/arus/cibinong")
    try:
        assert again.event()["called"] == [{"destination": "Loket 1", "label": "A002"}]
    finally:
        again.close()


def test_the_edge_going_offline_is_shown_with_the_time_of_its_data(central):
    port, node, sync, _server = central
    snapshot(sync, node, board({"Loket 1": "A001"}, ["A002"]))
    phone = Reader(port, "/arus/cibinong")
    try:
        assert phone.event()["online"] is True
        sync.handlers[messages.Presence](Node.get_by_id(node.id), messages.Presence(False))  # the broker's will
        gone = phone.event()
        assert gone["online"] is False and gone["updated"] == "08.12"
        assert gone["called"] == [{"destination": "Loket 1", "label": "A001"}]  # the last numbers stay
    finally:
        phone.close()


def test_yesterdays_board_is_not_shown(central):
    port, node, sync, _server = central
    snapshot(sync, node, board({"Loket 1": "A001"}, ["A002"], day="2026-11-25"))
    phone = Reader(port, "/arus/cibinong")
    try:
        seen = phone.event()
        assert seen["available"] is False and seen["called"] == [] and seen["queues"] == []
    finally:
        phone.close()


@pytest.mark.parametrize("path", ["/arus/tidak-ada", "/arus/..%2Fetc", "/arus/" + "a" * 200, "/arus/Cibinong"])
def test_an_unknown_puskesmas_gets_a_clear_404(central, path):
    port, *_ = central
    answer = Reader(port, path)
    try:
        assert answer.status == 404
        assert "Puskesmas tidak ditemukan" in answer.body().decode(errors="replace")
    finally:
        answer.close()


def test_one_address_cannot_hold_more_than_its_share_of_streams(central):
    port, node, sync, server = central
    snapshot(sync, node, board({}, []))
    held = [Reader(port, "/arus/cibinong") for _ in range(4)]
    try:
        for p in held:
            p.event()
        refused = Reader(port, "/arus/cibinong")
        assert refused.status == 503
        assert "Terlalu banyak" in refused.body().decode()
        refused.close()
        held.pop().close()
        # the closed stream's place is free again once the server has noticed it
        done = threading.Event()
        for _ in range(200):
            if server.hub.open_streams < 4:
                done.set()
                break
            done.wait(0.02)
        assert done.is_set()
        again = Reader(port, "/arus/cibinong")
        assert again.status == 200
        again.close()
    finally:
        for p in held:
            p.close()


def test_health_answers(central):
    port, *_ = central
    answer = Reader(port, "/sehat")
    try:
        assert answer.status == 200
        assert json.loads(answer.body())["ok"] is True
    finally:
        answer.close()
