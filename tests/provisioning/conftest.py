"""Fixtures for provisioning tests: a real Mosquitto process and paho MQTT v5 probes."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from provisioning.local_broker import LocalBroker, find_executable
from rosma.provision import new_password

TIMEOUT = 5.0  # seconds to wait for any broker reply


class Probe:
    """A paho MQTT v5 client whose callbacks feed events the test can wait on."""

    def __init__(self, port: int, username: str | None, password: str | None, client_id: str) -> None:
        self.port = port
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, reconnect_on_failure=False
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        self.connack: ReasonCode | None = None
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._acks: dict[int, object] = {}
        self._cond = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_ack
        self.client.on_subscribe = self._on_suback

    def connect(self) -> ReasonCode:
        """Connect and return the CONNACK reason code (a failure code if refused)."""
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        assert self.connected.wait(TIMEOUT), "no CONNACK"
        assert self.connack is not None
        return self.connack

    def subscribe(self, topic: str) -> list[ReasonCode]:
        """Subscribe with QoS 1 and return the SUBACK reason codes."""
        rc, mid = self.client.subscribe(topic, qos=1)
        assert rc == mqtt.MQTT_ERR_SUCCESS and mid is not None
        return self._wait_ack(mid)  # type: ignore[return-value]

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        """Publish with QoS 1 and return the PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=1)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS
        return self._wait_ack(info.mid)  # type: ignore[return-value]

    def receive_until(self, marker: bytes) -> list[tuple[str, bytes]]:
        """Return every message received up to and including the one with ``marker``."""
        seen = []
        while True:
            try:
                message = self.messages.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"marker {marker!r} not received; got {seen}") from None
            seen.append(message)
            if message[1] == marker:
                return seen

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        # Break the probe <-> client cycle so the client is freed by reference counting:
        # its __del__ then closes paho's internal socket pair. Freed by the cyclic GC
        # instead, the sockets may be finalised first and raise ResourceWarning.
        for name in ("on_connect", "on_disconnect", "on_message", "on_publish", "on_subscribe"):
            setattr(self.client, name, None)

    def _wait_ack(self, mid: int) -> object:
        with self._cond:
            assert self._cond.wait_for(lambda: mid in self._acks, TIMEOUT), f"no ack for mid {mid}"
            return self._acks.pop(mid)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connack = reason_code
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.disconnected.set()

    def _on_message(self, client, userdata, message) -> None:
        self.messages.put((message.topic, message.payload))

    def _on_ack(self, client, userdata, mid, reason_code, properties) -> None:
        with self._cond:
            self._acks[mid] = reason_code
            self._cond.notify_all()

    def _on_suback(self, client, userdata, mid, reason_codes, properties) -> None:
        with self._cond:
            self._acks[mid] = reason_codes
            self._cond.notify_all()


@pytest.fixture
def passwords() -> dict[str, str]:
    """Broker users of the test broker: central and two nodes."""
    return {"central": new_password(), "pkm-a": new_password(), "pkm-b": new_password()}


@pytest.fixture
def broker(tmp_path, passwords) -> Iterator[LocalBroker]:
    """A private Mosquitto on a free loopback port, stopped at the end of the test."""
    assert find_executable("mosquitto") is not None, "mosquitto is not installed (make test installs it)"
    running = LocalBroker(tmp_path / "broker", passwords).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def make_probe() -> Iterator[Callable[..., Probe]]:
    """Factory ``make_probe(port, username, password, client_id)``; closed after the test."""
    made: list[Probe] = []

    def make(port: int, username: str | None, password: str | None, client_id: str) -> Probe:
        made.append(Probe(port, username, password, client_id))
        return made[-1]

    yield make
    for p in made:
        p.close()


@pytest.fixture
def probe(broker, passwords, make_probe) -> Callable[..., Probe]:
    """Factory ``probe(username, password=<the user's>, client_id=<username>)`` for ``broker``."""

    def make(username: str | None, password: str | None = None, client_id: str | None = None) -> Probe:
        if password is None and username is not None:
            password = passwords.get(username) or broker.users[username]
        return make_probe(broker.port, username, password, client_id or username or "anonymous")

    return make


@pytest.fixture
def connected(probe) -> Callable[..., Probe]:
    """Factory like ``probe`` that also asserts the connection was accepted."""

    def make(username: str, password: str | None = None, client_id: str | None = None) -> Probe:
        p = probe(username, password, client_id)
        rc = p.connect()
        assert not rc.is_failure, f"{username} refused: {rc}"
        return p

    return make
