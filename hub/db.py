"""The hub web app's database, as in the Flask tutorial: one connection per request.

:func:`init_app` is called once by ``create_app``: it sets the app's config
and closes the request's connection at teardown, so no blueprint sets config
and the order blueprints are registered in does not matter. Views read
through :func:`get_db` (read-only; the ingest loop is the hub's writer) and
write through :func:`write`, a transaction of its own that waits its turn.
Queries live in the store modules (``hub.vote_pages``, ``hub.warnings``...),
never in views.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import sqlite_utils
from flask import Flask, abort, current_app, g

from device_agent.storage import open_database, open_reader, write_transaction
from hub.config import HubConfig
from hub.errors import StateError, UnknownRecord

if TYPE_CHECKING:
    import sqlite3

    from hub.counting import Counting

CONFIG_KEY = "HALLRATE_CONFIG"
COUNTING_KEY = "hallrate.counting"


def init_app(app: Flask, config: HubConfig) -> None:
    """Give the app the hall's config and counting, and close each request's connection."""
    # Imported here: counting pulls in the rules, warnings and forwarding.
    from hub.counting import Counting

    app.config[CONFIG_KEY] = config
    app.extensions[COUNTING_KEY] = Counting(config)
    app.teardown_appcontext(close_db)


def hub_config() -> HubConfig:
    """The running app's hub config."""
    config: HubConfig = current_app.config[CONFIG_KEY]
    return config


def counting() -> Counting:
    """The app's :class:`hub.counting.Counting`, for write actions that change counts."""
    return current_app.extensions[COUNTING_KEY]  # type: ignore[no-any-return]


def get_db() -> sqlite_utils.Database:
    """The request's read-only connection, opened on first use."""
    if "db" not in g:
        g.db = open_reader(hub_config().database)
    db: sqlite_utils.Database = g.db
    return db


def close_db(exc: BaseException | None = None) -> None:
    """Close the request's connection, if it opened one."""
    db = g.pop("db", None)
    if db is not None:
        db.close()


@contextmanager
def write() -> Iterator[sqlite3.Connection]:
    """A ``BEGIN IMMEDIATE`` transaction on the hub's database, for one request.

    An unknown record answers 404 and a step its state does not allow 409;
    either way nothing is written.
    """
    db = open_database(hub_config().database)
    try:
        with write_transaction(db) as conn:
            yield conn
    except UnknownRecord as exc:
        abort(404, description=str(exc))
    except StateError as exc:
        abort(409, description=str(exc))
    finally:
        db.close()
