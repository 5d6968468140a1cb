"""The queue system names a service's item; the window carries it to the hub, which times it.

A real agent on the session's Mosquitto receives the queue system's service
commands (a raw MQTT client publishes them, as a queue system does) and a
real hub judges the services against the item's limits (docs/supervision.md).
"""

from __future__ import annotations

import json

import pytest

from device_agent.errors import ProtocolError
from device_agent.protocol import ServiceCommand, decode_service_command
from device_agent.session import RatingSession, SessionSettings
from device_agent.topics import DeviceTopic, Topics
from tests.hall import get_json, query, wait_until
from tests.test_docs_protocol import example
from tests.test_supervision import FAST_CHECKS, supervised_hall


def queue_system_for(hall, third_party):
    """A raw client that sees the window's service events, once the agent takes commands."""
    client = third_party(hall.port)
    topics = Topics.for_hall(hall.id)
    device = hall.device_id(1)
    status = topics.device(device, DeviceTopic.STATUS)
    service = topics.device(device, DeviceTopic.SERVICE)
    client.subscribe(status)
    client.subscribe(service)
    # The agent subscribes, then says it is online: then its command subscription is in place.
    wait_until(
        lambda: any(m.payload == b"online" for m in client.messages(status)),
        message="the agent online",
    )
    return client, topics.device(device, DeviceTopic.SERVICE_COMMAND), service


def sent_events(client, topic: str) -> dict[str, dict]:
    """The window's service events seen on the broker, by event name (the latest of each)."""
    return {body["event"]: body for body in (json.loads(m.payload) for m in client.messages(topic))}


def test_a_queue_systems_item_reaches_the_hub_and_a_too_fast_service_raises_a_yellow_alert(
    hall, start_hub, start_agent, third_party
):
    hub = start_hub(supervised_hall(hall), extra=FAST_CHECKS)
    start_agent(hall)
    queue_system, commands, service = queue_system_for(hall, third_party)

    # The ticket was drawn for the "permit" item (min_s 1800): served in a moment.
    start = {"v": 1, "event": "start", "ticket": "A017", "item": "permit"}
    queue_system.publish(commands, json.dumps(start))
    wait_until(lambda: "start" in sent_events(queue_system, service), message="the start")
    queue_system.publish(commands, json.dumps({"v": 1, "event": "end", "ticket": "A017"}))
    wait_until(lambda: "end" in sent_events(queue_system, service), message="the end")

    sent = sent_events(queue_system, service)
    assert (sent["start"]["item"], sent["end"]["item"]) == ("permit", "permit")
    assert sent["end"]["service"] == sent["start"]["id"] == sent["start"]["service"]
    url = f"{hub.api_url}/api/v1/supervision/alerts"
    alerts = wait_until(
        lambda: get_json(url, token=hall.token)["alerts"], message="the too-fast alert"
    )
    assert [
        (a["kind"], a["status"], a["item"], a["limits"], a["limit_s"], a["ticket"]) for a in alerts
    ] == [("too_fast", "yellow", "permit", "item", 1800, "A017")]
    assert alerts[0]["service"] == sent["start"]["id"]
    assert alerts[0]["seconds"] < 1800


def test_a_console_button_service_names_no_item(hall, start_hub, start_agent, third_party):
    start_hub(supervised_hall(hall), extra=FAST_CHECKS)
    window = start_agent(hall, evaluator='console_pin = "GPIO5"\n')
    queue_system, _, service = queue_system_for(hall, third_party)

    window.press(5)
    wait_until(lambda: "start" in sent_events(queue_system, service), message="the start")
    window.press(5)
    wait_until(lambda: "end" in sent_events(queue_system, service), message="the end")

    sent = sent_events(queue_system, service)
    # Left out, not null: a plain service event reads as version 1 first defined it.
    assert "item" not in sent["start"] and "item" not in sent["end"]
    wait_until(
        lambda: (
            query(hall.database, "SELECT event, item FROM service_events ORDER BY rowid")
            == [("start", None), ("end", None)]
        ),
        message="both events stored without an item",
    )


def test_an_unknown_item_from_the_queue_system_is_quarantined_at_the_hub(
    hall, start_hub, start_agent, third_party
):
    hub = start_hub(supervised_hall(hall), extra=FAST_CHECKS)
    start_agent(hall)
    queue_system, commands, service = queue_system_for(hall, third_party)

    queue_system.publish(commands, json.dumps({"v": 1, "event": "start", "item": "passport"}))
    queue_system.publish(commands, json.dumps({"v": 1, "event": "end"}))

    quarantined = wait_until(
        lambda: [row for row in hall.quarantined() if row[2] is not None] or None,
        message="the quarantined events",
    )
    wait_until(lambda: len(hall.quarantined()) == 2, message="start and end quarantined")
    sent = sent_events(queue_system, service)
    ids = [sent["start"]["id"], sent["end"]["id"]]
    assert [(row[2], row[3]) for row in hall.quarantined()] == [
        (ident, "item: 'passport' is not a service item in the hall's directory") for ident in ids
    ]
    assert quarantined[0][1] == hall.device_id(1)
    # Not trusted, so not timed: no service is stored, and no alert raised.
    assert query(hall.database, "SELECT count(*) FROM service_events") == [(0,)]
    assert get_json(f"{hub.api_url}/api/v1/supervision/alerts", token=hall.token)["alerts"] == []


def test_the_item_of_a_service_command_is_optional_and_checked():
    assert decode_service_command(b'{"v": 1, "event": "start"}').item is None
    assert decode_service_command(b'{"v": 1, "event": "end", "item": null}').item is None
    named = decode_service_command(b'{"v": 1, "event": "start", "item": "permit"}')
    assert named.item == "permit"
    with pytest.raises(ProtocolError) as refused:
        decode_service_command(b'{"v": 1, "event": "start", "item": "no such/item"}')
    assert refused.value.field == "item"
    # The page's example is what a queue system sends.
    documented = decode_service_command(example("service command").encode())
    assert (documented.event, documented.ticket, documented.item) == (
        "start",
        "A017",
        "marriage-registration",
    )


def test_the_starts_item_stands_and_an_end_names_one_only_when_the_start_did_not():
    session = RatingSession(SessionSettings(), staff="s01")
    named = session.command(ServiceCommand("start", ticket="A1", item="permit"), 0.0)
    assert [(c.event, c.item) for c in named] == [("start", "permit")]
    ended = session.command(ServiceCommand("end", item="invoice"), 5.0)
    assert [(c.event, c.item) for c in ended] == [("end", "permit")]
    # A start with no item, then a new start: the first service ends with no item.
    session.command(ServiceCommand("start", ticket="A2"), 10.0)
    moved_on = session.command(ServiceCommand("start", ticket="A3", item="invoice"), 20.0)
    assert [(c.event, c.ticket, c.item) for c in moved_on] == [
        ("end", "A2", None),
        ("start", "A3", "invoice"),
    ]
    session.command(ServiceCommand("end"), 30.0)
    session.command(ServiceCommand("start", ticket="A4"), 40.0)
    late = session.command(ServiceCommand("end", item="permit"), 50.0)
    assert [(c.event, c.ticket, c.item) for c in late] == [("end", "A4", "permit")]
    # The console button names no item.
    assert [(c.event, c.item) for c in session.toggle(60.0)] == [("start", None)]
