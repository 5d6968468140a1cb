"""The ``[cases]`` section: case classes as stages with working-day limits, the calendar.

Each class is a list of stages; a stage ends when the case reaches its
``until`` step and has ``days`` working days from the day it began (the
first stage begins on the day of receipt, which does not count)::

    [cases]
    default_class = "ordinary"      # kiosk complaints and staff registrations
    warning_class = "important"     # the notice of a warning (预警告知函, 限期整改)
    calendar_override = "workdays.toml"

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
from dataclasses import dataclass, field

from device_agent.configfile import ConfigReader, in_range
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
CASE_KEYS = ("default_class", "warning_class", "calendar_override", "classes")
CLASS_KEYS = ("name", "label", "approval", "stages")
STAGE_KEYS = ("name", "label", "until", "days")


@dataclass(frozen=True, slots=True)
class Stage:
    """One stage of a class: it ends when the case reaches ``until``, within ``days``."""

    name: str
    label: str
    until: str
    days: int


@dataclass(frozen=True, slots=True)
class CaseClass:
    """A class of cases: its stages in order, and whether a leader approves the answer."""

    name: str
    label: str
    approval: bool
    stages: tuple[Stage, ...]


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


@dataclass(frozen=True, slots=True)
class CaseSettings:
    """The case classes, the class each automatic source opens, and the calendar override."""

    classes: tuple[CaseClass, ...] = DEFAULT_CLASSES
    default_class: str = "ordinary"
    warning_class: str = "important"
    override: CalendarOverride = field(default_factory=CalendarOverride)

    def case_class(self, name: str) -> CaseClass:
        """The class named ``name``; raises KeyError."""
        for case_class in self.classes:
            if case_class.name == name:
                return case_class
        raise KeyError(name)


def _name_check(value: str) -> str | None:
    return None if NAME.fullmatch(value) else "must be lowercase letters, digits or _ (1-32)"


def _label_check(value: str) -> str | None:
    return None if 0 < len(value) <= 32 else "must be 1-32 characters"


def read_case_settings(reader: ConfigReader) -> CaseSettings:
    """Read ``[cases]``, recording every problem."""
    reader.reject_unknown("cases", CASE_KEYS)
    classes = tuple(_read_class(item) for item in reader.items("cases.classes")) or DEFAULT_CLASSES
    names = [c.name for c in classes]
    for i, name in enumerate(names):
        if name in names[:i]:
            reader.problem(f"cases.classes[{i}].name", f"duplicate class {name!r}")
    settings = {}
    for key, default in (("default_class", "ordinary"), ("warning_class", "important")):
        value = reader.get(f"cases.{key}", str, default=default)
        if value not in names:
            reader.problem(f"cases.{key}", f"no class {value!r}; classes: {', '.join(names)}")
        settings[key] = value
    override = CalendarOverride()
    if reader.has("cases.calendar_override"):
        path = reader.path_value("cases.calendar_override")
        override, problems = read_override(path)
        for problem in problems:
            reader.problem("cases.calendar_override", problem)
    return CaseSettings(classes=classes, override=override, **settings)


def _read_class(item: ConfigReader) -> CaseClass:
    item.reject_unknown("", CLASS_KEYS)
    name = item.get("name", str, check=_name_check)
    label = item.get("label", str, default=name, check=_label_check)
    approval = item.get("approval", bool, default=False)
    stages = []
    for sub in item.items("stages"):
        sub.reject_unknown("", STAGE_KEYS)
        stage_name = sub.get("name", str, check=_name_check)
        stages.append(
            Stage(
                stage_name,
                sub.get("label", str, default=stage_name, check=_label_check),
                sub.get(
                    "until",
                    str,
                    check=lambda v: (
                        None if v in CHAIN[1:6] else f"must be one of {', '.join(CHAIN[1:6])}"
                    ),
                ),
                sub.get("days", int, check=in_range(1, MAX_WORKDAYS)),
            )
        )
    if not stages:
        item.problem("stages", "a class needs at least one stage")
    ranks = [CHAIN.index(s.until) for s in stages if s.until in CHAIN]
    if ranks != sorted(set(ranks)):
        item.problem("stages", "each stage must end at a later step than the one before")
    return CaseClass(name, label, approval, tuple(stages))
