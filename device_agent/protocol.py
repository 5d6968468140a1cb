"""Envelopes of the wire protocol, version 1: votes, service events, complaints, receipts.

Each envelope is declared once, below, as a typed dataclass whose field types
carry the rules (patterns, ranges, lengths, choices) as pydantic constraints.
Every payload a device or the hub receives goes through :func:`decode_vote`,
:func:`decode_service_event`, :func:`decode_complaint` or
:func:`decode_receipt`: pydantic validates the JSON bytes in its compiled core
straight into the dataclass, and either a typed envelope comes back or
:class:`~device_agent.errors.ProtocolError` names every bad field with its
reason, the first one first. Building an envelope in Python (a device making
its vote) does not validate: the rules apply to what arrives on the wire.
``docs/protocol.md`` is the public description of the same rules; keep the
two in step.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

import orjson
import pydantic_core
from pydantic import AfterValidator, ConfigDict, Field, TypeAdapter, ValidationError, with_config
from pydantic import model_validator as _model_validator
from pydantic_core import ErrorDetails

# pydantic reads TypedDicts from typing_extensions only, before Python 3.12.
from typing_extensions import TypedDict

from device_agent.claim import SECRET
from device_agent.errors import ProtocolError
from device_agent.topics import ID_PATTERN

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
MAX_FILTER_VERSION = 9999
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
OMITTED_WHEN_NONE = ("filter", "service", "item")
# Every problem of a payload is named, within this many characters (a receipt carries it).
MAX_REASON_CHARS = 1000


def envelope_id(device: str, seq: int, *, epoch: str) -> str:
    """The id a device gives its record number ``seq`` in the outbox named ``epoch``.

    ``epoch`` is random, made once per outbox file, so a replaced card or a
    reflashed device, whose numbers start again at 1, never repeats an id.
    """
    return f"{device}-{epoch}-{seq:012d}"


# The field types. Each carries its rule twice over: as pydantic constraints, which
# the compiled validator checks, and as a Rule, which words a refusal for people.


class Rule:
    """How a field's refusal reads: ``text``, with the value it got when ``got``."""

    __slots__ = ("got", "limit", "text")

    def __init__(self, text: str, *, got: bool = False, limit: int = 120) -> None:
        self.text = text
        self.got = got
        self.limit = limit

    def reason(self, error: ErrorDetails) -> str:
        if not self.got:
            return self.text
        value = None if error["type"] == "missing" else error["input"]
        return f"{self.text}, got {value!r}"[: self.limit]


class TextRule(Rule):
    """A free text field: a string of at most ``chars`` characters."""

    __slots__ = ("chars", "required")

    def __init__(self, chars: int, *, required: bool = False) -> None:
        super().__init__("must be a string or null")
        self.chars = chars
        self.required = required

    def reason(self, error: ErrorDetails) -> str:
        value = error["input"]
        if error["type"] == "missing" or (self.required and value is None):
            return "required (it may be empty)"
        if error["type"] == "string_too_long" and isinstance(value, str):
            return f"has {len(value)} characters, at most {self.chars} allowed"
        return self.text


class TimeRule(Rule):
    """A time: ISO 8601 text with a UTC offset, as :func:`parse_time` reads it."""

    def reason(self, error: ErrorDetails) -> str:
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, ValueError):
            return f"{self.text} ({cause})"
        return self.text


class CodesRule(Rule):
    """A list of at most MAX_LIST_ITEMS codes (or null, read as empty)."""

    def reason(self, error: ErrorDetails) -> str:
        if len(error["loc"]) > 1:  # one item of the list
            return f"{error['input']!r} does not match {CODE.pattern}"[:120]
        return self.text


def _anchored(pattern: re.Pattern[str]) -> str:
    """``pattern`` for pydantic's (Rust) regex engine, matching the whole text like fullmatch."""
    return f"^(?:{pattern.pattern})$"


def _time(value: str) -> str:
    parse_time(value)
    return value


_ID_RULE = Rule(f"must match {ID_PATTERN.pattern}", got=True)
_LEVEL_RULE = Rule("must be an integer from 1 to 5", got=True)


class VersionRule(Rule):
    """The version: 1, the only one this code speaks (required on the wire)."""

    def reason(self, error: ErrorDetails) -> str:
        value = None if error["type"] == "missing" else error["input"]
        return f"unsupported version {value!r}"[:120]


Version = Annotated[int, Field(ge=VERSION, le=VERSION), VersionRule("")]
EnvelopeId = Annotated[
    str, Field(pattern=_anchored(ENVELOPE_ID)), Rule(f"must match {ENVELOPE_ID.pattern}")
]
Seq = Annotated[int, Field(ge=0, le=MAX_SEQ), Rule(f"must be an integer from 0 to {MAX_SEQ}")]
Time = Annotated[str, AfterValidator(_time), TimeRule("must be an ISO 8601 time with offset")]
Id = Annotated[str, Field(pattern=_anchored(ID_PATTERN)), _ID_RULE]
Level = Annotated[int, Field(ge=1, le=5), _LEVEL_RULE]
Code = Annotated[str, Field(pattern=_anchored(CODE))]
Codes = Annotated[
    list[Code],
    Field(max_length=MAX_LIST_ITEMS),
    CodesRule(f"must be a list of at most {MAX_LIST_ITEMS} codes"),
]
Flag = Annotated[bool, Rule("must be true or false")]
Ticket = Annotated[str, Field(max_length=MAX_TICKET_CHARS), TextRule(MAX_TICKET_CHARS)]
Event = Annotated[
    Literal["start", "end", "sign_in", "sign_out", "pause", "resume"],
    Rule(f"must be one of {', '.join(SERVICE_EVENTS)}", got=True, limit=160),
]

# Ints are ints and booleans booleans (no "4", 4.0 or true for a level); unknown
# fields are ignored, so additions keep version 1.
_WIRE = ConfigDict(strict=True, extra="ignore")


@with_config(ConfigDict(strict=True, extra="forbid"))
class Dims(TypedDict):
    """A kiosk vote's levels on the three dimensions: exactly these keys."""

    attitude: Level
    efficiency: Level
    style: Level


@dataclass(frozen=True, slots=True)
class VoteFilter:
    """The anti-manipulation rule (and its version) that kept a press from counting."""

    __pydantic_config__ = ConfigDict(strict=True, extra="forbid")

    rule: Annotated[str, Field(pattern=_anchored(CODE))]
    version: Annotated[int, Field(ge=1, le=MAX_FILTER_VERSION)]


def _check_envelope(
    envelope: Vote | ServiceEvent | Complaint, context: object
) -> Iterator[tuple[str, str]]:
    """The problems of an envelope whose fields are each valid: device and id."""
    device = envelope.device
    topic_device = context.get("topic_device") if isinstance(context, dict) else None
    if topic_device is not None and device != topic_device:
        yield "device", f"{device!r} differs from the topic's {topic_device!r}"
        device = topic_device
    if not envelope.id.startswith(f"{device}-"):
        # Ids are unique forever only if each device draws from its own space.
        yield "id", f"must begin with {device + '-'!r}, the device's id and '-'"


def _refuse(envelope: Vote | ServiceEvent | Complaint, problems: list[tuple[str, str]]) -> None:
    if problems:
        (name, reason), *more = problems
        raise ProtocolError(reason, field=name, id=envelope.id, more=list(more))


@dataclass(frozen=True, slots=True)
class Vote:
    """One rating event, as it travels from a device to the hub."""

    __pydantic_config__ = _WIRE

    id: EnvelopeId
    seq: Seq
    ts: Time
    device: Id
    channel: Annotated[
        Literal["window", "kiosk"],
        Rule(f"must be one of {', '.join(CHANNELS)}", got=True, limit=160),
    ]
    level: Level
    window: Id | None = None
    staff: Id | None = None
    ticket: Ticket | None = None
    dims: Annotated[Dims | None, Rule(f"must have exactly the keys {', '.join(DIMENSIONS)}")] = None
    reasons: Codes | None = field(default_factory=list)
    comment: Annotated[
        str | None, Field(max_length=MAX_COMMENT_CHARS), TextRule(MAX_COMMENT_CHARS)
    ] = None
    anonymous: Flag = False
    flags: Codes | None = field(default_factory=list)
    sent: Time | None = None
    v: Version = VERSION
    # A filtered press: kept and stored by the hub, never counted.
    filter: Annotated[
        VoteFilter | None, Rule('must be {"rule": code, "version": integer} or null')
    ] = None
    # The id of the ``start`` service event of the service this vote rates.
    service: EnvelopeId | None = None

    @_model_validator(mode="after")
    def _whole(self, info: Any) -> Vote:
        """The rules between fields, once each field is valid on its own."""
        problems = list(_check_envelope(self, info.context))
        if self.channel == "window" and self.window is None:
            problems.append(("window", "required for channel 'window'"))
        if self.channel == "kiosk" and self.dims is None:
            problems.append(("dims", "required for channel 'kiosk'"))
        if self.channel != "kiosk" and self.dims is not None:
            problems.append(("dims", "only kiosk votes carry dimensions"))
        _refuse(self, problems)
        # null stands for an empty list on the wire
        if self.reasons is None:
            object.__setattr__(self, "reasons", [])
        if self.flags is None:
            object.__setattr__(self, "flags", [])
        return self

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

    __pydantic_config__ = _WIRE

    id: EnvelopeId
    seq: Seq
    ts: Time
    device: Id
    event: Event
    window: Id | None = None
    staff: Id | None = None
    ticket: Ticket | None = None
    sent: Time | None = None
    v: Version = VERSION
    # The id of the service's ``start`` event (on its ``start`` and ``end`` events).
    service: EnvelopeId | None = None
    # The directory's service item being done (on ``start`` or ``end``), when the device knows it.
    item: Id | None = None

    @_model_validator(mode="after")
    def _whole(self, info: Any) -> ServiceEvent:
        _refuse(self, list(_check_envelope(self, info.context)))
        return self


@dataclass(frozen=True, slots=True)
class ServiceCommand:
    """An order to a window device (from the queue system or the hub) to change its service."""

    __pydantic_config__ = _WIRE

    event: Event
    ticket: Ticket | None = None
    staff: Id | None = None
    v: Version = VERSION
    # The directory's service item the ticket is for (on ``start``; an ``end`` may name
    # it when its start did not): the device puts it on the service's events.
    item: Id | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    """The hub's answer naming the records it stored or rejected."""

    __pydantic_config__ = _WIRE

    ids: Annotated[list[str], Rule("must be a list of strings")]
    status: Annotated[
        Literal["stored", "rejected"], Rule("must be one of stored, rejected", got=True, limit=160)
    ]
    # Any values are taken, as text; null or absent is none.
    reasons: Annotated[dict[str, Any] | None, Rule("must be an object of id to reason")] = field(
        default_factory=dict
    )
    v: Version = VERSION

    @_model_validator(mode="after")
    def _whole(self) -> Receipt:
        reasons = self.reasons or {}
        object.__setattr__(self, "reasons", {k: str(v) for k, v in reasons.items()})
        return self


@dataclass(frozen=True, slots=True)
class Complaint:
    """A citizen's complaint, filed at a kiosk and looked up later by code and password."""

    __pydantic_config__ = _WIRE

    id: EnvelopeId
    seq: Seq
    ts: Time
    device: Id
    code: Annotated[
        str, Field(pattern=_anchored(CLAIM_CODE)), Rule(f"must match {CLAIM_CODE.pattern}")
    ]
    secret: Annotated[
        str,
        Field(pattern=_anchored(SECRET)),
        Rule("must be a salted password hash (pbkdf2_sha256$n$salt$hash)"),
    ]
    category: Annotated[str, Field(pattern=_anchored(CODE)), Rule(f"must match {CODE.pattern}")]
    text: Annotated[
        str, Field(max_length=MAX_COMPLAINT_CHARS), TextRule(MAX_COMPLAINT_CHARS, required=True)
    ]
    staff: Id | None = None
    department: Id | None = None
    anonymous: Flag = False
    contact: Annotated[
        str | None, Field(max_length=MAX_CONTACT_CHARS), TextRule(MAX_CONTACT_CHARS)
    ] = None
    sent: Time | None = None
    v: Version = VERSION

    @_model_validator(mode="after")
    def _whole(self, info: Any) -> Complaint:
        problems = list(_check_envelope(self, info.context))
        if self.anonymous and self.contact is not None:
            problems.append(("contact", "an anonymous complaint carries no contact"))
        _refuse(self, problems)
        if self.contact == "":
            object.__setattr__(self, "contact", None)
        return self


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


# Decoding: the compiled validators, and the words for what they refuse.

T = TypeVar("T")


class _Wire(Generic[T]):
    """Validates payloads into envelopes of ``kind``, refusing with every problem named."""

    def __init__(self, kind: type[T]) -> None:
        self.kind = kind
        schema = TypeAdapter(kind).core_schema
        # On the wire the version is required; in Python it defaults to VERSION.
        self.validator = pydantic_core.SchemaValidator(_required(schema, "v"))
        self.rules = {name: _rule_of(hint) for name, hint in _hints(kind).items()}

    def decode(self, payload: bytes, topic_device: str | None = None) -> T:
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise ProtocolError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
        try:
            return self.validator.validate_json(  # type: ignore[no-any-return]
                payload, context={"topic_device": topic_device}
            )
        except ValidationError as exc:
            raise self.refusal(payload, exc) from None

    def refusal(self, payload: bytes, exc: ValidationError) -> ProtocolError:
        """One error naming each bad field once, in the order the envelope declares them."""
        problems: dict[str | None, str] = {}
        for error in exc.errors(include_url=False):
            for name, reason in self.problems(error):
                problems.setdefault(name, reason)
        if None in problems:  # the payload as a whole: not JSON, not an object
            return ProtocolError(problems[None])
        if "v" in problems:  # another version: its other fields may well differ
            problems = {"v": problems["v"]}
        body = _object(payload)
        if any(name.startswith("dims") for name in problems if name) and (
            body.get("channel") != "kiosk"
        ):
            # Whatever their shape, dimensions on a window vote are the problem.
            problems = {
                ("dims" if name and name.startswith("dims") else name): reason
                for name, reason in problems.items()
            }
            problems["dims"] = "only kiosk votes carry dimensions"
        (name, reason), *more = problems.items()
        text_left = MAX_REASON_CHARS
        kept: list[tuple[str | None, str]] = []
        for other in more:
            text_left -= len(other[0] or "") + len(other[1]) + 4
            if text_left < 0:
                break
            kept.append(other)
        ident = body.get("id")
        ident = ident if isinstance(ident, str) and ENVELOPE_ID.fullmatch(ident) else None
        return ProtocolError(reason, field=name, id=ident, more=kept)

    def problems(self, error: ErrorDetails) -> Iterator[tuple[str | None, str]]:
        loc, kind = error["loc"], error["type"]
        if not loc:
            cause = error.get("ctx", {}).get("error")
            if isinstance(cause, ProtocolError):  # a rule between fields
                yield from cause.problems
            elif kind == "json_invalid":
                yield None, f"not valid JSON: {error['msg'].removeprefix('Invalid JSON: ')}"
            elif kind in ("dataclass_type", "dataclass_exact_type"):
                yield None, f"not a JSON object but {type(error['input']).__name__}"
            else:
                yield None, error["msg"]
            return
        name = str(loc[0])
        rule = self.rules.get(name)
        if name == "dims" and len(loc) > 1 and kind not in ("missing", "extra_forbidden"):
            yield f"dims.{loc[1]}", _LEVEL_RULE.reason(error)
        elif name == "filter" and len(loc) > 1 and kind not in ("missing", "extra_forbidden"):
            if loc[1] == "rule":
                yield "filter.rule", f"{error['input']!r} does not match {CODE.pattern}"[:120]
            else:
                yield (
                    "filter.version",
                    (f"must be an integer from 1 to {MAX_FILTER_VERSION}, got {error['input']!r}")[
                        :120
                    ],
                )
        elif rule is not None:
            yield name, rule.reason(error)
        else:
            yield name, error["msg"]


def _hints(kind: type) -> dict[str, Any]:
    return {f.name: typing.get_type_hints(kind, include_extras=True)[f.name] for f in fields(kind)}


def _rule_of(hint: Any) -> Rule | None:
    """The outermost Rule in a field's type (through Annotated and unions)."""
    for item in getattr(hint, "__metadata__", ()):
        if isinstance(item, Rule):
            return item
    for inner in typing.get_args(hint):
        found = _rule_of(inner)
        if found is not None:
            return found
    return None


def _required(schema: Any, name: str) -> Any:
    """A copy of a core schema in which the dataclass fields called ``name`` have no default."""
    if isinstance(schema, list):
        return [_required(item, name) for item in schema]
    if not isinstance(schema, dict):
        return schema
    copy = {key: _required(value, name) for key, value in schema.items()}
    if copy.get("type") == "dataclass-field" and copy.get("name") == name:
        inner = copy["schema"]
        if inner.get("type") == "default":
            copy["schema"] = inner["schema"]
    return copy


def _object(payload: bytes) -> dict[str, Any]:
    """A refused payload's JSON object, read to word the refusal (or empty)."""
    try:
        body = pydantic_core.from_json(payload)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


_VOTES = _Wire(Vote)
_SERVICE_EVENTS = _Wire(ServiceEvent)
_SERVICE_COMMANDS = _Wire(ServiceCommand)
_COMPLAINTS = _Wire(Complaint)
_RECEIPTS = _Wire(Receipt)


def decode_vote(payload: bytes, *, topic_device: str | None = None) -> Vote:
    """Validate a vote payload received on the topic of ``topic_device``."""
    return _VOTES.decode(payload, topic_device)


def decode_service_event(payload: bytes, *, topic_device: str | None = None) -> ServiceEvent:
    """Validate a service event payload received on the topic of ``topic_device``."""
    return _SERVICE_EVENTS.decode(payload, topic_device)


def decode_service_command(payload: bytes) -> ServiceCommand:
    """Validate a service command sent to a device (``service/command``)."""
    return _SERVICE_COMMANDS.decode(payload)


def decode_complaint(payload: bytes, *, topic_device: str | None = None) -> Complaint:
    """Validate a complaint payload received on the topic of ``topic_device``."""
    return _COMPLAINTS.decode(payload, topic_device)


def decode_receipt(payload: bytes) -> Receipt:
    """Validate a receipt payload sent by the hub."""
    return _RECEIPTS.decode(payload)


def parse_time(value: str) -> datetime:
    """Parse an ISO 8601 time that carries its UTC offset."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("has no UTC offset")
    return moment


def format_time(moment: datetime) -> str:
    """Format an aware time as the protocol writes it (milliseconds, offset)."""
    return moment.isoformat(timespec="milliseconds")
