"""Broker settings, TLS, and the one MQTT client base every role speaks through.

Everything that makes a session durable lives in :class:`MqttClient`, so no
role can forget it: a fixed client id, no clean start, a session expiry of
days, a will on the retained status topic, subscriptions made again on every
connection, and reconnection with doubling delays so a device that boots
before its broker keeps trying instead of dying. TLS, when configured,
always verifies the broker's certificate and name."""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
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


def is_failure(reason_code: paho.ReasonCode | int) -> bool:
    """Whether a reason code from a v2 callback reports a failure."""
    if isinstance(reason_code, paho.ReasonCode):
        return reason_code.is_failure
    return reason_code != 0


MessageHandler = Callable[[paho.MQTTMessage], None]
# How long a clean stop waits for the broker to take the last packets.
GOODBYE_S = 2.0


@dataclass(frozen=True, slots=True)
class _Subscription:
    qos: int
    handler: MessageHandler
    manual_ack: bool  # the handler acknowledges (after its commit); else acked on return


class MqttClient:
    """One durable MQTT connection, shared by every role of a process (agent, hub, central).

    It owns what every role needs and none should write again: the session
    (a fixed client id, no clean start, the session expiry and receive maximum
    of MQTT 5, ``clean_session = false`` on 3.1.1), TLS, the retained
    ``online``/``offline`` status with its will, connecting and reconnecting
    with doubling delays, subscribing on every connection, and a clean stop.
    The roles keep only their own message handling: :meth:`subscribe` a
    handler per topic, and hear of the connection through :meth:`when_connected`,
    :meth:`when_subscribed` and :meth:`when_disconnected`.

    The network loop is paho's external-loop interface (``loop_read``,
    ``loop_write``, ``loop_misc``) around one ``select`` of our own: it sleeps
    until the broker sends something, a packet is queued from any thread, a
    ping is due, or the caller's :meth:`run` ``turn`` asks to be woken. It
    runs in a thread of its own (:meth:`start`) or in the caller's
    (:meth:`run`, then :meth:`close`), so the hub's ingest keeps its network
    and its commits in one thread. Every callback runs in that loop's thread.
    """

    def __init__(
        self,
        settings: BrokerSettings,
        *,
        client_id: str,
        status_topic: str | None = None,
        manual_ack: bool = False,
        receive_maximum: int | None = None,
        persistent: bool = True,
    ) -> None:
        """``status_topic``: retained ``online`` on connecting, ``offline`` on a stop and as
        the will; None for a helper connection whose going away says nothing.
        ``persistent`` False: a clean session, for one-shot tools.
        """
        self.settings = settings
        self.client_id = client_id
        self.status_topic = status_topic
        protocol = PROTOCOLS[settings.protocol]
        self._persistent = persistent
        self._receive_maximum = receive_maximum
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=protocol,
            # MQTT 3.1.1 has no clean start flag: a persistent session is clean_session=False.
            clean_session=(not persistent) if protocol == paho.MQTTv311 else None,
            manual_ack=manual_ack,
        )
        client.enable_logger(paho_logger)
        if settings.tls:
            client.tls_set_context(tls_context(settings))
        if settings.username:
            password = settings.password.reveal() if settings.password else None
            client.username_pw_set(settings.username, password)
        if status_topic is not None:
            client.will_set(status_topic, OFFLINE, qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        client.on_message = self._on_unexpected
        # A packet queued from another thread wakes the loop's select (paho's external
        # loop); one queued by the loop's own thread is written before it next sleeps.
        client.on_socket_register_write = self._on_register_write
        self.client = client
        self._manual_ack = manual_ack
        self._subscriptions: dict[str, _Subscription] = {}
        self._connected_hooks: list[Callable[[bool], None]] = []
        self._subscribed_hooks: list[Callable[[], None]] = []
        self._disconnected_hooks: list[Callable[[str], None]] = []
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._subscribe_mid: int | None = None
        self._stopping = threading.Event()
        self._closed = False
        # The loop's wake-up, opened when it starts: a client never run holds no socket.
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._delay = float(settings.reconnect_min_s)
        self._next_attempt = 0.0
        self._last_failure = ""
        # Publishes whose broker acknowledgement someone waits for (see publish's ``done``).
        self._track_lock = threading.Lock()
        self._tracked: dict[int, Callable[[paho.ReasonCode], None]] = {}
        self._tracking = 0
        self._early: dict[int, paho.ReasonCode] = {}
        self._ready = False
        self._loop_thread: int | None = None

    # What the roles use.

    @property
    def connected(self) -> bool:
        """Whether the broker has accepted this session."""
        return self._connected.is_set()

    @property
    def subscribed(self) -> bool:
        """Whether the broker has acknowledged (SUBACK) this connection's subscriptions."""
        return self._subscribed.is_set()

    def wait_subscribed(self, timeout: float) -> bool:
        """Wait until :attr:`subscribed`; False after ``timeout`` seconds."""
        return self._subscribed.wait(timeout)

    def subscribe(
        self, topic: str, qos: int, handler: MessageHandler, *, manual_ack: bool = False
    ) -> None:
        """Subscribe ``topic`` on every connection, each message to ``handler`` (loop thread).

        Before :meth:`start` or :meth:`run`. ``manual_ack``: on a client made with
        ``manual_ack``, the handler's owner acknowledges with :meth:`ack`; other
        handlers' messages are acknowledged once the handler returns.
        """
        if self._ready:
            raise RuntimeError("subscribe before the connection starts")
        subscription = _Subscription(qos, handler, manual_ack)
        self._subscriptions[topic] = subscription
        self.client.message_callback_add(
            topic, lambda client, userdata, message: self._deliver(subscription, message)
        )

    def when_connected(self, hook: Callable[[bool], None]) -> None:
        """Call ``hook(session_present)`` on every accepted connection (loop thread)."""
        self._connected_hooks.append(hook)

    def when_subscribed(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` when the broker has acknowledged the subscriptions (loop thread)."""
        self._subscribed_hooks.append(hook)

    def when_disconnected(self, hook: Callable[[str], None]) -> None:
        """Call ``hook(reason)`` when an accepted connection ends (loop thread)."""
        self._disconnected_hooks.append(hook)

    def publish(
        self,
        topic: str,
        payload: bytes | str,
        *,
        qos: int = 1,
        retain: bool = False,
        done: Callable[[paho.ReasonCode], None] | None = None,
    ) -> paho.MQTTMessageInfo:
        """Publish from any thread; queued while the broker is away (QoS 1 survives reconnects).

        ``done(reason_code)`` runs in the loop's thread once the broker has
        acknowledged this message (or refused it, MQTT 5).
        """
        if done is None:
            return self.client.publish(topic, payload, qos=qos, retain=retain)
        with self._track_lock:
            self._tracking += 1
        try:
            info = self.client.publish(topic, payload, qos=qos, retain=retain)
        finally:
            with self._track_lock:
                self._tracking -= 1
        with self._track_lock:
            early = self._early.pop(info.mid, None)
            if early is None:
                self._tracked[info.mid] = done
            if not self._tracking:
                self._early.clear()  # acknowledgements of untracked messages
        if early is not None:
            done(early)  # acknowledged before publish() returned its mid
        return info

    def ack(self, mid: int, qos: int) -> None:
        """Acknowledge a message received under ``manual_ack`` (loop thread)."""
        if qos > 0:
            self.client.ack(mid, qos)

    def wake(self) -> None:
        """Make the loop's ``select`` return now (from any thread)."""
        # Full: a wake-up is already waiting. Closed or not open: no loop to wake.
        wake = self._wake_w
        if wake is not None:
            with contextlib.suppress(OSError):
                wake.send(b"\0")

    # Running.

    def start(self) -> None:
        """Connect and serve in a thread of its own; never raises when the broker is down."""
        self._thread = threading.Thread(
            target=self._serve, name=f"mqtt-{self.client_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop; with :meth:`start`, also wait for its clean goodbye (:meth:`close`)."""
        self._stopping.set()
        self.wake()
        thread = self._thread
        if thread is None and not self._ready:
            self.close()  # never ran: only the wake-up's sockets to close
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def run(self, turn: Callable[[bool], float] | None = None) -> None:
        """Serve in this thread until :meth:`stop`; then call :meth:`close` in this thread.

        ``turn(idle)`` runs after every turn of the loop (``idle``: nothing
        from the broker waits to be read) and returns how many seconds the
        loop may sleep before the next turn.
        """
        self._begin()
        self._loop_thread = threading.get_ident()
        idle = True
        while not self._stopping.is_set():
            wait = self._idle_wait_s()
            if turn is not None:
                wait = min(wait, turn(idle))
            if self._stopping.is_set():
                break
            sock = self.client.socket()
            if sock is None:
                now = time.monotonic()
                if now >= self._next_attempt:
                    self._attempt()
                else:
                    self._sleep(min(wait, self._next_attempt - now))
                idle = True
                continue
            self._serve_socket(sock, wait)
            idle = self._nothing_waiting()

    def close(self) -> None:
        """Say goodbye: ``offline`` (retained), DISCONNECT, every socket closed (loop thread)."""
        if self._closed:
            return
        self._closed = True
        client = self.client
        deadline = time.monotonic() + GOODBYE_S
        if self.status_topic is not None and self.connected:
            info = client.publish(self.status_topic, OFFLINE, qos=1, retain=True)
            if info.rc == paho.MQTT_ERR_SUCCESS:  # else the link just dropped: the will says it
                self._drive(info.is_published, deadline)
        if client.socket() is not None:
            client.disconnect()
            self._drive(lambda: client.socket() is None, deadline)
        sock = client.socket()
        if sock is not None:  # the broker did not take the DISCONNECT in time
            sock.close()
        self._connected.clear()
        self._subscribed.clear()
        for sock in (self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()

    # The loop.

    def _serve(self) -> None:
        try:
            self.run()
        finally:
            self.close()

    def _begin(self) -> None:
        self._ready = True
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        settings = self.settings
        properties = None
        if self.client.protocol == paho.MQTTv5:
            properties = Properties(PacketTypes.CONNECT)
            if self._persistent:
                properties.SessionExpiryInterval = settings.session_expiry_s
            if self._receive_maximum is not None:
                properties.ReceiveMaximum = self._receive_maximum
            self.client.connect_async(
                settings.host,
                settings.port,
                keepalive=settings.keepalive_s,
                bind_address=settings.bind_address,
                clean_start=not self._persistent,
                properties=properties,
            )
        else:
            self.client.connect_async(
                settings.host,
                settings.port,
                keepalive=settings.keepalive_s,
                bind_address=settings.bind_address,
            )

    def _idle_wait_s(self) -> float:
        # Woken by every packet in or out; otherwise only for paho's keepalive
        # ping, which must leave within 1.5 keepalives (the broker's limit).
        return self.settings.keepalive_s / 4

    def _attempt(self) -> None:
        """Open a connection now; the next attempt waits twice as long (reset on success)."""
        settings = self.settings
        self._next_attempt = time.monotonic() + self._delay
        self._delay = min(self._delay * 2, settings.reconnect_max_s)
        try:
            self.client.reconnect()
        except OSError as exc:
            reason = str(exc) or type(exc).__name__
            if reason != self._last_failure:  # once per reason, not at every retry
                self._last_failure = reason
                logger.warning(
                    "%s cannot reach the broker at %s:%d: %s",
                    self.client_id,
                    settings.host,
                    settings.port,
                    reason,
                )

    def _sleep(self, seconds: float) -> None:
        assert self._wake_r is not None  # opened by _begin
        readable, _, _ = select.select([self._wake_r], [], [], max(0.0, seconds))
        if readable:
            self._drain_wake()

    def _drain_wake(self) -> None:
        with contextlib.suppress(OSError):
            if self._wake_r is not None:
                self._wake_r.recv(4096)

    def _serve_socket(self, sock: object, wait: float) -> None:
        """One select on the broker's socket and the wake-up, then paho's read, write, misc.

        What this thread queued (acknowledgements, receipts, a ping) is written
        at once rather than after one more turn: a wake-up saved each time.
        """
        client = self.client
        self._write()
        if client.socket() is None:
            return
        pending = getattr(sock, "pending", None)
        buffered = bool(pending is not None and pending())  # TLS bytes already decrypted
        writes = [sock] if client.want_write() else []  # what the socket would not take yet
        try:
            reads = [sock] if self._wake_r is None else [sock, self._wake_r]
            readable, _, _ = select.select(reads, writes, [], 0.0 if buffered else max(0.0, wait))
        except (OSError, ValueError, TypeError):
            readable = []  # the socket closed under us: loop_misc notices
        if self._wake_r is not None and self._wake_r in readable:
            self._drain_wake()
        if buffered or sock in readable:
            client.loop_read()
        self._write()
        if client.socket() is not None:
            client.loop_misc()
        self._write()

    def _write(self) -> None:
        if self.client.socket() is not None and self.client.want_write():
            self.client.loop_write()

    def _nothing_waiting(self) -> bool:
        """True when no byte from the broker waits to be read (nor in TLS's buffer)."""
        sock = self.client.socket()
        if sock is None:
            return True
        pending = getattr(sock, "pending", None)
        if pending is not None and pending():
            return False
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError, TypeError):
            return True
        return not readable

    def _drive(self, done: Callable[[], bool], deadline: float) -> None:
        """Turn the loop by hand until ``done()`` or ``deadline`` (the goodbye)."""
        while time.monotonic() < deadline:
            try:
                if done():
                    return
            except (RuntimeError, ValueError):
                return  # the message was lost with the connection
            sock = self.client.socket()
            if sock is None:
                return
            self._serve_socket(sock, min(0.05, max(0.0, deadline - time.monotonic())))

    # paho callbacks: they run in the loop's thread and never raise.

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
                logger.warning("the broker refused %s: %s", self.client_id, reason_code)
                return
            self._delay = float(self.settings.reconnect_min_s)
            self._next_attempt = 0.0  # a lost connection is retried at once
            self._last_failure = ""
            self._connected.set()
            if self._subscriptions:
                _, self._subscribe_mid = client.subscribe(
                    [(topic, s.qos) for topic, s in self._subscriptions.items()]
                )
            if self.status_topic is not None:
                client.publish(self.status_topic, ONLINE, qos=1, retain=True)
            logger.info(
                "%s connected to %s:%d (session present: %s)",
                self.client_id,
                self.settings.host,
                self.settings.port,
                flags.session_present,
            )
        except Exception:
            logger.exception("on_connect failed")
            return
        self._call(self._connected_hooks, bool(flags.session_present))
        if not self._subscriptions:
            self._subscribed.set()
            self._call(self._subscribed_hooks)

    def _on_subscribe(
        self,
        client: paho.Client,
        userdata: object,
        mid: int,
        reason_codes: list[paho.ReasonCode],
        properties: object,
    ) -> None:
        if mid != self._subscribe_mid:
            return
        refused = [str(code) for code in reason_codes if is_failure(code)]
        if refused:
            logger.error("the broker refused %s's subscriptions: %s", self.client_id, refused)
            return
        self._subscribed.set()
        self._call(self._subscribed_hooks)

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.DisconnectFlags,
        reason_code: paho.ReasonCode,
        properties: object,
    ) -> None:
        was_connected = self.connected
        self._connected.clear()
        self._subscribed.clear()
        self._subscribe_mid = None
        if not was_connected:
            return
        if not self._stopping.is_set():
            logger.warning("%s lost the broker: %s", self.client_id, reason_code)
        self._call(self._disconnected_hooks, str(reason_code))

    def _on_publish(
        self,
        client: paho.Client,
        userdata: object,
        mid: int,
        reason_code: paho.ReasonCode,
        properties: object,
    ) -> None:
        # A refusal here (an ACL deny, MQTT 5) means the message never arrives: say so loudly.
        if is_failure(reason_code):
            logger.error("the broker refused a publish from %s: %s", self.client_id, reason_code)
        with self._track_lock:
            done = self._tracked.pop(mid, None)
            if done is None and self._tracking:
                self._early[mid] = reason_code  # publish() has not returned this mid yet
        if done is not None:
            self._call([done], reason_code)

    def _on_register_write(self, client: paho.Client, userdata: object, sock: object) -> None:
        if threading.get_ident() != self._loop_thread:
            self.wake()

    def _deliver(self, subscription: _Subscription, message: paho.MQTTMessage) -> None:
        try:
            subscription.handler(message)
        except Exception:
            logger.exception("%s: handling a message on %s failed", self.client_id, message.topic)
        if self._manual_ack and not subscription.manual_ack:
            self.ack(message.mid, message.qos)

    def _on_unexpected(
        self, client: paho.Client, userdata: object, message: paho.MQTTMessage
    ) -> None:
        # amqtt 0.12 (the demo's embedded broker) sends a connecting client the
        # retained messages matching *any* client's subscriptions.
        logger.debug("%s: ignoring a message on %s", self.client_id, message.topic)
        if self._manual_ack:
            self.ack(message.mid, message.qos)

    def _call(self, hooks: list[Callable[..., None]], *args: object) -> None:
        for hook in hooks:
            try:
                hook(*args)
            except Exception:
                logger.exception("%s: a connection hook failed", self.client_id)
