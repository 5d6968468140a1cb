"""Delivery through a real broker: repeats, conflicting resends, third parties, late brokers."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from device_agent.topics import DeviceTopic, Topics
from hallrate.broker import MosquittoBroker
from tests.hall import Hall, get_json, query, wait_until
from tests.thirdparty import vote_payload

DEVICE = "w01-eval"
VOTE_ID = "w01-eval-000000000007"


@pytest.fixture
def hall(tmp_path: Path, mosquitto: MosquittoBroker, protocol: str) -> Hall:
    return Hall(tmp_path / "hall", mosquitto.port, protocol=protocol)


def test_the_same_vote_published_three_times_is_stored_once_and_receipted_each_time(
    hall, mosquitto, protocol, start_hub, third_party
):
    hub = start_hub(hall)
    topics = Topics.for_hall(hall.id)
    firmware = third_party(mosquitto.port, protocol=protocol)
    firmware.wait_for_hub(topics)
    receipts = topics.device(DEVICE, DeviceTopic.RECEIPT)
    firmware.subscribe(receipts)
    vote = vote_payload(DEVICE, 7, level=2)

    for n in range(1, 4):
        firmware.publish(topics.device(DEVICE, DeviceTopic.VOTE), vote)
        wait_until(lambda n=n: len(firmware.messages(receipts)) >= n, message=f"receipt {n}")

    assert [m.json() for m in firmware.messages(receipts)] == [
        {"v": 1, "ids": [VOTE_ID], "status": "stored"}
    ] * 3
    assert hall.stored_votes() == [(VOTE_ID, DEVICE, 2, "w01", None)]
    health = get_json(f"{hub.api_url}/healthz")
    assert (health["stored"], health["repeated"], health["conflicting"]) == (1, 2, 0)


def test_repeats_in_one_burst_are_stored_once(hall, mosquitto, protocol, start_hub, third_party):
    start_hub(hall)
    topics = Topics.for_hall(hall.id)
    firmware = third_party(mosquitto.port, protocol=protocol)
    firmware.wait_for_hub(topics)
    receipts = topics.device(DEVICE, DeviceTopic.RECEIPT)
    firmware.subscribe(receipts)
    vote_topic = topics.device(DEVICE, DeviceTopic.VOTE)

    payloads = {seq: vote_payload(DEVICE, seq) for seq in (1, 2, 3)}
    # Likely to land in one batch of the hub: duplicates inside a single commit.
    for seq in (1, 2, 1, 3, 2, 1):
        firmware.client.publish(vote_topic, payloads[seq], qos=1)

    def receipted() -> set[str]:
        return {i for m in firmware.messages(receipts) for i in m.json()["ids"]}

    wait_until(lambda: len(receipted()) == 3, message="receipts for the three ids")
    assert [row[0] for row in hall.stored_votes()] == [f"{DEVICE}-{n:012d}" for n in (1, 2, 3)]
    assert query(hall.database, "SELECT count(*) FROM vote_conflicts") == [(0,)]


def test_a_service_event_repeated_in_one_burst_is_stored_and_counted_once(
    hall, mosquitto, start_hub, third_party
):
    hub = start_hub(hall)
    topics = Topics.for_hall(hall.id)
    firmware = third_party(mosquitto.port)
    firmware.wait_for_hub(topics)
    receipts = topics.device(DEVICE, DeviceTopic.RECEIPT)
    firmware.subscribe(receipts)
    now = datetime.now().astimezone().isoformat(timespec="milliseconds")
    event = json.dumps(
        {
            "v": 1,
            "id": "w01-eval-000000000050",
            "seq": 50,
            "ts": now,
            "device": DEVICE,
            "window": "w01",
            "staff": "s01",
            "ticket": "A017",
            "event": "start",
        }
    )
    for _ in range(3):
        firmware.client.publish(topics.device(DEVICE, DeviceTopic.SERVICE), event, qos=1)
    # Published after the copies: once it is stored, every copy has been through the hub.
    firmware.publish(topics.device(DEVICE, DeviceTopic.VOTE), vote_payload(DEVICE, 51))
    wait_until(hall.stored_votes, message="the marker vote stored")

    assert query(hall.database, "SELECT id, event FROM service_events") == [
        ("w01-eval-000000000050", "start")
    ]
    wait_until(
        lambda: (
            "w01-eval-000000000050"
            in {i for m in firmware.messages(receipts) for i in m.json()["ids"]}
        ),
        message="the event's receipt",
    )
    # One event and one vote are new to the hub; the two copies are not.
    wait_until(lambda: get_json(f"{hub.api_url}/healthz")["stored"] >= 2, message="the count")
    assert get_json(f"{hub.api_url}/healthz")["stored"] == 2


def test_a_resend_with_different_content_is_flagged_and_the_first_copy_stays(
    hall, mosquitto, start_hub, third_party
):
    start_hub(hall)
    topics = Topics.for_hall(hall.id)
    firmware = third_party(mosquitto.port, protocol=hall.protocol)
    firmware.wait_for_hub(topics)
    receipts = topics.device(DEVICE, DeviceTopic.RECEIPT)
    firmware.subscribe(receipts)
    vote_topic = topics.device(DEVICE, DeviceTopic.VOTE)
    first = json.loads(vote_payload(DEVICE, 7, level=2))

    firmware.publish(vote_topic, json.dumps(first))
    wait_until(lambda: len(firmware.messages(receipts)) == 1, message="the first receipt")
    # Only `sent` differs: an honest resend, not a conflict.
    firmware.publish(vote_topic, json.dumps({**first, "sent": "2026-11-22T23:59:59.000+08:00"}))
    wait_until(lambda: len(firmware.messages(receipts)) == 2, message="the second receipt")
    # The same id with another level: kept aside, never counted.
    firmware.publish(vote_topic, json.dumps({**first, "level": 5, "comment": "改了"}))
    wait_until(lambda: len(firmware.messages(receipts)) == 3, message="the third receipt")

    assert hall.stored_votes() == [(VOTE_ID, DEVICE, 2, "w01", None)]
    conflicts = query(hall.database, "SELECT id, payload FROM vote_conflicts")
    assert len(conflicts) == 1
    assert conflicts[0][0] == VOTE_ID
    kept = json.loads(conflicts[0][1])
    assert (kept["level"], kept["comment"]) == (5, "改了")
    assert all(m.json()["status"] == "stored" for m in firmware.messages(receipts))


def test_a_vote_from_mosquitto_pub_as_the_protocol_page_describes_is_stored_and_receipted(
    hall, mosquitto, start_hub, third_party, tmp_path
):
    mosquitto_pub = shutil.which("mosquitto_pub")
    assert mosquitto_pub, "mosquitto_pub is not installed (apt install mosquitto-clients)"
    start_hub(hall)
    topics = Topics.for_hall(hall.id)
    listener = third_party(mosquitto.port)
    listener.wait_for_hub(topics)
    receipts = f"hallrate/{hall.id}/device/w03-eval/receipt"
    listener.subscribe(receipts)

    # Written by hand from the protocol page's vote envelope, as a vendor would.
    now = datetime.now().astimezone().isoformat(timespec="milliseconds")
    vote = tmp_path / "vote.json"
    vote.write_text(
        "{\n"
        '  "v": 1,\n'
        '  "id": "w03-eval-000000001042",\n'
        '  "seq": 1042,\n'
        f'  "ts": "{now}",\n'
        f'  "sent": "{now}",\n'
        '  "device": "w03-eval",\n'
        '  "channel": "window",\n'
        '  "window": "w03",\n'
        '  "staff": "s03",\n'
        '  "ticket": "A017",\n'
        '  "level": 4,\n'
        '  "dims": null,\n'
        '  "reasons": [],\n'
        '  "comment": null,\n'
        '  "anonymous": false,\n'
        '  "flags": []\n'
        "}\n",
        encoding="utf-8",
    )
    subprocess.run(
        [
            mosquitto_pub,
            *("-h", "127.0.0.1", "-p", str(mosquitto.port), "-q", "1", "-i", "vendor-w03"),
            *("-t", f"hallrate/{hall.id}/device/w03-eval/vote", "-f", str(vote)),
        ],
        check=True,
        timeout=30,
    )

    wait_until(lambda: listener.messages(receipts), message="the receipt")
    assert listener.messages(receipts)[0].json() == {
        "v": 1,
        "ids": ["w03-eval-000000001042"],
        "status": "stored",
    }
    assert hall.stored_votes() == [("w03-eval-000000001042", "w03-eval", 4, "w03", "s03")]
    assert query(hall.database, "SELECT ticket, flags, ts FROM votes") == [("A017", "[]", now)]


def test_an_agent_and_hub_started_before_the_broker_deliver_once_it_appears(
    tmp_path, protocol, start_hub, start_agent
):
    broker = MosquittoBroker(tmp_path / "late-broker")  # its port is chosen, nothing listens yet
    hall = Hall(tmp_path / "hall", broker.port, protocol=protocol)
    window = start_agent(hall, 1, resend_after_s=1.0)
    start_hub(hall)

    window.press(23)  # level 2, while there is no broker at all
    wait_until(lambda: window.agent.outbox.depth == 1, message="the vote in the outbox")
    # The citizen is thanked once the vote is on disk, broker or not.
    wait_until(
        lambda: any(s.state for s in window.factory.pin(25).states), message="the thank-you light"
    )
    assert not window.agent.link.connected
    assert hall.stored_votes() == []

    broker.start()
    try:
        wait_until(hall.stored_votes, timeout=30, message="the vote at the hub")
        wait_until(lambda: window.agent.outbox.depth == 0, timeout=30, message="the receipt")
        epoch = window.agent.outbox.epoch
        assert hall.stored_votes() == [
            (f"w01-eval-{epoch}-000000000001", "w01-eval", 2, "w01", "s01")
        ]
    finally:
        window.stop()
        broker.kill()
