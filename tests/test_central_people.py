"""Central counts a person across halls: two real hall hubs forward to a real central.

One person works in two halls (staff ``s01`` in hall A, ``s02`` in hall B,
both with the county id ``P-0001``). Six dissatisfied votes in A and five in
B are below each hall's monthly threshold of 10, yet make 11 at central: one
person, one county warning. Summaries sent again never add twice, and an
appeal upheld at hall A corrects central's figures.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from flask import Flask
from flask.testing import FlaskClient
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Page, expect

from device_agent.errors import ProtocolError
from device_agent.protocol import envelope_id
from device_agent.storage import open_database, write_transaction
from hub import central
from hub.app import create_app
from hub.config import load_hub_config
from hub.console import accounts
from hub.counting import SUMMARY_BUDGET, Counting, encode_summary
from hub.service import HubService
from hub.store import Store
from hub.tokens import create_token
from tests.browser import log_in
from tests.hall import Hall, get_json, query, wait_until
from tests.test_central import FORWARD, Devices
from tests.thirdparty import start_loop, stop_loop

PASSWORD = "county office password"
PERSON = "P-0001"


def with_person(hall: Hall, staff: str, person: str) -> None:
    """Give ``staff`` of ``hall`` the county-wide person id ``person`` in its directory."""
    text = hall.directory_path.read_text()
    entry = f'[[staff]]\nid = "{staff}"\n'
    assert entry in text
    hall.directory_path.write_text(text.replace(entry, f'{entry}person = "{person}"\n'))


def county_people(hub: HubService, token: str, period: str = "") -> list[dict]:
    suffix = f"?period={period}" if period else ""
    return get_json(f"{hub.api_url}/api/v1/central/people{suffix}", token=token)["people"]


def person_figures(hub: HubService, token: str) -> tuple[int, int, list[tuple[str, str, int]]]:
    """The person's dissatisfied and counted votes this month at central, and each hall's."""
    found = [p for p in county_people(hub, token) if p["person"] == PERSON]
    if not found:
        return (0, 0, [])
    (person,) = found
    halls = [(h["hall"], h["staff"], h["dissatisfied"]) for h in person["halls"]]
    return (person["dissatisfied"], person["total"], halls)


def county_warnings(hub: HubService, token: str) -> list[tuple[str, str, int, bool]]:
    url = f"{hub.api_url}/api/v1/central/people/warnings"
    return [
        (w["person"], w["level"], w["dissatisfied"], w["across_halls"])
        for w in get_json(url, token=token)["warnings"]
        if w["grain"] == "month"
    ]


def void(hub: HubService, token: str, vote_id: str) -> None:
    request = urllib.request.Request(
        f"{hub.api_url}/api/v1/votes/{vote_id}/void",
        data=json.dumps({"reason": "not_about_staff", "note": "appeal upheld"}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def manager_token(hall: Hall) -> str:
    store = Store(hall.database)
    try:
        with write_transaction(store.db) as conn:
            return create_token(conn, "wang", "manager")
    finally:
        store.close()


def add_office(hall: Hall) -> None:
    store = Store(hall.database)
    try:
        with write_transaction(store.db) as conn:
            accounts.add_user(conn, "county", PASSWORD, role="office", display_name="效能办李")
            accounts.add_user(conn, "boss", PASSWORD, role="manager")
    finally:
        store.close()


def retained_summary(port: int, hall: str) -> bytes:
    """The hall's summary as the broker keeps it (retained), read as central would."""
    got: list[bytes] = []
    arrived = threading.Event()
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"{hall}-peek", protocol=paho.MQTTv5
    )

    def on_message(client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        got.append(message.payload)
        arrived.set()

    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe(f"hallrate/{hall}/hub/summary", qos=1)
    loop = start_loop(client)
    try:
        assert arrived.wait(10), "no retained summary"
    finally:
        stop_loop(client, loop)
    return got[0]


def republish(port: int, topic: str, payload: bytes) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="resender", protocol=paho.MQTTv5)
    client.connect("127.0.0.1", port)
    loop = start_loop(client)
    try:
        client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        stop_loop(client, loop)


class County:
    """Two halls and central on one broker, each hub real, central's console at hand."""

    def __init__(self, tmp_path: Path, port: int, start_hub) -> None:
        self.a = Hall(tmp_path / "hall-a", port)
        self.b = Hall(tmp_path / "hall-b", port)
        with_person(self.a, "s01", PERSON)
        with_person(self.b, "s02", PERSON)
        self.county = Hall(tmp_path / "county", port)
        add_office(self.county)
        halls = "".join(f"[central.halls.{h.id}]\n" for h in (self.a, self.b))
        self.central = start_hub(self.county, extra=f"[central]\nenabled = true\n{halls}")
        self.hub_a = start_hub(self.a, extra=FORWARD)
        self.hub_b = start_hub(self.b, extra=FORWARD)
        self.devices_a = Devices(self.a, port)
        self.devices_b = Devices(self.b, port)
        self.token = self.county.token

    def close(self) -> None:
        self.devices_a.close()
        self.devices_b.close()


@pytest.fixture
def county(tmp_path, mosquitto, start_hub) -> Iterator[County]:
    made = County(tmp_path, mosquitto.port, start_hub)
    yield made
    made.close()


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has a form token"
    return found[1]


def console(app: Flask, name: str) -> FlaskClient:
    client = app.test_client()
    login = client.get("/console/login")
    client.post(
        "/console/login",
        data={"user": name, "password": PASSWORD, "csrf_token": form_token(login.text)},
    )
    return client


def test_a_person_in_two_halls_counts_once_and_recounts_reach_central(county, mosquitto):
    county.devices_a.vote(6, level=1, staff="s01")
    county.devices_b.vote(5, level=2, staff="s02")
    county.devices_b.vote(3, level=5, staff="s02")
    token = county.token
    a, b = county.a.id, county.b.id

    # One person at central: the figures are the sum of both halls'.
    figures = wait_until(
        lambda: (f := person_figures(county.central, token))[0] == 11 and f[1] == 14 and f,
        message="the person's figures from both halls at central",
    )
    assert figures == (11, 14, [(a, "s01", 6), (b, "s02", 5)])
    # Neither hall reached its own threshold of 10; the county sees 11 for one person.
    assert query(county.a.database, "SELECT id FROM warnings") == []
    assert query(county.b.database, "SELECT id FROM warnings") == []
    assert county_warnings(county.central, token) == [(PERSON, "III", 11, True)]

    # Hall B's own warning for another staff member reaches central beside it.
    county.devices_b.vote(10, level=1, staff="s03")
    wait_until(
        lambda: (
            query(county.county.database, "SELECT hall, staff FROM central_warnings")
            == [(b, "s03")]
        ),
        message="hall B's warning at central",
    )
    app = create_app(county.central.config)
    office = console(app, "county")
    overview = office.get("/console/central/").text
    person_row = re.search(
        rf'<tr data-person="{PERSON}" data-period="[0-9-]{{7}}">(.*?)</tr>', overview, re.S
    )
    assert person_row, "the county warning of the person"
    assert "III" in person_row[1] and "跨大厅" in person_row[1] and "11 / 10" in person_row[1]
    hall_warning = re.search(rf'<tr data-warning="{b}/s03-III-[0-9-]+">(.*?)</tr>', overview, re.S)
    assert hall_warning and f"<small>{b}</small>" in hall_warning[1]

    # A summary delivered again (the retained one, republished) adds nothing.
    # Three staff members, each in today's, this month's and this year's figures.
    stored = "SELECT count(*) FROM central_person_counts"
    wait_until(
        lambda: query(county.county.database, stored) == [(9,)],
        message="s03's figures at central",
    )
    payload = retained_summary(mosquitto.port, a)
    sent = json.loads(payload)
    assert sent["people_names"]["s01"] == {"person": PERSON, "name": "职员1"}
    assert [row[:2] for row in sent["people"] if row[0] == sent["periods"]["month"]] == [
        [sent["periods"]["month"], "s01"]
    ]
    republish(mosquitto.port, f"hallrate/{a}/hub/summary", payload)
    republish(mosquitto.port, f"hallrate/{a}/hub/summary", payload)
    # Newer summaries keep arriving each second, each replacing the hall's figures.
    received = query(county.county.database, "SELECT received_at FROM central_summaries")
    wait_until(
        lambda: (
            query(county.county.database, "SELECT received_at FROM central_summaries") != received
        ),
        message="newer summaries at central",
    )
    assert person_figures(county.central, token) == (11, 14, [(a, "s01", 6), (b, "s02", 5)])
    assert query(county.county.database, stored) == [(9,)]

    # An appeal upheld at hall A: two of its votes voided; central's figures follow.
    manager = manager_token(county.a)
    for seq in (1, 2):
        void(county.hub_a, manager, envelope_id("w01-eval", seq, epoch="test0001"))
    wait_until(
        lambda: person_figures(county.central, token)[0] == 9,
        message="the recount at central",
    )
    assert person_figures(county.central, token) == (9, 12, [(a, "s01", 4), (b, "s02", 5)])
    # The person is back under 10; s03 (no county id: hall and staff) keeps theirs.
    assert county_warnings(county.central, token) == [(f"{b}:s03", "III", 10, False)]

    # The county office's console shows every hall and the person's figures.
    overview = office.get("/console/central/")
    assert overview.status_code == 200
    for hall in (a, b):
        assert f'data-hall="{hall}"' in overview.text
    assert f'data-person="{PERSON}"' not in overview.text
    assert f'data-person="{b}:s03"' in overview.text
    people = office.get("/console/central/people").text
    row = re.search(rf'<tr data-person="{PERSON}">(.*?)</tr>', people, re.S)
    assert row and '<td data-field="dissatisfied">9</td>' in row[1]
    assert '<td data-field="total">12</td>' in row[1]
    # A hall manager at central is not shown the county pages.
    assert console(app, "boss").get("/console/central/").status_code == 403


def summary(hall: str, generated_at: str, rows: list[list], periods: list[str]) -> dict:
    return {
        "v": 1,
        "hall": hall,
        "message_id": f"summary-{generated_at[:19].replace(':', '')}",
        "generated_at": generated_at,
        "people_periods": periods,
        "people_columns": list(central.PEOPLE_ROW),
        "people": rows,
        "people_names": {
            "s01": {"person": "P1", "name": "职员1"},
            "s02": {"person": "h1:s02", "name": "职员2"},
        },
    }


def figures(staff: str, period: str, unhappy: int, total: int) -> list:
    """A row of ``people``: the period, the staff id, votes at levels 1-5, total, dissatisfied."""
    return [period, staff, unhappy, 0, 0, 0, total - unhappy, total, unhappy]


def test_a_newer_summary_replaces_a_hall_s_figures_and_an_older_one_changes_nothing(tmp_path):
    path = tmp_path / "central.sqlite"
    Store(path).close()
    db = open_database(path)

    def deliver(document: dict) -> None:
        with write_transaction(db) as conn:
            central.accept(conn, "h1", "summary", document, received_at="x")

    def stored() -> list[tuple]:
        return query(
            path,
            "SELECT period, staff, person, dissatisfied, total FROM central_person_counts"
            " ORDER BY period, staff",
        )

    try:
        month = ["2026-12"]
        deliver(
            summary(
                "h1",
                "2026-12-02T10:00:00.000+08:00",
                [figures("s01", "2026-12", 6, 8), figures("s02", "2026-12", 1, 1)],
                month,
            )
        )
        # The recount: s02's only vote voided, s01 one less. A re-sent copy changes nothing.
        newer = summary(
            "h1", "2026-12-02T10:05:00.000+08:00", [figures("s01", "2026-12", 5, 7)], month
        )
        deliver(newer)
        deliver(newer)
        assert stored() == [("2026-12", "s01", "P1", 5, 7)]
        # An older summary arriving late does not bring the old figures back.
        deliver(
            summary(
                "h1",
                "2026-12-02T10:01:00.000+08:00",
                [figures("s01", "2026-12", 6, 8)],
                month,
            )
        )
        assert stored() == [("2026-12", "s01", "P1", 5, 7)]
        # A period the summary no longer names keeps what the hall last sent for it.
        deliver(summary("h1", "2026-12-02T10:06:00.000+08:00", [], ["2026-12-02"]))
        assert stored() == [("2026-12", "s01", "P1", 5, 7)]
        # A row outside the periods the summary names is refused, and so is a staff
        # member without a person.
        unnamed = summary(
            "h1", "2026-12-02T10:08:00.000+08:00", [figures("s09", *month, 1, 1)], month
        )
        with pytest.raises(ProtocolError, match="people_names"):
            deliver(unnamed)
        with pytest.raises(ProtocolError, match="people_periods"):
            deliver(
                summary(
                    "h1",
                    "2026-12-02T10:07:00.000+08:00",
                    [figures("s01", "2026-11", 1, 1)],
                    month,
                )
            )
    finally:
        db.close()


def test_the_county_office_sees_every_hall_in_chromium(county, page: Page) -> None:
    county.devices_a.vote(6, level=1, staff="s01")
    county.devices_b.vote(5, level=1, staff="s02")
    wait_until(
        lambda: person_figures(county.central, county.token)[0] == 11,
        message="the person's figures at central",
    )
    base = county.central.api_url
    log_in(page, "county", PASSWORD, base + "/console/login")
    page.click("nav >> text=全县大厅")
    expect(page.locator("h1")).to_contain_text("全县大厅总览")
    for hall in (county.a, county.b):
        expect(page.locator(f'tr[data-hall="{hall.id}"]')).to_be_visible()
    hall_a = page.locator(f'tr[data-hall="{county.a.id}"]')
    expect(hall_a.locator('[data-field="month-votes"]')).to_have_text("6")
    expect(hall_a.locator('[data-field="month-satisfaction"]')).to_have_text("0.0%")
    person = page.locator(f'tr[data-person="{PERSON}"]')
    expect(person.locator('[data-field="level"]')).to_contain_text("III")
    expect(person.locator('[data-field="dissatisfied"]')).to_have_text("11 / 10")
    # On a phone the tables scroll inside their box; the page never scrolls sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0


def hall_summary(root: Path, staff: int) -> dict:
    """The summary of a hall of ``staff`` people, each with votes in six periods."""
    hall = Hall(root, 1, windows=staff)
    config = load_hub_config(hall.hub_config())
    now = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    store = Store(config.database)
    try:
        with write_transaction(store.db) as conn:
            for period in [*CURRENT, "2026-12-01", "2026-11", "2025"]:
                grain = {10: "day", 7: "month", 4: "year"}[len(period)]
                conn.executemany(
                    "INSERT INTO counts (scope, subject, period, grain, level_1, level_5,"
                    " total, dissatisfied) VALUES ('staff', ?, ?, ?, 2, 40, 42, 2)",
                    [(f"s{n:02d}", period, grain) for n in range(1, staff + 1)],
                )
            return Counting(config, now=lambda: now).summary(conn)
    finally:
        store.close()


CURRENT = ["2026-12-02", "2026-12", "2026"]


def test_a_big_hall_s_summary_stays_under_the_broker_s_packet_limit(tmp_path):
    big = hall_summary(tmp_path / "big", 200)
    # 200 staff in six periods would not fit: the current three go, every staff member in each.
    assert len(encode_summary(big)) <= SUMMARY_BUDGET
    assert big["people_periods"] == CURRENT
    assert len(big["people"]) == 3 * 200 and len(big["people_names"]) == 200
    # A small hall's summary keeps the periods just ended too.
    small = hall_summary(tmp_path / "small", 3)
    assert len(small["people_periods"]) == 6 and len(small["people"]) == 6 * 3
