"""Stats and warnings API, tokens, appeals, reports, ``hub rebuild``: as a manager uses them."""

from __future__ import annotations

import csv
import io
import json

import pytest

from hallrate.cli import main
from hub.aggregates import wilson_lower_bound
from hub.app import create_app
from tests.hall import query
from tests.stored_votes import counting_hub, make_vote


@pytest.fixture
def hub(tmp_path):
    hub = counting_hub(tmp_path / "hall")
    yield hub
    hub.close()


@pytest.fixture
def client(hub):
    """The API as a reader sees it: every request carries a reader token."""
    client = create_app(hub.config).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {hub.hall.token}"
    return client


def token(hub, capsys, name: str, role: str) -> str:
    path = hub.hall.root / "hub.toml"
    assert main(["token", "create", name, "--role", role, "--config", str(path)]) == 0
    return capsys.readouterr().out.strip()


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def test_stats_group_by_staff_window_department_and_period(hub, client):
    hub.add(*(make_vote("2026-11-05T10:00:00+08:00", level=2) for _ in range(3)))
    hub.add(make_vote("2026-11-05T11:00:00+08:00", level=5, staff="s02", window="w02"))

    staff = client.get("/api/v1/stats?group=staff&at=2026-11").get_json()
    assert staff["grain"] == "month"
    by_id = {r["subject"]: r for r in staff["rows"]}
    assert by_id["s01"]["dissatisfied"] == 3 and by_id["s01"]["name"] == "职员1"
    assert by_id["s02"]["satisfaction"] == 1.0
    day = client.get("/api/v1/stats?group=department&at=2026-11-05").get_json()
    assert day["rows"][0]["total"] == 4 and day["rows"][0]["satisfaction"] == 0.25
    window = client.get("/api/v1/stats?group=window&at=2026&subject=w02").get_json()
    assert [r["level_5"] for r in window["rows"]] == [1]
    assert client.get("/api/v1/stats?group=planet").status_code == 400
    assert client.get("/api/v1/stats?at=2026-13-45").status_code == 400


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        # "²" is a digit to str.isdigit(), but not to int().
        ("/api/v1/warnings?limit=%C2%B2", "limit: must be an integer"),
        ("/api/v1/warnings?limit=0", "limit: must be between 1 and 1000"),
        # The first and last dates: their day's bounds in the hall's zone overflow.
        ("/api/v1/filters?day=9999-12-31", "day: must be after"),
        ("/api/v1/filters?from=0001-01-01&to=0001-01-02", "from: must be after"),
    ],
)
def test_bad_query_parameters_get_a_400_that_says_why(client, url, detail):
    response = client.get(url)
    assert response.status_code == 400
    assert response.get_json()["detail"].startswith(detail)


def test_a_manager_and_the_office_take_a_warning_to_closure(hub, client, capsys):
    votes = [make_vote("2026-11-05T10:00:00+08:00") for _ in range(10)]
    hub.add(*votes)
    manager = token(hub, capsys, "wang", "manager")
    office = token(hub, capsys, "office-li", "office")
    ident = "s01-III-2026-11"

    listed = client.get("/api/v1/warnings?standing=1").get_json()["warnings"]
    assert [(w["id"], w["level"], w["action"], w["count"]) for w in listed] == [
        (ident, "III", "效能告诫", 10)
    ]
    assert listed[0]["votes"] == [v.vote.id for v in votes]

    url = f"/api/v1/warnings/{ident}"
    assert client.post(f"{url}/acknowledge", headers={"Authorization": ""}).status_code == 401
    assert client.post(f"{url}/acknowledge").status_code == 403  # a reader may not
    assert client.post(f"{url}/acknowledge", headers=bearer("hrt_forged")).status_code == 401
    answer = client.post(f"{url}/acknowledge", headers=bearer(manager), json={"note": "seen"})
    assert answer.status_code == 200 and answer.get_json()["status"] == "acknowledged"
    assert client.post(
        f"{url}/action", headers=bearer(manager), json={"what": "x"}
    ).status_code == (403)
    assert client.post(f"{url}/action", headers=bearer(office), json={}).status_code == 400
    assert client.post(f"{url}/close", headers=bearer(office)).status_code == 409
    done = client.post(f"{url}/action", headers=bearer(office), json={"what": "效能告诫 delivered"})
    assert done.get_json()["status"] == "actioned"
    assert client.post(f"{url}/close", headers=bearer(office)).get_json()["status"] == "closed"

    detail = client.get(url).get_json()
    assert [(e["event"], e["by"]) for e in detail["events"]] == [
        ("raised", "hub"),
        ("acknowledged", "wang"),
        ("action", "office-li"),
        ("closed", "office-li"),
    ]
    assert detail["events"][2]["detail"] == {"what": "效能告诫 delivered"}
    assert len(detail["vote_details"]) == 10
    assert client.get("/api/v1/warnings/nobody-III-2026-11").status_code == 404


def test_an_upheld_appeal_voids_the_vote_and_withdraws_the_warning(hub, client, capsys):
    votes = [make_vote("2026-11-05T10:00:00+08:00") for _ in range(10)]
    hub.add(*votes)
    manager = token(hub, capsys, "wang", "manager")
    office = token(hub, capsys, "office-li", "office")
    url = f"/api/v1/votes/{votes[0].vote.id}/void"

    assert client.post(url, headers=bearer(office), json={"reason": "malicious"}).status_code == 403
    assert client.post(url, headers=bearer(manager), json={"reason": "rude"}).status_code == 400
    answer = client.post(
        url, headers=bearer(manager), json={"reason": "not_about_staff", "note": "queue dispute"}
    )
    assert answer.status_code == 200
    assert answer.get_json()["warnings_changed"] == ["s01-III-2026-11"]
    assert client.post(url, headers=bearer(manager), json={"reason": "malicious"}).status_code == (
        409
    )
    missing = client.post(
        "/api/v1/votes/nope-000000000001/void",
        headers=bearer(manager),
        json={"reason": "duplicate"},
    )
    assert missing.status_code == 404

    detail = client.get("/api/v1/warnings/s01-III-2026-11").get_json()
    assert detail["withdrawn_at"] is not None and detail["status"] == "raised"
    assert [e["event"] for e in detail["events"]] == ["raised", "withdrawn"]
    assert detail["events"][1]["detail"]["void"] == votes[0].vote.id
    assert detail["vote_details"][0]["voided"]["reason"] == "not_about_staff"
    assert client.get("/api/v1/warnings?standing=1").get_json()["warnings"] == []
    staff = client.get("/api/v1/stats?group=staff&at=2026-11&subject=s01").get_json()["rows"][0]
    assert (staff["dissatisfied"], staff["voided"]) == (9, 1)
    assert client.get("/api/v1/voids").get_json()["voids"][0]["by"] == "wang"


def test_a_revoked_token_no_longer_works_and_tokens_are_stored_hashed(hub, client, capsys):
    hub.add(*(make_vote("2026-11-05T10:00:00+08:00") for _ in range(10)))
    manager = token(hub, capsys, "wang", "manager")
    stored = query(
        hub.hall.database, "SELECT name, role, digest FROM api_tokens WHERE name = 'wang'"
    )
    assert stored[0][:2] == ("wang", "manager") and manager not in stored[0][2]
    config = str(hub.hall.root / "hub.toml")
    assert main(["token", "revoke", "wang", "--config", config]) == 0
    url = "/api/v1/warnings/s01-III-2026-11/acknowledge"
    assert client.post(url, headers=bearer(manager)).status_code == 401
    assert main(["token", "create", "x y", "--role", "manager", "--config", config]) == 1


def test_monthly_report_tallies_dissatisfied_votes_per_person(hub, capsys, tmp_path):
    hub.add(*(make_vote("2026-11-05T10:00:00+08:00", level=1 + i % 2) for i in range(10)))
    hub.add(*(make_vote("2026-11-06T10:00:00+08:00", staff="s02", window="w02") for _ in range(2)))
    hub.add(make_vote("2026-12-01T00:00:00+08:00"))  # December, not in the report
    config = str(hub.hall.root / "hub.toml")

    assert main(["report", "monthly", "--month", "2026-11", "--config", config]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["staff"], r["dissatisfied"], r["level_1"], r["warnings"]) for r in rows] == [
        ("s01", "10", "5", "III"),
        ("s02", "2", "2", ""),
        ("s03", "0", "0", ""),
    ]
    out = tmp_path / "nov.json"
    argv = ["report", "monthly", "--month", "2026-11", "--format", "json", "--output", str(out)]
    assert main([*argv, "--config", config]) == 0
    document = json.loads(out.read_text())
    assert document["month"] == "2026-11" and document["rows"][0]["name"] == "职员1"
    assert main(["report", "monthly", "--month", "2026-13", "--config", config]) == 2


def test_weekly_ranking_uses_the_wilson_bound_and_a_minimum_of_votes(hub, capsys):
    def votes(window: str, staff: str, good: int, bad: int) -> list:
        day = "2026-11-17T10:00:00+08:00"  # Tuesday of ISO week 2026-W47
        return [make_vote(day, level=5, window=window, staff=staff) for _ in range(good)] + [
            make_vote(day, level=2, window=window, staff=staff) for _ in range(bad)
        ]

    hub.add(*votes("w01", "s01", 33, 2), *votes("w02", "s02", 5, 0), *votes("w03", "s03", 50, 10))
    hub.add(*votes("w02", "s02", 0, 0), make_vote("2026-11-24T10:00:00+08:00", window="w03"))
    config = str(hub.hall.root / "hub.toml")

    argv = ["report", "ranking", "--week", "2026-W47", "--format", "json", "--config", config]
    assert main(argv) == 0
    document = json.loads(capsys.readouterr().out)
    ranked = [(r["kind"], r["rank"], r["subject"], r["votes"]) for r in document["rows"]]
    assert ranked == [
        ("window", 1, "w01", 35),
        ("window", 2, "w03", 60),
        ("window", None, "w02", 5),  # 5 of 5 satisfied, but too few votes to rank
        ("department", 1, "civil", 100),
    ]
    assert document["rows"][0]["wilson_lower"] == round(wilson_lower_bound(33, 35), 4)
    assert wilson_lower_bound(3, 3) < wilson_lower_bound(190, 200)


def test_hub_rebuild_reports_identical_counts(hub, capsys):
    hub.add(*(make_vote("2026-11-05T10:00:00+08:00") for _ in range(12)))
    config = str(hub.hall.root / "hub.toml")
    assert main(["hub", "rebuild", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "from 12 votes: identical to the kept counts" in out
    assert "warnings changed: 0" in out
    assert "write transactions; the longest held the write lock" in out
