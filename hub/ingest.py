"""The hub's ingest loop: messages in, one commit per batch, then acks and receipts.

One thread runs the hub's MQTT connection (:class:`~device_agent.mqtt.MqttClient`,
shared with the LED boards and forwarding) and the database writes, so there
is no hand-off between threads on the hot path. Messages are classified as they
arrive (:meth:`Ingest.classify`) and collected into a batch. The batch is
committed in one transaction as soon as the broker has nothing more waiting
on the socket (group commit: a lone vote is stored at once, and under load
the messages that arrive during one commit form the next batch), or when it
is full or ``batch_ms`` old while messages keep streaming in. Only then are
the MQTT messages acknowledged (manual acks) and the receipts published.
A crash before the commit loses nothing: the broker redelivers what was not
acknowledged, and devices resend what was not receipted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
import paho.mqtt.client as paho

from device_agent.errors import ProtocolError
from device_agent.mqtt import MqttClient
from device_agent.protocol import (
    ENVELOPE_ID,
    MAX_PAYLOAD_BYTES,
    Complaint,
    Receipt,
    ServiceEvent,
    Vote,
    decode_complaint,
    decode_service_event,
    decode_vote,
    encode,
    format_time,
    load_object,
    parse_time,
)
from device_agent.topics import DeviceTopic, HubTopic, Topics
from hub.complaints import StoredComplaint
from hub.config import HubConfig
from hub.errors import BatchError, StoreError
from hub.instants import iso, ms_of
from hub.store import Batch, DeviceState, Outcome, Quarantined, Store, StoredEvent, StoredVote

logger = logging.getLogger(__name__)

SUBSCRIPTIONS = {
    DeviceTopic.VOTE: 1,
    DeviceTopic.SERVICE: 1,
    DeviceTopic.COMPLAINT: 1,
    DeviceTopic.STATUS: 1,
    DeviceTopic.INFO: 1,
    DeviceTopic.TELEMETRY: 0,
    DeviceTopic.CONFIG: 1,
}
STATE_TOPICS = {
    DeviceTopic.STATUS: "status",
    DeviceTopic.INFO: "info",
    DeviceTopic.TELEMETRY: "telemetry",
    DeviceTopic.CONFIG: "config",
}
RETRY_COMMIT_S = 1.0
# The longest the loop sleeps with nothing to commit, so that it turns often
# enough to show it lives (the health check allows 10 s) and to send paho's
# keepalive pings in time (it never sleeps past a quarter of the keepalive).
IDLE_WAIT_S = 5.0
RECEIPT_IDS = 100  # ids per receipt: 100 of the longest (64 characters) fit in 8 KiB
# Cast times the hub can put in a day, month and year with bounds in any time zone;
# one outside (no real clock's) would make the counting raise and stop the loop.
CAST_RANGE = (datetime(2, 1, 1, tzinfo=UTC), datetime(9998, 1, 1, tzinfo=UTC))


@dataclass
class IngestState:
    """What the loop reports about itself, read by the API's health check."""

    connected: bool = False
    last_loop: float = field(default_factory=time.monotonic)
    turns: int = 0  # how often the loop turned: an idle hub's turns are few
    last_commit_at: str | None = None
    store_error: str | None = None
    stored: int = 0
    repeated: int = 0
    conflicting: int = 0
    quarantined: int = 0


@dataclass
class _Pending:
    """The open batch, with the MQTT messages to acknowledge and receipts to send."""

    batch: Batch = field(default_factory=Batch)
    acks: list[tuple[int, int]] = field(default_factory=list)
    rejected: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    opened: float = 0.0

    @property
    def empty(self) -> bool:
        return not self.acks and not len(self.batch) and not self.rejected


class Ingest:
    """Consumes a hall's device topics into its :class:`Store`."""

    def __init__(
        self,
        config: HubConfig,
        store: Store,
        *,
        connection: MqttClient | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``connection``: the hub's connection (:func:`hall_connection`), else one of its own."""
        self.config = config
        self.store = store
        self.topics = Topics.for_hall(config.hall, template=config.base_topic)
        self.known_devices = set(config.directory.devices)
        self.state = IngestState()
        self._now = now
        self._pending = _Pending()
        # Set after every commit: the LED boards' scheduler waits on it, never ingest on them.
        self.committed = threading.Event()
        self._skew = timedelta(seconds=config.ingest.clock_skew_s)
        self.connection = connection if connection is not None else hall_connection(config)
        self.client = self.connection.client
        for kind, qos in SUBSCRIPTIONS.items():
            self.connection.subscribe(
                self.topics.all_devices(kind), qos, self._on_message, manual_ack=True
            )
        self.connection.when_connected(self._on_connected)
        self.connection.when_disconnected(self._on_disconnected)

    def stop(self) -> None:
        """Ask :meth:`run` to commit what it holds and return."""
        self.connection.stop()

    def run(self) -> None:
        """Serve until :meth:`stop`: network, batching, commits, reconnects; then say offline."""
        try:
            self.connection.run(turn=self._turn)
            self._flush(final=True)
        finally:
            self.connection.close()

    def _turn(self, idle: bool) -> float:
        """After each turn of the connection's loop: commit when due; how long it may sleep."""
        # Awake again: the health check's clock measures work, not the sleep.
        self.state.last_loop = time.monotonic()
        self.state.turns += 1
        self._flush_if_due(idle=idle)
        return self._wait_s()

    # Classifying one message (pure: no I/O, easy to test).

    def classify(self, message: paho.MQTTMessage, received: datetime) -> None:
        """Put one message into the open batch: a vote, an event, a state, or quarantine."""
        pending = self._pending
        if pending.empty:
            pending.opened = time.monotonic()
        pending.acks.append((message.mid, message.qos))
        received_at = format_time(received)
        try:
            parsed = self.topics.parse_device(message.topic)
        except ProtocolError as exc:
            self._quarantine(message, None, None, str(exc), received_at)
            return
        device = parsed.device
        if parsed.kind in STATE_TOPICS:
            if device in self.known_devices:
                pending.batch.device_states.append(
                    DeviceState(
                        device,
                        STATE_TOPICS[parsed.kind],
                        message.payload.decode("utf-8", "replace")[:4096],
                        received_at,
                    )
                )
            return
        try:
            if device not in self.known_devices:
                raise ProtocolError(f"unknown device {device!r}", field="device")
            if parsed.kind == DeviceTopic.VOTE:
                vote = decode_vote(message.payload, topic_device=device)
                cast, flags = self._cast_time(vote.ts, vote.sent, received, vote.flags)
                pending.batch.votes.append(StoredVote(vote, ms_of(cast), ms_of(received), flags))
            elif parsed.kind == DeviceTopic.SERVICE:
                event = decode_service_event(message.payload, topic_device=device)
                self._check_event(event)
                cast, _ = self._cast_time(event.ts, event.sent, received, [])
                pending.batch.events.append(StoredEvent(event, format_time(cast), received_at))
            elif parsed.kind == DeviceTopic.COMPLAINT:
                if self.config.directory.devices[device].kind != "kiosk":
                    raise ProtocolError("only a kiosk files complaints", field="device")
                complaint = decode_complaint(message.payload, topic_device=device)
                self._check_complaint(complaint)
                cast, _ = self._cast_time(complaint.ts, complaint.sent, received, [])
                pending.batch.complaints.append(
                    StoredComplaint(complaint, format_time(cast), received_at)
                )
            else:
                raise ProtocolError(
                    f"the hub does not accept {parsed.kind.value!r} yet", field="topic"
                )
        except ProtocolError as exc:
            # A refusal found before decoding (unknown device, wrong topic) carries no
            # id: look for one, so the device gets its rejected receipt and stops resending.
            record_id = exc.id if exc.id is not None else _claimed_id(message.payload)
            self._quarantine(message, device, record_id, str(exc), received_at)

    def _check_event(self, event: ServiceEvent) -> None:
        """Refuse an event for another window, someone or an item the hall does not know."""
        if event.item is not None and event.item not in self.config.directory.service_items:
            reason = f"{event.item!r} is not a service item in the hall's directory"
            raise ProtocolError(reason, field="item", id=event.id)
        if self.store.rules is None:
            return
        problem = self.store.rules.event_problem(event.device, event.window, event.staff)
        if problem is not None:
            field, _, reason = problem.partition(": ")
            raise ProtocolError(reason, field=field, id=event.id)

    def _check_complaint(self, complaint: Complaint) -> None:
        """Refuse a complaint naming a staff member or department the hall does not know."""
        directory = self.config.directory
        if complaint.staff is not None and complaint.staff not in directory.staff:
            reason = f"{complaint.staff!r} is not in the hall's directory"
            raise ProtocolError(reason, field="staff", id=complaint.id)
        if complaint.department is not None and complaint.department not in directory.departments:
            raise ProtocolError(
                f"{complaint.department!r} is not in the hall's directory",
                field="department",
                id=complaint.id,
            )

    def _quarantine(
        self,
        message: paho.MQTTMessage,
        device: str | None,
        record_id: str | None,
        reason: str,
        received_at: str,
    ) -> None:
        self._pending.batch.quarantine.append(
            Quarantined(
                message.topic, device, record_id, reason, bytes(message.payload), received_at
            )
        )
        if device is not None and record_id is not None:
            self._pending.rejected[device][record_id] = reason
        logger.warning("quarantined a message on %s: %s", message.topic, reason)

    def _cast_time(
        self, ts: str, sent: str | None, received: datetime, flags: list[str]
    ) -> tuple[datetime, list[str]]:
        """The cast time in UTC, corrected by the device's clock offset when it is skewed."""
        try:
            cast = parse_time(ts).astimezone(UTC)
            if sent is not None:
                offset = received - parse_time(sent)
                if abs(offset) > self._skew:
                    cast += offset
                    if "clock_skew" not in flags:
                        flags = [*flags, "clock_skew"]
            countable = CAST_RANGE[0] <= cast < CAST_RANGE[1]
        except OverflowError:
            countable = False
        if not countable:
            raise ProtocolError(
                "the cast time (corrected by the clock offset `sent` shows) is outside"
                f" the years {CAST_RANGE[0].year}-{CAST_RANGE[1].year - 1}",
                field="ts",
            )
        return cast, flags

    # Committing, then acknowledging, then receipting.

    def _wait_s(self) -> float:
        """How long the loop may sleep: until the open batch is due, else the idle wait."""
        pending = self._pending
        if pending.empty:
            return min(IDLE_WAIT_S, self.config.broker.keepalive_s / 4)
        due = pending.opened + self.config.ingest.batch_ms / 1000
        return max(0.0, due - time.monotonic())

    def _flush_if_due(self, *, idle: bool = False) -> None:
        pending = self._pending
        now = time.monotonic()
        if pending.empty or now < pending.opened:  # empty, or waiting to retry a failed commit
            return
        full = len(pending.acks) >= self.config.ingest.batch_max
        old = now - pending.opened >= self.config.ingest.batch_ms / 1000
        if idle or full or old:
            self._flush()

    def _flush(self, *, final: bool = False) -> None:
        pending = self._pending
        if pending.empty:
            return
        try:
            try:
                outcome = self.store.commit(pending.batch) if len(pending.batch) else Outcome()
            except BatchError as exc:
                logger.error(
                    "a batch of %d messages could not be stored (%s); storing them one by one",
                    len(pending.batch),
                    exc,
                )
                outcome = self._commit_apart(pending)
        except StoreError as exc:
            # Keep the batch and its unacknowledged messages; try again shortly.
            if self.state.store_error != str(exc):
                logger.error("%s; holding %d messages", exc, len(pending.acks))
            self.state.store_error = str(exc)
            if not final:
                pending.opened = time.monotonic() + RETRY_COMMIT_S
            return
        self.state.store_error = None
        self.state.last_commit_at = format_time(self._now())
        self._pending = _Pending()
        self.committed.set()
        for mid, qos in pending.acks:
            if qos > 0:
                self.client.ack(mid, qos)
        self._send_receipts(pending, outcome)

    def _commit_apart(self, pending: _Pending) -> Outcome:
        """Commit each item of a failed batch alone; quarantine the ones that fail alone.

        Raises StoreError when the database itself refuses: the whole batch is
        then held and tried again (what was committed meanwhile is stored once).
        """
        outcome = Outcome()
        kept = Batch()
        failed: list[Quarantined] = []
        for part in _single_items(pending.batch):
            try:
                done = self.store.commit(part)
            except BatchError as exc:
                item = self._failed_item(part, f"internal error while storing: {exc}")
                if item is None:
                    logger.error("could not store a quarantine entry: %s", exc)
                else:
                    failed.append(item)
                continue
            _extend(kept, part)
            outcome.stored += done.stored
            outcome.repeated += done.repeated
            outcome.conflicting += done.conflicting
        for item in failed:
            try:
                self.store.commit(Batch(quarantine=[item]))
            except BatchError as exc:
                logger.error("could not quarantine %s: %s", item.record_id, exc)
            else:
                kept.quarantine.append(item)
            if item.device is not None and item.record_id is not None:
                pending.rejected[item.device][item.record_id] = item.reason
            logger.error("quarantined %s from %s: %s", item.record_id, item.device, item.reason)
        pending.batch = kept
        return outcome

    def _failed_item(self, part: Batch, reason: str) -> Quarantined | None:
        """The quarantine entry for the one record of ``part`` that could not be stored."""
        for state in part.device_states:
            kind = next(k for k, name in STATE_TOPICS.items() if name == state.kind)
            topic = self.topics.device(state.device, kind)
            payload = state.value.encode()
            return Quarantined(topic, state.device, None, reason, payload, state.received_at)
        records: list[tuple[Vote | ServiceEvent | Complaint, DeviceTopic, str]] = [
            *((v.vote, DeviceTopic.VOTE, iso(v.received_at)) for v in part.votes),
            *((e.event, DeviceTopic.SERVICE, e.received_at) for e in part.events),
            *((c.complaint, DeviceTopic.COMPLAINT, c.received_at) for c in part.complaints),
        ]
        for envelope, kind, received in records:
            topic = self.topics.device(envelope.device, kind)
            payload = encode(envelope)
            return Quarantined(topic, envelope.device, envelope.id, reason, payload, received)
        return None  # a quarantine entry that cannot be stored: nothing more to do

    def _send_receipts(self, pending: _Pending, outcome: Outcome) -> None:
        stored_by_device: dict[str, list[str]] = defaultdict(list)
        for item in pending.batch.votes:
            stored_by_device[item.vote.device].append(item.vote.id)
        for event in pending.batch.events:
            stored_by_device[event.event.device].append(event.event.id)
        for item in pending.batch.complaints:
            stored_by_device[item.complaint.device].append(item.complaint.id)
        for device, ids in stored_by_device.items():
            for receipt in _receipts(list(dict.fromkeys(ids))):
                self._publish_receipt(device, receipt)
        for device, reasons in pending.rejected.items():
            for receipt in _receipts(list(reasons), reasons):
                self._publish_receipt(device, receipt)
        self.state.stored += len(outcome.stored)
        self.state.repeated += len(outcome.repeated)
        self.state.conflicting += len(outcome.conflicting)
        self.state.quarantined += len(pending.batch.quarantine)
        for ident in outcome.conflicting:
            logger.warning("vote %s was resent with different content; kept the first copy", ident)

    def _publish_receipt(self, device: str, receipt: Receipt) -> None:
        self.client.publish(self.topics.device(device, DeviceTopic.RECEIPT), encode(receipt), qos=1)

    # The connection's hooks and handler: they run inside its loop, in this thread.

    def _on_connected(self, session_present: bool) -> None:
        self.state.connected = True

    def _on_disconnected(self, reason: str) -> None:
        self.state.connected = False
        # Unacknowledged messages will be redelivered by the broker on reconnect.
        self._pending.acks.clear()

    def _on_message(self, message: paho.MQTTMessage) -> None:
        try:
            self.classify(message, self._now())
        except Exception:
            # Never let a message kill the loop: keep it, with the reason.
            logger.exception("classifying a message on %s failed", message.topic)
            try:
                self._quarantine(
                    message,
                    None,
                    None,
                    "internal error while classifying",
                    format_time(self._now()),
                )
            except Exception:
                logger.exception("quarantining a message failed")


def hall_connection(config: HubConfig) -> MqttClient:
    """The hub's one connection to the hall broker: ingest's, the boards' and forwarding's.

    Its will and status are the hub's; it acknowledges by hand (after ingest's
    commit), and lets the broker have ``receive_maximum`` messages in flight.
    """
    topics = Topics.for_hall(config.hall, template=config.base_topic)
    return MqttClient(
        config.broker,
        client_id=config.client_id,
        status_topic=topics.hub(HubTopic.STATUS),
        manual_ack=True,
        receive_maximum=config.ingest.receive_maximum,
    )


def _receipts(ids: list[str], reasons: dict[str, str] | None = None) -> Iterator[Receipt]:
    """Receipts naming ``ids``: ``stored``, or ``rejected`` with ``reasons`` (id to reason).

    Each names at most RECEIPT_IDS ids and stays within the protocol's 8 KiB,
    which a device enforces on what it receives; the size is summed entry by
    entry (a comma too many at worst), not re-encoded for each.
    """

    def receipt(chunk: list[str]) -> Receipt:
        if reasons is None:
            return Receipt(ids=chunk, status="stored")
        return Receipt(ids=chunk, status="rejected", reasons={i: reasons[i] for i in chunk})

    if reasons is None:
        empty = len(encode(Receipt(ids=[], status="stored")))
    else:  # encode leaves an empty "reasons" out
        empty = len(encode(Receipt(ids=[], status="rejected"))) + len(',"reasons":{}')
    chunk: list[str] = []
    size = empty
    for ident in ids:
        # The id in the list and its comma; for a rejection also its "id":"reason", pair.
        grow = len(orjson.dumps(ident)) + 1
        if reasons is not None:
            grow += len(orjson.dumps(ident)) + len(orjson.dumps(reasons[ident])) + 2
        if chunk and (len(chunk) == RECEIPT_IDS or size + grow > MAX_PAYLOAD_BYTES):
            yield receipt(chunk)
            chunk, size = [], empty
        chunk.append(ident)
        size += grow
    if chunk:
        yield receipt(chunk)


def _single_items(batch: Batch) -> Iterator[Batch]:
    """One batch per item of ``batch``, in the order a commit stores them."""
    for event in batch.events:
        yield Batch(events=[event])
    for vote in batch.votes:
        yield Batch(votes=[vote])
    for complaint in batch.complaints:
        yield Batch(complaints=[complaint])
    for entry in batch.quarantine:
        yield Batch(quarantine=[entry])
    for state in batch.device_states:
        yield Batch(device_states=[state])


def _extend(batch: Batch, part: Batch) -> None:
    batch.votes += part.votes
    batch.events += part.events
    batch.complaints += part.complaints
    batch.quarantine += part.quarantine
    batch.device_states += part.device_states


def _claimed_id(payload: bytes) -> str | None:
    """The well-formed record id a payload names, or None."""
    try:
        body = load_object(payload)
    except ProtocolError as exc:
        return exc.id
    ident = body.get("id")
    return ident if isinstance(ident, str) and ENVELOPE_ID.fullmatch(ident) else None
