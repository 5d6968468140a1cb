"""``hallrate report``: the month-end tally per person, and the weekly ranking; CSV or JSON.

``report monthly --month 2026-11`` lists every staff member's dissatisfied
votes in the month, as the supervision office tallies them at month end,
with the warnings raised for that month. ``report ranking --week 2026-W47``
ranks windows and departments by the Wilson lower bound of their share of
satisfied votes (levels 3–5): a window with 3 votes out of 3 does not
outrank one with 190 out of 200, and nothing with fewer than
``--min-votes`` votes is ranked at all. Both read the kept counts, never
the raw votes.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from hub import aggregates
from hub.config import HubConfig
from hub.periods import Calendar, checked_period

MONTHLY_COLUMNS = (
    "staff",
    "name",
    "department",
    "votes",
    "dissatisfied",
    "level_2",
    "level_1",
    "satisfaction",
    "warnings",
)
RANKING_COLUMNS = (
    "kind",
    "rank",
    "subject",
    "name",
    "votes",
    "dissatisfied",
    "satisfaction",
    "wilson_lower",
)


def _counts(conn: sqlite3.Connection, scope: str, periods: list[str]) -> dict[str, list[int]]:
    names = ", ".join(aggregates.COUNT_COLUMNS)
    marks = ", ".join("?" * len(periods))
    rows = conn.execute(
        f"SELECT subject, {names} FROM counts WHERE scope = ? AND period IN ({marks})",
        [scope, *periods],
    )
    grouped: dict[str, list[int]] = {}
    for subject, *values in rows:
        total = grouped.setdefault(subject, [0] * len(aggregates.COUNT_COLUMNS))
        for i, value in enumerate(values):
            total[i] += value
    return grouped


def _col(values: list[int], name: str) -> int:
    return values[aggregates.COUNT_COLUMNS.index(name)]


def monthly(conn: sqlite3.Connection, config: HubConfig, month: str) -> list[dict[str, Any]]:
    """Every staff member's votes and dissatisfied votes in ``month``, most dissatisfied first."""
    counts = _counts(conn, "staff", [month])
    warnings: dict[str, list[str]] = {}
    for staff, level in conn.execute(
        "SELECT staff, level FROM warnings WHERE period = ? AND withdrawn_at IS NULL ORDER BY rank",
        (month,),
    ):
        warnings.setdefault(staff, []).append(level)
    zero = [0] * len(aggregates.COUNT_COLUMNS)
    people = dict.fromkeys(config.directory.staff) | dict.fromkeys(counts)
    rows = []
    for staff in people:
        values = counts.get(staff, zero)
        entry = config.directory.staff.get(staff)
        total, bad = _col(values, "total"), _col(values, "dissatisfied")
        rows.append(
            {
                "staff": staff,
                "name": entry.name if entry else None,
                "department": entry.department if entry else None,
                "votes": total,
                "dissatisfied": bad,
                "level_2": _col(values, "level_2"),
                "level_1": _col(values, "level_1"),
                "satisfaction": _round(aggregates.satisfaction(total, bad)),
                "warnings": " ".join(warnings.get(staff, [])),
            }
        )
    rows.sort(key=lambda r: (-r["dissatisfied"], r["staff"]))
    return rows


def ranking(
    conn: sqlite3.Connection, config: HubConfig, days: list[str], *, min_votes: int
) -> list[dict[str, Any]]:
    """Windows, then departments, ranked by Wilson lower bound; the unranked at the end."""
    directory = config.directory
    rows = []
    for kind, names in (("window", directory.windows), ("department", directory.departments)):
        counts = _counts(conn, kind, days)
        entries = []
        for subject in dict.fromkeys(names) | dict.fromkeys(counts):
            values = counts.get(subject, [0] * len(aggregates.COUNT_COLUMNS))
            total, bad = _col(values, "total"), _col(values, "dissatisfied")
            entry = names.get(subject)
            entries.append(
                {
                    "kind": kind,
                    "rank": None,
                    "subject": subject,
                    "name": entry.name if entry else None,
                    "votes": total,
                    "dissatisfied": bad,
                    "satisfaction": _round(aggregates.satisfaction(total, bad)),
                    "wilson_lower": _round(aggregates.wilson_lower_bound(total - bad, total)),
                }
            )
        ranked = sorted(
            (e for e in entries if e["votes"] >= min_votes),
            key=lambda e: (-e["wilson_lower"], -e["votes"], e["subject"]),
        )
        for rank, item in enumerate(ranked, start=1):
            item["rank"] = rank
        unranked = sorted(
            (e for e in entries if e["votes"] < min_votes), key=lambda e: e["subject"]
        )
        rows.extend(ranked + unranked)
    return rows


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def render(rows: list[dict[str, Any]], columns: tuple[str, ...], fmt: str, **head: Any) -> str:
    """The rows as CSV (a header line, then one line per row) or as one JSON document."""
    if fmt == "json":
        return json.dumps({**head, "rows": rows}, ensure_ascii=False, indent=2) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


# ``hallrate report``


@click.group("report", help="Month-end tally per person, weekly ranking (CSV or JSON).")
def command() -> None:
    """``hallrate report monthly|ranking``: 2 on a bad configuration or argument."""


def _output_options(function: Callable[..., int]) -> Callable[..., int]:
    """The options both reports take."""
    options = (
        click.option(
            "--config", required=True, metavar="FILE", help="the hub's TOML configuration"
        ),
        click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv"),
        click.option(
            "--output",
            type=click.Path(path_type=Path),
            help="write here instead of standard output",
        ),
    )
    for option in reversed(options):
        function = option(function)
    return function


@command.command("monthly", help="Dissatisfied votes per person in a month.")
@click.option("--month", required=True, help="YYYY-MM, in the hall's time zone")
@_output_options
def monthly_command(month: str, config: str, fmt: str, output: Path | None) -> int:
    """``hallrate report monthly``."""
    if not _is_month(month):
        print("hallrate report: --month must be YYYY-MM", file=sys.stderr)
        return 2
    with _reading(config) as (conn, hub_config):
        rows = monthly(conn, hub_config, month)
    return _write(render(rows, MONTHLY_COLUMNS, fmt, report="monthly", month=month), output)


@command.command("ranking", help="Windows and departments ranked for a week.")
@click.option("--week", required=True, help="an ISO week, e.g. 2026-W47")
@click.option("--min-votes", type=int, default=30, help="fewer votes than this are not ranked")
@_output_options
def ranking_command(week: str, min_votes: int, config: str, fmt: str, output: Path | None) -> int:
    """``hallrate report ranking``."""
    with _reading(config) as (conn, hub_config):
        try:
            days = Calendar(hub_config.timezone).week_days(week)
        except ValueError as exc:
            print(f"hallrate report: --week: {exc}", file=sys.stderr)
            return 2
        rows = ranking(conn, hub_config, days, min_votes=max(1, min_votes))
    text = render(
        rows,
        RANKING_COLUMNS,
        fmt,
        report="ranking",
        week=week,
        days=[days[0], days[-1]],
        min_votes=min_votes,
        score="Wilson lower bound (95 %) of the share of votes at levels 3-5",
    )
    return _write(text, output)


@contextmanager
def _reading(config: str) -> Iterator[tuple[sqlite3.Connection, HubConfig]]:
    """The hub's database, read-only, and its configuration; exits 2 when there is none."""
    from device_agent.storage import open_reader
    from hub.config import load_hub_config

    hub_config = load_hub_config(config)
    if not hub_config.database.exists():
        print(f"hallrate report: no database at {hub_config.database}", file=sys.stderr)
        raise click.exceptions.Exit(2)
    db = open_reader(hub_config.database)
    try:
        yield db.conn, hub_config
    finally:
        db.close()


def _write(text: str, output: Path | None) -> int:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
    return 0


def _is_month(value: str) -> bool:
    try:
        return checked_period(value) == "month"
    except ValueError:
        return False
