"""A throwaway hall for tests: directory, hub and agent configuration files.

Each test gets a hall id of its own, so tests that share one broker never
see each other's topics or retained messages.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.request import Request, urlopen

_counter = itertools.count(1)
_tokens: dict[Path, str] = {}


def wait_until(
    predicate: Callable[[], object],
    *,
    timeout: float = 20.0,
    interval: float = 0.05,
    message: str = "condition",
) -> object:
    """Poll ``predicate`` until it is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def query(database: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows from the hub's database, read as an operator would."""
    if not database.exists():
        return []
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError:
        return []  # not migrated yet
    finally:
        conn.close()


def get_json(url: str, *, token: str | None = None) -> dict:
    """GET a JSON document, with a bearer ``token`` when the endpoint needs one."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urlopen(Request(url, headers=headers), timeout=5) as response:
        return json.loads(response.read())


def read_token(database: Path) -> str:
    """A ``reader`` token in a hub's database, made as ``hallrate token create`` makes one."""
    database = database.resolve()
    if database not in _tokens:
        from device_agent.storage import write_transaction
        from hub.store import Store
        from hub.tokens import create_token

        store = Store(database)  # creates and migrates the file if the hub has not yet
        try:
            with write_transaction(store.db) as conn:
                _tokens[database] = create_token(conn, "tests", "reader")
        finally:
            store.close()
    return _tokens[database]


@dataclass
class Hall:
    """The files of one test hall, and where its broker is."""

    root: Path
    port: int
    protocol: str = "5"
    windows: int = 3
    keepalive_s: int = 10
    id: str = field(default_factory=lambda: f"t{next(_counter)}")

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.directory_path.write_text(self.directory_text())

    @property
    def directory_path(self) -> Path:
        return self.root / "directory.toml"

    @property
    def database(self) -> Path:
        return self.root / "hub.sqlite"

    def device_id(self, n: int) -> str:
        return f"w{n:02d}-eval"

    def directory_text(self) -> str:
        lines = [
            f'[hall]\nid = "{self.id}"\nname = "测试大厅"\n',
            '[[departments]]\nid = "civil"\nname = "民政"\n',
        ]
        for n in range(1, self.windows + 1):
            lines.append(
                f'[[windows]]\nid = "w{n:02d}"\nname = "{n}号窗口"\ndepartment = "civil"\n'
            )
            lines.append(
                f'[[staff]]\nid = "s{n:02d}"\nname = "职员{n}"\n'
                f'department = "civil"\nwindow = "w{n:02d}"\n'
            )
            lines.append(
                f'[[devices]]\nid = "{self.device_id(n)}"\nkind = "evaluator"\n'
                f'window = "w{n:02d}"\n'
            )
        return "\n".join(lines)

    def hub_config(self, *, api_port: int = 0, extra: str = "", broker: str = "") -> Path:
        """The hub's file; ``broker`` is more lines for its ``[broker]`` table."""
        path = self.root / "hub.toml"
        path.write_text(
            f'[hub]\nhall = "{self.id}"\ndatabase = "hub.sqlite"\n'
            f'directory = "directory.toml"\n\n'
            f'[broker]\nhost = "127.0.0.1"\nport = {self.port}\nprotocol = "{self.protocol}"\n'
            f"reconnect_max_s = 2\nkeepalive_s = {self.keepalive_s}\n{broker}\n"
            f"[api]\nport = {api_port}\n\n" + extra
        )
        return path

    def agent_config(
        self,
        n: int = 1,
        *,
        extra: str = "",
        resend_after_s: float = 2.0,
        outbox: str = "",
        evaluator: str = "",
        broker: str = "",
    ) -> Path:
        """An agent's file; ``outbox``, ``evaluator``, ``broker``: more lines for those tables."""
        path = self.root / f"agent-{n}.toml"
        path.write_text(
            f'[device]\nid = "{self.device_id(n)}"\nhall = "{self.id}"\n'
            f'window = "w{n:02d}"\nstaff = "s{n:02d}"\n\n'
            f'[broker]\nhost = "127.0.0.1"\nport = {self.port}\nprotocol = "{self.protocol}"\n'
            f"reconnect_max_s = 2\nkeepalive_s = {self.keepalive_s}\n{broker}\n"
            f'[outbox]\npath = "outbox-{n}.sqlite"\nresend_after_s = {resend_after_s}\n{outbox}\n'
            f'[evaluator]\ndebounce_ms = 50\nthank_you_pin = "GPIO25"\n{evaluator}\n'
            "[evaluator.keys]\nGPIO17 = 5\nGPIO27 = 4\nGPIO22 = 3\nGPIO23 = 2\nGPIO24 = 1\n" + extra
        )
        return path

    @property
    def token(self) -> str:
        """A token that may read the hub's API."""
        return read_token(self.database)

    def stored_votes(self) -> list[tuple]:
        return query(
            self.database, "SELECT id, device, level, window, staff FROM votes ORDER BY rowid"
        )

    def quarantined(self) -> list[tuple]:
        return query(
            self.database,
            "SELECT topic, device, record_id, reason, times FROM quarantine ORDER BY rowid",
        )
