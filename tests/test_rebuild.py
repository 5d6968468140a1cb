"""``hub rebuild`` beside a running hub: receipts keep flowing, counts end exact.

The rebuild works in short transactions (``hub/rebuild.py``); these tests run
it against a real hub ingesting from a real Mosquitto, after the rules
changed, and twice at once. ``tests/test_counting_property.py`` steps in
between its transactions with hypothesis.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

from device_agent.storage import write_transaction
from device_agent.topics import DeviceTopic, Topics
from hallrate.cli import main
from hub.appeals import void_vote
from hub.config import load_hub_config
from hub.counting import Counting, rebuild_database
from hub.rebuild import Pacing
from hub.store import Batch, Store, StoredVote
from tests.hall import Hall, query, wait_until
from tests.recount import RULES, kept, recount
from tests.stored_votes import NO_PAUSE, counting_hub, make_vote
from tests.thirdparty import vote_payload

DAYS = 28


def fill(hall: Hall, votes: int) -> None:
    """Store ``votes`` votes of November 2026 through the hub's own store and counting."""
    config = load_hub_config(hall.hub_config(extra=RULES))
    counting = Counting(config)
    store = Store(config.database, counting=counting, rules=counting.rules)
    try:
        batch = []
        for n in range(votes):
            window = 1 + n % 3
            cast = f"2026-11-{1 + n % DAYS:02d}T{9 + n % 8:02d}:{n % 60:02d}:00+08:00"
            batch.append(
                make_vote(cast, level=1 + n % 5, window=f"w0{window}", staff=f"s0{window}")
            )
            if len(batch) == 500:
                store.commit(Batch(votes=batch))
                batch = []
        store.commit(Batch(votes=batch))
    finally:
        store.close()


def test_a_rebuild_beside_a_hub_ingesting_from_the_broker_loses_and_stalls_nothing(
    hall, start_hub, third_party, caplog
):
    fill(hall, 6000)
    # Verdicts as a change of rules would leave them: every 40th vote judged wrongly.
    edit = Store(hall.database)
    with write_transaction(edit.db) as conn:
        conn.execute(
            "UPDATE votes SET counted = 0, hub_rule = 'ticket_repeat' WHERE rowid % 40 = 0"
        )
    edit.close()
    # Dissatisfied votes spread over the history, for managers to void during the rebuild.
    targets = [
        r[0]
        for r in query(
            hall.database, "SELECT id FROM votes WHERE level <= 2 AND rowid % 97 = 0 ORDER BY rowid"
        )
    ]
    hub = start_hub(hall, extra=RULES)
    topics = Topics.for_hall(hall.id)
    devices = [hall.device_id(n) for n in (1, 2, 3)]
    watcher = third_party(hall.port)
    watcher.wait_for_hub(topics)
    watcher.subscribe(topics.all_devices(DeviceTopic.RECEIPT))
    publisher = third_party(hall.port)
    published: list[str] = []
    stop = threading.Event()

    def publish() -> None:
        seq = 0
        while not stop.is_set() and seq < 3000:  # bounded: 30 s at most
            seq += 1
            for n, device in enumerate(devices, start=1):
                payload = vote_payload(device, seq, level=1 + seq % 2, staff=f"s0{n}")
                publisher.publish(topics.device(device, DeviceTopic.VOTE), payload)
                published.append(f"{device}-{seq:012d}")
            time.sleep(0.03)  # about 100 votes a second

    def receipted() -> set[str]:
        messages = watcher.messages()
        return {i for m in messages if m.topic.endswith("/receipt") for i in m.json()["ids"]}

    sender = threading.Thread(target=publish, name="publisher", daemon=True)
    sender.start()
    wait_until(lambda: len(receipted()) >= 30, message="the first receipts")

    # Managers void votes while the rebuild runs, on a connection of their own.
    appeals = Store(hall.database)
    calls = {"n": 0}

    def between(phase: str, done: int) -> None:
        calls["n"] += 1
        if calls["n"] % 3 == 0 and targets:
            with write_transaction(appeals.db) as conn:
                void_vote(conn, hub.counting, targets.pop(), reason="malicious", by="manager")

    rebuilder = Store(hall.database)
    before = len(receipted())
    try:
        rebuilt = Counting(hub.config).rebuild(
            rebuilder.db, pacing=Pacing(chunk=100, reads=500), progress=between
        )
    finally:
        rebuilder.close()
        appeals.close()
    during = len(receipted()) - before
    stop.set()
    sender.join(timeout=30)

    assert len(rebuilt.verdicts_changed) == 6000 // 40
    assert during > 0, "no vote was receipted while the rebuild ran"
    wait_until(lambda: receipted() >= set(published), message="a receipt for every vote")
    assert query(hall.database, "SELECT count(*) FROM vote_voids")[0][0] > 0
    counts, standing = kept(hall.database, hall.id)
    want_counts, want_standing, _ = recount(hall.database)
    assert counts == want_counts
    assert standing == want_standing
    # No commit of the hub failed or waited out its busy timeout.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert hub.ingest.state.store_error is None


def repeated_ticket(cast: str, ticket: str) -> StoredVote:
    """A dissatisfied window vote of s01 naming ``ticket``."""
    item = make_vote(cast)
    item.vote = replace(item.vote, ticket=ticket)
    return item


def test_after_the_rules_change_a_rebuild_moves_verdicts_counts_and_warnings(tmp_path, capsys):
    hub = counting_hub(tmp_path / "hall", extra=RULES)
    try:
        hub.add(*(repeated_ticket(f"2026-11-05T1{n}:00:00+08:00", "A001") for n in range(3)))
        assert hub.count("staff", "s01", "2026-11") == 1  # the ticket's first rating only
        assert hub.warnings() == {}
        # The hall decides a ticket may be rated more than once, and rebuilds.
        config = hub.hall.hub_config(extra=RULES + "[rules]\nticket_once = false\n")
        assert main(["hub", "rebuild", "--config", str(config)]) == 0
        out = capsys.readouterr().out
        assert "from 3 votes: identical to the kept counts" in out
        assert "votes judged differently by the hub's rules: 2" in out
        assert "warnings changed: 2\n  s01-III-2026-11\n  s01-II-2026-11\n" in out
        assert hub.count("staff", "s01", "2026-11") == 3
        counts, standing = kept(hub.hall.database, hub.hall.id)
        want_counts, want_standing, _ = recount(hub.hall.database)
        assert (counts, standing) == (want_counts, want_standing)
        assert standing == {"s01-III-2026-11": "s01-II-2026-11", "s01-II-2026-11": None}
        assert hub.events("s01-II-2026-11") == ["raised"]
    finally:
        hub.close()


def test_a_second_rebuild_of_the_same_database_is_refused_while_one_runs(tmp_path, capsys):
    hub = counting_hub(tmp_path / "hall", extra=RULES)
    try:
        hub.add(*(make_vote("2026-11-05T10:00:00+08:00") for _ in range(5)))
        answers: list[int] = []

        def second(phase: str, done: int) -> None:
            if not answers:
                answers.append(rebuild_database(hub.config))

        rebuilt = hub.counting.rebuild(hub.store.db, pacing=NO_PAUSE, progress=second)
        assert answers == [1]
        assert "another rebuild of" in capsys.readouterr().err
        assert rebuilt.counts.identical
        # Once it is done, the next one runs.
        assert rebuild_database(hub.config) == 0
    finally:
        hub.close()
