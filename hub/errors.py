"""Exceptions raised by the hub."""


class HubError(Exception):
    """Root of every error the hub raises on purpose."""


class StoreError(HubError, OSError):
    """The hub's database refused a write (disk full, file unusable)."""


class BatchError(HubError, ValueError):
    """A batch could not be stored because of something in it, not the disk: store it apart."""


class UnknownRecord(HubError, KeyError):
    """A warning, vote or token named in a request does not exist."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown record"


class StateError(HubError, ValueError):
    """An action does not fit the record's current state (closing an unacknowledged warning)."""


class ForwardingError(HubError, OSError):
    """Central refused or could not take a forwarded message; it will be sent again."""
