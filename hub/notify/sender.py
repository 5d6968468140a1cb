"""The hub's notice sender: a thread that delivers queued notices, one that watches devices.

The sender reads due ``pending`` rows of ``notices`` on its own database
connection and hands each to apprise with the configured timeouts, so a
target that is down costs this thread time, never the ingest loop's. A
delivered notice is marked ``sent``; one that failed is tried again after a
doubling delay, and marked ``failed`` with its last error after
``max_attempts``. A row is marked in the transaction right after its try,
so a hub stopped (or restarted) between two tries loses nothing and sends
nothing twice; only a hub killed during the one HTTP request may repeat it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import sqlite_utils

from device_agent.protocol import format_time
from device_agent.storage import open_database, write_transaction
from hub.notify.notices import NoticeQueue
from hub.notify.settings import (
    CITIZEN,
    MOBILE,
    NotifySettings,
    Target,
    apprise_messages,
    load_apprise,
    redact,
    render_phone,
)

if TYPE_CHECKING:
    from hub.config import HubConfig

logger = logging.getLogger(__name__)

BATCH = 20  # rows read per round: a stop waits at most for the one being sent
DUE_SQL = (
    "SELECT id, event, subject, target, title, body, attempts FROM notices"
    " WHERE status = 'pending' AND next_attempt <= ? ORDER BY id LIMIT ?"
)
PRUNE_EVERY_S = 3600.0
PHONE_SQL = "SELECT contact FROM case_sources WHERE id = ?"


class NotifySender:
    """Delivers the notice queue and checks for devices offline; two threads of the hub."""

    def __init__(
        self,
        config: HubConfig,
        *,
        clock: Callable[[], float] = time.time,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings: NotifySettings = config.notify
        self.database = config.database
        self.queue = NoticeQueue(config.notify, config.directory, timezone=config.timezone, now=now)
        self._targets: dict[str, Target] = {t.key: t for t in config.notify.targets}
        self._clock = clock
        self._now = now
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start delivering and watching."""
        self._threads = [
            threading.Thread(target=self._run_sender, name="hub-notify", daemon=True),
            threading.Thread(target=self._run_watch, name="hub-notify-watch", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop after the notice being sent; what is pending stays for the next start."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2 * self.settings.timeout_s + 5)

    def _run_sender(self) -> None:
        db = open_database(self.database)
        next_prune = 0.0
        try:
            while not self._stop.is_set():
                try:
                    if self._clock() >= next_prune:
                        self.prune(db)
                        next_prune = self._clock() + PRUNE_EVERY_S
                    sent = self.send_due(db)
                except Exception:
                    # Keep going: the rows stay pending and are tried again.
                    logger.exception("sending notices failed")
                    sent = 0
                if not sent:
                    self._stop.wait(self.settings.poll_s)
        finally:
            db.close()

    def _run_watch(self) -> None:
        db = open_database(self.database)
        try:
            while not self._stop.wait(self.settings.check_s):
                try:
                    with write_transaction(db) as conn:
                        self.queue.review_devices(conn)
                except Exception:
                    logger.exception("checking for offline devices failed")
        finally:
            db.close()

    def send_due(self, db: sqlite_utils.Database) -> int:
        """Try every due notice once; returns how many were tried."""
        rows = db.execute(DUE_SQL, (self._clock(), BATCH)).fetchall()
        for ident, event, subject, target_key, title, body, attempts in rows:
            if self._stop.is_set():
                break
            target = self._targets.get(target_key)
            final = target is None
            if target is None:
                error: str | None = "its target is no longer configured"
            elif target.role == CITIZEN:
                # The citizen's number is read from the case's source as it is sent:
                # it is never copied into the notice, nor into a log line.
                phone = self.citizen_phone(db, subject)
                final = phone is None
                error = (
                    "the source has no mobile number"
                    if phone is None
                    else self._deliver(render_phone(target, phone), title, body)
                )
            else:
                error = self._deliver(target, title, body)
            self._mark(db, ident, attempts + 1, error, final=final)
            who = f"{target.role} by {target.channel} ({target.label})" if target else "nobody"
            if error is None:
                logger.info("notice %s (%s %s) sent to %s", ident, event, subject, who)
            else:
                logger.warning(
                    "notice %s (%s %s) to %s failed, attempt %d: %s",
                    ident,
                    event,
                    subject,
                    who,
                    attempts + 1,
                    error,
                )
        return len(rows)

    @staticmethod
    def citizen_phone(db: sqlite_utils.Database, source: str) -> str | None:
        """The mobile number of a case source (``case_sources.id``), or None."""
        row = db.execute(PHONE_SQL, (source,)).fetchone()
        phone = row[0] if row is not None else None
        return phone if isinstance(phone, str) and MOBILE.fullmatch(phone) else None

    def prune(self, db: sqlite_utils.Database) -> None:
        """Forget notices delivered or given up more than ``keep_days`` ago."""
        cutoff = format_time(self._now() - timedelta(days=self.settings.keep_days))
        with write_transaction(db) as conn:
            conn.execute("DELETE FROM notices WHERE status != 'pending' AND done_at < ?", (cutoff,))

    def _deliver(self, target: Target, title: str, body: str) -> str | None:
        """Send one notice; None when the target took it, else why not."""
        apprise = load_apprise()
        with apprise_messages() as messages:
            plugin = apprise.Apprise.instantiate(target.url.reveal())
            if plugin is None:
                return "apprise cannot use this URL"
            # Both apprise timeouts: a target that hangs costs this thread, bounded.
            plugin.socket_connect_timeout = self.settings.timeout_s
            plugin.socket_read_timeout = self.settings.timeout_s
            try:
                ok = plugin.notify(body=body, title=title)
            except Exception as exc:  # a plugin's bug must not stop the queue
                return redact(f"{type(exc).__name__}: {exc}", target)[:300]
        if ok:
            return None
        return redact(messages[-1] if messages else "apprise reported a failure", target)[:300]

    def _mark(
        self,
        db: sqlite_utils.Database,
        ident: int,
        attempts: int,
        error: str | None,
        *,
        final: bool,
    ) -> None:
        done = format_time(self._now())
        with write_transaction(db) as conn:
            if error is None:
                conn.execute(
                    "UPDATE notices SET status = 'sent', attempts = ?, done_at = ?,"
                    " last_error = NULL WHERE id = ?",
                    (attempts, done, ident),
                )
            elif final or attempts >= self.settings.max_attempts:
                conn.execute(
                    "UPDATE notices SET status = 'failed', attempts = ?, done_at = ?,"
                    " last_error = ? WHERE id = ?",
                    (attempts, done, error, ident),
                )
            else:
                conn.execute(
                    "UPDATE notices SET attempts = ?, next_attempt = ?, last_error = ?"
                    " WHERE id = ?",
                    (attempts, self._clock() + self.settings.backoff(attempts), error, ident),
                )
