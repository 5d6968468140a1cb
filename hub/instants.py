"""Instants as the hub stores them: whole milliseconds since 1970-01-01 UTC.

A vote's cast and arrival times are kept as integers (6 bytes where the ISO
text took 29), compared and indexed as numbers. Everything a person reads —
the API, the console, the ``votes_readable`` view — shows them as the
protocol writes times, ISO 8601 in UTC with milliseconds
(``2026-11-20T01:00:00.000+00:00``), and :func:`iso` gives back exactly that.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from device_agent.protocol import format_time, parse_time

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


def ms_of(moment: datetime) -> int:
    """An aware time as milliseconds since the epoch (floored, as ``format_time`` cuts)."""
    return (moment - EPOCH) // MS


def ms_of_text(text: str) -> int:
    """An ISO 8601 time with an offset as milliseconds since the epoch.

    Raises ValueError for text that is no such time, and OverflowError for a
    time whose UTC falls outside the years 1-9999.
    """
    return ms_of(parse_time(text).astimezone(UTC))


def moment(ms: int) -> datetime:
    """Milliseconds since the epoch as an aware UTC time."""
    return EPOCH + ms * MS


def iso(ms: int) -> str:
    """Milliseconds since the epoch as the protocol writes a time (UTC, milliseconds)."""
    return format_time(moment(ms))


def iso_or_none(ms: int | None) -> str | None:
    """:func:`iso`, passing None through (a column that may be empty)."""
    return None if ms is None else iso(ms)


def hour_of(ms: int) -> int:
    """The UTC hour number (hours since the epoch) of an instant."""
    return ms // HOUR_MS


def readable_sql(column: str) -> str:
    """SQL that shows an integer instant column as :func:`iso` does, for views.

    SQLite's ``%`` and ``/`` truncate toward zero; the ``+ 1000) % 1000`` keeps
    the milliseconds of a time before 1970 right, as Python's floor does.
    """
    frac = f"(({column} % 1000) + 1000) % 1000"
    return (
        f"strftime('%Y-%m-%dT%H:%M:%S', ({column} - {frac}) / 1000, 'unixepoch')"
        f" || printf('.%03d', {frac}) || '+00:00'"
    )
