"""The official working-day calendar, for case deadlines.

A deadline counts working days after the day of receipt (that day does not
count, as for legal periods). Working days are the State Council's: public
holidays are off, and the weekend days it moves work to (调休) are working
days. The published years come from ``chinese_calendar``; a local override
file adds a year the library does not know yet (or corrects one)::

    # workdays.toml
    workdays = [2027-02-07]          # 调休: a Sunday worked
    holidays = [2027-01-01, 2027-02-05]

A year neither knows falls back to Monday-Friday: deadlines still come out,
a little wrong around that year's holidays, so the fallback is logged once
per year and :meth:`WorkCalendar.warnings` says so for the console.
"""

from __future__ import annotations

import logging
import threading
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar

logger = logging.getLogger(__name__)

MAX_WORKDAYS = 366  # a limit beyond a year of working days is a typo


@dataclass(frozen=True, slots=True)
class CalendarOverride:
    """Official days the library lacks: extra working days and holidays."""

    workdays: frozenset[date] = frozenset()
    holidays: frozenset[date] = frozenset()

    @property
    def years(self) -> frozenset[int]:
        """The years this override speaks for."""
        return frozenset(d.year for d in self.workdays | self.holidays)


def read_override(path: Path) -> tuple[CalendarOverride, list[str]]:
    """The override in ``path`` and the problems found in it (a missing file is one)."""
    problems: list[str] = []
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        return CalendarOverride(), [f"{path}: cannot read: {exc.strerror or exc}"]
    except tomllib.TOMLDecodeError as exc:
        return CalendarOverride(), [f"{path}: not valid TOML: {exc}"]
    for key in data:
        if key not in ("workdays", "holidays"):
            problems.append(f"{path}: {key}: unknown key")
    days: dict[str, frozenset[date]] = {}
    for key in ("workdays", "holidays"):
        values = data.get(key, [])
        if not isinstance(values, list) or not all(
            isinstance(v, date) and not hasattr(v, "hour") for v in values
        ):
            problems.append(f"{path}: {key}: must be a list of dates (2027-01-01, unquoted)")
            values = []
        days[key] = frozenset(values)
    both = days["workdays"] & days["holidays"]
    if both:
        problems.append(
            f"{path}: both a working day and a holiday: {', '.join(sorted(map(str, both)))}"
        )
    return CalendarOverride(days["workdays"], days["holidays"]), problems


@dataclass
class WorkCalendar:
    """Working days: the override first, then the library, else Monday to Friday."""

    override: CalendarOverride = field(default_factory=CalendarOverride)
    _fallen_back: set[int] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def coverage(self, year: int) -> str:
        """``override``, ``official`` (the library's data) or ``weekends`` (the fallback)."""
        if year in self.override.years:
            return "override"
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
        except NotImplementedError:
            return "weekends"
        return "official"

    def is_workday(self, day: date) -> bool:
        """Whether ``day`` is an official working day."""
        if day in self.override.workdays:
            return True
        if day in self.override.holidays:
            return False
        if day.year not in self.override.years:
            try:
                return bool(chinese_calendar.is_workday(day))
            except NotImplementedError:
                self._fall_back(day.year)
        return day.weekday() < 5

    def is_public_holiday(self, day: date) -> bool:
        """Whether ``day`` is off as a public holiday (a weekend inside one included).

        A plain weekend is not; a year known only by its weekends has none.
        """
        if day in self.override.holidays:
            return True
        if day in self.override.workdays or day.year in self.override.years:
            return False
        try:
            off, name = chinese_calendar.get_holiday_detail(day)
        except NotImplementedError:
            self._fall_back(day.year)
            return False
        return bool(off) and name is not None

    def add_workdays(self, start: date, days: int) -> date:
        """The ``days``-th working day after ``start`` (``start`` itself does not count)."""
        if not 0 <= days <= MAX_WORKDAYS:
            raise ValueError(f"days: must be 0 to {MAX_WORKDAYS}, got {days}")
        day = start
        left = days
        while left:
            day += timedelta(days=1)
            if self.is_workday(day):
                left -= 1
        return day

    def fallback_years(self) -> list[int]:
        """The years a deadline was counted in on weekends only, so far."""
        with self._lock:
            return sorted(self._fallen_back)

    def warnings(self, years: Iterable[int]) -> list[str]:
        """What the console shows: each of ``years`` counted on weekends only (中文 first)."""
        return [
            f"{year} 年的法定节假日未知，期限按周一至周五计算；请在日历覆盖文件中补充当年的"
            f"放假和调休安排。 The official calendar of {year} is unknown: deadlines count"
            " Monday to Friday until the override file lists that year's holidays."
            for year in sorted(set(years))
            if self.coverage(year) == "weekends"
        ]

    def _fall_back(self, year: int) -> None:
        with self._lock:
            if year in self._fallen_back:
                return
            self._fallen_back.add(year)
        logger.warning(
            "no official calendar for %d: counting case deadlines on Monday-Friday;"
            " add the year's holidays and adjusted working days to the calendar override file",
            year,
        )
