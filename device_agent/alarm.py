"""The agent's storage alarm: the outbox reached its limit, or the disk refused a write.

Raised the moment it happens, cleared the moment it stops; every change is
logged once, counted, and shown (telemetry, the status light). While it is
raised the votes already in the outbox are kept and still sent; only new
presses are refused, each one logged and counted, never dropped unseen.
"""

from __future__ import annotations

import logging

from device_agent.errors import OutboxError, OutboxFull
from device_agent.outbox import Outbox

logger = logging.getLogger(__name__)


class StorageAlarm:
    """Whether the outbox can take another record, and why not."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.reason: str | None = None
        self.raised = 0  # how many times it was raised
        self.refused = 0  # presses and events the outbox could not take
        self._disk_error: str | None = None

    @property
    def active(self) -> bool:
        """Whether the alarm is raised."""
        return self.reason is not None

    def refused_write(self, exc: OutboxError) -> None:
        """The outbox refused a record."""
        self.refused += 1
        if not isinstance(exc, OutboxFull):
            self._disk_error = str(exc)
        logger.error(
            "agent %s could not store a record (%d so far): %s", self.device, self.refused, exc
        )

    def stored(self) -> None:
        """A record was stored: the disk takes writes again."""
        self._disk_error = None

    def check(self, outbox: Outbox) -> bool:
        """Raise or clear the alarm from the outbox's state; True when it changed."""
        reason = self._disk_error
        if reason is None and outbox.depth >= outbox.limit:
            reason = f"outbox full: {outbox.depth} records wait for the hub (limit {outbox.limit})"
        if reason == self.reason:
            return False
        if reason is not None:
            self.raised += 1
            logger.error("agent %s ALARM: %s", self.device, reason)
        else:
            logger.warning("agent %s alarm cleared (was: %s)", self.device, self.reason)
        self.reason = reason
        return True
