"""A thin, trap-free setup of paho-mqtt's v2 client for agents and the hub.

Everything that makes a session durable lives here, so no caller can forget
it: a fixed client id, no clean start, a session expiry of days, a will on
the retained status topic, and asynchronous connection with reconnect delays
so a device that boots before its broker keeps trying instead of dying.
TLS, when configured, always verifies the broker's certificate and name.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any, Self

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import ValidationInfo, model_validator

from device_agent.configfile import (
    Bool,
    FilePath,
    Int,
    Problems,
    Str,
    between,
    cross_check,
    fill_secret,
    one_of,
    secret_field,
    section,
)

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
TLS_FILE_KEYS = ("ca_file", "cert_file", "key_file")
TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
PLAIN_PORT = 1883
TLS_PORT = 8883


def _broker_problems(data: dict[str, Any], problems: Problems, info: ValidationInfo) -> None:
    """Checks across the keys of ``[broker]``, as written."""
    low, high = data.get("reconnect_min_s", 1), data.get("reconnect_max_s", 30)
    if isinstance(low, int) and isinstance(high, int) and low > high:
        problems.add("reconnect_min_s", f"must not exceed reconnect_max_s ({high})")
    if data.get("tls") is not True:
        for name in (*TLS_FILE_KEYS, "server_name", "tls_version"):
            if name in data:
                problems.add(name, "is used only with tls = true")
    if "key_file" in data and "cert_file" not in data:
        problems.add("key_file", "needs cert_file (the client certificate)")


@section
class BrokerSettings:
    """Where the hall's broker is and how to keep a session with it: the ``[broker]`` table."""

    host: Str = "127.0.0.1"
    port: Annotated[Int, between(1, 65535)] = 0  # 0: 8883 with TLS, 1883 without
    protocol: Annotated[Str, one_of(*PROTOCOLS)] = "5"
    username: Str | None = None
    # Read from password_file or password_env, never from the file itself.
    password: secret_field("password") = None  # type: ignore[valid-type]
    password_file: Str = ""
    password_env: Str = ""
    keepalive_s: Annotated[Int, between(5, 3600)] = 30
    session_expiry_s: Annotated[Int, between(3600, 2**32 - 1)] = 7 * 24 * 3600
    reconnect_min_s: Annotated[Int, between(1, 300)] = 1
    reconnect_max_s: Annotated[Int, between(1, 3600)] = 30
    bind_address: Str = ""
    # TLS: the broker's certificate is always verified (CA and name); there is
    # deliberately no switch to turn that off.
    tls: Bool = False
    ca_file: FilePath | None = None  # None: the system's trusted CAs
    cert_file: FilePath | None = None  # a client certificate, for brokers that ask for one
    key_file: FilePath | None = None  # None with a cert_file: the key is in that file
    server_name: Str = ""  # the name the broker's certificate must carry; "": host
    tls_version: Annotated[Str, one_of(*TLS_VERSIONS)] = "1.2"  # the oldest TLS version accepted

    _cross = cross_check(_broker_problems)

    @model_validator(mode="after")
    def _complete(self, info: ValidationInfo) -> Self:
        if not self.port:
            object.__setattr__(self, "port", TLS_PORT if self.tls else PLAIN_PORT)
        if not self.username:
            object.__setattr__(self, "username", None)
        problems = Problems()
        fill_secret(self, info, "password", problems)
        if self.tls:
            _check_tls_files(problems, self)
        problems.check()
        return self

    def account(self, suffix: str) -> BrokerSettings:
        """These settings for another connection of one program: user ``{username}-{suffix}``.

        A broker that binds client ids to user names (``use_username_as_clientid``)
        lets one account hold one connection: the hub's helper connections
        (LED boards, forwarding, central, device-config) each log in as an
        account of their own, with the same password.
        """
        if not self.username:
            return self
        return replace(self, username=f"{self.username}-{suffix}")


def tls_context(settings: BrokerSettings) -> ssl.SSLContext:
    """The TLS context of a client of ``settings``: verifies the broker, offers the client cert.

    Raises :class:`OSError` for a file that cannot be read and
    :class:`ssl.SSLError` for one that holds no usable certificate or key.
    """
    context = _ServerNameContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, hostname checked
    context.server_name = settings.server_name
    context.sslsocket_class = _ClosingSSLSocket
    context.minimum_version = TLS_VERSIONS[settings.tls_version]
    if settings.ca_file is not None:
        context.load_verify_locations(cafile=settings.ca_file)
    else:
        context.load_default_certs()
    if settings.cert_file is not None:
        context.load_cert_chain(settings.cert_file, settings.key_file)
    return context


class _ServerNameContext(ssl.SSLContext):
    """An SSL context that checks a configured server name instead of the address dialled.

    paho hands the host it connects to as the name to verify; a broker reached
    by an address its certificate does not list is checked against
    ``server_name`` instead (still verified, never skipped).
    """

    server_name: str = ""

    def wrap_socket(self, sock: object, *args: object, **kwargs: object) -> ssl.SSLSocket:  # type: ignore[override]
        if self.server_name:
            kwargs["server_hostname"] = self.server_name
        return super().wrap_socket(sock, *args, **kwargs)  # type: ignore[arg-type]


class _ClosingSSLSocket(ssl.SSLSocket):
    """An SSL socket that closes itself when its handshake fails.

    paho drops a socket whose handshake failed without closing it: a device
    retrying against a broker it does not trust would pile up open files
    until the garbage collector comes by (and warn each time).
    """

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def _check_tls_files(problems: Problems, settings: BrokerSettings) -> None:
    """Record a problem for each TLS file that is missing or holds nothing usable."""
    unreadable = False
    for name in TLS_FILE_KEYS:
        path = getattr(settings, name)
        if path is None:
            continue
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            problems.add(name, f"cannot read {path}: {exc.strerror}")
            unreadable = True
    if unreadable or (settings.key_file is not None and settings.cert_file is None):
        return
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        if settings.ca_file is not None:
            context.load_verify_locations(cafile=settings.ca_file)
    except ssl.SSLError as exc:
        problems.add("ca_file", f"{settings.ca_file} holds no PEM certificate: {exc.reason}")
    if settings.cert_file is None:
        return
    try:
        context.load_cert_chain(settings.cert_file, settings.key_file)
    except ssl.SSLError as exc:
        key = "key_file" if settings.key_file is not None else "cert_file"
        problems.add(
            key,
            f"the client certificate and key do not load together ({exc.reason});"
            " give cert_file a PEM certificate and key_file its PEM private key",
        )


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
    apply_tls(client, settings)
    if settings.username:
        password = settings.password.reveal() if settings.password else None
        client.username_pw_set(settings.username, password)
    if status_topic is not None:
        client.will_set(status_topic, OFFLINE, qos=1, retain=True)
    client.reconnect_delay_set(settings.reconnect_min_s, settings.reconnect_max_s)
    client.on_connect_fail = _connect_failure_logger(settings, client_id)
    return client


def _connect_failure_logger(
    settings: BrokerSettings, client_id: str
) -> Callable[[paho.Client, object], None]:
    """An ``on_connect_fail`` that says why, once per reason.

    paho's background loop logs a failed connection only at DEBUG: a device
    that does not trust the broker's certificate would retry in silence.
    """
    last: list[str] = []

    def on_connect_fail(client: paho.Client, userdata: object) -> None:
        # paho calls this inside its ``except OSError`` block: the exception is current.
        reason = str(sys.exc_info()[1] or "unknown reason")
        if last != [reason]:
            last[:] = [reason]
            logger.warning(
                "%s cannot connect to the broker at %s:%d: %s",
                client_id,
                settings.host,
                settings.port,
                reason,
            )

    return on_connect_fail


def apply_tls(client: paho.Client, settings: BrokerSettings) -> None:
    """Make ``client`` speak TLS to the broker when ``settings`` ask for it."""
    if settings.tls:
        client.tls_set_context(tls_context(settings))


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


def wake_loop(client: paho.Client) -> None:
    """Make a ``client.loop()`` blocked in another thread return now.

    A loop driven by hand sleeps in ``select`` until the broker sends
    something or its timeout ends; a thread asking it to stop should not wait
    for either. paho wakes that ``select`` with one byte on its socket pair
    whenever ``publish()`` queues a packet, but offers no public call for just
    the wake-up; this writes that same byte.
    """
    sock = client._sockpairW
    if sock is not None:
        # Full: a wake-up is already waiting. Closed: the loop is over anyway.
        with contextlib.suppress(OSError):
            sock.send(b"0")


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
