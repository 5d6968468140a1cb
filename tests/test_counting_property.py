"""Property: whatever order votes arrive in, counts and warnings equal a recount from raw votes.

Hypothesis draws a pool of votes cast around month and year ends in the
hall's time zone (written with assorted UTC offsets), then a sequence of
ingest batches that send pool votes in any order — late, repeated, resent in
the same batch — with appeals voiding some of them in between. After every
step the incremental ``counts`` and the standing warnings must equal what an
independent brute-force recount of the raw ``votes`` table gives.
"""

from __future__ import annotations

import itertools
from contextlib import suppress
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from device_agent.protocol import Vote, VoteFilter, format_time
from device_agent.storage import write_transaction
from hub.errors import StateError
from hub.instants import ms_of
from hub.rebuild import Pacing
from hub.store import Batch, Store
from tests.hall import query
from tests.recount import RULES, SHANGHAI, THRESHOLDS, kept, recount
from tests.stored_votes import NO_PAUSE, counting_hub, make_vote

# Instants in the hall's time zone on both sides of month and year ends.
MOMENTS = [
    datetime(2026, 11, 30, 23, 59, 59, 999000, tzinfo=SHANGHAI),
    datetime(2026, 12, 1, 0, 0, tzinfo=SHANGHAI),
    datetime(2026, 12, 15, 12, 0, tzinfo=SHANGHAI),
    datetime(2026, 12, 31, 23, 59, 59, tzinfo=SHANGHAI),
    datetime(2027, 1, 1, 0, 0, tzinfo=SHANGHAI),
    datetime(2027, 1, 1, 7, 59, 59, tzinfo=SHANGHAI),
    datetime(2027, 1, 31, 23, 59, 59, 999000, tzinfo=SHANGHAI),
    datetime(2027, 2, 1, 0, 0, 0, 1000, tzinfo=SHANGHAI),
]
OFFSETS = [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))]
_examples = itertools.count()
_HUB_RULED = "SELECT 1 FROM votes WHERE hub_rule IS NOT NULL"

vote_spec = st.tuples(
    st.sampled_from(MOMENTS),
    st.sampled_from(OFFSETS),
    st.sampled_from(["s01", "s01", "s02", None]),
    st.sampled_from(["w01", "w02", None]),
    st.sampled_from([1, 1, 2, 2, 3, 4, 5]),  # dissatisfied often, so warnings fire
    st.booleans(),  # filtered by an anti-manipulation rule
    st.integers(0, 3),  # the device's clock is off by this many days (corrected by ingest)
    # Arrives at once, hours later, or after its month closed (the hub holds it).
    st.sampled_from([timedelta(0), timedelta(0), timedelta(hours=30), timedelta(days=12)]),
    st.sampled_from([None, None, "A001", "A002"]),  # the ticket: one rating each per day
)
step = st.one_of(
    st.tuples(st.just("batch"), st.lists(st.integers(0, 39), min_size=1, max_size=20)),
    st.tuples(
        st.just("void"),
        st.integers(0, 39),
        st.sampled_from(["malicious", "not_about_staff", "duplicate"]),
    ),
)


def build_pool(specs):
    pool = []
    for n, spec in enumerate(specs):
        moment, offset, staff, window, level, filtered, skew_days, delay, ticket = spec
        cast = moment.astimezone(offset)
        device = f"{window}-eval" if window else "kiosk-01"
        item = make_vote(
            format_time(cast - timedelta(days=skew_days)),
            level=level,
            staff=staff,
            window=window or "w01",
            device=device,
            seq=10_000 + n,
            received=format_time((cast + delay).astimezone(UTC)),
        )
        vote = Vote(**{**_fields(item.vote), "ticket": ticket})
        if window is None:  # a kiosk vote for a named staff member
            vote = Vote(
                **{**_fields(vote), "channel": "kiosk", "window": None, "dims": _dims(level)}
            )
        if filtered:
            vote = Vote(**{**_fields(vote), "filter": VoteFilter("repeat", 1)})
        item.vote = vote
        # Ingest's correction of a skewed clock: cast_at is the corrected time.
        item.cast_at = ms_of(cast)
        if skew_days:
            item.flags = ["clock_skew"]
        pool.append(item)
    return pool


def _fields(vote: Vote) -> dict:
    return {name: getattr(vote, name) for name in Vote.__dataclass_fields__}


def _dims(level: int) -> dict[str, int]:
    return {"attitude": level, "efficiency": min(5, level + 1), "style": 5}


# 150 generated halls by design (16 s of the suite on a shared 2-core machine).
@pytest.mark.slow
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    specs=st.lists(vote_spec, min_size=40, max_size=40),
    steps=st.lists(step, min_size=1, max_size=12),
)
def test_counts_and_warnings_equal_a_recount_from_raw_votes(tmp_path, specs, steps):
    hub = counting_hub(tmp_path / f"example-{next(_examples)}", extra=RULES, kiosks=1)
    database = hub.hall.database
    try:
        pool = build_pool(specs)
        sent: set[int] = set()
        for action in steps:
            if action[0] == "batch":
                hub.add(*(pool[i] for i in action[1]))
                sent.update(action[1])
            elif action[1] in sent:
                with suppress(StateError):  # already voided: refused, nothing changes
                    hub.void(pool[action[1]].vote.id, reason=action[2])
            counts, standing = kept(database, hub.hall.id)
            want_counts, want_standing, behind = recount(database)
            assert counts == want_counts
            assert standing == want_standing
        event(f"standing warnings: {min(len(standing), 3)}+")
        event(f"voids: {min(len(query(database, 'SELECT 1 FROM vote_voids')), 2)}+")
        # Every standing warning cites enough votes, all still counting against that person.
        for ident in standing:
            staff, level, period = ident.split("-", 2)
            cited = {
                r[0]
                for r in query(
                    database, "SELECT vote_id FROM warning_votes WHERE warning_id = ?", (ident,)
                )
            }
            assert cited <= set(behind[(staff, period)])
            assert len(cited) >= THRESHOLDS[level][0 if len(period) == 7 else 1]
        # Withdrawn warnings stay, and none of them holds.
        for (ident,) in query(database, "SELECT id FROM warnings WHERE withdrawn_at IS NOT NULL"):
            assert ident not in want_standing
        event(f"held or filtered by the hub: {min(len(query(database, _HUB_RULED)), 3)}+")
        rebuilt = hub.counting.rebuild(hub.store.db, pacing=NO_PAUSE)
        # A rebuild judges every vote again with the same rules, and agrees with ingest.
        assert rebuilt.verdicts_changed == []
        assert rebuilt.counts.identical
    finally:
        hub.close()


during_step = st.one_of(step, st.tuples(st.just("accept"), st.integers(0, 9)))
drift_step = st.one_of(
    # A vote's verdict flipped in the table (as a change of rules would leave it).
    st.tuples(st.just("verdict"), st.integers(0, 39)),
    # Counts that went wrong: a staff member's numbers inflated, a window's rows lost.
    st.tuples(st.just("counts"), st.sampled_from(["s01", "s02", "w01"])),
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    specs=st.lists(vote_spec, min_size=40, max_size=40),
    before=st.lists(step, min_size=1, max_size=6),
    uncounted=st.lists(st.integers(0, 39), max_size=6),
    drift=st.lists(drift_step, max_size=3),
    during=st.lists(st.tuples(st.integers(0, 4), during_step), min_size=1, max_size=10),
    chunk=st.integers(1, 6),
)
def test_a_rebuild_while_votes_arrive_and_are_voided_ends_at_the_recount(
    tmp_path, specs, before, uncounted, drift, during, chunk
):
    """Between any two transactions of a rebuild, ingest stores, managers void, the office accepts.

    The rebuild works in chunks of a few votes here, so every phase takes
    several transactions and the steps land between them, in every phase.
    """
    hub = counting_hub(tmp_path / f"rebuild-{next(_examples)}", extra=RULES, kiosks=1)
    database = hub.hall.database
    rebuilder = Store(database)  # the rebuild's own connection, as `hub rebuild` opens it
    try:
        pool = build_pool(specs)
        sent: set[int] = set()
        accepted: list[str] = []

        def run(action: tuple) -> None:
            if action[0] == "batch":
                hub.add(*(pool[i] for i in action[1]))
                sent.update(action[1])
            elif action[0] == "accept":  # the n-th vote the hub holds, if any
                held = query(database, "SELECT id FROM votes WHERE hub_rule = 'closed_period'")
                if held:
                    with suppress(StateError):  # held again by another rule: refused
                        accepted.append(hub.accept(held[action[1] % len(held)][0]).vote_id)
            elif action[1] in sent:
                with suppress(StateError):  # voided already: refused
                    hub.void(pool[action[1]].vote.id, reason=action[2])

        for action in before:
            run(action)
        if uncounted:  # stored by a hub whose counting was off
            bare = Store(database)
            bare.commit(Batch(votes=[pool[i] for i in uncounted]))
            bare.close()
            sent.update(uncounted)
        with write_transaction(rebuilder.db) as conn:
            for kind, what in drift:
                if kind == "verdict" and what in sent:
                    conn.execute(
                        "UPDATE votes SET counted = 1 - counted, hub_rule = NULL"
                        " WHERE id = ? AND filter_rule IS NULL",
                        (pool[what].vote.id,),
                    )
                elif kind == "counts" and what.startswith("s"):
                    conn.execute(
                        "UPDATE counts SET total = total + 2, dissatisfied = dissatisfied + 2"
                        " WHERE subject = ?",
                        (what,),
                    )
                elif kind == "counts":
                    conn.execute("DELETE FROM counts WHERE subject = ?", (what,))
        waiting = list(during)
        phases: set[str] = set()

        def between(phase: str, done: int) -> None:
            if waiting and waiting[0][0] <= 0:
                phases.add(phase)
                run(waiting.pop(0)[1])
            elif waiting:
                waiting[0] = (waiting[0][0] - 1, waiting[0][1])

        pacing = Pacing(
            chunk=chunk, reads=chunk, hold_s=0, pause_s=0, swap_rows=chunk, reviews=chunk
        )
        hub.counting.rebuild(rebuilder.db, pacing=pacing, progress=between)
        for phase in sorted(phases):
            event(f"a step between transactions of the {phase} phase")
        event(f"acceptances: {min(len(accepted), 2)}+")

        counts, standing = kept(database, hub.hall.id)
        want_counts, want_standing, _ = recount(database)
        assert counts == want_counts
        assert standing == want_standing
        # Nothing left to correct: a second rebuild finds the counts exact.
        again = hub.counting.rebuild(rebuilder.db, pacing=NO_PAUSE)
        assert again.counts.identical
        # An acceptance judges only its own vote, not the later ones its change may catch
        # (a ticket now rated first): a rebuild after one may still move those, and their
        # warnings. Without acceptances nothing may move.
        if not accepted:
            assert again.verdicts_changed == []
            assert again.warnings_changed == []
        elif not again.verdicts_changed:
            assert again.warnings_changed == []
    finally:
        rebuilder.close()
        hub.close()
