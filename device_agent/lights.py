"""The window's status light and buzzer: what the citizen and the staff see and hear.

One LED shows one pattern at a time, chosen from the session state and the
agent's alarm by :func:`pattern_for`:

=========  =====================================  =================
pattern    meaning                                LED
=========  =====================================  =================
``off``    idle, serving, or rated and waiting    off
``invite`` a service ended: please rate it        slow blink (1 Hz)
``thank``  the rating is stored: thank you        steady on
``alarm``  the outbox or the disk is full         fast blink (5 Hz)
=========  =====================================  =================

The optional buzzer beeps twice when an invitation starts and five times
when an alarm is raised. Pins come through gpiozero's ``pin_factory``.
"""

from __future__ import annotations

import enum

from gpiozero import LED, Buzzer
from gpiozero.pins import Factory

from device_agent.session import SessionState


class Pattern(enum.StrEnum):
    """A light pattern, as the LED shows it and as keypads are told it."""

    OFF = "off"
    INVITE = "invite"
    THANK = "thank"
    ALARM = "alarm"


def pattern_for(state: SessionState, *, alarm: bool) -> Pattern:
    """The pattern to show: thanks first, then an alarm, then an invitation."""
    if state == SessionState.THANKING:
        return Pattern.THANK
    if alarm:
        return Pattern.ALARM
    if state == SessionState.INVITING:
        return Pattern.INVITE
    return Pattern.OFF


class StatusLight:
    """The LED (and buzzer) of a window; both optional, so a keypad-only window has none."""

    def __init__(
        self,
        pin: str | int | None,
        *,
        buzzer_pin: str | int | None = None,
        pin_factory: Factory | None = None,
    ) -> None:
        self.pattern = Pattern.OFF
        self.led: LED | None = None
        self.buzzer: Buzzer | None = None
        try:
            if pin is not None:
                self.led = LED(pin, pin_factory=pin_factory)
            if buzzer_pin is not None:
                self.buzzer = Buzzer(buzzer_pin, pin_factory=pin_factory)
        except Exception:
            self.close()
            raise

    def show(self, pattern: Pattern) -> bool:
        """Switch to ``pattern``; returns False when it was showing already."""
        if pattern == self.pattern:
            return False
        self.pattern = pattern
        if self.led is not None:
            match pattern:
                case Pattern.OFF:
                    self.led.off()
                case Pattern.THANK:
                    self.led.on()
                case Pattern.INVITE:
                    self.led.blink(on_time=0.5, off_time=0.5, background=True)
                case Pattern.ALARM:
                    self.led.blink(on_time=0.1, off_time=0.1, background=True)
        if self.buzzer is not None:
            if pattern == Pattern.INVITE:
                self.buzzer.beep(on_time=0.1, off_time=0.1, n=2, background=True)
            elif pattern == Pattern.ALARM:
                self.buzzer.beep(on_time=0.05, off_time=0.1, n=5, background=True)
            else:
                self.buzzer.off()
        return True

    def close(self) -> None:
        """Release the pins."""
        for device in (self.led, self.buzzer):
            if device is not None:
                device.close()
        self.led = None
        self.buzzer = None
