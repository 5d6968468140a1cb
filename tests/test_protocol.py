"""The wire protocol: topics built and parsed in one place, envelopes validated field by field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from device_agent.errors import ProtocolError
from device_agent.protocol import (
    ENVELOPE_ID,
    MAX_PAYLOAD_BYTES,
    Receipt,
    ServiceEvent,
    Vote,
    decode_receipt,
    decode_service_event,
    decode_vote,
    encode,
    envelope_id,
)
from device_agent.topics import BoardTopic, DeviceTopic, HubTopic, ParsedTopic, Topics, check_id

DEVICE = "b01-w03"
VOTE_ID = "b01-w03-000000001042"
MISSING = object()


def vote_body(**changes: object) -> dict[str, Any]:
    """The documented example vote, with ``changes`` applied (MISSING deletes a field)."""
    body: dict[str, Any] = {
        "v": 1,
        "id": VOTE_ID,
        "seq": 1042,
        "ts": "2026-11-22T09:13:07.412+08:00",
        "sent": "2026-11-22T09:13:07.420+08:00",
        "device": DEVICE,
        "channel": "window",
        "window": "w03",
        "staff": "s0123",
        "ticket": "A017",
        "level": 4,
        "dims": None,
        "reasons": [],
        "comment": None,
        "anonymous": False,
        "flags": [],
    }
    for name, value in changes.items():
        if value is MISSING:
            del body[name]
        else:
            body[name] = value
    return body


def kiosk_body(**changes: object) -> dict[str, Any]:
    """A kiosk vote rating a staff member on the three dimensions."""
    base = vote_body(
        channel="kiosk",
        window=None,
        level=2,
        dims={"attitude": 2, "efficiency": 3, "style": 4},
        reasons=["slow", "rude"],
        comment="等了很久",
    )
    base.update(changes)
    return {k: v for k, v in base.items() if v is not MISSING}


def payload(body: object) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


# Topics


def test_topics_of_a_hall_use_the_default_base():
    topics = Topics.for_hall("b01")
    assert topics.base == "hallrate/b01"
    assert topics.device(DEVICE, DeviceTopic.VOTE) == "hallrate/b01/device/b01-w03/vote"
    assert topics.device(DEVICE, DeviceTopic.CONFIG_SET) == "hallrate/b01/device/b01-w03/config/set"
    assert topics.all_devices(DeviceTopic.RECEIPT) == "hallrate/b01/device/+/receipt"
    assert topics.board("hall-main", BoardTopic.FRAME) == "hallrate/b01/board/hall-main/frame"
    assert topics.hub(HubTopic.STATUS) == "hallrate/b01/hub/status"


def test_topics_base_comes_from_the_template():
    topics = Topics.for_hall("b01", template="/county-x/{hall_id}/")
    assert topics.base == "county-x/b01"
    assert topics.device("w01", DeviceTopic.STATUS) == "county-x/b01/device/w01/status"


@pytest.mark.parametrize("kind", list(DeviceTopic))
def test_every_device_topic_parses_back(kind: DeviceTopic):
    topics = Topics.for_hall("b01")
    assert topics.parse_device(topics.device(DEVICE, kind)) == ParsedTopic(DEVICE, kind)


@pytest.mark.parametrize(
    ("topic", "field"),
    [
        ("hallrate/b02/device/b01-w03/vote", "topic"),  # another hall
        ("hallrate/b0/device/b01-w03/vote", "topic"),
        ("hallrate/b01/board/b01-w03/frame", "topic"),
        ("hallrate/b01/device/b01-w03/votes", "topic"),
        ("hallrate/b01/device/b01-w03/vote/extra", "topic"),
        ("hallrate/b01/device/b01-w03", "topic"),
        ("hallrate/b01/device//vote", "topic device"),
        ("hallrate/b01/device/B01-W03/vote", "topic device"),
        ("hallrate/b01/device/-w03/vote", "topic device"),
    ],
)
def test_foreign_or_malformed_topics_are_refused(topic: str, field: str):
    with pytest.raises(ProtocolError) as caught:
        Topics.for_hall("b01").parse_device(topic)
    assert caught.value.field == field


def test_a_hall_whose_id_is_a_prefix_of_another_does_not_see_its_topics():
    with pytest.raises(ProtocolError, match="not a device topic"):
        Topics.for_hall("t1").parse_device(Topics.for_hall("t10").device("w01", DeviceTopic.VOTE))


@pytest.mark.parametrize("hall", ["", "B01", "b 01", "b01/x", "+", "a" * 33])
def test_invalid_hall_ids_are_refused(hall: str):
    with pytest.raises(ProtocolError) as caught:
        Topics.for_hall(hall)
    assert caught.value.field == "hall"


@pytest.mark.parametrize("template", ["+/{hall_id}", "x/#/{hall_id}", "/"])
def test_base_topic_with_wildcards_or_empty_is_refused(template: str):
    with pytest.raises(ProtocolError) as caught:
        Topics.for_hall("b01", template=template)
    assert caught.value.field == "base_topic"


@pytest.mark.parametrize("device", ["", "W01", "w01/vote", "w01+", "#", "a" * 33, 7, None])
def test_topics_are_never_built_for_invalid_device_ids(device: object):
    with pytest.raises(ProtocolError) as caught:
        Topics.for_hall("b01").device(device, DeviceTopic.VOTE)  # type: ignore[arg-type]
    assert caught.value.field == "device"


def test_id_lengths():
    assert check_id("a" * 32) == "a" * 32
    assert check_id("0") == "0"
    with pytest.raises(ProtocolError):
        check_id("a" * 33)


# Votes: the documented envelope


def test_the_documented_vote_decodes():
    vote = decode_vote(payload(vote_body()), topic_device=DEVICE)
    assert vote == Vote(
        id=VOTE_ID,
        seq=1042,
        ts="2026-11-22T09:13:07.412+08:00",
        sent="2026-11-22T09:13:07.420+08:00",
        device=DEVICE,
        channel="window",
        window="w03",
        staff="s0123",
        ticket="A017",
        level=4,
    )
    assert not vote.dissatisfied


def test_a_kiosk_vote_with_dimensions_decodes():
    vote = decode_vote(payload(kiosk_body()), topic_device=DEVICE)
    assert vote.dims == {"attitude": 2, "efficiency": 3, "style": 4}
    assert vote.reasons == ["slow", "rude"]
    assert vote.comment == "等了很久"
    assert vote.dissatisfied


def test_optional_fields_may_be_left_out():
    body = vote_body(
        sent=MISSING,
        staff=MISSING,
        ticket=MISSING,
        dims=MISSING,
        reasons=MISSING,
        comment=MISSING,
        anonymous=MISSING,
        flags=MISSING,
    )
    vote = decode_vote(payload(body))
    assert (vote.staff, vote.ticket, vote.sent, vote.reasons, vote.anonymous) == (
        None,
        None,
        None,
        [],
        False,
    )


def test_unknown_fields_are_ignored_so_additions_keep_version_1():
    vote = decode_vote(payload(vote_body(firmware="esp32-1.2", extra={"a": 1})))
    assert vote.id == VOTE_ID


def test_a_vote_survives_encoding_and_decoding():
    vote = decode_vote(payload(kiosk_body()))
    again = decode_vote(encode(vote, sent="2026-11-22T10:00:00.000+08:00"))
    assert again.sent == "2026-11-22T10:00:00.000+08:00"
    assert again == Vote(**{**{f: getattr(vote, f) for f in Vote.__slots__}, "sent": again.sent})


def test_envelope_ids_name_the_device_and_its_outbox_and_are_zero_padded():
    assert envelope_id(DEVICE, 1042, epoch="k3v9q2ma") == "b01-w03-k3v9q2ma-000000001042"
    assert envelope_id(DEVICE, 1, epoch="k3v9q2ma") < envelope_id(DEVICE, 10, epoch="k3v9q2ma")
    # The longest device id, the largest seq: still a valid id of at most 64 characters.
    longest = envelope_id("d" * 32, 2**63 - 1, epoch="k3v9q2ma")
    assert len(longest) <= 64 and ENVELOPE_ID.fullmatch(longest)


@pytest.mark.parametrize("comment", ["", "x" * 500, "满" * 500])
def test_comments_up_to_500_characters_are_accepted(comment: str):
    assert decode_vote(payload(kiosk_body(comment=comment))).comment == comment


# Votes: each bad field is named


BAD_VOTES: list[tuple[str, dict[str, Any], str | None, str]] = [
    ("id missing", vote_body(id=MISSING), "id", "must match"),
    ("id with spaces", vote_body(id="b01 w03 1"), "id", "must match"),
    ("id not a string", vote_body(id=1042), "id", "must match"),
    ("id too long", vote_body(id="a" * 65), "id", "must match"),
    ("negative seq", vote_body(seq=-1), "seq", "integer from 0 to"),
    ("seq as text", vote_body(seq="1042"), "seq", "integer from 0 to"),
    ("seq true", vote_body(seq=True), "seq", "integer from 0 to"),
    ("seq float", vote_body(seq=1.5), "seq", "integer from 0 to"),
    # Past SQLite's 64-bit integers: it once stopped the hub at every redelivery.
    ("seq of 2^63", vote_body(seq=2**63), "seq", "integer from 0 to 9007199254740991"),
    ("seq past 2^53", vote_body(seq=2**53), "seq", "integer from 0 to"),
    ("id of another device", vote_body(id="b01-w04-000000001042"), "id", "must begin with"),
    ("id without the device", vote_body(id="000000001042"), "id", "must begin with 'b01-w03-"),
    ("ts without offset", vote_body(ts="2026-11-22T09:13:07.412"), "ts", "offset"),
    ("ts not a time", vote_body(ts="yesterday"), "ts", "offset"),
    ("ts missing", vote_body(ts=MISSING), "ts", "offset"),
    ("ts as a number", vote_body(ts=1763773987), "ts", "offset"),
    ("sent without offset", vote_body(sent="2026-11-22T09:13:07"), "sent", "offset"),
    ("device differs from topic", vote_body(device="b01-w04"), "device", "differs from"),
    ("device invalid", vote_body(device="B01_W03"), "device", "must match"),
    ("device missing", vote_body(device=MISSING), "device", "must match"),
    ("channel unknown", vote_body(channel="online"), "channel", "must be one of"),
    ("channel missing", vote_body(channel=MISSING), "channel", "must be one of"),
    ("window missing on a window vote", vote_body(window=None), "window", "required"),
    ("window invalid", vote_body(window="W 3"), "window", "must match"),
    ("staff invalid", vote_body(staff="S0123"), "staff", "must match"),
    ("level 0", vote_body(level=0), "level", "from 1 to 5"),
    ("level 6", vote_body(level=6), "level", "from 1 to 5"),
    ("level true", vote_body(level=True), "level", "from 1 to 5"),
    ("level as text", vote_body(level="4"), "level", "from 1 to 5"),
    ("level float", vote_body(level=4.0), "level", "from 1 to 5"),
    ("level missing", vote_body(level=MISSING), "level", "from 1 to 5"),
    ("dims on a window vote", vote_body(dims={"attitude": 4}), "dims", "only kiosk"),
    ("kiosk without dims", kiosk_body(dims=None), "dims", "required"),
    ("kiosk dims missing a key", kiosk_body(dims={"attitude": 2, "style": 3}), "dims", "keys"),
    (
        "kiosk dims with an extra key",
        kiosk_body(dims={"attitude": 2, "efficiency": 3, "style": 4, "speed": 1}),
        "dims",
        "keys",
    ),
    ("kiosk dims not a table", kiosk_body(dims=[2, 3, 4]), "dims", "keys"),
    (
        "kiosk dim out of range",
        kiosk_body(dims={"attitude": 2, "efficiency": 6, "style": 4}),
        "dims.efficiency",
        "from 1 to 5",
    ),
    (
        "kiosk dim true",
        kiosk_body(dims={"attitude": True, "efficiency": 3, "style": 4}),
        "dims.attitude",
        "from 1 to 5",
    ),
    ("comment over 500", kiosk_body(comment="x" * 501), "comment", "at most 500"),
    ("comment not text", kiosk_body(comment=["x"]), "comment", "string"),
    ("ticket too long", vote_body(ticket="A" * 33), "ticket", "at most 32"),
    ("reasons not a list", kiosk_body(reasons="slow"), "reasons", "list"),
    ("reason code upper case", kiosk_body(reasons=["Slow"]), "reasons", "does not match"),
    ("reason code with a space", kiosk_body(reasons=["too slow"]), "reasons", "does not match"),
    ("reason code a number", kiosk_body(reasons=[3]), "reasons", "does not match"),
    ("too many reasons", kiosk_body(reasons=[f"r{i}" for i in range(17)]), "reasons", "at most"),
    ("flag code invalid", vote_body(flags=["Unsolicited!"]), "flags", "does not match"),
    ("anonymous as text", vote_body(anonymous="yes"), "anonymous", "true or false"),
    ("anonymous as 1", vote_body(anonymous=1), "anonymous", "true or false"),
    ("version 2", vote_body(v=2), "v", "unsupported version"),
    ("version missing", vote_body(v=MISSING), "v", "unsupported version"),
    ("version as text", vote_body(v="1"), "v", "unsupported version"),
    ("version true", vote_body(v=True), "v", "unsupported version"),
]


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [pytest.param(body, field, reason, id=name) for name, body, field, reason in BAD_VOTES],
)
def test_each_bad_vote_field_is_named(body: dict[str, Any], field: str, reason: str):
    with pytest.raises(ProtocolError, match=reason) as caught:
        decode_vote(payload(body), topic_device=DEVICE)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_a_rejected_vote_still_names_its_id_for_the_receipt():
    with pytest.raises(ProtocolError) as caught:
        decode_vote(payload(vote_body(level=9)), topic_device=DEVICE)
    assert caught.value.id == VOTE_ID
    with pytest.raises(ProtocolError) as caught:
        decode_vote(payload(vote_body(v=2)), topic_device=DEVICE)
    assert caught.value.id == VOTE_ID
    with pytest.raises(ProtocolError) as caught:
        decode_vote(payload(vote_body(id="not valid!")), topic_device=DEVICE)
    assert caught.value.id is None


def test_without_a_topic_device_any_valid_device_is_accepted():
    body = vote_body(device="b01-w04", id="b01-w04-000000001042")
    assert decode_vote(payload(body)).device == "b01-w04"


# Payloads as a whole


def padded(size: int) -> bytes:
    """A valid vote padded with an unknown field to exactly ``size`` bytes."""
    base = payload(vote_body(pad=""))
    data = payload(vote_body(pad="x" * (size - len(base))))
    assert len(data) == size
    return data


def test_a_payload_of_exactly_8_kib_is_accepted():
    assert decode_vote(padded(MAX_PAYLOAD_BYTES)).id == VOTE_ID


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(padded(MAX_PAYLOAD_BYTES + 1), "exceeds 8192", id="one byte over 8 KiB"),
        pytest.param(b"x" * 100_000, "exceeds 8192", id="oversize garbage"),
        pytest.param(b'{"v": 1, "id": ', "not valid JSON", id="truncated JSON"),
        pytest.param(b"", "not valid JSON", id="empty"),
        pytest.param(b"\xff\xfe{}", "not valid JSON", id="not UTF-8"),
        pytest.param(b"[1, 2]", "not a JSON object but list", id="a list"),
        pytest.param(b'"vote"', "not a JSON object but str", id="a string"),
        pytest.param(b"null", "not a JSON object but NoneType", id="null"),
    ],
)
def test_payloads_that_are_not_an_envelope_are_refused(data: bytes, reason: str):
    for decode in (decode_vote, decode_service_event, decode_receipt):
        with pytest.raises(ProtocolError, match=reason) as caught:
            decode(data)
        assert caught.value.field is None
        assert caught.value.id is None


# Service events


def event_body(**changes: object) -> dict[str, Any]:
    body: dict[str, Any] = {
        "v": 1,
        "id": "b01-w03-000000001043",
        "seq": 1043,
        "ts": "2026-11-22T09:14:00.000+08:00",
        "device": DEVICE,
        "window": "w03",
        "staff": "s0123",
        "ticket": "A018",
        "event": "start",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not MISSING}


@pytest.mark.parametrize("event", ["start", "end", "sign_in", "sign_out", "pause", "resume"])
def test_service_events_decode(event: str):
    decoded = decode_service_event(payload(event_body(event=event)), topic_device=DEVICE)
    assert decoded == ServiceEvent(
        id="b01-w03-000000001043",
        seq=1043,
        ts="2026-11-22T09:14:00.000+08:00",
        device=DEVICE,
        event=event,  # type: ignore[arg-type]
        window="w03",
        staff="s0123",
        ticket="A018",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(event_body(event="lunch"), "event", id="unknown event"),
        pytest.param(event_body(event=MISSING), "event", id="event missing"),
        pytest.param(event_body(device="b01-w04"), "device", id="device mismatch"),
        pytest.param(event_body(seq=-5), "seq", id="negative seq"),
        pytest.param(event_body(ts="2026-11-22 09:14"), "ts", id="ts without offset"),
        pytest.param(event_body(staff="Bob"), "staff", id="staff invalid"),
        pytest.param(event_body(v=2), "v", id="version 2"),
    ],
)
def test_each_bad_service_event_field_is_named(body: dict[str, Any], field: str):
    with pytest.raises(ProtocolError) as caught:
        decode_service_event(payload(body), topic_device=DEVICE)
    assert caught.value.field == field


# Receipts


def test_receipts_decode():
    assert decode_receipt(b'{"v":1,"ids":["a-1","a-2"],"status":"stored"}') == Receipt(
        ids=["a-1", "a-2"], status="stored"
    )
    rejected = decode_receipt(
        payload({"v": 1, "ids": ["a-1"], "status": "rejected", "reasons": {"a-1": "level: bad"}})
    )
    assert rejected.reasons == {"a-1": "level: bad"}


def test_receipts_survive_encoding():
    stored = Receipt(ids=["a-1"], status="stored")
    assert b"reasons" not in encode(stored)
    assert decode_receipt(encode(stored)) == stored
    rejected = Receipt(ids=["a-1"], status="rejected", reasons={"a-1": "unknown device"})
    assert decode_receipt(encode(rejected)) == rejected


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"v": 1, "ids": ["a"], "status": "ok"}, "status", id="status unknown"),
        pytest.param({"v": 1, "ids": ["a"]}, "status", id="status missing"),
        pytest.param({"v": 1, "ids": "a", "status": "stored"}, "ids", id="ids not a list"),
        pytest.param({"v": 1, "ids": [1], "status": "stored"}, "ids", id="ids not strings"),
        pytest.param({"v": 1, "status": "stored"}, "ids", id="ids missing"),
        pytest.param(
            {"v": 1, "ids": ["a"], "status": "rejected", "reasons": ["x"]},
            "reasons",
            id="reasons not an object",
        ),
        pytest.param({"v": 2, "ids": ["a"], "status": "stored"}, "v", id="version 2"),
    ],
)
def test_each_bad_receipt_field_is_named(body: dict[str, Any], field: str):
    with pytest.raises(ProtocolError) as caught:
        decode_receipt(payload(body))
    assert caught.value.field == field
