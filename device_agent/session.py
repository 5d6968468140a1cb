"""A window's rating session: one service, one rating, and the rules that say why not.

A service is *open for rating* from its start until ``invite_s`` after its
end, or until the next service starts. The first press that an open service
sees is its rating; it carries the service's ticket, staff and id. Every
other press is still kept as a vote, but either filtered (stored by the hub,
never counted) by the first rule that catches it, in this order:

``one_per_service``
    the open service already has its rating;
``cooldown``
    the press came within ``cooldown_s`` of the previous press, whatever
    became of that one (a burst of presses is one press);
``no_service``
    no service is open and the policy ``out_of_service`` is ``"filter"``.

With the policy ``"unsolicited"`` (the default) a press with no service open
counts, flagged ``unsolicited``, so a window without a console or queue
system still collects ratings. A rule's version goes up whenever what it
catches changes, so the hub can tell which logic filtered a stored press.

The session is pure logic with times passed in by the caller (a monotonic
clock), so tests drive it without sleeping.
"""

from __future__ import annotations

import enum
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Literal

from device_agent.configfile import Float, Str, between, one_of, section
from device_agent.protocol import ServiceCommand, VoteFilter

logger = logging.getLogger(__name__)

ONE_PER_SERVICE = "one_per_service"
COOLDOWN = "cooldown"
NO_SERVICE = "no_service"
RULES: dict[str, int] = {ONE_PER_SERVICE: 1, COOLDOWN: 1, NO_SERVICE: 1}
UNSOLICITED = "unsolicited"
OUT_OF_SERVICE_POLICIES = ("unsolicited", "filter")


class SessionState(enum.StrEnum):
    """What the window is doing, as its lights show it."""

    IDLE = "idle"
    SERVING = "serving"
    PAUSED = "paused"
    INVITING = "inviting"
    THANKING = "thanking"
    RATED = "rated"  # the open service has its rating; the lights look idle


@section
class SessionSettings:
    """The session's timeouts and the policy for presses with no service open.

    One declaration for both places that set them: the ``[session]`` table of
    an agent's file and the ``session`` object of a remote ``config/set``.
    """

    invite_s: Annotated[Float, between(1, 3600)] = 60.0
    thank_s: Annotated[Float, between(0.5, 60)] = 3.0
    cooldown_s: Annotated[Float, between(0, 600)] = 3.0
    out_of_service: Annotated[Str, one_of(*OUT_OF_SERVICE_POLICIES)] = "unsolicited"


@dataclass(slots=True)
class Service:
    """One service at the window, from its start until its rating window closes."""

    ticket: str | None
    staff: str | None
    started_at: float
    id: str | None = None  # the envelope id of its stored ``start`` event
    ended_at: float | None = None
    rated: bool = False
    item: str | None = None  # the directory's service item, when the queue system named it

    @property
    def in_progress(self) -> bool:
        """Started and not yet ended."""
        return self.ended_at is None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a press becomes: a counted vote or a filtered one, and whose service it rates."""

    filter: VoteFilter | None
    flags: tuple[str, ...]
    staff: str | None
    ticket: str | None
    service: str | None
    rates_service: bool  # it is the one rating of the open service

    @property
    def counted(self) -> bool:
        """Whether the hub will count the vote."""
        return self.filter is None


@dataclass(frozen=True, slots=True)
class ServiceChange:
    """A service event to record and publish, as the session decided it."""

    event: Literal["start", "end", "sign_in", "sign_out", "pause", "resume"]
    staff: str | None = None
    ticket: str | None = None
    service: str | None = None
    item: str | None = None  # on ``start`` and ``end``: the service item, when known


class RatingSession:
    """The state of one window: staff on duty, the open service, recent presses."""

    def __init__(self, settings: SessionSettings, *, staff: str | None = None) -> None:
        self.settings = settings
        self.staff = staff
        self.paused = False
        self._service: Service | None = None
        self._thank_until: float | None = None
        self._last_press: float | None = None
        self.counted = 0
        self.unsolicited = 0
        self.filtered: Counter[str] = Counter()
        self.ignored_commands = 0

    # Presses.

    def judge(self, at: float) -> Verdict:
        """What a press at ``at`` would become; nothing changes until :meth:`record`."""
        service = self.open_service(at)
        staff = service.staff if service else self.staff
        ticket = service.ticket if service else None
        service_id = service.id if service else None
        rule = None
        if service is not None and service.rated:
            rule = ONE_PER_SERVICE
        elif self._last_press is not None and at - self._last_press < self.settings.cooldown_s:
            rule = COOLDOWN
        elif service is None and self.settings.out_of_service == "filter":
            rule = NO_SERVICE
        if rule is not None:
            return Verdict(VoteFilter(rule, RULES[rule]), (), staff, ticket, service_id, False)
        if service is not None:
            return Verdict(None, (), staff, ticket, service_id, True)
        return Verdict(None, (UNSOLICITED,), staff, None, None, False)

    def record(self, verdict: Verdict, at: float, *, stored: bool = True) -> None:
        """Take a judged press into account; ``stored`` is False when the outbox refused it.

        A refused press still restarts the cooldown (it was pressed), but does
        not use up the service's one rating: the citizen may press again.
        """
        self._last_press = at
        if not stored:
            return
        if verdict.filter is not None:
            self.filtered[verdict.filter.rule] += 1
            return
        self.counted += 1
        if UNSOLICITED in verdict.flags:
            self.unsolicited += 1
        service = self.open_service(at)
        if verdict.rates_service and service is not None:
            service.rated = True
        self._thank_until = at + self.settings.thank_s

    # Services and staff.

    def command(self, command: ServiceCommand, at: float) -> list[ServiceChange]:
        """Apply a service command; returns the events to record, empty when it changes nothing."""
        match command.event:
            case "start":
                changes = self._start(command.ticket, command.staff, at, item=command.item)
            case "end":
                changes = self._end(command.ticket, at, item=command.item)
            case "sign_in":
                changes = self._sign_in(command.staff, at)
            case "sign_out":
                changes = self._sign_out(at)
            case "pause":
                changes = [] if self.paused else [ServiceChange("pause", self.staff)]
                self.paused = True
            case "resume":
                changes = [ServiceChange("resume", self.staff)] if self.paused else []
                self.paused = False
            case _:
                changes = []
        if not changes:
            self.ignored_commands += 1
            logger.info("service command %r changes nothing in state %s", command, self.state(at))
        return changes

    def toggle(self, at: float) -> list[ServiceChange]:
        """The staff console button: end the service in progress, or start one."""
        service = self.open_service(at)
        event = "end" if service is not None and service.in_progress else "start"
        return self.command(ServiceCommand(event), at)

    def started(self, service_id: str) -> None:
        """Name the service just started after the id of its stored ``start`` event."""
        if self._service is not None and self._service.id is None:
            self._service.id = service_id

    def update(self, settings: SessionSettings) -> None:
        """Apply new timeouts and policy from now on."""
        self.settings = settings

    # What the window shows.

    def open_service(self, at: float) -> Service | None:
        """The service a press at ``at`` belongs to, if any."""
        service = self._service
        if service is None:
            return None
        if service.ended_at is not None and at - service.ended_at >= self.settings.invite_s:
            self._service = None
            return None
        return service

    def next_change(self, at: float) -> float | None:
        """When the state next changes by itself after ``at`` (thanks or invitation over)."""
        times = [self._thank_until]
        service = self._service
        if service is not None and service.ended_at is not None:
            times.append(service.ended_at + self.settings.invite_s)
        later = [t for t in times if t is not None and t > at]
        return min(later, default=None)

    def state(self, at: float) -> SessionState:
        """The window's state at ``at``, for the lights and telemetry."""
        if self._thank_until is not None:
            if at < self._thank_until:
                return SessionState.THANKING
            self._thank_until = None
        service = self.open_service(at)
        if service is None:
            return SessionState.PAUSED if self.paused else SessionState.IDLE
        if service.in_progress:
            return SessionState.SERVING
        return SessionState.RATED if service.rated else SessionState.INVITING

    # Internals.

    def _start(
        self, ticket: str | None, staff: str | None, at: float, *, item: str | None = None
    ) -> list[ServiceChange]:
        changes = []
        previous = self.open_service(at)
        if previous is not None and previous.in_progress:
            # A start without an end: the queue system moved on, so did the window.
            changes.extend(self._end(None, at))
        if self.paused:
            self.paused = False
            changes.append(ServiceChange("resume", self.staff))
        staff = staff or self.staff
        self._service = Service(ticket=ticket, staff=staff, started_at=at, item=item)
        self._thank_until = None
        changes.append(ServiceChange("start", staff, ticket, item=item))
        return changes

    def _end(
        self, ticket: str | None, at: float, *, item: str | None = None
    ) -> list[ServiceChange]:
        service = self.open_service(at)
        if service is None or not service.in_progress:
            return []
        if ticket is not None and service.ticket is not None and ticket != service.ticket:
            logger.warning("ending service %s on a command for ticket %s", service.ticket, ticket)
        service.ended_at = at
        # The start's item stands; an end may name it when the start did not.
        if service.item is None:
            service.item = item
        return [ServiceChange("end", service.staff, service.ticket, service.id, service.item)]

    def _sign_in(self, staff: str | None, at: float) -> list[ServiceChange]:
        if staff is None or staff == self.staff:
            return []
        changes = self._sign_out(at) if self.staff is not None else []
        self.staff = staff
        changes.append(ServiceChange("sign_in", staff))
        return changes

    def _sign_out(self, at: float) -> list[ServiceChange]:
        if self.staff is None:
            return []
        changes = self._end(None, at)
        changes.append(ServiceChange("sign_out", self.staff))
        self.staff = None
        return changes
