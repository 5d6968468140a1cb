"""The ``[cases]`` section: case classes as stages with working-day limits, the calendar.

Each class is a list of stages; a stage ends when the case reaches its
``until`` step and has ``days`` working days from the day it began (the
first stage begins on the day of receipt, which does not count)::

    [cases]
    default_class = "ordinary"      # kiosk complaints and staff registrations
    warning_class = "important"     # the notice of a warning (预警告知函, 限期整改)
    followup = true                 # 差评整改: dissatisfied real-name ratings open cases
    followup_levels = [1, 2]
    followup_channels = ["kiosk"]
    calendar_override = "workdays.toml"
    remind_days = 1                 # remind the responsible person 1 working day before
    level_one_days = 2              # level one (the department head) acts within 2 working days
    reminder_check_s = 300.0        # how often the hub looks (when [notify] has targets)

    [[cases.classes]]
    name = "major"
    label = "重大"
    approval = true                 # a leader approves the answer before it goes out
    stages = [
        { name = "claim", label = "签收", until = "in_progress", days = 1 },
        { name = "opinion", label = "办理意见", until = "approved", days = 3 },
        { name = "reply", label = "答复", until = "answered", days = 1 },
    ]

Listing ``[[cases.classes]]`` replaces the default classes (ordinary 7,
important 3, major 一三一) as a whole.
"""

from __future__ import annotations

import re
from dataclasses import field
from typing import Annotated, Any

from pydantic import ValidationInfo, model_validator

from device_agent.configfile import (
    Bool,
    FilePath,
    Float,
    Int,
    Problems,
    Str,
    base_of,
    between,
    checked,
    cross_check,
    empty_means,
    matching,
    one_of,
    repeats,
    section,
)
from hub.cases.calendar import MAX_WORKDAYS, CalendarOverride, read_override

# The chain, in order; a stage ends at one of the steps after registration.
CHAIN = (
    "registered",
    "assigned",
    "in_progress",
    "drafted",
    "approved",
    "answered",
    "checked",
    "archived",
)
NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
Name = Annotated[Str, matching(NAME, "must be lowercase letters, digits or _ (1-32)")]


def _label_problem(value: str) -> str | None:
    return None if 0 < len(value) <= 32 else "must be 1-32 characters"


Label = Annotated[Str, checked(_label_problem)]


def _label_is_name(data: Any) -> Any:
    """A table as written without a label is labelled with its name."""
    if isinstance(data, dict) and "label" not in data and "name" in data:
        return {**data, "label": data["name"]}
    return data


@section
class Stage:
    """One stage of a class: it ends when the case reaches ``until``, within ``days``."""

    name: Name
    label: Label
    until: Annotated[Str, one_of(*CHAIN[1:6])]
    days: Annotated[Int, between(1, MAX_WORKDAYS)]

    _label = model_validator(mode="before")(_label_is_name)


def _class_problems(data: dict[str, Any], problems: Problems, info: ValidationInfo) -> None:
    stages = data.get("stages", [])
    if stages in ([], ()):
        problems.add("stages", "a class needs at least one stage")
    if not isinstance(stages, list):
        return
    ranks = [
        CHAIN.index(s["until"])
        for s in stages
        if isinstance(s, dict) and isinstance(s.get("until"), str) and s["until"] in CHAIN
    ]
    if ranks != sorted(set(ranks)):
        problems.add("stages", "each stage must end at a later step than the one before")


@section
class CaseClass:
    """A class of cases: its stages in order, and whether a leader approves the answer."""

    name: Name
    label: Label
    approval: Bool = False
    stages: tuple[Stage, ...] = ()

    _label = model_validator(mode="before")(_label_is_name)
    _cross = cross_check(_class_problems)


DEFAULT_CLASSES = (
    CaseClass("ordinary", "一般", False, (Stage("reply", "答复", "answered", 7),)),
    CaseClass("important", "重要", True, (Stage("reply", "答复", "answered", 3),)),
    # Chenzhou's "一三一": claimed within 1 working day, a handling opinion within 3,
    # the citizen answered within 1 more.
    CaseClass(
        "major",
        "重大",
        True,
        (
            Stage("claim", "签收", "in_progress", 1),
            Stage("opinion", "办理意见", "approved", 3),
            Stage("reply", "答复", "answered", 1),
        ),
    ),
)


def _cases_problems(
    data: dict[str, Any], problems: Problems, info: ValidationInfo
) -> dict[str, Any] | None:
    """Class names unique, the automatic sources' classes listed, the override readable."""
    if "override" in data:
        problems.add("override", "unknown key")  # read from calendar_override
    written = data.get("classes")
    tables = written if isinstance(written, list) and written else []
    for i, name in repeats(tables, "name"):
        problems.add(f"classes[{i}].name", f"duplicate class {name!r}")
    names = [t.get("name") for t in tables if isinstance(t, dict)] or [
        c.name for c in DEFAULT_CLASSES
    ]
    for key, default in (
        ("default_class", "ordinary"),
        ("warning_class", "important"),
        ("followup_class", ""),
    ):
        value = data.get(key, default)
        if isinstance(value, str) and value and value not in names:
            listed = ", ".join(n for n in names if isinstance(n, str))
            problems.add(key, f"no class {value!r}; classes: {listed}")
    path = data.get("calendar_override")
    if not isinstance(path, str):
        return None
    override, found = read_override((base_of(info) / path).resolve())
    for problem in found:
        problems.add("calendar_override", problem)
    return {"override": override}


@section
class CaseSettings:
    """The ``[cases]`` table: the case classes, the class each automatic source opens,
    and the calendar override (``calendar_override``, read into ``override``)."""

    # Listing [[cases.classes]] replaces the default classes as a whole.
    classes: Annotated[tuple[CaseClass, ...], empty_means(DEFAULT_CLASSES)] = DEFAULT_CLASSES
    default_class: Str = "ordinary"
    warning_class: Str = "important"
    calendar_override: FilePath | None = None
    # Reminders and escalation (hub.cases.reminders): the responsible person is reminded
    # ``remind_days`` working days before a stage's deadline (0: on the day); an overdue
    # case goes to its department's head (level one), and when nobody acts on it within
    # ``level_one_days`` working days, the efficiency office chases (level two).
    remind_days: Annotated[Int, between(0, 30)] = 1
    level_one_days: Annotated[Int, between(0, 60)] = 2
    reminder_check_s: Annotated[Float, between(0.05, 86400)] = 300.0
    # 差评整改: a dissatisfied real-name rating naming a staff member opens a follow-up
    # case (callback, fix, the citizen rates the fix) when ``followup`` is on, for the
    # ``followup_levels`` and the ``followup_channels`` (kiosk, window) listed.
    followup: Bool = False
    followup_levels: tuple[Annotated[Int, between(1, 2)], ...] = (1, 2)
    followup_channels: tuple[Annotated[Str, one_of("kiosk", "window")], ...] = ("kiosk",)
    # 网上公布: the kiosk's public results page lists answered cases, anonymised
    # (no contact, no citizen, digit runs such as phone numbers masked).
    publish_results: Bool = False
    publish_limit: Annotated[Int, between(1, 500)] = 50
    publish_days: Annotated[Int, between(1, 3660)] = 90  # answered within these days
    # The class of a follow-up case; empty: ``default_class``.
    followup_class: Str = ""
    override: CalendarOverride = field(default_factory=CalendarOverride)

    _cross = cross_check(_cases_problems)

    def case_class(self, name: str) -> CaseClass:
        """The class named ``name``; raises KeyError."""
        for case_class in self.classes:
            if case_class.name == name:
                return case_class
        raise KeyError(name)
