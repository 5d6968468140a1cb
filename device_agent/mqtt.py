"""A thin, trap-free setup of paho-mqtt's v2 client for agents and the hub.

Everything that makes a session durable lives here, so no caller can forget
it: a fixed client id, no clean start, a session expiry of days, a will on
the retained status topic, and asynchronous connection with reconnect delays
so a device that boots before its broker keeps trying instead of dying.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from device_agent.configfile import ConfigReader, Secret, in_range, one_of

logger = logging.getLogger(__name__)


def _not_after_disconnect(record: logging.LogRecord) -> bool:
    # paho 2.2's network thread runs its loop once more after every requested
    # disconnect and logs "Client is not connected ... MQTT_CS_DISCONNECTED" at
    # ERROR: noise at every clean stop, which would teach operators to ignore errors.
    message = record.getMessage()
    return not (message.startswith("Client is not connected") and "MQTT_CS_DISCONNECTED" in message)


paho_logger = logging.getLogger(f"{__name__}.paho")
paho_logger.addFilter(_not_after_disconnect)

OFFLINE = b"offline"
ONLINE = b"online"
PROTOCOLS = {"5": paho.MQTTv5, "3.1.1": paho.MQTTv311}
BROKER_KEYS = (
    "host",
    "port",
    "protocol",
    "username",
    "password",  # refused with its own message by ConfigReader.secret
    "password_file",
    "password_env",
    "keepalive_s",
    "session_expiry_s",
    "reconnect_min_s",
    "reconnect_max_s",
    "bind_address",
)


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Where the hall's broker is and how to keep a session with it."""

    host: str = "127.0.0.1"
    port: int = 1883
    protocol: str = "5"
    username: str | None = None
    password: Secret | None = None
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 24 * 3600
    reconnect_min_s: int = 1
    reconnect_max_s: int = 30
    bind_address: str = ""


def read_broker(reader: ConfigReader, section: str = "broker") -> BrokerSettings:
    """Read the ``[broker]`` table of a configuration file."""
    d = BrokerSettings()
    reader.reject_unknown(section, BROKER_KEYS)
    username = reader.get(f"{section}.username", str, default="")
    settings = BrokerSettings(
        host=reader.get(f"{section}.host", str, default=d.host),
        port=reader.get(f"{section}.port", int, default=d.port, check=in_range(1, 65535)),
        protocol=reader.get(
            f"{section}.protocol", str, default=d.protocol, check=one_of(*PROTOCOLS)
        ),
        username=username or None,
        password=reader.secret(section, "password"),
        keepalive_s=reader.get(
            f"{section}.keepalive_s", int, default=d.keepalive_s, check=in_range(5, 3600)
        ),
        session_expiry_s=reader.get(
            f"{section}.session_expiry_s",
            int,
            default=d.session_expiry_s,
            check=in_range(3600, 2**32 - 1),
        ),
        reconnect_min_s=reader.get(
            f"{section}.reconnect_min_s", int, default=d.reconnect_min_s, check=in_range(1, 300)
        ),
        reconnect_max_s=reader.get(
            f"{section}.reconnect_max_s", int, default=d.reconnect_max_s, check=in_range(1, 3600)
        ),
        bind_address=reader.get(f"{section}.bind_address", str, default=d.bind_address),
    )
    if settings.reconnect_min_s > settings.reconnect_max_s:
        reader.problem(
            f"{section}.reconnect_min_s",
            f"must not exceed reconnect_max_s ({settings.reconnect_max_s})",
        )
    return settings


def new_client(
    settings: BrokerSettings,
    *,
    client_id: str,
    status_topic: str | None,
    manual_ack: bool = False,
) -> paho.Client:
    """A paho client with a persistent session and a retained ``offline`` will.

    ``status_topic`` None: no will, for a hub's helper clients (forwarding,
    central) whose going away says nothing about the hub itself.
    """
    protocol = PROTOCOLS[settings.protocol]
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        # MQTT 3.1.1 has no clean start flag: a persistent session is clean_session=False.
        clean_session=False if protocol == paho.MQTTv311 else None,
        manual_ack=manual_ack,
    )
    client.enable_logger(paho_logger)
    if settings.username:
        password = settings.password.reveal() if settings.password else None
        client.username_pw_set(settings.username, password)
    if status_topic is not None:
        client.will_set(status_topic, OFFLINE, qos=1, retain=True)
    client.reconnect_delay_set(settings.reconnect_min_s, settings.reconnect_max_s)
    return client


def connect_async(
    client: paho.Client, settings: BrokerSettings, *, receive_maximum: int | None = None
) -> None:
    """Ask ``client`` to connect (and reconnect) without blocking or raising.

    ``receive_maximum`` (MQTT 5) lets the broker have that many QoS 1 messages
    in flight to this client; a hub that acknowledges after its batch commit
    needs more than the broker's default of 20.
    """
    properties = None
    if client.protocol == paho.MQTTv5:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = settings.session_expiry_s
        if receive_maximum is not None:
            properties.ReceiveMaximum = receive_maximum
        client.connect_async(
            settings.host,
            settings.port,
            keepalive=settings.keepalive_s,
            bind_address=settings.bind_address,
            clean_start=False,
            properties=properties,
        )
    else:
        client.connect_async(
            settings.host,
            settings.port,
            keepalive=settings.keepalive_s,
            bind_address=settings.bind_address,
        )


def is_failure(reason_code: paho.ReasonCode | int) -> bool:
    """Whether a reason code from a v2 callback reports a failure."""
    if isinstance(reason_code, paho.ReasonCode):
        return reason_code.is_failure
    return reason_code != 0


def close_client(client: paho.Client) -> None:
    """Disconnect ``client`` for good: its network thread ends and every socket it holds closes.

    For clients driven by ``loop_start()`` and by hand with ``loop()`` alike;
    call it once the client is no longer needed (a stopped client is not
    reconnected).
    """
    client.disconnect()
    client.loop_stop()
    # paho closes the socket pair that wakes its loop only in Client.__del__
    # (paho issue 627). A client whose callbacks are its owner's bound methods
    # sits in a reference cycle, so that would be the garbage collector's job,
    # at a random moment, with an unraisable ResourceWarning. paho has no
    # public way to release them; _reset_sockets is what its own __del__ runs.
    client._reset_sockets()
