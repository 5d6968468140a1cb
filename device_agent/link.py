"""The device's MQTT link: status and info, receipts in, records out.

paho's callbacks run in its network thread; an exception there would
silently kill that thread, so each callback catches everything and only
turns what arrived into an event on the agent's queue.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import paho.mqtt.client as paho

from device_agent import __version__
from device_agent.errors import ProtocolError
from device_agent.mqtt import (
    OFFLINE,
    ONLINE,
    BrokerSettings,
    close_client,
    connect_async,
    is_failure,
    new_client,
)
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
    """One device's connection to the hall broker."""

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
        self._connected = threading.Event()
        self._stopping = False
        # Extra fields of the retained ``info`` document (the agent adds config_version).
        self.info: dict[str, Any] = {}
        self.client = new_client(
            settings,
            client_id=device,
            status_topic=topics.device(device, DeviceTopic.STATUS),
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish

    @property
    def connected(self) -> bool:
        """Whether the broker has accepted this session."""
        return self._connected.is_set()

    def start(self) -> None:
        """Connect in the background; never raises when the broker is down."""
        connect_async(self.client, self.settings)
        self.client.loop_start()

    def stop(self) -> None:
        """Mark the device offline (the will is not sent on a clean stop) and disconnect."""
        self._stopping = True
        if self.connected:
            info = self.client.publish(
                self.topics.device(self.device, DeviceTopic.STATUS), OFFLINE, qos=1, retain=True
            )
            try:
                info.wait_for_publish(timeout=2)
            except (RuntimeError, ValueError) as exc:
                # The link dropped since ``connected`` was read: the will says offline.
                logger.info("%s: offline status not sent: %s", self.device, exc)
        close_client(self.client)
        self._connected.clear()

    def send(self, record: Pending, *, sent: datetime) -> bool:
        """Publish one outbox record at QoS 1; False when the link is down."""
        if not self.connected:
            return False
        topic = self.topics.device(self.device, RECORD_TOPICS[record.kind])
        info = self.client.publish(topic, record.payload(format_time(sent)), qos=1)
        return info.rc == paho.MQTT_ERR_SUCCESS

    def publish_info(self) -> None:
        """Publish the retained ``info``: software, start time, and :attr:`info`'s fields."""
        body = {"v": 1, "software": __version__, "started_at": format_time(self._started_at)}
        self.publish_json(DeviceTopic.INFO, {**body, **self.info}, retain=True)

    def publish_json(self, kind: DeviceTopic, body: dict[str, Any], *, retain: bool) -> None:
        """Publish a small JSON document (info, telemetry, config report) on topic ``kind``."""
        if self.connected:
            payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
            self.client.publish(
                self.topics.device(self.device, kind),
                payload,
                qos=0 if kind == DeviceTopic.TELEMETRY else 1,
                retain=retain,
            )

    # paho callbacks: network thread, must never raise.

    def _on_connect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.ConnectFlags,
        reason_code: paho.ReasonCode,
        properties: object,
    ) -> None:
        try:
            if is_failure(reason_code):
                logger.warning("broker refused %s: %s", self.device, reason_code)
                return
            client.subscribe(self.topics.device(self.device, DeviceTopic.RECEIPT), qos=1)
            for kind in COMMAND_EVENTS:
                client.subscribe(self.topics.device(self.device, kind), qos=1)
            client.publish(
                self.topics.device(self.device, DeviceTopic.STATUS), ONLINE, qos=1, retain=True
            )
            self._connected.set()
            self.publish_info()
            logger.info(
                "%s connected to %s:%d (session present: %s)",
                self.device,
                self.settings.host,
                self.settings.port,
                flags.session_present,
            )
            self._events.put(Connected(bool(flags.session_present)))
        except Exception:
            logger.exception("on_connect failed")

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.DisconnectFlags,
        reason_code: paho.ReasonCode,
        properties: object,
    ) -> None:
        try:
            was_connected = self.connected
            self._connected.clear()
            if was_connected and not self._stopping:
                logger.warning("%s lost the broker: %s", self.device, reason_code)
            if was_connected:
                self._events.put(Disconnected(str(reason_code)))
        except Exception:
            logger.exception("on_disconnect failed")

    def _on_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        try:
            for kind, event in COMMAND_EVENTS.items():
                if message.topic == self.topics.device(self.device, kind):
                    self._events.put(event(bytes(message.payload)))
                    return
            if message.topic != self.topics.device(self.device, DeviceTopic.RECEIPT):
                # amqtt 0.12 (the demo's embedded broker) sends a connecting client
                # the retained messages matching *any* client's subscriptions, such
                # as other devices' status and info: only our own receipts count.
                logger.debug("ignoring a message on %s", message.topic)
                return
            self._events.put(ReceiptArrived(decode_receipt(message.payload)))
        except ProtocolError as exc:
            logger.warning("ignoring a malformed receipt on %s: %s", message.topic, exc)
        except Exception:
            logger.exception("on_message failed")

    def _on_publish(
        self,
        client: paho.Client,
        userdata: object,
        mid: int,
        reason_code: paho.ReasonCode,
        properties: object,
    ) -> None:
        # A broker acknowledgement is not storage; only a receipt clears the
        # outbox. A refusal here (an ACL deny, MQTT 5) means the record will
        # never be receipted: say so loudly, the resend timer keeps trying.
        try:
            if is_failure(reason_code):
                logger.error("broker refused a publish from %s: %s", self.device, reason_code)
        except Exception:
            logger.exception("on_publish failed")
