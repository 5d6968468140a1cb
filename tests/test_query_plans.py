"""The hub's hot queries read an index range: no full scan, no sort of a subject's history.

Each query here is the SQL the hub runs (taken from the module that runs it),
planned by SQLite on a hub database migrated and filled through the real
:class:`hub.store.Store`. A plan that scans a table (``SCAN votes``, ``SCAN
counts``, or any other) or sorts in a temporary B-tree fails, because its cost
would grow with the years of votes a hall keeps. The only sorts allowed are
named below with the rows they sort, which the index range already bounds.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub import (
    aggregates,
    analytics,
    counting,
    county_people,
    county_warnings,
    device_states,
    duty,
    filters,
    presence,
    quarantine,
    rules,
    stats,
    supervision,
    warning_pages,
    warnings,
)
from hub.cases import bulletins, reminders
from hub.cases import store as cases_store
from hub.console import accounts as console_accounts
from hub.console import cases_store as console_cases
from hub.console import devices_list, votes_list
from hub.console import feed as console_feed
from hub.console import live as console_live
from hub.console import notices_store as console_notices
from hub.console import staff_store as console_staff
from hub.console import warnings_store as console_warnings
from hub.instants import HOUR_MS, ms_of_text
from hub.notify import notices, sender
from hub.periods import Calendar
from hub.store import known_votes_sql
from hub.vote_pages import PageQuery, page_sql
from tests.old_schema import written_before_issue_12
from tests.stored_votes import counting_hub, make_vote

# Sorts over rows an index range has already bounded to one subject in one period.
BOUNDED_SORTS = {
    # One staff member's counted dissatisfied votes in one month or year, into arrival order.
    "warnings.votes_behind",
    # One window's (or kiosk's) presses on one day, grouped by rule.
    "filters.window_day",
    "filters.kiosk_day",
    # The votes behind one warning (at most its count), into arrival order.
    "warning_pages.vote_details",
    # One month's supervision alerts, grouped by department, kind and outcome.
    "supervision.month_counts",
    # The console's warning page: the votes behind one warning, and an appeal's few votes.
    "console.warning votes",
    "console.appealed votes",
}

SINCE = "2026-11-20T00:00:00.000+00:00"


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hub database with votes of every kind, written through the hub's store."""
    hub = counting_hub(tmp_path_factory.mktemp("plans") / "hall", kiosks=1)
    start = datetime(2026, 11, 1, 1, tzinfo=UTC)
    votes = []
    for n in range(300):
        cast = (start + timedelta(hours=n * 2)).isoformat()
        window = f"w0{n % 3 + 1}"
        if n % 10 == 0:
            votes.append(make_vote(cast, channel="kiosk", window=None, staff="s01", level=1))
        else:
            votes.append(make_vote(cast, window=window, staff=f"s0{n % 3 + 1}", level=n % 5 + 1))
    votes.append(make_vote(SINCE, staff="s88"))  # caught by the hub's unknown_staff rule
    for i in range(0, len(votes), 50):
        hub.add(*votes[i : i + 50])
    hub.close()
    return hub.config.database


@pytest.fixture(params=["as migrated", "after ANALYZE"])
def conn(request: pytest.FixtureRequest, database: Path, tmp_path: Path) -> Iterator[Any]:
    """The database, planned without and with SQLite's statistics (a hub never gathers them)."""
    copy = tmp_path / "hub.sqlite"
    shutil.copy(database, copy)
    connection = sqlite3.connect(copy)
    if request.param == "after ANALYZE":
        connection.execute("ANALYZE")
    yield connection
    connection.close()


# What the plan of a read must use, past not scanning: its walk from the page's
# rowid, or both the scope and the period of the counts it reads.
IN_ORDER = "rowid>?"
ONE_PERIOD = "scope=? AND period=?"


def hot_queries(conn: sqlite3.Connection) -> Iterator[tuple[str, str, list[Any], str]]:
    """``(name, sql, parameters, what the plan must use)`` of every query held to a range."""
    since = ms_of_text(SINCE)
    filters_of = {
        "": {},
        "device": {"device": "w01-eval"},
        "window": {"window": "w01"},
        "staff": {"staff": "s01"},
        "rule": {"rule": "unknown_staff"},
        "window+staff": {"window": "w01", "staff": "s01"},
    }
    for label, chosen in filters_of.items():
        for since_ms in (None, since):
            for after in (0, 250):
                query = PageQuery(after=after, limit=100, since_ms=since_ms, **chosen)
                found = page_sql(conn, query)
                assert found is not None, query
                name = f"votes page {label or 'all'} since={since_ms} after={after}"
                yield name, *found, IN_ORDER
    until = ms_of_text("2026-11-25T00:00:00.000+00:00")
    # The console's filter summary: one rule's votes from a rowid; the day counts.
    for rule in ("unknown_staff", "one_per_service"):
        args = [rule, 0, since, until]
        yield f"console.votes rule {rule}", votes_list.RULE_SQL, args, "votes_rule"
    days = ["hall", "2026-11-01", "2026-11-30", "t1"]
    yield "console.votes counted", votes_list.COUNTED_SQL, days, "scope=? AND period>?"
    yield "console.quarantine newest", devices_list.QUARANTINE_NEWEST_SQL, [10**9, 26], "rowid<?"
    # The console's votes list: a date range, its filters, a department, and the page before.
    console_filters: dict[str, dict[str, Any]] = {
        "staff+month": {"staff": "s01"},
        "window+level": {"window": "w01", "level": 1},
        "department": {"windows_in": ("w01", "w02"), "staff_in": ("s01", "s02")},
        "filtered": {"counted": False, "channel": "window"},
        "comment": {"with_comment": True},
    }
    for label, chosen in console_filters.items():
        for before in (None, 250):
            query = PageQuery(limit=50, since_ms=since, until_ms=until, before=before, **chosen)
            found = page_sql(conn, query)
            assert found is not None, query
            yield (
                f"console votes {label} before={before}",
                *found,
                (IN_ORDER if before is None else "rowid<?"),
            )
        # A forward walk one span at a time.
        query = PageQuery(limit=50, since_ms=since, until_ms=until, below=250, **chosen)
        found = page_sql(conn, query)
        assert found is not None, query
        yield f"console votes {label} below=250", *found, IN_ORDER
    yield "console votes max rowid", votes_list.MAX_ROWID_SQL, [], "votes"
    cast = ms_of_text("2026-11-20T03:00:00.000+00:00")
    calendar = Calendar("Asia/Shanghai")
    day_start, day_end = filters.day_bounds(datetime(2026, 11, 20).date(), calendar.zone)
    yield "rules.ticket", rules.TICKET_SQL, ["T12", day_start, day_end, 10**9], "cast_at>?"
    burst = ["s01", cast - 600_000, cast + 600_000, "k", 10**9]
    yield "rules.burst", rules.BURST_SQL, burst, "cast_at>?"
    duty_day = ["w01", "2026-11-19T16:00:00.000+00:00", SINCE, SINCE]
    yield "rules.duty", rules.DUTY_SQL, duty_day, "service_events_sign"
    yield (
        "duty.on_duty",
        duty.LATEST_SIGN_SQL,
        ["w01", "2026-11-22T00:00:00.000+00:00"],
        "service_events_sign",
    )
    month = calendar.bounds_ms("2026-11")
    yield "warnings.votes_behind", warnings.VOTES_BEHIND_SQL, ["s01", *month], "cast_at>?"
    crossed = ["s01", "s02", "2026-11", "2026"]
    yield "warnings.crossed", warnings.crossed_sql(2, 2), crossed, ONE_PERIOD
    yield "aggregates.dissatisfied", aggregates.DISSATISFIED_SQL, ["s01", "2026-11"], ONE_PERIOD
    yield "filters.window_day", filters.WINDOW_DAY_SQL, ["w01", day_start, day_end], "cast_at>?"
    kiosk_day = ["kiosk-01", day_start, day_end]
    yield "filters.kiosk_day", filters.KIOSK_DAY_SQL, kiosk_day, "cast_at>?"
    for scope in counting.SUMMARY_SCOPES:
        yield f"summary {scope}", counting.SUMMARY_COUNTS_SQL, [scope, "2026-11"], ONE_PERIOD
    yield "summary staff", counting.SUMMARY_STAFF_SQL, ["2026-11"], ONE_PERIOD
    yield "summary people", counting.SUMMARY_PEOPLE_SQL, ["2026-11"], ONE_PERIOD
    # Issue 13: central's per-person reads, one period (and one person) of every hall.
    yield "county_people.people", county_people.PEOPLE_SQL, ["2026-11"], "period=?"
    one_person = ["2026-11", "P-0001"]
    yield "county_people.person", county_people.PERSON_SQL, one_person, "period=? AND person=?"
    for group in aggregates.SCOPES:
        yield f"stats {group}", *stats.stats_sql(group, "2026-11-20", None), ONE_PERIOD
        yield f"stats {group} one", *stats.stats_sql(group, "2026-11", "s01"), ONE_PERIOD
    yield "quarantine page", quarantine.PAGE_SQL, [0, 50], IN_ORDER
    yield "store.known_votes", known_votes_sql(3), ["a", "b", "c"], "(id=?)"
    # Complaints have no (device, seq) index yet: a kiosk files few of them.
    for table in ("votes", "service_events"):
        last_seq = device_states.LAST_SEQ_SQL[table]
        yield f"device_states.last_seq {table}", last_seq, ["w01-eval"], "device=?"
    details = warning_pages.VOTE_DETAILS_SQL
    yield "warning_pages.vote_details", details, ["s01-III-2026-11"], "warning_id=?"
    one = ["hall-1", "s01-III-2026-11"]
    yield "county_warnings.warning", county_warnings.WARNING_SQL, one, "id=?"
    yield "county_warnings.events", county_warnings.EVENTS_SQL, one, "warning_id=?"
    # The console's notice log, newest first (the sender's reads walk the partial index of
    # pending notices, which max_pending bounds).
    yield "notify.notice_log", notices.NOTICE_LOG_SQL, [10**9, 50], "rowid<?"
    # The console's notice log page, filtered (by event, status, department) newest first.
    filtered = {"before": 10**9, "event": "warning", "status": "", "department": "civil"}
    yield "console_notices.page", console_notices.NOTICES_SQL, {**filtered, "limit": 51}, "rowid<?"
    # Issue 14: the reminders' read of open cases by deadline, and one case's rows.
    yield "cases.due", cases_store.DUE_SQL, ["2026-12-01"], "stage_due_on"
    yield "cases.source", cases_store.SOURCE_OF_REF_SQL, ["kiosk", "c1"], "kind=? AND ref=?"
    yield "cases.sources", cases_store.SOURCES_SQL, [1], "case_id=?"
    yield "cases.events", cases_store.EVENTS_SQL, [1], "case_id=?"
    yield "cases.contacts", cases_store.CONTACTS_SQL, [1], "case_id=?"
    yield (
        "cases.public_results",
        cases_store.PUBLIC_RESULTS_SQL,
        ["2026-09-01T00:00:00.000+00:00", 50],
        "answered_at>?",
    )
    yield "cases.bulletin", bulletins.MONTH_CASES_SQL, ["2026-11-01", "2026-11-30"], "received_on>?"
    yield "cases.reminded", reminders.DONE_SQL, [1, "escalate", 1, 0, "2026-12-01"], "case_id=?"
    yield "cases.acted", reminders.ACTED_SQL, [1, 3], "case_id=? AND seq>?"
    yield "notify.citizen_phone", sender.PHONE_SQL, ["1"], "rowid=?"
    # The console's case list: each listed case's channels.
    yield "console_cases.channels", console_cases.CHANNELS_SQL, [1], "case_id=?"
    yield "supervision.new_events", supervision.NEW_EVENTS_SQL, [0, 500], IN_ORDER
    yield "supervision.overdue", supervision.OVERDUE_SQL, [SINCE, 500], "supervised_services_due"
    at_window = ["w01", SINCE]
    for name in ("LATEST_AT_WINDOW_SQL", "OPEN_AT_WINDOW_SQL"):
        sql = getattr(supervision, name)
        yield f"supervision.{name}", sql, at_window, "supervised_services_window"
    counts = supervision.MONTH_COUNTS_SQL
    yield "supervision.month_counts", counts, ["2026-11"], "supervision_alerts_month"
    signs = ["w01", "2026-11-19T16:00:00.000+00:00", SINCE]
    yield (
        "presence.sign_events",
        presence.SIGN_EVENTS_SQL,
        signs,
        "(window=? AND cast_at>? AND cast_at<?)",
    )
    # The console's charts and reports (hub.analytics): ranges of the counts' keys.
    days = ["hall", "2026-11-01", "2026-11-30", "t1", "day"]
    yield "analytics.trend", analytics.TREND_SQL, days, "scope=? AND period>?"
    hours = ["hour:department", "2026-11-01T00", "2026-11-30T23", "civil"]
    yield "analytics.hours", analytics.HOURS_SQL, hours, "scope=? AND period>?"
    for scope in ("staff", "window", "department"):
        group = [scope, "2026-11"]
        yield f"analytics.group_period {scope}", analytics.GROUP_PERIOD_SQL, group, ONE_PERIOD
    dimension = ["dim:attitude", "2026-11"]
    yield "analytics.dimension", analytics.DIMENSION_SQL, dimension, ONE_PERIOD
    one_staff = [*dimension, "s01"]
    yield "analytics.staff_dimension", analytics.STAFF_DIMENSION_SQL, one_staff, ONE_PERIOD
    # The console's live hall, its feed of new warnings, its sessions and login limit.
    day = ["w01", "2026-11-19T16:00:00.000+00:00", "2026-11-20T16:00:00.000+00:00"]
    yield "console.live ended", console_live.ENDED_SQL, day, "cast_at>?"
    day_ms = ["w01", *calendar.bounds_ms("2026-11-20")]
    yield "console.live rated", console_live.RATED_SQL, day_ms, "cast_at>?"
    yield "console.feed new warnings", console_feed.NEW_WARNINGS_SQL, [5], "rowid>?"
    session = ["0" * 64, SINCE]
    yield "console.session", console_accounts.SESSION_SQL, session, "digest=?"
    failures = ["boss", "127.0.0.1", SINCE]
    yield "console.failures", console_accounts.FAILURES_SQL, failures, "user=? AND address=?"
    ident = ["s01-III-2026-11"]
    yield "console.warning votes", console_warnings.WARNING_VOTES_SQL, ident, "warning_id=?"
    appealed = console_warnings.APPEALED_VOTES_SQL.format(marks="?, ?")
    yield "console.appealed votes", appealed, ["a", "b"], "(id=?)"
    # The console's staff page: one staff member's comments, warnings and voided votes.
    month_ms = ["s01", *calendar.bounds_ms("2026-11")]
    yield "console.staff comments", console_staff.COMMENTS_SQL, month_ms, "staff=? AND cast_at>?"
    yield "console.staff warnings", console_staff.STAFF_WARNINGS_SQL, ["s01"], "staff=?"
    year_ms = ["s01", *calendar.bounds_ms("2026")]
    yield "console.staff voids", console_staff.STAFF_VOIDS_SQL, year_ms, "staff=? AND cast_at>?"
    yield "console.staff appeals", console_staff.STAFF_APPEALS_SQL, ["s01"], "staff=?"


def plan(conn: sqlite3.Connection, sql: str, params: list[Any]) -> list[str]:
    return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


def problem(name: str, steps: list[str], must: str) -> bool:
    """Whether a plan scans a table, sorts rows no range bounded, or does not use ``must``."""
    scans = [s for s in steps if s.startswith("SCAN ")]
    sorts = [s for s in steps if "TEMP B-TREE" in s]
    return bool(scans or (sorts and name not in BOUNDED_SORTS) or must not in steps[0])


def test_no_hot_query_scans_a_table_or_sorts_a_history(conn):
    problems = []
    checked = 0
    for name, sql, params, must in hot_queries(conn):
        checked += 1
        steps = plan(conn, sql, params)
        if problem(name, steps, must):
            problems.append(f"{name}: {steps}")
    assert checked > 40
    assert problems == []


def test_the_check_fails_on_the_reads_issue_12_measured(database, tmp_path):
    """Before issue 12, a window's page sorted its history and counts reads took every period."""
    old = tmp_path / "old.sqlite"
    written_before_issue_12(database, old)
    conn = sqlite3.connect(old)
    try:
        window_page = plan(
            conn,
            "SELECT id FROM votes WHERE rowid > ? AND window = ? ORDER BY rowid LIMIT ?",
            [0, "w01", 100],
        )
        assert problem("old window page", window_page, IN_ORDER), window_page
        summary = plan(
            conn,
            "SELECT scope, subject FROM counts WHERE period = ? AND scope != 'staff'"
            " ORDER BY scope, subject",
            ["2026-11"],
        )
        assert problem("old summary", summary, ONE_PERIOD), summary
        stats_plan = plan(conn, *stats.stats_sql("window", "2026-11", None))
        assert problem("old stats", stats_plan, ONE_PERIOD), stats_plan
    finally:
        conn.close()


def test_a_page_since_a_time_starts_at_the_votes_cast_that_hour(conn):
    """Not at the oldest vote (a walk through the whole history), and past no vote it wants."""
    since = ms_of_text("2026-11-20T05:30:00.000+00:00")
    hour_start = since - since % HOUR_MS
    first_that_hour = conn.execute(
        "SELECT min(rowid) FROM votes WHERE cast_at >= ?", (hour_start,)
    ).fetchone()[0]
    first_wanted = conn.execute(
        "SELECT min(rowid) FROM votes WHERE cast_at >= ?", (since,)
    ).fetchone()[0]
    assert first_that_hour > 200  # the month before is behind it
    for after in (0, 10, first_that_hour + 3):
        found = page_sql(conn, PageQuery(after=after, since_ms=since))
        assert found is not None
        start = found[1][0]  # "rowid > ?" comes first
        assert start == max(after, first_that_hour - 1)
        assert start < first_wanted or after >= first_wanted
    assert first_that_hour <= first_wanted  # at most the hour before `since` is walked
    later = page_sql(conn, PageQuery(since_ms=ms_of_text("2030-01-01T00:00:00.000+00:00")))
    assert later is None  # nothing cast since: no walk at all
