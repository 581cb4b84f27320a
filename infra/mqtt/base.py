"""The MQTT transport port: settings, a message, the ``Transport`` interface and topic matching.

Adapters: ``infra.mqtt.paho.PahoTransport`` (a real broker) and
``infra.mqtt.memory.MemoryBroker.transport`` (an in-memory broker for unit tests). Like
Frigate's communicator the surface is small: ``publish``, ``subscribe``, ``stop``, plus
``start`` and four callbacks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

SHARE_PREFIX = "$share/"
MAX_TOPIC_BYTES = 65535  # MQTT: a UTF-8 string with a two-byte length

# Operations named in ``Transport.on_refused``.
OP_CONNECT = "connect"
OP_PUBLISH = "publish"
OP_SUBSCRIBE = "subscribe"


@dataclass(frozen=True)
class Message:
    """One application message; ``retain`` is True only for a retained message sent on subscribe."""

    topic: str
    payload: bytes
    retain: bool = False


@dataclass(frozen=True)
class Settings:
    """How to reach and log in to one broker. Every field has a working default for a local broker.

    Raises ValueError at construction for a value no broker would accept (the field is named).
    """

    host: str = "127.0.0.1"  # broker host name or address (the TLS certificate must name it)
    port: int = 1883  # broker TCP port
    username: str = ""  # broker username; a node's username is its node id
    password: str = field(default="", repr=False)  # broker password; never logged
    client_id: str = ""  # "" = the username (Mosquitto runs with use_username_as_clientid)
    keepalive: int = 20  # seconds between PINGREQs; the will fires about 1.5 x this after a network cut
    session_expiry: int = 86400  # seconds the broker keeps the session after a disconnect (clean_start=False)
    reconnect_min: float = 0.5  # seconds before the first reconnect attempt; doubles per failure
    reconnect_max: float = 2.0  # seconds: the cap of the reconnect backoff (a returning broker is used at once)
    will: Message | None = None  # last will, sent with QoS 1 when the connection dies without DISCONNECT
    tls_ca: str = ""  # path of a CA bundle; non-empty turns TLS on and verifies the broker and its host name
    tls_cert: str = ""  # optional client certificate (PEM) for a per-node identity; needs tls_ca
    tls_key: str = ""  # private key of tls_cert; "" if tls_cert holds it too
    protocol: int = 5  # MQTT protocol level: 5 (MQTT 5) or 4 (MQTT 3.1.1, for brokers without MQTT 5)

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"mqtt settings: {name} {why}, got {getattr(self, name)!r}")

        if not self.host or any(ch.isspace() for ch in self.host):
            raise bad("host", "must be a host name or address")
        if not _int_in(self.port, 1, 65535):
            raise bad("port", "must be 1..65535")
        if not _int_in(self.keepalive, 1, 65535):
            raise bad("keepalive", "must be 1..65535 seconds (0 would turn off the dead-connection check)")
        if not _int_in(self.session_expiry, 0, 0xFFFFFFFF):
            raise bad("session_expiry", "must be 0..4294967295 seconds")
        if not self.reconnect_min > 0:
            raise bad("reconnect_min", "must be > 0 seconds")
        if not self.reconnect_max >= self.reconnect_min:
            raise bad("reconnect_max", "must be >= reconnect_min")
        if self.will is not None:
            check_topic(self.will.topic)
            check_payload(self.will.payload)
        if self.protocol not in (4, 5) or isinstance(self.protocol, bool):
            raise bad("protocol", "must be 5 (MQTT 5) or 4 (MQTT 3.1.1)")
        if self.tls_cert and not self.tls_ca:
            raise bad("tls_cert", "needs tls_ca (the broker must be verified too)")
        if self.tls_key and not self.tls_cert:
            raise bad("tls_key", "needs tls_cert")

    @property
    def effective_client_id(self) -> str:
        """The client id sent in CONNECT: ``client_id``, else the username."""
        return self.client_id or self.username


def _int_in(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _ignore(*_args: object) -> None:
    return None


class Transport(ABC):
    """A connection to one MQTT broker.

    Callbacks run on the transport's network thread (the memory fake: on the thread that
    caused the event) and must not block long. An exception in one is logged and never ends
    the connection (the memory fake re-raises it from the outermost call, so a test sees
    it). Set them before ``start()``.

    - ``on_connect()``: after every successful (re)connect, after the remembered
      subscriptions were re-sent (their SUBACKs and retained messages may arrive later).
    - ``on_disconnect(reason)``: the connection that was up is gone; reconnecting follows.
    - ``on_message(message)``: one delivery. QoS 1 is at least once: expect repeats.
    - ``on_refused(operation, topic, reason)``: the broker refused a QoS >= 1 ``publish``
      (PUBACK reason >= 0x80, e.g. "Not authorized"), a ``subscribe`` (SUBACK reason >= 0x80),
      or the login (``"connect"``, topic ``""``: CONNACK reason >= 0x80; it keeps retrying).
    - ``on_unheard(topic)``: the broker took a QoS >= 1 ``publish`` but no subscription matched
      it (MQTT 5 PUBACK 0x10 "No matching subscribers"): nobody has the message, not even a
      queue. An MQTT 3.1.1 broker has no way to say so; the caller's own acks still decide.
    """

    def __init__(self) -> None:
        self.on_connect: Callable[[], None] = _ignore
        self.on_disconnect: Callable[[str], None] = _ignore
        self.on_message: Callable[[Message], None] = _ignore
        self.on_refused: Callable[[str, str, str], None] = _ignore
        self.on_unheard: Callable[[str], None] = _ignore

    @abstractmethod
    def start(self) -> None:
        """Connect in the background and keep reconnecting with the capped backoff until ``stop()``.

        Idempotent while running; raises RuntimeError after ``stop()`` (make a new transport).
        """

    @abstractmethod
    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> bool:
        """Queue one message for sending; False if it could not be (not connected, queue full).

        True does not mean delivered: a refusal comes later through ``on_refused``, and a
        message accepted just before the connection drops may be lost or (paho keeps QoS >= 1
        in flight in RAM) sent after the reconnect. Nothing survives the process: the caller's
        own outbox resends until acknowledged. Raises ValueError for an invalid topic or QoS,
        TypeError for a payload that is not bytes.
        """

    @abstractmethod
    def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Subscribe now if connected, and again after every reconnect. Raises ValueError for a bad filter.

        Every SUBSCRIBE, a repeated one too, makes Mosquitto send the matching retained messages.
        """

    @abstractmethod
    def stop(self) -> None:
        """Disconnect cleanly (the broker does NOT send the will) and stop the thread; idempotent.

        No callback runs after it returns (the paho adapter also drops them, breaking cycles).
        """

    @property
    @abstractmethod
    def connected(self) -> bool:
        """True between a successful CONNACK and the loss of that connection."""


def check_qos(qos: int) -> int:
    """Return ``qos`` if it is 0, 1 or 2, else raise ValueError."""
    if isinstance(qos, bool) or qos not in (0, 1, 2):
        raise ValueError(f"invalid QoS: {qos!r}")
    return qos


def check_payload(payload: bytes) -> bytes:
    """Return ``payload`` as bytes if it is bytes-like, else raise TypeError (no silent str or int)."""
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise TypeError(f"payload must be bytes, got {type(payload).__name__}")
    return bytes(payload)


def check_topic(topic: str) -> str:
    """Return ``topic`` if it is a valid topic name to publish on, else raise ValueError."""
    if not isinstance(topic, str) or not topic:
        raise ValueError(f"invalid topic: {topic!r}")
    if "+" in topic or "#" in topic or "\0" in topic:
        raise ValueError(f"wildcard or NUL in a topic name: {topic!r}")
    if len(topic.encode("utf-8")) > MAX_TOPIC_BYTES:
        raise ValueError("topic longer than 65535 bytes")
    return topic


def split_filter(topic_filter: str) -> tuple[str | None, str]:
    """Validate a subscription filter; return ``(share group or None, the filter that matches)``.

    ``$share/<group>/<filter>`` is a shared subscription. Raises ValueError for a filter
    MQTT forbids (``#`` not alone at the end, ``+`` next to other characters, empty, NUL).
    """
    if not isinstance(topic_filter, str) or not topic_filter:
        raise ValueError(f"invalid topic filter: {topic_filter!r}")
    if "\0" in topic_filter or len(topic_filter.encode("utf-8")) > MAX_TOPIC_BYTES:
        raise ValueError(f"invalid topic filter: {topic_filter!r}")
    group: str | None = None
    inner = topic_filter
    if topic_filter.startswith(SHARE_PREFIX):
        group, sep, inner = topic_filter[len(SHARE_PREFIX) :].partition("/")
        if not group or not sep or not inner or "+" in group or "#" in group:
            raise ValueError(f"invalid shared subscription: {topic_filter!r}")
    levels = inner.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise ValueError(f"'#' must be a whole last level: {topic_filter!r}")
        if "+" in level and level != "+":
            raise ValueError(f"'+' must be a whole level: {topic_filter!r}")
    return group, inner


def topic_matches(topic_filter: str, topic: str) -> bool:
    """True if a subscription to ``topic_filter`` receives a message published on ``topic``.

    MQTT 3.1.1/5 rules, cross-checked against Mosquitto 2.0.11: ``+`` is exactly one level
    (an empty one too), ``#`` is the rest including the parent (``a/#`` matches ``a``), a
    filter starting with a wildcard never matches a topic starting with ``$``, and
    ``$share/<group>/<filter>`` matches like ``<filter>``. Raises ValueError for an invalid
    filter or topic name.
    """
    _, inner = split_filter(topic_filter)
    check_topic(topic)
    wanted = inner.split("/")
    levels = topic.split("/")
    if topic.startswith("$") and wanted[0] in ("+", "#"):
        return False
    for i, level in enumerate(wanted):
        if level == "#":
            return True
        if i >= len(levels) or (level != "+" and level != levels[i]):
            return False
    return len(wanted) == len(levels)
