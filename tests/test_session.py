"""The rating session alone: one service, one rating, and which rule catches the rest."""

from __future__ import annotations

import pytest

from device_agent.protocol import ServiceCommand, VoteFilter
from device_agent.session import RatingSession, SessionSettings, SessionState

SETTINGS = SessionSettings(invite_s=60, thank_s=3, cooldown_s=3, out_of_service="unsolicited")


def press(session: RatingSession, at: float):
    verdict = session.judge(at)
    session.record(verdict, at)
    return verdict


def serve(session: RatingSession, start: float, end: float, ticket: str = "A001") -> None:
    session.command(ServiceCommand("start", ticket=ticket), start)
    session.command(ServiceCommand("end"), end)


def test_the_first_press_after_a_service_rates_it_and_the_rest_are_filtered():
    session = RatingSession(SETTINGS, staff="s01")
    serve(session, 0, 100)
    session.started("w01-eval-000000000001")  # too late: the id is set on start only

    verdicts = [press(session, 101 + i * 0.2) for i in range(20)]

    assert verdicts[0].counted
    assert (verdicts[0].staff, verdicts[0].ticket) == ("s01", "A001")
    assert verdicts[0].flags == ()
    assert [v.filter for v in verdicts[1:]] == [VoteFilter("one_per_service", 1)] * 19
    assert session.counted == 1
    assert session.filtered == {"one_per_service": 19}


def test_service_id_is_the_start_event_and_every_vote_of_the_service_carries_it():
    session = RatingSession(SETTINGS, staff="s01")
    changes = session.command(ServiceCommand("start", ticket="B7"), 0)
    session.started("w01-eval-000000000001")
    end = session.command(ServiceCommand("end"), 30)

    assert [c.event for c in changes] == ["start"]
    assert end[0].service == "w01-eval-000000000001"
    assert press(session, 31).service == "w01-eval-000000000001"
    assert press(session, 32).service == "w01-eval-000000000001"


def test_states_follow_the_service_and_the_timeouts():
    session = RatingSession(SETTINGS, staff="s01")
    assert session.state(0) == SessionState.IDLE
    session.command(ServiceCommand("start"), 0)
    assert session.state(10) == SessionState.SERVING
    session.command(ServiceCommand("end"), 20)
    assert session.state(21) == SessionState.INVITING
    assert session.state(79.9) == SessionState.INVITING
    assert session.state(80) == SessionState.IDLE  # invite_s passed without a rating

    serve(session, 100, 120)
    press(session, 121)
    assert session.state(122) == SessionState.THANKING
    assert session.state(124.5) == SessionState.RATED  # thanked, still the same service
    assert session.state(180) == SessionState.IDLE


def test_a_press_during_the_service_is_its_rating():
    session = RatingSession(SETTINGS, staff="s01")
    session.command(ServiceCommand("start", ticket="C3"), 0)
    assert press(session, 10).counted
    session.command(ServiceCommand("end"), 20)
    assert session.state(21) == SessionState.RATED  # no invitation: already rated
    assert press(session, 25).filter == VoteFilter("one_per_service", 1)


@pytest.mark.parametrize(
    ("policy", "counted", "flags", "rule"),
    [("unsolicited", True, ("unsolicited",), None), ("filter", False, (), "no_service")],
)
def test_out_of_service_press_follows_the_policy(policy, counted, flags, rule):
    settings = SessionSettings(cooldown_s=3, out_of_service=policy)
    session = RatingSession(settings, staff="s02")

    verdict = press(session, 5)

    assert verdict.counted is counted
    assert verdict.flags == flags
    assert (verdict.filter.rule if verdict.filter else None) == rule
    assert verdict.staff == "s02"
    assert verdict.ticket is None


def test_a_burst_of_presses_with_no_service_counts_once():
    session = RatingSession(SETTINGS)
    verdicts = [press(session, 1 + i * 0.5) for i in range(10)]  # 0.5 s apart, cooldown 3 s
    assert verdicts[0].counted
    assert [v.filter for v in verdicts[1:]] == [VoteFilter("cooldown", 1)] * 9
    # The burst keeps extending the cooldown; after a quiet spell a press counts again.
    assert press(session, 1 + 9 * 0.5 + 3.0).counted
    assert session.unsolicited == 2


def test_staff_starting_and_ending_services_to_rate_themselves_is_caught_by_cooldown():
    session = RatingSession(SETTINGS, staff="s01")
    outcomes = []
    for i in range(5):
        t = i * 1.0
        serve(session, t, t + 0.1)
        outcomes.append(press(session, t + 0.2).filter)
    assert outcomes[0] is None
    assert outcomes[1:] == [VoteFilter("cooldown", 1)] * 4


def test_a_press_the_outbox_refused_does_not_use_up_the_rating():
    session = RatingSession(SETTINGS, staff="s01")
    serve(session, 0, 10)
    verdict = session.judge(11)
    session.record(verdict, 11, stored=False)
    assert session.counted == 0
    later = press(session, 15)  # past the cooldown
    assert later.counted and later.rates_service


def test_start_without_end_ends_the_previous_service_and_sign_out_ends_the_current():
    session = RatingSession(SETTINGS, staff="s01")
    session.command(ServiceCommand("start", ticket="A1"), 0)
    changes = session.command(ServiceCommand("start", ticket="A2"), 10)
    assert [(c.event, c.ticket) for c in changes] == [("end", "A1"), ("start", "A2")]

    changes = session.command(ServiceCommand("sign_in", staff="s09"), 20)
    assert [(c.event, c.staff) for c in changes] == [
        ("end", "s01"),
        ("sign_out", "s01"),
        ("sign_in", "s09"),
    ]
    assert session.staff == "s09"
    start = session.command(ServiceCommand("start", ticket="A3"), 30)
    assert start[0].staff == "s09"


def test_commands_that_change_nothing_are_counted_not_published():
    session = RatingSession(SETTINGS, staff=None)
    assert session.command(ServiceCommand("end"), 0) == []
    assert session.command(ServiceCommand("sign_out"), 0) == []
    assert session.command(ServiceCommand("resume"), 0) == []
    assert session.ignored_commands == 3
    assert [c.event for c in session.command(ServiceCommand("pause"), 1)] == ["pause"]
    assert session.state(2) == SessionState.PAUSED
    assert [c.event for c in session.command(ServiceCommand("start"), 3)] == ["resume", "start"]


def test_the_console_button_toggles_start_and_end():
    session = RatingSession(SETTINGS, staff="s01")
    assert [c.event for c in session.toggle(0)] == ["start"]
    assert [c.event for c in session.toggle(5)] == ["end"]
    assert [c.event for c in session.toggle(10)] == ["start"]
