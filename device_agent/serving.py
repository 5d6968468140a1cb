"""Stopping a waitress HTTP server cleanly, for the kiosk and the hub alike.

Like :mod:`device_agent.sdnotify`, this lives here, the package every
process imports, so the kiosk (which may not import the hub) and the hub
share one way of doing it.
"""

from __future__ import annotations

import threading
from typing import Any

# How long waitress's loop sleeps with no connection ready (its default: 1 s).
# Everything that needs the loop wakes it (a connection, a response from a
# request thread, stop_waitress's trigger); the sleep only ends idle
# wake-ups. Its housekeeping (closing idle connections) runs every 30 s anyway.
LOOP_TIMEOUT_S = 5


def stop_waitress(server: Any, thread: threading.Thread | None) -> None:
    """Stop a waitress server (from ``create_server``) that ``thread`` runs.

    The request threads finish first: waitress's own ``close()`` does not
    wait for them. Then every socket, open connections included, is closed
    inside the server's loop (through its trigger), because closing them
    from another thread while the loop waits on them makes it fail on a
    closed descriptor; with nothing left to watch, the loop returns. A
    server whose loop never ran is closed here directly.
    """
    server.task_dispatcher.shutdown(timeout=5)

    def close_channels() -> None:
        for channel in list(server._map.values()):
            channel.close()

    if thread is not None and thread.is_alive():
        server.trigger.pull_trigger(close_channels)
        thread.join(timeout=5)
    else:
        close_channels()
