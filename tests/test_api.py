"""The hub's JSON API as a manager's tools see it: votes, health, devices."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import pytest

from device_agent.topics import DeviceTopic, Topics
from hallrate.broker import MosquittoBroker
from hub.config import load_hub_config
from hub.service import HubService
from tests.hall import Hall, get_json, query, read_token, wait_until
from tests.thirdparty import ThirdParty, vote_payload


def get(url: str, *, token: str | None = None) -> tuple[int, dict]:
    """Status and JSON body of a GET, errors included."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urlopen(Request(url, headers=headers), timeout=5) as response:
            return response.status, json.loads(response.read())
    except HTTPError as error:
        return error.code, json.loads(error.read())


# (device, seq, staff, hour of the cast time on 2026-11-20, +08:00)
VOTES = [
    ("w01-eval", 1, "s01", 9),
    ("w02-eval", 1, "s02", 10),
    ("w01-eval", 2, "s01", 11),
    ("w03-eval", 1, None, 12),
    ("w01-eval", 3, "s09", 13),
    ("w02-eval", 2, "s02", 14),
    ("w03-eval", 2, None, 15),
]


def vote_id(device: str, seq: int) -> str:
    return f"{device}-{seq:012d}"


@pytest.fixture(scope="module")
def hub_with_votes(
    mosquitto: MosquittoBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubService]:
    """A hub that stored VOTES, in that order; shared by the read-only tests of this module."""
    hall = Hall(tmp_path_factory.mktemp("api") / "hall", mosquitto.port)
    hub = HubService(load_hub_config(hall.hub_config()))
    hub.start()
    firmware = ThirdParty(mosquitto.port)
    try:
        topics = Topics.for_hall(hall.id)
        firmware.wait_for_hub(topics)
        for device, seq, staff, hour in VOTES:
            # No `sent`: a device without a clock; the cast time is taken as given.
            payload = vote_payload(
                device, seq, staff=staff, ts=f"2026-11-20T{hour:02d}:00:00.000+08:00", sent=None
            )
            firmware.publish(topics.device(device, DeviceTopic.VOTE), payload)
        wait_until(lambda: len(hall.stored_votes()) == len(VOTES), message="every vote stored")
        yield hub
    finally:
        firmware.close()
        hub.stop()


def ids_of(hub, **params: object) -> list[str]:
    status, body = get(
        f"{hub.api_url}/api/v1/votes?{urlencode(params)}", token=read_token(hub.config.database)
    )
    assert status == 200, body
    return [v["id"] for v in body["votes"]]


def test_votes_come_in_arrival_order_with_their_fields(hub_with_votes):
    token = read_token(hub_with_votes.config.database)
    status, body = get(f"{hub_with_votes.api_url}/api/v1/votes", token=token)
    assert status == 200
    assert [v["id"] for v in body["votes"]] == [vote_id(d, s) for d, s, _, _ in VOTES]
    assert body["next_after"] is None
    first = body["votes"][0]
    assert {k: first[k] for k in ("device", "seq", "channel", "window", "staff", "level")} == {
        "device": "w01-eval",
        "seq": 1,
        "channel": "window",
        "window": "w01",
        "staff": "s01",
        "level": 4,
    }
    assert first["ts"] == "2026-11-20T09:00:00.000+08:00"
    assert first["cast_at"] == "2026-11-20T01:00:00.000+00:00"
    assert (first["reasons"], first["flags"], first["anonymous"], first["counted"]) == (
        [],
        [],
        False,
        True,
    )
    assert first["received_at"]


def test_votes_are_paged_with_next_after(hub_with_votes):
    url = f"{hub_with_votes.api_url}/api/v1/votes"
    token = read_token(hub_with_votes.config.database)
    seen: list[str] = []
    pages = []
    after = 0
    while True:
        status, body = get(f"{url}?limit=3&after={after}", token=token)
        assert status == 200
        pages.append(len(body["votes"]))
        seen += [v["id"] for v in body["votes"]]
        if body["next_after"] is None:
            break
        after = body["next_after"]
    assert pages == [3, 3, 1]
    assert seen == [vote_id(d, s) for d, s, _, _ in VOTES]
    # A full last page still points on; the page after it is empty and ends the walk.
    status, body = get(f"{url}?limit=7", token=token)
    assert len(body["votes"]) == 7
    status, body = get(f"{url}?limit=7&after={body['next_after']}", token=token)
    assert (status, body) == (200, {"votes": [], "next_after": None})


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"device": "w01-eval"}, [("w01-eval", 1), ("w01-eval", 2), ("w01-eval", 3)]),
        ({"window": "w02"}, [("w02-eval", 1), ("w02-eval", 2)]),
        ({"staff": "s01"}, [("w01-eval", 1), ("w01-eval", 2)]),
        ({"staff": "s01", "device": "w02-eval"}, []),
        ({"window": "w01", "staff": "s09"}, [("w01-eval", 3)]),
        ({"device": "nobody"}, []),
        (
            {"since": "2026-11-20T13:00:00+08:00"},
            [("w01-eval", 3), ("w02-eval", 2), ("w03-eval", 2)],
        ),
        # The same moment in UTC selects the same votes.
        (
            {"since": "2026-11-20T05:00:00Z"},
            [("w01-eval", 3), ("w02-eval", 2), ("w03-eval", 2)],
        ),
        ({"since": "2026-11-20T14:00:00+08:00", "device": "w03-eval"}, [("w03-eval", 2)]),
        ({"since": "2026-11-21T00:00:00+08:00"}, []),
        ({"device": "w01-eval", "limit": 2}, [("w01-eval", 1), ("w01-eval", 2)]),
    ],
)
def test_votes_filter_by_device_window_staff_and_since(hub_with_votes, params, expected):
    assert ids_of(hub_with_votes, **params) == [vote_id(d, s) for d, s in expected]


def test_filters_and_paging_combine(hub_with_votes):
    url = f"{hub_with_votes.api_url}/api/v1/votes"
    token = read_token(hub_with_votes.config.database)
    status, body = get(f"{url}?device=w01-eval&limit=2", token=token)
    assert status == 200
    assert body["next_after"] is not None
    _, body = get(f"{url}?device=w01-eval&limit=2&after={body['next_after']}", token=token)
    assert [v["id"] for v in body["votes"]] == [vote_id("w01-eval", 3)]
    assert body["next_after"] is None


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("limit=0", "limit: must be between 1 and 1000"),
        ("limit=1001", "limit: must be between 1 and 1000"),
        ("limit=ten", "limit: must be an integer"),
        ("limit=", "limit: must be an integer"),
        ("after=-1", "after: must be between 0 and"),
        ("after=1.5", "after: must be an integer"),
        ("since=yesterday", "since: must be an ISO 8601 time with offset"),
        ("since=2026-11-20T09:00:00", "since: must be an ISO 8601 time with offset"),
        # An unescaped "+" arrives as a space: refused, not silently misread.
        ("since=2026-11-20T09:00:00+08:00", "since: must be an ISO 8601 time with offset"),
        # Valid times whose UTC falls outside the years Python can hold.
        ("since=0001-01-01T00:00:00%2B14:00", "since: must be an ISO 8601 time with offset"),
        ("since=9999-12-31T23:00:00-12:00", "since: must be an ISO 8601 time with offset"),
    ],
)
def test_bad_parameters_get_a_400_that_says_why(hub_with_votes, query, detail):
    token = read_token(hub_with_votes.config.database)
    status, body = get(f"{hub_with_votes.api_url}/api/v1/votes?{query}", token=token)
    assert status == 400
    assert body["error"] == "Bad Request"
    assert body["detail"].startswith(detail)


def test_quarantine_pages_reject_bad_parameters_too(hall, start_hub):
    hub = start_hub(hall)
    status, body = get(f"{hub.api_url}/api/v1/quarantine", token=hall.token)
    assert (status, body["quarantine"], body["next_after"]) == (200, [], None)
    for limit in (-3, 0, 101, 1000):
        status, body = get(f"{hub.api_url}/api/v1/quarantine?limit={limit}", token=hall.token)
        assert status == 400
        assert body["detail"] == "limit: must be between 1 and 100"


def test_health_follows_the_broker_and_the_hub_resubscribes_after_it_restarts(
    tmp_path, own_broker, start_hub, third_party
):
    hall = Hall(tmp_path / "hall", own_broker.port)
    hub = start_hub(hall)
    wait_until(lambda: get(f"{hub.api_url}/healthz")[0] == 200, message="a healthy hub")
    _, body = get(f"{hub.api_url}/healthz")
    assert body["status"] == "ok"
    assert body["problems"] == []
    assert body["broker_connected"] is True

    own_broker.kill()
    wait_until(lambda: get(f"{hub.api_url}/healthz")[0] == 503, message="the hub degraded")
    _, body = get(f"{hub.api_url}/healthz")
    assert body["status"] == "degraded"
    assert body["problems"] == ["not connected to the broker"]
    assert body["broker_connected"] is False

    # A fresh broker without persistence: the hub's session and subscriptions are gone.
    own_broker.start()
    wait_until(lambda: get(f"{hub.api_url}/healthz")[0] == 200, message="the hub reconnected")
    topics = Topics.for_hall(hall.id)
    firmware = third_party(own_broker.port)
    firmware.wait_for_hub(topics)
    firmware.publish(topics.device("w02-eval", DeviceTopic.VOTE), vote_payload("w02-eval", 1))
    wait_until(hall.stored_votes, message="a vote stored after the broker restart")
    assert [v[0] for v in hall.stored_votes()] == ["w02-eval-000000000001"]


def test_devices_show_online_and_offline_from_retained_status(
    hall: Hall, mosquitto, start_hub, start_agent, third_party, tmp_path: Path
):
    topics = Topics.for_hall(hall.id)
    # Window 1's firmware said "online" (retained) before the hub ever started.
    firmware = third_party(mosquitto.port)
    firmware.client.publish(
        topics.device("w01-eval", DeviceTopic.STATUS), b"online", qos=1, retain=True
    ).wait_for_publish(timeout=10)
    hub = start_hub(hall)

    def status() -> dict[str, str | None]:
        return {
            d["id"]: d["status"]
            for d in get_json(f"{hub.api_url}/api/v1/devices", token=hall.token)["devices"]
        }

    # Window 2 runs our agent in this process; window 3 in a process of its own.
    window = start_agent(hall, 2)
    agent3 = subprocess.Popen(
        [
            sys.executable,
            *("-m", "hallrate.cli", "--log-level", "WARNING", "agent"),
            *("--config", str(hall.agent_config(3)), "--mock-pins"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: status() == {"w01-eval": "online", "w02-eval": "online", "w03-eval": "online"},
            message="every device online",
        )
        devices = {
            d["id"]: d
            for d in get_json(f"{hub.api_url}/api/v1/devices", token=hall.token)["devices"]
        }
        assert devices["w02-eval"]["kind"] == "evaluator"
        assert devices["w02-eval"]["window"] == "w02"
        assert devices["w02-eval"]["info"]["software"]
        assert devices["w02-eval"]["status_at"]

        window.stop()  # a clean stop says "offline" itself
        agent3.send_signal(signal.SIGKILL)  # a crash: the broker sends the will
        agent3.wait(timeout=10)
        wait_until(
            lambda: (
                status() == {"w01-eval": "online", "w02-eval": "offline", "w03-eval": "offline"}
            ),
            message="windows 2 and 3 offline",
        )
    finally:
        if agent3.poll() is None:
            agent3.kill()
            agent3.wait(timeout=10)


def test_devices_show_the_last_record_number(hall: Hall, start_hub, start_agent):
    hub = start_hub(hall)
    window = start_agent(hall, 1)
    wait_until(lambda: window.agent.link.connected, message="agent connected")
    window.press(17)
    wait_until(lambda: len(hall.stored_votes()) == 1, message="the vote stored")

    devices = {
        d["id"]: d for d in get_json(f"{hub.api_url}/api/v1/devices", token=hall.token)["devices"]
    }
    assert devices["w01-eval"]["last_seq"] == 1
    assert devices["w03-eval"]["last_seq"] is None
    epoch = window.agent.outbox.epoch
    assert query(hall.database, "SELECT id FROM votes") == [(f"w01-eval-{epoch}-000000000001",)]
