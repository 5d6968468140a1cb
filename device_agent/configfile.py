"""Configuration files declared once, as typed models, checked with every problem at once.

Each section of a configuration file is a frozen pydantic dataclass
(:func:`section`): its fields are the keys, each with its type, its default
and its checks (:func:`between`, :func:`one_of`, :data:`Id`, :data:`TimeZone`,
:data:`FilePath`), in one place. Unknown keys are refused. :func:`load`
reads a TOML file and validates it as a whole; :func:`validate` checks a
document already parsed. Either raises one
:class:`~device_agent.errors.ConfigError` listing every problem as
``file: dotted.key: message`` (:func:`messages` writes pydantic's errors that
way). Checks across fields, in ``model_validator(mode="after")`` methods,
report through :class:`Problems`.

Secrets are read from a file or the environment, never from the
configuration itself (:func:`secret_field`, :func:`fill_secret`), and their ``repr`` is redacted
so they cannot reach a log.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar, dataclass_transform
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Strict,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    model_validator,
)
from pydantic import dataclasses as pydantic_dataclasses
from pydantic_core import InitErrorDetails, PydanticCustomError

from device_agent.errors import ConfigError
from device_agent.topics import ID_PATTERN

T = TypeVar("T")

# Every section: unknown keys are typos; arbitrary types let a field hold a Secret.
SECTION = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

# Scalars as TOML writes them: no "3" for 3, no 1 for true (a float takes an integer).
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]


@dataclass_transform(frozen_default=True)
def section(cls: type[T]) -> type[T]:
    """Declare ``cls`` a section of a configuration file: a frozen, slotted pydantic dataclass."""
    return pydantic_dataclasses.dataclass(frozen=True, slots=True, config=SECTION)(cls)  # type: ignore[return-value]


@dataclass_transform(frozen_default=True, kw_only_default=True)
def document(cls: type[T]) -> type[T]:
    """Declare ``cls`` a whole file (or document): a section whose fields are given by name."""
    return pydantic_dataclasses.dataclass(frozen=True, slots=True, kw_only=True, config=SECTION)(  # type: ignore[return-value]
        cls
    )


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


def _error(message: str) -> PydanticCustomError:
    """One problem with one value, in the file's words (what :func:`messages` shows)."""
    return PydanticCustomError("hallrate", "{message}", {"message": message})


# Checks, each an Annotated marker: ``Annotated[Int, between(1, 10)]``.


def between(low: float, high: float) -> AfterValidator:
    """A number in ``[low, high]``."""

    def check(value: float) -> float:
        if not low <= value <= high:
            message = f"must be between {low} and {high}, got {value}"
            raise _error(message)
        return value

    return AfterValidator(check)


def one_of(*allowed: str) -> AfterValidator:
    """A string among ``allowed``."""

    def check(value: str) -> str:
        if value not in allowed:
            message = f"must be one of {', '.join(allowed)}, got {value!r}"
            raise _error(message)
        return value

    return AfterValidator(check)


def matching(pattern: re.Pattern[str], message: str | None = None) -> AfterValidator:
    """A string ``pattern`` matches whole; ``message`` says what is wrong otherwise."""

    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            text = message or f"must match {pattern.pattern}"
            raise _error(text)
        return value

    return AfterValidator(check)


def checked(problem: Callable[[Any], str | None]) -> AfterValidator:
    """A value ``problem`` finds nothing wrong with (it returns what is wrong, or None)."""

    def check(value: Any) -> Any:
        message = problem(value)
        if message:
            raise _error(message)
        return value

    return AfterValidator(check)


def _zone_problem(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {value!r}"
    return None


def _relative(value: object, info: ValidationInfo) -> object:
    """A path written in a file is relative to that file's folder."""
    if isinstance(value, str) and info.context and "base" in info.context:
        return (info.context["base"] / value).resolve()
    return Path(value) if isinstance(value, str) else value


def empty_means(default: Any) -> BeforeValidator:
    """An empty array written in the file stands for ``default`` (as if left out)."""
    return BeforeValidator(lambda value: default if value == [] else value)


Id = Annotated[Str, matching(ID_PATTERN)]
TimeZone = Annotated[Str, checked(_zone_problem)]
# A file's path: relative to the configuration file's folder when read from one.
FilePath = Annotated[Path, BeforeValidator(_relative)]


def base_of(info: ValidationInfo) -> Path:
    """The folder relative paths of the file being validated start from."""
    if info.context and "base" in info.context:
        return Path(info.context["base"])
    return Path.cwd()


class Problems:
    """Problems a check across fields found, raised at once as one validation error."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []

    def add(self, key: str, message: str) -> None:
        """Record that ``key`` (dotted, relative to the section) is wrong."""
        self.found.append((key, message))

    def __bool__(self) -> bool:
        return bool(self.found)

    def check(self) -> None:
        """Raise the problems found, if any."""
        if self.found:
            text = "; ".join(f"{key}: {message}" for key, message in self.found)
            raise PydanticCustomError(
                "hallrate_problems", "{text}", {"text": text, "problems": list(self.found)}
            )


def repeats(tables: object, key: str) -> Iterator[tuple[int, str]]:
    """Each place in an array of tables (as written) whose ``key`` an earlier table has."""
    seen: set[str] = set()
    for i, table in enumerate(tables if isinstance(tables, list) else ()):
        value = table.get(key) if isinstance(table, dict) else None
        if isinstance(value, str):
            if value in seen:
                yield i, value
            seen.add(value)


# A check across the keys of one table, on the table as written (a dict): it runs
# even when some keys are wrong, so their problems and its own are reported together.
# It may return values for fields declared ``Field(init=False)`` (set once all is valid).
CrossCheck = Callable[[dict[str, Any], Problems, ValidationInfo], dict[str, Any] | None]


def cross_check(check: CrossCheck) -> Any:
    """A section's check across its keys: ``_cross = cross_check(function)`` in its body."""

    def validate(
        cls: type, data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        details: list[InitErrorDetails] = []
        result = None
        try:
            result = handler(data)
        except ValidationError as exc:
            details = [_detail(item) for item in exc.errors()]
        problems = Problems()
        derived = check(data, problems, info) if isinstance(data, dict) else None
        for key, message in problems.found:
            details.append({"type": _error(message), "loc": tuple(key.split(".")), "input": data})
        if details:
            raise ValidationError.from_exception_data(cls.__name__, details)
        # What the check worked out (the targets a secret names): fields the file cannot set.
        for name, value in (derived or {}).items():
            object.__setattr__(result, name, value)
        return result

    return model_validator(mode="wrap")(classmethod(validate))  # type: ignore[arg-type]


def _detail(item: Any) -> InitErrorDetails:
    """One error pydantic reported, as it can be raised again with others."""
    ctx = item.get("ctx")
    if item["type"] == "hallrate":
        error: Any = _error(ctx["message"])
    elif item["type"] == "hallrate_problems":
        error = PydanticCustomError("hallrate_problems", "{text}", ctx)
    else:
        error = item["type"]
    detail: InitErrorDetails = {"type": error, "loc": item["loc"], "input": item["input"]}
    if ctx is not None and isinstance(error, str):
        detail["ctx"] = ctx
    return detail


def fill_secret(section: Any, info: ValidationInfo, name: str, problems: Problems) -> None:
    """Set ``section.{name}`` from its ``{name}_file`` or ``{name}_env``, unless it has one.

    For an after-validator of a section with a :func:`secret_field`; what goes
    wrong (both given, an unreadable file, an unset variable) lands in ``problems``.
    """
    if getattr(section, name) is not None:
        return
    table = {key: getattr(section, f"{name}{key}") for key in ("_file", "_env")}
    secret = read_secret(
        {f"{name}{key}": value for key, value in table.items()}, info, name, problems
    )
    object.__setattr__(section, name, secret)


def read_secret(
    data: dict[str, Any], info: ValidationInfo, name: str, problems: Problems
) -> Secret | None:
    """The secret ``{name}_file`` or ``{name}_env`` of a table (as written) names, if any."""
    file_name, env_name = data.get(f"{name}_file", ""), data.get(f"{name}_env", "")
    if not isinstance(file_name, str) or not isinstance(env_name, str):
        return None  # the field reports it
    if file_name and env_name:
        problems.add(name, f"give {name}_file or {name}_env, not both")
    elif file_name:
        secret_path = (base_of(info) / file_name).resolve()
        try:
            return Secret(secret_path.read_text().strip())
        except OSError as exc:
            problems.add(f"{name}_file", f"cannot read {secret_path}: {exc.strerror}")
    elif env_name:
        if env_name in os.environ:
            return Secret(os.environ[env_name])
        problems.add(f"{name}_env", f"environment variable {env_name} is not set")
    return None


def secret_from_file_or_env(name: str) -> Any:
    """A section's after-validator filling its :func:`secret_field` ``name``.

    In the section's body: ``_secret = secret_from_file_or_env("token")``.
    """

    def fill(self: Any, info: ValidationInfo) -> Any:
        problems = Problems()
        fill_secret(self, info, name, problems)
        problems.check()
        return self

    return model_validator(mode="after")(fill)  # type: ignore[arg-type]


def _no_secret_here(name: str) -> BeforeValidator:
    def check(value: object) -> object:
        if value is None or isinstance(value, Secret):
            return value
        message = (
            f"put the secret in a file ({name}_file) or the environment"
            f" ({name}_env), not in the configuration"
        )
        raise _error(message)

    return BeforeValidator(check)


def secret_field(name: str) -> Any:
    """The type of a secret field ``name``: never written in the file itself."""
    return Annotated[Secret | None, _no_secret_here(name)]


# Reading and reporting.


def load_toml(path: str | Path) -> dict[str, Any]:
    """The TOML document at ``path``; a ConfigError saying why it cannot be read."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None


def validate(kind: type[T], data: object, source: str | Path, **context: Any) -> T:
    """``data`` checked as ``kind``; raises ConfigError listing every problem in ``source``."""
    context.setdefault("base", Path(source).parent)
    context.setdefault("source", source)
    try:
        return TypeAdapter(kind).validate_python(data, context=context)
    except ValidationError as exc:
        raise ConfigError(messages(source, exc)) from None


def load(kind: type[T], path: str | Path, **context: Any) -> T:
    """The TOML file at ``path`` checked as ``kind``; raises ConfigError listing every problem."""
    return validate(kind, load_toml(path), path, **context)


def messages(source: str | Path, error: ValidationError) -> list[str]:
    """Pydantic's errors as ``source: dotted.key: message`` lines, in the file's words."""
    lines: list[str] = []
    for item in error.errors(include_url=False):
        key = _dotted(item["loc"])
        ctx = item.get("ctx") or {}
        if item["type"] == "hallrate_problems":
            for sub, message in ctx["problems"]:
                lines.append(f"{source}: {_join(key, sub)}: {message}")
        else:
            lines.append(f"{source}: {key or '(file)'}: {_message(item)}")
    return lines


def _join(key: str, sub: str) -> str:
    if not key:
        return sub
    return f"{key}{sub}" if sub.startswith("[") else f"{key}.{sub}"


def _dotted(loc: tuple[int | str, ...]) -> str:
    key = ""
    for part in loc:
        if part == "[key]":
            continue
        key = f"{key}[{part}]" if isinstance(part, int) else _join(key, str(part))
    return key


_KINDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "string": "a string",
    "dict": "a table",
    "dataclass": "a table",
    "model": "a table",
    "list": "a list",
    "tuple": "a list",
    "date": "a date such as 2026-11-01",
}


def _message(item: Any) -> str:
    kind = item["type"]
    ctx = item.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        return "unknown key"
    if kind == "hallrate":
        return str(ctx["message"])
    if kind == "value_error":
        return str(ctx.get("error", item["msg"]))
    for prefix, wanted in _KINDS.items():
        if kind.startswith(prefix + "_"):
            return f"must be {wanted}, got {_kind_name(item['input'])}"
    return str(item["msg"])


def _kind_name(value: object) -> str:
    names = {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }
    return names.get(type(value), type(value).__name__)
