"""``hub rebuild`` in short transactions: judged and recounted beside a hub that keeps ingesting.

A rebuild judges every vote again, recounts every count from the raw votes
and brings every warning in line, while the hub goes on storing votes and
managers go on voiding them. It never holds SQLite's write lock for long:

1. **judge** — every vote again, in arrival order (:func:`hub.rules.rejudge`),
   in read transactions that only look; where a verdict moves, a write
   transaction of at most ``hold_s`` stores it and moves the vote's counts.
2. **catch up** — count, a chunk per write transaction, votes stored but
   not counted yet (a hub with ``[warnings] enabled = false``).
3. **recount** — every vote up to the counts' high-water mark ``M``, a chunk
   per read transaction (readers never block the writer in WAL mode), into
   a tally in memory. Each chunk notes how far ``vote_voids`` and
   ``vote_acceptances`` had grown when it was read.
4. **compare** — in one read transaction: the kept counts, the votes counted
   since ``M``, and every void or acceptance newer than the chunk that read
   its vote (which counted it as it was then). The recount, corrected by
   those, is what the counts should be at that instant.
5. **swap** — the difference, written as deltas in one short write
   transaction (a few when thousands of rows differ). Ingest, voids and
   acceptances change the kept counts only by exact increments, so adding
   the difference makes every row exact whatever they did in between; the
   same transaction counts what was stored since and reviews the warnings
   of the staff periods that changed.
6. **warnings** — every staff member's month and year reviewed against the
   current rules, a few hundred per write transaction.

The reading and counting run on a worker thread of lower CPU priority, so a
busy CPU serves ingest first; write transactions keep the caller's priority,
so a starved thread never holds the lock ingest waits for. Two rebuilds of
one database never run at once (a lock file beside it).
"""

from __future__ import annotations

import bisect
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import sqlite_utils

from device_agent.storage import write_transaction
from hub import aggregates
from hub.aggregates import CountKey, Tally
from hub.errors import StateError
from hub.rules import rejudge

if TYPE_CHECKING:
    import sqlite3

    from hub.counting import Counting
    from hub.rules import Candidate

PHASES = ("judge", "catch up", "recount", "compare", "swap", "warnings")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Pacing:
    """How a rebuild shares the database with ingest."""

    # Votes judged per transaction, at most.
    chunk: int = 2000
    # Votes recounted per read transaction (reads block nobody, so more).
    reads: int = 20000
    # A write transaction stops its chunk early once it has held the lock this long.
    # Ingest, waiting, polls 1, 3, 8 and 18 ms after it found the lock taken.
    hold_s: float = 0.01
    # Rest after each write transaction. SQLite's busy handler retries a waiting
    # writer at most 25 ms apart for its first 130 ms: a gap this long lets it in.
    pause_s: float = 0.03
    # Count rows written per swap transaction (more only after counts drifted far).
    swap_rows: int = 5000
    # Staff periods reviewed per write transaction, at most.
    reviews: int = 200
    # Seconds of reading between checkpoints of the WAL (see _Pacer.read).
    checkpoint_s: float = 0.5
    # How much lower the CPU priority of the reading and counting is than the hub's.
    # Write transactions keep the caller's priority: a starved thread must not hold
    # the lock ingest waits for.
    niceness: int = 10


@dataclass(slots=True)
class Phase:
    """One phase's transactions: how many, how long in all, the longest write lock held."""

    name: str
    reads: int = 0
    writes: int = 0
    seconds: float = 0.0
    longest_hold_s: float = 0.0


@dataclass(frozen=True, slots=True)
class RebuildReport:
    """What the recount found: rows written, and rows whose kept numbers were different."""

    rows: int
    changed: list[CountKey]
    votes: int

    @property
    def identical(self) -> bool:
        """True when the incremental counts were already exactly the recount."""
        return not self.changed


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """The outcome of a rebuild: the counts' report, what it moved, and its transactions."""

    counts: RebuildReport
    warnings_changed: list[str]
    verdicts_changed: list[str]
    phases: list[Phase] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        """The rebuild's wall-clock time."""
        return sum(p.seconds for p in self.phases)

    @property
    def longest_hold_s(self) -> float:
        """The longest any of its transactions held the write lock."""
        return max((p.longest_hold_s for p in self.phases), default=0.0)


# Called after every transaction with the phase and how far it got (tests step in here).
Progress = Callable[[str, int], None]


class _Pacer:
    """Opens the rebuild's transactions, times them, and rests after each write."""

    def __init__(
        self, db: sqlite_utils.Database, pacing: Pacing, progress: Progress | None
    ) -> None:
        self.db = db
        self.pacing = pacing
        self.progress = progress
        self.phases = {name: Phase(name) for name in PHASES}
        self._held_since = 0.0
        self._checkpointed = time.monotonic()
        # Linux keeps a niceness per thread: only this worker's priority drops.
        self._worker = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="hub-rebuild",
            initializer=_lower_priority,
            initargs=(pacing.niceness,),
        )

    def background(self, work: Callable[[], T]) -> T:
        """Run ``work`` on the low-priority worker thread and wait for its result."""
        return self._worker.submit(work).result()

    def close(self) -> None:
        self._worker.shutdown()

    @contextmanager
    def read(self, phase: str) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot, no lock that blocks ingest."""
        conn = self.db.conn
        started = time.monotonic()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")
        if time.monotonic() - self._checkpointed >= self.pacing.checkpoint_s:
            # While readers follow each other without a gap, the hub's own checkpoints
            # cannot finish, so the WAL is never rewound and grows by megabytes a
            # second. Between two reads nothing of ours holds it back.
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self._checkpointed = time.monotonic()
        record = self.phases[phase]
        record.reads += 1
        record.seconds += time.monotonic() - started

    @contextmanager
    def write(self, phase: str) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction, timed from the moment it holds the lock."""
        started = time.monotonic()
        with write_transaction(self.db) as conn:
            self._held_since = time.monotonic()
            yield conn
        held = time.monotonic() - self._held_since
        record = self.phases[phase]
        record.writes += 1
        record.longest_hold_s = max(record.longest_hold_s, held)
        time.sleep(self.pacing.pause_s)
        record.seconds += time.monotonic() - started

    def enough(self) -> bool:
        """Whether the open write transaction has held the lock for its share."""
        return time.monotonic() - self._held_since >= self.pacing.hold_s

    def step(self, phase: str, done: int) -> None:
        if self.progress is not None:
            self.progress(phase, done)


def _lower_priority(niceness: int) -> None:
    with suppress(OSError):  # not allowed or not supported: run at the usual priority
        os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0) + niceness)


@dataclass(frozen=True, slots=True)
class _Chunk:
    """A recounted range of votes and how far voids and acceptances had grown when read."""

    after: int
    up_to: int
    voids: int
    acceptances: int


def rebuild(
    db: sqlite_utils.Database,
    counting: Counting,
    *,
    by: str = "rebuild",
    pacing: Pacing | None = None,
    progress: Progress | None = None,
) -> Rebuilt:
    """Judge, recount and review a hub's database while it keeps ingesting; see the module.

    ``db`` must not be in a transaction: the rebuild opens its own.
    """
    pacer = _Pacer(db, pacing or Pacing(), progress)
    try:
        with _only_rebuild(db):
            verdicts = _judge(pacer, counting)
            _catch_up(pacer, counting)
            mark, fresh, chunks, recounted = _recount(pacer, counting)
            report, difference = _compare(
                pacer, counting, mark=mark, fresh=fresh, chunks=chunks, recounted=recounted
            )
            changed = _swap(pacer, counting, difference, by=by)
            changed += _review_all(pacer, counting, by=by)
    finally:
        pacer.close()
    return Rebuilt(
        report, list(dict.fromkeys(changed)), verdicts, [pacer.phases[p] for p in PHASES]
    )


@contextmanager
def _only_rebuild(db: sqlite_utils.Database) -> Iterator[None]:
    """Hold the database's rebuild lock (a file beside it), or raise StateError."""
    path = db.execute("PRAGMA database_list").fetchone()[2]
    if not path:  # an in-memory database: nobody else can reach it
        yield
        return
    with open(Path(path).with_name(Path(path).name + ".rebuild-lock"), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StateError(f"another rebuild of {path} is running") from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _judge(pacer: _Pacer, counting: Counting) -> list[str]:
    """Phase 1: every verdict again; moved ones written with their counts, a chunk at a time."""
    moved_ids: list[str] = []
    last = 0
    size = pacer.pacing.chunk
    while True:
        with pacer.read("judge") as conn:
            look = partial(rejudge, conn, counting.rules, after=last, limit=size, write=False)
            looked = pacer.background(look)
        last = looked.last
        if looked.finished:
            break
        if looked.stopped:
            with pacer.write("judge") as conn:
                written = rejudge(conn, counting.rules, after=last, limit=size, enough=pacer.enough)
                _count_moved(conn, counting, written.moved)
            last = written.last
            moved_ids.extend(candidate.id for candidate, _ in written.moved)
            if written.finished:
                break
        pacer.step("judge", last)
    pacer.step("judge", last)
    return moved_ids


def _count_moved(
    conn: sqlite3.Connection, counting: Counting, moved: list[tuple[Candidate, bool]]
) -> None:
    """Move the counts of votes whose verdict just moved, if they are counted already."""
    mark = aggregates.counted_up_to(conn)
    change = Tally()
    for candidate, was_counted in moved:
        if candidate.rowid > mark:
            continue  # counted later, with its new verdict
        voided, dims = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM vote_voids WHERE vote_id = ?), dims FROM votes"
            " WHERE rowid = ?",
            (candidate.id, candidate.rowid),
        ).fetchone()
        aggregates.move(
            change,
            counting.attribution,
            counting.calendar,
            (candidate.window, candidate.staff, candidate.level, candidate.cast_at, dims),
            before=(was_counted, bool(voided)),
            after=(not was_counted, bool(voided)),
        )
    aggregates.write_deltas(conn, change.deltas)


def _catch_up(pacer: _Pacer, counting: Counting) -> None:
    """Phase 2: count votes stored but never counted, a chunk per write transaction."""
    while True:
        with pacer.write("catch up") as conn:
            mark = aggregates.counted_up_to(conn)
            newest = conn.execute("SELECT coalesce(max(rowid), 0) FROM votes").fetchone()[0]
            if newest <= mark:
                return
            up_to = min(newest, mark + pacer.pacing.chunk)
            rows = aggregates.all_vote_rows(conn, after=mark, up_to=up_to)
            aggregates.write_deltas(
                conn, aggregates.tally(rows, counting.attribution, counting.calendar).deltas
            )
            aggregates.write_mark(conn, up_to)
        pacer.step("catch up", up_to)


def _recount(
    pacer: _Pacer, counting: Counting
) -> tuple[int, dict[CountKey, list[int]], list[_Chunk], int]:
    """Phase 3: every vote up to the high-water mark, a chunk per read transaction."""
    with pacer.read("recount") as conn:
        mark = aggregates.counted_up_to(conn)
    fresh: dict[CountKey, list[int]] = {}
    chunks: list[_Chunk] = []
    recounted = 0
    after = 0
    while after < mark:
        up_to = min(mark, after + pacer.pacing.reads)
        chunk, tally, votes = pacer.background(
            partial(_recount_chunk, pacer, counting, after, up_to)
        )
        recounted += votes
        _add(fresh, tally.deltas)
        chunks.append(chunk)
        after = up_to
        pacer.step("recount", after)
    return mark, fresh, chunks, recounted


def _recount_chunk(
    pacer: _Pacer, counting: Counting, after: int, up_to: int
) -> tuple[_Chunk, Tally, int]:
    """One read transaction of the recount: the votes in ``(after, up_to]``, tallied."""
    with pacer.read("recount") as conn:
        voids, acceptances = _grown(conn)
        rows = list(aggregates.all_vote_rows(conn, after=after, up_to=up_to))
    tally = aggregates.tally(rows, counting.attribution, counting.calendar)
    return _Chunk(after, up_to, voids, acceptances), tally, len(rows)


def _grown(conn: sqlite3.Connection) -> tuple[int, int]:
    """How far ``vote_voids`` and ``vote_acceptances`` have grown (their highest rowids)."""
    row = conn.execute(
        "SELECT (SELECT coalesce(max(rowid), 0) FROM vote_voids),"
        " (SELECT coalesce(max(rowid), 0) FROM vote_acceptances)"
    ).fetchone()
    return row[0], row[1]


def _compare(
    pacer: _Pacer,
    counting: Counting,
    *,
    mark: int,
    fresh: dict[CountKey, list[int]],
    chunks: list[_Chunk],
    recounted: int,
) -> tuple[RebuildReport, dict[CountKey, list[int]]]:
    """Phase 4: what the counts should be at one instant, and what must be added to get there."""
    with pacer.read("compare") as conn:
        now_mark = aggregates.counted_up_to(conn)
        kept = aggregates.read_counts(conn)
        # Counted by ingest since the recount's mark: count them as they are now.
        later = list(aggregates.all_vote_rows(conn, after=mark, up_to=now_mark))
        _add(fresh, aggregates.tally(later, counting.attribution, counting.calendar).deltas)
        _add(fresh, _changed_since_read(conn, counting, chunks).deltas)
    wanted = {key: tuple(values) for key, values in fresh.items() if any(values)}
    changed = sorted(key for key in set(wanted) | set(kept) if wanted.get(key) != kept.get(key))
    zero = (0,) * len(aggregates.COUNT_COLUMNS)
    difference = {
        key: [w - k for w, k in zip(wanted.get(key, zero), kept.get(key, zero), strict=True)]
        for key in changed
    }
    pacer.step("compare", len(changed))
    return RebuildReport(len(wanted), changed, recounted + len(later)), difference


def _changed_since_read(
    conn: sqlite3.Connection, counting: Counting, chunks: list[_Chunk]
) -> Tally:
    """Corrections for votes voided or accepted after the recount read them.

    A void or an acceptance gets the next rowid of its table, so one newer than
    what a chunk saw happened after that chunk was read: the chunk counted
    the vote as it was before (not voided; held, so not counted — only a held
    vote can be accepted).
    """
    change = Tally()
    if not chunks:
        return change
    first = chunks[0]
    bounds = [chunk.up_to for chunk in chunks]
    rows = conn.execute(
        "SELECT v.rowid, v.window, v.staff, v.level, v.counted, v.cast_at,"
        " (SELECT x.rowid FROM vote_voids x WHERE x.vote_id = v.id),"
        " (SELECT a.rowid FROM vote_acceptances a WHERE a.vote_id = v.id), v.dims"
        " FROM votes v WHERE v.rowid <= ? AND v.id IN ("
        "   SELECT vote_id FROM vote_voids WHERE rowid > ?"
        "   UNION SELECT vote_id FROM vote_acceptances WHERE rowid > ?)",
        (chunks[-1].up_to, first.voids, first.acceptances),
    ).fetchall()
    for rowid, window, staff, level, counted, cast_at, void, acceptance, dims in rows:
        seen = chunks[bisect.bisect_left(bounds, rowid)]
        was_voided = void is not None and void <= seen.voids
        was_counted = bool(counted) and (acceptance is None or acceptance <= seen.acceptances)
        aggregates.move(
            change,
            counting.attribution,
            counting.calendar,
            (window, staff, level, cast_at, dims),
            before=(was_counted, was_voided),
            after=(bool(counted), void is not None),
        )
    return change


def _swap(
    pacer: _Pacer, counting: Counting, difference: dict[CountKey, list[int]], *, by: str
) -> list[str]:
    """Phase 5: add the difference to the kept counts, in one short transaction if it is small."""
    keys = sorted(difference)
    size = pacer.pacing.swap_rows
    changed: list[str] = []
    start = 0
    while True:
        part = {key: difference[key] for key in keys[start : start + size]}
        with pacer.write("swap") as conn:
            aggregates.write_deltas(conn, part)
            _drop_empty_rows(conn, part)
            staff_periods = {
                (subject, period)
                for (scope, subject, period), values in part.items()
                if scope == "staff" and len(period) != 10 and values[aggregates.DISSATISFIED_INDEX]
            }
            # Whatever was stored since the compare is counted here, as ingest would.
            tally = aggregates.apply(conn, counting.attribution, counting.calendar)
            staff_periods |= tally.staff_periods
            changed += counting.engine.review(conn, staff_periods, by=by, cause={"rebuild": True})
        start += size
        pacer.step("swap", min(start, len(keys)))
        if start >= len(keys):
            return changed


def _drop_empty_rows(conn: sqlite3.Connection, part: dict[CountKey, list[int]]) -> None:
    """Delete the rows the difference brought to all zeros, as a full rewrite would have."""
    empty = " AND ".join(f"{name} = 0" for name in aggregates.COUNT_COLUMNS)
    for table in ("counts", aggregates.BREAKDOWN_TABLE):
        conn.executemany(
            f"DELETE FROM {table} WHERE scope = ? AND subject = ? AND period = ? AND {empty}",
            [key for key in part if aggregates.table_of(key[0]) == table],
        )


def _review_all(pacer: _Pacer, counting: Counting, *, by: str) -> list[str]:
    """Phase 6: every staff member's months and years against the rules, in short transactions."""
    with pacer.read("warnings") as conn:
        staff_periods = sorted(
            (row[0], row[1])
            for row in conn.execute(
                "SELECT subject, period FROM counts WHERE scope = 'staff' AND grain != 'day'"
                " UNION SELECT staff, period FROM warnings"
            )
        )
    changed: list[str] = []
    start = 0
    while start < len(staff_periods):
        with pacer.write("warnings") as conn:
            end = start
            while end < len(staff_periods) and end - start < pacer.pacing.reviews:
                changed += counting.engine.review(
                    conn, [staff_periods[end]], by=by, cause={"rebuild": True}
                )
                end += 1
                if pacer.enough():
                    break
        start = end
        pacer.step("warnings", start)
    return changed


def _add(into: dict[CountKey, list[int]], deltas: dict[CountKey, list[int]]) -> None:
    for key, values in deltas.items():
        row = into.get(key)
        if row is None:
            into[key] = list(values)
        else:
            for i, value in enumerate(values):
                row[i] += value
