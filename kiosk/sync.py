"""Keeping the kiosk's directory copy in step with the hub, in a background thread.

Every ``interval_s`` the thread asks the hub for the directory (a 304 when
nothing changed), fetches the photos that are new, and replaces the local
copy. When the hub cannot be reached the kiosk keeps showing its last copy
and tries again at the next interval; it says so in the log once, not at
every attempt. After a failure it asks again sooner, from every 2 s up to
the interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from kiosk.directory import LocalDirectory, write_atomically
from kiosk.errors import DirectoryError, HubUnavailable
from kiosk.hub_client import PHOTO_TYPES, HubClient

logger = logging.getLogger(__name__)

RETRY_MIN_S = 2.0


class DirectorySync:
    """Pulls the hall directory and staff photos from the hub into the kiosk's data folder."""

    def __init__(
        self,
        directory: LocalDirectory,
        hub: HubClient,
        *,
        photos: Path,
        interval_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.hub = hub
        self.photos = photos
        self.interval_s = interval_s
        self._clock = clock
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_success: float | None = None
        self.last_error: str | None = None

    def start(self) -> None:
        """Load the copy on disk, then sync in the background."""
        self.directory.load()
        self._thread = threading.Thread(target=self._run, name="directory-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def sync_soon(self) -> None:
        """Sync now rather than at the next interval."""
        self._wake.set()

    def sync_once(self) -> bool:
        """Bring the local copy up to date; False when the hub could not be asked."""
        current = self.directory.current
        try:
            body = self.hub.directory(version=current.version or None)
            if body is not None:
                self._fetch_photos(body)
                updated = self.directory.replace(body)
                logger.info("hall directory updated to version %s", updated.version)
        except (HubUnavailable, DirectoryError) as exc:
            if self.last_error is None:
                logger.warning("cannot update the hall directory, showing the last copy: %s", exc)
            self.last_error = str(exc)
            return False
        if self.last_error is not None:
            logger.info("the hall directory is reachable again")
        self.last_error = None
        self.last_success = self._clock()
        return True

    def photo_path(self, digest: str) -> Path | None:
        """The local file of the photo with ``digest``, when it has been fetched.

        A digest is plain ASCII letters and digits: anything else (a path, from
        a bad directory document) names no photo.
        """
        if not _is_digest(digest):
            return None
        for suffix in set(PHOTO_TYPES.values()):
            path = self.photos / f"{digest}{suffix}"
            if path.exists():
                return path
        return None

    def _fetch_photos(self, body: dict) -> None:
        for person in body.get("staff") or []:
            digest = person.get("photo") if isinstance(person, dict) else None
            if not isinstance(digest, str) or not _is_digest(digest) or self.photo_path(digest):
                continue
            photo = self.hub.photo(str(person.get("id")))
            if photo is not None:
                data, suffix = photo
                write_atomically(self.photos / f"{digest}{suffix}", data)

    def _run(self) -> None:
        retry_s = RETRY_MIN_S
        while not self._stop.is_set():
            try:
                synced = self.sync_once()
            except Exception:
                logger.exception("the directory sync failed")
                synced = False
            # After a failure (a kiosk that booted before its hub, say) ask
            # again soon, backing off to the normal interval.
            wait_s = self.interval_s if synced else min(retry_s, self.interval_s)
            retry_s = RETRY_MIN_S if synced else min(retry_s * 2, self.interval_s)
            self._wake.wait(wait_s)
            self._wake.clear()


def _is_digest(value: str) -> bool:
    # isascii too: str.isalnum() also takes letters of every other script.
    return value.isascii() and value.isalnum()
