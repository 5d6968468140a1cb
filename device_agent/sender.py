"""Sending an outbox's records to the hub until a receipt names each one.

:class:`RecordSender` is the delivery logic every device shares, the window
agent and the kiosk alike: a new record is sent at once; unreceipted ones are
sent again after ``resend_after_s`` and after every reconnect, oldest first,
with at most ``in_flight`` copies of the backlog outstanding, so a long
backlog drains without holding back the records made now. It is driven by
the one thread that owns the outbox.

:class:`SenderThread` is that thread for a device whose records are made in
other threads (the kiosk's web requests): :meth:`SenderThread.submit` hands a
record over and returns only once it is durable in the outbox.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime

from device_agent.config import OutboxSettings
from device_agent.errors import AgentError
from device_agent.link import Connected, DeviceLink, Disconnected, ReceiptArrived
from device_agent.mqtt import BrokerSettings
from device_agent.outbox import Envelope, Kind, Outbox, Pending
from device_agent.topics import Topics

logger = logging.getLogger(__name__)

# Sending again a record whose send failed while the link seemed up.
RETRY_S = 0.25
# The longest a sender's loop sleeps with nothing due: a loop that turns within
# this proves it is alive (the watchdog's question allows 10 s).
IDLE_WAIT_S = 5.0


def local_now() -> datetime:
    """The device's wall-clock time, with its UTC offset."""
    return datetime.now().astimezone()


class RecordSender:
    """Sends the records of ``outbox`` over ``link`` and applies the hub's receipts."""

    def __init__(
        self,
        outbox: Outbox,
        link: DeviceLink,
        *,
        resend_after_s: float,
        in_flight: int,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = local_now,
    ) -> None:
        self.outbox = outbox
        self.link = link
        self.resend_after_s = resend_after_s
        self.in_flight = in_flight
        self._clock = clock
        self._now = wall_clock
        self._in_flight: dict[int, float] = {}

    def handle(self, event: object) -> bool:
        """Act on a link event (receipt, connect, disconnect); False for any other event."""
        match event:
            case ReceiptArrived(receipt=receipt):
                if receipt.status == "stored":
                    seqs = self.outbox.receipted(receipt.ids)
                else:
                    seqs = self.outbox.rejected_by_hub(receipt.reasons, receipt.ids)
                for seq in seqs:
                    self._in_flight.pop(seq, None)
            case Connected() | Disconnected():
                # Whatever was in flight may be lost with the old connection.
                self._in_flight.clear()
            case _:
                return False
        return True

    def store(self, kind: Kind, build: Callable[[int, str], Envelope]) -> Envelope:
        """Make a record durable in the outbox, then send it at once when the link is up.

        Raises :class:`~device_agent.errors.OutboxError` when the outbox cannot take it.
        """
        envelope = self.outbox.add(kind, build)
        # The record is durable from here on: whatever goes wrong sending it now,
        # the caller must hear "stored" (a kiosk would otherwise file it again, an
        # evaluator would not close the service's one rating); send_due retries it.
        try:
            # Sent now, outside the backlog window: a new record never waits behind old ones.
            record = self.outbox.get(envelope.seq)
            if record is not None:
                self._send(record)
        except Exception:
            logger.exception("%s is stored; sending it at once failed: resent later", envelope.id)
        return envelope

    def send_due(self) -> None:
        """Send what is due: records never sent on this connection and copies timed out."""
        if not self.link.connected:
            return
        now = self._clock()
        for seq, sent_at in list(self._in_flight.items()):
            if now - sent_at >= self.resend_after_s:
                del self._in_flight[seq]
        room = self.in_flight - len(self._in_flight)
        if room <= 0:
            return
        for record in self.outbox.oldest(room, skip=self._in_flight):
            if not self._send(record):
                break

    def next_due(self) -> float | None:
        """When :meth:`send_due` next has something to do (on the clock given), or None.

        None while the link is down (reconnecting is an event) and when every
        record is receipted; otherwise the first resend, or shortly when a
        record waits that is not in flight and the window has room.
        """
        if not self.link.connected or not self.outbox.depth:
            return None
        if self.outbox.depth > len(self._in_flight) and len(self._in_flight) < self.in_flight:
            return self._clock() + RETRY_S
        if not self._in_flight:
            return None
        return min(self._in_flight.values()) + self.resend_after_s

    def _send(self, record: Pending) -> bool:
        if not self.link.send(record, sent=self._now()):
            return False
        self._in_flight[record.seq] = self._clock()
        return True


@dataclass(frozen=True, slots=True)
class _Submission:
    """A record handed over by another thread, and where to put the outcome."""

    kind: Kind
    build: Callable[[int, str], Envelope]
    done: Future[Envelope]


class SenderThread:
    """A device's outbox, link and sender, run by a thread of their own.

    Other threads only call :meth:`submit`; the outbox's connection is used by
    this thread alone.
    """

    def __init__(
        self,
        *,
        device: str,
        topics: Topics,
        broker: BrokerSettings,
        outbox: OutboxSettings,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = local_now,
    ) -> None:
        self.device = device
        self.events: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.outbox = Outbox(outbox.path, device=device, limit=outbox.limit)
        self.link = DeviceLink(
            broker, topics=topics, device=device, events=self.events, started_at=wall_clock()
        )
        self.sender = RecordSender(
            self.outbox,
            self.link,
            resend_after_s=outbox.resend_after_s,
            in_flight=outbox.in_flight,
            clock=clock,
            wall_clock=wall_clock,
        )
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_loop = clock()
        self.turns = 0  # how often the loop turned: an idle sender turns rarely

    @property
    def connected(self) -> bool:
        """Whether the link to the broker is up."""
        return self.link.connected

    @property
    def depth(self) -> int:
        """How many records wait for the hub's receipt."""
        return self.outbox.depth

    def alive(self, *, stall_s: float = 10.0) -> bool:
        """Whether the thread runs and its loop turned within ``stall_s`` seconds."""
        running = self._thread is not None and self._thread.is_alive()
        return running and self._clock() - self.last_loop < stall_s

    def start(self) -> None:
        """Connect and start sending in the background."""
        self._thread = threading.Thread(target=self.run, name=f"sender-{self.device}", daemon=True)
        self._thread.start()

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop the thread; what is not receipted stays in the outbox for the next start."""
        self._stop.set()
        self.events.put(None)
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def submit(
        self, kind: Kind, build: Callable[[int, str], Envelope], *, timeout: float = 10.0
    ) -> Envelope:
        """Store a record made by ``build(seq, id)``; returns once it is durable.

        Raises :class:`~device_agent.errors.OutboxError` when the outbox refuses
        it and :class:`~device_agent.errors.AgentError` when the sender did not
        take it up within ``timeout``; then it is certainly not stored.
        """
        if self._stop.is_set():
            raise AgentError(f"the sender of {self.device} is stopped")
        done: Future[Envelope] = Future()
        self.events.put(_Submission(kind, build, done))
        try:
            return done.result(timeout=timeout)
        except TimeoutError:
            # Withdrawn before the thread took it up: never stored, safe to retry.
            if done.cancel():
                raise AgentError(
                    f"the sender of {self.device} did not answer in {timeout} s"
                ) from None
        # Taken up just now: the write is under way, so its outcome is worth waiting for.
        return done.result(timeout=60)

    def run(self) -> None:
        """Serve submissions and link events until :meth:`stop`."""
        self.link.start()
        try:
            while not self._stop.is_set():
                try:
                    event = self.events.get(timeout=self._wait_s())
                except queue.Empty:
                    event = None
                # Awake again: the health check's clock measures work, not the sleep.
                self.last_loop = self._clock()
                try:
                    self._handle(event)
                    self.sender.send_due()
                except Exception:
                    # The loop must outlive any one bad event; the outbox keeps the records.
                    logger.exception("sender %s: event %r failed", self.device, event)
                self.last_loop = self._clock()
                self.turns += 1
        finally:
            self._refuse_waiting()
            self.link.stop()
            self.outbox.close()

    def _wait_s(self) -> float:
        """Seconds to sleep unless an event comes first: until a resend is due, at most idle."""
        now = self._clock()
        due = self.sender.next_due()
        return max(0.0, min(due - now, IDLE_WAIT_S) if due is not None else IDLE_WAIT_S)

    def _handle(self, event: object) -> None:
        if isinstance(event, _Submission):
            if not event.done.set_running_or_notify_cancel():
                return
            try:
                event.done.set_result(self.sender.store(event.kind, event.build))
            except Exception as exc:
                event.done.set_exception(exc)
        elif event is not None and not self.sender.handle(event):
            logger.warning("unknown event %r", event)

    def _refuse_waiting(self) -> None:
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return
            if isinstance(event, _Submission) and event.done.set_running_or_notify_cancel():
                event.done.set_exception(AgentError(f"the sender of {self.device} stopped"))
