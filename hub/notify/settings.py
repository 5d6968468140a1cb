"""The ``[notify]`` section: who is told what, through which apprise URLs.

The URLs carry tokens (a WeCom bot key, a DingTalk access token, a mail
password), so they never sit in the hub's file: ``urls_file`` or ``urls_env``
names a small TOML document mapping each role to its URLs::

    manager = ["wecombot://BOTKEY"]
    office = ["mailtos://user:password@mail.example.org?to=office@example.org"]
    admin = ["json://127.0.0.1:8099/"]
    [dept_head]
    civil = ["dingtalk://TOKEN/"]

Each URL is kept as a :class:`~device_agent.configfile.Secret`; logs and the
notice log show only apprise's redacted form and the channel kind.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import tomllib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from device_agent.configfile import ConfigReader, Secret, in_range
from device_agent.directory import Directory

ROLES = ("manager", "dept_head", "office", "admin")
NOTIFY_KEYS = (
    "urls_file",
    "urls_env",
    "warning_roles",
    "device_roles",
    "offline_after_s",
    "check_s",
    "timeout_s",
    "retry_min_s",
    "retry_max_s",
    "max_attempts",
    "max_pending",
    "keep_days",
    "poll_s",
)


@dataclass(frozen=True, slots=True)
class Target:
    """One apprise URL of a role (of one department, for a department head)."""

    role: str
    department: str | None
    url: Secret
    channel: str  # the URL's scheme: json, wecombot, dingtalk, mailtos ...
    label: str  # apprise's redacted form of the URL, safe to log

    @property
    def key(self) -> str:
        """A fingerprint of the URL: how a queued notice names its target without the secret."""
        return hashlib.sha256(self.url.reveal().encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """Where notices go and how hard the sender tries; no targets means no notices."""

    targets: tuple[Target, ...] = ()
    # Who hears of a warning raised (a department head: of their own department only).
    warning_roles: tuple[str, ...] = ("manager", "dept_head", "office")
    # Who hears of a device offline for longer than ``offline_after_s``, and back online.
    device_roles: tuple[str, ...] = ("admin", "manager")
    offline_after_s: float = 600.0
    check_s: float = 30.0
    timeout_s: float = 10.0
    retry_min_s: float = 5.0
    retry_max_s: float = 600.0
    max_attempts: int = 12
    max_pending: int = 10_000
    keep_days: int = 180
    poll_s: float = 0.5

    @property
    def enabled(self) -> bool:
        """Whether any role has a URL."""
        return bool(self.targets)

    def targets_of(self, roles: tuple[str, ...], *, department: str | None) -> list[Target]:
        """The targets of ``roles``; department heads only of ``department``."""
        return [
            t
            for t in self.targets
            if t.role in roles and (t.role != "dept_head" or t.department == department)
        ]

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after ``attempts`` failed tries (doubling, capped)."""
        return float(min(self.retry_max_s, self.retry_min_s * 2 ** min(attempts - 1, 30)))


def load_apprise() -> ModuleType:
    """The apprise module, imported only by a hub that notifies.

    Apprise's email plugin imports ``imghdr``, deprecated since Python 3.11,
    when it is first loaded: importing it first here, quietly, keeps that
    warning (nothing an operator can act on) out of the logs and out of runs
    with warnings as errors.
    """
    # Python 3.13 dropped imghdr; apprise brings its own stand-in there.
    with warnings.catch_warnings(), contextlib.suppress(ImportError):
        warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
        import imghdr  # noqa: F401
    import apprise

    return apprise


@contextlib.contextmanager
def apprise_messages() -> Iterator[list[str]]:
    """Collect apprise's log messages (warnings and worse) instead of letting them out.

    Apprise logs some tokens as it reads a URL ("An invalid DingTalk API
    Token (...) was specified"): its messages reach our logs only through
    :func:`redact`, as the reason a notice failed.
    """
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    log = logging.getLogger("apprise")
    handler = Collect(logging.WARNING)
    level, propagate = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.WARNING)
    log.propagate = False
    try:
        yield messages
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        log.propagate = propagate


def redact(text: str, target: Target) -> str:
    """``text`` without any part of the target's URL that apprise's redacted form hides."""
    for part in re.split(r"[/:@?&=#,]+", target.url.reveal().split("://", 1)[-1]):
        if len(part) >= 4 and part not in target.label:
            text = text.replace(part, "***")
    return text


def read_notify(reader: ConfigReader, directory: Directory) -> NotifySettings:
    """Read ``[notify]`` and the URLs it names, recording every problem (never a URL)."""
    d = NotifySettings()
    reader.reject_unknown("notify", NOTIFY_KEYS)
    secret = reader.secret("notify", "urls")
    targets = _read_targets(reader, secret, directory) if secret is not None else ()
    roles = {
        key: tuple(reader.get(f"notify.{key}", list, default=list(default), check=_roles_check))
        for key, default in (("warning_roles", d.warning_roles), ("device_roles", d.device_roles))
    }
    retry_min = reader.get("notify.retry_min_s", float, default=d.retry_min_s)
    retry_max = reader.get("notify.retry_max_s", float, default=d.retry_max_s)
    if not 0.1 <= retry_min <= retry_max:
        reader.problem("notify.retry_min_s", "must be at least 0.1 and at most retry_max_s")
    return NotifySettings(
        targets=targets,
        warning_roles=roles["warning_roles"],
        device_roles=roles["device_roles"],
        offline_after_s=reader.get(
            "notify.offline_after_s", float, default=d.offline_after_s, check=in_range(1, 7 * 86400)
        ),
        check_s=reader.get("notify.check_s", float, default=d.check_s, check=in_range(0.1, 3600)),
        timeout_s=reader.get(
            "notify.timeout_s", float, default=d.timeout_s, check=in_range(0.5, 120)
        ),
        retry_min_s=retry_min,
        retry_max_s=retry_max,
        max_attempts=reader.get(
            "notify.max_attempts", int, default=d.max_attempts, check=in_range(1, 1000)
        ),
        max_pending=reader.get(
            "notify.max_pending", int, default=d.max_pending, check=in_range(1, 1_000_000)
        ),
        keep_days=reader.get("notify.keep_days", int, default=d.keep_days, check=in_range(1, 3660)),
        poll_s=reader.get("notify.poll_s", float, default=d.poll_s, check=in_range(0.01, 10)),
    )


def _roles_check(value: list[Any]) -> str | None:
    unknown = [v for v in value if v not in ROLES]
    return f"unknown roles {unknown!r}; roles are {', '.join(ROLES)}" if unknown else None


def _read_targets(reader: ConfigReader, secret: Secret, directory: Directory) -> tuple[Target, ...]:
    # Problems name the role and position of a URL, never its text.
    key = "notify.urls"
    try:
        data = tomllib.loads(secret.reveal())
    except tomllib.TOMLDecodeError as exc:
        reader.problem(key, f"not valid TOML: {exc}")
        return ()
    targets: list[Target] = []
    for role, value in data.items():
        if role not in ROLES:
            reader.problem(key, f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        elif role == "dept_head":
            if not isinstance(value, dict):
                reader.problem(key, "dept_head: must be a table of department ids to URL lists")
                continue
            for department, urls in value.items():
                if department not in directory.departments:
                    reader.problem(key, f"dept_head: unknown department {department!r}")
                    continue
                where = f"dept_head.{department}"
                targets.extend(_targets(reader, where, role, department, urls))
        else:
            targets.extend(_targets(reader, role, role, None, value))
    return tuple(targets)


def _targets(
    reader: ConfigReader, where: str, role: str, department: str | None, urls: object
) -> list[Target]:
    apprise = load_apprise()
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        reader.problem("notify.urls", f"{where}: must be a list of URL strings")
        return []
    found = []
    for i, url in enumerate(urls):
        with apprise_messages():
            plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            scheme = url.split("://", 1)[0] if "://" in url else "(none)"
            reader.problem(
                "notify.urls", f"{where}[{i}]: not a URL apprise can send to (scheme {scheme})"
            )
            continue
        channel = url.split("://", 1)[0].lower()
        found.append(Target(role, department, Secret(url), channel, plugin.url(privacy=True)))
    return found
