"""The device agent: presses become durable votes that are sent until receipted.

One thread owns the outbox and decides everything; buttons and the MQTT
link only put events on its queue. A vote is committed to the outbox before
the thank-you light blinks, sent at once when the link is up, and sent again
after ``resend_after_s`` without a receipt and after every reconnect, oldest
first, with at most ``in_flight`` copies of the backlog outstanding so a long
backlog drains without holding back the votes cast now.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime

from gpiozero.pins import Factory

from device_agent.config import AgentConfig
from device_agent.debounce import Debouncer
from device_agent.errors import OutboxError
from device_agent.evaluator import ButtonEvaluator, Press
from device_agent.link import Connected, DeviceLink, Disconnected, ReceiptArrived
from device_agent.outbox import Outbox, Pending
from device_agent.protocol import Vote, format_time
from device_agent.topics import Topics

logger = logging.getLogger(__name__)

TICK_S = 0.25


class Agent:
    """One window device: evaluator, outbox and link, run by :meth:`run`."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        pin_factory: Factory | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now().astimezone(),
    ) -> None:
        self.config = config
        self._clock = clock
        self._now = wall_clock
        self.events: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.topics = Topics.for_hall(config.hall, template=config.base_topic)
        self.outbox = Outbox(config.outbox.path, device=config.device, limit=config.outbox.limit)
        self.debouncer = Debouncer(config.evaluator.debounce_ms / 1000)
        self.link = DeviceLink(
            config.broker,
            topics=self.topics,
            device=config.device,
            events=self.events,
            started_at=self._now(),
        )
        self.evaluator: ButtonEvaluator | None = None
        if config.evaluator.keys:
            try:
                self.evaluator = ButtonEvaluator(
                    config.evaluator.keys,
                    self.events,
                    thank_you_pin=config.evaluator.thank_you_pin,
                    pin_factory=pin_factory,
                    clock=clock,
                )
            except Exception:
                self.outbox.close()
                raise
        self._in_flight: dict[int, float] = {}
        self._stop = threading.Event()
        self.alarm: str | None = None
        self.last_loop = clock()

    # The public surface used by the main loop's owner.

    def run(self) -> None:
        """Connect and serve until :meth:`stop`; returns after a clean shutdown."""
        self.link.start()
        try:
            while not self._stop.is_set():
                try:
                    event = self.events.get(timeout=TICK_S)
                except queue.Empty:
                    event = None
                try:
                    if event is not None:
                        self.handle(event)
                    self._send_due()
                except Exception:
                    # The loop must outlive any one bad event; the outbox keeps the records.
                    logger.exception("agent %s: event %r failed", self.config.device, event)
                self.last_loop = self._clock()
        finally:
            self.link.stop()
            if self.evaluator is not None:
                self.evaluator.close()
            self.outbox.close()

    def stop(self) -> None:
        """Ask :meth:`run` to return."""
        self._stop.set()
        self.events.put(None)

    def handle(self, event: object) -> None:
        """Act on one event from the buttons or the link."""
        match event:
            case Press():
                self._on_press(event)
            case ReceiptArrived(receipt=receipt):
                if receipt.status == "stored":
                    seqs = self.outbox.receipted(receipt.ids)
                else:
                    seqs = self.outbox.rejected_by_hub(receipt.reasons, receipt.ids)
                for seq in seqs:
                    self._in_flight.pop(seq, None)
            case Connected():
                # Whatever was in flight may be lost with the old connection.
                self._in_flight.clear()
            case Disconnected():
                self._in_flight.clear()
            case None:
                pass
            case _:
                logger.warning("unknown event %r", event)

    # Internals.

    def _on_press(self, press: Press) -> None:
        if not self.debouncer.accept(press.level, press.at):
            return
        cast_at = format_time(self._now())
        try:
            vote = self.outbox.add(
                "vote",
                lambda seq, ident: Vote(
                    id=ident,
                    seq=seq,
                    ts=cast_at,
                    device=self.config.device,
                    channel="window",
                    window=self.config.window,
                    staff=self.config.staff,
                    level=press.level,
                ),
            )
        except OutboxError as exc:
            # Nothing already accepted is lost; this press cannot be taken.
            self.alarm = str(exc)
            logger.error("agent %s cannot accept a vote: %s", self.config.device, exc)
            return
        self.alarm = None
        if self.evaluator is not None:
            self.evaluator.thank(self.config.evaluator.thank_you_s)
        logger.debug("stored %s (level %d)", vote.id, vote.level)
        # Sent now, outside the backlog window: a new vote never waits behind old ones.
        record = self.outbox.get(vote.seq)
        if record is not None:
            self._send(record)

    def _send_due(self) -> None:
        if not self.link.connected:
            return
        now = self._clock()
        resend_after = self.config.outbox.resend_after_s
        for seq, sent_at in list(self._in_flight.items()):
            if now - sent_at >= resend_after:
                del self._in_flight[seq]
        room = self.config.outbox.in_flight - len(self._in_flight)
        if room <= 0:
            return
        for record in self.outbox.oldest(room, skip=self._in_flight):
            if not self._send(record):
                break

    def _send(self, record: Pending) -> bool:
        if not self.link.send(record, sent=self._now()):
            return False
        self._in_flight[record.seq] = self._clock()
        return True
