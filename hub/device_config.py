"""``hallrate device-config``: set a window device's configuration from the hub, and see it applied.

The hub publishes the desired settings retained on the device's
``config/set`` topic (the device gets them now, or whenever it next
connects), then waits for the device's retained ``config`` report of that
``config_version``: applied, or refused with every problem listed. The
document's fields are described in ``device_agent/remote_config.py`` and
``docs/evaluator.md``.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import click
import paho.mqtt.client as paho

from device_agent.errors import ProtocolError
from device_agent.mqtt import MqttClient, is_failure
from device_agent.topics import DeviceTopic, Topics, check_id
from hub.config import HubConfig

logger = logging.getLogger(__name__)

CONNECT_S = 10.0  # how long to wait for the broker's connection and SUBACK


class DeviceConfigError(RuntimeError):
    """The configuration could not be published, or no report came back in time."""


def set_device_config(
    config: HubConfig, device: str, document: dict[str, Any], *, timeout: float = 30.0
) -> dict[str, Any]:
    """Publish ``document`` retained on ``device``'s ``config/set``; returns the device's report.

    Raises :class:`~device_agent.errors.ProtocolError` for a device id that is
    malformed or not in the hall directory, or a document that is not an object.

    Raises :class:`DeviceConfigError` when the broker cannot be reached or the
    device did not report on that version within ``timeout`` seconds (it is
    offline: it will apply the retained document when it connects).
    """
    check_id(device, field="device")
    if device not in config.directory.devices:
        raise ProtocolError(f"device: {device!r} is not in the hall directory")
    if not isinstance(document, dict):
        raise ProtocolError("the document must be a JSON object")
    version = document.get("config_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise DeviceConfigError("the document needs an integer config_version")
    topics = Topics.for_hall(config.hall, template=config.base_topic)
    report_topic = topics.device(device, DeviceTopic.CONFIG)
    reported = threading.Event()
    report: dict[str, Any] = {}

    def on_report(message: paho.MQTTMessage) -> None:
        try:
            body = json.loads(message.payload)
            if isinstance(body, dict) and body.get("config_version") == version:
                report.update(body)
                reported.set()
        except ValueError:
            logger.warning("ignoring a malformed config report on %s", message.topic)

    # A one-shot tool: a clean session of its own, never the hub's client id.
    settings = config.broker.account("device-config")
    connection = MqttClient(
        settings, client_id=f"{config.client_id}-device-config", persistent=False
    )
    connection.subscribe(report_topic, 1, on_report)
    connection.start()
    try:
        if not connection.wait_subscribed(min(timeout, CONNECT_S)):
            raise DeviceConfigError(
                f"cannot reach the broker at {settings.host}:{settings.port}"
                " (or it refused this account)"
            )
        info = connection.publish(
            topics.device(device, DeviceTopic.CONFIG_SET),
            json.dumps(document, ensure_ascii=False),
            qos=1,
            retain=True,
        )
        info.wait_for_publish(timeout=timeout)
        if not info.is_published() or is_failure(info.rc):
            raise DeviceConfigError(f"the broker did not take the configuration of {device}")
        if not reported.wait(timeout):
            raise DeviceConfigError(
                f"{device} did not report config_version {version} within {timeout:g} s;"
                " it will apply it when it next connects"
            )
    finally:
        connection.stop()
    return report


@click.command("device-config", help="Set a window device's configuration remotely.")
@click.option("--config", required=True, metavar="FILE", help="the hub's TOML configuration")
@click.argument("device")
@click.argument("document")
@click.option("--timeout", type=float, default=30.0, help="seconds to wait for a report")
def command(config: str, device: str, document: str, timeout: float) -> int:
    """``hallrate device-config --config HUB DEVICE DOCUMENT``: publish a config/set document
    (a JSON file) to DEVICE (e.g. w03-eval), wait and print its report; 0 applied, 1 refused or
    unanswered, 2 bad input.
    """
    from hub.config import load_hub_config

    hub_config = load_hub_config(config)
    try:
        with open(document, encoding="utf-8") as file:
            wanted = json.load(file)
    except (OSError, ValueError) as exc:
        logger.error("cannot read %s: %s", document, exc)
        return 2
    try:
        report = set_device_config(hub_config, device, wanted, timeout=timeout)
    except ProtocolError as exc:
        logger.error("%s", exc)
        return 2
    except DeviceConfigError as exc:
        logger.error("%s", exc)
        return 1
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0 if report.get("applied") else 1
