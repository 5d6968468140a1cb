"""What the store runs inside each commit: counts first, then the warnings they call for.

:class:`Counting` ties the aggregates, the warning engine and the forwarding
outbox of one hall together. The ingest path calls :meth:`Counting.apply`
from the transaction that stores a batch, so a warning exists the moment the
vote that reaches its threshold is stored — or neither does.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlite_utils

from device_agent.protocol import format_time
from hub import aggregates
from hub.aggregates import Attribution
from hub.central import PEOPLE_COLUMNS, PEOPLE_ROW
from hub.config import HubConfig
from hub.forwarding import ForwardingQueue
from hub.notify.notices import NoticeQueue
from hub.periods import Calendar
from hub.rebuild import Pacing, Progress, Rebuilt, rebuild
from hub.rules import HubRules
from hub.warnings import WarningEngine

logger = logging.getLogger(__name__)

PROGRESS_S = 5.0  # seconds between progress lines of a long rebuild

# The summary's reads, one group in one period each (a range of the counts' key).
SUMMARY_SCOPES = ("department", "hall", "window")  # in the order the summary lists them
SUMMARY_COUNTS_SQL = (
    f"SELECT scope, subject, period, {', '.join(aggregates.COUNT_COLUMNS)} FROM counts"
    " WHERE scope = ? AND period = ? ORDER BY subject"
)
# The per-person figures (issue 13): every staff member's counted votes by level in
# one period, so central can add a person's figures across halls.
# What a summary may weigh, below the hall broker's max_packet_size of 64 KiB.
SUMMARY_BUDGET = 60 * 1024
SUMMARY_PEOPLE_SQL = (
    f"SELECT subject, {', '.join(PEOPLE_COLUMNS)} FROM counts WHERE scope = 'staff'"
    " AND period = ? AND total > 0 ORDER BY subject"
)
SUMMARY_STAFF_SQL = (
    "SELECT subject, dissatisfied, total FROM counts WHERE scope = 'staff'"
    " AND period = ? AND dissatisfied > 0"
)


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
        # Issue 13: a warning's notices are queued with it, sent by hub.notify.sender.
        self.notices = (
            NoticeQueue(config.notify, config.directory, timezone=config.timezone, now=now)
            if config.notify.enabled
            else None
        )
        self.engine = WarningEngine(
            config.warnings.rules,
            attribution=self.attribution,
            calendar=self.calendar,
            outbox=self.outbox,
            notices=self.notices,
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

    def rebuild(
        self,
        db: sqlite_utils.Database,
        *,
        by: str = "rebuild",
        pacing: Pacing | None = None,
        progress: Progress | None = None,
    ) -> Rebuilt:
        """Judge every vote again, recount from the raw votes, align warnings (``hub.rebuild``).

        Opens its own short transactions on ``db`` (not in a transaction), so
        it can run beside a hub that keeps ingesting.
        """
        return rebuild(db, self, by=by, pacing=pacing, progress=progress)

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
        document = {
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
        # The periods just ended go too while the message stays small enough for the
        # hall broker (max_packet_size); a big hall sends the current periods only, and a
        # very big one this month and year only.
        for people_periods in (
            [*periods.values(), *previous_periods(periods)],
            list(periods.values()),
            [periods["month"], periods["year"]],
        ):
            document.update(self.people(conn, people_periods))
            if len(encode_summary(document)) <= SUMMARY_BUDGET:
                break
        else:
            logger.warning("the hall summary exceeds %d bytes", SUMMARY_BUDGET)
        return document

    def people(self, conn: sqlite3.Connection, periods: list[str]) -> dict[str, Any]:
        """Each staff member's counted votes by level in ``periods``, and who they are.

        ``people`` has one row per staff member and period (the columns of
        ``people_columns``); ``people_names`` gives each of them their person —
        the directory's county-wide ``person`` id, or ``hall:staff`` without one —
        and name.
        """
        directory = self.config.directory.staff
        hall = self.config.hall
        rows: list[list[Any]] = []
        names: dict[str, dict[str, str]] = {}
        for period in periods:
            for subject, *figures in conn.execute(SUMMARY_PEOPLE_SQL, (period,)):
                rows.append([period, subject, *figures])
                if subject not in names:
                    entry = directory.get(subject)
                    person = entry.person if entry is not None and entry.person else None
                    names[subject] = {
                        "person": person or f"{hall}:{subject}",
                        "name": entry.name if entry is not None else subject,
                    }
        return {
            "people_periods": periods,
            "people_columns": list(PEOPLE_ROW),
            "people": rows,
            "people_names": names,
        }


def encode_summary(document: dict[str, Any]) -> bytes:
    """The summary as the forwarding outbox sends it (compact JSON)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def previous_periods(periods: dict[str, str]) -> list[str]:
    """Yesterday, last month and last year of the current ``periods``.

    The summary carries them too, so a recount just after a period ends (an
    appeal upheld on the 1st) still reaches central.
    """
    day = date.fromisoformat(periods["day"]) - timedelta(days=1)
    month = date.fromisoformat(periods["month"] + "-01") - timedelta(days=1)
    return [day.isoformat(), month.isoformat()[:7], f"{int(periods['year']) - 1:04d}"]


def rebuild_database(config: HubConfig, *, pacing: Pacing | None = None) -> int:
    """``hallrate hub rebuild``: rebuild a hub's database beside its running hub; report."""
    from hub.errors import StateError
    from hub.store import Store

    store = Store(config.database)
    shown = {"at": time.monotonic()}

    def progress(phase: str, done: int) -> None:
        # A line every few seconds, so a long rebuild shows it is moving.
        if time.monotonic() - shown["at"] >= PROGRESS_S:
            shown["at"] = time.monotonic()
            print(f"  {phase}: {done:,}", file=sys.stderr, flush=True)

    try:
        rebuilt = Counting(config).rebuild(store.db, pacing=pacing, progress=progress)
    except StateError as exc:
        print(f"hub rebuild: {exc}", file=sys.stderr)
        return 1
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
    reads = sum(p.reads for p in rebuilt.phases)
    writes = sum(p.writes for p in rebuilt.phases)
    print(
        f"took {rebuilt.seconds:.1f} s in {reads} read and {writes} write transactions;"
        f" the longest held the write lock {rebuilt.longest_hold_s * 1000:.0f} ms"
    )
    for phase in rebuilt.phases:
        longest = f", longest {phase.longest_hold_s * 1000:.0f} ms" if phase.writes else ""
        print(
            f"  {phase.name}: {phase.seconds:.1f} s, {phase.reads} reads, {phase.writes} writes"
            + longest
        )
    return 0
