"""差评整改 (issue 14): a dissatisfied real-name kiosk rating naming a staff member opens a
follow-up case when the hall's policy says so, once, in the vote's own transaction.

A vendor's kiosk firmware publishes its ratings over the session's Mosquitto
to a real hub; what the hub stored is read back from its database.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from device_agent.errors import ConfigError
from device_agent.topics import DeviceTopic, Topics
from hub.config import load_hub_config
from tests.hall import query, wait_until
from tests.kiosk_hall import KioskHall
from tests.thirdparty import vote_payload

POLICY = '[cases]\nfollowup = true\nfollowup_levels = [1, 2]\nfollowup_channels = ["kiosk"]\n'


@pytest.fixture
def hall(tmp_path: Path, mosquitto) -> KioskHall:
    return KioskHall(tmp_path / "hall", mosquitto.port)


def kiosk_vote(seq: int, level: int, **fields: object) -> bytes:
    dims = {"attitude": level, "efficiency": level, "style": level}
    named: dict[str, object] = {
        "channel": "kiosk",
        "window": "w01",
        "staff": "s01",
        "dims": dims,
        **fields,
    }
    return vote_payload("kiosk-01", seq, level=level, **named)


def publish_all(hall: KioskHall, firmware, votes: list[bytes]) -> None:
    topics = Topics.for_hall(hall.id)
    firmware.wait_for_hub(topics)
    before = query(hall.database, "SELECT count(*) FROM votes")[0][0]
    for payload in votes:
        firmware.publish(topics.device("kiosk-01", DeviceTopic.VOTE), payload)
    wait_until(
        lambda: (
            query(hall.database, "SELECT count(*) FROM votes")[0][0] == before + len(set(votes))
        ),
        message="the votes stored",
    )


def rating_cases(hall: KioskHall) -> list[tuple]:
    return query(
        hall.database,
        "SELECT s.ref, c.title, c.department, c.class, c.status FROM case_sources AS s"
        " JOIN cases AS c ON c.id = s.case_id WHERE s.kind = 'rating' ORDER BY c.id",
    )


def test_a_dissatisfied_real_name_kiosk_rating_opens_one_follow_up_case(
    hall, mosquitto, start_hub, third_party
):
    start_hub(hall, extra=POLICY)
    firmware = third_party(mosquitto.port)
    # The resend is the same bytes: built twice, its time could differ by a millisecond.
    first = kiosk_vote(1, 1, reasons=["slow"], comment="等了很久")  # opens a case
    votes = [
        first,
        kiosk_vote(2, 1, anonymous=True),  # anonymous: no case
        kiosk_vote(3, 3),  # not dissatisfied
        kiosk_vote(4, 2, filter={"rule": "burst", "version": 1}),  # a filtered press
        kiosk_vote(5, 2, staff=None),  # names nobody
        first,  # the first, sent again
    ]
    publish_all(hall, firmware, votes)
    # A window's vote: the policy lists the kiosk's channel only.
    window = vote_payload("w01-eval", 1, level=1, staff="s01")
    firmware.publish(Topics.for_hall(hall.id).device("w01-eval", DeviceTopic.VOTE), window)
    wait_until(
        lambda: query(hall.database, "SELECT count(*) FROM votes") == [(6,)],
        message="the window's vote",
    )
    assert rating_cases(hall) == [
        ("kiosk-01-000000000001", "差评整改 职员1", "civil", "ordinary", "registered")
    ]
    assert rating_cases(hall) == [
        ("kiosk-01-000000000001", "差评整改 职员1", "civil", "ordinary", "registered")
    ]
    [(text, by)] = query(
        hall.database,
        "SELECT c.text, e.by FROM cases AS c JOIN case_events AS e ON e.case_id = c.id"
        " WHERE e.event = 'registered'",
    )
    assert text.startswith("实名评价 1 分（kiosk）：职员1，slow；等了很久。请回访、整改")
    assert by == "kiosk-01"


def test_without_the_policy_a_dissatisfied_rating_opens_nothing(
    hall, mosquitto, start_hub, third_party
):
    start_hub(hall)
    firmware = third_party(mosquitto.port)
    publish_all(hall, firmware, [kiosk_vote(1, 1), kiosk_vote(2, 2)])
    assert query(hall.database, "SELECT count(*) FROM votes") == [(2,)]
    assert rating_cases(hall) == []
    assert load_hub_config(hall.root / "hub.toml").cases.followup is False


def test_the_follow_up_policy_refuses_levels_and_channels_it_does_not_know(tmp_path):
    hall = KioskHall(tmp_path / "hall", 1883)
    wrong = (
        '[cases]\nfollowup = true\nfollowup_levels = [3]\nfollowup_channels = ["sms"]\n'
        'followup_class = "none"\nremind_days = -1\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_hub_config(hall.hub_config(extra=wrong))
    text = str(caught.value)
    assert "cases.followup_levels[0]: must be between 1 and 2, got 3" in text
    assert "cases.followup_channels[0]" in text and "'sms'" in text
    assert "cases.followup_class: no class 'none'" in text
    assert "cases.remind_days: must be between 0 and 30, got -1" in text
