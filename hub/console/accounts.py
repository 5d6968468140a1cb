"""Console accounts: users, server-side sessions, login attempts and the audit log.

The one place the console's account tables are queried. A password is kept
only as werkzeug's salted hash (scrypt); a session is a random token in the
browser's cookie of which only the SHA-256 digest is stored, so a copy of the
database opens no session. A session ends at its expiry, at logout, when its
user's password changes or when the user is disabled. Every function takes
the connection of the caller's transaction (``hub.db.write`` for writes).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from werkzeug.security import check_password_hash, generate_password_hash

from device_agent.protocol import format_time
from hub.errors import StateError, UnknownRecord

# Who may open what is decided per page with hub.console.web.requires(*roles).
ROLES = ("manager", "dept_head", "office", "staff", "admin")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD = 8
# Rate limit: this many failed logins for one user name from one address in the
# window below, and further tries are refused (429) until the oldest ages out.
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
# Compared against when the user does not exist, so a wrong name costs the same
# time as a wrong password and timing does not tell which names exist.
_DUMMY_HASH = generate_password_hash("not a password of anyone")

USER_SQL = (
    "SELECT name, display_name, role, department, staff, disabled_at FROM console_users"
    " WHERE name = ?"
)
SESSION_SQL = (
    "SELECT u.name, u.display_name, u.role, u.department, u.staff, u.disabled_at, s.csrf"
    " FROM console_sessions AS s JOIN console_users AS u ON u.name = s.user"
    " WHERE s.digest = ? AND s.revoked_at IS NULL AND s.expires_at > ?"
    " AND u.disabled_at IS NULL"
)
FAILURES_SQL = (
    "SELECT count(*), min(at) FROM console_login_attempts"
    " WHERE user = ? AND address = ? AND at > ? AND ok = 0"
)


@dataclass(frozen=True, slots=True)
class User:
    """A console user: the role says which pages; department and staff narrow them."""

    name: str
    display_name: str | None
    role: str
    department: str | None = None
    staff: str | None = None
    disabled_at: str | None = None

    @property
    def shown_name(self) -> str:
        """The name the console shows for this user."""
        return self.display_name or self.name


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser: its user and the token its forms must carry."""

    user: User
    csrf: str


def now_text(now: datetime | None = None) -> str:
    """A moment as every console table writes it (UTC, the protocol's format)."""
    return format_time(now or datetime.now(UTC))


def digest(token: str) -> str:
    """What is stored of a session token: 256 random bits need no slow hash."""
    return hashlib.sha256(token.encode()).hexdigest()


def check_password_rules(password: str) -> None:
    """Refuse a password too short to keep out a guesser."""
    if len(password) < MIN_PASSWORD:
        raise StateError(f"password: at least {MIN_PASSWORD} characters")


def add_user(
    conn: sqlite3.Connection,
    name: str,
    password: str,
    *,
    role: str,
    department: str | None = None,
    staff: str | None = None,
    display_name: str | None = None,
) -> User:
    """Create a user; a department head needs a department, a staff user a staff id."""
    if not NAME.fullmatch(name):
        raise StateError(f"name: must match {NAME.pattern}")
    if role not in ROLES:
        raise StateError(f"role: must be one of {', '.join(ROLES)}, got {role!r}")
    if role == "dept_head" and not department:
        raise StateError("a dept_head needs --department")
    if role == "staff" and not staff:
        raise StateError("a staff user needs --staff (their id in the directory)")
    check_password_rules(password)
    if conn.execute(USER_SQL, (name,)).fetchone() is not None:
        raise StateError(f"a user named {name!r} exists")
    at = now_text()
    conn.execute(
        "INSERT INTO console_users (name, display_name, role, department, staff,"
        " password_hash, password_changed_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (name, display_name, role, department, staff, generate_password_hash(password), at, at),
    )
    return User(name, display_name, role, department, staff)


def find_user(conn: sqlite3.Connection, name: str) -> User | None:
    """The user named ``name``, disabled or not."""
    row = conn.execute(USER_SQL, (name,)).fetchone()
    return None if row is None else User(*row)


def list_users(conn: sqlite3.Connection) -> list[User]:
    """Every user, by name."""
    rows = conn.execute(
        "SELECT name, display_name, role, department, staff, disabled_at FROM console_users"
        " ORDER BY name"
    )
    return [User(*row) for row in rows]


def set_password(conn: sqlite3.Connection, name: str, password: str) -> None:
    """Change a user's password (enabling a disabled user) and end all their sessions."""
    check_password_rules(password)
    at = now_text()
    cursor = conn.execute(
        "UPDATE console_users SET password_hash = ?, password_changed_at = ?, disabled_at = NULL"
        " WHERE name = ?",
        (generate_password_hash(password), at, name),
    )
    if cursor.rowcount == 0:
        raise UnknownRecord(f"no user named {name!r}")
    revoke_sessions(conn, name, at=at)


def disable_user(conn: sqlite3.Connection, name: str) -> None:
    """Disable a user (kept for the audit log) and end all their sessions."""
    at = now_text()
    cursor = conn.execute(
        "UPDATE console_users SET disabled_at = ? WHERE name = ? AND disabled_at IS NULL",
        (at, name),
    )
    if cursor.rowcount == 0:
        if find_user(conn, name) is None:
            raise UnknownRecord(f"no user named {name!r}")
        raise StateError(f"{name!r} is disabled already")
    revoke_sessions(conn, name, at=at)


def revoke_sessions(conn: sqlite3.Connection, name: str, *, at: str | None = None) -> int:
    """End every open session of ``name``; returns how many."""
    cursor = conn.execute(
        "UPDATE console_sessions SET revoked_at = ? WHERE user = ? AND revoked_at IS NULL",
        (at or now_text(), name),
    )
    return cursor.rowcount


def check_login(conn: sqlite3.Connection, name: str, password: str) -> User | None:
    """The user when ``password`` is theirs and they are not disabled, else None."""
    row = conn.execute(
        "SELECT password_hash FROM console_users WHERE name = ? AND disabled_at IS NULL", (name,)
    ).fetchone()
    if row is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(row[0], password):
        return None
    return find_user(conn, name)


def refused_until(
    conn: sqlite3.Connection, name: str, address: str, *, now: datetime | None = None
) -> datetime | None:
    """When ``name`` may try again from ``address``, if too many tries failed lately."""
    now = now or datetime.now(UTC)
    count, oldest = conn.execute(
        FAILURES_SQL, (name, address, now_text(now - FAILURE_WINDOW))
    ).fetchone()
    if count < MAX_FAILURES:
        return None
    return datetime.fromisoformat(oldest.replace("Z", "+00:00")) + FAILURE_WINDOW


def record_attempt(conn: sqlite3.Connection, name: str, address: str, *, ok: bool) -> None:
    """Keep one login attempt; a success clears the failures of that name and address."""
    at = now_text()
    if ok:
        conn.execute(
            "DELETE FROM console_login_attempts WHERE user = ? AND address = ?", (name, address)
        )
    conn.execute(
        "INSERT INTO console_login_attempts (user, address, at, ok) VALUES (?, ?, ?, ?)",
        (name, address, at, int(ok)),
    )
    # Old attempts say nothing any more: keep the table small.
    conn.execute(
        "DELETE FROM console_login_attempts WHERE at < ?",
        (now_text(datetime.now(UTC) - 4 * FAILURE_WINDOW),),
    )


def open_session(
    conn: sqlite3.Connection, user: User, *, lifetime: timedelta, address: str | None
) -> str:
    """Start a session for ``user``; returns the token for the cookie (stored only hashed)."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    conn.execute(
        "INSERT INTO console_sessions (digest, user, csrf, created_at, expires_at, address)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            digest(token),
            user.name,
            secrets.token_urlsafe(32),
            now_text(now),
            now_text(now + lifetime),
            address,
        ),
    )
    return token


def find_session(conn: sqlite3.Connection, token: str) -> Session | None:
    """The live session of a cookie's token: not expired, revoked or of a disabled user."""
    row = conn.execute(SESSION_SQL, (digest(token), now_text())).fetchone()
    if row is None:
        return None
    return Session(User(*row[:6]), row[6])


def close_session(conn: sqlite3.Connection, token: str) -> None:
    """End one session (logout)."""
    conn.execute(
        "UPDATE console_sessions SET revoked_at = ? WHERE digest = ? AND revoked_at IS NULL",
        (now_text(), digest(token)),
    )


def audit(
    conn: sqlite3.Connection,
    user: str | None,
    action: str,
    *,
    target: str | None = None,
    note: str | None = None,
    address: str | None = None,
) -> None:
    """Record one console action: who, when, what, on what, with the note given."""
    conn.execute(
        "INSERT INTO console_audit (at, user, action, target, note, address)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (now_text(), user, action, target, note, address),
    )
