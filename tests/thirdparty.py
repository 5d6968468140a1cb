"""A third party's MQTT client for tests: plain paho, none of our own code on its path.

It publishes what a vendor's firmware would publish and watches what the
hub answers, so tests see the broker traffic exactly as an outsider does.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from device_agent.topics import HubTopic, Topics
from tests.hall import wait_until

_ids = itertools.count(1)


def start_loop(client: paho.Client) -> threading.Thread:
    """Run ``client``'s network loop in a thread of its own, after ``client.connect()``.

    ``loop_forever`` rather than ``loop_start``: paho opens the socket pair that
    wakes its loop only for ``loop_start`` and ``loop``, and closes it only when
    the client is collected; this way there is none to leak.
    """
    thread = threading.Thread(target=client.loop_forever, name="third-party-loop", daemon=True)
    thread.start()
    return thread


def stop_loop(client: paho.Client, thread: threading.Thread) -> None:
    """Disconnect ``client`` and wait for the loop of :func:`start_loop` to end."""
    client.disconnect()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the third party's loop did not end"


def vote_payload(device: str, seq: int, *, level: int = 4, **fields: object) -> bytes:
    """A window vote as a vendor's firmware writes it from ``docs/protocol.md``."""
    now = datetime.now().astimezone().isoformat(timespec="milliseconds")
    window = device.split("-", maxsplit=1)[0]
    body: dict[str, Any] = {
        "v": 1,
        "id": f"{device}-{seq:012d}",
        "seq": seq,
        "ts": now,
        "sent": now,
        "device": device,
        "channel": "window",
        "window": window,
        "staff": None,
        "ticket": None,
        "level": level,
        "dims": None,
        "reasons": [],
        "comment": None,
        "anonymous": False,
        "flags": [],
    }
    body.update(fields)
    return json.dumps(body, ensure_ascii=False).encode()


@dataclass(frozen=True)
class Message:
    """One message a :class:`ThirdParty` received."""

    topic: str
    payload: bytes
    retain: bool

    def json(self) -> Any:
        return json.loads(self.payload)


class ThirdParty:
    """A raw paho client connected to a test broker."""

    def __init__(self, port: int, *, protocol: str = "5", client_id: str | None = None) -> None:
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"third-party-{next(_ids)}",
            protocol=paho.MQTTv5 if protocol == "5" else paho.MQTTv311,
        )
        self._lock = threading.Lock()
        self._messages: list[Message] = []
        self._subscribed: set[int] = set()
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.connect("127.0.0.1", port, keepalive=30)
        self._loop = start_loop(self.client)
        wait_until(self.client.is_connected, timeout=10, message="third party connected")

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self._messages.append(Message(msg.topic, bytes(msg.payload), bool(msg.retain)))

    def _on_subscribe(self, client: paho.Client, userdata: object, mid: int, *args: object) -> None:
        with self._lock:
            self._subscribed.add(mid)

    def subscribe(self, topic: str) -> None:
        """Subscribe at QoS 1 and wait for the broker's acknowledgement."""
        _, mid = self.client.subscribe(topic, qos=1)
        wait_until(lambda: mid in self._subscribed, timeout=10, message=f"SUBACK for {topic}")

    def publish(self, topic: str, payload: bytes | str, *, qos: int = 1) -> None:
        """Publish and wait until the broker has acknowledged it."""
        info = self.client.publish(topic, payload, qos=qos)
        info.wait_for_publish(timeout=10)
        assert info.is_published(), f"publish to {topic} not acknowledged"

    def messages(self, topic: str | None = None) -> list[Message]:
        """What arrived so far, on ``topic`` or on every subscribed topic."""
        with self._lock:
            return [m for m in self._messages if topic is None or m.topic == topic]

    def wait_for_hub(self, topics: Topics) -> None:
        """Wait until the hall's hub is online, which it says after subscribing."""
        topic = topics.hub(HubTopic.STATUS)
        self.subscribe(topic)
        wait_until(
            lambda: any(m.payload == b"online" for m in self.messages(topic)),
            message="the hub online",
        )

    def close(self) -> None:
        stop_loop(self.client, self._loop)
