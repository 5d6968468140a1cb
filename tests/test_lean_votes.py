"""Issue 12's migration: a hub database of the previous schema keeps every vote, count and warning.

The hub first writes a database with today's code (votes of every kind,
warnings raised and one withdrawn on appeal, a held vote accepted); the same
content is then written as the previous schema kept it (``tests/old_schema``)
and opened with today's :class:`hub.store.Store`, which migrates it. Every
row must come out as the hub writes it today, the operators' view must show
the times the old file held, and a rebuild must find nothing to correct.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from device_agent.storage import write_transaction
from hub import aggregates
from hub.appeals import accept_vote
from hub.counting import Counting
from hub.schema import STEPS
from hub.store import Store
from tests.old_schema import KEPT_TABLES, OLD_VERSION, written_before_issue_12
from tests.stored_votes import CountingHub, counting_hub, make_vote

TABLES = ("votes", "cast_hours", *KEPT_TABLES)


def rows(database: Path, table: str) -> list[tuple]:
    conn = sqlite3.connect(database)
    try:
        return sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
    finally:
        conn.close()


def schema(database: Path) -> list[tuple]:
    conn = sqlite3.connect(database)
    try:
        return conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master"
            " WHERE name NOT LIKE 'sqlite_stat%' ORDER BY type, name"
        ).fetchall()
    finally:
        conn.close()


def fill(hub: CountingHub) -> None:
    """Votes of every kind, stored as the hub stores them, with warnings and an appeal."""
    november = datetime(2026, 11, 2, 1, tzinfo=UTC)
    votes = [
        make_vote((november + timedelta(hours=i)).isoformat(), staff="s01", level=1 + i % 2)
        for i in range(12)
    ]
    votes += [
        make_vote((november + timedelta(days=i)).isoformat(), window="w02", staff="s02", level=5)
        for i in range(5)
    ]
    votes.append(make_vote(november.isoformat(), channel="kiosk", window=None, staff="s02"))
    votes.append(make_vote(november.isoformat(), staff="s88"))  # unknown_staff
    # Cast at +08:00 just after a local midnight: the UTC instant is the day before.
    votes.append(make_vote("2026-11-05T00:30:00.250+08:00", window="w03", staff="s03"))
    hub.clock.now = november + timedelta(days=1)
    hub.add(*votes)
    hub.void(votes[0].vote.id)  # the level III warning cites one vote less
    # A vote cast in October that arrives after October closed: held, then accepted.
    late = make_vote(
        "2026-10-30T02:00:00+00:00", staff="s03", received="2026-11-20T01:00:00.000+00:00"
    )
    hub.clock.now = datetime(2026, 11, 20, 1, tzinfo=UTC)
    hub.add(late)
    with write_transaction(hub.store.db) as conn:
        accept_vote(conn, hub.counting, late.vote.id, by="office")


@pytest.fixture
def databases(tmp_path: Path) -> tuple[CountingHub, Path, Path]:
    """Today's file, and the same content written by the previous schema (not yet migrated)."""
    hub = counting_hub(tmp_path / "hall", windows=3, kiosks=1)
    fill(hub)
    hub.close()
    old = tmp_path / "old.sqlite"
    written_before_issue_12(hub.config.database, old)
    return hub, hub.config.database, old


def test_the_old_file_is_the_previous_schema(databases):
    _, _, old = databases
    conn = sqlite3.connect(old)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == OLD_VERSION < len(STEPS)
        kinds = conn.execute(
            "SELECT DISTINCT typeof(cast_at), typeof(received_at), length(digest) FROM votes"
        ).fetchall()
        assert kinds == [("text", "text", 64)]
    finally:
        conn.close()


def test_migrating_keeps_every_vote_count_and_warning(databases):
    _, today, old = databases
    assert rows(today, "warnings") and rows(today, "vote_voids") and rows(today, "vote_acceptances")
    Store(old).close()
    for table in TABLES:
        assert rows(old, table) == rows(today, table), table
    assert schema(old) == schema(today)


def test_the_readable_view_shows_the_times_the_old_file_held(databases):
    _, _, old = databases
    conn = sqlite3.connect(old)
    try:
        before = conn.execute(
            "SELECT id, cast_at, received_at, digest FROM votes ORDER BY rowid"
        ).fetchall()
    finally:
        conn.close()
    Store(old).close()
    conn = sqlite3.connect(old)
    try:
        after = conn.execute(
            "SELECT id, cast_at, received_at, digest FROM votes_readable ORDER BY rowid"
        ).fetchall()
        stored = conn.execute(
            "SELECT DISTINCT typeof(cast_at), typeof(received_at), length(digest) FROM votes"
        ).fetchall()
    finally:
        conn.close()
    assert after == before
    assert stored == [("integer", "integer", 32)]
    assert ("2026-11-04T16:30:00.250+00:00",) in [(row[1],) for row in after]


def test_a_rebuild_of_the_migrated_file_finds_nothing_to_correct(databases):
    hub, _, old = databases
    store = Store(old)
    try:
        rebuilt = Counting(hub.config, now=hub.clock).rebuild(store.db)
        # The breakdown counts (issue 13) start empty in an upgraded file: this
        # first rebuild fills them, as docs/operations.md tells an upgrade to do.
        again = Counting(hub.config, now=hub.clock).rebuild(store.db)
    finally:
        store.close()
    counts = [key for key in rebuilt.counts.changed if key[0] in aggregates.SCOPES]
    assert counts == []
    assert {key[0] for key in rebuilt.counts.changed} <= {
        *aggregates.DIMENSION_SCOPES.values(),
        *aggregates.HOUR_SCOPES,
    }
    assert again.counts.identical, again.counts.changed
    assert rebuilt.verdicts_changed == []
    assert rebuilt.warnings_changed == []
