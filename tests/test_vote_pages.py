"""``GET /api/v1/votes`` pages: arrival order, every filter, ``since`` with votes that arrive late.

The votes are stored through the real store (rules and counting on) in an
arrival order unlike their cast order: some arrive days late, some are cast
just before ``since`` and arrive after everything else. Every page, walked
with ``after`` to the end, must give exactly the stored votes that match,
in arrival order, whatever the page size — what the API promised before its
queries changed for issue 12.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from device_agent.storage import write_transaction
from hub.app import create_app
from hub.instants import ms_of
from hub.tokens import create_token
from tests.stored_votes import CountingHub, counting_hub, make_vote

START = datetime(2026, 11, 1, tzinfo=UTC)
SINCES = [
    "2026-10-01T00:00:00+00:00",  # before every vote
    "2026-11-10T00:00:00+00:00",  # a UTC midnight
    "2026-11-10T13:30:00+08:00",  # within a day, in the hall's zone
    "2026-11-19T23:59:59.999+00:00",
    "2026-12-01T00:00:00+00:00",  # after every vote
]
FILTERS: list[dict[str, str]] = [
    {},
    {"window": "w02"},
    {"staff": "s01"},
    {"device": "kiosk-01"},
    {"rule": "unknown_staff"},
    {"window": "w01", "staff": "s01"},
]


@pytest.fixture(scope="module")
def hall(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CountingHub, list[dict]]]:
    """A hub that stored 400 votes out of cast order, and what it stored, in arrival order."""
    hub = counting_hub(tmp_path_factory.mktemp("pages") / "hall", windows=3, kiosks=1)
    rng = random.Random(7)
    stored = []
    for n in range(400):
        cast = START + timedelta(hours=rng.randrange(0, 20 * 24), minutes=rng.randrange(60))
        if n % 40 == 39:
            cast -= timedelta(days=5)  # a vote that arrives days late
        received = cast + timedelta(seconds=1)
        if n % 7 == 0:
            item = make_vote(cast.isoformat(), channel="kiosk", window=None, staff="s01")
        elif n % 50 == 0:
            item = make_vote(cast.isoformat(), window="w02", staff="s88")  # unknown_staff
        else:
            window = f"w0{n % 3 + 1}"
            item = make_vote(cast.isoformat(), window=window, staff=f"s0{n % 3 + 1}")
        item.received_at = ms_of(received)
        hub.clock.now = received
        hub.add(item)
        vote = item.vote
        stored.append(
            {
                "id": vote.id,
                "cast": cast,
                "window": vote.window,
                "staff": vote.staff,
                "device": vote.device,
            }
        )
    yield hub, stored
    hub.close()


@pytest.fixture(scope="module")
def client(hall: tuple[CountingHub, list[dict]]) -> Any:
    hub, _ = hall
    with write_transaction(hub.store.db) as conn:
        token = create_token(conn, "pages", "reader")
    test_client = create_app(hub.config).test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return test_client


def walk(client: Any, limit: int, **params: str) -> list[dict]:
    """Every vote of every page, following ``next_after`` to the end."""
    votes: list[dict] = []
    after = 0
    while True:
        answer = client.get(
            "/api/v1/votes", query_string={**params, "limit": limit, "after": after}
        )
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        votes.extend(body["votes"])
        if body["next_after"] is None:
            return votes
        after = body["next_after"]


def wanted(stored: list[dict], since: str | None, chosen: dict[str, str]) -> list[str]:
    moment = None if since is None else datetime.fromisoformat(since)
    hits = []
    for vote in stored:
        if moment is not None and vote["cast"] < moment:
            continue
        if chosen.get("rule") and vote["staff"] != "s88":
            continue
        if any(vote[name] != value for name, value in chosen.items() if name != "rule"):
            continue
        hits.append(vote["id"])
    return hits


@pytest.mark.parametrize("since", [None, *SINCES])
@pytest.mark.parametrize("chosen", FILTERS, ids=lambda c: "+".join(c) or "all")
def test_every_page_walked_gives_the_matching_votes_in_arrival_order(hall, client, since, chosen):
    _, stored = hall
    params = dict(chosen)
    if since is not None:
        params["since"] = since
    expected = wanted(stored, since, chosen)
    for limit in (1000, 7):
        assert [v["id"] for v in walk(client, limit, **params)] == expected


def test_a_vote_shows_its_times_as_iso_text_in_utc(hall, client):
    _, stored = hall
    first = client.get("/api/v1/votes", query_string={"limit": 1}).get_json()["votes"][0]
    cast = stored[0]["cast"]
    assert first["cast_at"] == cast.isoformat(timespec="milliseconds")
    assert first["received_at"] == (cast + timedelta(seconds=1)).isoformat(timespec="milliseconds")
    assert first["ts"] == cast.isoformat()  # as the device wrote it
