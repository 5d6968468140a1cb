"""The web wall: a page per board that looks like an LED board, updated live.

``/boards/`` lists the hall's boards; ``/boards/<id>`` is the board itself,
full screen for an HDMI display; ``/boards/<id>/events`` streams each new
page as a server-sent event, and ``/boards/<id>/frame.json`` answers the
page's polling when no stream slot is free. Each stream holds one of the
HTTP server's threads, so at most half of them stream (``[api] threads``
sets how many there are); a stream ends after a few minutes and the browser
opens a new one, so a screen that was switched off frees its thread.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, render_template
from flask.typing import ResponseReturnValue

from hub.boards.drivers.web import WallFeed, WallView
from hub.boards.layout import BoardLayout
from hub.boards.service import wall_streams
from hub.boards.width import char_width
from hub.config import HubConfig

bp = Blueprint(
    "boards",
    __name__,
    url_prefix="/boards",
    template_folder="templates",
    static_folder="static",
)

# Defaults of HALLRATE_WALL_HEARTBEAT_S and HALLRATE_WALL_STREAM_S in the app's config.
HEARTBEAT_S = 15.0  # a comment line this often shows a dead client to the server
STREAM_S = 300.0  # then the browser reconnects, and a vanished screen frees its thread
RETRY_MS = 3000  # how soon the browser reconnects after a stream ends


def init_app(app: Flask, config: HubConfig, *, feed: WallFeed | None = None) -> None:
    """Serve the wall pages of ``config``'s boards; ``feed`` is the running boards' feed."""
    app.config["HALLRATE_BOARDS"] = {board.id: board for board in config.boards}
    app.config["HALLRATE_BOARD_FEED"] = feed or WallFeed(
        max_streams=wall_streams(config.api.threads)
    )
    app.register_blueprint(bp)


def _feed() -> WallFeed:
    return current_app.config["HALLRATE_BOARD_FEED"]


def _board(ident: str) -> BoardLayout:
    board = current_app.config["HALLRATE_BOARDS"].get(ident)
    if board is None:
        abort(404, description=f"no board {ident!r}")
    return board


@bp.get("/")
def index() -> ResponseReturnValue:
    """The hall's boards, each linked to its wall page."""
    boards = list(current_app.config["HALLRATE_BOARDS"].values())
    return render_template("boards/index.html", boards=boards)


@bp.get("/<board>")
def wall(board: str) -> ResponseReturnValue:
    """One board as an LED wall page, drawn with its current page."""
    layout = _board(board)
    view = _feed().view(layout.id)
    if view is None:
        lines = [" " * layout.columns] * layout.lines
        style, label = "normal", ""
    else:
        shown = view.frame.pages[view.page]
        lines, style = list(shown.lines), shown.style
        label = f"{view.page + 1}/{len(view.frame.pages)}"
    cells = [[(c, char_width(c)) for c in line] for line in lines]
    return render_template("boards/wall.html", board=layout, cells=cells, style=style, label=label)


@bp.get("/<board>/frame.json")
def frame(board: str) -> ResponseReturnValue:
    """The board's current page as JSON (``view`` is null before the first frame)."""
    layout = _board(board)
    view = _feed().view(layout.id)
    response = jsonify({"view": None if view is None else view.as_json()})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<board>/events")
def events(board: str) -> ResponseReturnValue:
    """Server-sent events: the board's page now, then each new page as it is shown."""
    layout = _board(board)
    feed = _feed()
    if not feed.open_stream():
        response = jsonify(
            {
                "error": "Service Unavailable",
                "detail": f"all {feed.max_streams} wall streams are in use; poll frame.json",
            }
        )
        response.status_code = 503
        response.headers["Retry-After"] = "60"
        return response
    heartbeat_s = current_app.config.get("HALLRATE_WALL_HEARTBEAT_S", HEARTBEAT_S)
    stream_s = current_app.config.get("HALLRATE_WALL_STREAM_S", STREAM_S)
    response = Response(
        _stream(feed, layout.id, heartbeat_s=heartbeat_s, stream_s=stream_s),
        mimetype="text/event-stream",
    )
    # Released when the server closes the response, whether or not it ever started.
    response.call_on_close(feed.close_stream)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response


def _event(view: WallView) -> str:
    return f"event: page\ndata: {json.dumps(view.as_json(), ensure_ascii=False)}\n\n"


def _stream(feed: WallFeed, board: str, *, heartbeat_s: float, stream_s: float) -> Iterator[str]:
    yield f"retry: {RETRY_MS}\n\n"
    version = 0
    view = feed.view(board)
    if view is not None:
        version = view.version
        yield _event(view)
    ends = time.monotonic() + stream_s
    while not feed.closed and time.monotonic() < ends:
        view = feed.next_view(board, version, timeout=heartbeat_s)
        if view is None:
            yield ": still here\n\n"
            continue
        version = view.version
        yield _event(view)
