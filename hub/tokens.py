"""API tokens: ``hallrate token create NAME --role ROLE``, and the bearer check on the API.

A token is shown once when created and stored only as its SHA-256 digest
(it is 256 random bits, so a fast digest is enough: there is nothing to
guess). Every endpoint of the hub's API needs a token whose role grants
``read``, except the few the app names public (:func:`init_app`); each write
action names the permission it needs on top. The token's name is who did
it, in every audit log entry.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import hmac
import logging
import re
import secrets
import sqlite3
import sys
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlite_utils
from flask import Flask, abort, current_app, g, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized

from device_agent.protocol import format_time
from hub.errors import StateError, UnknownRecord

logger = logging.getLogger(__name__)

ROLES: dict[str, frozenset[str]] = {
    # Reads votes, warnings, devices and the quarantine: a dashboard, a report script.
    "reader": frozenset({"read"}),
    # The hall manager: sees warnings, decides appeals.
    "manager": frozenset({"read", "acknowledge", "void"}),
    # The efficiency office (效能办): follows each warning to closure, accepts held votes.
    "office": frozenset({"read", "acknowledge", "action", "close", "accept"}),
    "admin": frozenset({"read", "acknowledge", "action", "close", "void", "accept"}),
}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
PREFIX = "hrt_"

F = TypeVar("F", bound=Callable[..., Any])


def create_tables(db: sqlite_utils.Database) -> None:
    """Migration: API tokens, by digest."""
    db.execute("""
        CREATE TABLE api_tokens (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            digest TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )""")


def digest(token: str) -> str:
    """What is stored of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(conn: sqlite3.Connection, name: str, role: str) -> str:
    """Create a token for ``name`` with ``role``; returns the token, shown only this once."""
    if not NAME.fullmatch(name):
        raise StateError(f"name: must match {NAME.pattern}")
    if role not in ROLES:
        raise StateError(f"role: must be one of {', '.join(ROLES)}, got {role!r}")
    token = PREFIX + secrets.token_urlsafe(32)
    cursor = conn.execute(
        "INSERT INTO api_tokens (name, role, digest, created_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET role = excluded.role, digest = excluded.digest,"
        " created_at = excluded.created_at, revoked_at = NULL"
        " WHERE api_tokens.revoked_at IS NOT NULL",
        (name, role, digest(token), format_time(datetime.now(UTC))),
    )
    if cursor.rowcount == 0:
        raise StateError(f"a token named {name!r} exists; revoke it first")
    return token


def renew_token(conn: sqlite3.Connection, name: str, role: str) -> str:
    """A new token for ``name`` with ``role``, revoking its old one (the demo, at each start)."""
    conn.execute(
        "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
        (format_time(datetime.now(UTC)), name),
    )
    return create_token(conn, name, role)


def revoke_token(conn: sqlite3.Connection, name: str) -> None:
    """Revoke a token: its name stays in the audit logs, the token no longer works."""
    cursor = conn.execute(
        "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
        (format_time(datetime.now(UTC)), name),
    )
    if cursor.rowcount == 0:
        raise UnknownRecord(f"no token named {name!r}")


def identify(conn: sqlite3.Connection, token: str) -> tuple[str, str] | None:
    """``(name, role)`` of a valid token, or None.

    Every live token's digest is compared in constant time, all of them
    whatever matched: neither an index lookup nor an early exit tells a
    caller by its timing how close a guess came. A hall has a few tokens.
    """
    wanted = digest(token)
    found = None
    for name, role, stored in conn.execute(
        "SELECT name, role, digest FROM api_tokens WHERE revoked_at IS NULL"
    ):
        if hmac.compare_digest(stored, wanted):
            found = (name, role)
    return found


def init_app(app: Flask, *, public: Collection[str]) -> None:
    """Make every endpoint of ``app`` need a ``read`` token, except the ``public`` endpoints.

    Guarding the whole app, rather than decorating each view, means an
    endpoint added later is closed until someone names it public.
    """
    public = frozenset(public)

    def require_read() -> None:
        # No endpoint: the URL matched nothing, and the 404 (or 405) follows.
        if request.endpoint is not None and request.endpoint not in public:
            _authorize("read")

    app.before_request(require_read)


def require(permission: str) -> Callable[[F], F]:
    """Guard a Flask view: a bearer token whose role grants ``permission``; sets ``g.actor``."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            _authorize(permission)
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate


def _authorize(permission: str) -> None:
    """Abort with 401 (no valid token) or 403 (not allowed) unless the token may ``permission``."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        _unauthorized("send Authorization: Bearer <token>")
    from device_agent.storage import open_reader

    db = open_reader(current_app.config["HALLRATE_DATABASE"])
    try:
        who = identify(db.conn, token.strip())
    finally:
        db.close()
    if who is None:
        _unauthorized("unknown or revoked token", error="invalid_token")
    if permission not in ROLES.get(who[1], frozenset()):
        abort(403, description=f"role {who[1]!r} may not {permission}")
    g.actor = who[0]


def _unauthorized(description: str, *, error: str | None = None) -> None:
    # RFC 6750: a 401 says which scheme to use, and why a token was refused.
    challenge = WWWAuthenticate("bearer", {"realm": "hallrate"})
    if error:
        challenge.parameters["error"] = error
    raise Unauthorized(description=description, www_authenticate=challenge)


# ``hallrate token``


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``hallrate token``."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a token and print it once")
    create.add_argument("name", help="who uses it (shown in audit logs)")
    create.add_argument("--role", required=True, choices=sorted(ROLES))
    revoke = actions.add_parser("revoke", help="revoke a token")
    revoke.add_argument("name")
    listing = actions.add_parser("list", help="list tokens (names and roles, never the tokens)")
    for action in (create, revoke, listing):
        action.add_argument("--config", required=True, help="the hub's TOML configuration")


def run(args: argparse.Namespace) -> int:
    """Create, revoke or list tokens in the hub's database; 2 on a bad config, 1 on refusal."""
    from device_agent.errors import ConfigError
    from device_agent.storage import write_transaction
    from hub.config import load_hub_config
    from hub.store import Store

    try:
        config = load_hub_config(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    store = Store(config.database)
    try:
        if args.action == "list":
            for name, role, created, revoked in store.db.execute(
                "SELECT name, role, created_at, revoked_at FROM api_tokens ORDER BY name"
            ):
                print(f"{name}\t{role}\t{created}" + (f"\trevoked {revoked}" if revoked else ""))
            return 0
        with write_transaction(store.db) as conn:
            if args.action == "create":
                token = create_token(conn, args.name, args.role)
            else:
                revoke_token(conn, args.name)
                token = None
    except (StateError, UnknownRecord) as exc:
        print(f"hallrate token: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if token is not None:
        print(token)
        print(
            f"token for {args.name} ({args.role}): keep it now, it is not shown again",
            file=sys.stderr,
        )
    else:
        print(f"revoked {args.name}")
    return 0
