"""``PahoTransport``: the transport port on paho-mqtt 2.2 (MQTT v5, callback API version 2).

Connection: ``connect_async`` + ``loop_start`` with ``clean_start=False`` and a Session Expiry
Interval on every connect, so Mosquitto keeps subscriptions and queued QoS 1 messages across
disconnects and (with persistence) its own restarts. paho reconnects by itself with a
doubling delay from ``reconnect_min`` to ``reconnect_max``; that also covers a refused login.

Refusals: with MQTT v5 Mosquitto answers a publish its ACL denies with PUBACK 135 "Not
authorized" (QoS 1 only: a QoS 0 publish is dropped without a word). paho reports acks by
message id, so the topics of QoS >= 1 publishes and of subscriptions are remembered by mid
until the ack arrives. A PUBACK 16 "No matching subscribers" (a success code: the broker took
the message and gave it to nobody) is reported through ``on_unheard``.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from infra.mqtt.base import (
    OP_CONNECT,
    OP_PUBLISH,
    OP_SUBSCRIBE,
    Message,
    Settings,
    Transport,
    _ignore,
    check_payload,
    check_qos,
    check_topic,
    split_filter,
)

log = logging.getLogger(__name__)

# Acks tracked at once. paho holds at most max_inflight (20) QoS 1 messages on the wire plus
# MAX_QUEUED waiting; anything beyond this is an ack that never came (dropped oldest first).
MAX_TRACKED = 4096
NO_MATCHING_SUBSCRIBERS = 0x10  # MQTT 5 PUBACK reason: accepted, delivered to no one
MAX_QUEUED = 1000  # QoS >= 1 messages paho may hold in RAM while waiting for the in-flight window


_client_log = logging.getLogger(__name__ + ".client")


def _paho_log(client, userdata, level, buf: str) -> None:
    # paho's own messages (packet traces: ids, topics, sizes, never payloads or passwords)
    # all at DEBUG; the adapter logs what matters at the right level itself. paho would log
    # "Client is not connected" at ERROR when a never-connected client is stopped.
    _client_log.debug("%s", buf)


class _ClosingSSLSocket(ssl.SSLSocket):
    """Closes itself when the handshake fails.

    paho 2.2's ``_ssl_wrap_socket`` drops the socket of a failed handshake (bad certificate,
    wrong host name) unclosed; it is closed only when collected, with a ResourceWarning, on
    every retry.
    """

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def _tls_context(s: Settings) -> ssl.SSLContext:
    """TLS that verifies the broker's certificate against ``tls_ca`` and its name against ``host``."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=s.tls_ca)  # CERT_REQUIRED, check_hostname
    if s.tls_cert:
        context.load_cert_chain(s.tls_cert, s.tls_key or None)
    context.sslsocket_class = _ClosingSSLSocket
    return context


class PahoTransport(Transport):
    """A connection to one broker through paho-mqtt; see ``Transport`` for the contract.

    Raises ValueError for bad settings, and OSError or ssl.SSLError at construction if a TLS
    file cannot be read. Connection failures never raise: they are logged and retried.
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self._lock = threading.Lock()
        self._subs: dict[str, int] = {}  # filter -> QoS, re-sent on every connect
        self._pending_pub: dict[int, str] = {}  # mid -> topic of a QoS >= 1 publish awaiting PUBACK
        self._pending_sub: dict[int, str] = {}  # mid -> filter awaiting SUBACK
        self._early: dict[int, tuple[ReasonCode, ...]] = {}  # failed acks that beat publish()/subscribe() to the lock
        self._connected = False
        self._started = False
        self._stopped = False
        self._last_refusal = ""  # CONNACK reason last logged at ERROR, "" after a success
        self._unreachable_logged = False
        self._client = self._make_client(settings)

    # ---- the port --------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._stopped:
                raise RuntimeError("transport stopped; create a new one")
            if self._started:
                return
            self._started = True
        s = self.settings
        props = None
        if s.session_expiry:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = s.session_expiry
        # clean_start=False on every connect, the first included: Mosquitto 2.0 persists a
        # session only if the client's latest CONNECT asked to resume one.
        if s.protocol == 4:  # MQTT 3.1.1: a persistent session is clean_session=False, set on the client
            self._client.connect_async(s.host, s.port, keepalive=s.keepalive)
        else:
            self._client.connect_async(s.host, s.port, keepalive=s.keepalive, clean_start=False, properties=props)
        self._client.loop_start()
        log.info("connecting to %s:%d as %s", s.host, s.port, s.effective_client_id or "<no id>")

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> bool:
        check_topic(topic)
        check_qos(qos)
        payload = check_payload(payload)
        if not self.connected:
            return False
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        # NO_CONN with QoS >= 1: the connection dropped a moment ago and paho keeps the
        # message in RAM to send after the reconnect.
        if not (info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS or (info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN and qos)):
            log.warning("could not queue a publish on %s: %s", topic, mqtt.error_string(info.rc))
            return False
        if qos:
            self._track(self._pending_pub, info.mid, topic, OP_PUBLISH)
        return True

    def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        split_filter(topic_filter)
        check_qos(qos)
        with self._lock:
            self._subs[topic_filter] = qos
            now = self._connected
        if now:
            self._send_subscribe(topic_filter, qos)

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            started = self._started
        if started:
            self._client.disconnect()  # DISCONNECT reason 0: the broker discards the will
            self._client.loop_stop()
        with self._lock:
            self._connected = False
            self._pending_pub.clear()
            self._pending_sub.clear()
            self._early.clear()
        # Break the cycles client -> transport -> owner -> transport, so paho's socket pair is
        # closed by reference counting, not by the cyclic GC (which may finalise the sockets
        # first and raise ResourceWarning).
        for name in ("on_connect", "on_connect_fail", "on_disconnect", "on_message", "on_publish", "on_subscribe"):
            setattr(self._client, name, None)
        self.on_connect = self.on_disconnect = self.on_message = self.on_refused = _ignore
        log.info("stopped the connection to %s:%d", self.settings.host, self.settings.port)

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._connected

    # ---- paho setup ------------------------------------------------------------------------
    def _make_client(self, s: Settings) -> mqtt.Client:
        if s.protocol == 4:
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=s.effective_client_id,
                clean_session=False,
                protocol=mqtt.MQTTv311,
            )
        else:
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=s.effective_client_id, protocol=mqtt.MQTTv5)
        client.on_log = _paho_log
        client.suppress_exceptions = True  # a bug in a callback must not end the network thread
        if s.username:
            client.username_pw_set(s.username, s.password or None)
        if s.will is not None:
            client.will_set(s.will.topic, s.will.payload, qos=1, retain=s.will.retain)
        # paho's hints say int, but it only adds, doubles and compares the delays: floats work.
        client.reconnect_delay_set(min_delay=s.reconnect_min, max_delay=s.reconnect_max)  # type: ignore[arg-type]
        client.max_queued_messages_set(MAX_QUEUED)
        if s.tls_ca:
            client.tls_set_context(_tls_context(s))
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        return client

    def _send_subscribe(self, topic_filter: str, qos: int) -> None:
        rc, mid = self._client.subscribe(topic_filter, qos=qos)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            log.debug("subscribe to %s not sent (%s); it is re-sent on connect", topic_filter, mqtt.error_string(rc))
            return
        self._track(self._pending_sub, mid, topic_filter, OP_SUBSCRIBE)

    def _track(self, pending: dict[int, str], mid: int, topic: str, op: str) -> None:
        """Remember ``mid`` until its ack, or report a failed ack that already arrived."""
        with self._lock:
            early = self._early.pop(mid, None)
            if early is None:
                pending[mid] = topic
                while len(pending) > MAX_TRACKED:
                    del pending[next(iter(pending))]
        if early is not None:
            # Rare: the broker answered before we got the lock; report from this thread.
            for reason in early:
                if reason.is_failure:
                    self._refused(op, topic, reason)
                elif op == OP_PUBLISH and reason.value == NO_MATCHING_SUBSCRIBERS:
                    self._call(self.on_unheard, topic)

    def _settle(self, pending: dict[int, str], mid: int, reasons: tuple[ReasonCode, ...]) -> str | None:
        with self._lock:
            topic = pending.pop(mid, None)
            if topic is None and any(r.is_failure or r.value == NO_MATCHING_SUBSCRIBERS for r in reasons):
                self._early[mid] = reasons
                while len(self._early) > MAX_TRACKED:
                    del self._early[next(iter(self._early))]
            return topic

    def _refused(self, op: str, topic: str, reason: ReasonCode | str) -> None:
        if op == OP_SUBSCRIBE:
            log.error("broker refused subscription to %s: %s", topic, reason)
        else:
            log.error("broker refused publish on %s: %s", topic, reason)
        self._call(self.on_refused, op, topic, str(reason))

    def _call(self, callback: Callable[..., None], *args: object) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("MQTT callback %s failed", getattr(callback, "__qualname__", callback))

    # ---- paho callbacks (network thread) ---------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code: ReasonCode, properties) -> None:
        s = self.settings
        if reason_code.is_failure:
            text = str(reason_code)
            # Logged at ERROR once per reason; paho retries every reconnect_max seconds.
            level = logging.DEBUG if text == self._last_refusal else logging.ERROR
            log.log(level, "broker %s:%d refused the login of %s: %s; retrying", s.host, s.port, s.username, text)
            self._last_refusal = text
            self._call(self.on_refused, OP_CONNECT, "", text)
            return
        self._last_refusal = ""
        self._unreachable_logged = False
        with self._lock:
            if self._stopped:
                return
            self._connected = True
            subs = list(self._subs.items())
        log.info(
            "connected to %s:%d as %s (session present: %s)",
            s.host,
            s.port,
            s.effective_client_id,
            flags.session_present,
        )
        for topic_filter, qos in subs:
            self._send_subscribe(topic_filter, qos)
        self._call(self.on_connect)

    def _on_connect_fail(self, client, userdata) -> None:
        # paho gives no reason (TCP refused, DNS, TLS handshake or certificate failure).
        level = logging.DEBUG if self._unreachable_logged else logging.WARNING
        log.log(level, "cannot reach broker %s:%d (network or TLS); retrying", self.settings.host, self.settings.port)
        self._unreachable_logged = True

    def _on_disconnect(self, client, userdata, flags, reason_code: ReasonCode, properties) -> None:
        with self._lock:
            was_connected, self._connected = self._connected, False
            stopping = self._stopped
        if not was_connected:
            return  # after a refused CONNACK paho reports a disconnect of a session that never was
        if flags.is_disconnect_packet_from_server or not reason_code.is_failure:
            reason = str(reason_code)
        else:
            reason = "connection lost"  # paho's own "Unspecified error" for a dead socket
        if stopping:
            log.info("disconnected from %s:%d", self.settings.host, self.settings.port)
        else:
            log.warning("disconnected from %s:%d: %s; reconnecting", self.settings.host, self.settings.port, reason)
        self._call(self.on_disconnect, reason)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            log.warning("dropped a message whose topic is not UTF-8")
            return
        self._call(self.on_message, Message(topic, bytes(msg.payload), bool(msg.retain)))

    def _on_publish(self, client, userdata, mid: int, reason_code: ReasonCode, properties) -> None:
        topic = self._settle(self._pending_pub, mid, (reason_code,))
        if topic is not None and reason_code.is_failure:
            self._refused(OP_PUBLISH, topic, reason_code)
        elif topic is not None and reason_code.value == NO_MATCHING_SUBSCRIBERS:
            log.debug("nobody subscribes to %s: the broker delivered it to no one", topic)
            self._call(self.on_unheard, topic)

    def _on_subscribe(self, client, userdata, mid: int, reason_codes: list[ReasonCode], properties) -> None:
        topic_filter = self._settle(self._pending_sub, mid, tuple(reason_codes))
        if topic_filter is None:
            return
        for reason in reason_codes:
            if reason.is_failure:
                self._refused(OP_SUBSCRIBE, topic_filter, reason)
