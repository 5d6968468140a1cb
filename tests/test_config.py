"""Configuration files: every problem at once with file and key; secrets out of files and logs."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from device_agent.config import DEFAULT_KEYS, load_agent_config
from device_agent.configfile import Secret
from device_agent.errors import ConfigError
from device_agent.remote_config import DeviceSettings, parse_remote_config
from hub.config import load_hub_config
from hub.directory import load_directory
from tests.hall import Hall

PASSWORD = "correct-horse-battery-staple"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def problems_of(load: object, path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(path)  # type: ignore[operator]
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def hallrate(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the ``hallrate`` command as an operator would."""
    return subprocess.run(
        [sys.executable, "-m", "hallrate.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


@pytest.fixture
def files(tmp_path: Path) -> Hall:
    """The valid directory, hub and agent files of a test hall (no broker needed)."""
    return Hall(tmp_path / "hall", 1883)


# Agent configuration


def test_a_valid_agent_config_loads(files: Hall):
    config = load_agent_config(files.agent_config(2, resend_after_s=7.5))
    assert (config.device, config.hall, config.window, config.staff) == (
        "w02-eval",
        files.id,
        "w02",
        "s02",
    )
    assert config.outbox.path == files.root / "outbox-2.sqlite"
    assert config.outbox.resend_after_s == 7.5
    assert config.evaluator.keys == DEFAULT_KEYS
    assert config.evaluator.thank_you_pin == "GPIO25"
    assert config.broker.password is None


def test_a_minimal_agent_config_gets_defaults(tmp_path: Path):
    config = load_agent_config(write(tmp_path / "a.toml", '[device]\nid = "w01"\nhall = "b01"\n'))
    assert config.outbox.path == tmp_path / "w01-outbox.sqlite"
    assert config.broker.port == 1883
    assert config.broker.protocol == "5"
    assert config.window is None
    assert len(config.evaluator.keys) == 5


def test_the_session_table_and_a_remote_session_are_checked_alike(files: Hall):
    # One declaration of the session settings: the agent's [session] and the hub's
    # config/set accept the same keys with the same limits.
    path = files.agent_config(1, extra="[session]\nthank_s = 100\ncooldown_s = 2\n")
    assert problems_of(load_agent_config, path) == [
        f"{path}: session.thank_s: must be between 0.5 and 60, got 100.0"
    ]
    base = DeviceSettings(window="w01", staff=None, keys={})
    document = b'{"v": 1, "config_version": 2, "session": {"thank_s": 100, "cooldown_s": 2}}'
    with pytest.raises(ConfigError) as caught:
        parse_remote_config(document, base)
    assert caught.value.problems == [
        "config/set: session.thank_s: must be between 0.5 and 60, got 100.0"
    ]
    # Without thank_s of its own, the session thanks as long as the evaluator's light.
    config = load_agent_config(files.agent_config(1, evaluator="thank_you_s = 4.5\n"))
    assert config.session.thank_s == 4.5
    config = load_agent_config(files.agent_config(1, extra="[session]\nthank_s = 2\n"))
    assert config.session.thank_s == 2.0


def test_first_seq_of_an_older_config_is_accepted_ignored_and_warned_about(
    files: Hall, caplog: pytest.LogCaptureFixture
):
    path = files.agent_config(1, outbox="first_seq = 7000\n")
    with caplog.at_level(logging.WARNING, logger="device_agent.config"):
        config = load_agent_config(path)
    assert config.device == "w01-eval"
    assert not hasattr(config.outbox, "first_seq")
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: outbox.first_seq is no longer used and is ignored: every outbox file"
        " names its records with an epoch of its own, so a replaced card never"
        " repeats an id; delete the line"
    ]
    # check-config says so too, and still finds the file valid.
    result = hallrate("check-config", path)
    assert result.returncode == 0, result.stderr
    assert "outbox.first_seq is no longer used" in result.stderr


def test_every_agent_problem_is_reported_at_once_with_file_and_key(tmp_path: Path):
    path = write(
        tmp_path / "agent.toml",
        "[device]\n"
        'id = "W01 Eval"\n'  # 1: not a valid id
        "hall = 7\n"  # 2: wrong type
        'colour = "red"\n'  # 3: unknown key
        "[broker]\n"
        "port = 70000\n"  # 4: out of range
        "[outbox]\n"
        "resend_after_s = 0.1\n",  # 5: out of range
    )
    problems = problems_of(load_agent_config, path)
    assert len(problems) == 5, problems
    keys = ["device.id", "device.hall", "device.colour", "broker.port", "outbox.resend_after_s"]
    for key in keys:
        assert any(p.startswith(f"{path}: {key}: ") for p in problems), (key, problems)
    assert f"{path}: device.hall: must be a string, got an integer" in problems
    assert f"{path}: device.colour: unknown key" in problems
    assert f"{path}: broker.port: must be between 1 and 65535, got 70000" in problems


def test_unknown_keys_and_tables_are_reported(tmp_path: Path):
    path = write(
        tmp_path / "agent.toml",
        '[device]\nid = "w01"\nhall = "b01"\n'
        '[broker]\nhots = "127.0.0.1"\n'
        "[evaluator]\ndebounce = 80\n"
        "[buttons]\nx = 1\n",
    )
    assert sorted(problems_of(load_agent_config, path)) == [
        f"{path}: broker.hots: unknown key",
        f"{path}: buttons: unknown key",
        f"{path}: evaluator.debounce: unknown key",
    ]


def test_a_section_that_is_not_a_table_is_reported(tmp_path: Path):
    path = write(
        tmp_path / "agent.toml",
        'session = 5\nbroker = "127.0.0.1"\n[device]\nid = "w01"\nhall = "b01"\n',
    )
    assert sorted(problems_of(load_agent_config, path)) == [
        f"{path}: broker: must be a table, got a string",
        f"{path}: session: must be a table, got an integer",
    ]


def test_a_reconnect_delay_range_upside_down_is_reported(tmp_path: Path):
    path = write(
        tmp_path / "agent.toml",
        '[device]\nid = "w01"\nhall = "b01"\n[broker]\nreconnect_min_s = 60\nreconnect_max_s = 5\n',
    )
    assert problems_of(load_agent_config, path) == [
        f"{path}: broker.reconnect_min_s: must not exceed reconnect_max_s (5)"
    ]


def test_required_keys_and_bad_key_maps_are_reported(tmp_path: Path):
    path = write(
        tmp_path / "agent.toml",
        '[device]\n[broker]\nprotocol = "4"\n[evaluator.keys]\nGPIO17 = 6\nGPIO27 = "4"\n',
    )
    problems = problems_of(load_agent_config, path)
    assert f"{path}: device.id: is required" in problems
    assert f"{path}: device.hall: is required" in problems
    assert f"{path}: broker.protocol: must be one of 5, 3.1.1, got '4'" in problems
    assert f"{path}: evaluator.keys.GPIO17: level must be 1 to 5, got 6" in problems
    assert f"{path}: evaluator.keys.GPIO27: level must be 1 to 5, got '4'" in problems
    assert f"{path}: evaluator.keys: no valid key" in problems
    assert len(problems) == 6, problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[device\nid = 1\n", ["not valid TOML"]),
        ("", ["device.id: is required", "device.hall: is required"]),
    ],
)
def test_unreadable_or_empty_agent_files_say_why(tmp_path: Path, text: str, expected: list[str]):
    path = write(tmp_path / "agent.toml", text)
    problems = problems_of(load_agent_config, path)
    assert len(problems) == len(expected), problems
    for problem, wanted in zip(problems, expected, strict=True):
        assert problem.startswith(f"{path}: {wanted}")


def test_a_missing_file_is_one_problem(tmp_path: Path):
    path = tmp_path / "nowhere.toml"
    assert problems_of(load_agent_config, path) == [f"{path}: file not found"]


# Secrets


def agent_with_broker(tmp_path: Path, broker: str) -> Path:
    return write(
        tmp_path / "agent.toml",
        f'[device]\nid = "w01"\nhall = "b01"\n[broker]\nusername = "w01"\n{broker}',
    )


def test_a_password_comes_from_a_file_next_to_the_config(tmp_path: Path):
    write(tmp_path / "secrets" / "w01.pw", f"{PASSWORD}\n")
    config = load_agent_config(agent_with_broker(tmp_path, 'password_file = "secrets/w01.pw"\n'))
    assert config.broker.username == "w01"
    assert config.broker.password == Secret(PASSWORD)
    assert config.broker.password is not None
    assert config.broker.password.reveal() == PASSWORD


def test_a_password_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HALLRATE_TEST_PW", PASSWORD)
    config = load_agent_config(agent_with_broker(tmp_path, 'password_env = "HALLRATE_TEST_PW"\n'))
    assert config.broker.password is not None
    assert config.broker.password.reveal() == PASSWORD


def test_a_password_written_into_the_file_is_refused_without_repeating_it(tmp_path: Path):
    path = agent_with_broker(tmp_path, f'password = "{PASSWORD}"\n')
    problems = problems_of(load_agent_config, path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}: broker.password: put the secret in a file")
    assert PASSWORD not in problems[0]


@pytest.mark.parametrize(
    ("broker", "problem"),
    [
        (
            'password_file = "missing.pw"\n',
            "broker.password_file: cannot read",
        ),
        (
            'password_env = "HALLRATE_TEST_UNSET"\n',
            "broker.password_env: environment variable HALLRATE_TEST_UNSET is not set",
        ),
        (
            'password_file = "w01.pw"\npassword_env = "HALLRATE_TEST_PW"\n',
            "broker.password: give password_file or password_env, not both",
        ),
    ],
)
def test_secret_sources_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broker: str, problem: str
):
    monkeypatch.delenv("HALLRATE_TEST_UNSET", raising=False)
    monkeypatch.setenv("HALLRATE_TEST_PW", PASSWORD)
    write(tmp_path / "w01.pw", PASSWORD)
    path = agent_with_broker(tmp_path, broker)
    problems = problems_of(load_agent_config, path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}: {problem}")
    assert PASSWORD not in problems[0]


def test_secrets_are_redacted_wherever_they_are_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    secret = Secret(PASSWORD)
    assert repr(secret) == "Secret('***')"
    assert str(secret) == "Secret('***')"
    assert PASSWORD not in f"{secret} {secret!r} {[secret]} { ({'pw': secret}) }"

    monkeypatch.setenv("HALLRATE_TEST_PW", PASSWORD)
    config = load_agent_config(agent_with_broker(tmp_path, 'password_env = "HALLRATE_TEST_PW"\n'))
    assert PASSWORD not in str(config)
    assert PASSWORD not in repr(config)
    assert "Secret('***')" in str(config.broker)
    with caplog.at_level(logging.INFO):
        logging.getLogger("tests.config").info("loaded %s", config)
    assert "Secret('***')" in caplog.text
    assert PASSWORD not in caplog.text


# Hub and directory configuration


def test_a_valid_hub_config_loads_with_its_directory(files: Hall):
    config = load_hub_config(files.hub_config(api_port=8099))
    assert config.hall == files.id
    assert config.client_id == f"hub-{files.id}"
    assert config.database == files.database
    assert config.api.port == 8099
    assert sorted(config.directory.devices) == ["w01-eval", "w02-eval", "w03-eval"]
    assert config.directory.staff["s02"].name == "职员2"
    assert config.directory.windows["w03"].department == "civil"


def test_every_hub_problem_is_reported_at_once_with_file_and_key(files: Hall):
    path = write(
        files.root / "hub.toml",
        "[hub]\n"  # 1: hub.hall is required
        'directory = "directory.toml"\n'
        'timezone = "Mars/Olympus"\n'  # 2: unknown time zone
        '[broker]\nprotocol = "4"\n'  # 3: not a protocol
        "[ingest]\nbatch_size = 10\n"  # 4: unknown key
        "[api]\nport = -1\n",  # 5: out of range
    )
    problems = problems_of(load_hub_config, path)
    assert len(problems) == 5, problems
    for key in ("hub.hall", "hub.timezone", "broker.protocol", "ingest.batch_size", "api.port"):
        assert any(p.startswith(f"{path}: {key}: ") for p in problems), (key, problems)
    assert f"{path}: hub.timezone: unknown time zone 'Mars/Olympus'" in problems


def test_problems_of_every_kind_in_every_section_are_reported_together(files: Hall):
    # Types, ranges, names, time zones and checks across keys, in one table and in
    # several: one run of the check finds them all, each with its file and key.
    path = write(
        files.root / "hub.toml",
        f'[hub]\nhall = "{files.id}"\ndirectory = "directory.toml"\n'
        'timezone = "Europe/Nowhere"\n'
        "[broker]\nkeepalive_s = 1\nreconnect_min_s = 10\nreconnect_max_s = 5\n"
        '[ingest]\nbatch_max = 0\nbatch_ms = "20"\n'
        "[api]\nprot = 8080\n"
        "[rules]\nclose_days = true\n"
        "[quarantine]\nmax_age_days = 0\n"
        '[[warnings.rules]]\nlevel = "III!"\naction = "告诫"\nmonthly = 10\n'
        '[[warnings.rules]]\nlevel = "II"\naction = "谈话"\nmonthly = 5\n',
    )
    problems = problems_of(load_hub_config, path)
    assert sorted(problems) == sorted(
        f"{path}: {problem}"
        for problem in [
            "hub.timezone: unknown time zone 'Europe/Nowhere'",
            "broker.keepalive_s: must be between 5 and 3600, got 1",
            "broker.reconnect_min_s: must not exceed reconnect_max_s (5)",
            "ingest.batch_max: must be between 1 and 10000, got 0",
            "ingest.batch_ms: must be an integer, got a string",
            "api.prot: unknown key",
            "rules.close_days: must be an integer, got true or false",
            "quarantine.max_age_days: must be between 1 and 3650, got 0",
            "warnings.rules[0].level: must be 1-8 letters or digits",
            "warnings.rules[1].monthly: must exceed the less severe level's 10:"
            " rules go from least to most severe",
        ]
    )


def test_directory_problems_are_reported_with_the_directory_file(files: Hall):
    directory = write(
        files.root / "bad-directory.toml",
        '[hall]\nid = "b01"\n'
        '[[departments]]\nid = "civil"\nname = "民政"\n'
        '[[windows]]\nid = "w01"\nname = "1号"\ndepartment = "tax"\n'  # 1: unknown department
        '[[staff]]\nid = "s01"\nname = "甲"\ndepartment = "civil"\nwindow = "w09"\n'  # 2
        '[[devices]]\nid = "w01-eval"\nkind = "evaluator"\nwindow = "w01"\n'
        '[[devices]]\nid = "w01-eval"\nkind = "evaluator"\nwindow = "w01"\n'  # 3: duplicate
        '[[devices]]\nid = "k01"\nkind = "printer"\n'  # 4: kind
        # 6: keyed by its place in the file, which a duplicate before it does not shift
        '[[devices]]\nid = "k02"\nkind = "kiosk"\nwindow = "w09"\n',
    )
    hub = write(
        files.root / "hub.toml",
        '[hub]\nhall = "b02"\ndirectory = "bad-directory.toml"\n',  # 5: another hall
    )
    problems = problems_of(load_hub_config, hub)
    assert sorted(problems) == sorted(
        [
            f"{directory}: windows[0].department: unknown department 'tax'",
            f"{directory}: staff[0].window: unknown window 'w09'",
            f"{directory}: devices[1].id: duplicate id 'w01-eval'",
            f"{directory}: devices[2].kind: must be one of evaluator, kiosk, got 'printer'",
            f"{directory}: devices[3].window: unknown window 'w09'",
            f"{hub}: hub.directory: lists hall 'b01', this hub is 'b02'",
        ]
    )


def test_a_typo_in_the_directory_is_reported_not_ignored(files: Hall):
    path = write(
        files.root / "typo-directory.toml",
        '[hall]\nid = "b01"\nnmae = "大厅"\n'
        '[[departments]]\nid = "civil"\nname = "民政"\n'
        '[[windows]]\nid = "w01"\nname = "1号"\ndepartment = "civil"\n'
        '[[staff]]\nid = "s01"\nname = "甲"\ndepartment = "civil"\nwindw = "w01"\n',
    )
    assert sorted(problems_of(load_directory, path)) == [
        f"{path}: hall.nmae: unknown key",
        f"{path}: staff[0].windw: unknown key",
    ]


def test_a_directory_loads_on_its_own(files: Hall):
    directory = load_directory(files.directory_path)
    assert directory.hall == files.id
    assert directory.name == "测试大厅"
    assert directory.devices["w02-eval"].window == "w02"


def test_an_evaluator_needs_a_window_and_a_missing_directory_is_reported(files: Hall):
    path = write(
        files.root / "directory.toml",
        '[hall]\nid = "b01"\n[[devices]]\nid = "w01-eval"\nkind = "evaluator"\n',
    )
    assert problems_of(load_directory, path) == [
        f"{path}: devices[0].window: an evaluator needs its window"
    ]
    hub = write(files.root / "hub.toml", '[hub]\nhall = "b01"\ndirectory = "gone.toml"\n')
    assert problems_of(load_hub_config, hub) == [f"{files.root / 'gone.toml'}: file not found"]


# hallrate check-config


def test_check_config_accepts_valid_files(files: Hall):
    result = hallrate(
        "check-config", files.agent_config(1), files.hub_config(), files.directory_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{files.root / 'agent-1.toml'}: valid agent configuration",
        f"{files.root / 'hub.toml'}: valid hub configuration",
        f"{files.directory_path}: valid directory configuration",
    ]


def test_check_config_lists_every_problem_of_every_file(files: Hall):
    good = files.agent_config(1)
    bad = write(
        files.root / "bad-agent.toml",
        '[device]\nid = "W01"\nhall = 7\ncolour = "red"\n'
        f'[broker]\nport = 70000\npassword = "{PASSWORD}"\n',
    )
    broken = write(files.root / "broken.toml", "[device\n")
    stranger = write(files.root / "stranger.toml", '[printer]\nname = "x"\n')
    missing = files.root / "missing.toml"

    result = hallrate("check-config", good, bad, broken, stranger, missing)

    assert result.returncode == 1
    assert result.stdout.splitlines() == [f"{good}: valid agent configuration"]
    err = result.stderr
    assert f"{bad}: 5 problem(s) in this agent file:" in err
    for key in ("device.id", "device.hall", "device.colour", "broker.port", "broker.password"):
        assert f"  {bad}: {key}: " in err
    assert err.count("broker.password") == 1
    assert PASSWORD not in err
    assert f"{broken}: not valid TOML" in err
    assert f"{stranger}: cannot tell what this file configures" in err
    assert f"  {missing}: file not found" in err


def test_check_config_follows_the_hub_to_its_directory(files: Hall):
    write(files.directory_path, '[hall]\nid = "b01"\n[[devices]]\nid = "x"\nkind = "kiosk"\n')
    hub = write(files.root / "hub.toml", '[hub]\nhall = "b01"\ndirectory = "directory.toml"\n')
    result = hallrate("check-config", hub)
    assert result.returncode == 0, result.stderr
    write(files.directory_path, '[hall]\nid = "b01"\n[[devices]]\nid = "x"\nkind = "pager"\n')
    result = hallrate("check-config", hub)
    assert result.returncode == 1
    assert f"{hub}: 1 problem(s) in this hub file:" in result.stderr
    assert f"{files.directory_path}: devices[0].kind: must be one of" in result.stderr


def test_check_config_needs_a_file():
    result = hallrate("check-config")
    assert result.returncode == 2
    assert "FILE" in result.stderr
