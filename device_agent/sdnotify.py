"""Telling systemd how a service is doing (``Type=notify``), with the standard library only.

systemd gives a notify-type service the address of a unix datagram socket in
``$NOTIFY_SOCKET`` (a path, or an abstract name written with a leading
``@``) and, when the unit sets ``WatchdogSec=``, the interval in
``$WATCHDOG_USEC``. The service sends ``READY=1`` once it really serves,
``WATCHDOG=1`` more often than the interval **only while it is healthy** (so
systemd restarts a hung service), and ``STOPPING=1`` when it shuts down.
Outside systemd there is no socket and every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

logger = logging.getLogger(__name__)


class Notifier:
    """The sender of sd_notify messages for this process (a no-op outside systemd)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        # An abstract socket's name starts with a NUL byte, written as "@".
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_s = _watchdog_interval(env)

    @property
    def enabled(self) -> bool:
        """Whether systemd listens."""
        return bool(self.address)

    def notify(self, *lines: str) -> bool:
        """Send ``KEY=value`` lines in one datagram; False when nobody listens or it failed."""
        if not self.address:
            return False
        message = "\n".join(lines).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall(message)
        except OSError as exc:
            logger.warning("sd_notify %r failed: %s", lines, exc)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """The service serves: systemd may start what depends on it."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        """The service is healthy (send only after checking that it is)."""
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        """The service is shutting down on purpose."""
        return self.notify("STOPPING=1")

    def status(self, text: str) -> bool:
        """A one-line status that ``systemctl status`` shows."""
        return self.notify(f"STATUS={text}")


class WatchdogPinger:
    """Pings systemd's watchdog at half its interval, but only while ``healthy()`` says so."""

    def __init__(
        self,
        notifier: Notifier,
        healthy: Callable[[], bool],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.notifier = notifier
        self.healthy = healthy
        self._clock = clock
        self._next = clock()
        self.pings = 0
        self.withheld = 0

    @property
    def interval_s(self) -> float | None:
        """How often to ping, or None when systemd runs no watchdog for us."""
        if self.notifier.watchdog_s is None:
            return None
        return self.notifier.watchdog_s / 2

    def tick(self) -> None:
        """Ping if one is due and the service is healthy; call this often from the main loop."""
        interval = self.interval_s
        now = self._clock()
        if interval is None or now < self._next:
            return
        self._next = now + interval
        if not self.healthy():
            # No ping: if this lasts, systemd kills and restarts us, as it should.
            self.withheld += 1
            logger.error("not pinging the watchdog: the service is not healthy")
            return
        if self.notifier.watchdog():
            self.pings += 1


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None  # the watchdog is meant for another process
    return int(usec) / 1_000_000
