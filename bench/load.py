"""Shared pieces of the benchmarks: a bench hall and a fast vote publisher."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from device_agent.protocol import Vote, encode, envelope_id, format_time

DEVICES = [f"w{n:02d}-eval" for n in range(1, 21)]


def write_hall(workdir: Path, hall: str, port: int, *, extra: str = "") -> Path:
    """Write a directory with 20 evaluators and a hub config; returns the hub config path."""
    workdir.mkdir(parents=True, exist_ok=True)
    lines = [f'[hall]\nid = "{hall}"\n', '[[departments]]\nid = "d1"\nname = "dept"\n']
    for n, device in enumerate(DEVICES, start=1):
        lines.append(f'[[windows]]\nid = "w{n:02d}"\nname = "{n}"\ndepartment = "d1"\n')
        lines.append(f'[[devices]]\nid = "{device}"\nkind = "evaluator"\nwindow = "w{n:02d}"\n')
    (workdir / "directory.toml").write_text("\n".join(lines))
    config = workdir / "hub.toml"
    config.write_text(
        f'[hub]\nhall = "{hall}"\ndatabase = "hub.sqlite"\ndirectory = "directory.toml"\n'
        f"[broker]\nport = {port}\n[api]\nport = 0\n" + extra
    )
    return config


# The outbox epoch of the simulated devices (a real outbox makes a random one).
EPOCH = "bench001"


def vote_payload(hall_device: str, seq: int, level: int) -> bytes:
    """A valid window vote of ``hall_device`` number ``seq``."""
    now = format_time(datetime.now().astimezone())
    vote = Vote(
        id=envelope_id(hall_device, seq, epoch=EPOCH),
        seq=seq,
        ts=now,
        device=hall_device,
        channel="window",
        window=f"w{hall_device[1:3]}",
        level=level,
    )
    return encode(vote, sent=now)


def publish_votes(port: int, hall: str, count: int, *, client_id: str = "bench-pub") -> None:
    """Publish ``count`` QoS 1 votes round-robin over the bench devices, as fast as acked."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = []
    for i in range(count):
        device = DEVICES[i % len(DEVICES)]
        topic = f"hallrate/{hall}/device/{device}/vote"
        infos.append(
            client.publish(topic, vote_payload(device, i // len(DEVICES) + 1, 1 + i % 5), qos=1)
        )
    for info in infos:
        info.wait_for_publish(timeout=60)
    client.loop_stop()
    client.disconnect()


def query(database: Path, sql: str) -> list[tuple]:
    """Rows from a SQLite file, read only."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


__all__ = ["DEVICES", "publish_votes", "query", "vote_payload", "write_hall"]
