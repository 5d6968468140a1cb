"""hub.db: the web app's one way to the database, as in the Flask tutorial.

The app's config is set once by ``hub.db.init_app``; every blueprint reads
through it, so the order they are registered in does not matter. Each
request's connection is closed when the request ends, and no module reaches
for another's private names to get one.
"""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

import pytest
from flask import Flask

from hallrate.cli import main
from hub import (
    api,
    appeals_api,
    central_api,
    db,
    filters_api,
    kiosk_api,
    stats_api,
    tokens,
    warnings_api,
)
from hub.app import PUBLIC_ENDPOINTS
from hub.boards import web as boards_web
from tests.stored_votes import counting_hub, make_vote

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("device_agent", "hub", "kiosk", "hallrate")


@pytest.fixture
def hub(tmp_path):
    hub = counting_hub(tmp_path / "hall")
    yield hub
    hub.close()


def reversed_app(config) -> Flask:
    """The hub's app with its blueprints registered in the opposite order to create_app's."""
    app = Flask("hub.app")
    db.init_app(app, config)
    tokens.init_app(app, public=PUBLIC_ENDPOINTS)
    boards_web.init_app(app, config)
    central_api.init_app(app)
    appeals_api.init_app(app)
    warnings_api.init_app(app)
    filters_api.init_app(app)
    stats_api.init_app(app)
    kiosk_api.init_app(app)
    app.register_blueprint(api.bp)
    return app


def test_blueprints_answer_the_same_in_any_order(hub, capsys):
    votes = [make_vote("2026-11-05T10:00:00+08:00") for _ in range(10)]
    hub.add(*votes)
    path = hub.hall.root / "hub.toml"
    assert main(["token", "create", "wang", "--role", "manager", "--config", str(path)]) == 0
    manager = capsys.readouterr().out.strip()
    client = reversed_app(hub.config).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {hub.hall.token}"

    voided = client.post(
        f"/api/v1/votes/{votes[0].vote.id}/void",
        headers={"Authorization": f"Bearer {manager}"},
        json={"reason": "malicious"},
    )
    assert voided.status_code == 200
    assert voided.get_json()["warnings_changed"] == ["s01-III-2026-11"]
    assert client.get("/api/v1/voids").get_json()["voids"][0]["by"] == "wang"
    warnings = client.get("/api/v1/warnings").get_json()["warnings"]
    assert [w["withdrawn_at"] is not None for w in warnings] == [True]
    staff = client.get("/api/v1/stats?group=staff&at=2026-11").get_json()["rows"]
    assert (staff[0]["dissatisfied"], staff[0]["voided"]) == (9, 1)
    assert client.get("/api/v1/directory").get_json()["hall"]["id"] == hub.config.hall
    assert client.get("/api/v1/central/summaries").status_code == 404
    assert client.get("/api/v1/votes?limit=1").get_json()["votes"][0]["id"] == votes[0].vote.id


def test_the_request_connection_closes_when_the_request_ends(hub):
    app = reversed_app(hub.config)
    with app.app_context():
        conn = db.get_db().conn
        assert db.get_db().conn is conn, "one connection per request"
        assert conn.execute("SELECT count(*) FROM votes").fetchone() == (0,)
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM votes")
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        conn.execute("SELECT 1")


def private_imports() -> list[str]:
    """``file:line module._name`` for each private name one of our modules imports from another."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                    continue
                if node.module.split(".")[0] not in PACKAGES:
                    continue
                found.extend(
                    f"{path.relative_to(ROOT)}:{node.lineno} {node.module}.{alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                )
    return found


def test_no_module_imports_a_private_name_from_another():
    assert private_imports() == []
