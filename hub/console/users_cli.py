"""``hallrate user add|passwd|disable|list``: the console's accounts on the command line.

A password is never an argument (it would show in ``ps`` and the shell's
history): it is asked for at a prompt, twice, or read from ``--password-file``
(``-`` for standard input, its first line). Each change is written to the
console's audit log as done by ``cli:<login name>``.
"""

from __future__ import annotations

import getpass
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from hub.console import accounts
from hub.errors import StateError, UnknownRecord

_config_option = click.option(
    "--config", required=True, metavar="FILE", help="the hub's TOML configuration"
)
_password_option = click.option(
    "--password-file",
    metavar="FILE",
    help="read the password from the first line of FILE ('-': standard input)",
)


@click.group("user", help="Add, change, disable or list the console's users.")
def command() -> None:
    """``hallrate user``: 2 on a bad configuration, 1 when refused."""


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _password(password_file: str | None) -> str:
    if password_file is None:
        value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
        return value
    if password_file == "-":
        text = sys.stdin.read()
    else:
        text = Path(password_file).read_text(encoding="utf-8")
    lines = text.splitlines()
    return lines[0] if lines else ""


@contextmanager
def _transaction(config: str) -> Iterator[sqlite3.Connection]:
    from device_agent.storage import write_transaction
    from hub.config import load_hub_config
    from hub.store import Store

    store = Store(load_hub_config(config).database)
    try:
        with write_transaction(store.db) as conn:
            yield conn
    finally:
        store.close()


def _change(
    config: str,
    action: str,
    name: str,
    change: Callable[[sqlite3.Connection], object],
    *,
    done: str,
    note: str | None = None,
) -> int:
    """Make one change and its audit entry in one transaction; 1 (and why) when refused."""
    try:
        with _transaction(config) as conn:
            change(conn)
            accounts.audit(conn, _actor(), action, target=name, note=note)
    except (StateError, UnknownRecord) as exc:
        print(f"hallrate user: {exc}", file=sys.stderr)
        return 1
    print(done)
    return 0


@command.command("add", help="Add a user of the console.")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(accounts.ROLES))
@click.option("--department", help="the department a dept_head (or staff user) belongs to")
@click.option("--staff", help="the staff id in the directory of a staff user")
@click.option("--display-name", help="the name the console shows (default: NAME)")
@_password_option
@_config_option
def add_command(
    name: str,
    *,
    role: str,
    department: str | None,
    staff: str | None,
    display_name: str | None,
    password_file: str | None,
    config: str,
) -> int:
    """``hallrate user add NAME --role ROLE``."""
    password = _password(password_file)
    return _change(
        config,
        "user_add",
        name,
        lambda conn: accounts.add_user(
            conn,
            name,
            password,
            role=role,
            department=department,
            staff=staff,
            display_name=display_name,
        ),
        done=f"added {name} ({role})",
        note=role,
    )


@command.command("passwd", help="Set a user's password (and enable them); ends their sessions.")
@click.argument("name")
@_password_option
@_config_option
def passwd_command(name: str, password_file: str | None, config: str) -> int:
    """``hallrate user passwd NAME``."""
    password = _password(password_file)
    return _change(
        config,
        "user_passwd",
        name,
        lambda conn: accounts.set_password(conn, name, password),
        done=f"password of {name} changed; their sessions ended",
    )


@command.command("disable", help="Disable a user; ends their sessions.")
@click.argument("name")
@_config_option
def disable_command(name: str, config: str) -> int:
    """``hallrate user disable NAME``."""
    return _change(
        config,
        "user_disable",
        name,
        lambda conn: accounts.disable_user(conn, name),
        done=f"disabled {name}; their sessions ended",
    )


@command.command("list", help="List the users (never their passwords).")
@_config_option
def list_command(config: str) -> int:
    """``hallrate user list``: name, role, department, staff id, and disabled."""
    with _transaction(config) as conn:
        users = accounts.list_users(conn)
    for found in users:
        fields = [found.name, found.role, found.department or "-", found.staff or "-"]
        if found.disabled_at:
            fields.append(f"disabled {found.disabled_at}")
        print("\t".join(fields))
    return 0
