"""TLS settings of the [broker] table: read the same for agent, kiosk and hub, checked up front."""

from __future__ import annotations

from pathlib import Path

import pytest

from device_agent.config import load_agent_config
from device_agent.errors import ConfigError
from hub.config import load_hub_config
from tests.certs import HallCA, make_hall_ca
from tests.hall import Hall
from tests.test_config import hallrate


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> HallCA:
    """A hall CA with a broker certificate and one device certificate."""
    made = make_hall_ca(tmp_path_factory.mktemp("ca"), names=("127.0.0.1",))
    made.client("w01-eval")
    return made


@pytest.fixture
def hall(tmp_path: Path) -> Hall:
    return Hall(tmp_path / "hall", 1883)


def broker_lines(**keys: object) -> str:
    """TOML lines for the [broker] table, a string value quoted, a bool as TOML."""
    return "".join(
        f"{key} = {str(value).lower() if isinstance(value, bool) else repr(str(value))}\n"
        for key, value in keys.items()
    ).replace("'", '"')


def agent_problems(hall: Hall, **keys: object) -> list[str]:
    path = hall.agent_config(1, broker=broker_lines(**keys))
    with pytest.raises(ConfigError) as caught:
        load_agent_config(path)
    return caught.value.problems


def test_tls_settings_load_with_paths_next_to_the_file(hall, ca):
    cert, key = ca.client("w01-eval")
    path = hall.agent_config(
        1,
        broker="tls = true\n"
        f'ca_file = "{ca.ca}"\ncert_file = "{cert}"\nkey_file = "{key}"\n'
        'server_name = "hub.qinghe.lan"\ntls_version = "1.3"\n',
    )
    broker = load_agent_config(path).broker
    assert (broker.tls, broker.ca_file, broker.cert_file, broker.key_file) == (
        True,
        ca.ca,
        cert,
        key,
    )
    assert (broker.server_name, broker.tls_version) == ("hub.qinghe.lan", "1.3")
    # A relative file name is relative to the configuration's folder, like password_file.
    (hall.root / "hall-ca.crt").write_bytes(ca.ca.read_bytes())
    hub = load_hub_config(hall.hub_config(broker='tls = true\nca_file = "hall-ca.crt"\n'))
    assert hub.broker.ca_file == hall.root / "hall-ca.crt"


def test_the_port_follows_tls_unless_given(hall, ca):
    # Hall's files name their port: a file that leaves it out gets 8883 with TLS, 1883 without.
    for tls, port in ((True, 8883), (False, 1883)):
        path = hall.agent_config(1, broker=f"tls = {str(tls).lower()}\n" if tls else "")
        path.write_text(path.read_text().replace(f"port = {hall.port}\n", ""))
        assert load_agent_config(path).broker.port == port


def test_tls_files_that_are_missing_or_not_pem_are_reported_with_their_key(hall, ca, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    problems = agent_problems(hall, tls=True, ca_file=tmp_path / "nowhere.crt")
    assert problems == [
        f"{hall.root / 'agent-1.toml'}: broker.ca_file: cannot read {tmp_path / 'nowhere.crt'}:"
        " No such file or directory"
    ]
    [problem] = agent_problems(hall, tls=True, ca_file=junk)
    assert "broker.ca_file: " in problem and "holds no PEM certificate" in problem
    cert, _ = ca.client("w01-eval")
    # The CA's key is not the key of the device's certificate.
    [problem] = agent_problems(
        hall, tls=True, ca_file=ca.ca, cert_file=cert, key_file=ca.folder / "hall-ca.key"
    )
    assert "broker.key_file: the client certificate and key do not load together" in problem
    # A certificate file without its key, and no key_file.
    [problem] = agent_problems(hall, tls=True, ca_file=ca.ca, cert_file=cert)
    assert "broker.cert_file: the client certificate and key do not load together" in problem


def test_a_key_without_a_certificate_and_tls_keys_without_tls_are_reported(hall, ca):
    _, key = ca.client("w01-eval")
    problems = agent_problems(hall, tls=True, key_file=key)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "broker.key_file: needs cert_file (the client certificate)"
    ]
    problems = agent_problems(hall, tls="yes")
    assert [p.split(": ", 1)[1] for p in problems] == [
        "broker.tls: must be true or false, got a string"
    ]
    problems = agent_problems(hall, ca_file=ca.ca, server_name="hub", tls_version="1.1")
    assert [p.split(": ", 1)[1] for p in problems] == [
        "broker.tls_version: must be one of 1.2, 1.3, got '1.1'",
        "broker.ca_file: is used only with tls = true",
        "broker.server_name: is used only with tls = true",
        "broker.tls_version: is used only with tls = true",
    ]


def test_check_config_reports_bad_tls_settings_of_every_file(hall, ca, tmp_path):
    agent = hall.agent_config(1, broker=broker_lines(tls=True, ca_file=tmp_path / "gone.crt"))
    _, key = ca.client("w01-eval")
    hub = hall.hub_config(broker=broker_lines(tls=True, ca_file=ca.ca, key_file=key))

    result = hallrate("check-config", agent, hub)

    assert result.returncode == 1
    assert f"  {agent}: broker.ca_file: cannot read {tmp_path / 'gone.crt'}" in result.stderr
    assert f"  {hub}: broker.key_file: needs cert_file" in result.stderr
