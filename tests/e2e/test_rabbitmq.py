"""The same edge and central against RabbitMQ's MQTT plugin instead of Mosquitto: a reservation
from central reaches the edge, its check-in, a walk-in and the calls come back as Visits (each
once), and the per-node permissions hold like Mosquitto's ACL: a node that writes another
node's topic, or its own down topic, or subscribes to another node's down topic, is cut off
and its message reaches no one."""

from __future__ import annotations

import secrets
import time

import pytest
import requests
from harness import System, wait_for

from central import db as central_db
from central.models import Visit
from infra.mqtt import Settings
from infra.mqtt.paho import PahoTransport
from protocol import topics

pytestmark = pytest.mark.e2e


@pytest.fixture
def rabbit_system(tmp_path, pg_database, days):
    s = System(tmp_path, pg_database, days[0], broker="rabbitmq")
    try:
        s.start()
        yield s
    finally:
        s.stop()


def visits(pg_url: str) -> dict[str, list[str]]:
    """label -> states of central's Visits with that label (a doubled visit shows twice)."""
    central_db.connect(pg_url)
    try:
        out: dict[str, list[str]] = {}
        for v in Visit.select().order_by(Visit.id):
            out.setdefault(v.label, []).append(v.state)
        return out
    finally:
        central_db.database.close()


class Client:
    """A bare MQTT 3.1.1 connection to the test's RabbitMQ that records what it hears."""

    def __init__(self, system: System, username: str, password: str, client_id: str):
        settings = Settings(
            port=system.broker.port,
            username=username,
            password=password,
            client_id=client_id,
            tls_ca=str(system.broker.ca_path),
            protocol=4,
            session_expiry=0,
            reconnect_min=60.0,  # a refused client stays cut off for the test
            reconnect_max=60.0,
        )
        self.heard: list[tuple[str, bytes]] = []
        self.disconnects: list[str] = []
        self.transport = PahoTransport(settings)
        self.transport.on_message = lambda m: self.heard.append((m.topic, m.payload))
        self.transport.on_disconnect = self.disconnects.append

    def start(self, *filters: str) -> Client:
        for f in filters:
            self.transport.subscribe(f)
        self.transport.start()
        wait_for(lambda: self.transport.connected, 30, "the MQTT client to connect")
        return self

    def stop(self) -> None:
        self.transport.stop()


def test_sync_through_rabbitmq_and_per_node_permissions(rabbit_system, days):
    system = rabbit_system
    node = system.node_id
    # An auditor with central's rights (its own user: central's own session belongs to the sync worker)
    audit_pw = secrets.token_urlsafe(12)
    system.broker.central_users.append("audit")
    system.broker.add_users({"audit": audit_pw})
    audit = Client(system, "audit", audit_pw, "audit").start(topics.all_up_filter())
    try:
        # reservation made at central reaches the edge over RabbitMQ
        auth = system.patient("3201011705900001", "1990-05-17", "L")
        res = system.reserve(auth, days[0])
        wait_for(lambda: system.edge_status()["reservations"] >= 1, 60, "the reservation to reach the edge")
        assert wait_for(lambda: system.edge_status()["online"], 30, "the edge to be online")

        # at the edge: the reservation is checked in, a walk-in takes a ticket, the poli and loket call them
        events = system.events()
        try:
            system.scan(system.qr_text_from_png(auth, res["rid"]))
            scan = events.expect("scan")
            assert scan["ok"] and scan["label"] == "U001", scan
        finally:
            events.close()
        walkin = requests.post(system.edge_url + "/api/kiosk/walkin", json={"payer": "UMUM"}, timeout=10)
        assert walkin.status_code == 201 and walkin.json()["label"] == "A001", walkin.text
        staff = system.staff()
        called = staff.post(system.edge_url + "/api/counters/poli-UMUM/next", timeout=10).json()
        assert called["label"] == "U001", called
        r = staff.post(f"{system.edge_url}/api/tickets/{called['ticket']}/finish", timeout=10)
        assert r.status_code == 200 and r.json()["state"] == "done", r.text
        r = staff.post(system.edge_url + "/api/counters/loket-1/next", timeout=10)
        assert r.status_code == 200 and r.json()["label"] == "A001", r.text

        # both reach central as Visits, each exactly once (0 lost, 0 doubled)
        def settled():
            seen = visits(system.pg_url)
            return (
                seen
                if seen.get("U001") == ["done"] and seen.get("A001") and not system.edge_status()["outbox_pending"]
                else None
            )

        seen = wait_for(settled, 60, "the visits at central and an empty outbox")
        assert sorted(seen) == ["A001", "U001"] and all(len(states) == 1 for states in seen.values()), seen
        assert any(t == topics.up(node, topics.UP_EVENTS) for t, _ in audit.heard), "the auditor heard no events"

        # another node's account (its own user, client id = its node id, as a real node connects)
        other, other_pw = "pkm-lain", secrets.token_urlsafe(12)
        system.broker.add_users({other: other_pw})
        marker = b"forged-" + secrets.token_hex(4).encode()
        own = Client(system, other, other_pw, other).start()
        assert own.transport.publish(topics.up(other, topics.UP_HEALTH), marker + b"-own")  # its own up: allowed
        wait_for(lambda: any(p == marker + b"-own" for _, p in audit.heard), 15, "the other node's own message")
        own.stop()
        forbidden = [  # (what it tries, the routing key RabbitMQ logs as refused)
            ("publish", topics.up(node, topics.UP_EVENTS)),  # writing this node's up topic
            ("publish", topics.down(node, topics.DOWN_ACK)),  # writing a down topic (only central may)
            ("subscribe", topics.node_down_filter(node)),  # reading this node's down topic
        ]
        for what, topic in forbidden:
            forger = Client(system, other, other_pw, other)
            if what == "subscribe":
                forger.transport.subscribe(topic)
                forger.transport.start()
            else:
                forger.start()
                forger.transport.publish(topic, marker)
            wait_for(lambda f=forger: f.disconnects, 30, f"RabbitMQ to cut off the {what} on {topic}")
            forger.stop()
            assert not forger.heard
            key = topic.replace("/", ".")
            wait_for(
                lambda k=key: (
                    f"access to topic '{k}' in exchange 'amq.topic' in vhost '/' refused for user '{other}'"
                    in system.broker.log_text()
                ),
                10,
                f"RabbitMQ's log of the refused {what} on {topic}",
            )
        time.sleep(1.0)  # a message that got through would have reached the auditor by now
        assert not [t for t, p in audit.heard if p == marker], "a forged message reached the broker's subscribers"
        assert visits(system.pg_url) == seen  # central is untouched
        assert system.edge_status()["online"]  # the real edge kept its connection
    finally:
        audit.stop()
