"""Envelopes of the wire protocol, version 1, as checked by hand before issue 11 (frozen copy).

bench/decode.py compares it with the declared models of device_agent/protocol.py.


Every payload a device or the hub receives goes through :func:`decode_vote`,
:func:`decode_service_event`, :func:`decode_complaint` or
:func:`decode_receipt`, which either return a
typed envelope or raise :class:`~device_agent.errors.ProtocolError` naming the
field and the reason. ``docs/protocol.md`` is the public description of the
same rules; keep the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

import orjson

from device_agent.claim import SECRET
from device_agent.errors import ProtocolError
from device_agent.topics import check_id

VERSION = 1
MAX_PAYLOAD_BYTES = 8 * 1024
MAX_COMMENT_CHARS = 500
MAX_TICKET_CHARS = 32
MAX_COMPLAINT_CHARS = 2000
MAX_CONTACT_CHARS = 64
MAX_LIST_ITEMS = 16
# The largest record number: every JSON reader holds it exactly (2^53 - 1), and it
# is far inside SQLite's 64-bit integers, so a stored seq can never overflow.
MAX_SEQ = 2**53 - 1
ENVELOPE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
CODE = re.compile(r"[a-z0-9][a-z0-9_:.-]{0,47}")
CLAIM_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{3,31}")

CHANNELS = ("window", "kiosk")
DIMENSIONS = ("attitude", "efficiency", "style")
SERVICE_EVENTS = ("start", "end", "sign_in", "sign_out", "pause", "resume")
LEVELS = {
    5: "very satisfied",
    4: "satisfied",
    3: "basically satisfied",
    2: "dissatisfied",
    1: "very dissatisfied",
}
DISSATISFIED = frozenset({1, 2})
OMITTED_WHEN_NONE = ("filter", "service")


def envelope_id(device: str, seq: int, *, epoch: str) -> str:
    """The id a device gives its record number ``seq`` in the outbox named ``epoch``.

    ``epoch`` is random, made once per outbox file, so a replaced card or a
    reflashed device, whose numbers start again at 1, never repeats an id.
    """
    return f"{device}-{epoch}-{seq:012d}"


@dataclass(frozen=True, slots=True)
class VoteFilter:
    """The anti-manipulation rule (and its version) that kept a press from counting."""

    rule: str
    version: int


@dataclass(frozen=True, slots=True)
class Vote:
    """One rating event, as it travels from a device to the hub."""

    id: str
    seq: int
    ts: str
    device: str
    channel: Literal["window", "kiosk"]
    level: int
    window: str | None = None
    staff: str | None = None
    ticket: str | None = None
    dims: dict[str, int] | None = None
    reasons: list[str] = field(default_factory=list)
    comment: str | None = None
    anonymous: bool = False
    flags: list[str] = field(default_factory=list)
    sent: str | None = None
    v: int = VERSION
    # A filtered press: kept and stored by the hub, never counted.
    filter: VoteFilter | None = None
    # The id of the ``start`` service event of the service this vote rates.
    service: str | None = None

    @property
    def counted(self) -> bool:
        """False for a press an anti-manipulation rule filtered."""
        return self.filter is None

    @property
    def dissatisfied(self) -> bool:
        """True for levels 2 and 1, the votes that count toward warnings."""
        return self.level in DISSATISFIED


@dataclass(frozen=True, slots=True)
class ServiceEvent:
    """A service starting or ending, or staff signing in or out, at a window."""

    id: str
    seq: int
    ts: str
    device: str
    event: Literal["start", "end", "sign_in", "sign_out", "pause", "resume"]
    window: str | None = None
    staff: str | None = None
    ticket: str | None = None
    sent: str | None = None
    v: int = VERSION
    # The id of the service's ``start`` event (on its ``start`` and ``end`` events).
    service: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceCommand:
    """An order to a window device (from the queue system or the hub) to change its service."""

    event: Literal["start", "end", "sign_in", "sign_out", "pause", "resume"]
    ticket: str | None = None
    staff: str | None = None
    v: int = VERSION


@dataclass(frozen=True, slots=True)
class Receipt:
    """The hub's answer naming the records it stored or rejected."""

    ids: list[str]
    status: Literal["stored", "rejected"]
    reasons: dict[str, str] = field(default_factory=dict)
    v: int = VERSION


@dataclass(frozen=True, slots=True)
class Complaint:
    """A citizen's complaint, filed at a kiosk and looked up later by code and password."""

    id: str
    seq: int
    ts: str
    device: str
    code: str
    secret: str
    category: str
    text: str
    staff: str | None = None
    department: str | None = None
    anonymous: bool = False
    contact: str | None = None
    sent: str | None = None
    v: int = VERSION


def as_dict(envelope: Vote | ServiceEvent | Complaint | Receipt) -> dict[str, Any]:
    """An envelope's fields as a plain dict (shallow: cheaper than ``dataclasses.asdict``)."""
    return {f.name: getattr(envelope, f.name) for f in fields(envelope)}


def encode(
    envelope: Vote | ServiceEvent | Complaint | Receipt, *, sent: str | None = None
) -> bytes:
    """Serialise an envelope; ``sent`` (the time of this copy) replaces the stored one."""
    body = as_dict(envelope)
    if sent is not None:
        body["sent"] = sent
    if isinstance(envelope, Receipt) and not envelope.reasons:
        del body["reasons"]
    # Optional fields added after the first release are left out when unset,
    # so a plain vote reads exactly as version 1 first defined it.
    for name in OMITTED_WHEN_NONE:
        if name in body and body[name] is None:
            del body[name]
    return orjson.dumps(body)


def load_object(payload: bytes) -> dict[str, Any]:
    """Parse a payload into a JSON object, enforcing the size and version rules."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ProtocolError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ProtocolError(f"not a JSON object but {type(body).__name__}")
    ident = body.get("id")
    ident = ident if isinstance(ident, str) and ENVELOPE_ID.fullmatch(ident) else None
    if body.get("v") != VERSION or isinstance(body.get("v"), bool):
        raise ProtocolError(f"unsupported version {body.get('v')!r}", field="v", id=ident)
    return body


def decode_vote(payload: bytes, *, topic_device: str | None = None) -> Vote:
    """Validate a vote payload received on the topic of ``topic_device``."""
    body = load_object(payload)
    fields = _Fields(body)
    ident, seq, ts, sent, device = fields.envelope(topic_device)
    channel = fields.choice("channel", CHANNELS)
    window = fields.optional_id("window")
    if channel == "window" and window is None:
        raise fields.error("window", "required for channel 'window'")
    level = fields.level("level")
    dims = fields.dims(channel)
    return Vote(
        id=ident,
        seq=seq,
        ts=ts,
        sent=sent,
        device=device,
        channel=channel,
        window=window,
        staff=fields.optional_id("staff"),
        ticket=fields.optional_text("ticket", MAX_TICKET_CHARS),
        level=level,
        dims=dims,
        reasons=fields.codes("reasons"),
        comment=fields.optional_text("comment", MAX_COMMENT_CHARS),
        anonymous=fields.boolean("anonymous"),
        flags=fields.codes("flags"),
        filter=fields.vote_filter("filter"),
        service=fields.optional_envelope_id("service"),
    )


def decode_service_event(payload: bytes, *, topic_device: str | None = None) -> ServiceEvent:
    """Validate a service event payload received on the topic of ``topic_device``."""
    body = load_object(payload)
    fields = _Fields(body)
    ident, seq, ts, sent, device = fields.envelope(topic_device)
    return ServiceEvent(
        id=ident,
        seq=seq,
        ts=ts,
        sent=sent,
        device=device,
        event=fields.choice("event", SERVICE_EVENTS),
        window=fields.optional_id("window"),
        staff=fields.optional_id("staff"),
        ticket=fields.optional_text("ticket", MAX_TICKET_CHARS),
        service=fields.optional_envelope_id("service"),
    )


def decode_service_command(payload: bytes) -> ServiceCommand:
    """Validate a service command sent to a device (``service/command``)."""
    body = load_object(payload)
    fields = _Fields(body)
    return ServiceCommand(
        event=fields.choice("event", SERVICE_EVENTS),
        ticket=fields.optional_text("ticket", MAX_TICKET_CHARS),
        staff=fields.optional_id("staff"),
    )


def decode_complaint(payload: bytes, *, topic_device: str | None = None) -> Complaint:
    """Validate a complaint payload received on the topic of ``topic_device``."""
    body = load_object(payload)
    fields = _Fields(body)
    ident, seq, ts, sent, device = fields.envelope(topic_device)
    code = body.get("code")
    if not isinstance(code, str) or not CLAIM_CODE.fullmatch(code):
        raise fields.error("code", f"must match {CLAIM_CODE.pattern}")
    secret = body.get("secret")
    if not isinstance(secret, str) or not SECRET.fullmatch(secret):
        raise fields.error("secret", "must be a salted password hash (pbkdf2_sha256$n$salt$hash)")
    category = body.get("category")
    if not isinstance(category, str) or not CODE.fullmatch(category):
        raise fields.error("category", f"must match {CODE.pattern}")
    text = fields.optional_text("text", MAX_COMPLAINT_CHARS)
    if text is None:
        raise fields.error("text", "required (it may be empty)")
    anonymous = fields.boolean("anonymous")
    contact = fields.optional_text("contact", MAX_CONTACT_CHARS)
    if anonymous and contact is not None:
        raise fields.error("contact", "an anonymous complaint carries no contact")
    return Complaint(
        id=ident,
        seq=seq,
        ts=ts,
        sent=sent,
        device=device,
        code=code,
        secret=secret,
        category=category,
        text=text,
        staff=fields.optional_id("staff"),
        department=fields.optional_id("department"),
        anonymous=anonymous,
        contact=contact or None,
    )


def decode_receipt(payload: bytes) -> Receipt:
    """Validate a receipt payload sent by the hub."""
    body = load_object(payload)
    fields = _Fields(body)
    status = fields.choice("status", ("stored", "rejected"))
    ids = body.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise fields.error("ids", "must be a list of strings")
    reasons = body.get("reasons") or {}
    if not isinstance(reasons, dict):
        raise fields.error("reasons", "must be an object of id to reason")
    return Receipt(ids=ids, status=status, reasons={str(k): str(v) for k, v in reasons.items()})


def parse_time(value: str) -> datetime:
    """Parse an ISO 8601 time that carries its UTC offset."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("has no UTC offset")
    return moment


def format_time(moment: datetime) -> str:
    """Format an aware time as the protocol writes it (milliseconds, offset)."""
    return moment.isoformat(timespec="milliseconds")


class _Fields:
    """Reads typed fields out of one decoded envelope, raising on the first bad one."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body
        ident = body.get("id")
        self.id = ident if isinstance(ident, str) and ENVELOPE_ID.fullmatch(ident) else None

    def error(self, name: str, reason: str) -> ProtocolError:
        return ProtocolError(reason, field=name, id=self.id)

    def envelope(self, topic_device: str | None) -> tuple[str, int, str, str | None, str]:
        if self.id is None:
            raise self.error("id", f"must match {ENVELOPE_ID.pattern}")
        seq = self.body.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SEQ:
            raise self.error("seq", f"must be an integer from 0 to {MAX_SEQ}")
        ts = self.time("ts", required=True)
        sent = self.time("sent", required=False)
        try:
            device = check_id(self.body.get("device"), field="device")
        except ProtocolError as exc:
            raise self.error("device", exc.reason) from None
        if topic_device is not None and device != topic_device:
            raise self.error("device", f"{device!r} differs from the topic's {topic_device!r}")
        if not self.id.startswith(f"{device}-"):
            # Ids are unique forever only if each device draws from its own space.
            raise self.error("id", f"must begin with {device + '-'!r}, the device's id and '-'")
        assert ts is not None
        return self.id, seq, ts, sent, device

    def time(self, name: str, *, required: bool) -> str | None:
        value = self.body.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str):
            raise self.error(name, "must be an ISO 8601 time with offset")
        try:
            parse_time(value)
        except ValueError as exc:
            raise self.error(name, f"must be an ISO 8601 time with offset ({exc})") from None
        return value

    def choice(self, name: str, allowed: tuple[str, ...]) -> Any:
        value = self.body.get(name)
        if value not in allowed:
            raise self.error(name, f"must be one of {', '.join(allowed)}, got {value!r}"[:160])
        return value

    def level(self, name: str) -> int:
        value = self.body.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value not in LEVELS:
            raise self.error(name, f"must be an integer from 1 to 5, got {value!r}"[:120])
        return value

    def dims(self, channel: str) -> dict[str, int] | None:
        value = self.body.get("dims")
        if value is None:
            if channel == "kiosk":
                raise self.error("dims", "required for channel 'kiosk'")
            return None
        if channel != "kiosk":
            raise self.error("dims", "only kiosk votes carry dimensions")
        if not isinstance(value, dict) or set(value) != set(DIMENSIONS):
            raise self.error("dims", f"must have exactly the keys {', '.join(DIMENSIONS)}")
        for key in DIMENSIONS:
            self.level_of(f"dims.{key}", value[key])
        return {key: value[key] for key in DIMENSIONS}

    def level_of(self, name: str, value: object) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value not in LEVELS:
            raise self.error(name, f"must be an integer from 1 to 5, got {value!r}"[:120])

    def optional_id(self, name: str) -> str | None:
        value = self.body.get(name)
        if value is None:
            return None
        try:
            return check_id(value, field=name)
        except ProtocolError as exc:
            raise self.error(name, exc.reason) from None

    def optional_text(self, name: str, limit: int) -> str | None:
        value = self.body.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(name, "must be a string or null")
        if len(value) > limit:
            raise self.error(name, f"has {len(value)} characters, at most {limit} allowed")
        return value

    def codes(self, name: str) -> list[str]:
        value = self.body.get(name, [])
        if value is None:
            return []
        if not isinstance(value, list) or len(value) > MAX_LIST_ITEMS:
            raise self.error(name, f"must be a list of at most {MAX_LIST_ITEMS} codes")
        for item in value:
            if not isinstance(item, str) or not CODE.fullmatch(item):
                raise self.error(name, f"{item!r} does not match {CODE.pattern}"[:120])
        return list(value)

    def boolean(self, name: str) -> bool:
        value = self.body.get(name, False)
        if not isinstance(value, bool):
            raise self.error(name, "must be true or false")
        return value

    def vote_filter(self, name: str) -> VoteFilter | None:
        value = self.body.get(name)
        if value is None:
            return None
        if not isinstance(value, dict) or set(value) != {"rule", "version"}:
            raise self.error(name, 'must be {"rule": code, "version": integer} or null')
        rule, version = value["rule"], value["version"]
        if not isinstance(rule, str) or not CODE.fullmatch(rule):
            raise self.error(f"{name}.rule", f"{rule!r} does not match {CODE.pattern}"[:120])
        if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= 9999:
            raise self.error(
                f"{name}.version", f"must be an integer from 1 to 9999, got {version!r}"[:120]
            )
        return VoteFilter(rule, version)

    def optional_envelope_id(self, name: str) -> str | None:
        value = self.body.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not ENVELOPE_ID.fullmatch(value):
            raise self.error(name, f"must match {ENVELOPE_ID.pattern}")
        return value
