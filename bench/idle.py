"""What an idle hall costs: CPU seconds and wake-ups per idle minute of each process.

Starts a real Mosquitto, a ``hallrate hub`` and a ``hallrate agent`` (mock
pins) configured like the sample hall (``firmware_config/sample-hall``: the
hub with its web wall board, the agent of window 1), and a kiosk with
``--kiosk``. Once they have settled, nothing happens for ``--seconds``: no
press, no vote, no page open. The CPU time each process used meanwhile (user
plus system, from ``/proc/<pid>/stat``, counted in 10 ms clock ticks; and the
nanosecond run time of its threads from ``/proc/<pid>/task/*/schedstat``,
which sees what ticks round away) and its threads' voluntary context
switches (each one a sleep that ended: a wake-up) are printed per idle
minute, thread by thread with ``--threads``. The hub is measured twice, with
the sample hall's wall board and without any board, so the two costs separate;
``--wall`` keeps the wall page's event stream open meanwhile, as the hall's
screen would (its page rotation is then work the hub does while idle).

The telemetry heartbeat (every 30 s) and the MQTT keepalive pings are real
work an idle hall still does. The last line is ``key=value`` pairs.
Run: ``.venv/bin/python bench/idle.py`` (Linux only: it reads ``/proc``).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.request import urlopen

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hallrate.broker import MosquittoBroker, free_port, wait_for_port
from hallrate.sample import SAMPLE_HALL

TICKS = os.sysconf("SC_CLK_TCK")
HALLRATE = Path(sys.executable).with_name("hallrate")


@dataclass(frozen=True, slots=True)
class Usage:
    """A process's CPU seconds so far and each thread's wake-ups (voluntary switches)."""

    cpu_s: float
    wakeups: dict[int, int]
    names: dict[int, str]
    run_s: dict[int, float]  # each live thread's run time (schedstat)


def usage(pid: int) -> Usage:
    """Read ``pid``'s CPU time and its threads' voluntary context switches from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat(5); the split starts at field 3.
    cpu_s = (int(fields[11]) + int(fields[12])) / TICKS
    wakeups: dict[int, int] = {}
    names: dict[int, str] = {}
    run_s: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
            run_ns = int((task / "schedstat").read_text().split()[0])
        except FileNotFoundError:
            continue  # a thread that ended meanwhile
        tid = int(task.name)
        run_s[tid] = run_ns / 1e9
        wakeups[tid] = int(re.search(r"voluntary_ctxt_switches:\s+(\d+)", status)[1])
        names[tid] = re.search(r"Name:\s+(.*)", status)[1]
    return Usage(cpu_s, wakeups, names, run_s)


@dataclass(frozen=True, slots=True)
class Idle:
    """One process's cost over an idle stretch, per minute."""

    name: str
    cpu_s_per_min: float
    run_s_per_min: float
    wakeups_per_min: float
    # (thread, wake-ups per minute, CPU-s per minute by schedstat), most awake first
    threads: list[tuple[str, float, float]]


def measure(processes: dict[str, subprocess.Popen[bytes]], seconds: float) -> list[Idle]:
    """Each process's CPU seconds and wake-ups per minute over ``seconds`` of idleness."""
    before = {name: usage(p.pid) for name, p in processes.items()}
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    after = {name: usage(p.pid) for name, p in processes.items()}
    per_min = 60 / elapsed
    results = []
    for name in processes:
        b, a = before[name], after[name]
        threads = sorted(
            (
                (
                    f"{a.names[tid]}[{tid}]",
                    (count - b.wakeups.get(tid, 0)) * per_min,
                    (a.run_s[tid] - b.run_s.get(tid, 0.0)) * per_min,
                )
                for tid, count in a.wakeups.items()
            ),
            key=lambda item: -item[1],
        )
        results.append(
            Idle(
                name,
                (a.cpu_s - b.cpu_s) * per_min,
                sum(run for _, _, run in threads),
                sum(rate for _, rate, _ in threads),
                threads,
            )
        )
    return results


def sample_config(name: str, replace: dict[str, str], *, drop: tuple[str, ...] = ()) -> str:
    """The sample hall's file ``name`` with keys set to other values and keys left out.

    ``replace`` maps a line's start (``"port = 1883"``) to the whole new line;
    a line starting with one of ``drop`` is left out.
    """
    lines = []
    for line in (SAMPLE_HALL / name).read_text().splitlines():
        if line.startswith(drop):
            continue
        starts = [start for start in replace if line.startswith(start)]
        lines.append(replace[starts[0]] if starts else line)
    return "\n".join(lines) + "\n"


def without_boards(text: str) -> str:
    """A hub file with its ``[[boards]]`` tables (and their comments) cut out."""
    return re.sub(r"\n# LED boards.*?(?=\n\[rules\])", "\n", text, flags=re.S)


def write_hall(work: Path, broker_port: int, *, boards: bool) -> dict[str, Path]:
    """The sample hall's files for a broker on ``broker_port`` without passwords or TLS."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "directory.toml").write_text((SAMPLE_HALL / "directory.toml").read_text())
    secrets = ("username", "password_file", "tls", "ca_file")
    hub = sample_config(
        "hub.toml",
        {
            "database =": f'database = "{work / "hub.sqlite"}"',
            "port = 1883": f"port = {broker_port}",
            "port = 8080": "port = 0",
        },
        drop=secrets,
    )
    paths = {"hub": work / ("hub.toml" if boards else "hub-no-boards.toml")}
    paths["hub"].write_text(hub if boards else without_boards(hub))
    paths["agent"] = work / "agent.toml"
    paths["agent"].write_text(
        sample_config(
            "agent-w01.toml",
            {
                "host =": 'host = "127.0.0.1"',
                "port = 8883": f"port = {broker_port}",
                "path =": f'path = "{work / "outbox.sqlite"}"',
            },
            drop=secrets,
        )
    )
    paths["kiosk"] = work / "kiosk.toml"
    paths["kiosk"].write_text(
        sample_config(
            "kiosk-01.toml",
            {
                'host = "192.168.50.10"': 'host = "127.0.0.1"',
                "port = 8883": f"port = {broker_port}",
                "port = 8090": f"port = {free_port()}",
                "data_dir =": f'data_dir = "{work / "kiosk"}"',
                "path =": f'path = "{work / "kiosk" / "outbox.sqlite"}"',
            },
            drop=secrets,
        )
    )
    return paths


def start(args: list[str], *, log: Path) -> subprocess.Popen[bytes]:
    """``hallrate ARGS`` in its own process, its output in ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(HALLRATE), "--log-level", "WARNING", *args], stdout=out, stderr=out
        )


def hub_url(log: Path, *, started: int = 1, timeout: float = 30) -> str:
    """The API address the ``started``-th hub printed in ``log``, once it serves."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.findall(r"hub: (http://\S+)", log.read_text())
        if len(found) >= started:
            return found[started - 1]
        time.sleep(0.1)
    raise RuntimeError(f"the hub did not start; see {log}")


def watch_wall(url: str, board: str, pages: list[float]) -> threading.Thread:
    """Read the wall page's event stream in a thread, noting when each page arrives."""

    def read() -> None:
        try:
            with urlopen(f"{url}/boards/{board}/events", timeout=120) as stream:
                for line in stream:
                    if line.startswith(b"event: page"):
                        pages.append(time.monotonic())
        except OSError:
            pass  # the hub stopped

    thread = threading.Thread(target=read, name="wall", daemon=True)
    thread.start()
    return thread


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def report(results: list[Idle], *, threads: bool) -> None:
    for r in results:
        print(
            f"{r.name:16} {r.cpu_s_per_min:6.3f} CPU-s per idle minute "
            f"({r.run_s_per_min:.4f} by schedstat), {r.wakeups_per_min:5.0f} wake-ups per minute"
        )
        if threads:
            for thread, rate, run in r.threads:
                print(f"    {thread:24} {rate:5.0f} wake-ups, {run:.4f} CPU-s per minute")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="idle time measured")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds before measuring")
    parser.add_argument("--kiosk", action="store_true", help="also measure a kiosk")
    parser.add_argument("--threads", action="store_true", help="wake-ups thread by thread")
    parser.add_argument("--wall", action="store_true", help="keep the wall page's stream open")
    args = parser.parse_args(argv)
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="hallrate-idle-") as tmp:
        work = Path(tmp)
        log = work / "processes.log"
        with MosquittoBroker(work / "broker") as broker:
            files = write_hall(work / "hall", broker.port, boards=True)
            bare = write_hall(work / "hall", broker.port, boards=False)["hub"]
            processes = {"hub (wall board)": start(["hub", "--config", str(files["hub"])], log=log)}
            try:
                url = hub_url(log)
                wait_for_port("127.0.0.1", int(url.rsplit(":", 1)[1]))
                processes["agent"] = start(
                    ["agent", "--config", str(files["agent"]), "--mock-pins"], log=log
                )
                if args.kiosk:
                    kiosk = files["kiosk"].read_text().replace("http://192.168.50.10:8080", url)
                    files["kiosk"].write_text(kiosk)
                    processes["kiosk"] = start(["kiosk", "--config", str(files["kiosk"])], log=log)
                pages: list[float] = []
                if args.wall:
                    watch_wall(url, "hall-main", pages)
                time.sleep(args.settle)
                measured_from = time.monotonic()
                first = measure(processes, args.seconds)
                report(first, threads=args.threads)
                if args.wall:
                    shown = sum(1 for at in pages if at >= measured_from)
                    per_min = shown * 60 / args.seconds
                    print(f"wall page: {per_min:.0f} pages pushed per idle minute")
                    figures["wall_pages_per_min"] = per_min
                stop(processes.pop("hub (wall board)"))
                processes["hub (no board)"] = start(["hub", "--config", str(bare)], log=log)
                hub_url(log, started=2)
                time.sleep(args.settle)
                second = [r for r in measure(processes, args.seconds) if r.name.startswith("hub")]
                report(second, threads=args.threads)
            finally:
                for process in processes.values():
                    stop(process)
        for r in first + second:
            key = r.name.split()[0] + ("_board" if "wall" in r.name else "")
            figures[f"{key}_cpu_s_per_min"] = r.cpu_s_per_min
            figures[f"{key}_run_s_per_min"] = r.run_s_per_min
            figures[f"{key}_wakeups_per_min"] = r.wakeups_per_min
        errors = [line for line in log.read_text().splitlines() if "ERROR" in line]
    for line in errors:
        print(line)
    print(" ".join(f"{key}={value:.4f}" for key, value in figures.items()))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
