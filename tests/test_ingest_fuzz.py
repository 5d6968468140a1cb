"""Fuzz: whatever arrives on a device's topics, the hub stays up and accounts for every message.

Hypothesis draws envelopes that start valid and are then bent: fields
dropped or replaced by arbitrary JSON (huge and negative numbers, nesting,
text where numbers go), ids shared between messages so resends repeat and
conflict, with and without a ``filter``, plus a few raw payloads that are
not JSON at all. They go through a real broker to a real hub. After each
example the hub must be alive and healthy, and every message must have
ended stored, repeated (a resend, possibly a conflicting one) or
quarantined: the three counters move by exactly the number sent.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device_agent.claim import hash_password
from device_agent.topics import DeviceTopic, Topics
from tests.hall import get_json, wait_until
from tests.kiosk_hall import KioskHall

KINDS = (DeviceTopic.VOTE, DeviceTopic.SERVICE, DeviceTopic.COMPLAINT)
DEVICES = ("w01-eval", "w02-eval", "kiosk-01", "nobody")
FIELDS = (
    "v", "id", "seq", "ts", "sent", "device", "channel", "window", "staff", "ticket", "level",
    "dims", "reasons", "comment", "anonymous", "flags", "filter", "service", "event", "code",
    "secret", "category", "text", "contact", "department",
)  # fmt: skip
SECRET = hash_password("123456", iterations=1000)

edge_numbers = st.sampled_from(
    [0, 1, 5, -1, 2**31, 2**53 - 1, 2**53, 2**63 - 1, 2**63, -(2**63), 2**64, 10**40, 1.5, 1e308]
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | edge_numbers
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
special_values = st.sampled_from(
    [
        {"rule": "one_per_service", "version": 1},
        {"rule": "one_per_service", "version": 10**20},
        {"attitude": 1, "efficiency": 2, "style": 3},
        "w01",
        "w02",
        "s01",
        "ghost",
        "2090-01-01T00:00:00+08:00",
        "2020-01-01T00:00:00+08:00",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-12:00",
        "kiosk",
        "window",
        "sign_in",
    ]
)
message = st.tuples(
    st.sampled_from(KINDS),
    st.sampled_from(DEVICES),
    st.integers(1, 6),  # the record number: small, so ids repeat across messages
    # Numbers at the edges in the fields that hold numbers, often: they once stopped the hub.
    st.dictionaries(st.sampled_from(("seq", "level")), edge_numbers, max_size=1),
    # A resend of a vote that a device rule filtered, at another level: a conflict.
    st.one_of(
        st.just({}),
        st.fixed_dictionaries(
            {
                "filter": st.just({"rule": "one_per_service", "version": 1}),
                "level": st.integers(1, 5),
            }
        ),
    ),
    st.dictionaries(st.sampled_from(FIELDS), json_values | special_values, max_size=3),
    st.lists(st.sampled_from(FIELDS), max_size=2),
)
raw_payloads = st.sampled_from(
    [b"", b"\xff\xfe", b"null", b"[]", b'{"v": 1}', b"[" * 5000 + b"]" * 5000, b'{"v":1,"id":']
)


def envelope(kind: DeviceTopic, device: str, seq: int) -> dict:
    """A valid envelope of ``kind`` from ``device``, as the protocol describes it."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    base = {"v": 1, "id": f"{device}-{seq:012d}", "seq": seq, "ts": now, "sent": now}
    base["device"] = device
    if kind == DeviceTopic.VOTE:
        if device.startswith("kiosk"):
            dims = {"attitude": 2, "efficiency": 3, "style": 4}
            return {**base, "channel": "kiosk", "staff": "s01", "level": 2, "dims": dims}
        return {**base, "channel": "window", "window": device[:3], "staff": None, "level": 4}
    if kind == DeviceTopic.SERVICE:
        return {**base, "event": "start", "window": device[:3], "staff": "s02", "ticket": "A1"}
    return {
        **base,
        "code": "12345674",
        "secret": SECRET,
        "category": "attitude",
        "text": "窗口无人",
        "contact": "13800000000",
    }


@pytest.fixture
def fuzz_hub(tmp_path, mosquitto, start_hub, third_party):
    hall = KioskHall(tmp_path / "hall", mosquitto.port, kiosks=1)
    hub = start_hub(hall)
    topics = Topics.for_hall(hall.id)
    firmware = third_party(mosquitto.port)
    firmware.wait_for_hub(topics)
    return hub, topics, firmware


def accounted(hub) -> int:
    state = hub.ingest.state
    return state.stored + state.repeated + state.quarantined


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    messages=st.lists(message, min_size=1, max_size=12),
    raws=st.lists(st.tuples(st.sampled_from(KINDS), raw_payloads), max_size=2),
)
def test_every_message_ends_stored_repeated_or_quarantined_and_the_hub_stays_up(
    fuzz_hub, messages, raws
):
    hub, topics, firmware = fuzz_hub
    before = accounted(hub)
    for kind, device, seq, numbers, resend, changes, dropped in messages:
        body = {**envelope(kind, device, seq), **numbers, **resend, **changes}
        for name in dropped:
            body.pop(name, None)
        firmware.publish(topics.device(device, kind), json.dumps(body).encode())
    for kind, payload in raws:
        firmware.publish(topics.device("w01-eval", kind), payload)
    sent = len(messages) + len(raws)

    wait_until(
        lambda: accounted(hub) - before == sent,
        timeout=30,
        message=f"{sent} messages stored, repeated or quarantined",
    )
    assert hub.healthy()
    assert get_json(f"{hub.api_url}/healthz")["status"] == "ok"
