"""Networked LED controllers: each board's frame, retained on ``{base}/board/{id}/frame``.

The hub's ingest client belongs to the ingest thread, so the boards publish
through a small paho client of their own (client id ``{hub client id}-boards``)
whose network loop runs in paho's background thread; paho's ``publish`` may
be called from the scheduler's thread while that loop runs. Frames are
retained at QoS 1, so a controller that (re)connects gets the current frame
at once.

Each board has at most one frame in flight: a newer frame waits for the
broker's acknowledgement of the previous one and then goes out alone, as the
newest. paho resends an unacknowledged frame after a reconnection, so were
two in flight, the older could land last and stay retained; and nothing piles
up in paho's queue while the broker is away.
"""

from __future__ import annotations

import logging
import threading

import paho.mqtt.client as paho

from device_agent.mqtt import close_client, connect_async, is_failure, new_client
from device_agent.topics import BoardTopic, HubTopic, Topics
from hub.boards.drivers.base import BoardDriver
from hub.boards.frames import Frame
from hub.config import HubConfig

logger = logging.getLogger(__name__)


class FramePublisher:
    """One MQTT connection that keeps every MQTT board's newest frame retained."""

    def __init__(self, config: HubConfig) -> None:
        self.topics = Topics.for_hall(config.hall, template=config.base_topic)
        self._settings = config.broker
        # Never held while calling paho: paho holds its own lock while it calls
        # on_publish, which takes this one, so the two threads would deadlock.
        self._lock = threading.Lock()
        self._latest: dict[str, Frame] = {}
        self._busy: set[str] = set()  # boards with a frame handed to paho, not acknowledged
        self._in_flight: dict[int, str] = {}  # mid -> board
        self._early: dict[int, paho.ReasonCode] = {}  # acknowledged before its mid was noted
        self._waiting: set[str] = set()  # boards whose newest frame is not sent yet
        self.acknowledged = 0
        self.client = new_client(
            config.broker.account("boards"),
            client_id=f"{config.client_id}-boards",
            status_topic=self.topics.hub(HubTopic.STATUS),
        )
        # The hub's status belongs to the ingest client: this one must not
        # mark the hub offline when it alone goes away.
        self.client.will_clear()
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish

    def start(self) -> None:
        """Connect in the background; a frame published before that waits for the connection."""
        connect_async(self.client, self._settings)
        self.client.loop_start()

    def publish(self, frame: Frame) -> None:
        """Make ``frame`` its board's retained frame, as soon as the previous one is through."""
        with self._lock:
            self._latest[frame.board] = frame
            self._waiting.add(frame.board)
        self._send_waiting(frame.board)

    def close(self) -> None:
        """Disconnect; retained frames stay on the broker for the controllers."""
        close_client(self.client)

    def _send_waiting(self, board: str) -> None:
        # Called without the lock held: paho's publish takes paho's own lock.
        while True:
            with self._lock:
                if board not in self._waiting or board in self._busy:
                    return
                self._waiting.discard(board)
                self._busy.add(board)
                frame = self._latest[board]
            try:
                info = self.client.publish(
                    self.topics.board(board, BoardTopic.FRAME), frame.encode(), qos=1, retain=True
                )
            except Exception:
                with self._lock:
                    self._busy.discard(board)
                    self._waiting.add(board)
                raise
            # Queued by paho even while disconnected (rc NO_CONN): sent on reconnection.
            with self._lock:
                reason = self._early.pop(info.mid, None)
                if reason is None:
                    self._in_flight[info.mid] = board
                    return
                # Acknowledged before publish() returned: a newer frame may wait.
                self._acknowledge(board, reason)

    def _acknowledge(self, board: str, reason_code: paho.ReasonCode) -> None:
        self._busy.discard(board)
        if is_failure(reason_code):
            logger.error("broker refused board %s's frame: %s", board, reason_code)
        else:
            self.acknowledged += 1

    def _on_publish(
        self,
        client: paho.Client,
        userdata: object,
        mid: int,
        reason_code: paho.ReasonCode,
        properties: object,
    ) -> None:
        try:
            with self._lock:
                board = self._in_flight.pop(mid, None)
                if board is None:
                    # publish() has not returned this mid yet; it finishes the job.
                    self._early[mid] = reason_code
                    return
                self._acknowledge(board, reason_code)
            self._send_waiting(board)
        except Exception:
            logger.exception("boards on_publish failed")

    def _on_connect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.ConnectFlags,
        reason_code: paho.ReasonCode,
        properties: object,
    ) -> None:
        try:
            if is_failure(reason_code):
                logger.error("broker refused the boards' client: %s", reason_code)
                return
            # A broker that lost its retained messages gets every board's frame
            # again; a board with a frame in flight gets it after that one's ack.
            with self._lock:
                boards = list(self._latest)
                self._waiting.update(boards)
            for board in boards:
                self._send_waiting(board)
        except Exception:
            logger.exception("boards on_connect failed")


class MqttDriver(BoardDriver):
    """A board whose controller takes its frame from the broker and rotates it itself."""

    def __init__(self, publisher: FramePublisher) -> None:
        self.publisher = publisher
        self._last: Frame | None = None

    def show(self, frame: Frame, page: int) -> None:
        # The controller rotates the pages itself: publish new content, not turns,
        # and never the same pages again under a new number.
        last = self._last
        if last is not None and (
            frame.seq == last.seq
            or (
                frame.pages == last.pages
                and (frame.columns, frame.lines) == (last.columns, last.lines)
            )
        ):
            return
        self._last = frame
        self.publisher.publish(frame)
