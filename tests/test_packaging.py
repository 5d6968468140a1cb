"""hallrate as operators install it: a wheel in a fresh environment, far from the checkout.

An editable install reads templates, static files and the sample hall from
the source tree, so it hides whatever the wheel forgot. Here the wheel is
built from a copy of the tree, installed into a new virtual environment in a
temporary folder, and run from there: ``hallrate demo`` must serve the
kiosk's pages and the LED wall, and ``hallrate sample-hall`` must copy out
the sample hall.

No network is used: the wheel is built without build isolation, and the new
environment sees this one's third-party packages through a ``.pth`` file
(which adds a folder to ``sys.path`` but runs none of that folder's own
``.pth`` files, so this checkout's editable hallrate stays out).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest

from hallrate.sample import SAMPLE_HALL
from tests.test_demo import STOP_BOUND_S, Demo

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("device_agent", "hallrate", "hub", "kiosk")
# What the code reads at run time, besides its modules.
SHIPPED = {".py", ".html", ".svg", ".css", ".js", ".toml"}
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.egg-info", "build", "dist", "data", ".*_cache", ".hypothesis"
)
pytestmark = pytest.mark.slow


def run(*command: str | Path, cwd: Path, env: dict[str, str], timeout: float = 180) -> str:
    """Run a command to completion; its stdout, or a failure that shows its stderr."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def fetch(url: str) -> tuple[str, str]:
    """The content type and text of a page that must answer 200."""
    try:
        with urlopen(url, timeout=10) as response:
            assert response.status == 200, url
            return response.headers["Content-Type"], response.read().decode("utf-8")
    except HTTPError as exc:
        raise AssertionError(f"{url} answered {exc.code}") from None


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A wheel of this tree installed into a fresh venv: its paths, and the environment to use."""
    base = tmp_path_factory.mktemp("packaging")
    # Built from a copy, so the build leaves no build/ or egg-info in the checkout.
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    pip = (sys.executable, "-m", "pip")
    run(*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", base / "dist",
        source, cwd=base, env=env)  # fmt: skip
    (wheel,) = (base / "dist").glob("hallrate-*.whl")

    venv = base / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=base, env=env)
    python = venv / "bin" / "python"
    purelib = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                       cwd=base, env=env).strip())  # fmt: skip
    (purelib / "test-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(*pip, "--python", python, "install", "--no-deps", "--no-index", wheel, cwd=base, env=env)
    return {"base": base, "wheel": wheel, "venv": venv, "python": python, "env": env}


def test_the_wheel_holds_every_module_template_static_file_and_the_sample_hall(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    wanted = {
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in (ROOT / package).rglob("*")
        if path.suffix in SHIPPED and "__pycache__" not in path.parts
    }
    wanted |= {f"hallrate/sample_hall/{path.name}" for path in SAMPLE_HALL.glob("*.toml")}
    assert len(wanted) > 100
    assert wanted - names == set()


def test_the_installed_hallrate_is_the_one_imported(installed):
    where = run(
        installed["python"],
        "-c",
        "import device_agent, hallrate, hub, kiosk\n"
        "print(device_agent.__file__, hallrate.__file__, hub.__file__, kiosk.__file__)",
        cwd=installed["base"],
        env=installed["env"],
    )
    for path in where.split():
        assert Path(path).is_relative_to(installed["venv"]), path


def test_sample_hall_copies_the_sample_hall_out(installed):
    hallrate = installed["venv"] / "bin" / "hallrate"
    out = installed["base"] / "etc-hallrate"
    run(hallrate, "sample-hall", out, cwd=installed["base"], env=installed["env"])
    copied = sorted(p.name for p in out.iterdir())
    assert copied == ["agent-w01.toml", "directory.toml", "hub.toml", "kiosk-01.toml"]
    checkout = ROOT / "firmware_config" / "sample-hall"
    for name in copied:
        assert (out / name).read_bytes() == (checkout / name).read_bytes()

    # A second copy would overwrite an operator's edits: refused, nothing touched.
    (out / "hub.toml").write_text("# edited\n")
    again = subprocess.run(
        [hallrate, "sample-hall", out],
        cwd=installed["base"],
        env=installed["env"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 1
    assert "exist already" in again.stderr
    assert (out / "hub.toml").read_text() == "# edited\n"


def test_the_installed_demo_serves_the_kiosk_and_the_wall(installed):
    hallrate = installed["venv"] / "bin" / "hallrate"
    demo = Demo(
        installed["base"] / "demo",
        "--broker", "mosquitto", "--windows", "2", "--rate", "60", "--seed", "3",
        # A bound, should this test die before it stops the demo.
        "--duration", "300",
        command=[str(hallrate)],
        cwd=installed["base"],
        env=installed["env"],
    )  # fmt: skip
    try:
        addresses = demo.addresses()
        kiosk = addresses["kiosk"]

        kind, home = fetch(kiosk + "/")
        assert kind.startswith("text/html")
        assert "青禾县政务服务中心" in home
        _, profile = fetch(kiosk + "/staff/s001")
        assert "林晓梅" in profile and "婚姻登记员" in profile
        _, form = fetch(kiosk + "/rate/staff/s001")
        assert "林晓梅" in form and 'name="csrf_token"' in form
        kind, avatar = fetch(kiosk + "/staff/s001/photo")
        assert kind.startswith("image/svg+xml") and "林" in avatar
        kind, css = fetch(kiosk + "/static/kiosk.css")
        assert kind.startswith("text/css") and "{" in css

        _, wall = fetch(addresses["wall"])
        assert "大厅主屏" in wall
        wall_css = next(part.split('"')[0] for part in wall.split('href="')[1:] if ".css" in part)
        kind, css = fetch(addresses["hub"] + wall_css)
        assert kind.startswith("text/css") and "{" in css

        demo.process.send_signal(signal.SIGINT)
        assert demo.wait(timeout=STOP_BOUND_S) == 0, demo.stderr
        assert "Traceback" not in demo.stderr
    finally:
        demo.close()
