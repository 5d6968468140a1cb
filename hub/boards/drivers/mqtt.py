"""Networked LED controllers: each board's frame, retained on ``{base}/board/{id}/frame``.

The boards publish through the hub's connection to the hall broker (its
:class:`~device_agent.mqtt.MqttClient`, whose ``publish`` may be called from
the scheduler's thread). Frames are retained at QoS 1, so a controller that
(re)connects gets the current frame at once.

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

from device_agent.mqtt import MqttClient, is_failure
from device_agent.topics import BoardTopic, Topics
from hub.boards.drivers.base import BoardDriver
from hub.boards.frames import Frame
from hub.config import HubConfig

logger = logging.getLogger(__name__)


class FramePublisher:
    """Keeps every MQTT board's newest frame retained, over the hub's connection."""

    def __init__(self, config: HubConfig, connection: MqttClient) -> None:
        self.topics = Topics.for_hall(config.hall, template=config.base_topic)
        self.connection = connection
        # Never held while calling the connection: its loop thread calls the
        # acknowledgement back with paho's lock held, and takes this one.
        self._lock = threading.Lock()
        self._latest: dict[str, Frame] = {}
        self._busy: set[str] = set()  # boards with a frame handed over, not acknowledged
        self._waiting: set[str] = set()  # boards whose newest frame is not sent yet
        self.acknowledged = 0
        connection.when_connected(self._on_connected)

    def publish(self, frame: Frame) -> None:
        """Make ``frame`` its board's retained frame, as soon as the previous one is through."""
        with self._lock:
            self._latest[frame.board] = frame
            self._waiting.add(frame.board)
        self._send_waiting(frame.board)

    def _send_waiting(self, board: str) -> None:
        # Called without the lock held: publishing takes paho's own lock.
        with self._lock:
            if board not in self._waiting or board in self._busy:
                return
            self._waiting.discard(board)
            self._busy.add(board)
            frame = self._latest[board]
        try:
            # Queued by paho even while disconnected: sent on reconnection.
            self.connection.publish(
                self.topics.board(board, BoardTopic.FRAME),
                frame.encode(),
                qos=1,
                retain=True,
                done=lambda reason_code: self._acknowledged(board, reason_code),
            )
        except Exception:
            with self._lock:
                self._busy.discard(board)
                self._waiting.add(board)
            raise

    def _acknowledged(self, board: str, reason_code: paho.ReasonCode) -> None:
        with self._lock:
            self._busy.discard(board)
            if is_failure(reason_code):
                logger.error("broker refused board %s's frame: %s", board, reason_code)
            else:
                self.acknowledged += 1
        self._send_waiting(board)  # a newer frame may wait

    def _on_connected(self, session_present: bool) -> None:
        # A broker that lost its retained messages gets every board's frame
        # again; a board with a frame in flight gets it after that one's ack.
        with self._lock:
            boards = list(self._latest)
            self._waiting.update(boards)
        for board in boards:
            self._send_waiting(board)


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
