"""Mosquitto's own log shows the publishes its ACL denied, with the topic and never the payload.

Mosquitto 2.0.11 logs "Denied PUBLISH" only at debug level, so the generated config and the
production template both set ``log_type debug`` on top of the default types.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from protocol import topics
from provisioning import broker as mb

pytestmark = pytest.mark.e2e

NOT_AUTHORIZED = 135
REPO = Path(__file__).resolve().parents[2]
EVENTS_A = topics.up("pkm-a", topics.UP_EVENTS)
EVENTS_B = topics.up("pkm-b", topics.UP_EVENTS)
TIMEOUT = 5.0


def denied_lines(broker, topic: str, timeout: float = TIMEOUT, count: int = 1) -> list[str]:
    """The log's "Denied PUBLISH" lines for ``topic`` once there are ``count`` of them.

    Polls with a deadline: the log file has no change event, and Mosquitto may buffer it briefly.
    """
    pattern = re.compile(rf"^\d+: Denied PUBLISH from .*'{re.escape(topic)}'.*$", re.MULTILINE)
    deadline = time.monotonic() + timeout
    while True:
        found = pattern.findall(broker.log_path.read_text(encoding="utf-8", errors="replace"))
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"no 'Denied PUBLISH' line for {topic} in {broker.log_path}"
        time.sleep(0.02)


def test_denied_publish_is_logged_with_its_topic(broker, connected):
    central = connected("central")
    central.subscribe(topics.all_up_filter())
    node = connected("pkm-a")

    assert node.publish(EVENTS_B, b"forged-payload").value == NOT_AUTHORIZED
    assert not node.publish(EVENTS_A, b"allowed-payload").is_failure
    central.receive_until(b"allowed-payload")

    [line] = denied_lines(broker, EVENTS_B)
    expected = rf"\d+: Denied PUBLISH from pkm-a \(d0, q1, r0, m\d+, '{EVENTS_B}', \.\.\. \(14 bytes\)\)"
    assert re.fullmatch(expected, line), line
    log_bytes = broker.log_path.read_bytes()
    assert b"forged-payload" not in log_bytes and b"allowed-payload" not in log_bytes


def test_denied_qos0_publish_is_logged_too(broker, connected):
    """The client gets no PUBACK for QoS 0, so the broker's log is the only trace."""
    node = connected("pkm-a")

    info = node.client.publish(EVENTS_B, b"forged", qos=0)
    assert info.rc == mqtt.MQTT_ERR_SUCCESS
    node.publish(EVENTS_A, b"marker")  # same connection: the QoS 0 one was handled before this PUBACK

    [line] = denied_lines(broker, EVENTS_B)
    assert "Denied PUBLISH from pkm-a (d0, q0, r0, m0, " in line


def test_generated_config_and_template_log_the_same_types(tmp_path):
    tls = mb.TlsListener(tmp_path / "server.crt", tmp_path / "server.key", tmp_path / "ca.crt")
    generated = mb.write_broker_config(tmp_path, 18999, tls=tls).read_text().splitlines()
    template = (REPO / "provisioning" / "mosquitto.conf.example").read_text().splitlines()

    expected = [f"log_type {kind}" for kind in mb.LOG_TYPES]
    assert [line for line in generated if line.startswith("log_type")] == expected
    assert [line for line in template if line.startswith("log_type")] == expected
    assert "debug" in mb.LOG_TYPES and "all" not in mb.LOG_TYPES
