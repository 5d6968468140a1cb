"""The monthly bulletin per department (通报): how the cases received in a month were handled.

For each department (and the hall), of the cases received in the month
(duplicates merged into another case not counted twice), as of ``now``:

- ``received``; ``answered`` (the answer is out: answered, checked or
  archived); ``answered_on_time`` (its last answer went out by the deadline
  that answer had, recorded in the ``answer`` step); ``answered_late``;
  ``open_overdue`` (not answered, its current stage past its deadline);
  ``overdue`` = ``answered_late`` + ``open_overdue``;
- ``reply_rate`` = answered / received (答复率), ``completion_rate`` =
  archived / received (办结率);
- ``rated`` (cases with a 回访 rating), ``satisfied`` (satisfied or basically
  satisfied, the latest rating) and ``satisfaction`` = satisfied / rated;
- the service-time supervision alerts of the month
  (:func:`hub.supervision.month_counts`): ``alerts_too_fast``,
  ``alerts_overdue``, ``alerts`` (both) and ``alerts_red`` (confirmed).

Rates are shares (0..1, 4 places), None when nothing to divide by.
"""

from __future__ import annotations

import calendar as months
import sqlite3
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hub.cases.chain import Cases
from hub.directory import Directory
from hub.supervision import month_counts

ANSWERED = ("answered", "checked", "archived")
GOOD = ("satisfied", "basically_satisfied")

# The cases received in a month (the cases_received index), with the time and
# the deadline of their last answer (one case's steps, by its key).
_LAST_ANSWER = (
    "SELECT {what} FROM case_events AS e WHERE e.case_id = c.id AND e.event = 'answer'"
    " ORDER BY e.seq DESC LIMIT 1"
)
MONTH_CASES_SQL = f"""
    SELECT c.id, c.department, c.status, c.stage_due_on, c.rating,
           ({_LAST_ANSWER.format(what="e.at")}),
           ({_LAST_ANSWER.format(what="json_extract(e.detail, '$.due')")})
    FROM cases AS c
    WHERE c.received_on >= ? AND c.received_on <= ? AND c.status != 'merged'"""

COUNTS = (
    "received",
    "answered",
    "answered_on_time",
    "answered_late",
    "open_overdue",
    "overdue",
    "archived",
    "rated",
    "satisfied",
    "alerts_too_fast",
    "alerts_overdue",
    "alerts",
    "alerts_red",
)


def month_bounds(month: str) -> tuple[date, date]:
    """The first and last day of ``2026-11``; ValueError for anything else."""
    year, number = (int(p) for p in month.split("-"))
    if len(month) != 7 or not 1 <= number <= 12:
        raise ValueError(f"month: must be YYYY-MM, got {month!r}")
    return date(year, number, 1), date(year, number, months.monthrange(year, number)[1])


def monthly_bulletin(
    book: Cases,
    conn: sqlite3.Connection,
    month: str,
    *,
    directory: Directory,
    now: datetime,
) -> dict[str, Any]:
    """The bulletin of ``month``: a row per department, and the hall's totals."""
    first, last = month_bounds(month)
    today = now.astimezone(ZoneInfo(book.timezone)).date().isoformat()
    rows: dict[str | None, dict[str, int]] = {
        d: dict.fromkeys(COUNTS, 0) for d in directory.departments
    }
    for _, department, status, stage_due, rating, answer_at, answer_due in conn.execute(
        MONTH_CASES_SQL, (first.isoformat(), last.isoformat())
    ):
        row = rows.setdefault(department, dict.fromkeys(COUNTS, 0))
        row["received"] += 1
        if status in ANSWERED:
            row["answered"] += 1
            on_time = answer_due is None or book.local_date(answer_at).isoformat() <= answer_due
            row["answered_on_time" if on_time else "answered_late"] += 1
        elif stage_due is not None and stage_due < today:
            row["open_overdue"] += 1
        if status == "archived":
            row["archived"] += 1
        if rating is not None:
            row["rated"] += 1
            row["satisfied"] += rating in GOOD
    for alerts in month_counts(conn, month, directory):
        row = rows.setdefault(alerts["department"], dict.fromkeys(COUNTS, 0))
        row["alerts_too_fast"] = alerts["too_fast"]["total"]
        row["alerts_overdue"] = alerts["overdue"]["total"]
        row["alerts"] = row["alerts_too_fast"] + row["alerts_overdue"]
        row["alerts_red"] = alerts["too_fast"]["red"] + alerts["overdue"]["red"]
    departments = []
    for department, counts in rows.items():
        known = directory.departments.get(department or "")
        departments.append(
            _with_rates({"department": department, "name": known.name if known else None, **counts})
        )
    hall = {name: sum(r[name] for r in departments) for name in COUNTS}
    return {
        "month": month,
        "as_of": today,
        "departments": departments,
        "hall": _with_rates({"department": None, "name": directory.name or None, **hall}),
    }


def _with_rates(row: dict[str, Any]) -> dict[str, Any]:
    row["overdue"] = row["answered_late"] + row["open_overdue"]
    row["reply_rate"] = _share(row["answered"], row["received"])
    row["completion_rate"] = _share(row["archived"], row["received"])
    row["satisfaction"] = _share(row["satisfied"], row["rated"])
    return row


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
