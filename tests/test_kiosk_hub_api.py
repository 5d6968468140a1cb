"""The hub's side of the kiosks: the public directory, photos, complaints stored and looked up."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from device_agent.claim import hash_password
from device_agent.config import OutboxSettings
from device_agent.mqtt import BrokerSettings
from device_agent.protocol import Complaint, ServiceEvent
from device_agent.sender import SenderThread
from device_agent.topics import Topics
from hub.service import HubService
from kiosk.directory import parse_directory
from tests.hall import get_json, query, wait_until
from tests.kiosk_hall import KioskHall, start_hub, tiny_png

NOW = "2026-11-22T09:00:00.000+08:00"


@pytest.fixture
def hall(tmp_path: Path, mosquitto) -> KioskHall:
    return KioskHall(tmp_path / "hall", mosquitto.port)


@pytest.fixture
def hub(hall: KioskHall) -> Iterator[HubService]:
    hub = start_hub(hall)
    yield hub
    hub.stop()


@pytest.fixture
def device(hall: KioskHall, tmp_path: Path) -> Iterator[Callable[[str], SenderThread]]:
    """Start a device's outbox sender (a kiosk's, or a window's) on the hall's broker."""
    senders: list[SenderThread] = []

    def start(device_id: str) -> SenderThread:
        sender = SenderThread(
            device=device_id,
            topics=Topics.for_hall(hall.id),
            broker=BrokerSettings(port=hall.port, reconnect_max_s=2, keepalive_s=10),
            outbox=OutboxSettings(path=tmp_path / f"{device_id}.sqlite", resend_after_s=2),
        )
        sender.start()
        senders.append(sender)
        return sender

    yield start
    for sender in senders:
        sender.stop()


def file_complaint(sender: SenderThread, code: str, password: str, **changes: object) -> str:
    def build(seq: int, ident: str) -> Complaint:
        fields = {
            "id": ident,
            "seq": seq,
            "ts": NOW,
            "device": sender.device,
            "code": code,
            "secret": hash_password(password, iterations=1000),
            "category": "attitude",
            "text": "【态度生硬冷漠】",
            "anonymous": False,
            "contact": "13900000000",
        }
        fields.update(changes)
        return Complaint(**fields)  # type: ignore[arg-type]

    return sender.submit("complaint", build).id


def look_up(hub: HubService, body: object) -> tuple[int, dict]:
    request = Request(
        f"{hub.api_url}/api/v1/complaints/lookup",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def test_the_kiosk_reads_the_served_directory_into_the_hubs_own_model(hub):
    """One model at both ends: the kiosk's copy is what the hub read, less what stays home."""
    own = hub.config.directory
    copy = parse_directory(get_json(f"{hub.api_url}/api/v1/directory"))
    assert (copy.hall, copy.name) == (own.hall, own.name)
    assert copy.departments == own.departments
    assert copy.windows == own.windows
    assert copy.service_items == own.service_items
    # A photo is a file at the hub and the digest the hub served it under in the copy.
    assert own.staff["s01"].photo.endswith("s01.png")
    assert copy.staff["s01"].photo is not None and len(copy.staff["s01"].photo) == 32
    assert {k: replace(s, photo=None) for k, s in copy.staff.items()} == {
        k: replace(s, photo=None) for k, s in own.staff.items()
    }
    assert copy.devices == {} and own.devices
    assert set(copy.announcements) < set(own.announcements)  # the expired one stays home
    assert copy.duty["w01"] == ("s01",)  # nobody signed in: whom the directory seats there
    assert [p.id for p in copy.on_duty("w01")] == ["s01"]


def test_the_directory_shows_only_public_fields(hub):
    body = get_json(f"{hub.api_url}/api/v1/directory")
    assert "devices" not in body
    assert body["hall"]["name"] == "测试大厅"
    person = next(s for s in body["staff"] if s["id"] == "s01")
    assert set(person) == {
        "id",
        "name",
        "gender",
        "post",
        "duties",
        "department",
        "window",
        "photo",
    }
    assert person["photo"] is not None
    assert [a["id"] for a in body["announcements"]] == ["holiday"]  # the expired one is gone
    assert body["service_items"][0]["materials"] == ["身份证", "户口簿"]


def test_an_unchanged_directory_is_not_sent_again(hub):
    version = get_json(f"{hub.api_url}/api/v1/directory")["version"]
    request = Request(f"{hub.api_url}/api/v1/directory", headers={"If-None-Match": f'"{version}"'})
    with pytest.raises(HTTPError) as caught:
        urlopen(request, timeout=5)
    caught.value.close()
    assert caught.value.code == 304


def test_a_staff_photo_is_served_and_a_missing_one_is_404(hub):
    with urlopen(f"{hub.api_url}/api/v1/staff/s01/photo", timeout=5) as response:
        assert response.headers["Content-Type"] == "image/png"
        assert response.read() == tiny_png()
    with pytest.raises(HTTPError) as caught:
        urlopen(f"{hub.api_url}/api/v1/staff/s02/photo", timeout=5)
    caught.value.close()
    assert caught.value.code == 404


def test_who_is_on_duty_follows_the_windows_sign_in_and_out(hub, hall, device):
    def on_duty() -> list[str]:
        windows = get_json(f"{hub.api_url}/api/v1/directory")["windows"]
        return next(w["on_duty"] for w in windows if w["id"] == "w01")

    assert on_duty() == ["s01"]  # nobody signed in today: whom the directory seats there
    window = device(hall.device_id(1))
    now = "2099-01-01T09:00:00.000+08:00"  # today or later, as the hall's clock goes

    def event(kind: str, staff: str) -> Callable[[int, str], ServiceEvent]:
        return lambda seq, ident: ServiceEvent(
            id=ident, seq=seq, ts=now, device=window.device, event=kind, window="w01", staff=staff
        )

    window.submit("service", event("sign_in", "s02"))
    wait_until(lambda: on_duty() == ["s02"], message="s02 on duty at w01")
    window.submit("service", event("sign_out", "s02"))
    wait_until(lambda: on_duty() == [], message="nobody on duty at w01")


def test_a_complaint_is_stored_and_looked_up_without_its_contact(hub, hall, device):
    kiosk = device(hall.kiosk_id(1))
    ident = file_complaint(kiosk, "12345674", "246813")

    stored = wait_until(hall.complaints, message="the complaint at the hub")
    assert [(r[0], r[1], r[5], r[7]) for r in stored] == [
        (ident, "12345674", "13900000000", "received")
    ]
    wait_until(lambda: kiosk.depth == 0, message="the receipt clearing the kiosk's outbox")

    status, body = look_up(hub, {"code": "12345674", "password": "246813"})
    assert status == 200
    assert body == {
        "status": "received",
        "category": "attitude",
        "filed_at": "2026-11-22T01:00:00.000+00:00",
        "answer": None,
        "updated_at": body["updated_at"],
        # Issue 14: its case, registered on the day it was filed, due 7 working days later.
        "case": {
            "id": body["case"]["id"],
            "status": "received",
            "step": "registered",
            "step_name": "已受理 Registered",
            "steps": [{"step": "registered", "name": "已受理 Registered", "on": "2026-11-22"}],
            "due_on": "2026-12-01",
            "answer": None,
            "answered_on": None,
            "updated_at": body["updated_at"],
        },
    }
    assert body["updated_at"].endswith("+00:00")
    assert "13900000000" not in json.dumps(body)
    assert look_up(hub, {"code": "12345674", "password": "246814"})[0] == 404
    assert look_up(hub, {"code": "99999997", "password": "246813"})[0] == 404
    assert look_up(hub, {"code": 12345674})[0] == 400


def test_guessing_a_password_is_stopped_per_code(hub, hall, device):
    kiosk = device(hall.kiosk_id(1))
    file_complaint(kiosk, "12345674", "246813", anonymous=True, contact=None)
    wait_until(hall.complaints, message="the complaint at the hub")
    assert hall.complaints()[0][5] is None  # anonymous: no contact stored

    answers = [look_up(hub, {"code": "12345674", "password": f"00000{n}"})[0] for n in range(5)]
    assert answers == [404] * 5
    # Even the right password is refused now, for this code only.
    assert look_up(hub, {"code": "12345674", "password": "246813"})[0] == 429
    assert look_up(hub, {"code": "55555553", "password": "246813"})[0] == 404


def test_two_complaints_sharing_a_code_are_told_apart_by_password(hub, hall, device):
    kiosk = device(hall.kiosk_id(1))
    file_complaint(kiosk, "12345674", "111111", category="attitude")
    file_complaint(kiosk, "12345674", "222222", category="efficiency")
    wait_until(lambda: len(hall.complaints()) == 2, message="both complaints at the hub")
    assert look_up(hub, {"code": "12345674", "password": "222222"})[1]["category"] == "efficiency"
    assert look_up(hub, {"code": "12345674", "password": "111111"})[1]["category"] == "attitude"


def test_only_a_kiosk_files_complaints(hub, hall, device):
    window = device(hall.device_id(1))
    ident = file_complaint(window, "12345674", "246813")
    quarantined = wait_until(hall.quarantined, message="the complaint in quarantine")
    assert quarantined[0][2:4] == (ident, "device: only a kiosk files complaints")
    wait_until(lambda: window.outbox.rejected == 1, message="the rejected receipt")
    assert hall.complaints() == []


def test_a_late_resent_sign_in_does_not_undo_the_sign_out_after_it(hub, hall, device):
    def on_duty() -> list[str]:
        windows = get_json(f"{hub.api_url}/api/v1/directory")["windows"]
        return next(w["on_duty"] for w in windows if w["id"] == "w02")

    window = device(hall.device_id(2))

    def event(kind: str, ts: str) -> Callable[[int, str], ServiceEvent]:
        return lambda seq, ident: ServiceEvent(
            id=ident, seq=seq, ts=ts, device=window.device, event=kind, window="w02", staff="s01"
        )

    # The sign-out (10:00) reaches the hub first; the sign-in before it (09:00)
    # comes later, as a device's resend of a record the broker lost would.
    window.submit("service", event("sign_out", "2099-01-01T10:00:00.000+08:00"))
    wait_until(lambda: on_duty() == [], message="nobody on duty at w02")
    window.submit("service", event("sign_in", "2099-01-01T09:00:00.000+08:00"))
    stored = "SELECT count(*) FROM service_events WHERE window = 'w02'"
    wait_until(lambda: query(hall.database, stored) == [(2,)], message="both events stored")
    assert on_duty() == []
