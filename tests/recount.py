"""An independent recount of a hub's database, to check its counts and warnings against.

It reads the raw ``votes`` and ``vote_voids`` tables and knows nothing of
``hub.aggregates``: what a hall with the test directory (one department,
``civil``) and the small :data:`RULES` should show.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

from hub.aggregates import COUNT_COLUMNS
from tests.hall import query

SHANGHAI = ZoneInfo("Asia/Shanghai")
WINDOW_DEPARTMENT = "civil"
# Small thresholds, so a few dozen votes cross them, in both grains.
RULES = (
    "[warnings]\n"
    '[[warnings.rules]]\nlevel = "III"\nmonthly = 2\nyearly = 4\naction = "告诫"\n'
    '[[warnings.rules]]\nlevel = "II"\nmonthly = 3\nyearly = 6\naction = "谈话"\n'
    '[[warnings.rules]]\nlevel = "I"\nmonthly = 5\nyearly = 8\naction = "诫勉"\n'
)
THRESHOLDS = {"III": (2, 4), "II": (3, 6), "I": (5, 8)}
ORDER = ("III", "II", "I")


def recount(database):
    """Counts and standing warnings from the raw votes, independently of hub.aggregates."""
    voided = {r[0] for r in query(database, "SELECT vote_id FROM vote_voids")}
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(COUNT_COLUMNS))
    dissatisfied: dict[tuple[str, str], list[str]] = defaultdict(list)
    for ident, window, staff, level, counted, cast_at in query(
        database,
        "SELECT id, window, staff, level, counted, cast_at FROM votes_readable ORDER BY rowid",
    ):
        local = datetime.fromisoformat(cast_at).astimezone(SHANGHAI)
        periods = [local.strftime("%Y-%m-%d"), local.strftime("%Y-%m"), local.strftime("%Y")]
        subjects = [("hall", "hall")]
        if window or staff:
            subjects.append(("department", WINDOW_DEPARTMENT))
        if window:
            subjects.append(("window", window))
        if staff:
            subjects.append(("staff", staff))
        for scope, subject in subjects:
            for period in periods:
                row = counts[(scope, subject, period)]
                if not counted:
                    row[COUNT_COLUMNS.index("filtered")] += 1
                elif ident in voided:
                    row[COUNT_COLUMNS.index("voided")] += 1
                else:
                    row[level - 1] += 1
                    row[COUNT_COLUMNS.index("total")] += 1
                    row[COUNT_COLUMNS.index("dissatisfied")] += level <= 2
        if staff and counted and ident not in voided and level <= 2:
            for period in periods[1:]:
                dissatisfied[(staff, period)].append(ident)
    standing = {}
    for (staff, period), votes in dissatisfied.items():
        grain = 0 if len(period) == 7 else 1
        holding = [lvl for lvl in ORDER if len(votes) >= THRESHOLDS[lvl][grain]]
        for lvl in holding:
            top = holding[-1]
            standing[f"{staff}-{lvl}-{period}"] = None if lvl == top else f"{staff}-{top}-{period}"
    return {k: tuple(v) for k, v in counts.items() if any(v)}, standing, dissatisfied


def kept(database, hall_id):
    names = ", ".join(COUNT_COLUMNS)
    counts = {
        (scope, "hall" if scope == "hall" else subject, period): tuple(values)
        for scope, subject, period, *values in query(
            database, f"SELECT scope, subject, period, {names} FROM counts"
        )
        if any(values)
    }
    standing = dict(
        query(database, "SELECT id, superseded_by FROM warnings WHERE withdrawn_at IS NULL")
    )
    return counts, standing
