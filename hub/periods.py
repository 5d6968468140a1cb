"""Days, months and years in the hall's time zone, and the UTC instants that bound them.

Votes carry their cast time in UTC (``cast_at``, milliseconds since the epoch,
see ``hub.instants``);
everything a manager counts by — a day, a month, a year — is local to the
hall. A period key is the local date cut to its grain: ``2026-11-22``,
``2026-11`` or ``2026``; its grain is told by its length, so keys of all
grains can share one column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from device_agent.protocol import format_time, parse_time
from hub import instants

Grain = Literal["day", "month", "year"]
GRAINS: tuple[Grain, ...] = ("day", "month", "year")
_KEY_LENGTH: dict[int, Grain] = {10: "day", 7: "month", 4: "year"}
# [0-9], not \d: \d also takes other scripts' digits ("２０２６"), which int() reads
# but no stored key is written in.
_KEY = {
    "day": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
    "month": re.compile(r"[0-9]{4}-[0-9]{2}"),
    "year": re.compile(r"[0-9]{4}"),
}
_WEEK = re.compile(r"([0-9]{4})-W([0-9]{2})")


@dataclass(frozen=True, slots=True)
class PeriodKeys:
    """The day, month and year a moment falls in, in the hall's time zone."""

    day: str
    month: str
    year: str

    def items(self) -> tuple[tuple[Grain, str], ...]:
        """``(grain, key)`` for each grain."""
        return (("day", self.day), ("month", self.month), ("year", self.year))


def grain_of(key: str) -> Grain:
    """The grain of a period key (``2026`` is a year, ``2026-11`` a month, ...)."""
    grain = _KEY_LENGTH.get(len(key))
    if grain is None or not _KEY[grain].fullmatch(key):
        raise ValueError(f"not a period key (YYYY, YYYY-MM or YYYY-MM-DD): {key!r}")
    return grain


def checked_period(key: str) -> Grain:
    """The grain of a period key that names a real date; raises ValueError otherwise."""
    grain = grain_of(key)
    _local_dates(key)
    return grain


class Calendar:
    """Period keys and bounds in one time zone (the hall's, Asia/Shanghai by default)."""

    def __init__(self, timezone: str = "Asia/Shanghai") -> None:
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)
        # Offsets are whole minutes, so every cast time in one minute shares its keys.
        self._keys_of_minute = lru_cache(maxsize=65536)(self._keys_of_minute_uncached)
        self._keys_of_ms_minute = lru_cache(maxsize=65536)(self._keys_of_ms_minute_uncached)
        self._hour_of_ms_minute = lru_cache(maxsize=65536)(self._hour_of_ms_minute_uncached)

    def keys(self, cast_at: int | str) -> PeriodKeys:
        """The period keys of a cast time (milliseconds since the epoch, or ISO 8601 text)."""
        if isinstance(cast_at, int):
            # Floored to its minute: every instant of one minute shares its keys.
            return self._keys_of_ms_minute(cast_at // 60_000)
        if cast_at.endswith("+00:00") and len(cast_at) >= 16:
            return self._keys_of_minute(cast_at[:16])
        return self._keys_of(parse_time(cast_at))

    def hour(self, cast_at: int | str) -> str:
        """The local hour of a cast time (as :meth:`keys` takes it): ``2026-11-05T14``.

        Its first 10, 7 and 4 characters are the day, month and year keys.
        """
        if isinstance(cast_at, int):
            return self._hour_of_ms_minute(cast_at // 60_000)
        return parse_time(cast_at).astimezone(self.zone).isoformat()[:13]

    def _hour_of_ms_minute_uncached(self, minute: int) -> str:
        # isoformat, not strftime: see _keys_of.
        return instants.moment(minute * 60_000).astimezone(self.zone).isoformat()[:13]

    def _keys_of_minute_uncached(self, minute: str) -> PeriodKeys:
        return self._keys_of(datetime.fromisoformat(minute).replace(tzinfo=UTC))

    def _keys_of_ms_minute_uncached(self, minute: int) -> PeriodKeys:
        return self._keys_of(instants.moment(minute * 60_000))

    def _keys_of(self, moment: datetime) -> PeriodKeys:
        # isoformat, not strftime("%Y"): glibc writes year 999 as "999", not "0999".
        day = moment.astimezone(self.zone).date().isoformat()
        return PeriodKeys(day=day, month=day[:7], year=day[:4])

    def current(self, now: datetime, grain: Grain) -> str:
        """The key of the ``grain`` period containing ``now``."""
        keys = self._keys_of(now)
        return {"day": keys.day, "month": keys.month, "year": keys.year}[grain]

    def bounds(self, key: str) -> tuple[str, str]:
        """The UTC instants ``[start, end)`` of a period, as the protocol writes times.

        Comparing these strings with a service event's ``cast_at`` is comparing
        instants, because every one is written in UTC with the same precision.
        """
        start, end = _local_dates(key)
        return self._utc(start), self._utc(end)

    def bounds_ms(self, key: str) -> tuple[int, int]:
        """The instants ``[start, end)`` of a period as stored ``cast_at`` is (milliseconds)."""
        start, end = _local_dates(key)
        return self._ms(start), self._ms(end)

    def week_days(self, week: str) -> list[str]:
        """The seven day keys of an ISO week written ``2026-W47``."""
        match = _WEEK.fullmatch(week)
        if not match:
            raise ValueError(f"not an ISO week (YYYY-Www): {week!r}")
        try:
            monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
        except ValueError as exc:
            raise ValueError(f"not an ISO week: {week!r} ({exc})") from None
        return [(monday + timedelta(days=i)).isoformat() for i in range(7)]

    def _utc(self, local: date) -> str:
        midnight = datetime(local.year, local.month, local.day, tzinfo=self.zone)
        return format_time(midnight.astimezone(UTC))

    def _ms(self, local: date) -> int:
        return instants.ms_of(datetime(local.year, local.month, local.day, tzinfo=self.zone))


def _local_dates(key: str) -> tuple[date, date]:
    grain = grain_of(key)
    if grain == "year":
        year = int(key)
        return date(year, 1, 1), date(year + 1, 1, 1)
    if grain == "month":
        year, month = int(key[:4]), int(key[5:7])
        if not 1 <= month <= 12:
            raise ValueError(f"no month {month} in {key!r}")
        first = date(year, month, 1)
        return first, date(year + month // 12, month % 12 + 1, 1)
    day = date.fromisoformat(key)
    return day, day + timedelta(days=1)
