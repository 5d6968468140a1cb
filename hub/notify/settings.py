"""The ``[notify]`` section: who is told what, through which apprise URLs.

The URLs carry tokens (a WeCom bot key, a DingTalk access token, a mail
password), so they never sit in the hub's file: ``urls_file`` or ``urls_env``
names a small TOML document mapping each role to its URLs::

    manager = ["wecombot://BOTKEY"]
    office = ["mailtos://user:password@mail.example.org?to=office@example.org"]
    admin = ["json://127.0.0.1:8099/"]
    [dept_head]
    civil = ["dingtalk://TOKEN/"]
    citizen_sms = ["json://127.0.0.1:8099/sms?to={phone}"]   # {phone}: the citizen's
    [people]                          # one person, by the name cases are assigned to
    zhang = ["json://127.0.0.1:8099/zhang"]

Each URL is kept as a :class:`~device_agent.configfile.Secret`; logs and the
notice log show only apprise's redacted form and the channel kind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import re
import tomllib
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Annotated, Any

from pydantic import Field, ValidationInfo

from device_agent.configfile import (
    Float,
    Int,
    Problems,
    Secret,
    Str,
    between,
    checked,
    cross_check,
    read_secret,
    secret_field,
    section,
)

ROLES = ("manager", "dept_head", "office", "admin")
# The role of a target listed under [people]: one person, such as a case's responsible person.
PERSON = "person"
# The role of a ``citizen_sms`` template: an SMS gateway URL with ``{phone}`` in it, filled
# in with the citizen's number when the notice is sent (hub.notify.sender).
CITIZEN = "citizen"
PHONE = "{phone}"
SAMPLE_PHONE = "13800000000"  # what a template is checked with
# A mainland mobile number: a citizen's SMS goes only there (a landline would not get it).
MOBILE = re.compile(r"1[3-9][0-9]{9}")


@dataclass(frozen=True, slots=True)
class Target:
    """One apprise URL of a role (of one department, for a department head)."""

    role: str  # one of ROLES, or PERSON for a target of one person
    department: str | None
    url: Secret
    channel: str  # the URL's scheme: json, wecombot, dingtalk, mailtos ...
    label: str  # apprise's redacted form of the URL, safe to log
    person: str | None = None  # the person's name, for a target of the [people] table

    @property
    def key(self) -> str:
        """A fingerprint of the URL: how a queued notice names its target without the secret."""
        return hashlib.sha256(self.url.reveal().encode()).hexdigest()[:16]


def _roles_problem(value: tuple[str, ...]) -> str | None:
    unknown = [v for v in value if v not in ROLES]
    return f"unknown roles {unknown!r}; roles are {', '.join(ROLES)}" if unknown else None


Roles = Annotated[tuple[Str, ...], checked(_roles_problem)]


def _notify_problems(
    data: dict[str, Any], problems: Problems, info: ValidationInfo
) -> dict[str, Any] | None:
    """The retry bounds in order, and the targets of the URLs the secret lists."""
    low, high = data.get("retry_min_s", 5.0), data.get("retry_max_s", 600.0)
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
    if numbers and not 0.1 <= low <= high:
        problems.add("retry_min_s", "must be at least 0.1 and at most retry_max_s")
    if "urls" in data:
        return None  # refused by its field: a secret is never written in the file
    secret = read_secret(data, info, "urls", problems)
    if secret is None:
        return None
    directory = (info.context or {}).get("directory")
    departments = directory.departments if directory is not None else None
    return {"targets": _read_targets(problems, secret, departments)}


@section
class NotifySettings:
    """The ``[notify]`` table: where notices go and how hard the sender tries.

    No targets means no notices. ``targets`` are worked out from the URLs the
    secret (``urls_file`` or ``urls_env``) lists; the file cannot set them.
    """

    urls: secret_field("urls") = None
    urls_file: Str = ""
    urls_env: Str = ""
    # Who hears of a warning raised (a department head: of their own department only).
    warning_roles: Roles = ("manager", "dept_head", "office")
    # Who hears of a device offline for longer than ``offline_after_s``, and back online.
    device_roles: Roles = ("admin", "manager")
    offline_after_s: Annotated[Float, between(1, 7 * 86400)] = 600.0
    check_s: Annotated[Float, between(0.1, 3600)] = 30.0
    timeout_s: Annotated[Float, between(0.5, 120)] = 10.0
    retry_min_s: Float = 5.0
    retry_max_s: Float = 600.0
    max_attempts: Annotated[Int, between(1, 1000)] = 12
    max_pending: Annotated[Int, between(1, 1_000_000)] = 10_000
    keep_days: Annotated[Int, between(1, 3660)] = 180
    poll_s: Annotated[Float, between(0.01, 10)] = 0.5
    targets: tuple[Target, ...] = Field(default=(), init=False)

    _cross = cross_check(_notify_problems)

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

    def targets_of_person(self, name: str) -> list[Target]:
        """The targets of the person ``name`` (the ``[people]`` table of the URLs)."""
        return [t for t in self.targets if t.role == PERSON and t.person == name]

    def citizen_targets(self) -> list[Target]:
        """The ``citizen_sms`` templates: an SMS to a citizen's phone."""
        return [t for t in self.targets if t.role == CITIZEN]

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


def _read_targets(
    problems: Problems, secret: Secret, departments: Mapping[str, object] | None
) -> tuple[Target, ...]:
    # Problems name the role and position of a URL, never its text.
    key = "urls"
    try:
        data = tomllib.loads(secret.reveal())
    except tomllib.TOMLDecodeError as exc:
        problems.add(key, f"not valid TOML: {exc}")
        return ()
    targets: list[Target] = []
    for role, value in data.items():
        if role == "citizen_sms":
            targets.extend(_templates(problems, value))
        elif role == "people":
            if not isinstance(value, dict):
                problems.add(key, "people: must be a table of names to URL lists")
                continue
            for name, urls in value.items():
                found = _targets(problems, f"people.{name}", PERSON, None, urls)
                targets.extend(dataclasses.replace(t, person=name) for t in found)
        elif role not in ROLES:
            listed = ", ".join(ROLES)
            problems.add(
                key, f"unknown role {role!r}; roles are {listed} (and people, citizen_sms)"
            )
        elif role == "dept_head":
            if not isinstance(value, dict):
                problems.add(key, "dept_head: must be a table of department ids to URL lists")
                continue
            for department, urls in value.items():
                # Without a valid directory, its own problems are reported instead.
                if departments is not None and department not in departments:
                    problems.add(key, f"dept_head: unknown department {department!r}")
                    continue
                where = f"dept_head.{department}"
                targets.extend(_targets(problems, where, role, department, urls))
        else:
            targets.extend(_targets(problems, role, role, None, value))
    return tuple(targets)


def _targets(
    problems: Problems, where: str, role: str, department: str | None, urls: object
) -> list[Target]:
    apprise = load_apprise()
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        problems.add("urls", f"{where}: must be a list of URL strings")
        return []
    found = []
    for i, url in enumerate(urls):
        with apprise_messages():
            plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            scheme = url.split("://", 1)[0] if "://" in url else "(none)"
            problems.add("urls", f"{where}[{i}]: not a URL apprise can send to (scheme {scheme})")
            continue
        channel = url.split("://", 1)[0].lower()
        found.append(Target(role, department, Secret(url), channel, plugin.url(privacy=True)))
    return found


def _templates(problems: Problems, urls: object) -> list[Target]:
    """``citizen_sms``: URL templates with ``{phone}``, checked with a sample number."""
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        problems.add("urls", "citizen_sms: must be a list of URL strings")
        return []
    apprise = load_apprise()
    found = []
    for i, url in enumerate(urls):
        if PHONE not in url:
            problems.add("urls", f"citizen_sms[{i}]: must contain {PHONE}")
            continue
        with apprise_messages():
            plugin = apprise.Apprise.instantiate(url.replace(PHONE, SAMPLE_PHONE))
        channel = url.split("://", 1)[0].lower() if "://" in url else "(none)"
        if plugin is None:
            problems.add(
                "urls", f"citizen_sms[{i}]: not a URL apprise can send to (scheme {channel})"
            )
            continue
        # The label names the kind only: a log never shows a gateway's token or a number.
        found.append(Target(CITIZEN, None, Secret(url), channel, f"{channel} citizen_sms"))
    return found


def render_phone(target: Target, phone: str) -> Target:
    """A ``citizen_sms`` target with the citizen's number filled in (never logged)."""
    return dataclasses.replace(target, url=Secret(target.url.reveal().replace(PHONE, phone)))
