"""Forwarding warnings and hall summaries to central through a durable outbox.

Every warning event is written to ``forward_outbox`` in the transaction that
records it, one row per channel: MQTT (``{base}/hub/warning``, through the
hall broker's bridge to the county broker) and/or an HTTPS webhook signed
with HMAC-SHA256. The :class:`Forwarder` thread sends due rows and keeps each
until central confirms it — a receipt on ``{base}/hub/receipt`` naming its
``message_id``, or a 2xx answer to the webhook — resending with exponential
backoff meanwhile. A PUBACK from the hall broker is not enough: a broker can
lose what it queued for a bridge that is down. Central stores each message
under its deterministic id, so a message sent twice is stored once.

The hall summary (``{base}/hub/summary``, retained) is built every
``summary_interval_s``; a newer summary replaces an undelivered older one.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import queue
import sqlite3
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Self
from urllib.parse import urlsplit

import paho.mqtt.client as paho
import sqlite_utils
from pydantic import ValidationInfo, model_validator

from device_agent.configfile import (
    Bool,
    FilePath,
    Float,
    Problems,
    Str,
    between,
    checked,
    fill_secret,
    secret_field,
    section,
)
from device_agent.errors import ProtocolError
from device_agent.mqtt import MqttClient
from device_agent.protocol import decode_receipt, format_time
from device_agent.storage import open_database, write_transaction
from device_agent.topics import HubTopic, Topics
from hub.errors import ForwardingError

if TYPE_CHECKING:
    from hub.config import HubConfig

logger = logging.getLogger(__name__)

CHANNELS = ("mqtt", "webhook")
KINDS = ("warning", "summary")
SIGNATURE_HEADER = "X-Hallrate-Signature"
TIMESTAMP_HEADER = "X-Hallrate-Timestamp"
HALL_HEADER = "X-Hallrate-Hall"
KIND_HEADER = "X-Hallrate-Kind"
BATCH = 200


def _url_problem(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname:
        try:
            if ipaddress.ip_address(parts.hostname).is_loopback:
                return None
        except ValueError:
            if parts.hostname == "localhost":
                return None
        return "plain http only to a loopback address; use https"
    return "must be an https:// URL"


@section
class ForwardingSettings:
    """The ``[forwarding]`` section: which channels reach central, and how often to retry."""

    mqtt: Bool = False
    webhook_url: Annotated[Str, checked(_url_problem)] | None = None
    # Read from webhook_secret_file or webhook_secret_env, never from the file itself.
    webhook_secret: secret_field("webhook_secret") = None  # type: ignore[valid-type]
    webhook_secret_file: Str = ""
    webhook_secret_env: Str = ""
    ca_file: FilePath | None = None
    summary_interval_s: Annotated[Float, between(1, 86400)] = 300.0
    retry_min_s: Float = 5.0
    retry_max_s: Float = 600.0
    timeout_s: Annotated[Float, between(0.5, 120)] = 10.0
    poll_s: Annotated[Float, between(0.01, 10)] = 0.2

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Self:
        problems = Problems()
        fill_secret(self, info, "webhook_secret", problems)
        if self.webhook_url is not None and self.webhook_secret is None and not problems:
            problems.add("webhook_url", "a webhook needs webhook_secret_file or _env")
        if self.ca_file is not None and not self.ca_file.exists():
            problems.add("ca_file", f"{self.ca_file} does not exist")
        if not 0.1 <= self.retry_min_s <= self.retry_max_s:
            problems.add("retry_min_s", "must be at least 0.1 and at most retry_max_s")
        problems.check()
        return self

    @property
    def channels(self) -> tuple[str, ...]:
        """The configured channels, in a fixed order."""
        return tuple(
            name
            for name, on in (("mqtt", self.mqtt), ("webhook", self.webhook_url is not None))
            if on
        )

    def backoff(self, attempts: int) -> float:
        """Seconds to wait before attempt ``attempts + 1`` (doubling, capped)."""
        return float(min(self.retry_max_s, self.retry_min_s * 2 ** min(attempts, 30)))


class ForwardingQueue:
    """Writes messages for central into ``forward_outbox``, inside the caller's transaction."""

    def __init__(self, channels: tuple[str, ...], *, now: Callable[[], datetime]) -> None:
        self.channels = channels
        self._now = now

    def enqueue(
        self, conn: sqlite3.Connection, kind: str, message_id: str, payload: dict[str, Any]
    ) -> None:
        """Queue ``payload`` for every channel; a newer summary replaces an unsent one."""
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        created = format_time(self._now())
        for channel in self.channels:
            if kind == "summary":
                conn.execute(
                    "DELETE FROM forward_outbox WHERE channel = ? AND kind = 'summary'", (channel,)
                )
            conn.execute(
                "INSERT INTO forward_outbox (channel, kind, message_id, payload, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (channel, message_id) DO NOTHING",
                (channel, kind, message_id, body, created),
            )


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The webhook signature: ``sha256=`` and the HMAC-SHA256 of ``timestamp.body``."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    """Whether ``signature`` is :func:`sign` of this request (constant time)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Makes a redirect an error: urllib would follow a 302 with a GET that
    carries no body, and that page's 200 would pass for central's confirmation."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass(slots=True)
class ForwarderState:
    """What the forwarder reports: delivered messages, the last error, the queue's depth."""

    delivered: int = 0
    depth: int = 0
    connected: bool = False
    last_error: str | None = None


class Forwarder:
    """Sends the outbox to central until each message is confirmed; a thread of the hub."""

    def __init__(
        self,
        config: HubConfig,
        *,
        summary: Callable[[sqlite3.Connection], dict[str, Any]] | None = None,
        clock: Callable[[], float] = time.time,
        connection: MqttClient | None = None,
    ) -> None:
        self.config = config
        self.settings = config.forwarding
        self.topics = Topics.for_hall(config.hall, template=config.base_topic)
        self.state = ForwarderState()
        self._summary = summary
        self._clock = clock
        self._stop = threading.Event()
        self._receipts: queue.SimpleQueue[list[str]] = queue.SimpleQueue()
        self._resend = threading.Event()
        self._thread: threading.Thread | None = None
        context = (
            ssl.create_default_context(cafile=str(self.settings.ca_file))
            if self.settings.ca_file
            else ssl.create_default_context()
        )
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context), _RefuseRedirects
        )
        # MQTT: the hub's own connection to the hall broker when the hub passes
        # it (its account may write the hub's topics); else one of its own.
        self.connection: MqttClient | None = None
        self._owns_connection = False
        if self.settings.mqtt:
            if connection is None:
                connection = MqttClient(
                    config.broker.account("forward"), client_id=f"{config.client_id}-forward"
                )
                self._owns_connection = True
            self.connection = connection
            connection.subscribe(self.topics.hub(HubTopic.RECEIPT), 1, self._on_receipt)
            connection.when_subscribed(self._on_subscribed)
            connection.when_disconnected(self._on_disconnected)

    def start(self) -> None:
        """Start the sending thread (and a connection of its own)."""
        if self.connection is not None and self._owns_connection:
            self.connection.start()
        self._thread = threading.Thread(target=self._run, name="hub-forward", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sending; what is unconfirmed stays in the outbox for the next start."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        if self.connection is not None and self._owns_connection:
            self.connection.stop()

    def _run(self) -> None:
        db = open_database(self.config.database)
        next_summary = 0.0
        try:
            while not self._stop.is_set():
                try:
                    if self._summary is not None and self._clock() >= next_summary:
                        self.enqueue_summary(db)
                        next_summary = self._clock() + self.settings.summary_interval_s
                    self.send_due(db)
                except Exception as exc:
                    # Keep going: the rows stay and are tried again.
                    self.state.last_error = str(exc)
                    logger.exception("forwarding to central failed")
                self._stop.wait(self.settings.poll_s)
        finally:
            db.close()

    def enqueue_summary(self, db: sqlite_utils.Database) -> None:
        """Build the hall summary now and queue it."""
        assert self._summary is not None
        outbox = ForwardingQueue(self.settings.channels, now=lambda: datetime.now(UTC))
        with write_transaction(db) as conn:
            document = self._summary(conn)
            outbox.enqueue(conn, "summary", document["message_id"], document)

    def send_due(self, db: sqlite_utils.Database) -> int:
        """Apply receipts, then send every due row once; returns how many were sent."""
        confirmed: list[str] = []
        while True:
            try:
                confirmed.extend(self._receipts.get_nowait())
            except queue.Empty:
                break
        resend = self._resend.is_set()
        if confirmed or resend:
            with write_transaction(db) as conn:
                conn.executemany(
                    "DELETE FROM forward_outbox WHERE channel = 'mqtt' AND message_id = ?",
                    [(ident,) for ident in confirmed],
                )
                self.state.delivered += len(confirmed)
                if resend:
                    # After every reconnect, resend everything unconfirmed.
                    self._resend.clear()
                    conn.execute(
                        "UPDATE forward_outbox SET next_attempt = 0 WHERE channel = 'mqtt'"
                    )
        # Only configured channels: rows a former configuration queued for another
        # stay (counted in the depth) rather than fail, and block, every round.
        channels = ["webhook"] if self.settings.webhook_url is not None else []
        # MQTT rows wait while the broker is away; they must not crowd out the webhook's.
        if self.connection is not None and self.state.connected:
            channels.append("mqtt")
        rows = db.execute(
            "SELECT rowid, channel, kind, message_id, payload, attempts FROM forward_outbox"
            f" WHERE next_attempt <= ? AND channel IN ({', '.join('?' * len(channels))})"
            " ORDER BY rowid LIMIT ?",
            (self._clock(), *channels, BATCH),
        ).fetchall()
        sent = 0
        published: list[tuple[int, int, str | None]] = []
        for rowid, channel, kind, message_id, payload, attempts in rows:
            if channel == "mqtt":
                self._publish(kind, payload)
                # Sent again unless central's receipt names it first.
                published.append((rowid, attempts, None))
            else:
                try:
                    self._post(kind, payload.encode())
                except ForwardingError as exc:
                    self._reschedule(db, [(rowid, attempts, str(exc))])
                    self.state.last_error = str(exc)
                    continue
                with write_transaction(db) as conn:
                    conn.execute("DELETE FROM forward_outbox WHERE rowid = ?", (rowid,))
                self.state.delivered += 1
            sent += 1
            logger.debug("forwarded %s %s over %s", kind, message_id, channel)
        self._reschedule(db, published)
        self.state.depth = db.execute("SELECT count(*) FROM forward_outbox").fetchone()[0]
        return sent

    def _reschedule(
        self, db: sqlite_utils.Database, rows: list[tuple[int, int, str | None]]
    ) -> None:
        """Push ``(rowid, attempts, error)`` rows back by their backoff, in one transaction."""
        if not rows:
            return
        now = self._clock()
        with write_transaction(db) as conn:
            conn.executemany(
                "UPDATE forward_outbox SET attempts = attempts + 1, next_attempt = ?,"
                " last_error = ? WHERE rowid = ?",
                [(now + self.settings.backoff(a), error, rowid) for rowid, a, error in rows],
            )

    def _publish(self, kind: str, payload: str) -> None:
        assert self.connection is not None
        topic = self.topics.hub(HubTopic.WARNING if kind == "warning" else HubTopic.SUMMARY)
        self.connection.publish(topic, payload.encode(), qos=1, retain=kind == "summary")

    def _post(self, kind: str, body: bytes) -> None:
        settings = self.settings
        assert settings.webhook_url is not None and settings.webhook_secret is not None
        timestamp = str(int(self._clock()))
        request = urllib.request.Request(
            settings.webhook_url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                HALL_HEADER: self.config.hall,
                KIND_HEADER: kind,
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(settings.webhook_secret.reveal().encode(), timestamp, body),
            },
        )
        try:
            with self._opener.open(request, timeout=settings.timeout_s) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            exc.close()
            raise ForwardingError(f"central answered {exc.code} {exc.reason}") from None
        except (OSError, ValueError) as exc:
            raise ForwardingError(f"cannot reach central: {exc}") from None
        if not 200 <= status < 300:
            raise ForwardingError(f"central answered {status}")

    # The connection's hooks and handler (its loop thread): they only hand over.

    def _on_subscribed(self) -> None:
        # Central's receipts can come back now: resend everything unconfirmed.
        self.state.connected = True
        self._resend.set()

    def _on_disconnected(self, reason: str) -> None:
        self.state.connected = False

    def _on_receipt(self, message: paho.MQTTMessage) -> None:
        try:
            receipt = decode_receipt(message.payload)
        except ProtocolError as exc:
            logger.warning("ignored a malformed receipt from central: %s", exc)
            return
        if receipt.status == "stored":
            self._receipts.put(list(receipt.ids))
        else:
            logger.error("central rejected %s: %s", receipt.ids, receipt.reasons)
