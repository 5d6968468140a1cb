"""Migrations: one ordered list per database, only ever appended to.

The hub's steps are ``hub.schema.STEPS``; the device outbox's and the kiosk's
are ``MIGRATIONS`` in ``device_agent/outbox.py`` and ``kiosk/submissions.py``.
A file migrated from empty must end with the same schema as one migrated
from the oldest release (``tests/schemas/hub-0.1.sql``, a 0.1 database with
rows in 0.1's form), keeping its rows; the schema a released version wrote
must never change; and a released step's text must never change either,
which the checksums below catch. A new step appends its checksum here.
"""

from __future__ import annotations

import hashlib
import inspect
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from device_agent import outbox
from device_agent.storage import Migration, migrate, open_database
from hub.instants import ms_of_text
from hub.schema import STEPS, SqlStep
from hub.store import Store
from kiosk import submissions

SCHEMAS = Path(__file__).resolve().parent / "schemas"
# The first 16 hex digits of each released step's SHA-256 (its SQL, or its source).
RELEASED = {
    "hub": [
        "f5f8df8795ffc054",
        "d50b4edf7418ad88",
        "7f1c8a4bb40f2b78",
        "7fd2c3f08c26af88",
        "e76a1e7d35688988",
        "fcc3a528ee8f9211",
        "0cd102c01469582b",
        "83b2364aee8bc53f",
        "12688ab973bb5a33",
        "4eedacd4cad8b01d",
        "211c63a32ad9e1de",
        "b74b372edf5aa0dd",
        "53770b741095b389",
        "618b7a3894fb624a",
        "c94e5acb60975536",
        "21c8088144c0830f",
        "c94eb26e613710fd",
        "97a5d681dab561f1",
        "d6d56948858c1dbd",
        "d4e22fadd3042cbe",
        # Issue 13: notices and device outages (hub.notify).
        "cb69bf63cc413d1a",
        # Issue 14: cases, their sources and steps (hub.cases).
        "370f58fd17efc90e",
        # Issue 14: service-time supervision alerts (hub.supervision).
        "5e3e56e8761e3dba",
        # Issue 13: counts per rating dimension and per local hour (hub.analytics).
        "d8d980fe661b202b",
        # Issue 13: console users, sessions, login attempts and the audit log (hub.console).
        "3fddd7a7a28ecbc6",
        # Issue 14: a rating as a case's source (差评整改); cases by day received and answered.
        "b7c85702e3ef638d",
        # Issue 13: appeals against a warning's votes, filed and decided in the console.
        "9fc880a288b541d0",
        # Issue 13: each person's figures from every hall, at central (hub.county_people).
        "2ea920c8f7df2f5c",
    ],
    "outbox": ["c55cd58696b41e47", "ce6df76515079a01"],
    "kiosk": ["098ca2e9f2eb874a", "771c674365b0d496"],
}
LISTS: dict[str, Sequence[Migration]] = {
    "hub": STEPS,
    "outbox": outbox.MIGRATIONS,
    "kiosk": submissions.MIGRATIONS,
}


def step_digest(step: Migration) -> str:
    """A released step's fingerprint: its SQL statements, or a function's source."""
    is_sql = isinstance(step, SqlStep)
    text = "\n;\n".join(step.statements) if is_sql else inspect.getsource(step)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def schema(path: Path) -> list[tuple]:
    """What ``sqlite_master`` holds of a file, in a fixed order."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master"
            " WHERE name NOT LIKE 'sqlite_stat%' ORDER BY type, name"
        ).fetchall()
    finally:
        conn.close()


def version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def from_script(path: Path, script: Path) -> Path:
    """A file made by running ``script`` (a dump or a list of CREATE statements)."""
    conn = sqlite3.connect(path)
    try:
        conn.executescript(script.read_text(encoding="utf-8"))
    finally:
        conn.close()
    return path


@pytest.mark.parametrize("database", sorted(LISTS))
def test_released_steps_never_change_and_new_ones_are_recorded(database):
    digests = [step_digest(step) for step in LISTS[database]]
    released = RELEASED[database]
    pairs = zip(digests[: len(released)], released, strict=False)
    changed = [n for n, (now, then) in enumerate(pairs, start=1) if now != then]
    assert changed == [], f"{database}: released steps {changed} changed; append a step instead"
    assert len(digests) >= len(released), f"{database}: a released step was removed"
    assert digests == released, f"{database}: record the new steps' checksums: {digests}"


def test_an_empty_file_and_a_0_1_file_migrate_to_the_same_schema(tmp_path):
    old = from_script(tmp_path / "old.sqlite", SCHEMAS / "hub-0.1.sql")
    assert version(old) == 1
    Store(old).close()
    Store(tmp_path / "new.sqlite").close()

    assert version(old) == version(tmp_path / "new.sqlite") == len(STEPS)
    assert schema(old) == schema(tmp_path / "new.sqlite")
    conn = sqlite3.connect(old)
    try:
        votes = conn.execute("SELECT id, cast_at, typeof(digest) FROM votes ORDER BY rowid")
        assert votes.fetchall()[0] == (
            "eval-w01-000000000001",
            ms_of_text("2026-03-02T09:15:04.120+08:00"),
            "blob",
        )
        assert conn.execute("SELECT count(*) FROM votes").fetchone() == (4,)
        hours = conn.execute("SELECT count(DISTINCT cast_at / 3600000) FROM votes").fetchone()
        assert conn.execute("SELECT count(*) FROM cast_hours").fetchone() == hours
        assert conn.execute("SELECT rows, stored_bytes > 0 FROM quarantine_totals").fetchone() == (
            1,
            1,
        )
        sign_in = conn.execute("SELECT event, staff FROM service_events").fetchall()
        assert sign_in == [("sign_in", "s01")]
    finally:
        conn.close()


# What the oldest release's rows become, pinned. Two released steps are
# functions that call live code (``bound_quarantine`` calls
# ``hub.quarantine.stored_row``, ``lean_votes`` calls ``hub.instants.ms_of_text``):
# a change to those helpers that changes what an upgrade writes fails here. The
# rows are read at version 20, the release after both, so later steps that add
# columns leave them alone.
PINNED_VERSION = 20
MIGRATED_0_1_ROWS = {
    "votes": (4, "5c8ce36818bb9be8"),
    "quarantine": (1, "f4d5d2758d6ae799"),
    "service_events": (1, "d5bad2f754139e12"),
}


def test_the_rows_of_a_0_1_file_are_rewritten_exactly_as_released(tmp_path):
    old = from_script(tmp_path / "old.sqlite", SCHEMAS / "hub-0.1.sql")
    db = open_database(old)
    try:
        migrate(db, STEPS[:PINNED_VERSION])
    finally:
        db.close()
    conn = sqlite3.connect(old)
    try:
        found = {}
        for table in MIGRATED_0_1_ROWS:
            rows = conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
            found[table] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()[:16])
    finally:
        conn.close()
    assert found == MIGRATED_0_1_ROWS


def test_version_19_is_the_schema_the_release_wrote(tmp_path):
    db = open_database(tmp_path / "migrated.sqlite")
    try:
        migrate(db, STEPS[:19])
    finally:
        db.close()
    released = from_script(tmp_path / "released.sqlite", SCHEMAS / "hub-v19.sql")
    assert schema(tmp_path / "migrated.sqlite") == schema(released)


@pytest.mark.parametrize("database", ["outbox", "kiosk"])
def test_device_files_migrate_alike_from_empty_and_from_their_first_step(tmp_path, database):
    steps = LISTS[database]
    old, new = tmp_path / "old.sqlite", tmp_path / "new.sqlite"
    db = open_database(old)
    try:
        migrate(db, steps[:1])
        assert version(old) == 1
        migrate(db, steps)
    finally:
        db.close()
    db = open_database(new)
    try:
        migrate(db, steps)
    finally:
        db.close()
    assert version(old) == version(new) == len(steps)
    assert schema(old) == schema(new)


def test_a_file_newer_than_the_software_is_refused(tmp_path):
    path = tmp_path / "hub.sqlite"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(STEPS) + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer than this software"):
        Store(path)
