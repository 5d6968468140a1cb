"""Central's per-person reads: a person's figures added across halls, and county warnings.

:func:`hub.central.accept` keeps each hall's per-person figures in
``central_person_counts`` (one row per hall, period and staff member, each
replaced by the hall's newer summary). Here they are added up per PERSON —
the directory's county-wide ``person`` id — so someone who works in two halls
is counted once, with the sum of both halls' votes. With
``[central] count_per_person`` the ``[warnings]`` thresholds of central's
configuration apply to that sum: 6 dissatisfied votes in one hall and 5 in
another reach a monthly threshold of 10. These county warnings are derived
from the figures on every read, so a hall's recount (an upheld appeal) that
brings a person back under a threshold withdraws theirs at once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from hub.aggregates import satisfaction
from hub.central import PEOPLE_COLUMNS
from hub.periods import checked_period, grain_of
from hub.warnings import WarningRule

# One period's rows of every hall, grouped by the index on (period, person).
PEOPLE_SQL = (
    f"SELECT person, hall, staff, name, {', '.join(PEOPLE_COLUMNS)} FROM central_person_counts"
    " WHERE period = ? ORDER BY person, hall, staff"
)
PERSON_SQL = (
    f"SELECT person, hall, staff, name, {', '.join(PEOPLE_COLUMNS)} FROM central_person_counts"
    " WHERE period = ? AND person = ? ORDER BY hall, staff"
)


def people(conn: sqlite3.Connection, period: str) -> list[dict[str, Any]]:
    """Every person's figures in ``period`` added across halls, most dissatisfied first."""
    checked_period(period)
    found = _grouped(conn.execute(PEOPLE_SQL, (period,)), period)
    found.sort(key=lambda p: (-p["dissatisfied"], p["person"]))
    return found


def person(conn: sqlite3.Connection, ident: str, period: str) -> dict[str, Any] | None:
    """One person's figures in ``period`` across halls; None when no hall counted any."""
    checked_period(period)
    found = _grouped(conn.execute(PERSON_SQL, (period, ident)), period)
    return found[0] if found else None


def _grouped(rows: Iterable[tuple[Any, ...]], period: str) -> list[dict[str, Any]]:
    by_person: dict[str, dict[str, Any]] = {}
    for ident, hall, staff, name, *figures in rows:
        numbers = dict(zip(PEOPLE_COLUMNS, figures, strict=True))
        entry = by_person.setdefault(
            ident,
            {
                "person": ident,
                "name": name,
                "period": period,
                **dict.fromkeys(PEOPLE_COLUMNS, 0),
                "halls": [],
            },
        )
        for column in PEOPLE_COLUMNS:
            entry[column] += numbers[column]
        entry["halls"].append({"hall": hall, "staff": staff, **numbers})
    for entry in by_person.values():
        entry["satisfaction"] = satisfaction(entry["total"], entry["dissatisfied"])
    return list(by_person.values())


def person_warnings(
    conn: sqlite3.Connection, rules: Iterable[WarningRule], periods: Iterable[str]
) -> list[dict[str, Any]]:
    """The county warnings of each month or year in ``periods``: a person's sum over halls
    against each rule's threshold, the most severe level reached; most dissatisfied first."""
    ordered = list(rules)
    found = []
    for period in periods:
        grain = grain_of(period)
        if grain not in ("month", "year"):
            continue
        for entry in people(conn, period):
            reached = [
                rule
                for rule in ordered
                if (limit := rule.threshold(grain)) is not None and entry["dissatisfied"] >= limit
            ]
            if not reached:
                continue
            rule = reached[-1]
            found.append(
                {
                    **entry,
                    "grain": grain,
                    "level": rule.level,
                    "action": rule.action,
                    "threshold": rule.threshold(grain),
                    "across_halls": len({h["hall"] for h in entry["halls"]}) > 1,
                }
            )
    found.sort(key=lambda w: (-w["dissatisfied"], w["person"], w["period"]))
    return found


def hall_satisfaction(summaries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each hall's votes and satisfaction today and this month, from its latest summary."""
    halls = []
    for summary in summaries:
        row: dict[str, Any] = {
            "hall": summary.get("hall"),
            "name": summary.get("name") or summary.get("hall"),
            "generated_at": summary.get("generated_at"),
            "received_at": summary.get("received_at"),
            "open_warnings": summary.get("open_warnings"),
        }
        counts = summary.get("counts") or {}
        for grain in ("day", "month"):
            hall_rows = [r for r in counts.get(grain, []) if r.get("scope") == "hall"]
            total = sum(int(r.get("total", 0)) for r in hall_rows)
            unhappy = sum(int(r.get("dissatisfied", 0)) for r in hall_rows)
            row[grain] = {
                "period": (summary.get("periods") or {}).get(grain),
                "total": total,
                "dissatisfied": unhappy,
                "satisfaction": satisfaction(total, unhappy),
            }
        halls.append(row)
    return halls
