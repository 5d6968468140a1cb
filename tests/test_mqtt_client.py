"""The one MQTT client base every role speaks through, against a real Mosquitto."""

from __future__ import annotations

import gc
import threading

import paho.mqtt.client as paho
import pytest

from device_agent.mqtt import BrokerSettings, MqttClient
from hallrate.broker import MosquittoBroker
from tests.hall import wait_until
from tests.test_clean_stop import open_sockets, threads

TOPIC = "hallrate/test/device/w01-eval/receipt"
STATUS = "hallrate/test/device/w01-eval/status"


def settings(port: int, protocol: str = "5") -> BrokerSettings:
    return BrokerSettings(port=port, protocol=protocol, keepalive_s=5, reconnect_max_s=2)


class Received:
    """What a handler got, and whether the connection said ``subscribed`` at the time."""

    def __init__(self, connection: MqttClient) -> None:
        self.connection = connection
        self.payloads: list[bytes] = []

    def __call__(self, message: paho.MQTTMessage) -> None:
        assert self.connection.subscribed
        self.payloads.append(bytes(message.payload))


def test_subscribed_only_once_the_broker_acknowledged_the_subscription(mosquitto, third_party):
    publisher = third_party(mosquitto.port)
    publisher.client.publish(TOPIC, b"kept", qos=1, retain=True).wait_for_publish(10)
    connection = MqttClient(settings(mosquitto.port), client_id="w01-eval")
    received = Received(connection)
    connection.subscribe(TOPIC, 1, received)
    seen: list[tuple[str, bool]] = []
    connection.when_connected(lambda present: seen.append(("connected", connection.subscribed)))
    connection.when_subscribed(lambda: seen.append(("subscribed", connection.subscribed)))
    on_subscribe = connection.client.on_subscribe

    def suback(*args: object) -> None:
        seen.append(("SUBACK arrives", connection.subscribed))
        on_subscribe(*args)  # type: ignore[misc]

    connection.client.on_subscribe = suback
    connection.start()
    try:
        assert connection.wait_subscribed(10), "never subscribed"
        # The retained message, sent after the SUBACK, found the handler subscribed.
        wait_until(lambda: received.payloads == [b"kept"], message="the retained message")
        assert seen == [
            ("connected", False),
            ("SUBACK arrives", False),
            ("subscribed", True),
        ]
    finally:
        connection.stop()
        publisher.client.publish(TOPIC, b"", qos=1, retain=True).wait_for_publish(10)


def test_after_a_broker_restart_it_reconnects_and_subscribes_again(
    own_broker: MosquittoBroker, third_party, protocol
):
    connection = MqttClient(settings(own_broker.port, protocol), client_id="w01-eval")
    received = Received(connection)
    connection.subscribe(TOPIC, 1, received)
    subscriptions: list[bool] = []
    connection.when_subscribed(lambda: subscriptions.append(True))
    connection.start()
    try:
        assert connection.wait_subscribed(10)
        own_broker.kill()  # no session survives: the subscription must be made again
        wait_until(lambda: not connection.subscribed, message="the lost broker noticed")
        assert not connection.connected
        own_broker.start()
        assert connection.wait_subscribed(20), "never subscribed again"
        assert len(subscriptions) == 2
        sender = third_party(own_broker.port)
        sender.publish(TOPIC, b"after the restart")
        wait_until(lambda: received.payloads == [b"after the restart"], message="the message")
    finally:
        connection.stop()


class Abort(Exception):
    """Ends a loop run in the test's thread without its goodbye."""


def test_online_when_connected_offline_on_a_stop_and_as_the_will(mosquitto, third_party):
    watcher = third_party(mosquitto.port)
    watcher.subscribe(STATUS)

    def statuses() -> list[bytes]:
        return [m.payload for m in watcher.messages(STATUS) if m.payload]

    connection = MqttClient(settings(mosquitto.port), client_id="w01-eval", status_topic=STATUS)
    connection.start()
    try:
        wait_until(lambda: statuses() == [b"online"], message="online")
    finally:
        connection.stop()
    wait_until(lambda: statuses() == [b"online", b"offline"], message="offline on a clean stop")
    # The retained status a newcomer reads is the last one.
    late = third_party(mosquitto.port)
    late.subscribe(STATUS)
    assert [m.payload for m in late.messages(STATUS) if m.retain] == [b"offline"]

    # A connection that drops without its goodbye: the broker sends the will.
    dropped = MqttClient(settings(mosquitto.port), client_id="w01-eval", status_topic=STATUS)

    def turn(idle: bool) -> float:
        if dropped.subscribed:
            raise Abort
        return 0.1

    with pytest.raises(Abort):
        dropped.run(turn)
    wait_until(lambda: statuses()[-1] == b"online", message="online again")
    sock = dropped.client.socket()
    assert sock is not None
    sock.close()  # as a power cut would: no DISCONNECT, no offline from the client
    wait_until(lambda: statuses()[-1] == b"offline", message="the will")
    assert statuses() == [b"online", b"offline", b"online", b"offline"]
    dropped.close()


def test_a_stopped_client_leaves_no_thread_or_socket(mosquitto):
    gc.collect()
    gc.disable()  # an unclosed socket stays open where the test sees it
    try:
        sockets, running = open_sockets(), threads()
        connection = MqttClient(settings(mosquitto.port), client_id="w01-eval", status_topic=STATUS)
        connection.subscribe(TOPIC, 1, lambda message: None)
        acknowledged = threading.Event()
        connection.start()
        assert connection.wait_subscribed(10)
        assert any(t.name == "mqtt-w01-eval" for t in threading.enumerate())
        connection.publish(TOPIC, b"x", done=lambda reason: acknowledged.set())
        assert acknowledged.wait(10), "the broker's PUBACK never reached done"
        connection.stop()
        assert not connection.connected and not connection.subscribed
        wait_until(lambda: threads() <= running, timeout=10, message="the threads to end")
        assert open_sockets() - sockets == set()
    finally:
        gc.enable()


def test_a_client_stopped_while_the_broker_is_away_leaves_nothing():
    gc.collect()
    gc.disable()
    try:
        sockets, running = open_sockets(), threads()
        connection = MqttClient(settings(1), client_id="w01-eval", status_topic=STATUS)
        connection.start()
        wait_until(lambda: any(t.name == "mqtt-w01-eval" for t in threads()), message="started")
        connection.stop()
        wait_until(lambda: threads() <= running, timeout=10, message="the threads to end")
        assert open_sockets() - sockets == set()
    finally:
        gc.enable()
