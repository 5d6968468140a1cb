"""The device's durable outbox: on disk before the thank-you, kept until a receipt names it."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from device_agent.errors import OutboxError, OutboxFull
from device_agent.outbox import MIGRATIONS, Outbox
from device_agent.protocol import ENVELOPE_ID, Vote, decode_vote
from device_agent.storage import migrate, open_database, write_transaction

DEVICE = "w01-eval"
EPOCH = re.compile(r"[a-z2-7]{8}")


def cast(outbox: Outbox, level: int = 5) -> Vote:
    """Store one window vote the way the agent does."""
    vote = outbox.add(
        "vote",
        lambda seq, ident: Vote(
            id=ident,
            seq=seq,
            ts="2026-11-22T09:13:07.412+08:00",
            device=DEVICE,
            channel="window",
            window="w01",
            level=level,
        ),
    )
    assert isinstance(vote, Vote)
    return vote


def rows(path: Path, table: str = "outbox") -> list[tuple]:
    """The table as another process sees it: a separate connection, read only."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(f"SELECT seq, id FROM {table} ORDER BY seq").fetchall()
    finally:
        conn.close()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite"


def test_a_vote_is_in_the_file_when_add_returns(path: Path):
    outbox = Outbox(path, device=DEVICE)
    vote = cast(outbox, level=2)
    assert EPOCH.fullmatch(outbox.epoch)
    # Read by a connection of its own while the outbox is still open: committed, not pending.
    assert rows(path) == [(1, f"w01-eval-{outbox.epoch}-000000000001")]
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    (body,) = conn.execute("SELECT body FROM outbox WHERE id = ?", (vote.id,)).fetchone()
    conn.close()
    assert decode_vote(body.encode(), topic_device=DEVICE) == vote
    assert outbox.depth == 1
    outbox.close()


def test_the_outbox_is_durable_wal_with_full_sync(path: Path):
    outbox = Outbox(path, device=DEVICE)
    assert outbox.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert outbox.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    outbox.close()


def test_sequence_numbers_survive_a_reopen_and_never_repeat(path: Path):
    outbox = Outbox(path, device=DEVICE)
    first = [cast(outbox) for _ in range(3)]
    assert [v.seq for v in first] == [1, 2, 3]
    # Every row receipted: the outbox is empty, but the counter must not restart.
    assert outbox.receipted([v.id for v in first]) == [1, 2, 3]
    assert outbox.depth == 0
    outbox.close()

    reopened = Outbox(path, device=DEVICE)
    assert reopened.depth == 0
    assert reopened.epoch == outbox.epoch  # the file keeps its epoch
    later = [cast(reopened) for _ in range(2)]
    assert [v.seq for v in later] == [4, 5]
    epoch = outbox.epoch
    assert [v.id for v in later] == [
        f"w01-eval-{epoch}-000000000004",
        f"w01-eval-{epoch}-000000000005",
    ]
    reopened.close()

    again = Outbox(path, device=DEVICE)
    assert again.depth == 2
    assert [p.seq for p in again.oldest(10)] == [4, 5]
    assert cast(again).seq == 6
    again.close()


def test_a_new_outbox_file_numbers_from_1_again_under_a_new_epoch(path: Path):
    # A replaced SD card, a reflashed device: the file is gone, numbers start again.
    old_ids: set[str] = set()
    epochs = []
    for _ in range(20):
        outbox = Outbox(path, device=DEVICE)
        votes = [cast(outbox) for _ in range(3)]
        assert [v.seq for v in votes] == [1, 2, 3]
        assert all(ENVELOPE_ID.fullmatch(v.id) for v in votes)
        assert old_ids.isdisjoint(v.id for v in votes)
        old_ids |= {v.id for v in votes}
        epochs.append(outbox.epoch)
        outbox.close()
        for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            name.unlink(missing_ok=True)
    assert len(set(epochs)) == 20


def test_an_outbox_of_the_old_format_gets_an_epoch_and_keeps_its_waiting_records(path: Path):
    # An outbox written before epochs: schema version 1, ids {device}-{seq}.
    db = open_database(path)
    migrate(db, MIGRATIONS[:1])
    with write_transaction(db) as conn:
        conn.execute("UPDATE counter SET value = 41 WHERE name = 'seq'")
        conn.execute(
            "INSERT INTO outbox (seq, id, kind, body, created_at) VALUES (41, ?, 'vote', ?, 0)",
            (f"{DEVICE}-000000000041", json.dumps({"id": f"{DEVICE}-000000000041"})),
        )
    db.close()

    outbox = Outbox(path, device=DEVICE)
    assert EPOCH.fullmatch(outbox.epoch)
    # The waiting record keeps the id it may already have been sent under.
    assert [(p.seq, p.id) for p in outbox.oldest(10)] == [(41, f"{DEVICE}-000000000041")]
    # New records go on counting, in the new form.
    assert cast(outbox).id == f"{DEVICE}-{outbox.epoch}-000000000042"
    outbox.close()
    again = Outbox(path, device=DEVICE)
    assert again.epoch == outbox.epoch
    again.close()


def test_an_outbox_whose_epoch_was_edited_is_refused(path: Path):
    Outbox(path, device=DEVICE).close()
    db = open_database(path)
    db.execute("UPDATE identity SET value = 'Not An Epoch!' WHERE name = 'epoch'")
    db.close()
    with pytest.raises(OutboxError, match="no valid epoch"):
        Outbox(path, device=DEVICE)


def test_a_failed_build_leaves_no_row_and_no_gap(path: Path):
    outbox = Outbox(path, device=DEVICE)

    def broken(seq: int, ident: str) -> Vote:
        raise RuntimeError("evaluator unplugged")

    with pytest.raises(RuntimeError):
        outbox.add("vote", broken)
    assert rows(path) == []
    assert cast(outbox).seq == 1
    outbox.close()


def test_stored_receipts_delete_and_unknown_ids_are_ignored(path: Path):
    outbox = Outbox(path, device=DEVICE)
    votes = [cast(outbox) for _ in range(4)]
    assert outbox.receipted([votes[1].id, votes[3].id, "w01-eval-abcdefgh-000000009999"]) == [
        2,
        4,
    ]
    assert rows(path) == [(1, votes[0].id), (3, votes[2].id)]
    # A receipt that arrives twice (the hub re-receipts resends) changes nothing.
    assert outbox.receipted([votes[1].id]) == []
    assert outbox.depth == 2
    assert outbox.delivered == 2
    outbox.close()


def test_rejected_receipts_move_the_record_with_its_reason(path: Path):
    outbox = Outbox(path, device=DEVICE)
    votes = [cast(outbox) for _ in range(3)]
    moved = outbox.rejected_by_hub(
        {votes[0].id: "level: must be an integer from 1 to 5"}, [votes[0].id, votes[2].id]
    )
    assert moved == [1, 3]
    assert rows(path) == [(2, votes[1].id)]
    assert rows(path, "rejected") == [(1, votes[0].id), (3, votes[2].id)]
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    kept = conn.execute("SELECT id, kind, reason, body FROM rejected ORDER BY seq").fetchall()
    conn.close()
    assert [(i, k, r) for i, k, r, _ in kept] == [
        (votes[0].id, "vote", "level: must be an integer from 1 to 5"),
        (votes[2].id, "vote", "rejected by the hub"),
    ]
    assert json.loads(kept[0][3])["level"] == 5
    assert outbox.depth == 1
    assert outbox.rejected == 2
    outbox.close()


def test_the_limit_refuses_new_records_and_keeps_the_earlier_ones(path: Path):
    outbox = Outbox(path, device=DEVICE, limit=3)
    votes = [cast(outbox, level=n) for n in (1, 2, 3)]
    with pytest.raises(OutboxFull, match="limit"):
        cast(outbox, level=4)
    assert rows(path) == [(v.seq, v.id) for v in votes]
    outbox.close()

    # Still full after a restart; a receipt makes room, and no seq was burnt.
    reopened = Outbox(path, device=DEVICE, limit=3)
    with pytest.raises(OutboxFull):
        cast(reopened)
    reopened.receipted([votes[0].id])
    assert cast(reopened).seq == 4
    assert [p.id for p in reopened.oldest(10)] == [
        votes[1].id,
        votes[2].id,
        f"w01-eval-{reopened.epoch}-000000000004",
    ]
    reopened.close()


def test_oldest_skips_records_in_flight(path: Path):
    outbox = Outbox(path, device=DEVICE)
    for _ in range(5):
        cast(outbox)
    assert [p.seq for p in outbox.oldest(2)] == [1, 2]
    assert [p.seq for p in outbox.oldest(2, skip={1, 2})] == [3, 4]
    assert [p.seq for p in outbox.oldest(10, skip={2, 4})] == [1, 3, 5]
    pending = outbox.get(3)
    assert pending is not None
    body = json.loads(pending.payload("2026-11-22T09:20:00.000+08:00"))
    assert body["sent"] == "2026-11-22T09:20:00.000+08:00"
    assert body["id"] == f"w01-eval-{outbox.epoch}-000000000003"
    outbox.close()


def test_oldest_age_uses_the_injected_clock(path: Path):
    now = [1000.0]
    outbox = Outbox(path, device=DEVICE, clock=lambda: now[0])
    assert outbox.oldest_age() is None
    cast(outbox)
    now[0] = 1042.5
    cast(outbox)
    assert outbox.oldest_age() == 42.5
    outbox.close()


def test_an_id_named_twice_in_a_receipt_counts_once(path: Path):
    outbox = Outbox(path, device=DEVICE)
    votes = [cast(outbox) for _ in range(3)]
    assert outbox.receipted([votes[0].id, votes[0].id]) == [1]
    assert (outbox.depth, outbox.delivered) == (2, 1)
    assert outbox.rejected_by_hub({}, [votes[1].id, votes[1].id]) == [2]
    assert rows(path, "rejected") == [(2, votes[1].id)]
    assert (outbox.depth, outbox.rejected) == (1, 1)
    outbox.close()


def test_a_failed_commit_rolls_back_and_the_next_write_works(tmp_path: Path):
    db = open_database(tmp_path / "x.sqlite")
    # A deferred foreign key fails at COMMIT itself, as a full disk can.
    db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    db.execute(
        "CREATE TABLE child (id INTEGER PRIMARY KEY,"
        " parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)"
    )
    with pytest.raises(sqlite3.IntegrityError), write_transaction(db) as conn:
        conn.execute("INSERT INTO child (id, parent) VALUES (1, 42)")
    assert not db.conn.in_transaction
    with write_transaction(db) as conn:
        conn.execute("INSERT INTO parent (id) VALUES (1)")
    assert db.execute("SELECT count(*) FROM parent").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM child").fetchone()[0] == 0
    db.close()
