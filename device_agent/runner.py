"""Running one role process (agent, hub or kiosk) under systemd or by hand, the same way.

A role hands :func:`serve` a :class:`Service`. SIGINT and SIGTERM become an
event the main thread waits on; ``READY=1`` goes to systemd once the service
says it really serves, ``STATUS=`` whenever its status line changes, and
``STOPPING=1`` before it stops. The watchdog is pinged only while the
service is healthy; a service whose loop has died ends the process with
:data:`EXIT_DIED`, so that ``Restart=on-failure`` brings it back. A bad
configuration is reported by :func:`report_config_error`, every problem with
its file and key, and ends the process with :data:`EXIT_CONFIG`.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType
from typing import Protocol, TextIO

from device_agent.errors import ConfigError
from device_agent.sdnotify import Notifier, WatchdogPinger

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_DIED = 1  # the service's loop died or stalled: the supervisor should restart it
EXIT_CONFIG = 2  # the configuration is wrong: restarting would not help


class Service(Protocol):
    """What :func:`serve` needs of a role's service."""

    name: str

    def start(self) -> None:
        """Start serving in background threads, returning once started."""

    def ready(self) -> bool:
        """Whether the service really serves (``READY=1`` is sent once this is true)."""

    def alive(self) -> bool:
        """False once the service's loop has died or stalled: the process exits with 1."""

    def healthy(self) -> bool:
        """Whether to ping the watchdog now."""

    def status(self) -> str:
        """A one-line status for ``systemctl status``."""

    def stop(self) -> None:
        """Stop and release everything; called once."""


class Process:
    """A base for a role's :class:`Service` that serves once started, and lives while healthy."""

    name = "service"

    def healthy(self) -> bool:
        """Whether the service's loop turns; override."""
        raise NotImplementedError

    def ready(self) -> bool:
        """Ready as soon as :meth:`start` has returned."""
        return True

    def alive(self) -> bool:
        """Alive while healthy: a stalled loop ends the process too."""
        return self.healthy()


def serve(
    service: Service,
    *,
    wake_s: float = 0.5,
    notifier: Notifier | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Run ``service`` until SIGINT or SIGTERM (or ``stop``); 0 after a clean stop, 1 if it died.

    The main thread wakes every ``wake_s`` to check the service and ping the
    watchdog; signals are delivered to it, so it never blocks for longer.
    """
    stop = stop_on_signals() if stop is None else stop
    notifier = Notifier() if notifier is None else notifier
    watchdog = WatchdogPinger(notifier, service.healthy)
    service.start()
    # The first look is at once: a service that serves as soon as start() returns
    # is ready without waiting; a death shows only after one wake, once its loop
    # has had the time to turn.
    status = service.status() if service.ready() else None
    if status is not None:
        notifier.ready(status)
    code = EXIT_OK
    while not stop.wait(wake_s):
        if not service.alive():
            logger.error(
                "the %s's loop is not turning; exiting so the supervisor restarts it", service.name
            )
            code = EXIT_DIED
            break
        if status is None:
            if service.ready():
                status = service.status()
                notifier.ready(status)
            continue
        watchdog.tick()
        now = service.status()
        if now != status:
            status = now
            notifier.status(status)
    notifier.stopping()
    service.stop()
    return code


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM, so that the main loop can stop cleanly."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        logger.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def report_config_error(error: ConfigError, *, stream: TextIO | None = None) -> int:
    """Print every problem of a configuration, one a line with file and key; the exit status."""
    out = sys.stderr if stream is None else stream
    for problem in error.problems:
        print(problem, file=out, flush=True)
    return EXIT_CONFIG
