"""What the store runs inside each commit: counts first, then the warnings they call for.

:class:`Counting` ties the aggregates, the warning engine and the forwarding
outbox of one hall together. The ingest path calls :meth:`Counting.apply`
from the transaction that stores a batch, so a warning exists the moment the
vote that reaches its threshold is stored — or neither does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from device_agent.protocol import format_time
from hub import aggregates
from hub.aggregates import Attribution, RebuildReport
from hub.config import HubConfig
from hub.forwarding import ForwardingQueue
from hub.periods import Calendar
from hub.rules import HubRules, rejudge
from hub.warnings import WarningEngine

# The summary's reads, one group in one period each (a range of the counts' key).
SUMMARY_SCOPES = ("department", "hall", "window")  # in the order the summary lists them
SUMMARY_COUNTS_SQL = (
    f"SELECT scope, subject, period, {', '.join(aggregates.COUNT_COLUMNS)} FROM counts"
    " WHERE scope = ? AND period = ? ORDER BY subject"
)
SUMMARY_STAFF_SQL = (
    "SELECT subject, dissatisfied, total FROM counts WHERE scope = 'staff'"
    " AND period = ? AND dissatisfied > 0"
)


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """The outcome of a rebuild: the counts' report and the warnings it moved."""

    counts: RebuildReport
    warnings_changed: list[str]
    verdicts_changed: list[str]


class Counting:
    """Counts, warnings and forwarding of one hall, applied inside the caller's transaction."""

    def __init__(
        self, config: HubConfig, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.config = config
        self.now = now
        self.attribution = Attribution(config.hall, config.directory)
        self.calendar = Calendar(config.timezone)
        self.rules = HubRules(
            config.rules,
            config.directory,
            timezone=config.timezone,
            clock_skew_s=config.ingest.clock_skew_s,
        )
        self.outbox = ForwardingQueue(config.forwarding.channels, now=now)
        self.engine = WarningEngine(
            config.warnings.rules,
            attribution=self.attribution,
            calendar=self.calendar,
            outbox=self.outbox,
            now=now,
        )

    def apply(self, conn: sqlite3.Connection) -> None:
        """Count the votes stored since the last call and raise the warnings now due."""
        tally = aggregates.apply(conn, self.attribution, self.calendar)
        if tally.staff_periods:
            column = aggregates.DISSATISFIED_INDEX
            increases = {
                (staff, period): tally.deltas[("staff", staff, period)][column]
                for staff, period in tally.staff_periods
            }
            self.engine.review(conn, self.engine.crossed(conn, increases))

    def rebuild(self, conn: sqlite3.Connection, *, by: str = "rebuild") -> Rebuilt:
        """Judge every vote again, recompute every count from the raw votes, align warnings."""
        verdicts = rejudge(conn, self.rules)
        report = aggregates.rebuild(conn, self.attribution, self.calendar)
        staff_periods = {
            (row[0], row[1])
            for row in conn.execute(
                "SELECT subject, period FROM counts WHERE scope = 'staff' AND grain != 'day'"
                " UNION SELECT staff, period FROM warnings"
            )
        }
        changed = self.engine.review(conn, staff_periods, by=by, cause={"rebuild": True})
        return Rebuilt(report, changed, verdicts)

    def summary(self, conn: sqlite3.Connection) -> dict[str, Any]:
        """The hall's current numbers for central: today, this month, this year."""
        now = self.now()
        generated = format_time(now)
        periods = {grain: self.calendar.current(now, grain) for grain in ("day", "month", "year")}
        counts: dict[str, list[dict[str, Any]]] = {}
        staff: dict[str, list[dict[str, Any]]] = {}
        for grain, period in periods.items():
            counts[grain] = aggregates.rows_as_dicts(
                row
                for scope in SUMMARY_SCOPES
                for row in conn.execute(SUMMARY_COUNTS_SQL, (scope, period))
            )
            if grain != "day":
                rows = conn.execute(SUMMARY_STAFF_SQL, (period,)).fetchall()
                # One row per staff member: sorted here, not by a temporary B-tree.
                rows.sort(key=lambda r: (-r[1], r[0]))
                staff[grain] = [{"staff": r[0], "dissatisfied": r[1], "total": r[2]} for r in rows]
        standing = conn.execute(
            "SELECT count(*) FROM warnings WHERE withdrawn_at IS NULL AND status != 'closed'"
        ).fetchone()[0]
        stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        return {
            "v": 1,
            "message_id": f"summary-{stamp}",
            "hall": self.config.hall,
            "name": self.config.directory.name,
            "timezone": self.config.timezone,
            "generated_at": generated,
            "periods": periods,
            "counts": counts,
            "staff_dissatisfied": staff,
            "open_warnings": standing,
        }


def rebuild_database(config: HubConfig) -> int:
    """``hallrate hub rebuild``: recount a hub's database and report what differed."""
    from device_agent.storage import write_transaction
    from hub.store import Store

    store = Store(config.database)
    try:
        with write_transaction(store.db) as conn:
            rebuilt = Counting(config).rebuild(conn)
    finally:
        store.close()
    report = rebuilt.counts
    verdict = (
        "identical to the kept counts" if report.identical else f"{len(report.changed)} differed"
    )
    print(f"rebuilt {report.rows} count rows from {report.votes} votes: {verdict}")
    for scope, subject, period in report.changed[:20]:
        print(f"  corrected {scope} {subject} {period}")
    print(f"votes judged differently by the hub's rules: {len(rebuilt.verdicts_changed)}")
    for ident in rebuilt.verdicts_changed[:20]:
        print(f"  {ident}")
    print(f"warnings changed: {len(rebuilt.warnings_changed)}")
    for ident in rebuilt.warnings_changed:
        print(f"  {ident}")
    return 0
