"""Rating sessions end to end: mock pins and MQTT commands in, rows and API answers at the hub."""

from __future__ import annotations

import json

import pytest

from device_agent.topics import DeviceTopic, Topics
from tests.clock import SteppedClock
from tests.hall import get_json, query, wait_until

CONSOLE = 5  # GPIO5, the staff console button in these tests
LED = 25  # GPIO25, the status light
SESSION = '\n[session]\ninvite_s = 60\ncooldown_s = 3\nout_of_service = "{policy}"\n'


def votes(hall) -> list[tuple]:
    return query(
        hall.database,
        "SELECT level, staff, ticket, counted, filter_rule, filter_version, flags, service"
        " FROM votes ORDER BY rowid",
    )


def events(hall) -> list[tuple]:
    return query(
        hall.database, "SELECT id, event, staff, ticket, service FROM service_events ORDER BY rowid"
    )


def start_window(hall, start_agent, clock, policy="unsolicited"):
    window = start_agent(
        hall,
        1,
        clock=clock,
        evaluator='console_pin = "GPIO5"\nbuzzer_pin = "GPIO6"\n',
        extra=SESSION.format(policy=policy),
    )
    wait_until(lambda: window.agent.link.connected, message="agent connected")
    return window


def test_twenty_fast_presses_after_one_service_count_once(hall, start_hub, start_agent):
    hub = start_hub(hall)
    clock = SteppedClock()
    window = start_window(hall, start_agent, clock)

    window.press(CONSOLE)  # the staff start serving
    clock.advance(120)
    window.press(CONSOLE)  # ... and end: the evaluator invites a rating
    wait_until(lambda: len(events(hall)) == 2, message="start and end at the hub")
    led = window.factory.pin(LED)
    wait_until(
        lambda: sum(s.state for s in led.states) >= 2, message="the light blinking an invitation"
    )
    assert any(s.state for s in window.factory.pin(6).states)  # ... and the buzzer beeped
    for _ in range(20):  # a child at the keypad: 20 presses in 2 seconds
        clock.advance(0.1)
        window.press(17)

    wait_until(lambda: len(votes(hall)) == 20, message="20 votes at the hub")
    start_id = events(hall)[0][0]
    assert [e[1:] for e in events(hall)] == [
        ("start", "s01", None, start_id),
        ("end", "s01", None, start_id),
    ]
    stored = votes(hall)
    assert stored[0] == (5, "s01", None, 1, None, None, "[]", start_id)
    assert stored[1:] == [(5, "s01", None, 0, "one_per_service", 1, "[]", start_id)] * 19

    report = get_json(f"{hub.api_url}/api/v1/filters?window=w01", token=hall.token)
    assert report["days"] == [
        {
            "window": "w01",
            "day": report["from"],
            "presses": 20,
            "counted": 1,
            "unsolicited": 0,
            "filtered": {"one_per_service": 19},
            "rule_versions": {"one_per_service": [1]},
        }
    ]
    stats = get_json(
        f"{hub.api_url}/api/v1/stats?group=window&period=day&subject=w01", token=hall.token
    )["rows"]
    assert [(r["total"], r["filtered"]) for r in stats] == [(1, 19)]
    listed = get_json(f"{hub.api_url}/api/v1/votes?window=w01", token=hall.token)["votes"]
    assert [(v["counted"], v["filter"]) for v in listed] == [(True, None)] + [
        (False, {"rule": "one_per_service", "version": 1})
    ] * 19
    # Thanked once, steadily: the clock stands within thank_s of the one counted press.
    assert led.state


@pytest.mark.parametrize("policy", ["unsolicited", "filter"])
def test_a_press_with_no_service_follows_the_policy(hall, start_hub, start_agent, policy):
    hub = start_hub(hall)
    clock = SteppedClock()
    window = start_window(hall, start_agent, clock, policy=policy)

    window.press(23)  # level 2, nobody is being served

    wait_until(lambda: votes(hall), message="the press at the hub")
    if policy == "unsolicited":
        assert votes(hall) == [(2, "s01", None, 1, None, None, '["unsolicited"]', None)]
        wait_until(lambda: window.factory.pin(LED).state, message="the thank-you light")
        expected = {"counted": 1, "unsolicited": 1, "filtered": {}}
    else:
        assert votes(hall) == [(2, "s01", None, 0, "no_service", 1, "[]", None)]
        expected = {"counted": 0, "unsolicited": 0, "filtered": {"no_service": 1}}
    day = get_json(f"{hub.api_url}/api/v1/filters", token=hall.token)["days"]
    assert [{k: d[k] for k in expected} for d in day] == [expected]
    # Filtered votes are stored, never counted: the stats see only what counts.
    stats = get_json(
        f"{hub.api_url}/api/v1/stats?group=window&period=day&subject=w01", token=hall.token
    )["rows"]
    assert [(r["total"], r["filtered"]) for r in stats] == [
        (expected["counted"], sum(expected["filtered"].values()))
    ]


def test_service_commands_over_mqtt_tie_the_vote_to_ticket_and_staff(
    hall, start_hub, start_agent, third_party
):
    start_hub(hall)
    clock = SteppedClock()
    window = start_window(hall, start_agent, clock)
    queue_system = third_party(hall.port)
    topics = Topics.for_hall(hall.id)
    topic = topics.device(hall.device_id(1), DeviceTopic.SERVICE_COMMAND)
    # The agent subscribes, then says it is online, on one connection: once "online"
    # shows, its subscription is in place (`connected` alone comes before the SUBACK).
    status = topics.device(hall.device_id(1), DeviceTopic.STATUS)
    queue_system.subscribe(status)
    wait_until(
        lambda: any(m.payload == b"online" for m in queue_system.messages(status)),
        message="the agent online",
    )

    queue_system.publish(topic, json.dumps({"v": 1, "event": "sign_in", "staff": "s03"}))
    queue_system.publish(topic, json.dumps({"v": 1, "event": "start", "ticket": "A017"}))
    queue_system.publish(topic, b'{"v": 1, "event": "explode"}')  # malformed: ignored, logged
    queue_system.publish(topic, json.dumps({"v": 1, "event": "end", "ticket": "A017"}))
    wait_until(lambda: len(events(hall)) == 4, message="four service events")
    clock.advance(5)
    window.press(27)  # level 4

    wait_until(lambda: votes(hall), message="the vote")
    (_, *signout), (_, *signin), (start_id, *start), (_, *end) = events(hall)
    assert signout == ["sign_out", "s01", None, None]
    assert signin == ["sign_in", "s03", None, None]
    assert start == ["start", "s03", "A017", start_id]
    assert end == ["end", "s03", "A017", start_id]
    assert votes(hall) == [(4, "s03", "A017", 1, None, None, "[]", start_id)]
