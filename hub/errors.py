"""Exceptions raised by the hub."""

from device_agent.errors import ConfigError


class HubError(Exception):
    """Root of every error the hub raises on purpose."""


class HubConfigError(HubError, ConfigError):
    """The hub's configuration or hall directory has problems; lists every one."""


class StoreError(HubError, OSError):
    """The hub's database refused a write (disk full, file unusable)."""
