"""Read access: every endpoint of a running hub needs a token that may read, but a public few."""

from __future__ import annotations

import json
import re
from email.message import Message
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from hallrate.cli import main
from hub.tokens import ROLES
from tests.hall import Hall

# The endpoints that answer without a token, named here on purpose: making one more
# public means adding it to this list, in a reviewed change, not by forgetting a guard.
PUBLIC = {
    ("GET", "/healthz"),
    # What a kiosk fetches for the lobby (kiosk/hub_client.py).
    ("GET", "/api/v1/directory"),
    ("GET", "/api/v1/staff/<staff_id>/photo"),
    ("POST", "/api/v1/complaints/lookup"),
    # The answered cases a hall publishes (网上公布; 404 when it does not).
    ("GET", "/api/v1/public/results"),
    # The LED wall pages an HDMI screen shows.
    ("GET", "/boards/"),
    ("GET", "/boards/<board>"),
    ("GET", "/boards/<board>/frame.json"),
    ("GET", "/boards/<board>/events"),
    ("GET", "/boards/static/<path:filename>"),
    # Signed by the hall hub's webhook secret instead (docs/warnings.md).
    ("POST", "/api/v1/central/inbox"),
}
# The console's pages (and the hub's /, which sends to them) check a login session
# instead of a token: tests/test_console.py walks them all for a redirect to the
# login page or a 403.
CONSOLE = re.compile(r"/$|/console(/|$)")


def request(url: str, method: str = "GET", token: str | None = None) -> tuple[int, Message, dict]:
    """Status, headers (any case) and JSON body (or {}) of a request, errors included."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = b"{}" if method == "POST" else None
    if data:
        headers["Content-Type"] = "application/json"
    try:
        with urlopen(Request(url, data=data, method=method, headers=headers), timeout=10) as r:
            return r.status, r.headers, _json(r.read())
    except HTTPError as error:
        with error:
            return error.code, error.headers, _json(error.read())


def _json(body: bytes) -> dict:
    try:
        return json.loads(body)
    except ValueError:
        return {}


def routes(hub) -> list[tuple[str, str]]:
    """Every (method, rule) the hub's app serves."""
    return sorted(
        (method, rule.rule)
        for rule in hub.app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    )


def concrete(rule: str) -> str:
    """A path for ``rule`` with every variable filled in."""
    return re.sub(r"<(?:[^:>]+:)?[^>]+>", "x", rule)


def token_for(hall: Hall, capsys, name: str, role: str) -> str:
    config = str(hall.root / "hub.toml")
    assert main(["token", "create", name, "--role", role, "--config", config]) == 0
    return capsys.readouterr().out.strip()


def test_every_endpoint_not_named_public_answers_401_without_a_token(hall, start_hub):
    hub = start_hub(hall)
    served = routes(hub)
    assert set(served) >= PUBLIC, "a public endpoint is gone: update PUBLIC"
    guarded = [r for r in served if r not in PUBLIC and not CONSOLE.match(r[1])]
    assert len(guarded) >= 15  # votes, quarantine, devices, stats, warnings, central, …
    for method, rule in guarded:
        for token in (None, "hrt_guessed"):
            status, headers, body = request(f"{hub.api_url}{concrete(rule)}", method, token)
            assert status == 401, (method, rule, token, status)
            assert headers["WWW-Authenticate"].startswith("Bearer"), (method, rule)
            assert body["error"] == "Unauthorized", (method, rule)
            if token:
                assert "invalid_token" in headers["WWW-Authenticate"]
    # The public ones answer without a token (each with its own answer, never 401).
    for method, rule in sorted(PUBLIC):
        status, headers, _ = request(f"{hub.api_url}{concrete(rule)}", method)
        assert status != 401 and "WWW-Authenticate" not in headers, (method, rule, status)


def test_a_reader_reads_and_may_not_write(hall, start_hub, capsys):
    hub = start_hub(hall)
    reader = token_for(hall, capsys, "dashboard", "reader")
    for path in (
        "/api/v1/votes",
        "/api/v1/quarantine",
        "/api/v1/devices",
        "/api/v1/stats",
        "/api/v1/filters",
        "/api/v1/warnings",
        "/api/v1/voids",
    ):
        status, _, body = request(f"{hub.api_url}{path}", token=reader)
        assert status == 200, (path, body)
    for path in ("/api/v1/warnings/x/acknowledge", "/api/v1/votes/x/void"):
        status, _, body = request(f"{hub.api_url}{path}", "POST", reader)
        assert status == 403, (path, body)
        assert body["detail"].startswith("role 'reader' may not")


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_role_may_read(hall, start_hub, capsys, role):
    hub = start_hub(hall)
    token = token_for(hall, capsys, f"someone-{role}", role)
    assert request(f"{hub.api_url}/api/v1/votes", token=token)[0] == 200


def test_a_revoked_token_reads_nothing_and_the_others_still_work(hall, start_hub, capsys):
    hub = start_hub(hall)
    tokens = {name: token_for(hall, capsys, name, "reader") for name in ("a", "b", "c")}
    assert main(["token", "revoke", "b", "--config", str(hall.root / "hub.toml")]) == 0
    url = f"{hub.api_url}/api/v1/votes"
    assert request(url, token=tokens["a"])[0] == 200
    assert request(url, token=tokens["c"])[0] == 200
    status, headers, _ = request(url, token=tokens["b"])
    assert status == 401 and "invalid_token" in headers["WWW-Authenticate"]
    # A token differing in one character is no token.
    assert request(url, token=tokens["a"][:-1] + ("x" if tokens["a"][-1] != "x" else "y"))[0] == 401


def test_central_role_needs_a_token_too(tmp_path, mosquitto, start_hub, capsys):
    county = Hall(tmp_path / "county", mosquitto.port)
    central = start_hub(county, extra="[central]\nenabled = true\n[central.halls.t1]\n")
    token = token_for(county, capsys, "office", "office")
    for path in ("/api/v1/central/warnings", "/api/v1/central/summaries"):
        status, headers, _ = request(f"{central.api_url}{path}")
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer"), path
        status, _, body = request(f"{central.api_url}{path}", token=token)
        assert status == 200, (path, body)
