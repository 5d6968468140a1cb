"""The store judges a whole batch in memory before one insert: as if stored one by one.

The rules that look back at counted votes (a ticket rated twice in a day, a
burst of dissatisfied kiosk votes) must see the votes earlier in the same
batch, though those are not in the table yet. The same votes committed as
one batch and one by one must end with the same verdicts, counts and
first-vote-of-the-hour index.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from hub.store import StoredVote
from tests.hall import query
from tests.stored_votes import counting_hub, make_vote


def votes() -> list[StoredVote]:
    def with_ticket(item: StoredVote, ticket: str) -> StoredVote:
        item.vote = replace(item.vote, ticket=ticket)
        return item

    day = "2026-11-05T"
    kiosk = {"channel": "kiosk", "window": None, "device": "kiosk-01"}
    return [
        with_ticket(make_vote(f"{day}10:00:00+08:00", seq=1), "A001"),
        # The same ticket again that day, at another window: caught.
        with_ticket(make_vote(f"{day}10:30:00+08:00", seq=2, window="w02"), "A001"),
        make_vote(f"{day}11:00:00+08:00", seq=3, level=1, **kiosk),
        # Dissatisfied again for s01 from the same kiosk 5 minutes later: a burst.
        make_vote(f"{day}11:05:00+08:00", seq=4, level=2, **kiosk),
        # A satisfied one counts; so does a dissatisfied one 30 minutes later.
        make_vote(f"{day}11:06:00+08:00", seq=5, level=5, **kiosk),
        make_vote(f"{day}11:40:00+08:00", seq=6, level=1, **kiosk),
        # The next hour's first vote, for the index of cast hours.
        make_vote(f"{day}12:10:00+08:00", seq=7, window="w03"),
    ]


def stored(root, *, one_batch: bool) -> tuple[list[tuple], list[tuple], list[tuple]]:
    hub = counting_hub(root, kiosks=1)
    try:
        items = votes()
        if one_batch:
            hub.add(*items)
        else:
            for item in items:
                hub.add(item)
        db = hub.config.database
        verdicts = query(db, "SELECT rowid, seq, counted, hub_rule FROM votes ORDER BY rowid")
        # Each hall here has an id of its own: its rows are named by scope alone.
        counts = query(
            db,
            "SELECT scope, CASE scope WHEN 'hall' THEN '' ELSE subject END, period, total,"
            " dissatisfied FROM counts ORDER BY 1, 2, 3",
        )
        hours = query(db, "SELECT hour, first_rowid FROM cast_hours ORDER BY hour")
        return verdicts, counts, hours
    finally:
        hub.store.close()


@pytest.mark.parametrize("one_batch", [True, False], ids=["one batch", "one by one"])
def test_each_vote_is_judged_against_the_ones_before_it(tmp_path, one_batch):
    verdicts, _, hours = stored(tmp_path / "hall", one_batch=one_batch)
    assert [(seq, counted, rule) for _, seq, counted, rule in verdicts] == [
        (1, 1, None),
        (2, 0, "ticket_repeat"),
        (3, 1, None),
        (4, 0, "kiosk_burst"),
        (5, 1, None),
        (6, 1, None),
        (7, 1, None),
    ]
    assert [rowid for rowid, *_ in verdicts] == [1, 2, 3, 4, 5, 6, 7]
    # 10:00, 11:00 and 12:00 in UTC+8: each hour's first vote.
    assert [rowid for _, rowid in hours] == [1, 3, 7]


def test_one_batch_and_one_by_one_store_the_same(tmp_path):
    assert stored(tmp_path / "a", one_batch=True) == stored(tmp_path / "b", one_batch=False)
