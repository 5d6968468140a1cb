"""The device's MQTT link: status and info, receipts in, records out.

paho's callbacks run in its network thread; an exception there would
silently kill that thread, so each callback catches everything and only
turns what arrived into an event on the agent's queue.
"""

from __future__ import annotations

import json
import logging
import queue
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import paho.mqtt.client as paho

from device_agent import __version__
from device_agent.errors import ProtocolError
from device_agent.mqtt import BrokerSettings, MqttClient
from device_agent.outbox import Pending
from device_agent.protocol import Receipt, decode_receipt, format_time
from device_agent.topics import DeviceTopic, Topics

logger = logging.getLogger(__name__)

RECORD_TOPICS = {
    "vote": DeviceTopic.VOTE,
    "service": DeviceTopic.SERVICE,
    "complaint": DeviceTopic.COMPLAINT,
}


@dataclass(frozen=True, slots=True)
class Connected:
    """The link (re)connected; every unreceipted record is due again."""

    session_present: bool


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The link is down; records wait in the outbox."""

    reason: str


@dataclass(frozen=True, slots=True)
class ReceiptArrived:
    """The hub answered for some records."""

    receipt: Receipt


@dataclass(frozen=True, slots=True)
class ConfigArrived:
    """The hub set this device's configuration (retained ``config/set``); not yet checked."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class ServiceCommandArrived:
    """The queue system or the hub ordered a service change (``service/command``)."""

    payload: bytes


# Topics a device listens on besides its receipts, and the event each becomes.
COMMAND_EVENTS = {
    DeviceTopic.CONFIG_SET: ConfigArrived,
    DeviceTopic.SERVICE_COMMAND: ServiceCommandArrived,
}


class DeviceLink:
    """One device's connection to the hall broker: its topics on an :class:`MqttClient`."""

    def __init__(
        self,
        settings: BrokerSettings,
        *,
        topics: Topics,
        device: str,
        events: queue.SimpleQueue[object],
        started_at: datetime,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.device = device
        self._events = events
        self._started_at = started_at
        # Extra fields of the retained ``info`` document (the agent adds config_version).
        self.info: dict[str, Any] = {}
        self.connection = MqttClient(
            settings,
            client_id=device,
            status_topic=topics.device(device, DeviceTopic.STATUS),
        )
        self.connection.subscribe(topics.device(device, DeviceTopic.RECEIPT), 1, self._on_receipt)
        for kind, event in COMMAND_EVENTS.items():
            self.connection.subscribe(
                topics.device(device, kind),
                1,
                lambda message, event=event: self._command(event, message),
            )
        self._session_present = False
        self.connection.when_connected(self._on_connected)
        self.connection.when_subscribed(self._on_subscribed)
        self.connection.when_disconnected(self._on_disconnected)

    @property
    def connected(self) -> bool:
        """Whether the broker has this session and its subscriptions: receipts can come back."""
        return self.connection.subscribed

    def start(self) -> None:
        """Connect in the background; never raises when the broker is down."""
        self.connection.start()

    def stop(self) -> None:
        """Mark the device offline (the will is not sent on a clean stop) and disconnect."""
        self.connection.stop()

    def send(self, record: Pending, *, sent: datetime) -> bool:
        """Publish one outbox record at QoS 1; False when the link is down."""
        if not self.connected:
            return False
        topic = self.topics.device(self.device, RECORD_TOPICS[record.kind])
        info = self.connection.publish(topic, record.payload(format_time(sent)), qos=1)
        return info.rc == paho.MQTT_ERR_SUCCESS

    def publish_info(self) -> None:
        """Publish the retained ``info``: software, start time, and :attr:`info`'s fields."""
        body = {"v": 1, "software": __version__, "started_at": format_time(self._started_at)}
        self.publish_json(DeviceTopic.INFO, {**body, **self.info}, retain=True)

    def publish_json(self, kind: DeviceTopic, body: dict[str, Any], *, retain: bool) -> None:
        """Publish a small JSON document (info, telemetry, config report) on topic ``kind``."""
        if self.connected:
            payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
            self.connection.publish(
                self.topics.device(self.device, kind),
                payload,
                qos=0 if kind == DeviceTopic.TELEMETRY else 1,
                retain=retain,
            )

    # The connection's hooks and handlers: its loop thread; each only makes an event.

    def _on_connected(self, session_present: bool) -> None:
        self._session_present = session_present

    def _on_subscribed(self) -> None:
        self.publish_info()
        self._events.put(Connected(self._session_present))

    def _on_disconnected(self, reason: str) -> None:
        self._events.put(Disconnected(reason))

    def _command(
        self, event: type[ConfigArrived | ServiceCommandArrived], message: paho.MQTTMessage
    ) -> None:
        self._events.put(event(bytes(message.payload)))

    def _on_receipt(self, message: paho.MQTTMessage) -> None:
        try:
            self._events.put(ReceiptArrived(decode_receipt(message.payload)))
        except ProtocolError as exc:
            logger.warning("ignoring a malformed receipt on %s: %s", message.topic, exc)
