"""Throwaway hall CAs and certificates, made by the shipped hall-certs.sh (openssl)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "firmware_config" / "mosquitto" / "hall-certs.sh"


@dataclass(frozen=True)
class HallCA:
    """A folder holding a hall CA, its broker's certificate, and device certificates."""

    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "hall-ca.crt"

    @property
    def broker_cert(self) -> Path:
        return self.folder / "broker.crt"

    @property
    def broker_key(self) -> Path:
        return self.folder / "broker.key"

    def client(self, device: str) -> tuple[Path, Path]:
        """A client certificate and key for ``device``, made on first use."""
        cert, key = self.folder / f"{device}.crt", self.folder / f"{device}.key"
        if not cert.exists():
            _run("client", self.folder, device)
        return cert, key


def make_hall_ca(folder: Path, *, hall: str = "qinghe", names: tuple[str, ...] = ()) -> HallCA:
    """A new CA in ``folder``; with ``names``, also the broker's certificate for them."""
    assert shutil.which("openssl"), "openssl is not installed: run the tests with `make test`"
    _run("ca", folder, hall)
    if names:
        _run("broker", folder, *names)
    return HallCA(folder)


def _run(*args: object) -> None:
    subprocess.run(
        ["sh", str(SCRIPT), *map(str, args)], check=True, capture_output=True, timeout=30
    )
