"""The complaint envelope, claim codes and password hashes; the directory's public parts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from device_agent.claim import (
    format_claim_code,
    hash_password,
    is_claim_code,
    new_claim_code,
    password_matches,
)
from device_agent.errors import ConfigError, ProtocolError
from device_agent.protocol import MAX_PAYLOAD_BYTES, Complaint, decode_complaint, encode
from hub.directory import load_directory


def complaint(**changes: object) -> Complaint:
    fields = {
        "id": "kiosk-01-000000000007",
        "seq": 7,
        "ts": "2026-11-22T09:13:07.412+08:00",
        "device": "kiosk-01",
        "code": "12345674",
        "secret": hash_password("246813", iterations=1000),
        "category": "attitude",
        "text": "【态度生硬冷漠】",
        "staff": "s001",
        "department": "civil",
        "anonymous": False,
        "contact": "13900000000",
    }
    fields.update(changes)
    return Complaint(**fields)  # type: ignore[arg-type]


def test_a_complaint_survives_the_wire():
    sent = complaint()
    assert decode_complaint(encode(sent), topic_device="kiosk-01") == sent


def test_the_longest_complaint_in_chinese_fits_a_payload():
    longest = complaint(text="办" * 2000)
    payload = encode(longest, sent="2026-11-22T09:13:08.000+08:00")
    assert len(payload) < MAX_PAYLOAD_BYTES
    assert decode_complaint(payload).text == "办" * 2000


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"anonymous": True}, "contact"),  # anonymous, yet with a phone number
        ({"text": "x" * 2001}, "text"),
        ({"secret": "246813"}, "secret"),  # the password itself never travels
        ({"code": "12 34"}, "code"),
        ({"category": "Bad Category"}, "category"),
        ({"staff": "<script>"}, "staff"),
    ],
)
def test_a_bad_complaint_is_refused_naming_the_field(changes, field):
    with pytest.raises(ProtocolError) as caught:
        decode_complaint(encode(complaint(**changes)))
    assert caught.value.field == field
    assert caught.value.id == "kiosk-01-000000000007"


def test_a_complaint_from_another_device_than_its_topic_is_refused():
    with pytest.raises(ProtocolError, match="differs from the topic"):
        decode_complaint(encode(complaint()), topic_device="kiosk-02")


def test_an_anonymous_complaint_carries_no_contact_field_value():
    body = json.loads(encode(complaint(anonymous=True, contact=None)))
    assert body["contact"] is None and body["anonymous"] is True


def test_claim_codes_catch_every_mistyped_digit():
    for _ in range(20):
        code = new_claim_code()
        assert is_claim_code(code)
        for position in range(len(code)):
            for digit in "0123456789":
                if digit != code[position]:
                    typo = code[:position] + digit + code[position + 1 :]
                    assert not is_claim_code(typo)
    assert format_claim_code("12345674") == "1234 5674"


def test_the_password_is_kept_only_as_a_salted_hash():
    first, second = hash_password("246813"), hash_password("246813")
    assert "246813" not in first
    assert first != second  # a salt of its own each time
    assert password_matches("246813", first) and password_matches("246813", second)
    assert not password_matches("246814", first)
    assert not password_matches("246813", "not a hash")


def test_the_directory_lists_service_items_and_announcements(tmp_path: Path):
    path = tmp_path / "directory.toml"
    path.write_text(
        '[hall]\nid = "h1"\nname = "大厅"\n'
        '[[departments]]\nid = "civil"\nname = "民政"\n'
        '[[windows]]\nid = "w01"\nname = "1号窗口"\ndepartment = "civil"\n'
        '[[service_items]]\nid = "marriage"\nname = "结婚登记"\ndepartment = "civil"\n'
        'materials = ["身份证"]\nwindows = ["w01"]\nfees = "免费"\n'
        '[[announcements]]\nid = "a1"\ntitle = "通知"\nbody = "正文"\npublished = 2026-01-05\n'
        'until = "2026-02-01"\n'
    )
    directory = load_directory(path)
    item = directory.service_items["marriage"]
    assert (item.materials, item.windows, item.fees, item.time_limit) == (
        ("身份证",),
        ("w01",),
        "免费",
        None,
    )
    notice = directory.announcements["a1"]
    assert (notice.published.isoformat(), notice.until.isoformat()) == ("2026-01-05", "2026-02-01")


def test_every_problem_of_the_public_parts_is_reported(tmp_path: Path):
    path = tmp_path / "directory.toml"
    path.write_text(
        '[hall]\nid = "h1"\n'
        '[[departments]]\nid = "civil"\nname = "民政"\n'
        '[[service_items]]\nid = "x"\nname = "事项"\ndepartment = "nowhere"\n'
        'windows = ["w99"]\nmaterials = [1]\n'
        '[[announcements]]\nid = "a1"\ntitle = "通知"\npublished = "soon"\n'
        '[[announcements]]\nid = "a2"\ntitle = "通知"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_directory(path)
    problems = "\n".join(caught.value.problems)
    assert "service_items[0].department: unknown department 'nowhere'" in problems
    assert "service_items[0].windows: unknown window 'w99'" in problems
    assert "service_items[0].materials[0]: must be a string, got an integer" in problems
    assert "announcements[0].published: must be a date" in problems
    assert "announcements[1].published: is required" in problems
