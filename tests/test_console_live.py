"""The live hall's numbers from a running hub: votes, response rate, duty, devices, scope.

A real broker and hub; window 1 runs the real device agent (its status and
telemetry reach the hub), window 2 is vendor firmware publishing service
events and a vote by hand, window 3 never reports. The live hall is read as
the page reads it, through ``/console/live.json`` with a manager's (and a
department head's) session.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from device_agent.protocol import format_time
from device_agent.storage import write_transaction
from device_agent.topics import DeviceTopic, Topics
from hub.console import accounts
from hub.store import Store
from tests.hall import Hall, wait_until
from tests.thirdparty import vote_payload

PASSWORD = "a good password"


class TwoDepartmentHall(Hall):
    """The test hall with window 3 and its staff member in a second department, 税务."""

    def directory_text(self) -> str:
        text = super().directory_text()
        text = text.replace(
            'name = "3号窗口"\ndepartment = "civil"', 'name = "3号窗口"\ndepartment = "tax"'
        )
        text = text.replace(
            'name = "职员3"\ndepartment = "civil"', 'name = "职员3"\ndepartment = "tax"'
        )
        return text + '\n[[departments]]\nid = "tax"\nname = "税务"\n'


def event(seq: int, kind: str, *, at: datetime, **fields: str) -> bytes:
    body = {
        "v": 1,
        "id": f"w02-eval-{seq:012d}",
        "seq": seq,
        "ts": format_time(at),
        "device": "w02-eval",
        "window": "w02",
        "event": kind,
        **fields,
    }
    return json.dumps(body).encode()


def session(app, name: str):
    client = app.test_client()
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]
    answer = client.post(
        "/console/login", data={"user": name, "password": PASSWORD, "csrf_token": token}
    )
    assert answer.status_code == 302
    return client


def test_the_live_hall_shows_each_window_today(
    tmp_path, mosquitto, start_hub, start_agent, third_party
):
    hall = TwoDepartmentHall(tmp_path / "hall", mosquitto.port)
    store = Store(hall.database)
    with write_transaction(store.db) as conn:
        accounts.add_user(conn, "boss", PASSWORD, role="manager")
        accounts.add_user(conn, "head", PASSWORD, role="dept_head", department="civil")
    store.close()
    hub = start_hub(hall)
    agent = start_agent(hall, 1, extra="[telemetry]\ninterval_s = 0.2\n")
    firmware = third_party(hall.port)
    topics = Topics.for_hall(hall.id)
    firmware.wait_for_hub(topics)

    # Window 2: 职员2 signs in, serves two citizens; the first rates the service.
    service = topics.device("w02-eval", DeviceTopic.SERVICE)
    now = datetime.now(UTC) - timedelta(seconds=30)
    first = "w02-eval-000000000002"
    second = "w02-eval-000000000005"
    firmware.publish(service, event(1, "sign_in", at=now, staff="s02"))
    firmware.publish(service, event(2, "start", at=now, staff="s02", ticket="A1", service=first))
    firmware.publish(service, event(3, "end", at=now, staff="s02", ticket="A1", service=first))
    vote = vote_payload("w02-eval", 4, level=2, staff="s02", ticket="A1", service=first)
    firmware.publish(topics.device("w02-eval", DeviceTopic.VOTE), vote)
    firmware.publish(service, event(5, "start", at=now, staff="s02", ticket="A2", service=second))
    firmware.publish(service, event(6, "end", at=now, staff="s02", ticket="A2", service=second))
    # Window 1: a citizen presses the real evaluator's top key.
    agent.press(17)

    manager = session(hub.app, "boss")

    def live() -> dict:
        return {w["id"]: w for w in manager.get("/console/live.json").get_json()["windows"]}

    def settled() -> bool:
        windows = live()
        device = windows["w01"]["devices"][0]
        return (
            windows["w01"]["votes"] == 1
            and windows["w02"]["ended"] == 2
            and windows["w02"]["votes"] == 1
            and device["status"] == "online"
            and device["outbox_depth"] == 0
        )

    wait_until(settled, timeout=20, message="both windows' votes, events and telemetry")
    windows = live()
    assert list(windows) == ["w01", "w02", "w03"]
    w1, w2, w3 = windows["w01"], windows["w02"], windows["w03"]
    assert (w1["votes"], w1["satisfaction"], w1["on_duty"]) == (1, 1.0, ["职员1"])
    assert w1["devices"][0]["seen"] is not None
    # One of the two services ended at window 2 was rated, dissatisfied.
    assert (w2["ended"], w2["rated"], w2["response_rate"]) == (2, 1, 0.5)
    assert (w2["votes"], w2["dissatisfied"], w2["satisfaction"]) == (1, 1, 0.0)
    assert w2["on_duty"] == ["职员2"]
    # One vote is below the default minimum of five: not red yet.
    assert w2["red"] is False
    assert w3["votes"] == 0 and w3["devices"] == [
        {"id": "w03-eval", "status": None, "last_seen": None, "outbox_depth": None, "seen": None}
    ]
    hall_page = manager.get("/console/").text
    assert "1/2 次服务" in hall_page and "50.0%" in hall_page and "税务" in hall_page

    # The department head of 民政 sees only 民政's windows.
    head = session(hub.app, "head")
    shown = [w["id"] for w in head.get("/console/live.json").get_json()["windows"]]
    assert shown == ["w01", "w02"]
    assert "3号窗口" not in head.get("/console/").text

    # The agent stops: its device shows offline, with when it was last heard.
    agent.stop()
    wait_until(
        lambda: live()["w01"]["devices"][0]["status"] == "offline",
        timeout=20,
        message="window 1's device offline",
    )
    assert "离线" in manager.get("/console/").text


def test_a_department_head_is_told_only_of_their_departments_warnings(
    tmp_path, mosquitto, start_hub, third_party
):
    hall = TwoDepartmentHall(tmp_path / "hall", mosquitto.port)
    store = Store(hall.database)
    with write_transaction(store.db) as conn:
        accounts.add_user(conn, "boss", PASSWORD, role="manager")
        accounts.add_user(conn, "head", PASSWORD, role="dept_head", department="civil")
        accounts.add_user(conn, "taxman", PASSWORD, role="staff", staff="s03")
        accounts.add_user(conn, "clerk", PASSWORD, role="staff", staff="s01")
    store.close()
    rules = '[warnings]\n[[warnings.rules]]\nlevel = "III"\nmonthly = 2\naction = "告诫"\n'
    hub = start_hub(hall, extra=rules)
    clients = {name: session(hub.app, name) for name in ("boss", "head", "taxman", "clerk")}
    # Each page's first poll: where its notices start.
    start = {
        name: c.get("/console/notices.json").get_json()["version"] for name, c in clients.items()
    }

    firmware = third_party(hall.port)
    topics = Topics.for_hall(hall.id)
    firmware.wait_for_hub(topics)
    # Two dissatisfied votes for 职员3 of 税务 raise a warning.
    for seq in (1, 2):
        vote = vote_payload("w03-eval", seq, level=1, staff="s03")
        firmware.publish(topics.device("w03-eval", DeviceTopic.VOTE), vote)

    def notices(name: str) -> list[dict]:
        after = start[name]
        return clients[name].get(f"/console/notices.json?after={after}").get_json()["notices"]

    wait_until(lambda: notices("boss"), timeout=20, message="the manager's notice")
    (notice,) = notices("boss")
    assert (notice["staff_name"], notice["department_name"], notice["level"]) == (
        "职员3",
        "税务",
        "III",
    )
    assert notice["text"] == "新预警：职员3（税务）III，本期不满意 2 次"
    assert notices("taxman") == [notice]
    # The head of 民政 and another staff member are not told.
    assert notices("head") == [] and notices("clerk") == []
