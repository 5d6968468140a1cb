"""An idle hall sleeps: with nothing happening, the agent and the hub hardly wake.

These count wake-ups, never time: the loops' own turn counters, and the
voluntary context switches of a real ``hallrate`` process (each one a sleep
that ended). The bounds are generous, several times what a sleeping process
needs and several times less than a polling loop did (the agent turned 4
times a second and its gpiozero buttons woke 60 times a second; the hub's
ingest loop turned 50 times a second).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from tests.hall import Hall, query, wait_until

IDLE_S = 3.0
# The installed command, whichever module it lives in.
CLI = [str(Path(sys.executable).with_name("hallrate")), "--log-level", "WARNING"]


def info_stored(hall: Hall, device: str) -> bool:
    """Whether the hub has stored the retained ``info`` of ``device`` (it saw it connect)."""
    rows = query(hall.database, "SELECT info FROM devices WHERE id = ?", (device,))
    return bool(rows and rows[0][0])


def test_an_idle_agent_and_hub_turn_their_loops_a_few_times(hall, start_hub, start_agent):
    hub = start_hub(hall)
    window = start_agent(hall, 1)
    wait_until(lambda: info_stored(hall, hall.device_id(1)), message="the agent's info")
    time.sleep(0.5)  # the last messages of the start: heartbeat, receipts, acknowledgements
    agent_turns, hub_turns = window.agent.turns, hub.ingest.state.turns

    time.sleep(IDLE_S)  # nothing happens: no press, no vote, no page open

    # Each loop sleeps until its next deadline (a resend, a heartbeat, a batch),
    # at most 5 s (2.5 s for the hub with this hall's 10 s keepalive).
    assert window.agent.turns - agent_turns <= 4
    assert hub.ingest.state.turns - hub_turns <= 4
    # Still alive in the watchdog's eyes, and still serving.
    assert window.agent.healthy() and hub.healthy()
    window.press(17)
    wait_until(lambda: len(hall.stored_votes()) == 1, message="a vote after the idle time")
    wait_until(lambda: window.agent.outbox.depth == 0, message="its receipt")


def wakeups(pid: int) -> int:
    """The voluntary context switches of every thread of process ``pid`` so far."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except FileNotFoundError:
            continue  # a thread that just ended
        total += int(re.search(r"voluntary_ctxt_switches:\s+(\d+)", status)[1])
    return total


def test_idle_hub_and_agent_processes_wake_a_few_times_a_second(hall):
    hub = subprocess.Popen(
        [*CLI, "hub", "--config", str(hall.hub_config())],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    agent = subprocess.Popen(
        [*CLI, "agent", "--config", str(hall.agent_config(1)), "--mock-pins"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: info_stored(hall, hall.device_id(1)), message="the agent's info")
        time.sleep(0.5)  # the last messages of the start: heartbeat, receipts, acknowledgements
        before = {process.pid: wakeups(process.pid) for process in (hub, agent)}

        time.sleep(IDLE_S)

        woke = {pid: wakeups(pid) - count for pid, count in before.items()}
        assert hub.poll() is None and agent.poll() is None
    finally:
        for process in (agent, hub):
            process.terminate()
        for process in (agent, hub):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    # About 2.5 wake-ups a second or fewer each (the main thread's 2 s watchdog
    # check, paho's 1 s loop in the agent, the loops' own 5 s turns); the
    # polling loops made 70 (agent) and 53 (hub).
    assert woke[agent.pid] <= 20 * IDLE_S
    assert woke[hub.pid] <= 20 * IDLE_S
