"""Efficiency warnings: thresholds, supersession, time-zone boundaries, late votes, appeals."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from device_agent.errors import ConfigError
from device_agent.storage import write_transaction
from hub.config import load_hub_config
from hub.errors import StateError
from hub.periods import checked_period
from hub.store import Batch, Store
from hub.warnings import DEFAULT_RULES
from tests.hall import Hall, query
from tests.stored_votes import NO_PAUSE, counting_hub, make_vote


@pytest.fixture
def hub(tmp_path):
    hub = counting_hub(tmp_path / "hall")
    yield hub
    hub.close()


def warning_votes(hub, ident: str) -> list[str]:
    return [
        r[0]
        for r in query(
            hub.hall.database,
            "SELECT x.vote_id FROM warning_votes x JOIN votes v ON v.id = x.vote_id"
            " WHERE x.warning_id = ? ORDER BY v.rowid",
            (ident,),
        )
    ]


def trigger(hub, ident: str) -> str:
    return query(hub.hall.database, "SELECT trigger_vote FROM warnings WHERE id = ?", (ident,))[0][
        0
    ]


@pytest.mark.parametrize(
    ("level", "threshold", "action"),
    [("III", 10, "效能告诫"), ("II", 20, "效能谈话"), ("I", 40, "诫勉谈话")],
)
def test_monthly_threshold_raises_its_level_once(hub, level, threshold, action):
    # Satisfied votes in between never count toward a warning.
    for day in range(threshold - 1):
        hub.add(
            make_vote(f"2026-11-{1 + day % 28:02d}T10:00:00+08:00", level=1 + day % 2),
            make_vote(f"2026-11-{1 + day % 28:02d}T11:00:00+08:00", level=3 + day % 3),
        )
    ident = f"s01-{level}-2026-11"
    assert ident not in hub.warnings()

    last = make_vote("2026-11-29T16:00:00+08:00", level=2)
    hub.add(last)

    assert hub.warnings()[ident][:4] == (level, "2026-11", threshold, "raised")
    assert trigger(hub, ident) == last.vote.id
    behind = warning_votes(hub, ident)
    assert len(behind) == threshold and behind[-1] == last.vote.id
    assert query(hub.hall.database, "SELECT action FROM warnings WHERE id = ?", (ident,)) == [
        (action,)
    ]
    hub.add(*(make_vote("2026-11-29T17:00:00+08:00") for _ in range(3)))
    assert [w for w in hub.warnings() if w == ident] == [ident]
    assert hub.events(ident)[0] == "raised"


@pytest.mark.parametrize(("level", "threshold"), [("III", 40), ("II", 80), ("I", 120)])
def test_yearly_threshold_raises_its_level_once(hub, level, threshold):
    # Spread over the year: one month would reach its own thresholds first.
    votes = [
        make_vote(f"2026-{1 + i % 12:02d}-{1 + (i // 12) % 28:02d}T09:30:00+08:00")
        for i in range(threshold)
    ]
    hub.add(*votes[:-1])
    ident = f"s01-{level}-2026"
    assert ident not in hub.warnings()

    hub.add(votes[-1])

    assert hub.warnings()[ident][:4] == (level, "2026", threshold, "raised")
    assert trigger(hub, ident) == votes[-1].vote.id
    assert warning_votes(hub, ident) == [v.vote.id for v in votes]
    hub.add(make_vote("2026-06-15T09:00:00+08:00"))
    assert query(hub.hall.database, "SELECT count(*) FROM warnings WHERE id = ?", (ident,)) == [
        (1,)
    ]


def test_a_batch_that_jumps_past_a_threshold_names_the_vote_that_reached_it(hub):
    votes = [make_vote("2026-11-05T10:00:00+08:00") for _ in range(12)]
    hub.add(*votes[:8])
    hub.add(*votes[8:])  # 8 -> 12 in one commit
    assert trigger(hub, "s01-III-2026-11") == votes[9].vote.id
    assert hub.warnings()["s01-III-2026-11"][2] == 12


def test_higher_level_supersedes_lower_in_the_same_period(hub):
    hub.add(*(make_vote("2026-11-10T10:00:00+08:00") for _ in range(20)))
    found = hub.warnings()
    assert found["s01-III-2026-11"][5] == "s01-II-2026-11"
    assert found["s01-II-2026-11"][5] is None
    assert hub.events("s01-III-2026-11") == ["raised", "superseded"]
    # A yearly warning is a period of its own: not superseded by a monthly one.
    hub.add(*(make_vote(f"2026-{m:02d}-03T10:00:00+08:00") for m in (1, 2) for _ in range(9)))
    hub.add(*(make_vote("2026-03-03T10:00:00+08:00") for _ in range(2)))
    assert hub.warnings()["s01-III-2026"][5] is None


def test_month_end_in_shanghai_splits_where_the_hall_does(hub):
    hub.add(*(make_vote("2026-11-20T10:00:00+08:00") for _ in range(9)))
    # 00:00 on 1 December in the hall is 16:00 UTC on 30 November.
    hub.add(make_vote("2026-11-30T16:00:00+00:00"), make_vote("2026-12-01T00:00:00+08:00"))
    assert hub.count("staff", "s01", "2026-11") == 9
    assert hub.count("staff", "s01", "2026-12") == 2
    assert hub.count("staff", "s01", "2026-12-01") == 2
    assert hub.warnings() == {}

    hub.add(make_vote("2026-11-30T15:59:59.999+00:00"))  # 23:59:59.999 in the hall

    assert hub.count("staff", "s01", "2026-11-30") == 1
    assert list(hub.warnings()) == ["s01-III-2026-11"]


def test_new_year_in_shanghai_splits_the_years(hub):
    # 39 votes in 2026, at most 9 a month, so only the yearly rule can fire.
    early = [make_vote(f"2026-{1 + i % 12:02d}-10T10:00:00+08:00", window="w02") for i in range(39)]
    hub.add(*early)
    hub.add(make_vote("2027-01-01T00:00:00+08:00"), make_vote("2026-12-31T16:00:00Z"))
    assert hub.count("staff", "s01", "2026") == 39
    assert hub.count("staff", "s01", "2027") == 2
    assert hub.count("window", "w01", "2027-01-01") == 2
    assert "s01-III-2026" not in hub.warnings()

    hub.add(make_vote("2026-12-31T23:59:59+08:00"))

    assert hub.count("staff", "s01", "2026-12-31") == 1
    assert "s01-III-2026" in hub.warnings()
    assert "s01-III-2027" not in hub.warnings()


def test_a_vote_from_a_clock_centuries_off_counts_under_well_formed_keys(hub):
    hub.add(make_vote("0999-06-01T10:00:00+08:00"))
    for period in ("0999-06-01", "0999-06", "0999"):
        assert hub.count("staff", "s01", period) == 1


@pytest.mark.parametrize("key", ["２０２６-１１", "२०२६", "2026-1x", "2026-13"])
def test_a_period_key_is_four_ascii_digits_a_month_and_a_day(key):
    with pytest.raises(ValueError, match=r"not a period key|no month"):
        checked_period(key)
    assert checked_period("2026-11") == "month"


def test_a_late_vote_counts_in_the_month_it_was_cast(hub):
    hub.clock.now = datetime(2026, 12, 9, 2, 0, tzinfo=UTC)  # in December now
    hub.add(*(make_vote("2026-11-28T10:00:00+08:00") for _ in range(9)))
    hub.add(make_vote("2026-12-09T09:00:00+08:00"))
    assert hub.warnings() == {}

    hub.add(make_vote("2026-11-29T10:00:00+08:00"))  # a device offline for ten days

    assert list(hub.warnings()) == ["s01-III-2026-11"]
    raised_at = query(hub.hall.database, "SELECT raised_at FROM warnings")[0][0]
    assert raised_at.startswith("2026-12-09T02:00")


def test_a_duplicate_vote_counts_once(hub):
    votes = [make_vote("2026-11-05T10:00:00+08:00") for _ in range(9)]
    hub.add(*votes)
    hub.add(*votes[:5])  # resent after a lost receipt
    hub.add(votes[0], votes[0])
    assert hub.count("staff", "s01", "2026-11") == 9
    assert hub.warnings() == {}


def test_a_void_withdraws_a_warning_that_no_longer_holds_and_keeps_it(hub):
    votes = [make_vote("2026-11-05T10:00:00+08:00") for _ in range(10)]
    hub.add(*votes)
    ident = "s01-III-2026-11"
    with write_transaction(hub.store.db) as conn:
        hub.counting.engine.acknowledge(conn, ident, by="manager")

    voided = hub.void(votes[3].vote.id, reason="not_about_staff")

    assert voided.warnings == [ident]
    assert hub.warnings()[ident] == ("III", "2026-11", 10, "acknowledged", 1, None)
    assert hub.warnings(standing=True) == {}
    assert hub.events(ident) == ["raised", "acknowledged", "withdrawn"]
    assert hub.count("staff", "s01", "2026-11") == 9
    assert hub.count("staff", "s01", "2026-11", "voided") == 1
    assert hub.count("window", "w01", "2026-11-05", "total") == 9
    with pytest.raises(StateError, match="withdrawn"), write_transaction(hub.store.db) as conn:
        hub.counting.engine.record_action(conn, ident, by="office", what="talk")
    with pytest.raises(StateError, match="was voided"):
        hub.void(votes[3].vote.id)

    # One more dissatisfied vote: the same warning holds again, under the same id.
    hub.add(make_vote("2026-11-06T10:00:00+08:00"))
    assert hub.warnings()[ident] == ("III", "2026-11", 10, "raised", 0, None)
    assert hub.events(ident)[-1] == "reinstated"
    assert votes[3].vote.id not in warning_votes(hub, ident)


def test_a_void_that_leaves_the_warning_standing_takes_the_vote_out_of_its_evidence(hub):
    votes = [make_vote("2026-11-05T10:00:00+08:00") for _ in range(11)]
    hub.add(*votes)
    ident = "s01-III-2026-11"
    hub.void(votes[0].vote.id, reason="duplicate")
    assert hub.warnings()[ident][3:5] == ("raised", 0)
    assert warning_votes(hub, ident) == [v.vote.id for v in votes[1:]]
    assert trigger(hub, ident) == votes[10].vote.id
    assert hub.events(ident) == ["raised", "votes_changed"]


def test_a_void_below_the_higher_level_restores_the_lower_one(hub):
    votes = [make_vote("2026-11-05T10:00:00+08:00") for _ in range(20)]
    hub.add(*votes)
    hub.void(votes[-1].vote.id)
    standing = hub.warnings(standing=True)
    assert list(standing) == ["s01-III-2026-11"]
    assert standing["s01-III-2026-11"][5] is None
    # Raised in one commit with all 20 votes, level III cited the voided one too.
    assert hub.events("s01-III-2026-11") == [
        "raised",
        "superseded",
        "unsuperseded",
        "votes_changed",
    ]
    assert hub.events("s01-II-2026-11") == ["raised", "withdrawn"]


def test_lifecycle_goes_raised_acknowledged_actioned_closed(hub):
    hub.add(*(make_vote("2026-11-05T10:00:00+08:00") for _ in range(10)))
    ident = "s01-III-2026-11"
    engine = hub.counting.engine
    with pytest.raises(StateError, match="is raised"), write_transaction(hub.store.db) as conn:
        engine.close(conn, ident, by="office")
    with write_transaction(hub.store.db) as conn:
        engine.acknowledge(conn, ident, by="wang", note="seen")
        engine.record_action(conn, ident, by="office-li", what="效能告诫 delivered")
        engine.record_action(conn, ident, by="office-li", what="follow-up call")
        engine.close(conn, ident, by="office-li")
    log = query(
        hub.hall.database,
        "SELECT event, by, detail FROM warning_events WHERE warning_id = ? ORDER BY seq",
        (ident,),
    )
    assert [(e, b) for e, b, _ in log] == [
        ("raised", "hub"),
        ("acknowledged", "wang"),
        ("action", "office-li"),
        ("action", "office-li"),
        ("closed", "office-li"),
    ]
    assert "效能告诫 delivered" in log[2][2]
    assert hub.warnings()[ident][3] == "closed"


def test_staff_of_a_kiosk_vote_counts_for_their_department(tmp_path):
    hub = counting_hub(tmp_path / "hall", kiosks=1)
    try:
        hub.add(make_vote("2026-11-05T10:00:00+08:00", window=None, staff="s02", channel="kiosk"))
        assert hub.count("staff", "s02", "2026-11") == 1
        assert hub.count("department", "civil", "2026-11") == 1
        assert hub.count("window", "w02", "2026-11") == 0
    finally:
        hub.close()


def test_votes_stored_without_counting_are_caught_up_and_rebuild_agrees(hub):
    hub.add(*(make_vote("2026-11-05T10:00:00+08:00") for _ in range(4)))
    bare = Store(hub.config.database)  # a store without the counting hook
    bare.commit(Batch(votes=[make_vote("2026-11-06T10:00:00+08:00") for _ in range(6)]))
    bare.close()
    assert hub.warnings() == {}
    hub.add(make_vote("2026-11-07T10:00:00+08:00", level=5))
    assert hub.count("staff", "s01", "2026-11") == 10
    assert list(hub.warnings()) == ["s01-III-2026-11"]
    rebuilt = hub.counting.rebuild(hub.store.db, pacing=NO_PAUSE)
    assert rebuilt.counts.identical
    assert rebuilt.warnings_changed == []


def test_rebuild_repairs_counts_that_drifted(hub):
    hub.add(*(make_vote("2026-11-05T10:00:00+08:00") for _ in range(10)))
    with write_transaction(hub.store.db) as conn:
        conn.execute("UPDATE counts SET dissatisfied = 3 WHERE scope = 'staff'")
        conn.execute("DELETE FROM counts WHERE scope = 'window'")
    rebuilt = hub.counting.rebuild(hub.store.db, pacing=NO_PAUSE)
    assert not rebuilt.counts.identical
    assert ("window", "w01", "2026-11") in rebuilt.counts.changed
    assert hub.count("staff", "s01", "2026-11") == 10
    assert hub.count("window", "w01", "2026") == 10


def test_rules_come_from_the_config(tmp_path):
    rules = (
        "[warnings]\n"
        '[[warnings.rules]]\nlevel = "Y"\nmonthly = 3\naction = "黄牌"\n'
        '[[warnings.rules]]\nlevel = "R"\nmonthly = 5\nyearly = 6\naction = "红牌"\n'
    )
    hub = counting_hub(tmp_path / "hall", extra=rules)
    try:
        hub.add(*(make_vote("2026-11-05T10:00:00+08:00") for _ in range(3)))
        assert list(hub.warnings()) == ["s01-Y-2026-11"]
        hub.add(*(make_vote("2026-10-05T10:00:00+08:00") for _ in range(3)))
        assert hub.warnings(standing=True).keys() == {
            "s01-Y-2026-11",
            "s01-Y-2026-10",
            "s01-R-2026",
        }
    finally:
        hub.close()


def test_bad_rules_are_reported_with_file_and_key(tmp_path):
    hall = Hall(tmp_path / "hall", 1883)
    path = hall.hub_config(
        extra="[warnings]\nenabled = 1\n"
        '[[warnings.rules]]\nlevel = "III"\nmonthly = 10\naction = "a"\ncolour = "red"\n'
        '[[warnings.rules]]\nlevel = "III"\nmonthly = 5\naction = ""\n'
        '[[warnings.rules]]\nlevel = "bad level"\naction = "c"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_hub_config(path)
    problems = "\n".join(caught.value.problems)
    for expected in (
        "warnings.enabled: must be true or false",
        "warnings.rules[0].colour: unknown key",
        "warnings.rules[1].level: duplicate level 'III'",
        "warnings.rules[1].monthly: must exceed the less severe level's 10",
        "warnings.rules[1].action: must be 1-64 characters",
        "warnings.rules[2].level: must be 1-8 letters or digits",
        "warnings.rules[2].monthly: a rule needs a monthly or a yearly threshold",
    ):
        assert f"{path}: {expected}" in problems


def test_the_rules_shown_in_the_docs_are_the_defaults(tmp_path):
    text = (Path(__file__).parent.parent / "docs/warnings.md").read_text()
    example = text.split("```toml\n[warnings]\n", 1)[1].split("```", 1)[0]
    hall = Hall(tmp_path / "hall", 1883)
    config = load_hub_config(hall.hub_config(extra="[warnings]\n" + example))
    assert config.warnings.rules == DEFAULT_RULES
    assert load_hub_config(hall.hub_config()).warnings.rules == DEFAULT_RULES
