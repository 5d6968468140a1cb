"""Service-time supervision and presence, as a supervisor sees them through the hub's API.

The end-to-end tests run a real hub on the session's Mosquitto, with a
window's events sent by a real agent or by a third party's raw MQTT client
(what a queue system or vendor firmware publishes); the counting tests drive
the real store and the supervision check on a real SQLite file with a clock
the test sets.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from device_agent.errors import ConfigError, ProtocolError
from device_agent.protocol import (
    ServiceEvent,
    decode_service_event,
    encode,
    format_time,
    parse_time,
)
from device_agent.storage import write_transaction
from device_agent.topics import DeviceTopic, Topics
from hub.app import create_app
from hub.config import load_hub_config
from hub.periods import Calendar
from hub.presence import supervisor_presence, wall_presence
from hub.store import Batch, Store, StoredEvent
from hub.supervision import Supervision, decide, month_counts
from hub.tokens import create_token
from tests.hall import Hall, get_json, query, wait_until

ITEMS = """
[[departments]]
id = "tax"
name = "税务"

[[service_items]]
id = "permit"
name = "危险化学品安全生产许可"
department = "civil"
windows = ["w01"]
min_s = 1800
max_s = 7200

[[service_items]]
id = "invoice"
name = "发票领用"
department = "tax"
windows = ["w02"]
min_s = 120
"""
FAST_CHECKS = "[supervision]\ncheck_interval_s = 0.1\n"


def supervised_hall(hall: Hall) -> Hall:
    """The test hall with two service items that set limits, one of another department."""
    hall.directory_path.write_text(hall.directory_text() + ITEMS)
    return hall


def token(hall: Hall, name: str, role: str) -> str:
    """A token made as ``hallrate token create`` makes one."""
    store = Store(hall.database)
    try:
        with write_transaction(store.db) as conn:
            return create_token(conn, name, role)
    finally:
        store.close()


def post(url: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    """POST JSON with a bearer token; the status and the JSON answer, errors included."""
    request = Request(
        url,
        data=json.dumps(body or {}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def event(device: str, seq: int, kind: str, ts: str, **fields: object) -> bytes:
    """A service event as vendor firmware writes it from docs/protocol.md (no ``sent``)."""
    body = {
        "v": 1,
        "id": f"{device}-{seq:012d}",
        "seq": seq,
        "ts": ts,
        "device": device,
        "event": kind,
        "window": device.split("-", maxsplit=1)[0],
        "staff": None,
        "ticket": None,
    }
    body.update(fields)
    return json.dumps(body).encode()


def test_a_service_faster_than_its_items_minimum_raises_a_yellow_alert_a_supervisor_confirms(
    hall, start_hub, third_party
):
    hub = start_hub(supervised_hall(hall), extra=FAST_CHECKS)
    firmware = third_party(hall.port)
    firmware.wait_for_hub(Topics.for_hall(hall.id))
    topic = Topics.for_hall(hall.id).device("w01-eval", DeviceTopic.SERVICE)
    start_id = "w01-eval-000000000001"
    # The seed's case: an on-site inspection "done" 58 s after acceptance.
    firmware.publish(
        topic,
        event("w01-eval", 1, "start", "2026-11-05T09:00:00.000+08:00", staff="s01",
              ticket="A017", item="permit", service=start_id),
    )  # fmt: skip
    firmware.publish(
        topic,
        event("w01-eval", 2, "end", "2026-11-05T09:00:58.000+08:00", staff="s01",
              ticket="A017", service=start_id),
    )  # fmt: skip
    url = f"{hub.api_url}/api/v1/supervision/alerts"
    alerts = wait_until(
        lambda: get_json(url, token=hall.token)["alerts"], message="the supervision alert"
    )
    assert len(alerts) == 1
    alert = alerts[0]
    assert {k: alert[k] for k in ("kind", "status", "seconds", "limit_s", "limits")} == {
        "kind": "too_fast",
        "status": "yellow",
        "seconds": 58.0,
        "limit_s": 1800,
        "limits": "item",
    }
    assert (alert["department"], alert["window"], alert["staff"], alert["item"]) == (
        "civil",
        "w01",
        "s01",
        "permit",
    )
    assert alert["month"] == "2026-11" and alert["service"] == start_id

    one = f"{url}/{alert['id']}"
    reader = hall.token
    office = token(hall, "office-li", "office")
    assert post(f"{one}/confirm", reader)[0] == 403  # a reader may not decide
    assert post(f"{one}/dismiss", office, {"note": "  "})[0] == 400  # a dismissal says why
    status, confirmed = post(f"{one}/confirm", office, {"note": "查实：事后补录"})
    assert status == 200
    assert confirmed["status"] == "red"
    assert (confirmed["decided_by"], confirmed["note"]) == ("office-li", "查实：事后补录")
    assert parse_time(confirmed["decided_at"]) <= datetime.now(UTC)
    assert post(f"{one}/dismiss", office, {"note": "改主意"})[0] == 409  # decided once
    assert get_json(one, token=reader)["status"] == "red"
    counts = get_json(f"{hub.api_url}/api/v1/supervision/counts?month=2026-11", token=reader)
    civil = next(d for d in counts["departments"] if d["department"] == "civil")
    assert civil["too_fast"] == {"yellow": 0, "red": 1, "dismissed": 0, "total": 1}
    assert civil["overdue"]["total"] == 0


def test_an_open_service_past_its_maximum_raises_one_alert(
    hall, start_hub, start_agent, third_party
):
    # No item on the agent's events: the department's limits apply.
    limits = FAST_CHECKS + "[supervision.limits]\ncivil = { max_s = 1 }\n"
    hub = start_hub(supervised_hall(hall), extra=limits)
    start_agent(hall)
    queue_system = third_party(hall.port)
    topics = Topics.for_hall(hall.id)
    commands = topics.device(hall.device_id(1), DeviceTopic.SERVICE_COMMAND)
    # Once the agent says it is online, its subscription to commands is in place.
    status = topics.device(hall.device_id(1), DeviceTopic.STATUS)
    queue_system.subscribe(status)
    wait_until(
        lambda: any(m.payload == b"online" for m in queue_system.messages(status)),
        message="the agent online",
    )
    queue_system.publish(commands, b'{"v": 1, "event": "start", "ticket": "B002"}')
    url = f"{hub.api_url}/api/v1/supervision/alerts?kind=overdue"
    alerts = wait_until(
        lambda: get_json(url, token=hall.token)["alerts"], message="the overdue alert"
    )
    assert [(a["status"], a["limits"], a["limit_s"], a["ended_at"]) for a in alerts] == [
        ("yellow", "department", 1, None)
    ]
    assert alerts[0]["seconds"] > 1 and alerts[0]["ticket"] == "B002"
    # Ending it, long after its maximum, raises nothing more.
    queue_system.publish(commands, b'{"v": 1, "event": "end"}')
    wait_until(
        lambda: query(hall.database, "SELECT 1 FROM supervised_services WHERE ended_by = 'end'"),
        message="the end judged",
    )
    again = get_json(f"{hub.api_url}/api/v1/supervision/alerts", token=hall.token)["alerts"]
    assert [a["id"] for a in again] == [alerts[0]["id"]]


def test_an_unknown_item_is_quarantined_not_trusted(hall, start_hub, third_party):
    start_hub(supervised_hall(hall), extra=FAST_CHECKS)
    firmware = third_party(hall.port)
    topics = Topics.for_hall(hall.id)
    firmware.wait_for_hub(topics)
    payload = event("w01-eval", 7, "start", format_time(datetime.now(UTC)), item="passport")
    firmware.publish(topics.device("w01-eval", DeviceTopic.SERVICE), payload)
    quarantined = wait_until(hall.quarantined, message="the quarantined event")
    assert quarantined[0][2:4] == (
        "w01-eval-000000000007",
        "item: 'passport' is not a service item in the hall's directory",
    )
    assert query(hall.database, "SELECT count(*) FROM service_events") == [(0,)]


# Counting on a real store, with a clock the test sets.


class Scripted:
    """A hall's store and supervision check, fed service events as ingest stores them."""

    def __init__(self, root: Path, extra: str = "") -> None:
        self.hall = supervised_hall(Hall(root, port=1883))
        self.config = load_hub_config(self.hall.hub_config(extra=extra))
        self.store = Store(self.config.database)
        self.supervision = Supervision(
            self.config.directory, self.config.supervision, self.config.timezone
        )
        self.seq = 0

    def add(self, window: str, kind: str, at: str, **fields: str | None) -> str:
        self.seq += 1
        device = f"{window}-eval"
        ident = f"{device}-{self.seq:012d}"
        envelope = ServiceEvent(
            id=ident, seq=self.seq, ts=at, device=device, event=kind, window=window, **fields
        )  # type: ignore[arg-type]
        cast = format_time(parse_time(at).astimezone(UTC))
        self.store.commit(Batch(events=[StoredEvent(envelope, cast, cast)]))
        return ident

    def check(self, now: str) -> int:
        with write_transaction(self.store.db) as conn:
            return self.supervision.check(conn, parse_time(now))

    def close(self) -> None:
        self.store.close()


@pytest.fixture
def scripted(tmp_path):
    hall = Scripted(
        tmp_path / "hall", "[supervision.limits]\ncivil = { min_s = 60, max_s = 900 }\n"
    )
    yield hall
    hall.close()


def test_an_overdue_service_is_raised_once_when_its_maximum_passes(scripted):
    start = scripted.add("w01", "start", "2026-11-05T09:00:00+08:00", item="permit")
    assert scripted.check("2026-11-05T10:59:59+08:00") == 0  # 7,199 s: not yet
    assert scripted.check("2026-11-05T11:00:01+08:00") == 1
    assert scripted.check("2026-11-05T12:00:00+08:00") == 0
    scripted.add("w01", "end", "2026-11-05T12:30:00+08:00", service=start)
    assert scripted.check("2026-11-05T12:31:00+08:00") == 0
    rows = query(scripted.config.database, "SELECT kind, seconds, ended_at FROM supervision_alerts")
    assert rows == [("overdue", 7201.0, None)]


def test_a_new_start_ends_a_service_left_open_and_only_its_maximum_applies(scripted):
    # Department limits (no item): at least 60 s, at most 900 s.
    scripted.add("w02", "start", "2026-11-05T09:00:00+08:00")
    scripted.add("w02", "start", "2026-11-05T09:00:10+08:00")  # 10 s, but never ended
    third = scripted.add("w02", "start", "2026-11-05T09:30:00+08:00")  # the second: 1,790 s
    scripted.add("w02", "end", "2026-11-05T09:30:30+08:00", service=third)  # 30 s
    assert scripted.check("2026-11-05T09:31:00+08:00") == 2
    rows = query(
        scripted.config.database,
        "SELECT kind, seconds, limits FROM supervision_alerts ORDER BY kind",
    )
    assert rows == [("overdue", 1790.0, "department"), ("too_fast", 30.0, "department")]


def test_an_end_that_arrives_before_its_start_is_judged_when_the_start_comes(scripted):
    start_id = "w01-eval-000000000099"
    scripted.add("w01", "end", "2026-11-05T09:01:00+08:00", service=start_id, item="permit")
    assert scripted.check("2026-11-05T09:05:00+08:00") == 0
    scripted.add("w01", "start", "2026-11-05T09:00:00+08:00", service=start_id)
    assert scripted.check("2026-11-05T09:06:00+08:00") == 1
    assert query(scripted.config.database, "SELECT kind, item FROM supervision_alerts") == [
        ("too_fast", "permit")
    ]


def test_monthly_counts_per_department_equal_a_recount(scripted):
    t = datetime(2026, 10, 28, 1, tzinfo=UTC)
    for n in range(40):
        at = t + timedelta(hours=n * 7)
        window = ("w01", "w02", "w03")[n % 3]
        item = {0: "permit", 1: "invoice"}.get(n % 4)
        start = scripted.add(window, "start", format_time(at), item=item)
        length = (30, 100, 2000, 8000, 500)[n % 5]
        scripted.add(window, "end", format_time(at + timedelta(seconds=length)), service=start)
    scripted.check("2026-12-20T00:00:00+00:00")
    conn = scripted.store.db.conn
    ids = [r[0] for r in conn.execute("SELECT id FROM supervision_alerts ORDER BY id")]
    decided = datetime(2026, 12, 1, tzinfo=UTC)
    for n, ident in enumerate(ids):
        if n % 3 == 0:
            with write_transaction(scripted.store.db) as tx:
                decide(tx, ident, by="office-li", confirm=n % 2 == 0, note="查", now=decided)

    client = create_app(scripted.config).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {scripted.hall.token}"
    listed = client.get("/api/v1/supervision/alerts?limit=1000").get_json()["alerts"]
    assert len(listed) == len(ids) > 10
    for month in ("2026-10", "2026-11", "2026-12"):
        recount = Counter((a["department"], a["kind"], a["status"]) for a in listed
                          if a["month"] == month)  # fmt: skip
        answer = client.get(f"/api/v1/supervision/counts?month={month}").get_json()
        assert answer["month"] == month
        counted = Counter()
        for row in answer["departments"]:
            for kind in ("too_fast", "overdue"):
                total = 0
                for status in ("yellow", "red", "dismissed"):
                    counted[row["department"], kind, status] = row[kind][status]
                    total += row[kind][status]
                assert row[kind]["total"] == total
        assert +counted == recount
    assert {row["department"] for row in answer["departments"]} == {"civil", "tax"}
    assert month_counts(conn, "2027-01", scripted.config.directory)[0]["too_fast"]["total"] == 0


def test_alerts_are_never_deleted(scripted):
    start = scripted.add("w01", "start", "2026-11-05T09:00:00+08:00", item="permit")
    scripted.add("w01", "end", "2026-11-05T09:00:58+08:00", service=start)
    scripted.check("2026-11-05T09:01:00+08:00")
    refused = pytest.raises(sqlite3.IntegrityError, match="never deleted")
    with refused, write_transaction(scripted.store.db) as conn:
        conn.execute("DELETE FROM supervision_alerts")
    assert query(scripted.config.database, "SELECT count(*) FROM supervision_alerts") == [(1,)]


# Presence.


def test_staff_presence_on_a_scripted_day_equals_a_hand_count(hall, start_hub, third_party):
    hub = start_hub(hall, extra="[supervision]\ncheck_interval_s = 1\n")
    firmware = third_party(hall.port)
    topics = Topics.for_hall(hall.id)
    firmware.wait_for_hub(topics)
    day = "2026-11-05"  # a Thursday: open 08:30-12:00 and 14:00-17:30, 420 minutes
    script = [
        ("w01-eval", "sign_in", "08:00", "s01"),
        ("w01-eval", "sign_out", "12:30", "s01"),  # s01: 08:30-12:00, 210 minutes
        ("w01-eval", "sign_in", "14:30", "s01"),  # never signs out: to 17:30, 180 more
        ("w02-eval", "sign_in", "09:00", "s02"),
        ("w02-eval", "sign_in", "10:00", "s03"),  # takes over w02: s02 had 60 minutes
        ("w02-eval", "sign_out", "11:00", "s03"),  # s03: 60 minutes
        ("w03-eval", "sign_in", "18:00", "s03"),  # after closing: nothing
    ]
    for seq, (device, kind, time, staff) in enumerate(script, start=1):
        ts = f"{day}T{time}:00.000+08:00"
        firmware.publish(
            topics.device(device, DeviceTopic.SERVICE), event(device, seq, kind, ts, staff=staff)
        )
    wait_until(
        lambda: query(hall.database, "SELECT count(*) FROM service_events") == [(7,)],
        message="the sign events stored",
    )
    url = f"{hub.api_url}/api/v1/supervision/presence/staff"
    daily = get_json(f"{url}?day={day}", token=hall.token)
    by_staff = {r["staff"]: r for r in daily["staff"]}
    assert daily["open_minutes"] == 420
    assert {s: by_staff[s]["signed_in_minutes"] for s in by_staff} == {
        "s01": 390,
        "s02": 60,
        "s03": 60,
    }
    assert by_staff["s01"]["rate"] == round(390 / 420, 4)
    assert daily["rate"] == round(510 / (3 * 420), 4)
    assert daily["signed_in_staff"] == 3
    # November 2026 has 21 weekdays; only the 5th had anyone signed in.
    monthly = get_json(f"{url}?month=2026-11", token=hall.token)
    assert monthly["open_minutes"] == 21 * 420 and len(monthly["open_days"]) == 21
    s01 = next(r for r in monthly["staff"] if r["staff"] == "s01")
    assert s01["rate"] == round(390 / (21 * 420), 4)
    assert s01["days"]["2026-11-05"] == round(390 / 420, 4) and s01["days"]["2026-11-06"] == 0
    bad = Request(
        f"{url}?day=2026-11-05&month=2026-11", headers={"Authorization": f"Bearer {hall.token}"}
    )
    with pytest.raises(HTTPError) as refused:
        urlopen(bad, timeout=5)
    with refused.value as answer:
        assert answer.code == 400
        assert json.loads(answer.read())["detail"] == "give day or month, not both"


def test_supervisor_presence_counts_the_working_days_each_acted():
    actions = {
        ("wang", "2026-11-02"),
        ("wang", "2026-11-03"),
        ("li", "2026-11-03"),
        ("li", "2026-11-07"),  # a Saturday: not a working day, not counted
        ("zhao", "2026-11-02"),  # not a supervisor
    }
    days = ["2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"]
    figures = supervisor_presence(actions, supervisors=["wang", "li"], days=days)
    assert [(r["supervisor"], r["days_acted"], r["rate"]) for r in figures["supervisors"]] == [
        ("wang", 2, 0.5),
        ("li", 1, 0.25),
    ]
    assert figures["rate"] == round(3 / 8, 4)


EVERY_DAY = "\n".join(
    f'{d} = ["00:00-24:00"]' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
)


def test_a_supervisor_who_decided_an_alert_today_is_present_today(hall, start_hub, third_party):
    extra = f"{FAST_CHECKS}\n[supervision.opening_hours]\n{EVERY_DAY}\n"
    hub = start_hub(supervised_hall(hall), extra=extra)
    office = token(hall, "office-li", "office")
    token(hall, "manager-wang", "manager")
    firmware = third_party(hall.port)
    topics = Topics.for_hall(hall.id)
    firmware.wait_for_hub(topics)
    now = datetime.now(UTC)
    topic = topics.device("w02-eval", DeviceTopic.SERVICE)
    start = "w02-eval-000000000001"
    firmware.publish(topic, event("w02-eval", 1, "start", format_time(now), item="invoice"))
    firmware.publish(
        topic, event("w02-eval", 2, "end", format_time(now + timedelta(seconds=5)), service=start)
    )
    url = f"{hub.api_url}/api/v1/supervision/alerts"
    (alert,) = wait_until(lambda: get_json(url, token=hall.token)["alerts"], message="the alert")
    assert alert["department"] == "tax" and alert["limits"] == "item"
    status, _ = post(f"{url}/{alert['id']}/dismiss", office, {"note": "系统故障后补录，已核实"})
    assert status == 200
    figures = get_json(f"{hub.api_url}/api/v1/supervision/presence/supervisors", token=hall.token)
    today = Calendar().current(datetime.now(UTC), "day")
    assert figures["working_days"] == [today]
    assert [(r["supervisor"], r["days_acted"], r["rate"]) for r in figures["supervisors"]] == [
        ("manager-wang", 0, 0.0),
        ("office-li", 1, 1.0),
    ]


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (
            "[supervision.limits]\nnowhere = { min_s = 5 }\n",
            "limits.nowhere: unknown department 'nowhere'",
        ),
        (
            "[supervision.limits]\ncivil = { min_s = 50, max_s = 50 }\n",
            "limits.civil.max_s: must exceed min_s (50)",
        ),
        (
            '[supervision.opening_hours]\nmon = ["9:00-12:00"]\n',
            "opening_hours.mon: '9:00-12:00' is not a span",
        ),
        (
            '[supervision.opening_hours]\nmon = ["13:00-15:00", "08:00-12:00"]\n',
            "opening_hours.mon: '08:00-12:00' overlaps or precedes",
        ),
        ("[supervision.opening_hours]\nmonday = []\n", "opening_hours.monday: unknown key"),
    ],
)
def test_bad_supervision_settings_are_reported_with_their_key(tmp_path, extra, problem):
    hall = Hall(tmp_path / "hall", port=1883)
    with pytest.raises(ConfigError, match=re.escape(f"supervision.{problem}")):
        load_hub_config(hall.hub_config(extra=extra))


def test_an_item_whose_minimum_is_not_below_its_maximum_is_refused(tmp_path):
    hall = Hall(tmp_path / "hall", port=1883)
    hall.directory_path.write_text(
        hall.directory_text()
        + '\n[[service_items]]\nid = "x"\nname = "x"\ndepartment = "civil"\nmin_s = 9\nmax_s = 9\n'
    )
    with pytest.raises(ConfigError, match=r"service_items\[0\].max_s: must exceed min_s \(9\)"):
        load_hub_config(hall.hub_config())


def test_the_sample_hubs_supervision_section_is_valid_once_uncommented(tmp_path):
    from hallrate.demo_hall import SAMPLE_HALL

    folder = tmp_path / "etc"
    shutil.copytree(SAMPLE_HALL, folder)
    (folder / "hub-broker.password").write_text("hub-secret\n")
    path = folder / "hub.toml"
    head, marker, tail = path.read_text().partition("# [supervision]\n")
    block, blank, rest = tail.partition("\n\n[warnings]")
    assert marker and blank, "the sample hub shows the supervision section"
    uncommented = re.sub(r"(?m)^# ?", "", marker + block)
    path.write_text(head + uncommented + blank + rest)
    config = load_hub_config(path)
    settings = config.supervision
    assert settings.limits["civil"].max_s == 3600
    assert settings.opening_hours[0] == ((510, 720), (840, 1050))
    assert settings.opening_hours[5] == ((540, 720),) and settings.opening_hours[6] == ()
    items = config.directory.service_items
    assert (items["marriage-registration"].min_s, items["marriage-registration"].max_s) == (
        300,
        3600,
    )


def test_a_service_event_names_its_item_only_when_it_has_one():
    plain = ServiceEvent(id="w01-eval-1", seq=1, ts="2026-11-05T09:00:00+08:00",
                         device="w01-eval", event="start")  # fmt: skip
    assert b'"item"' not in encode(plain)  # unchanged for devices that never send it
    named = decode_service_event(encode(replace(plain, item="permit")), topic_device="w01-eval")
    assert named.item == "permit"
    with pytest.raises(ProtocolError, match="item"):
        decode_service_event(encode(replace(plain, item="Not An Id")), topic_device="w01-eval")


@pytest.mark.parametrize("allowed", [False, True])
def test_the_wall_shows_the_halls_rates_only_when_the_hall_allows_it(tmp_path, allowed):
    flag = "true" if allowed else "false"
    hall = Scripted(tmp_path / "hall", f"[supervision]\nshow_presence_on_wall = {flag}\n")
    try:
        hall.add("w01", "sign_in", "2026-11-05T08:30:00+08:00", staff="s01")
        hall.add("w02", "sign_in", "2026-11-05T09:00:00+08:00", staff="s02")
        config = hall.config
        shown = wall_presence(
            hall.store.db.conn,
            directory=config.directory,
            settings=config.supervision,
            calendar=Calendar(config.timezone),
            now=parse_time("2026-11-05T10:00:00+08:00"),
        )
    finally:
        hall.close()
    if not allowed:
        assert shown is None
        return
    # Open since 08:30: 90 minutes each for three people; signed in 90 + 60.
    assert shown == {
        "day": "2026-11-05",
        "staff_rate": round(150 / 270, 4),
        "staff_signed_in": 2,
        "staff_listed": 3,
        "supervisor_rate": None,
    }
