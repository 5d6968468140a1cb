"""The hub config's ``[console]`` section: sessions, and when the live hall marks a window red."""

from __future__ import annotations

from typing import Annotated

from device_agent.configfile import Float, Int, between, section


@section
class ConsoleSettings:
    """How long a login lasts; which windows the live hall marks red; event streams."""

    session_hours: Annotated[Float, between(0.1, 24 * 30)] = 12.0
    # A window whose satisfaction today is below this share, with at least
    # red_min_votes counted votes today, is marked red on the live hall.
    red_below: Annotated[Float, between(0.0, 1.0)] = 0.9
    red_min_votes: Annotated[Int, between(1, 100_000)] = 5
    # Open console pages each hold one HTTP thread for their event stream; at
    # most this many at once (0: a quarter of [api] threads, at least one).
    streams: Annotated[Int, between(0, 64)] = 0
    # Rankings, the weekly ranking and the monthly report's top/bottom staff rank
    # nothing with fewer counted votes than this (the Wilson lower bound's sample).
    rank_min_votes: Annotated[Int, between(1, 100_000)] = 30
    # The staff page shows a month's scores, dimensions and comments only with at
    # least this many votes: a few ratings could tell who gave them.
    staff_min_votes: Annotated[Int, between(1, 100_000)] = 10
