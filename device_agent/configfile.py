"""Reading TOML configuration files that report every problem at once.

A :class:`ConfigReader` reads typed values by dotted key and collects each
problem as ``file: key: message`` instead of stopping at the first; callers
read everything, then call :meth:`ConfigReader.finish`, which raises one
:class:`~device_agent.errors.ConfigError` listing them all. Secrets are read
from a file or the environment, never from the configuration itself, and
their ``repr`` is redacted so they cannot reach a log.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from device_agent.errors import ConfigError

T = TypeVar("T")
_MISSING: Any = object()

# Returns None when the value is fine, otherwise what is wrong with it.
Check = Callable[[Any], str | None]


class Secret:
    """A password or token; prints as ``'***'`` so it never reaches a log."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one call that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class ConfigReader:
    """Typed access to one TOML file, collecting every problem with its key."""

    def __init__(
        self,
        path: str | Path,
        *,
        data: dict[str, Any] | None = None,
        prefix: str = "",
        problems: list[str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.problems: list[str] = [] if problems is None else problems
        self.data: dict[str, Any] = {}
        self._prefix = prefix
        self._seen: set[str] = set()
        # False once the file failed to load: its one problem says why, and
        # "is required" for every key of an empty table would only bury it.
        self.readable = True
        if data is not None:
            self.data = data
            return
        try:
            with self.path.open("rb") as file:
                self.data = tomllib.load(file)
        except FileNotFoundError:
            self.readable = False
            self.problems.append(f"{self.path}: file not found")
        except OSError as exc:
            self.readable = False
            self.problems.append(f"{self.path}: cannot read: {exc.strerror}")
        except tomllib.TOMLDecodeError as exc:
            self.readable = False
            self.problems.append(f"{self.path}: not valid TOML: {exc}")

    def problem(self, key: str, message: str) -> None:
        """Record that ``key`` is wrong."""
        if not self.readable:
            return
        self.problems.append(f"{self.path}: {self._prefix}{key}: {message}")

    def has(self, key: str) -> bool:
        """Whether ``key`` is present."""
        return self._lookup(key) is not _MISSING

    def get(
        self,
        key: str,
        kind: type[T],
        *,
        default: T = _MISSING,
        check: Check | None = None,
    ) -> T:
        """The value at dotted ``key``, of type ``kind``; a problem if missing or wrong."""
        self._seen.add(key)
        value = self._lookup(key)
        if value is _MISSING:
            if default is _MISSING:
                self.problem(key, "is required")
                return _placeholder(kind)
            return default
        if not _is_kind(value, kind):
            self.problem(key, f"must be {_kind_name(kind)}, got {_kind_name(type(value))}")
            return default if default is not _MISSING else _placeholder(kind)
        if kind is float:
            value = float(value)
        if check is not None:
            message = check(value)
            if message:
                self.problem(key, message)
        return value

    def path_value(self, key: str, *, default: str | None = _MISSING) -> Path:
        """A file path at ``key``, relative to the configuration file's folder."""
        value = self.get(key, str, default=default)
        return (self.path.parent / (value or "")).resolve()

    def secret(self, section: str, name: str) -> Secret | None:
        """A secret given as ``{name}_file`` or ``{name}_env`` in ``section``.

        A secret written into the file itself is refused: configuration files
        end up in repositories and support tickets.
        """
        key = f"{section}.{name}"
        self._seen.update({key, f"{key}_file", f"{key}_env"})
        if self._lookup(key) is not _MISSING:
            self.problem(
                key,
                f"put the secret in a file ({name}_file) or the environment"
                f" ({name}_env), not in the configuration",
            )
            return None
        file_name = self.get(f"{key}_file", str, default="")
        env_name = self.get(f"{key}_env", str, default="")
        if file_name and env_name:
            self.problem(key, f"give {name}_file or {name}_env, not both")
            return None
        if file_name:
            secret_path = (self.path.parent / file_name).resolve()
            try:
                return Secret(secret_path.read_text().strip())
            except OSError as exc:
                self.problem(f"{key}_file", f"cannot read {secret_path}: {exc.strerror}")
                return None
        if env_name:
            if env_name not in os.environ:
                self.problem(f"{key}_env", f"environment variable {env_name} is not set")
                return None
            return Secret(os.environ[env_name])
        return None

    def tables(self, key: str) -> list[dict[str, Any]]:
        """An array of tables at ``key`` (``[[key]]``), empty when absent."""
        self._seen.add(key)
        value = self._lookup(key)
        if value is _MISSING:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.problem(key, "must be an array of tables ([[...]])")
            return []
        return value

    def items(self, key: str) -> list[ConfigReader]:
        """A reader for each table of the array of tables at ``key`` (``[[key]]``).

        Their problems land in this reader's list, keyed as ``key[i].name``.
        """
        return [
            ConfigReader(
                self.path, data=table, prefix=f"{self._prefix}{key}[{i}].", problems=self.problems
            )
            for i, table in enumerate(self.tables(key))
        ]

    def reject_unknown(self, section: str, known: Iterable[str]) -> None:
        """Record a problem for each key of ``section`` not in ``known`` (typos)."""
        table = self.data if not section else self._lookup(section)
        if table is _MISSING:
            return
        if not isinstance(table, dict):
            # Otherwise every key of the section would silently take its default.
            self.problem(section, f"must be a table, got {_kind_name(type(table))}")
            return
        allowed = set(known)
        prefix = f"{section}." if section else ""
        for name in table:
            if name not in allowed:
                self.problem(f"{prefix}{name}", "unknown key")

    def finish(self) -> None:
        """Raise one :class:`ConfigError` listing every problem recorded so far."""
        if self.problems:
            raise ConfigError(self.problems)

    def _lookup(self, key: str) -> Any:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return _MISSING
            node = node[part]
        return node


def in_range(low: float, high: float) -> Check:
    """A check that a number lies in ``[low, high]``."""

    def check(value: float) -> str | None:
        return None if low <= value <= high else f"must be between {low} and {high}, got {value}"

    return check


def one_of(*allowed: str) -> Check:
    """A check that a string is one of ``allowed``."""

    def check(value: str) -> str | None:
        return None if value in allowed else f"must be one of {', '.join(allowed)}, got {value!r}"

    return check


def _is_kind(value: object, kind: type) -> bool:
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _kind_name(kind: type) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }.get(kind, kind.__name__)


def _placeholder(kind: type[T]) -> T:
    return kind()
