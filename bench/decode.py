"""Decoding wire envelopes: the hand-written checks before issue 11 against the declared models.

Three decoders read the same realistic payloads, side by side:

- hand: ``bench/frozen/protocol_hand.py``, a frozen copy of ``device_agent/protocol.py``
  as it was before issue 11 (orjson, then field-by-field checks; stops at the first bad one);
- pydantic: today's ``device_agent.protocol``, the envelopes declared once as typed
  dataclasses and validated from the JSON bytes in pydantic's compiled core (every
  problem of an envelope named at once);
- msgspec (when installed; not a project dependency): the vote envelope as a
  ``msgspec.Struct`` with the same constraints, checked only for speed: it stops
  at the first error and its messages name the field less plainly.

Payloads: window votes, kiosk votes (dimensions, reasons, a comment), service
events, and a mix of bad ones (one bad field, several bad fields, another
version, not JSON). Each row prints microseconds per envelope (best of 5 runs).

Run: ``.venv/bin/python bench/decode.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.frozen import protocol_hand as hand
from device_agent import protocol as declared
from device_agent.errors import ProtocolError

DEVICE = "b01-w03"
TS = "2026-11-22T09:13:07.412+08:00"


def window_vote(seq: int) -> dict[str, Any]:
    return {
        "v": 1,
        "id": f"{DEVICE}-k3v9q2ma-{seq:012d}",
        "seq": seq,
        "ts": TS,
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
        "service": f"{DEVICE}-k3v9q2ma-{seq - 1:012d}",
    }


def kiosk_vote(seq: int) -> dict[str, Any]:
    return {
        **window_vote(seq),
        "channel": "kiosk",
        "window": None,
        "level": 2,
        "dims": {"attitude": 2, "efficiency": 3, "style": 4},
        "reasons": ["slow", "rude"],
        "comment": "等了很久，窗口人员态度冷淡",
    }


def service_event(seq: int) -> dict[str, Any]:
    return {
        "v": 1,
        "id": f"{DEVICE}-k3v9q2ma-{seq:012d}",
        "seq": seq,
        "ts": TS,
        "sent": TS,
        "device": DEVICE,
        "window": "w03",
        "staff": "s0123",
        "ticket": "A018",
        "event": "start",
        "service": f"{DEVICE}-k3v9q2ma-{seq:012d}",
    }


def bad_votes() -> list[bytes]:
    one_bad = {**window_vote(7), "level": 9}
    several = {**window_vote(8), "level": "4", "ts": "yesterday", "staff": "S 1", "flags": ["X"]}
    other_version = {**window_vote(9), "v": 2}
    cross = {**window_vote(10), "device": "b01-w04"}
    return [orjson.dumps(b) for b in (one_bad, several, other_version, cross)] + [b'{"v":1,"id":']


PAYLOADS: dict[str, tuple[str, list[bytes]]] = {
    "window vote": ("vote", [orjson.dumps(window_vote(i)) for i in range(1, 101)]),
    "kiosk vote": ("vote", [orjson.dumps(kiosk_vote(i)) for i in range(1, 101)]),
    "service event": ("event", [orjson.dumps(service_event(i)) for i in range(1, 101)]),
    "bad votes (mix)": ("vote", bad_votes()),
}


def refusing(decode: Callable[..., object]) -> Callable[[bytes], object]:
    def run(payload: bytes) -> object:
        try:
            return decode(payload, topic_device=DEVICE)
        except ProtocolError as exc:
            return exc

    return run


try:  # not a project dependency: `.venv/bin/pip install msgspec` to compare it too
    import msgspec
except ImportError:
    msgspec = None

if msgspec is not None:
    Id = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")]
    Code = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_:.-]{0,47}$")]
    EnvId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
    Level = Annotated[int, msgspec.Meta(ge=1, le=5)]
    Codes = Annotated[list[Code], msgspec.Meta(max_length=16)]

    class SpecDims(msgspec.Struct, forbid_unknown_fields=True):
        attitude: Level
        efficiency: Level
        style: Level

    class SpecFilter(msgspec.Struct, forbid_unknown_fields=True):
        rule: Code
        version: Annotated[int, msgspec.Meta(ge=1, le=9999)]

    class SpecVote(msgspec.Struct, frozen=True):
        v: Literal[1]
        id: EnvId
        seq: Annotated[int, msgspec.Meta(ge=0, le=2**53 - 1)]
        ts: str
        device: Id
        channel: Literal["window", "kiosk"]
        level: Level
        window: Id | None = None
        staff: Id | None = None
        ticket: Annotated[str, msgspec.Meta(max_length=32)] | None = None
        dims: SpecDims | None = None
        reasons: Codes | None = None
        comment: Annotated[str, msgspec.Meta(max_length=500)] | None = None
        anonymous: bool = False
        flags: Codes | None = None
        sent: str | None = None
        filter: SpecFilter | None = None
        service: EnvId | None = None


def msgspec_decoder() -> Callable[[bytes], object] | None:
    if msgspec is None:
        return None
    decoder = msgspec.json.Decoder(SpecVote)

    def run(payload: bytes) -> object:
        # The same checks the others make past the schema: times, device, id's prefix.
        try:
            vote = decoder.decode(payload)
            declared.parse_time(vote.ts)
            if vote.sent is not None:
                declared.parse_time(vote.sent)
            if vote.device != DEVICE or not vote.id.startswith(f"{DEVICE}-"):
                raise ValueError("device")
            return vote
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
            return exc

    return run


def per_envelope_us(run: Callable[[bytes], object], payloads: list[bytes], rounds: int) -> float:
    def once() -> None:
        for payload in payloads:
            run(payload)

    best = min(timeit.repeat(once, number=rounds, repeat=5))
    return best / (rounds * len(payloads)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    spec = msgspec_decoder()
    decoders = {
        "vote": {
            "hand": refusing(hand.decode_vote),
            "pydantic": refusing(declared.decode_vote),
            "msgspec": spec,
        },
        "event": {
            "hand": refusing(hand.decode_service_event),
            "pydantic": refusing(declared.decode_service_event),
            "msgspec": None,
        },
    }
    print(f"{'payloads':<18}{'hand µs':>10}{'pydantic µs':>14}{'msgspec µs':>13}")
    figures = []
    for name, (kind, payloads) in PAYLOADS.items():
        row = []
        for label in ("hand", "pydantic", "msgspec"):
            run = decoders[kind][label]
            row.append(None if run is None else per_envelope_us(run, payloads, args.rounds))
        cells = "".join(
            f"{'-' if v is None else f'{v:.2f}':>{w}}"
            for v, w in zip(row, (10, 14, 13), strict=True)
        )
        print(f"{name:<18}{cells}")
        key = name.split(" ")[0]
        figures.append(f"{key}_hand_us={row[0]:.2f} {key}_pydantic_us={row[1]:.2f}")
    example = refusing(declared.decode_vote)(bad_votes()[1])
    print(f"pydantic's refusal of the vote with several bad fields:\n  {example}")
    print(" ".join(figures))


if __name__ == "__main__":
    main()
