"""Networked controllers get each board's frame retained on ``{base}/board/{id}/frame``."""

from __future__ import annotations

import threading
from dataclasses import replace

from device_agent.mqtt import MqttClient
from device_agent.protocol import parse_time
from device_agent.topics import BoardTopic, DeviceTopic, Topics
from hub.boards.drivers.mqtt import FramePublisher, MqttDriver
from hub.boards.frames import Frame, Page
from hub.boards.width import width
from hub.config import load_hub_config
from tests.hall import Hall, wait_until
from tests.thirdparty import vote_payload

BOARDS = """
[[boards]]
id = "hall-main"
kind = "wall"
columns = 24
lines = 4
driver = "mqtt"
interval_s = 0.2

[[boards.pages]]
page = "warnings"

[[boards.pages]]
page = "windows"
hold_s = 12
"""


def test_the_frame_is_retained_and_says_what_the_board_shows(hall, start_hub, third_party):
    hub = start_hub(hall, extra=BOARDS)
    topics = Topics.for_hall(hall.id)
    device = third_party(hall.port)
    device.wait_for_hub(topics)  # a vote published before the hub subscribed reaches no one
    for seq, level in enumerate([5, 5, 2], start=1):
        device.publish(
            topics.device("w02-eval", DeviceTopic.VOTE), vote_payload("w02-eval", seq, level=level)
        )
    wait_until(lambda: len(hall.stored_votes()) == 3, message="three votes stored")
    wait_until(lambda: hub.boards.publisher.acknowledged >= 2, message="frames acknowledged")

    # The frame with all three votes reaches a subscribed controller...
    controller = third_party(hall.port)
    frame_topic = topics.board("hall-main", BoardTopic.FRAME)
    controller.subscribe(frame_topic)

    def latest(client):
        messages = client.messages(frame_topic)
        return messages[-1] if messages else None

    wait_until(
        lambda: latest(controller) is not None and "66.7% 3" in latest(controller).payload.decode(),
        message="the frame with the three votes",
    )
    # ...and a controller that connects afterwards gets it at once, retained.
    late = third_party(hall.port)
    late.subscribe(frame_topic)
    wait_until(lambda: latest(late) is not None, message="the retained frame")
    message = late.messages(frame_topic)[0]
    assert message.retain
    assert "66.7% 3" in message.payload.decode()
    frame = message.json()
    assert set(frame) == {"v", "board", "seq", "columns", "lines", "pages", "updated"}
    assert (frame["v"], frame["board"], frame["columns"], frame["lines"]) == (1, "hall-main", 24, 4)
    assert frame["seq"] >= 2
    parse_time(frame["updated"])
    # No warning is open: the windows page alone, every line fitted to the board.
    assert frame["pages"] == [
        {
            "lines": [
                "    今日各窗口满意率    ",
                "1号窗口         暂无评价",
                "2号窗口          66.7% 3",
                "3号窗口         暂无评价",
            ],
            "hold_s": 12.0,
            "style": "normal",
        }
    ]
    assert all(width(line) == 24 for line in frame["pages"][0]["lines"])


def _frame(board: str) -> Frame:
    page = Page(lines=(f"{board:<8}",), hold_s=5.0)
    return Frame(board, 1, (page,), "2026-11-22T08:00:00Z", 8, 1)


def _publisher(hall: Hall) -> tuple[MqttClient, FramePublisher]:
    """A frame publisher on a connection of its own to the hall broker."""
    config = load_hub_config(hall.hub_config())
    connection = MqttClient(config.broker, client_id=f"{config.client_id}-boards")
    return connection, FramePublisher(config, connection)


def test_a_frame_published_while_paho_reports_an_acknowledgement_does_not_deadlock(
    hall, third_party
):
    # paho calls on_publish holding its own lock on its messages, and publish()
    # takes that lock: the publisher must not hold its own lock across publish().
    connection, publisher = _publisher(hall)
    client = connection.client
    handle_ack = client.on_publish
    acking, go = threading.Event(), threading.Event()

    def on_publish(*args):  # paho's network thread, inside paho's lock
        if not go.is_set():
            acking.set()
            go.wait(20)
        handle_ack(*args)

    client.on_publish = on_publish
    connection.start()
    publisher.publish(_frame("wall-a"))
    assert acking.wait(20), "wall-a's frame was never acknowledged"

    publish = client.publish
    publishing = threading.Event()

    def watched_publish(*args, **kwargs):
        publishing.set()
        return publish(*args, **kwargs)

    client.publish = watched_publish
    other = threading.Thread(target=publisher.publish, args=(_frame("wall-b"),), daemon=True)
    other.start()
    assert publishing.wait(20)
    go.set()  # the acknowledgement of wall-a's frame goes on, while wall-b's is being published
    other.join(20)
    try:
        assert not other.is_alive(), "the publisher deadlocked with paho's network thread"
        controller = third_party(hall.port)
        controller.subscribe(publisher.topics.board("wall-b", BoardTopic.FRAME))
        wait_until(
            lambda: controller.messages(publisher.topics.board("wall-b", BoardTopic.FRAME)),
            message="wall-b's retained frame",
        )
    finally:
        if not other.is_alive():
            connection.stop()


def test_the_same_pages_are_not_published_again_under_a_new_number(hall, third_party):
    connection, publisher = _publisher(hall)
    topic = publisher.topics.board("wall-a", BoardTopic.FRAME)
    controller = third_party(hall.port)
    controller.subscribe(topic)
    connection.start()
    try:
        driver = MqttDriver(publisher)
        first = _frame("wall-a")
        driver.show(first, 0)
        driver.show(first, 0)  # a turn of the rotation: the controller turns by itself
        driver.show(replace(first, seq=2, updated="2026-11-22T08:00:15Z"), 0)  # the same pages
        changed = Page(lines=("changed ",), hold_s=5.0)
        driver.show(replace(first, seq=3, pages=(changed,)), 0)
        wait_until(lambda: len(controller.messages(topic)) == 2, message="two frames")
        wait_until(lambda: publisher.acknowledged == 2, message="both acknowledged")
        assert [m.json()["seq"] for m in controller.messages(topic)] == [1, 3]
    finally:
        connection.stop()
