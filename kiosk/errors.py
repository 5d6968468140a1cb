"""Exceptions raised by the kiosk."""

from device_agent.errors import AgentError


class KioskError(AgentError):
    """Root of every error the kiosk raises on purpose."""


class HubUnavailable(KioskError, ConnectionError):
    """The hub's HTTP API did not answer (down, unreachable, or answered nonsense)."""


class DirectoryError(KioskError, ValueError):
    """A hall directory document from the hub or the local copy is malformed."""
