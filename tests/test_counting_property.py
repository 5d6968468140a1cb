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
from collections import defaultdict
from contextlib import suppress
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from device_agent.protocol import Vote, VoteFilter, format_time
from device_agent.storage import write_transaction
from hub.aggregates import COUNT_COLUMNS
from hub.errors import StateError
from tests.hall import query
from tests.stored_votes import counting_hub, make_vote

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Small thresholds, so a few dozen votes cross them, in both grains.
RULES = (
    "[warnings]\n"
    '[[warnings.rules]]\nlevel = "III"\nmonthly = 2\nyearly = 4\naction = "告诫"\n'
    '[[warnings.rules]]\nlevel = "II"\nmonthly = 3\nyearly = 6\naction = "谈话"\n'
    '[[warnings.rules]]\nlevel = "I"\nmonthly = 5\nyearly = 8\naction = "诫勉"\n'
)
THRESHOLDS = {"III": (2, 4), "II": (3, 6), "I": (5, 8)}
ORDER = ("III", "II", "I")
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
WINDOW_DEPARTMENT = "civil"
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
        item.cast_at = format_time(cast.astimezone(UTC))
        if skew_days:
            item.flags = ["clock_skew"]
        pool.append(item)
    return pool


def _fields(vote: Vote) -> dict:
    return {name: getattr(vote, name) for name in Vote.__dataclass_fields__}


def _dims(level: int) -> dict[str, int]:
    return {"attitude": level, "efficiency": min(5, level + 1), "style": 5}


def recount(database):
    """Counts and standing warnings from the raw votes, independently of hub.aggregates."""
    voided = {r[0] for r in query(database, "SELECT vote_id FROM vote_voids")}
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(COUNT_COLUMNS))
    dissatisfied: dict[tuple[str, str], list[str]] = defaultdict(list)
    for ident, window, staff, level, counted, cast_at in query(
        database,
        "SELECT id, window, staff, level, counted, cast_at FROM votes_readable ORDER BY rowid",
    ):
        local = datetime.fromisoformat(cast_at).astimezone(SHANGHAI)
        periods = [local.strftime("%Y-%m-%d"), local.strftime("%Y-%m"), local.strftime("%Y")]
        subjects = [("hall", "hall")]
        if window or staff:
            subjects.append(("department", WINDOW_DEPARTMENT))
        if window:
            subjects.append(("window", window))
        if staff:
            subjects.append(("staff", staff))
        for scope, subject in subjects:
            for period in periods:
                row = counts[(scope, subject, period)]
                if not counted:
                    row[COUNT_COLUMNS.index("filtered")] += 1
                elif ident in voided:
                    row[COUNT_COLUMNS.index("voided")] += 1
                else:
                    row[level - 1] += 1
                    row[COUNT_COLUMNS.index("total")] += 1
                    row[COUNT_COLUMNS.index("dissatisfied")] += level <= 2
        if staff and counted and ident not in voided and level <= 2:
            for period in periods[1:]:
                dissatisfied[(staff, period)].append(ident)
    standing = {}
    for (staff, period), votes in dissatisfied.items():
        grain = 0 if len(period) == 7 else 1
        holding = [lvl for lvl in ORDER if len(votes) >= THRESHOLDS[lvl][grain]]
        for lvl in holding:
            top = holding[-1]
            standing[f"{staff}-{lvl}-{period}"] = None if lvl == top else f"{staff}-{top}-{period}"
    return {k: tuple(v) for k, v in counts.items() if any(v)}, standing, dissatisfied


def kept(database, hall_id):
    names = ", ".join(COUNT_COLUMNS)
    counts = {
        (scope, "hall" if scope == "hall" else subject, period): tuple(values)
        for scope, subject, period, *values in query(
            database, f"SELECT scope, subject, period, {names} FROM counts"
        )
        if any(values)
    }
    standing = dict(
        query(database, "SELECT id, superseded_by FROM warnings WHERE withdrawn_at IS NULL")
    )
    return counts, standing


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
        with write_transaction(hub.store.db) as conn:
            rebuilt = hub.counting.rebuild(conn)
        # A rebuild judges every vote again with the same rules, and agrees with ingest.
        assert rebuilt.verdicts_changed == []
        assert rebuilt.counts.identical
    finally:
        hub.close()
