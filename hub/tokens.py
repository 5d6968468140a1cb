"""API tokens: ``hallrate token create NAME --role ROLE``, and the bearer check on the API.

A token is shown once when created and stored only as its SHA-256 digest
(it is 256 random bits, so a fast digest is enough: there is nothing to
guess). Every endpoint of the hub's API needs a token whose role grants
``read``, except the few the app names public (:func:`init_app`); each write
action names the permission it needs on top. The token's name is who did
it, in every audit log entry.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import secrets
import sqlite3
import sys
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click
from flask import Flask, abort, g, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized

from device_agent.protocol import format_time
from hub.db import get_db
from hub.errors import StateError, UnknownRecord

if TYPE_CHECKING:
    from hub.store import Store

logger = logging.getLogger(__name__)

# Issue 14, cases (hub.cases.chain.PERMISSIONS): register, assign (and archive, merge),
# handle (start, draft, send the answer), approve (or send back), check (回访).
_CASES_OFFICE = frozenset({"case_register", "case_assign", "case_handle", "case_check"})
ROLES: dict[str, frozenset[str]] = {
    # Reads votes, warnings, devices and the quarantine: a dashboard, a report script.
    "reader": frozenset({"read"}),
    # The hall manager: sees warnings, decides appeals and supervision alerts, approves
    # cases' answers (a leader).
    "manager": frozenset({"read", "acknowledge", "void", "supervise", "case_approve"}),
    # The efficiency office (效能办): follows each warning to closure, accepts held votes,
    # decides supervision alerts, registers, assigns, checks and archives cases.
    "office": frozenset({"read", "acknowledge", "action", "close", "accept", "supervise"})
    | _CASES_OFFICE,
    "admin": frozenset({"read", "acknowledge", "action", "close", "void", "accept", "supervise"})
    | _CASES_OFFICE
    | {"case_approve"},
    # The person responsible for a case: handles the cases assigned to this token's name.
    "handler": frozenset({"read", "case_handle"}),
}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
PREFIX = "hrt_"

F = TypeVar("F", bound=Callable[..., Any])


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
    who = identify(get_db().conn, token.strip())
    if who is None:
        _unauthorized("unknown or revoked token", error="invalid_token")
    if permission not in ROLES.get(who[1], frozenset()):
        abort(403, description=f"role {who[1]!r} may not {permission}")
    g.actor = who[0]
    g.actor_role = who[1]


def _unauthorized(description: str, *, error: str | None = None) -> None:
    # RFC 6750: a 401 says which scheme to use, and why a token was refused.
    challenge = WWWAuthenticate("bearer", {"realm": "hallrate"})
    if error:
        challenge.parameters["error"] = error
    raise Unauthorized(description=description, www_authenticate=challenge)


# ``hallrate token``


@click.group("token", help="Create, list or revoke API tokens.")
def command() -> None:
    """``hallrate token create|revoke|list``: 2 on a bad configuration, 1 on refusal."""


_config_option = click.option(
    "--config", required=True, metavar="FILE", help="the hub's TOML configuration"
)


@command.command("create", help="Create a token and print it once.")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(sorted(ROLES)))
@_config_option
def create_command(name: str, role: str, config: str) -> int:
    """``hallrate token create NAME --role ROLE``: NAME says who uses it (shown in audit logs)."""
    from device_agent.storage import write_transaction

    try:
        with _store(config) as store, write_transaction(store.db) as conn:
            token = create_token(conn, name, role)
    except (StateError, UnknownRecord) as exc:
        print(f"hallrate token: {exc}", file=sys.stderr)
        return 1
    print(token)
    print(f"token for {name} ({role}): keep it now, it is not shown again", file=sys.stderr)
    return 0


@command.command("revoke", help="Revoke a token.")
@click.argument("name")
@_config_option
def revoke_command(name: str, config: str) -> int:
    """``hallrate token revoke NAME``."""
    from device_agent.storage import write_transaction

    try:
        with _store(config) as store, write_transaction(store.db) as conn:
            revoke_token(conn, name)
    except (StateError, UnknownRecord) as exc:
        print(f"hallrate token: {exc}", file=sys.stderr)
        return 1
    print(f"revoked {name}")
    return 0


@command.command("list", help="List tokens (names and roles, never the tokens).")
@_config_option
def list_command(config: str) -> int:
    """``hallrate token list``."""
    with _store(config) as store:
        for name, role, created, revoked in store.db.execute(
            "SELECT name, role, created_at, revoked_at FROM api_tokens ORDER BY name"
        ):
            print(f"{name}\t{role}\t{created}" + (f"\trevoked {revoked}" if revoked else ""))
    return 0


@contextmanager
def _store(config: str) -> Iterator[Store]:
    """The hub's store for ``config``, closed afterwards."""
    from hub.config import load_hub_config
    from hub.store import Store

    store = Store(load_hub_config(config).database)
    try:
        yield store
    finally:
        store.close()
