"""The console's foundation: accounts, login, sessions, roles, CSRF, language, the audit log.

The hub's Flask app on a real SQLite file, driven through Flask's test client
as a browser would drive it: pages, forms with their tokens, cookies.
"""

from __future__ import annotations

import hashlib
import io
import re
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from device_agent.storage import write_transaction
from hallrate.cli import main
from hub import console
from hub.app import create_app
from hub.config import HubConfig, load_hub_config
from hub.console import accounts
from hub.console.messages import MESSAGES
from hub.console.web import PUBLIC_ATTR, ROLES_ATTR, console_blueprint
from hub.store import Store
from tests.hall import Hall, query

PASSWORD = "correct horse 1"
TEMPLATES = Path(__file__).resolve().parent.parent / "hub" / "console" / "templates"


@contextmanager
def transaction(config: HubConfig):
    """A write transaction on the hub's database, as ``hallrate user`` opens one."""
    store = Store(config.database)
    try:
        with write_transaction(store.db) as conn:
            yield conn
    finally:
        store.close()


def add_user(config: HubConfig, name: str, role: str, **fields: str) -> None:
    with transaction(config) as conn:
        accounts.add_user(conn, name, PASSWORD, role=role, **fields)


@pytest.fixture
def config(tmp_path: Path) -> HubConfig:
    """A hall's config with one user per role; no broker is needed for the pages."""
    hall = Hall(tmp_path / "hall", 1)
    config = load_hub_config(hall.hub_config())
    add_user(config, "boss", "manager", display_name="王经理")
    add_user(config, "head", "dept_head", department="civil")
    add_user(config, "office", "office")
    add_user(config, "clerk", "staff", staff="s01")
    add_user(config, "root", "admin")
    return config


@pytest.fixture
def app(config: HubConfig) -> Flask:
    return create_app(config)


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has a form token"
    return found[1]


def log_in(client: FlaskClient, name: str, password: str = PASSWORD, **extra: str):
    page = client.get("/console/login")
    data = {"user": name, "password": password, "csrf_token": form_token(page.text), **extra}
    return client.post("/console/login", data=data)


def test_the_hub_root_and_the_console_send_a_stranger_to_the_login_page(app):
    client = app.test_client()
    assert client.get("/").headers["Location"] == "/console/"
    answer = client.get("/console/")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/console/login?next=/console/")
    page = client.get("/console/login")
    assert page.status_code == 200
    assert "登录" in page.text and "用户名" in page.text


def test_wrong_password_then_right_one_opens_the_live_hall(app, config):
    client = app.test_client()
    wrong = log_in(client, "boss", "not the password")
    assert wrong.status_code == 401
    assert "用户名或密码不正确" in wrong.text
    right = log_in(client, "boss", next="/console/")
    assert right.status_code == 302 and right.headers["Location"] == "/console/"
    cookie = next(
        c for c in right.headers.getlist("Set-Cookie") if c.startswith("hallrate_console=")
    )
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    # Only the token's digest is kept: the database alone opens no session.
    stored = query(config.database, "SELECT digest FROM console_sessions")
    assert stored == [(hashlib.sha256(token.encode()).hexdigest(),)]
    hall = client.get("/console/")
    assert hall.status_code == 200
    assert "实时大厅" in hall.text and "王经理" in hall.text and "大厅负责人" in hall.text
    assert [row[:3] for row in audit_rows(config)] == [
        ("boss", "login_failed", None),
        ("boss", "login", None),
    ]


def audit_rows(config: HubConfig) -> list[tuple]:
    return query(
        config.database, "SELECT user, action, target, note FROM console_audit ORDER BY rowid"
    )


def test_passwords_are_stored_salted_and_hashed(config):
    hashes = query(config.database, "SELECT password_hash FROM console_users")
    assert len({h for (h,) in hashes}) == 5, "same password, different salts"
    assert all(h.startswith(("scrypt:", "pbkdf2:")) and PASSWORD not in h for (h,) in hashes)


def test_a_post_without_its_form_token_is_refused(app):
    client = app.test_client()
    client.get("/console/login")
    refused = client.post("/console/login", data={"user": "boss", "password": PASSWORD})
    assert refused.status_code == 400
    assert "表单已过期" in refused.text
    forged = client.post(
        "/console/login", data={"user": "boss", "password": PASSWORD, "csrf_token": "guess"}
    )
    assert forged.status_code == 400
    assert log_in(client, "boss").status_code == 302
    assert client.post("/console/logout", data={}).status_code == 400
    # The refused logout left the session open.
    assert client.get("/console/").status_code == 200


def test_logout_ends_the_session_on_the_server(app, config):
    client = app.test_client()
    log_in(client, "boss")
    page = client.get("/console/")
    cookie = client.get_cookie("hallrate_console", path="/console")
    assert cookie is not None
    out = client.post("/console/logout", data={"csrf_token": form_token(page.text)})
    assert out.headers["Location"] == "/console/login?why=out"
    assert "已退出登录" in client.get(out.headers["Location"]).text
    # Even a copy of the old cookie no longer opens anything.
    other = app.test_client()
    other.set_cookie("hallrate_console", cookie.value, path="/console")
    assert other.get("/console/").status_code == 302
    assert ("boss", "logout", None, None) in audit_rows(config)


def test_an_expired_session_asks_for_the_login_again(app, config):
    client = app.test_client()
    log_in(client, "office")
    assert client.get("/console/").status_code == 200
    with transaction(config) as conn:
        conn.execute("UPDATE console_sessions SET expires_at = '2020-01-01T00:00:00.000+00:00'")
    answer = client.get("/console/")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/console/login?next=/console/&why=expired"
    assert "登录已过期，请重新登录。" in client.get(answer.headers["Location"]).text


def test_five_failed_logins_lock_the_name_from_that_address(app, config):
    client = app.test_client()
    for _ in range(accounts.MAX_FAILURES):
        assert log_in(client, "boss", "wrong password").status_code == 401
    refused = log_in(client, "boss")  # even the right password now
    assert refused.status_code == 429
    assert "登录失败次数过多" in refused.text and "15 分钟" in refused.text
    assert int(refused.headers["Retry-After"]) == 15 * 60
    # Another name from the same address is not locked.
    assert log_in(client, "office").status_code == 302
    assert ("boss", "login_refused", None, "rate limited") in audit_rows(config)


def test_a_new_password_or_disabling_ends_open_sessions(app, config, capsys):
    client = app.test_client()
    log_in(client, "boss")
    assert client.get("/console/").status_code == 200
    secret = config.source.parent / "pw.txt"
    secret.write_text("a newer password\n")
    assert (
        main(
            [
                "user",
                "passwd",
                "boss",
                "--password-file",
                str(secret),
                "--config",
                str(config.source),
            ]
        )
        == 0
    )
    assert client.get("/console/").status_code == 302
    assert log_in(client, "boss").status_code == 401
    assert log_in(client, "boss", "a newer password").status_code == 302
    assert main(["user", "disable", "boss", "--config", str(config.source)]) == 0
    assert client.get("/console/").status_code == 302
    assert log_in(client, "boss", "a newer password").status_code == 401
    assert "sessions ended" in capsys.readouterr().out


def test_user_commands_read_the_password_from_stdin_and_list_users(config, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("secret password\n"))
    argv = ["user", "add", "zhang", "--role", "dept_head", "--department", "civil"]
    assert (
        main(
            [
                *argv,
                "--display-name",
                "张主任",
                "--password-file",
                "-",
                "--config",
                str(config.source),
            ]
        )
        == 0
    )
    assert "added zhang (dept_head)" in capsys.readouterr().out
    conn_user = query(
        config.database,
        "SELECT role, department, display_name FROM console_users WHERE name = 'zhang'",
    )
    assert conn_user == [("dept_head", "civil", "张主任")]
    # A department head without a department, a short password: refused.
    monkeypatch.setattr("sys.stdin", io.StringIO("secret password\n"))
    assert (
        main(
            [
                "user",
                "add",
                "li",
                "--role",
                "dept_head",
                "--password-file",
                "-",
                "--config",
                str(config.source),
            ]
        )
        == 1
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert (
        main(
            [
                "user",
                "add",
                "li",
                "--role",
                "office",
                "--password-file",
                "-",
                "--config",
                str(config.source),
            ]
        )
        == 1
    )
    assert "at least 8 characters" in capsys.readouterr().err
    assert main(["user", "list", "--config", str(config.source)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert "zhang\tdept_head\tcivil\t-" in listed
    assert "clerk\tstaff\t-\ts01" in listed
    assert any(row[1] == "user_add" and row[2] == "zhang" for row in audit_rows(config))


def test_the_password_is_never_a_command_line_argument(config):
    assert (
        main(
            [
                "user",
                "add",
                "x",
                "--role",
                "office",
                "--password",
                "p",
                "--config",
                str(config.source),
            ]
        )
        == 2
    )


def console_rules(app: Flask) -> list:
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/console")]


def sample_url(rule) -> str:
    return rule.rule.replace("<", "").replace(">", "").replace("path:", "").replace("int:", "1")


def test_every_console_route_needs_a_login_and_the_right_role(app):
    """Walk the whole URL map: each console route redirects a stranger and refuses other roles."""
    rules = console_rules(app)
    assert len(rules) >= 6
    checked = 0
    for rule in rules:
        view = app.view_functions[rule.endpoint]
        if getattr(view, PUBLIC_ATTR, False) or rule.endpoint.endswith(".static"):
            continue
        method = "POST" if "POST" in rule.methods else "GET"
        url = sample_url(rule)
        stranger = app.test_client().open(url, method=method)
        assert stranger.status_code == 302, rule
        assert stranger.headers["Location"].startswith("/console/login"), rule
        allowed = getattr(view, ROLES_ATTR, frozenset())
        for role, name in ROLE_USERS.items():
            if role in allowed:
                continue
            client = app.test_client()
            assert log_in(client, name).status_code == 302
            page = client.get("/console/login")
            answer = client.open(url, method=method, data={"csrf_token": form_token(page.text)})
            assert answer.status_code == 403, (rule, role)
            checked += 1
    assert checked > 0


ROLE_USERS = {
    "manager": "boss",
    "dept_head": "head",
    "office": "office",
    "staff": "clerk",
    "admin": "root",
}


def test_the_public_console_routes_are_only_login_language_and_static(app):
    public = sorted(
        rule.endpoint
        for rule in console_rules(app)
        if getattr(app.view_functions[rule.endpoint], PUBLIC_ATTR, False)
        or rule.endpoint.endswith(".static")
    )
    assert public == ["console.login", "console.static", "console.switch_language"]


# A page module that forgot to say who may open its page.
bp = console_blueprint("console_unguarded", __name__, "/unguarded")


@bp.get("/")
def forgotten() -> str:
    return "secret"


def test_a_page_that_names_no_roles_is_shut_to_everyone(config, monkeypatch):
    monkeypatch.setattr(console, "PAGES", (*console.PAGES, __name__))
    client = create_app(config).test_client()
    assert client.get("/console/unguarded/").status_code == 302
    assert log_in(client, "root").status_code == 302
    answer = client.get("/console/unguarded/")
    assert answer.status_code == 403 and "secret" not in answer.text


def test_a_staff_user_is_refused_the_live_hall_with_a_page(app):
    client = app.test_client()
    log_in(client, "clerk")
    answer = client.get("/console/")
    assert answer.status_code == 403
    assert "您的账号无权查看此页面" in answer.text


def test_the_menu_shows_only_what_the_role_may_open(app):
    client = app.test_client()
    log_in(client, "boss")
    assert '<a href="/console/" aria-current="page">实时大厅</a>' in client.get("/console/").text
    staff = app.test_client()
    log_in(staff, "clerk")
    assert "实时大厅</a>" not in staff.get("/console/").text


def test_the_language_switch_shows_the_console_in_english_and_back(app):
    client = app.test_client()
    log_in(client, "boss")
    switched = client.get("/console/lang/en?next=/console/")
    assert switched.headers["Location"] == "/console/"
    page = client.get("/console/").text
    assert "Live hall" in page and "Hall manager" in page and "实时大厅" not in page
    assert '<html lang="en">' in page
    client.get("/console/lang/zh?next=/console/")
    assert "实时大厅" in client.get("/console/").text
    # The switch never sends anyone to another site.
    assert client.get("/console/lang/en?next=//evil.example/").headers["Location"] == "/console/"


def test_login_never_redirects_to_another_site(app):
    client = app.test_client()
    answer = log_in(client, "boss", next="https://evil.example/console/")
    assert answer.headers["Location"] == "/console/"


def test_every_message_key_in_the_templates_exists_in_both_languages():
    used = set()
    for template in TEMPLATES.rglob("*.html"):
        used |= set(re.findall(r'\bt\(\s*"([a-z_.0-9]+)"\s*[,)]', template.read_text()))
    assert used, "templates call t()"
    # Keys the templates build: each role's name, each device status.
    used |= {f"role.{role}" for role in accounts.ROLES}
    used |= {"live.online", "live.offline", "live.unknown"}
    assert sorted(used - set(MESSAGES)) == []
    assert all(zh and en for zh, en in MESSAGES.values())


def test_the_api_still_needs_its_token(app):
    client = app.test_client()
    assert client.get("/api/v1/votes").status_code == 401
