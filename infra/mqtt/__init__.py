"""MQTT transport: the port (``base``), the paho-mqtt adapter (``paho``) and an in-memory broker (``memory``).

``from infra.mqtt import Message, Settings, Transport, topic_matches``; import
``infra.mqtt.paho.PahoTransport`` or ``infra.mqtt.memory.MemoryBroker`` where needed, so
code and tests that use the fake never import paho.
"""

from infra.mqtt.base import Message, Settings, Transport, topic_matches

__all__ = ["Message", "Settings", "Transport", "topic_matches"]
