"""Exceptions raised by the device agent and the wire protocol."""


class AgentError(Exception):
    """Root of every error the device agent raises on purpose."""


class ConfigError(AgentError, ValueError):
    """A configuration file has problems; ``problems`` lists every one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class ProtocolError(AgentError, ValueError):
    """A payload or topic breaks the wire protocol; names the field and the reason.

    ``field`` and ``reason`` are the first problem; ``problems`` lists every
    problem found in the payload, that one first, as (field, reason) pairs.
    """

    def __init__(
        self,
        reason: str,
        *,
        field: str | None = None,
        id: str | None = None,
        more: list[tuple[str | None, str]] | None = None,
    ) -> None:
        self.reason = reason
        self.field = field
        self.id = id
        self.problems: list[tuple[str | None, str]] = [(field, reason), *(more or [])]
        text = "; ".join(f"{name}: {why}" if name else why for name, why in self.problems)
        super().__init__(text)


class OutboxError(AgentError, OSError):
    """The durable outbox cannot take or keep a record (disk full, file unusable)."""


class OutboxFull(OutboxError):
    """The outbox holds its configured limit of unreceipted records."""
