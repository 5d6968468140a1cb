"""The sample hall with its lobby kiosk, running on this machine for benchmarks and screenshots.

A Mosquitto on a free loopback port, ``hallrate hub`` and ``hallrate kiosk``
each in a process of its own, all configured around the sample hall's
directory (``firmware_config/sample-hall``), in a scratch folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hallrate.broker import MosquittoBroker, free_port, wait_for_port  # noqa: E402

SAMPLE_DIRECTORY = ROOT / "firmware_config" / "sample-hall" / "directory.toml"
HALLRATE = Path(sys.executable).with_name("hallrate")


class SampleKioskHall:
    """Broker, hub and kiosk of the sample hall; use as a context manager."""

    def __init__(self, workdir: Path, *, kiosk_threads: int = 4, idle_reset_s: float = 600) -> None:
        self.workdir = workdir
        self.kiosk_threads = kiosk_threads
        self.idle_reset_s = idle_reset_s
        self.broker = MosquittoBroker(workdir / "broker")
        self.hub_port = free_port()
        self.kiosk_port = free_port()
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def hub_url(self) -> str:
        return f"http://127.0.0.1:{self.hub_port}"

    @property
    def kiosk_url(self) -> str:
        return f"http://127.0.0.1:{self.kiosk_port}"

    @property
    def database(self) -> Path:
        return self.workdir / "hub.sqlite"

    def start(self) -> None:
        self.broker.start()
        broker = (
            f'[broker]\nhost = "127.0.0.1"\nport = {self.broker.port}\nprotocol = "5"\n'
            "reconnect_max_s = 2\n"
        )
        hub = self.workdir / "hub.toml"
        hub.write_text(
            f'[hub]\nhall = "qinghe"\ndatabase = "{self.database}"\n'
            f'directory = "{SAMPLE_DIRECTORY}"\n\n{broker}\n[api]\nport = {self.hub_port}\n'
        )
        kiosk = self.workdir / "kiosk.toml"
        kiosk.write_text(
            f'[kiosk]\nid = "kiosk-01"\nhall = "qinghe"\nhub_url = "{self.hub_url}"\n'
            f'data_dir = "{self.workdir / "kiosk"}"\nidle_reset_s = {self.idle_reset_s}\n'
            "thanks_s = 60\n\n"
            f"[http]\nport = {self.kiosk_port}\nthreads = {self.kiosk_threads}\n\n"
            f"[limits]\nsubmissions_per_minute = 10000\n\n{broker}"
        )
        log = (self.workdir / "services.log").open("ab")
        for command in (["hub", "--config", str(hub)], ["kiosk", "--config", str(kiosk)]):
            self.processes.append(
                subprocess.Popen(
                    [str(HALLRATE), "--log-level", "WARNING", *command], stdout=log, stderr=log
                )
            )
        wait_for_port("127.0.0.1", self.hub_port, timeout=30)
        wait_for_port("127.0.0.1", self.kiosk_port, timeout=30)
        self._wait_for_sync()

    def _wait_for_sync(self, timeout: float = 30.0) -> None:
        """Until the kiosk shows the hall's name: its first directory sync is done."""
        name = json.loads(urlopen(f"{self.hub_url}/api/v1/directory", timeout=5).read())["hall"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            page = urlopen(self.kiosk_url, timeout=5).read().decode()
            if name["name"] in page:
                return
            time.sleep(0.2)
        raise TimeoutError("the kiosk did not sync the directory")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        self.broker.stop()

    def __enter__(self) -> SampleKioskHall:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
