"""The agent's telemetry heartbeat: what a hall manager needs to trust a window device.

Published on ``{base}/device/{id}/telemetry`` (QoS 0, not retained) every
``telemetry.interval_s`` and at once when something a manager should see
changes (an alarm, the keypad unplugged). The document is plain JSON; the
hub keeps the latest one per device and shows it in ``/api/v1/devices``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from device_agent.alarm import StorageAlarm
from device_agent.outbox import Outbox
from device_agent.protocol import VERSION, format_time
from device_agent.session import RULES, RatingSession, SessionState


class TelemetryClock:
    """When the next heartbeat is due; :meth:`soon` brings it forward."""

    def __init__(self, interval_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._next = clock()

    @property
    def next_at(self) -> float:
        """When the next heartbeat is due (on the clock given)."""
        return self._next

    def due(self) -> bool:
        """Whether a heartbeat is due now; if so, the next one is one interval away."""
        now = self._clock()
        if now < self._next:
            return False
        self._next = now + self.interval_s
        return True

    def soon(self) -> None:
        """Make the next heartbeat due at once (something worth reporting changed)."""
        self._next = self._clock()


def telemetry_document(
    *,
    now: datetime,
    uptime_s: float,
    outbox: Outbox,
    session: RatingSession,
    state: SessionState,
    alarm: StorageAlarm,
    keypad: dict[str, Any] | None,
    config_version: int | None,
    presses: dict[str, int],
) -> dict[str, Any]:
    """One heartbeat: outbox, votes by outcome, session, keypad, alarm, uptime."""
    oldest = outbox.oldest_age()
    return {
        "v": VERSION,
        "at": format_time(now),
        "uptime_s": round(uptime_s, 1),
        "config_version": config_version,
        "alarm": alarm.reason,
        "outbox": {
            "depth": outbox.depth,
            "limit": outbox.limit,
            "oldest_unreceipted_s": None if oldest is None else round(oldest, 1),
            "delivered": outbox.delivered,
            "rejected": outbox.rejected,
            "refused": alarm.refused,
        },
        "votes": {
            "counted": session.counted,
            "unsolicited": session.unsolicited,
            "filtered": {rule: session.filtered[rule] for rule in RULES},
        },
        "presses": presses,
        "session": {
            "state": state.value,
            "staff": session.staff,
            "paused": session.paused,
            "ignored_commands": session.ignored_commands,
        },
        "keypad": keypad,
    }
