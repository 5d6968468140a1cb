"""What a device names is checked against what the hall knows, through a real hub and broker.

A device can forge anything it sends: the window, the staff member, the
ticket, the time, another device's ids. Each forged vote must be kept,
marked with the rule that caught it, shown by the API, and counted toward
nothing — no count, no warning, nothing on the wall.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.request import Request, urlopen

import pytest

from device_agent.protocol import format_time
from device_agent.topics import DeviceTopic, Topics
from hallrate.cli import main
from hub.rules import RULES
from tests.hall import get_json, query, wait_until
from tests.kiosk_hall import KioskHall
from tests.thirdparty import vote_payload

# Three dissatisfied votes in a month raise level III: a forged batch would show at once.
LOW_THRESHOLDS = (
    '[warnings]\n[[warnings.rules]]\nlevel = "III"\nmonthly = 3\nyearly = 40\naction = "告诫"\n'
)


@pytest.fixture
def kiosk_hall(tmp_path, mosquitto) -> KioskHall:
    """A hall with three windows and two kiosks on the session broker."""
    return KioskHall(tmp_path / "hall", mosquitto.port)


@pytest.fixture
def firmware(mosquitto, third_party, kiosk_hall, start_hub):
    """The hall's hub, running, and a raw MQTT client that speaks for any device."""
    hub = start_hub(kiosk_hall, extra=LOW_THRESHOLDS)
    topics = Topics.for_hall(kiosk_hall.id)
    client = third_party(mosquitto.port)
    client.wait_for_hub(topics)
    client.subscribe(topics.all_devices(DeviceTopic.RECEIPT))
    client.hub = hub
    client.topics = topics
    client.hall = kiosk_hall
    return client


def publish(firmware, device: str, payload: bytes, kind: DeviceTopic = DeviceTopic.VOTE) -> None:
    firmware.publish(firmware.topics.device(device, kind), payload)


def kiosk_vote(device: str, seq: int, *, staff: str, level: int = 1, **fields) -> bytes:
    dims = {"attitude": level, "efficiency": level, "style": level}
    return vote_payload(
        device, seq, channel="kiosk", window=None, staff=staff, level=level, dims=dims, **fields
    )


def verdicts(hall) -> dict[str, tuple]:
    """Each stored vote's ``(counted, hub rule, hub rule version)``."""
    rows = query(hall.database, "SELECT id, counted, hub_rule, hub_rule_version FROM votes")
    return {row[0]: tuple(row[1:]) for row in rows}


def wait_for_votes(hall, n: int) -> dict[str, tuple]:
    wait_until(lambda: len(verdicts(hall)) == n, message=f"{n} votes stored")
    return verdicts(hall)


def warnings(hall) -> list[str]:
    return [row[0] for row in query(hall.database, "SELECT id FROM warnings")]


def staff_count(hall, staff: str) -> int:
    rows = query(
        hall.database,
        "SELECT coalesce(sum(total), 0) FROM counts WHERE scope = 'staff' AND subject = ?",
        (staff,),
    )
    return rows[0][0] if rows else 0


def test_a_device_voting_for_another_window_or_a_ghost_changes_no_count(firmware):
    hall = firmware.hall
    # Window 1's evaluator votes as window 2, for a real person and for one who does not exist.
    for seq in range(1, 5):
        publish(firmware, "w01-eval", vote_payload("w01-eval", seq, window="w02", level=1))
    for seq in range(5, 15):
        publish(firmware, "w01-eval", vote_payload("w01-eval", seq, staff="ghost1", level=1))
    # A kiosk's account publishing a window vote, and an evaluator publishing a kiosk vote.
    publish(firmware, "kiosk-01", vote_payload("kiosk-01", 1, window="w01", level=1))
    publish(firmware, "w03-eval", kiosk_vote("w03-eval", 1, staff="s03"))

    found = wait_for_votes(hall, 16)

    assert {found[f"w01-eval-{n:012d}"] for n in range(1, 5)} == {(0, "device_window", 1)}
    assert {found[f"w01-eval-{n:012d}"] for n in range(5, 15)} == {(0, "unknown_staff", 1)}
    assert found["kiosk-01-000000000001"] == (0, "device_window", 1)
    assert found["w03-eval-000000000001"] == (0, "device_window", 1)
    assert query(hall.database, "SELECT coalesce(sum(total), 0) FROM counts") == [(0,)]
    hall_today = "SELECT filtered FROM counts WHERE scope = 'hall' AND grain = 'day'"
    assert query(hall.database, hall_today) == [(16,)]
    assert warnings(hall) == []
    # The votes API says why each does not count.
    votes = get_json(f"{firmware.hub.api_url}/api/v1/votes?rule=unknown_staff", token=hall.token)[
        "votes"
    ]
    assert len(votes) == 10
    assert votes[0]["counted"] is False
    assert votes[0]["hub_rule"] == {"rule": "unknown_staff", "version": 1}
    # And the filters API counts them per window and per kiosk, beside the counted ones.
    days = get_json(f"{firmware.hub.api_url}/api/v1/filters", token=hall.token)["days"]
    by_row = {(d["window"], d.get("kiosk")): d for d in days}
    assert by_row[("w01", None)]["filtered"] == {"unknown_staff": 10, "device_window": 1}
    assert by_row[("w02", None)]["filtered"] == {"device_window": 4}
    assert by_row[(None, "w03-eval")]["filtered"] == {"device_window": 1}


def test_an_id_of_another_device_is_quarantined_and_answered(firmware):
    hall = firmware.hall
    stolen = vote_payload("w01-eval", 7, id="w02-eval-000000000007")
    publish(firmware, "w01-eval", stolen)
    publish(firmware, "w01-eval", vote_payload("w01-eval", 8))

    wait_for_votes(hall, 1)
    wait_until(hall.quarantined, message="the stolen id quarantined")
    _, device, record, reason, _ = hall.quarantined()[0]
    assert (device, record) == ("w01-eval", "w02-eval-000000000007")
    assert reason == "id: must begin with 'w01-eval-', the device's id and '-'"
    receipts = firmware.topics.device("w01-eval", DeviceTopic.RECEIPT)
    wait_until(
        lambda: any(m.json()["status"] == "rejected" for m in firmware.messages(receipts)),
        message="a rejected receipt",
    )
    assert warnings(hall) == []


def test_window_votes_bind_to_who_is_signed_in_at_that_window(firmware):
    hall = firmware.hall
    now = datetime.now(UTC)
    sign_in = {
        "v": 1,
        "id": "w01-eval-000000000001",
        "seq": 1,
        "ts": format_time(now - timedelta(seconds=5)),
        "device": "w01-eval",
        "event": "sign_in",
        "window": "w01",
        "staff": "s01",
    }
    publish(firmware, "w01-eval", json.dumps(sign_in).encode(), DeviceTopic.SERVICE)
    # An evaluator signing someone in at another window is refused outright.
    other = {**sign_in, "id": "w01-eval-000000000002", "seq": 2, "window": "w02", "staff": "s03"}
    publish(firmware, "w01-eval", json.dumps(other).encode(), DeviceTopic.SERVICE)
    publish(firmware, "w01-eval", vote_payload("w01-eval", 3, staff="s01", level=1))
    publish(firmware, "w01-eval", vote_payload("w01-eval", 4, staff="s02", level=1))

    found = wait_for_votes(hall, 2)

    assert found["w01-eval-000000000003"] == (1, None, None)
    assert found["w01-eval-000000000004"] == (0, "not_on_duty", 1)
    assert staff_count(hall, "s02") == 0
    wait_until(hall.quarantined, message="the event for another window quarantined")
    assert hall.quarantined()[0][2:4] == (
        "w01-eval-000000000002",
        "window: 'w01-eval' serves 'w01', not 'w02'",
    )


def test_one_rating_per_ticket_across_window_and_kiosk(firmware):
    hall = firmware.hall
    publish(firmware, "w01-eval", vote_payload("w01-eval", 1, staff="s01", ticket="A017"))
    wait_for_votes(hall, 1)
    publish(firmware, "kiosk-01", kiosk_vote("kiosk-01", 1, staff="s01", ticket="A017"))
    publish(firmware, "kiosk-02", kiosk_vote("kiosk-02", 1, staff="s01", ticket="A017"))
    publish(firmware, "kiosk-02", kiosk_vote("kiosk-02", 2, staff="s02", ticket="A018", level=5))

    found = wait_for_votes(hall, 4)

    assert found["w01-eval-000000000001"] == (1, None, None)
    assert found["kiosk-01-000000000001"] == (0, "ticket_repeat", 1)
    assert found["kiosk-02-000000000001"] == (0, "ticket_repeat", 1)
    assert found["kiosk-02-000000000002"] == (1, None, None)


def test_a_burst_of_dissatisfied_kiosk_votes_for_one_person_counts_once(firmware):
    hall = firmware.hall
    # What one person tapping 首页 between ratings sends: a dozen fresh kiosk votes.
    for seq in range(1, 13):
        publish(firmware, "kiosk-01", kiosk_vote("kiosk-01", seq, staff="s02", level=1))
    # Another kiosk, and another person, are not part of the burst.
    publish(firmware, "kiosk-02", kiosk_vote("kiosk-02", 1, staff="s02", level=1))
    publish(firmware, "kiosk-01", kiosk_vote("kiosk-01", 13, staff="s03", level=2))
    publish(firmware, "kiosk-01", kiosk_vote("kiosk-01", 14, staff="s02", level=5))

    found = wait_for_votes(hall, 15)

    assert found["kiosk-01-000000000001"] == (1, None, None)
    assert {found[f"kiosk-01-{n:012d}"] for n in range(2, 13)} == {(0, "kiosk_burst", 1)}
    assert found["kiosk-02-000000000001"] == (1, None, None)
    assert found["kiosk-01-000000000013"] == (1, None, None)
    assert found["kiosk-01-000000000014"] == (1, None, None)
    assert staff_count(hall, "s02") > 0
    # Two dissatisfied votes for s02 count, under the threshold of three: no warning.
    rows = query(
        hall.database,
        "SELECT dissatisfied FROM counts WHERE scope = 'staff' AND subject = 's02'"
        " AND grain = 'month'",
    )
    assert rows == [(2,)]
    assert warnings(hall) == []


def test_a_vote_from_the_future_is_kept_flagged_and_not_counted(firmware):
    hall = firmware.hall
    for seq in range(1, 5):
        publish(
            firmware,
            "w01-eval",
            vote_payload("w01-eval", seq, ts="2090-01-01T09:00:00.000+08:00", sent=None, level=1),
        )

    found = wait_for_votes(hall, 4)

    assert set(found.values()) == {(0, "future_cast", 1)}
    assert query(hall.database, "SELECT period FROM counts WHERE period LIKE '2090%'") != []
    assert query(hall.database, "SELECT sum(total) FROM counts") == [(0,)]
    assert warnings(hall) == []


def test_a_vote_for_a_closed_month_is_held_until_the_office_accepts_it(
    firmware, kiosk_hall, capsys
):
    hub = firmware.hub
    for seq in range(1, 4):
        publish(
            firmware,
            "w01-eval",
            vote_payload(
                "w01-eval", seq, ts="2020-03-10T09:00:00.000+08:00", sent=None, level=2, staff="s01"
            ),
        )
    found = wait_for_votes(kiosk_hall, 3)
    assert set(found.values()) == {(0, "closed_period", 1)}
    assert warnings(kiosk_hall) == []
    held = get_json(f"{hub.api_url}/api/v1/votes?rule=closed_period", token=kiosk_hall.token)[
        "votes"
    ]
    assert [v["id"] for v in held] == [f"w01-eval-{n:012d}" for n in range(1, 4)]

    config = str(kiosk_hall.root / "hub.toml")
    assert main(["token", "create", "office-zhang", "--role", "office", "--config", config]) == 0
    token = capsys.readouterr().out.strip()

    def accept(ident: str) -> dict:
        request = Request(
            f"{hub.api_url}/api/v1/votes/{ident}/accept",
            data=json.dumps({"note": "窗口设备断网一周，补传"}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    for ident in (v["id"] for v in held):
        answer = accept(ident)
        assert answer["counted"] is True
    # The third dissatisfied vote of March 2020 reaches the threshold, once accepted.
    assert answer["warnings_changed"] == ["s01-III-2020-03"]
    assert set(verdicts(kiosk_hall).values()) == {(1, None, None)}
    assert query(
        kiosk_hall.database,
        "SELECT dissatisfied FROM counts WHERE scope = 'staff' AND subject = 's01'"
        " AND period = '2020-03'",
    ) == [(3,)]
    rows = query(kiosk_hall.database, "SELECT vote_id, rule, by FROM vote_acceptances")
    assert rows[0][1:] == ("closed_period", "office-zhang")


def test_each_hub_rule_has_a_version():
    assert all(isinstance(v, int) and v >= 1 for v in RULES.values())
