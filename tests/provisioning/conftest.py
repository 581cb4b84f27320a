"""Fixtures for provisioning tests: a real Mosquitto process (TLS listener) and paho MQTT v5 probes."""

from __future__ import annotations

import os
import queue
import ssl
import threading
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from provisioning.local_broker import LocalBroker, find_executable
from rosma.provision import new_password

TIMEOUT = 5.0  # seconds to wait for any broker reply


class ClosingSSLSocket(ssl.SSLSocket):
    """Closes itself when the handshake fails (paho 2.2 leaves that socket to the GC: a ResourceWarning)."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def tls_context(
    ca: str | os.PathLike[str], cert: str | os.PathLike[str] | None = None, key: str | os.PathLike[str] | None = None
) -> ssl.SSLContext:
    """A client context that verifies the broker against ``ca`` and its host name (what PahoTransport does)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key is not None else None)
    context.sslsocket_class = ClosingSSLSocket
    return context


class Probe:
    """A paho MQTT v5 client whose callbacks feed events the test can wait on.

    ``ca`` turns TLS on (broker verified against it, host name checked); ``cert``/``key`` add
    a client certificate. ``host`` is the name dialled (and checked against the certificate).
    """

    def __init__(
        self,
        port: int,
        username: str | None,
        password: str | None,
        client_id: str,
        *,
        ca: str | os.PathLike[str] | None = None,
        cert: str | os.PathLike[str] | None = None,
        key: str | os.PathLike[str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.port = port
        self.host = host
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, reconnect_on_failure=False
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        if ca is not None:
            self.client.tls_set_context(tls_context(ca, cert, key))
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
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        assert self.connected.wait(TIMEOUT), "no CONNACK"
        assert self.connack is not None
        return self.connack

    def connect_refused(self) -> str:
        """Try to connect when the broker must refuse the connection itself; return how it ended.

        Either the TLS handshake fails in ``connect`` (the client refuses the broker's
        certificate, or the broker refuses the client's) or the broker closes the connection
        without a CONNACK (TLS 1.3 finishes the client's side of the handshake before the
        broker checks the client certificate; a plaintext client on a TLS port). A CONNACK,
        even a refusing one, fails the test: the connection got as far as MQTT.
        """
        try:
            self.client.connect(self.host, self.port, keepalive=30)
        except (ssl.SSLError, OSError) as exc:
            assert self.connack is None
            return f"handshake failed: {exc}"
        self.client.loop_start()
        assert self.disconnected.wait(TIMEOUT), "the broker did not close the connection"
        assert self.connack is None, f"got a CONNACK: {self.connack}"
        assert not self.connected.is_set()
        return "closed without CONNACK"

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


def require_mosquitto() -> None:
    """make test installs mosquitto; a missing one is a broken setup, not a reason to skip."""
    assert find_executable("mosquitto") is not None, "mosquitto is not installed (make test installs it)"


@pytest.fixture
def broker(tmp_path, passwords) -> Iterator[LocalBroker]:
    """A private Mosquitto with a TLS listener (password logins) on a free loopback port, stopped at the end."""
    require_mosquitto()
    running = LocalBroker(tmp_path / "broker", passwords).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def make_probe() -> Iterator[Callable[..., Probe]]:
    """Factory ``make_probe(port, username, password, client_id, *, ca=, cert=, key=, host=)``; closed afterwards."""
    made: list[Probe] = []

    def make(port: int, username: str | None, password: str | None, client_id: str, **tls) -> Probe:
        made.append(Probe(port, username, password, client_id, **tls))
        return made[-1]

    yield make
    for p in made:
        p.close()


@pytest.fixture
def probe(broker, passwords, make_probe) -> Callable[..., Probe]:
    """Factory ``probe(username, password=<the user's>, client_id=<username>, **tls)`` for ``broker``.

    TLS with the broker's CA unless ``ca`` is given (``ca=None``: plaintext).
    """

    def make(username: str | None, password: str | None = None, client_id: str | None = None, **tls) -> Probe:
        if password is None and username is not None:
            password = passwords.get(username) or broker.users.get(username)
        tls.setdefault("ca", broker.ca_path)
        return make_probe(broker.port, username, password, client_id or username or "anonymous", **tls)

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
