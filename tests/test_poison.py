"""No single message can stop the hub: each is stored, flagged as a conflict, or quarantined.

Before this was so, a vote with ``seq`` of 2^63 (past SQLite's integers) or a
conflicting resend that carried a ``filter`` raised inside ingest; the broker
redelivered the message at every restart and the hub crash-looped. These
tests send such messages through a real broker to a real hub, restart it, and
check that it is up, that everything else was stored, and that nothing is
delivered again.
"""

from __future__ import annotations

import json
import sqlite3

from device_agent.topics import DeviceTopic, Topics
from tests.hall import get_json, query, wait_until
from tests.thirdparty import vote_payload


def online_firmware(hall, mosquitto, start_hub, third_party):
    hub = start_hub(hall)
    topics = Topics.for_hall(hall.id)
    firmware = third_party(mosquitto.port)
    firmware.wait_for_hub(topics)
    firmware.subscribe(topics.all_devices(DeviceTopic.RECEIPT))
    return hub, topics, firmware


def with_seq(payload: bytes, seq: int) -> bytes:
    return json.dumps({**json.loads(payload), "seq": seq}).encode()


def rejected(firmware) -> dict[str, str]:
    found = {}
    for message in firmware.messages():
        if message.topic.endswith("/receipt") and message.json()["status"] == "rejected":
            found.update(message.json()["reasons"])
    return found


def test_numbers_past_sqlite_integers_are_quarantined_and_the_hub_stays_up(
    hall, mosquitto, start_hub, third_party
):
    hub, topics, firmware = online_firmware(hall, mosquitto, start_hub, third_party)
    vote_topic = topics.device("w01-eval", DeviceTopic.VOTE)
    event = {
        "v": 1,
        "id": "w01-eval-000000000003",
        "seq": 2**63,
        "ts": "2026-11-22T09:13:07.412+08:00",
        "device": "w01-eval",
        "event": "start",
        "window": "w01",
    }
    firmware.publish(vote_topic, with_seq(vote_payload("w01-eval", 1), 2**63))
    firmware.publish(vote_topic, with_seq(vote_payload("w01-eval", 2), -(2**63) - 1))
    firmware.publish(topics.device("w01-eval", DeviceTopic.SERVICE), json.dumps(event))
    firmware.publish(vote_topic, vote_payload("w01-eval", 4))

    wait_until(lambda: len(hall.stored_votes()) == 1, message="the valid vote")
    wait_until(lambda: len(hall.quarantined()) == 3, message="three quarantined")
    reasons = [row[3] for row in hall.quarantined()]
    assert all(reason.startswith("seq: must be an integer from 0 to") for reason in reasons)
    wait_until(lambda: len(rejected(firmware)) == 3, message="three rejected receipts")
    assert get_json(f"{hub.api_url}/healthz")["status"] == "ok"

    # A restart redelivers nothing: every message was acknowledged once kept.
    hub.stop()
    again = start_hub(hall)
    firmware.publish(vote_topic, vote_payload("w01-eval", 5))
    wait_until(lambda: len(hall.stored_votes()) == 2, message="a vote after the restart")
    assert [row[4] for row in hall.quarantined()] == [1, 1, 1]
    assert get_json(f"{again.api_url}/healthz")["status"] == "ok"


def test_a_conflicting_resend_with_a_filter_is_kept_as_a_conflict(
    hall, mosquitto, start_hub, third_party
):
    hub, topics, firmware = online_firmware(hall, mosquitto, start_hub, third_party)
    vote_topic = topics.device("w01-eval", DeviceTopic.VOTE)
    firmware.publish(vote_topic, vote_payload("w01-eval", 1, level=5))
    wait_until(lambda: len(hall.stored_votes()) == 1, message="the first copy")
    # The same id again, now filtered and at another level: what a device whose
    # storage was replaced (and whose numbering started over) sends.
    resend = vote_payload("w01-eval", 1, level=1, filter={"rule": "one_per_service", "version": 1})
    firmware.publish(vote_topic, resend)
    firmware.publish(vote_topic, vote_payload("w01-eval", 2))

    wait_until(lambda: len(hall.stored_votes()) == 2, message="the vote after the conflict")
    rows = query(hall.database, "SELECT id, payload FROM vote_conflicts")
    assert [row[0] for row in rows] == ["w01-eval-000000000001"]
    kept = json.loads(rows[0][1])
    assert kept["filter"] == {"rule": "one_per_service", "version": 1}
    assert kept["level"] == 1
    assert hall.stored_votes()[0][2] == 5  # the first copy stays the vote
    health = get_json(f"{hub.api_url}/healthz")
    assert (health["status"], health["conflicting"]) == ("ok", 1)


def test_a_record_that_cannot_be_stored_is_quarantined_and_the_rest_of_its_batch_stored(
    hall, mosquitto, start_hub, third_party
):
    # A fault no check foresaw, made real inside SQLite: a trigger refuses one vote.
    hub, topics, firmware = online_firmware(hall, mosquitto, start_hub, third_party)
    hub.stop()  # the hub's session stays: the broker queues the burst below for it
    conn = sqlite3.connect(hall.database)
    conn.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON votes WHEN NEW.comment = 'poison'"
        " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
    )
    conn.commit()
    conn.close()
    vote_topic = topics.device("w02-eval", DeviceTopic.VOTE)
    for seq in range(1, 21):
        comment = "poison" if seq == 7 else None
        firmware.publish(vote_topic, vote_payload("w02-eval", seq, comment=comment))

    again = start_hub(hall)  # the backlog arrives as one batch or a few

    wait_until(lambda: len(hall.stored_votes()) == 19, message="the 19 storable votes")
    assert "w02-eval-000000000007" not in {row[0] for row in hall.stored_votes()}
    # Stored one by one, the refused record is quarantined in a commit of its own.
    wait_until(lambda: len(hall.quarantined()) == 1, message="the refused record quarantined")
    (quarantined,) = hall.quarantined()
    assert quarantined[2] == "w02-eval-000000000007"
    assert quarantined[3].startswith("internal error while storing: IntegrityError")
    wait_until(lambda: "w02-eval-000000000007" in rejected(firmware), message="its rejection")
    assert get_json(f"{again.api_url}/healthz")["status"] == "ok"
    # Counts hold the 19, and the next vote flows as usual.
    firmware.publish(vote_topic, vote_payload("w02-eval", 21))
    wait_until(lambda: len(hall.stored_votes()) == 20, message="the next vote")
    totals = query(hall.database, "SELECT total FROM counts WHERE scope = 'hall' AND grain = 'day'")
    assert totals == [(20,)]
