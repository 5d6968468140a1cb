"""The device agent: presses become durable votes that are sent until receipted.

One thread owns the outbox and decides everything; buttons and the MQTT
link only put events on its queue. A vote is committed to the outbox before
the thank-you light blinks; sending it until the hub receipts it is the
:class:`~device_agent.sender.RecordSender`'s job, shared with the kiosk.

This module is the wiring. What a press means is the rating session's
(:mod:`device_agent.session`); the hardware is in :mod:`~device_agent.evaluator`,
:mod:`~device_agent.console`, :mod:`~device_agent.keypad` and
:mod:`~device_agent.lights`; the hub's settings are checked by
:mod:`~device_agent.remote_config`; the heartbeat is :mod:`~device_agent.telemetry`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime

from gpiozero.pins import Factory

from device_agent.alarm import StorageAlarm
from device_agent.config import AgentConfig
from device_agent.console import ConsoleButton, ConsolePressed
from device_agent.debounce import Debouncer
from device_agent.errors import ConfigError, OutboxError, ProtocolError
from device_agent.evaluator import ButtonEvaluator, Press
from device_agent.keypad import (
    KeypadCommand,
    KeypadHeartbeat,
    KeypadKey,
    KeypadStateChanged,
    SerialKeypad,
)
from device_agent.lights import StatusLight, pattern_for
from device_agent.link import ConfigArrived, Connected, DeviceLink, ServiceCommandArrived
from device_agent.outbox import Outbox
from device_agent.protocol import (
    ServiceCommand,
    ServiceEvent,
    Vote,
    decode_service_command,
    format_time,
)
from device_agent.remote_config import (
    AppliedConfigFile,
    DeviceSettings,
    config_report,
    local_settings,
    parse_remote_config,
    requested_version,
)
from device_agent.sender import IDLE_WAIT_S, RecordSender
from device_agent.session import RatingSession, ServiceChange
from device_agent.telemetry import TelemetryClock, telemetry_document
from device_agent.topics import DeviceTopic, Topics

logger = logging.getLogger(__name__)

CONSOLE_KEY = "console"  # the console button's key in the debouncer


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
        self.outbox = Outbox(
            config.outbox.path,
            device=config.device,
            limit=config.outbox.limit,
        )
        self.debouncer = Debouncer(config.evaluator.debounce_ms / 1000)
        self.link = DeviceLink(
            config.broker,
            topics=self.topics,
            device=config.device,
            events=self.events,
            started_at=self._now(),
        )
        self.sender = RecordSender(
            self.outbox,
            self.link,
            resend_after_s=config.outbox.resend_after_s,
            in_flight=config.outbox.in_flight,
            clock=clock,
            wall_clock=wall_clock,
        )
        self.local = local_settings(config)
        self.settings: DeviceSettings = self.local
        self.session = RatingSession(config.session, staff=config.staff)
        self.storage_alarm = StorageAlarm(config.device)
        self.telemetry = TelemetryClock(config.telemetry_s, clock=clock)
        self.applied_config = AppliedConfigFile(
            config.outbox.path.with_name(f"{config.outbox.path.stem}-config-set.json")
        )
        self.config_version: int | None = None
        self._config_report: dict[str, object] | None = None
        self.unknown_keys = 0
        self._pin_factory = pin_factory
        self._started = clock()
        self.evaluator: ButtonEvaluator | None = None
        self.console: ConsoleButton | None = None
        self.keypad: SerialKeypad | None = None
        try:
            self.light = StatusLight(
                config.evaluator.thank_you_pin,
                buzzer_pin=config.evaluator.buzzer_pin,
                pin_factory=pin_factory,
            )
            self.evaluator = self._buttons(self.settings.keys)
            if config.evaluator.console_pin is not None:
                self.console = ConsoleButton(
                    config.evaluator.console_pin, self.events, pin_factory=pin_factory, clock=clock
                )
            if config.keypad is not None:
                self.keypad = SerialKeypad(config.keypad, self.events, clock=clock)
        except Exception:
            self._close_hardware()
            self.outbox.close()
            raise
        self._stop = threading.Event()
        # Set once the loop turns: what systemd's READY=1 waits for.
        self.serving = threading.Event()
        self.last_loop = clock()
        self.turns = 0  # how often the loop turned: an idle agent's turns are few
        self._restore_remote_config()

    @property
    def alarm(self) -> str | None:
        """Why the outbox cannot take new votes (full, disk full), or None."""
        return self.storage_alarm.reason

    def healthy(self, *, stall_s: float = 10.0) -> bool:
        """Whether the main loop turned within ``stall_s`` (the watchdog's question)."""
        return self._clock() - self.last_loop < stall_s

    # The public surface used by the main loop's owner.

    def run(self) -> None:
        """Connect and serve until :meth:`stop`; returns after a clean shutdown."""
        self.link.start()
        if self.keypad is not None:
            # The keypad learns the light pattern at once, and again after every reopen.
            self.keypad.show(self.light.pattern)
            self.keypad.start()
        try:
            while not self._stop.is_set():
                try:
                    event = self.events.get(timeout=self.wait_s())
                except queue.Empty:
                    event = None
                # Awake again: the health check's clock measures work, not the sleep.
                self.last_loop = self._clock()
                try:
                    if event is not None:
                        self.handle(event)
                    self.sender.send_due()
                    self._tick()
                except Exception:
                    # The loop must outlive any one bad event; the outbox keeps the records.
                    logger.exception("agent %s: event %r failed", self.config.device, event)
                self.last_loop = self._clock()
                self.turns += 1
                self.serving.set()
        finally:
            if self.keypad is not None:
                self.keypad.stop()
            self.link.stop()
            self._close_hardware()
            self.outbox.close()

    def stop(self) -> None:
        """Ask :meth:`run` to return."""
        self._stop.set()
        self.events.put(None)

    def wait_s(self) -> float:
        """Seconds the loop may sleep unless an event comes: until its next deadline.

        The deadlines are a resend, the telemetry heartbeat, and the light's
        next change by itself (thanks over, invitation over); with none of
        them near, the loop still turns every ``IDLE_WAIT_S`` to show it lives.
        """
        now = self._clock()
        deadlines = [
            now + IDLE_WAIT_S,
            self.telemetry.next_at,
            self.sender.next_due(),
            self.session.next_change(now),
        ]
        return max(0.0, min(d for d in deadlines if d is not None) - now)

    def handle(self, event: object) -> None:
        """Act on one event from the buttons or the link."""
        match event:
            case Press():
                self._on_press(event)
            case ConsolePressed(at=at):
                if self.debouncer.accept(CONSOLE_KEY, at):
                    self._record_changes(self.session.toggle(at))
            case KeypadKey():
                self._on_keypad_key(event)
            case KeypadCommand(command=command, at=at):
                self._record_changes(self.session.command(command, at))
            case KeypadHeartbeat():
                pass
            case KeypadStateChanged():
                self.telemetry.soon()
            case ServiceCommandArrived(payload=payload):
                self._on_service_command(payload)
            case ConfigArrived(payload=payload):
                self._on_remote_config(payload)
            case Connected():
                self.sender.handle(event)
                if self._config_report is not None:
                    self.link.publish_json(DeviceTopic.CONFIG, self._config_report, retain=True)
                self.telemetry.soon()
            case None:
                pass
            case _:
                if not self.sender.handle(event):
                    logger.warning("unknown event %r", event)

    # Internals.

    def _on_press(self, press: Press) -> None:
        if self.debouncer.accept(press.level, press.at):
            self._take_press(press.level, press.at)

    def _on_keypad_key(self, press: KeypadKey) -> None:
        # A keypad debounces in its own firmware: every frame is one press.
        level = self.settings.keypad_keys.get(press.key)
        if level is None:
            self.unknown_keys += 1
            logger.warning("keypad key %r is not in the key map; ignored", press.key)
            return
        self._take_press(level, press.at)

    def _take_press(self, level: int, at: float) -> None:
        """Judge a press, store it as a vote (counted or filtered), then thank if it counts."""
        verdict = self.session.judge(at)
        cast_at = format_time(self._now())
        window = self.settings.window
        try:
            vote = self.sender.store(
                "vote",
                lambda seq, ident: Vote(
                    id=ident,
                    seq=seq,
                    ts=cast_at,
                    device=self.config.device,
                    channel="window",
                    window=window,
                    staff=verdict.staff,
                    ticket=verdict.ticket,
                    level=level,
                    flags=list(verdict.flags),
                    filter=verdict.filter,
                    service=verdict.service,
                ),
            )
        except OutboxError as exc:
            # Nothing already accepted is lost; this press cannot be taken, and says so.
            self.storage_alarm.refused_write(exc)
            self.session.record(verdict, at, stored=False)
            self._check_alarm()
            return
        self.storage_alarm.stored()
        self._check_alarm()
        self.session.record(verdict, at)
        # The vote is durable: now the light may thank the citizen.
        self._show_lights()
        logger.debug("stored %s (level %d, filter %s)", vote.id, level, verdict.filter)

    def _record_changes(self, changes: list[ServiceChange]) -> None:
        """Store and send the service events a session change produced."""
        ts = format_time(self._now())
        window = self.settings.window
        for change in changes:
            try:
                event = self.sender.store(
                    "service",
                    lambda seq, ident, change=change: ServiceEvent(
                        id=ident,
                        seq=seq,
                        ts=ts,
                        device=self.config.device,
                        event=change.event,
                        window=window,
                        staff=change.staff,
                        ticket=change.ticket,
                        # A start names itself, so start and end share the service id.
                        service=ident if change.event == "start" else change.service,
                        item=change.item,
                    ),
                )
            except OutboxError as exc:
                self.storage_alarm.refused_write(exc)
                self._check_alarm()
                continue
            self.storage_alarm.stored()
            if change.event == "start":
                self.session.started(event.id)
            # DEBUG: every service of the day would flood the journal; the hub stores them.
            logger.debug(
                "service %s: staff %s, ticket %s", change.event, change.staff, change.ticket
            )
        self._show_lights()

    def _on_service_command(self, payload: bytes) -> None:
        try:
            command = decode_service_command(payload)
        except ProtocolError as exc:
            logger.warning("ignoring a malformed service command: %s", exc)
            return
        self._record_changes(self.session.command(command, self._clock()))

    # Settings from the hub.

    def _on_remote_config(self, payload: bytes) -> None:
        if not payload:
            # The hub cleared its retained document: nothing new to apply.
            logger.info("config/set cleared; keeping config version %s", self.config_version)
            return
        version = requested_version(payload)
        try:
            self._apply_remote_config(payload)
            report = config_report(
                version, applied=True, error=None, active_version=self.config_version
            )
        except ConfigError as exc:
            logger.error(
                "refused config/set version %s, keeping %s: %s", version, self.config_version, exc
            )
            report = config_report(
                version, applied=False, error=str(exc), active_version=self.config_version
            )
        self._config_report = report
        self.link.publish_json(DeviceTopic.CONFIG, report, retain=True)
        self.telemetry.soon()

    def _apply_remote_config(self, payload: bytes, *, restored: bool = False) -> None:
        """Apply a ``config/set`` document whole, or raise ConfigError and apply none of it."""
        remote = parse_remote_config(payload, self.local)
        if self.config_version is not None and remote.version < self.config_version:
            active = self.config_version
            raise ConfigError(
                [f"config/set: config_version {remote.version} is older than the active {active}"]
            )
        if remote.version == self.config_version and remote.settings == self.settings:
            return  # the retained document again, after a reconnect
        self._apply_settings(remote.settings, announce=not restored)
        self.config_version = remote.version
        if not restored:
            try:
                self.applied_config.save(payload)
            except OSError as exc:
                logger.error("config version %d applied but not saved: %s", remote.version, exc)
        # A new dict, swapped in whole: paho's thread may be copying the old one.
        self.link.info = {**self.link.info, "config_version": remote.version}
        self.link.publish_info()
        logger.info("applied config version %d", remote.version)

    def _apply_settings(self, settings: DeviceSettings, *, announce: bool = True) -> None:
        old = self.settings
        if settings.keys != old.keys:
            # The only step that can fail (a pin that does not exist or is taken): first.
            if self.evaluator is not None:
                self.evaluator.close()
            try:
                self.evaluator = self._buttons(settings.keys)
            except Exception as exc:
                self.evaluator = self._buttons(old.keys)
                raise ConfigError([f"config/set: keys: {exc}"]) from exc
        self.settings = settings
        self.session.update(settings.session)
        self.telemetry.interval_s = settings.telemetry_s
        if settings.staff != old.staff and not announce:
            # Restored at start-up: the hub already heard this staff member sign in.
            self.session.staff = settings.staff
        elif settings.staff != old.staff:
            command = (
                ServiceCommand("sign_in", staff=settings.staff)
                if settings.staff is not None
                else ServiceCommand("sign_out")
            )
            self._record_changes(self.session.command(command, self._clock()))

    def _restore_remote_config(self) -> None:
        payload = self.applied_config.load()
        if payload is None:
            return
        try:
            self._apply_remote_config(payload, restored=True)
        except ConfigError as exc:
            logger.error("ignoring the saved config in %s: %s", self.applied_config.path, exc)
            return
        self._config_report = config_report(
            self.config_version, applied=True, error=None, active_version=self.config_version
        )

    # Lights, alarm, telemetry.

    def _tick(self) -> None:
        self._check_alarm()
        self._show_lights()
        if self.telemetry.due():
            self.publish_telemetry()

    def _check_alarm(self) -> None:
        if self.storage_alarm.check(self.outbox):
            self.telemetry.soon()
            self._show_lights()

    def _show_lights(self) -> None:
        pattern = pattern_for(self.session.state(self._clock()), alarm=self.storage_alarm.active)
        if self.light.show(pattern) and self.keypad is not None:
            self.keypad.show(pattern)

    def publish_telemetry(self) -> None:
        """Publish one telemetry heartbeat now (when the link is up)."""
        document = telemetry_document(
            now=self._now(),
            uptime_s=self._clock() - self._started,
            outbox=self.outbox,
            session=self.session,
            state=self.session.state(self._clock()),
            alarm=self.storage_alarm,
            keypad=self.keypad.status() if self.keypad is not None else None,
            config_version=self.config_version,
            presses={"bounces": self.debouncer.bounces, "unknown_keys": self.unknown_keys},
        )
        self.link.publish_json(DeviceTopic.TELEMETRY, document, retain=False)

    # Hardware.

    def _buttons(self, keys: dict[str | int, int]) -> ButtonEvaluator | None:
        if not keys:
            return None
        return ButtonEvaluator(keys, self.events, pin_factory=self._pin_factory, clock=self._clock)

    def _close_hardware(self) -> None:
        for device in (self.evaluator, self.console, getattr(self, "light", None)):
            if device is not None:
                device.close()
        self.evaluator = None
        self.console = None
