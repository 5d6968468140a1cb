"""Malformed input is kept in quarantine with its reason and answered, while valid votes flow."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from device_agent.protocol import MAX_PAYLOAD_BYTES
from device_agent.topics import DeviceTopic, Topics
from tests.hall import get_json, query, wait_until
from tests.thirdparty import Message, vote_payload


@dataclass(frozen=True)
class Bad:
    """One malformed message: where it is published, what it says, what the hub must answer."""

    name: str
    device: str  # the device of the topic
    payload: bytes
    reason: str  # the start of the quarantine reason
    record_id: str | None  # the id a rejected receipt names, when the payload has one


def without(payload: bytes, name: str) -> bytes:
    body = json.loads(payload)
    del body[name]
    return json.dumps(body).encode()


BAD = [
    Bad(
        "bad JSON", "w01-eval", b'{"v": 1, "id": "w01-eval-000000000100", ', "not valid JSON", None
    ),
    Bad("not an object", "w01-eval", b"[4, 4, 4]", "not a JSON object but list", None),
    Bad(
        "wrong version",
        "w01-eval",
        vote_payload("w01-eval", 101, v=2),
        "v: unsupported version 2",
        "w01-eval-000000000101",
    ),
    Bad(
        "oversize",
        "w01-eval",
        vote_payload("w01-eval", 102, comment="长" * 3000),
        "payload of ",
        None,
    ),
    Bad(
        "topic and payload devices differ",
        "w01-eval",
        vote_payload("w02-eval", 103),
        "device: 'w02-eval' differs from the topic's 'w01-eval'",
        "w02-eval-000000000103",
    ),
    Bad(
        "unknown device",
        "zz-eval",
        vote_payload("zz-eval", 104),
        "device: unknown device 'zz-eval'",
        "zz-eval-000000000104",
    ),
    Bad(
        "level out of range",
        "w02-eval",
        vote_payload("w02-eval", 105, level=9),
        "level: must be an integer from 1 to 5, got 9",
        "w02-eval-000000000105",
    ),
    Bad(
        "missing field",
        "w02-eval",
        without(vote_payload("w02-eval", 106), "channel"),
        "channel: must be one of window, kiosk",
        "w02-eval-000000000106",
    ),
    Bad(
        # 08:00 on 1 January 10000 in the hall: no period holds it.
        "cast time past the calendar",
        "w02-eval",
        vote_payload("w02-eval", 107, ts="9999-12-31T23:00:00.000+00:00", sent=None),
        "ts: the cast time (corrected by the clock offset `sent` shows) is outside the years",
        "w02-eval-000000000107",
    ),
    Bad(
        "clock offset past the calendar",
        "w02-eval",
        vote_payload("w02-eval", 108, sent="9999-01-01T00:00:00.000+00:00"),
        "ts: the cast time (corrected by the clock offset `sent` shows) is outside the years",
        "w02-eval-000000000108",
    ),
]


def test_each_kind_of_malformed_input_is_quarantined_and_answered_while_votes_flow(
    hall, mosquitto, start_hub, third_party
):
    hub = start_hub(hall)
    topics = Topics.for_hall(hall.id)
    firmware = third_party(mosquitto.port)
    firmware.wait_for_hub(topics)
    firmware.subscribe(topics.all_devices(DeviceTopic.RECEIPT))
    valid: list[str] = []

    def publish_valid() -> None:
        seq = len(valid) + 1
        firmware.publish(topics.device("w03-eval", DeviceTopic.VOTE), vote_payload("w03-eval", seq))
        valid.append(f"w03-eval-{seq:012d}")

    # Every bad message twice, each between valid votes.
    for _ in range(2):
        for bad in BAD:
            publish_valid()
            firmware.publish(topics.device(bad.device, DeviceTopic.VOTE), bad.payload)
    publish_valid()

    wait_until(lambda: len(hall.stored_votes()) == len(valid), message="every valid vote")
    assert [row[0] for row in hall.stored_votes()] == valid

    def quarantined() -> list[dict]:
        return get_json(f"{hub.api_url}/api/v1/quarantine", token=hall.token)["quarantine"]

    wait_until(
        lambda: [q["times"] for q in quarantined()] == [2] * len(BAD),
        message="each bad payload quarantined once, seen twice",
    )
    items = quarantined()
    for bad, item in zip(BAD, items, strict=True):
        assert item["topic"] == topics.device(bad.device, DeviceTopic.VOTE), bad.name
        assert item["reason"].startswith(bad.reason), (bad.name, item["reason"])
        assert item["record_id"] == bad.record_id, bad.name
        assert item["payload_bytes"] == len(bad.payload), bad.name
        assert item["payload_sha256"] == hashlib.sha256(bad.payload).hexdigest(), bad.name
        # The first KiB is kept (the default prefix), and says whether that is all.
        assert item["payload"] == bad.payload[:1024].decode("utf-8", "replace"), bad.name
        assert item["payload_truncated"] == (len(bad.payload) > 1024), bad.name
    assert items[3]["reason"] == f"payload of {len(BAD[3].payload)} bytes exceeds 8192"
    rows = query(hall.database, "SELECT payload, times FROM quarantine ORDER BY rowid")
    assert [(bytes(p), t) for p, t in rows] == [(bad.payload[:1024], 2) for bad in BAD]

    def receipts() -> list[Message]:
        return [m for m in firmware.messages() if m.topic.endswith("/receipt")]

    # A rejected receipt, with the reason, for each that names its id (copies that
    # arrive in one batch share one receipt).
    def rejections() -> list[tuple[str, str, str]]:
        found = []
        for message in receipts():
            receipt = message.json()
            if receipt["status"] == "rejected":
                found += [(message.topic, i, receipt["reasons"][i]) for i in receipt["ids"]]
        return found

    expected = [
        (topics.device(bad.device, DeviceTopic.RECEIPT), bad.record_id, item["reason"])
        for bad, item in zip(BAD, items, strict=True)
        if bad.record_id is not None
    ]
    wait_until(lambda: set(rejections()) == set(expected), message="the rejected receipts")

    # The valid votes were receipted as stored, and nothing bad was.
    def stored() -> list[str]:
        return [i for m in receipts() if m.json()["status"] == "stored" for i in m.json()["ids"]]

    wait_until(lambda: len(stored()) == len(valid), message="stored receipts")
    assert sorted(stored()) == valid

    health = get_json(f"{hub.api_url}/healthz")
    assert health["status"] == "ok"
    assert health["quarantined"] == 2 * len(BAD)
    assert health["stored"] == len(valid)


def test_an_agent_rejected_by_the_hub_keeps_the_vote_aside_with_the_reason(
    hall, start_hub, start_agent
):
    # The hub's directory lists windows 1-3 only: a fourth device is unknown.
    start_hub(hall)
    stranger = start_agent(hall, 4)
    wait_until(lambda: stranger.agent.link.connected, message="the stranger connected")

    stranger.press(22)

    wait_until(lambda: stranger.agent.outbox.rejected == 1, message="the rejected receipt")
    assert stranger.agent.outbox.depth == 0
    assert hall.stored_votes() == []
    rows = query(stranger.agent.config.outbox.path, "SELECT id, reason FROM rejected")
    ident = f"w04-eval-{stranger.agent.outbox.epoch}-000000000001"
    assert rows == [(ident, "device: unknown device 'w04-eval'")]
    assert hall.quarantined() == [
        (
            f"hallrate/{hall.id}/device/w04-eval/vote",
            "w04-eval",
            ident,
            "device: unknown device 'w04-eval'",
            1,
        )
    ]


def test_a_backlog_of_rejected_records_is_answered_in_receipts_that_fit_the_protocol(
    hall, mosquitto, start_hub, third_party
):
    first = start_hub(hall)
    topics = Topics.for_hall(hall.id)
    firmware = third_party(mosquitto.port)
    firmware.wait_for_hub(topics)
    receipts = topics.device("w01-eval", DeviceTopic.RECEIPT)
    firmware.subscribe(receipts)
    first.stop()  # its session stays: the broker queues what arrives meanwhile
    # Long ids and reasons: a few dozen of them fill 8 KiB.
    ids = [f"w01-eval-{'x' * 38}-{seq:012d}" for seq in range(1, 201)]
    for seq, ident in enumerate(ids, start=1):
        payload = vote_payload("w01-eval", seq, id=ident, level=9)
        firmware.client.publish(topics.device("w01-eval", DeviceTopic.VOTE), payload, qos=1)

    start_hub(hall)  # the backlog arrives in a few large batches

    def rejected() -> set[str]:
        return {i for m in firmware.messages(receipts) for i in m.json()["ids"]}

    wait_until(lambda: rejected() == set(ids), message="every id rejected")
    assert all(len(m.payload) <= MAX_PAYLOAD_BYTES for m in firmware.messages(receipts))
    assert all(m.json()["status"] == "rejected" for m in firmware.messages(receipts))
