"""The hub in central role: warnings and summaries from many halls, county-wide.

A hall hub forwards each warning event and its summary (see
:mod:`hub.forwarding`); they reach central through the county broker (the
hall brokers bridge ``{base}/hub/warning`` and ``{base}/hub/summary`` to it)
or as signed webhook posts. :func:`accept` stores each message idempotently —
a warning under ``(hall, id)``, its events under ``(hall, id, seq)``, a
summary per hall — and only then does central confirm it: a receipt on the
hall's ``{base}/hub/receipt``, or a 2xx answer. Forwarding twice never
creates two warnings; an older event arriving late never overwrites a newer
state. A summary's per-person figures (issue 13) replace, when it is the
hall's newest, the hall's rows of each period it names in
``central_person_counts``; :mod:`hub.county_people` adds them up per person.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Self

import paho.mqtt.client as paho
from pydantic import model_validator

from device_agent.configfile import (
    Bool,
    Problems,
    Secret,
    Str,
    checked,
    secret_field,
    secret_from_file_or_env,
    section,
)
from device_agent.errors import ProtocolError
from device_agent.mqtt import MqttClient
from device_agent.protocol import ENVELOPE_ID, Receipt, encode, format_time, parse_time
from device_agent.storage import open_database, write_transaction
from device_agent.topics import (
    DEFAULT_BASE,
    ID_PATTERN,
    HubTopic,
    Topics,
    every_hall_hub,
    parse_hall_hub,
)

if TYPE_CHECKING:
    from hub.config import HubConfig

logger = logging.getLogger(__name__)

# A summary's per-person figures (issue 13): counted votes by level, and of them dissatisfied.
PEOPLE_COLUMNS = ("level_1", "level_2", "level_3", "level_4", "level_5", "total", "dissatisfied")
# One row of a summary's ``people``: the period, the staff id, then the figures.
PEOPLE_ROW = ("period", "staff", *PEOPLE_COLUMNS)
# A period key as the halls write them: a day, a month or a year.
PERIOD = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")

# A hall keeps a summary under 60 KiB for its broker's packets (hub.counting); a
# webhook-only hall is not bound by that, and 1 MiB leaves it room for thousands of staff.
MAX_MESSAGE_BYTES = 1024 * 1024


def _base_problem(value: str) -> str | None:
    if value.count("{hall_id}") == 1:
        return None
    return "must contain {hall_id} once, so central can tell the halls apart"


@section
class CentralHall:
    """A ``[central.halls.<id>]`` table: where that hall's webhook secret is."""

    # Read from webhook_secret_file or webhook_secret_env, never from the file itself.
    webhook_secret: secret_field("webhook_secret") = None  # type: ignore[valid-type]
    webhook_secret_file: Str = ""
    webhook_secret_env: Str = ""

    _secret = secret_from_file_or_env("webhook_secret")


@section
class CentralSettings:
    """The ``[central]`` section: the halls this hub accepts, and their webhook secrets."""

    enabled: Bool = False
    base_topic: Annotated[Str, checked(_base_problem)] = DEFAULT_BASE
    # The halls accepted, by id, each with its webhook secret (None: MQTT only).
    halls: dict[str, CentralHall] = field(default_factory=dict)
    # Issue 13: the [warnings] thresholds apply to the person, across halls — 6
    # dissatisfied votes in one hall and 5 in another make 11. False: per hall only.
    count_per_person: Bool = True

    def secret(self, hall: str) -> Secret | None:
        """The webhook secret of ``hall``, None for a hall without one or not accepted."""
        table = self.halls.get(hall)
        return table.webhook_secret if table is not None else None

    @model_validator(mode="after")
    def _known_halls(self) -> Self:
        problems = Problems()
        for hall in self.halls:
            if not ID_PATTERN.fullmatch(hall):
                problems.add(
                    f"halls.{hall}", f"not a valid hall id: must match {ID_PATTERN.pattern}"
                )
        if self.enabled and not self.halls:
            problems.add("halls", "list the halls central accepts ([central.halls.<id>])")
        problems.check()
        return self


def accept(
    conn: sqlite3.Connection, hall: str, kind: str, body: dict[str, Any], *, received_at: str
) -> str:
    """Store one forwarded message from ``hall`` idempotently; returns its message id."""
    if body.get("v") != 1:
        raise ProtocolError(f"unsupported version {body.get('v')!r}", field="v")
    if body.get("hall") != hall:
        raise ProtocolError(f"hall {body.get('hall')!r} differs from the sender's", field="hall")
    message_id = body.get("message_id")
    if not isinstance(message_id, str) or not ENVELOPE_ID.fullmatch(message_id):
        raise ProtocolError("missing or malformed", field="message_id")
    if kind == "summary":
        written = _text(body, "generated_at")
        try:
            # In UTC with a fixed width, so that the newest is the greatest text,
            # whatever offset each hall's hub wrote.
            generated = format_time(parse_time(written).astimezone(UTC))
        except (ValueError, OverflowError) as exc:
            message = f"not an ISO 8601 time with offset: {exc}"
            raise ProtocolError(message, field="generated_at") from exc
        people = _people(body)
        document = {k: v for k, v in body.items() if not k.startswith("people")}
        cursor = conn.execute(
            "INSERT INTO central_summaries (hall, generated_at, document, received_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (hall) DO UPDATE SET"
            " generated_at = excluded.generated_at, document = excluded.document,"
            " received_at = excluded.received_at"
            " WHERE excluded.generated_at > central_summaries.generated_at",
            (hall, generated, json.dumps(document, ensure_ascii=False), received_at),
        )
        if cursor.rowcount and people is not None:
            # The newest summary: its figures replace the hall's in each period it names.
            periods, rows = people
            conn.executemany(
                "DELETE FROM central_person_counts WHERE hall = ? AND period = ?",
                [(hall, period) for period in periods],
            )
            conn.executemany(
                f"INSERT INTO central_person_counts (hall, period, staff, person, name,"
                f" {', '.join(PEOPLE_COLUMNS)}, generated_at)"
                f" VALUES (?, ?, ?, ?, ?, {', '.join('?' * len(PEOPLE_COLUMNS))}, ?)",
                [(hall, *row, generated) for row in rows],
            )
        return message_id
    if kind != "warning":
        raise ProtocolError(f"unknown kind {kind!r}", field="kind")
    event = body.get("event")
    if not isinstance(event, dict) or not isinstance(event.get("seq"), int):
        raise ProtocolError("must be an object with an integer seq", field="event")
    seq = event["seq"]
    conn.execute(
        "INSERT INTO central_warnings (hall, id, staff, department, level, grain, period,"
        " status, withdrawn_at, superseded_by, raised_at, last_seq, document, received_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (hall, id) DO UPDATE SET status = excluded.status,"
        " withdrawn_at = excluded.withdrawn_at, superseded_by = excluded.superseded_by,"
        " last_seq = excluded.last_seq, document = excluded.document,"
        " received_at = excluded.received_at"
        " WHERE excluded.last_seq > central_warnings.last_seq",
        (
            hall,
            _text(body, "id"),
            _text(body, "staff"),
            body.get("department"),
            _text(body, "level"),
            _text(body, "grain"),
            _text(body, "period"),
            _text(body, "status"),
            body.get("withdrawn_at"),
            body.get("superseded_by"),
            _text(body, "raised_at"),
            seq,
            json.dumps(body, ensure_ascii=False),
            received_at,
        ),
    )
    conn.execute(
        "INSERT INTO central_warning_events (hall, warning_id, seq, event, at, by, detail,"
        " received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (hall, warning_id, seq) DO NOTHING",
        (
            hall,
            body["id"],
            seq,
            _text(event, "name"),
            _text(event, "at"),
            _text(event, "by"),
            json.dumps(event.get("detail") or {}, ensure_ascii=False, sort_keys=True),
            received_at,
        ),
    )
    return message_id


def _people(body: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]] | None:
    """A summary's per-person figures, checked: the periods it covers and one row each
    ``(period, staff, person, name, *PEOPLE_COLUMNS)``.

    None for a summary from a hub that sends none (before issue 13).
    """
    periods = body.get("people_periods")
    rows = body.get("people")
    names = body.get("people_names")
    if periods is None and rows is None:
        return None
    if not isinstance(periods, list) or not all(
        isinstance(p, str) and PERIOD.fullmatch(p) for p in periods
    ):
        raise ProtocolError("must be a list of day, month or year keys", field="people_periods")
    if body.get("people_columns") != list(PEOPLE_ROW):
        raise ProtocolError(f"must be {list(PEOPLE_ROW)}", field="people_columns")
    if not isinstance(rows, list):
        raise ProtocolError("must be a list", field="people")
    if not isinstance(names, dict):
        raise ProtocolError("must be an object", field="people_names")
    checked = []
    seen = set()
    for n, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(PEOPLE_ROW):
            raise ProtocolError(f"must be a list of {len(PEOPLE_ROW)}", field=f"people[{n}]")
        period, staff, *figures = row
        if period not in periods:
            raise ProtocolError("not one of people_periods", field=f"people[{n}]")
        who = names.get(staff) if isinstance(staff, str) else None
        if not isinstance(who, dict):
            raise ProtocolError("a staff member people_names lacks", field=f"people[{n}]")
        person, name = _text(who, "person"), _text(who, "name")
        if not all(type(v) is int and v >= 0 for v in figures):
            raise ProtocolError("counts must be integers >= 0", field=f"people[{n}]")
        if (period, staff) in seen:
            raise ProtocolError("a staff member twice in one period", field=f"people[{n}]")
        seen.add((period, staff))
        checked.append((period, staff, person, name, *figures))
    return periods, checked


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ProtocolError("must be a non-empty string", field=name)
    return value


def decode_message(payload: bytes) -> dict[str, Any]:
    """Parse a forwarded message's JSON body."""
    if len(payload) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"payload of {len(payload)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ProtocolError("not a JSON object")
    return body


class CentralConsumer:
    """Central's MQTT side: stores every hall's forwarded messages, then receipts them."""

    def __init__(
        self, config: HubConfig, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.config = config
        self.settings = config.central
        self._now = now
        self._lock = threading.Lock()
        self.db = open_database(config.database)
        self.accepted = 0
        # Its own connection: central's account on the county broker, whose ACL
        # lets it read every hall's warnings and write their receipts.
        self.connection = MqttClient(
            config.broker.account("central"),
            client_id=f"{config.client_id}-central",
            manual_ack=True,
        )
        template = self.settings.base_topic
        for kind in (HubTopic.WARNING, HubTopic.SUMMARY):
            self.connection.subscribe(
                every_hall_hub(kind, template=template), 1, self._on_message, manual_ack=True
            )

    def start(self) -> None:
        """Connect and consume in the connection's own thread."""
        self.connection.start()

    def stop(self) -> None:
        """Disconnect; unacknowledged messages are redelivered at the next start."""
        self.connection.stop()
        self.db.close()

    def _on_message(self, message: paho.MQTTMessage) -> None:
        try:
            self._consume(message)
        except Exception:
            # Not acknowledged: the broker redelivers it after a reconnect.
            logger.exception("central could not store a message on %s", message.topic)
            return
        self.connection.ack(message.mid, message.qos)

    def _consume(self, message: paho.MQTTMessage) -> None:
        template = self.settings.base_topic
        try:
            hall, kind = parse_hall_hub(message.topic, template=template)
            if hall not in self.settings.halls:
                raise ProtocolError(f"hall {hall!r} is not one of central's halls", field="hall")
            body = decode_message(message.payload)
            with self._lock, write_transaction(self.db) as conn:
                message_id = accept(
                    conn, hall, kind.value, body, received_at=format_time(self._now())
                )
        except ProtocolError as exc:
            # Logged and acknowledged: redelivery would not make it readable. The hall
            # keeps it unconfirmed in its outbox, where its operator can see it.
            logger.error("central refused a message on %s: %s", message.topic, exc)
            return
        self.accepted += 1
        receipt = Receipt(ids=[message_id], status="stored")
        topic = Topics.for_hall(hall, template=template).hub(HubTopic.RECEIPT)
        self.connection.publish(topic, encode(receipt), qos=1)
