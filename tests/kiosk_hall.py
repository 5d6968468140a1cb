"""A test hall with kiosks: the directory adds kiosk devices, service items, notices, a photo.

One staff member is named like a script (``<script>…``) to show every page
escapes what the directory says.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.config import load_hub_config
from hub.service import HubService
from kiosk.config import load_kiosk_config
from kiosk.service import KioskService
from tests.hall import Hall, query, wait_until

HOSTILE_NAME = "<script>alert('x')</script>"


def tiny_png(rgb: tuple[int, int, int] = (200, 120, 60), size: int = 8) -> bytes:
    """A valid PNG of one colour, made here so no image file ships with the tests."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * size))
        + chunk(b"IEND", b"")
    )


@dataclass
class KioskHall(Hall):
    """A :class:`Hall` whose directory also lists kiosks and the public information."""

    kiosks: int = 2

    def kiosk_id(self, n: int) -> str:
        return f"kiosk-{n:02d}"

    def directory_text(self) -> str:
        (self.root / "photos").mkdir(parents=True, exist_ok=True)
        (self.root / "photos" / "s01.png").write_bytes(tiny_png())
        lines = [super().directory_text()]
        lines.append(
            f'[[staff]]\nid = "s99"\nname = "{HOSTILE_NAME}"\ndepartment = "civil"\n'
            'post = "<b>bold</b> post"\nduties = "<img src=x onerror=alert(1)>"\n'
        )
        lines.append('[[departments]]\nid = "tax"\nname = "税务"\n')
        for n in range(1, self.kiosks + 1):
            lines.append(f'[[devices]]\nid = "{self.kiosk_id(n)}"\nkind = "kiosk"\n')
        lines.append(
            '[[service_items]]\nid = "marriage"\nname = "结婚登记"\ndepartment = "civil"\n'
            'materials = ["身份证", "户口簿"]\ntime_limit = "即时办结"\nfees = "免费"\n'
            'windows = ["w01"]\n'
        )
        lines.append(
            '[[announcements]]\nid = "holiday"\ntitle = "节假日安排"\n'
            'body = "第一段\\n第二段"\npublished = 2020-01-01\n'
        )
        lines.append(
            '[[announcements]]\nid = "expired"\ntitle = "已过期的公告"\nbody = "x"\n'
            "published = 2020-01-01\nuntil = 2020-01-02\n"
        )
        text = "\n".join(lines)
        # Staff s01 gets a photo: the directory says where, relative to itself.
        return text.replace(
            'name = "职员1"\n', 'name = "职员1"\ngender = "女"\nphoto = "photos/s01.png"\n', 1
        )

    def kiosk_config(
        self,
        n: int = 1,
        *,
        hub_url: str,
        idle_reset_s: float = 600,
        extra: str = "",
        resend_after_s: float = 2.0,
        sync_interval_s: float = 5,
    ) -> Path:
        path = self.root / f"kiosk-{n}.toml"
        path.write_text(
            f'[kiosk]\nid = "{self.kiosk_id(n)}"\nhall = "{self.id}"\nhub_url = "{hub_url}"\n'
            f'data_dir = "kiosk-{n}"\nidle_reset_s = {idle_reset_s}\n'
            f"sync_interval_s = {sync_interval_s}\nthanks_s = 30\n{extra}\n"
            "[http]\nport = 0\n\n"
            f'[broker]\nhost = "127.0.0.1"\nport = {self.port}\nprotocol = "{self.protocol}"\n'
            "reconnect_max_s = 2\nkeepalive_s = 10\n\n"
            f"[outbox]\nresend_after_s = {resend_after_s}\n"
        )
        return path

    def kiosk_votes(self) -> list[tuple]:
        """The kiosk votes in the hub's database, as (staff, level, dims, anonymous, ticket)."""
        return query(
            self.database,
            "SELECT staff, level, dims, anonymous, ticket, reasons, window FROM votes"
            " WHERE channel = 'kiosk' ORDER BY rowid",
        )

    def complaints(self) -> list[tuple]:
        """Complaints in the hub's database, as (id, code, category, text, anonymous, contact)."""
        return query(
            self.database,
            "SELECT id, code, category, text, anonymous, contact, secret, status FROM complaints"
            " ORDER BY rowid",
        )


def start_hub(hall: KioskHall, *, api_port: int = 0) -> HubService:
    """Start the hall's hub in this process."""
    hub = HubService(load_hub_config(hall.hub_config(api_port=api_port)))
    hub.start()
    return hub


def start_kiosk(hall: KioskHall, n: int = 1, *, hub_url: str, **options: Any) -> KioskService:
    """Start kiosk ``n`` in this process and wait for its first directory sync."""
    kiosk = KioskService(load_kiosk_config(hall.kiosk_config(n, hub_url=hub_url, **options)))
    kiosk.start()
    try:
        wait_until(lambda: not kiosk.directory.current.empty, message="the first directory sync")
    except AssertionError:
        kiosk.stop()
        raise
    return kiosk
