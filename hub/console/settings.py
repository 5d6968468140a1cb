"""The hub config's ``[console]`` section: sessions, and when the live hall marks a window red."""

from __future__ import annotations

from dataclasses import dataclass

from device_agent.configfile import ConfigReader, in_range

CONSOLE_KEYS = ("session_hours", "red_below", "red_min_votes", "streams")


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """How long a login lasts; which windows the live hall marks red; event streams."""

    session_hours: float = 12.0
    # A window whose satisfaction today is below this share, with at least
    # red_min_votes counted votes today, is marked red on the live hall.
    red_below: float = 0.9
    red_min_votes: int = 5
    # Open console pages each hold one HTTP thread for their event stream; at
    # most this many at once (0: a quarter of [api] threads, at least one).
    streams: int = 0


def read_console_settings(reader: ConfigReader) -> ConsoleSettings:
    """Read ``[console]``, recording every problem."""
    reader.reject_unknown("console", CONSOLE_KEYS)
    return ConsoleSettings(
        session_hours=reader.get(
            "console.session_hours", float, default=12.0, check=in_range(0.1, 24 * 30)
        ),
        red_below=reader.get("console.red_below", float, default=0.9, check=in_range(0.0, 1.0)),
        red_min_votes=reader.get(
            "console.red_min_votes", int, default=5, check=in_range(1, 100_000)
        ),
        streams=reader.get("console.streams", int, default=0, check=in_range(0, 64)),
    )
