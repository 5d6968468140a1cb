"""Settings from the hub: applied at once and reported, or refused whole with every problem."""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import pytest
from gpiozero.pins.mock import MockFactory

from device_agent.agent import Agent
from device_agent.config import load_agent_config
from device_agent.errors import ConfigError
from device_agent.remote_config import DeviceSettings, parse_remote_config
from hallrate.broker import free_port
from hallrate.cli import main
from hub.device_config import DeviceConfigError, set_device_config
from tests.clock import SteppedClock
from tests.hall import Hall, get_json, query, read_token, wait_until


def votes(hall) -> list[tuple]:
    return query(
        hall.database,
        "SELECT level, staff, counted, filter_rule FROM votes ORDER BY rowid",
    )


def events(hall) -> list[tuple]:
    return query(hall.database, "SELECT event, staff FROM service_events ORDER BY rowid")


def device(hub) -> dict:
    token = read_token(hub.config.database)
    devices = get_json(f"{hub.api_url}/api/v1/devices", token=token)["devices"]
    return next(d for d in devices if d["id"] == "w01-eval")


def info(hub) -> dict:
    return device(hub)["info"] or {}


def test_a_config_from_the_hub_is_applied_at_once_and_reported(hall, start_hub, start_agent):
    hub = start_hub(hall)
    clock = SteppedClock()
    window = start_agent(hall, 1, clock=clock)
    wait_until(lambda: window.agent.link.connected, message="agent connected")

    report = set_device_config(
        hub.config,
        "w01-eval",
        {
            "v": 1,
            "config_version": 1,
            "staff": "s03",
            "session": {"out_of_service": "filter", "cooldown_s": 1},
        },
        timeout=20,
    )

    assert report == {
        "v": 1,
        "config_version": 1,
        "applied": True,
        "error": None,
        "active_version": 1,
    }
    wait_until(lambda: len(events(hall)) == 2, message="the staff change at the hub")
    assert events(hall) == [("sign_out", "s01"), ("sign_in", "s03")]
    window.press(17)
    wait_until(lambda: votes(hall), message="the vote")
    assert votes(hall) == [(5, "s03", 0, "no_service")]  # the new staff, the new policy
    wait_until(lambda: info(hub).get("config_version") == 1, message="info says version 1")


def test_a_bad_config_is_refused_whole_and_the_old_one_kept(hall, start_hub, start_agent):
    hub = start_hub(hall)
    clock = SteppedClock()
    window = start_agent(hall, 1, clock=clock)
    wait_until(lambda: window.agent.link.connected, message="agent connected")
    good = {"v": 1, "config_version": 4, "staff": "s02"}
    assert set_device_config(hub.config, "w01-eval", good, timeout=20)["applied"]

    bad = {
        "v": 1,
        "config_version": 5,
        "staff": "Not An Id",
        "keys": {"GPIO17": 9},
        "session": {"cooldown_s": -1, "colour": "red"},
    }
    report = set_device_config(hub.config, "w01-eval", bad, timeout=20)

    assert report["applied"] is False
    assert report["config_version"] == 5
    assert report["active_version"] == 4
    assert report["error"].splitlines() == [
        "config/set: staff: must match [a-z0-9][a-z0-9-]{0,31}",
        "config/set: keys.GPIO17: level must be 1 to 5, got 9",
        "config/set: session.cooldown_s: must be between 0 and 600, got -1.0",
        "config/set: session.colour: unknown key",
    ]
    # A pin the board does not have: the check passes, the hardware refuses, nothing changes.
    report = set_device_config(
        hub.config, "w01-eval", {"v": 1, "config_version": 6, "keys": {"GPIO99": 5}}, timeout=20
    )
    assert report["applied"] is False
    assert "GPIO99" in report["error"]
    # An older version than the one in force is refused too.
    report = set_device_config(hub.config, "w01-eval", {"v": 1, "config_version": 3}, timeout=20)
    assert report["error"] == "config/set: config_version 3 is older than the active 4"

    window.press(27)  # the old buttons, the old staff
    wait_until(lambda: votes(hall), message="the vote")
    assert votes(hall) == [(4, "s02", 1, None)]
    assert info(hub).get("config_version") == 4
    # The hub keeps the device's last answer, so an operator sees the refusal.
    wait_until(
        lambda: (device(hub)["config"] or {}).get("config_version") == 3,
        message="the last answer at the hub",
    )
    answer = device(hub)["config"]
    assert (answer["applied"], answer["active_version"]) == (False, 4)
    assert device(hub)["config_at"]


def test_the_applied_config_survives_a_restart_without_the_broker(hall, start_hub, start_agent):
    hub = start_hub(hall)
    window = start_agent(hall, 1)
    wait_until(lambda: window.agent.link.connected, message="agent connected")
    set_device_config(hub.config, "w01-eval", {"v": 1, "config_version": 2, "staff": "s03"})
    wait_until(lambda: len(events(hall)) == 2, message="sign-out and sign-in at the hub")
    wait_until(lambda: window.agent.outbox.depth == 0, message="their receipts")
    window.stop()

    # Restarted where no broker answers: the saved settings hold from the first press.
    config = load_agent_config(hall.agent_config(1))
    config = replace(config, broker=replace(config.broker, port=free_port()))
    factory = MockFactory()
    agent = Agent(config, pin_factory=factory)
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    try:
        factory.pin(17).drive_low()
        factory.pin(17).drive_high()
        wait_until(lambda: agent.outbox.depth, message="the vote in the outbox")
    finally:
        agent.stop()
        thread.join(timeout=10)
    # Nothing else: no sign-out and sign-in again, the hub heard those before the restart.
    ((kind, body),) = query(config.outbox.path, "SELECT kind, body FROM outbox")
    assert (kind, json.loads(body)["staff"]) == ("vote", "s03")


def test_device_config_tool_says_when_the_device_does_not_answer(hall, start_hub):
    hub = start_hub(hall)
    with pytest.raises(DeviceConfigError, match="did not report config_version 1"):
        set_device_config(hub.config, "w02-eval", {"v": 1, "config_version": 1}, timeout=0.5)


def test_device_config_tool_refuses_bad_input_with_exit_status_2(hall, tmp_path, caplog):
    config = hall.hub_config()
    good = tmp_path / "good.json"
    good.write_text('{"v": 1, "config_version": 1}')
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    for device, document, says in [
        ("w99-eval", good, "'w99-eval' is not in the hall directory"),
        ("Not An Id", good, "device"),
        ("w01-eval", listed, "the document must be a JSON object"),
    ]:
        code = main(["device-config", "--config", str(config), device, str(document)])
        assert code == 2, (device, document)
        assert says in caplog.text
        caplog.clear()


def test_a_session_that_is_not_an_object_is_refused():
    base = DeviceSettings(window="w01", staff=None, keys={})
    with pytest.raises(ConfigError) as caught:
        parse_remote_config(b'{"v": 1, "config_version": 2, "session": 5}', base)
    assert caught.value.problems == ["config/set: session: must be a table, got an integer"]


def test_an_unreadable_saved_config_leaves_the_local_settings(tmp_path):
    hall = Hall(tmp_path / "hall", port=1)  # no broker: this is about start-up
    config = load_agent_config(hall.agent_config(1))
    saved = config.outbox.path.with_name(f"{config.outbox.path.stem}-config-set.json")
    saved.mkdir(parents=True)  # there, but not a file that can be read
    agent = Agent(config, pin_factory=MockFactory())
    try:
        assert agent.config_version is None
        assert agent.settings == agent.local
    finally:
        agent.outbox.close()
        agent._close_hardware()
