"""The hub database's schema: every step since the first release, in one ordered list.

Step ``n`` of :data:`STEPS` (counted from 1) brings a file to schema version
``n``, which SQLite keeps in the file as ``PRAGMA user_version``;
:class:`hub.store.Store` applies the steps a file lacks when the hub starts
(:func:`device_agent.storage.migrate`, each step in its own transaction). A
new hub starts from an empty file and runs them all; an upgraded one runs
only the new ones, so both end with the same schema.

A released step is never edited: a hub in a hall has already run it, and an
edit would give new and upgraded hubs different schemas. To change the schema,
append a step. ``tests/test_schema.py`` records a checksum of every step and
fails when one changes. Most steps are plain SQL (:class:`SqlStep`); the two
that rewrite stored rows are functions, and since they call live helpers
(``hub.quarantine.stored_row``, ``hub.instants.ms_of_text``) the test also pins
the rows they write from the oldest release's file. Each statement's text is exactly what
the released code sent SQLite, odd indentation included, because
``sqlite_master`` keeps it and new files must match upgraded ones.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import sqlite_utils

from device_agent.storage import Migration
from hub.instants import DAY_MS, ms_of_text, readable_sql
from hub.quarantine import KIB, Quarantined, stored_row

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SqlStep:
    """A schema step that runs its SQL statements in order; ``purpose`` says what it adds."""

    purpose: str
    statements: tuple[str, ...]

    def __init__(self, purpose: str, *statements: str) -> None:
        object.__setattr__(self, "purpose", purpose)
        object.__setattr__(self, "statements", statements)

    def __call__(self, db: sqlite_utils.Database) -> None:
        for statement in self.statements:
            db.execute(statement)


def bound_quarantine(db: sqlite_utils.Database) -> None:
    """Issue 10: bounded quarantine; rows already kept are cut and redacted in place."""
    db.execute("ALTER TABLE quarantine ADD COLUMN payload_bytes INTEGER")
    db.execute("ALTER TABLE quarantine ADD COLUMN payload_sha256 TEXT")
    db.execute("ALTER TABLE quarantine ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0")
    db.execute("""
        CREATE TABLE quarantine_totals (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            rows INTEGER NOT NULL,
            stored_bytes INTEGER NOT NULL,
            pruned_rows INTEGER NOT NULL DEFAULT 0,
            pruned_bytes INTEGER NOT NULL DEFAULT 0,
            last_pruned_at TEXT
        )""")
    # Overwrite the old payloads' bytes in the file, not only unlink them.
    db.execute("PRAGMA secure_delete = ON")
    try:
        rows = db.execute(
            "SELECT rowid, topic, device, record_id, reason, payload FROM quarantine"
        ).fetchall()
        for rowid, topic, device, record_id, reason, payload in rows:
            old = Quarantined(topic, device, record_id, reason, bytes(payload), received_at="")
            row = stored_row(old, KIB)
            db.execute(
                "UPDATE quarantine SET topic = ?, device = ?, record_id = ?, reason = ?,"
                " payload = ?, payload_bytes = ?, payload_sha256 = ?, stored_bytes = ?"
                " WHERE rowid = ?",
                (*row, rowid),
            )
    finally:
        db.execute("PRAGMA secure_delete = OFF")
    db.execute(
        "INSERT INTO quarantine_totals (id, rows, stored_bytes)"
        " SELECT 1, count(*), coalesce(sum(stored_bytes), 0) FROM quarantine"
    )
    db.execute("""
        CREATE TRIGGER quarantine_added AFTER INSERT ON quarantine BEGIN
            UPDATE quarantine_totals
            SET rows = rows + 1, stored_bytes = stored_bytes + NEW.stored_bytes WHERE id = 1;
        END""")
    db.execute("""
        CREATE TRIGGER quarantine_removed AFTER DELETE ON quarantine BEGIN
            UPDATE quarantine_totals
            SET rows = rows - 1, stored_bytes = stored_bytes - OLD.stored_bytes WHERE id = 1;
        END""")
    db.execute("""
        CREATE TRIGGER quarantine_resized AFTER UPDATE OF stored_bytes ON quarantine BEGIN
            UPDATE quarantine_totals
            SET stored_bytes = stored_bytes - OLD.stored_bytes + NEW.stored_bytes WHERE id = 1;
        END""")


# The vote row's columns and indexes as issue 12 left them (hub.vote_rows explains the indexes).
_LEAN_COLUMNS = (
    "rowid, id, device, seq, channel, window, staff, ticket, level, dims, reasons, comment,"
    " anonymous, flags, ts, cast_at, sent, received_at, digest, counted, filter_rule,"
    " filter_version, service, hub_rule, hub_rule_version"
)
_LEAN_INDEXES = (
    "CREATE INDEX votes_device ON votes (device, rowid)",
    "CREATE INDEX votes_device_seq ON votes (device, seq)",
    "CREATE INDEX votes_kiosk_cast ON votes (device, cast_at) WHERE channel = 'kiosk'",
    "CREATE INDEX votes_window ON votes (window, rowid)",
    "CREATE INDEX votes_window_cast ON votes (window, cast_at)",
    "CREATE INDEX votes_staff ON votes (staff, rowid)",
    "CREATE INDEX votes_staff_cast ON votes (staff, cast_at)",
    "CREATE INDEX votes_ticket ON votes (ticket, cast_at) WHERE ticket IS NOT NULL",
    "CREATE INDEX votes_rule ON votes (coalesce(filter_rule, hub_rule), rowid)"
    " WHERE coalesce(filter_rule, hub_rule) IS NOT NULL",
)


def lean_votes(db: sqlite_utils.Database) -> None:
    """Issue 12: integer instants and a binary digest in every vote row, new indexes, the view.

    The table is rebuilt inside the migration's transaction, in arrival order,
    keeping each vote's ``rowid`` (counts marks and warnings refer to it).
    """
    began = time.monotonic()
    votes = db.execute("SELECT count(*) FROM votes").fetchone()[0]
    if votes:
        # Minutes on a Pi with years of votes: say why the hub is not ready yet.
        logger.info("rewriting %d stored votes with integer times (once, at upgrade)", votes)
    conn = db.conn
    conn.create_function("hallrate_ms", 1, ms_of_text, deterministic=True)
    conn.create_function("hallrate_unhex", 1, bytes.fromhex, deterministic=True)
    db.execute("""
        CREATE TABLE votes_lean (
            rowid INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            device TEXT NOT NULL,
            seq INTEGER NOT NULL,
            channel TEXT NOT NULL CHECK (channel IN ('window', 'kiosk')),
            window TEXT,
            staff TEXT,
            ticket TEXT,
            level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 5),
            dims TEXT,
            reasons TEXT NOT NULL,
            comment TEXT,
            anonymous INTEGER NOT NULL CHECK (anonymous IN (0, 1)),
            flags TEXT NOT NULL,
            ts TEXT NOT NULL,
            cast_at INTEGER NOT NULL CHECK (typeof(cast_at) = 'integer'),
            sent TEXT,
            received_at INTEGER NOT NULL CHECK (typeof(received_at) = 'integer'),
            digest BLOB NOT NULL CHECK (typeof(digest) = 'blob' AND length(digest) = 32),
            counted INTEGER NOT NULL DEFAULT 1 CHECK (counted IN (0, 1)),
            filter_rule TEXT,
            filter_version INTEGER,
            service TEXT,
            hub_rule TEXT,
            hub_rule_version INTEGER
        )""")
    columns = _LEAN_COLUMNS
    converted = columns.replace("cast_at", "hallrate_ms(cast_at)")
    converted = converted.replace("received_at", "hallrate_ms(received_at)")
    converted = converted.replace("digest", "hallrate_unhex(digest)")
    db.execute(f"INSERT INTO votes_lean ({columns}) SELECT {converted} FROM votes ORDER BY rowid")
    # The old pages hold the very votes just copied: overwriting them with zeros
    # (secure_delete, on in Debian's SQLite) would protect nothing and wrote
    # most of the time of this step.
    secure = db.execute("PRAGMA secure_delete").fetchone()[0]
    db.execute("PRAGMA secure_delete = OFF")
    db.execute("DROP TABLE votes")  # and its indexes
    db.execute(f"PRAGMA secure_delete = {int(secure)}")
    db.execute("ALTER TABLE votes_lean RENAME TO votes")
    for statement in _LEAN_INDEXES:
        db.execute(statement)
    db.execute("""
        CREATE TABLE cast_days (
            day INTEGER PRIMARY KEY,
            first_rowid INTEGER NOT NULL
        )""")
    # SQLite's / truncates toward zero; a day before 1970 is floored here by hand.
    db.execute(f"""
        INSERT INTO cast_days (day, first_rowid)
        SELECT CASE WHEN cast_at >= 0 THEN cast_at / {DAY_MS}
                    ELSE (cast_at + 1) / {DAY_MS} - 1 END, min(rowid)
        FROM votes GROUP BY 1""")
    readable = columns.replace("cast_at", f"{readable_sql('cast_at')} AS cast_at")
    readable = readable.replace("received_at", f"{readable_sql('received_at')} AS received_at")
    readable = readable.replace("digest", "lower(hex(digest)) AS digest")
    db.execute(f"CREATE VIEW votes_readable AS SELECT {readable} FROM votes")
    if votes:
        logger.info("rewrote %d votes in %.1f s", votes, time.monotonic() - began)


RELEASE_0_1 = SqlStep(
    "the first release (0.1): votes, conflicting resends, service events, quarantine, devices",
    """
        CREATE TABLE votes (
            rowid INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            device TEXT NOT NULL,
            seq INTEGER NOT NULL,
            channel TEXT NOT NULL CHECK (channel IN ('window', 'kiosk')),
            window TEXT,
            staff TEXT,
            ticket TEXT,
            level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 5),
            dims TEXT,
            reasons TEXT NOT NULL,
            comment TEXT,
            anonymous INTEGER NOT NULL CHECK (anonymous IN (0, 1)),
            flags TEXT NOT NULL,
            ts TEXT NOT NULL,
            cast_at TEXT NOT NULL,
            sent TEXT,
            received_at TEXT NOT NULL,
            digest TEXT NOT NULL,
            counted INTEGER NOT NULL DEFAULT 1 CHECK (counted IN (0, 1))
        )""",
    "CREATE INDEX votes_device ON votes (device, rowid)",
    "CREATE INDEX votes_staff ON votes (staff, cast_at)",
    "CREATE INDEX votes_window ON votes (window, cast_at)",
    """
        CREATE TABLE vote_conflicts (
            rowid INTEGER PRIMARY KEY,
            id TEXT NOT NULL,
            received_at TEXT NOT NULL,
            digest TEXT NOT NULL,
            payload TEXT NOT NULL
        )""",
    "CREATE INDEX vote_conflicts_id ON vote_conflicts (id)",
    """
        CREATE TABLE service_events (
            rowid INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            device TEXT NOT NULL,
            seq INTEGER NOT NULL,
            event TEXT NOT NULL,
            window TEXT,
            staff TEXT,
            ticket TEXT,
            ts TEXT NOT NULL,
            cast_at TEXT NOT NULL,
            sent TEXT,
            received_at TEXT NOT NULL
        )""",
    """
        CREATE TABLE quarantine (
            rowid INTEGER PRIMARY KEY,
            digest TEXT NOT NULL UNIQUE,
            topic TEXT NOT NULL,
            device TEXT,
            record_id TEXT,
            reason TEXT NOT NULL,
            payload BLOB NOT NULL,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            times INTEGER NOT NULL DEFAULT 1
        )""",
    """
        CREATE TABLE devices (
            id TEXT PRIMARY KEY,
            status TEXT,
            status_at TEXT,
            info TEXT,
            info_at TEXT,
            telemetry TEXT,
            telemetry_at TEXT
        )""",
)

COMPLAINTS = SqlStep(
    "complaints filed at kiosks",
    """
        CREATE TABLE complaints (
            rowid INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            device TEXT NOT NULL,
            seq INTEGER NOT NULL,
            code TEXT NOT NULL,
            secret TEXT NOT NULL,
            category TEXT NOT NULL,
            text TEXT NOT NULL,
            staff TEXT,
            department TEXT,
            anonymous INTEGER NOT NULL CHECK (anonymous IN (0, 1)),
            contact TEXT,
            ts TEXT NOT NULL,
            cast_at TEXT NOT NULL,
            sent TEXT,
            received_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'received'
                CHECK (status IN ('received', 'handling', 'answered', 'closed', 'merged')),
            answer TEXT,
            updated_at TEXT NOT NULL,
            -- An anonymous complaint keeps nothing that could lead back to the citizen.
            CHECK (anonymous = 0 OR contact IS NULL)
        )""",
    "CREATE INDEX complaints_code ON complaints (code)",
)

DUTY_INDEX = SqlStep(
    "who signed in at each window, for the kiosks' on-duty list",
    "CREATE INDEX service_events_window ON service_events (window, event, rowid)",
)

COUNTS = SqlStep(
    "issue 4: counts per scope, subject and period; the mark of counted votes",
    """
        CREATE TABLE counts (
            scope TEXT NOT NULL CHECK (scope IN ('hall', 'department', 'window', 'staff')),
            subject TEXT NOT NULL,
            period TEXT NOT NULL,
            grain TEXT NOT NULL CHECK (grain IN ('day', 'month', 'year')),
            level_1 INTEGER NOT NULL DEFAULT 0,
level_2 INTEGER NOT NULL DEFAULT 0,
level_3 INTEGER NOT NULL DEFAULT 0,
level_4 INTEGER NOT NULL DEFAULT 0,
level_5 INTEGER NOT NULL DEFAULT 0,
total INTEGER NOT NULL DEFAULT 0,
dissatisfied INTEGER NOT NULL DEFAULT 0,
filtered INTEGER NOT NULL DEFAULT 0,
voided INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (scope, subject, period)
        ) WITHOUT ROWID""",
    "CREATE INDEX counts_period ON counts (grain, period, scope)",
    """
        CREATE TABLE count_marks (
            name TEXT PRIMARY KEY,
            last_rowid INTEGER NOT NULL
        )""",
)

VOIDS = SqlStep(
    "issue 4: the voids of upheld appeals, and accepted held votes",
    """
        CREATE TABLE vote_voids (
            vote_id TEXT PRIMARY KEY,
            reason TEXT NOT NULL
                CHECK (reason IN ('malicious', 'not_about_staff', 'duplicate')),
            note TEXT,
            by TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
)

WARNINGS = SqlStep(
    "issue 4: warnings, the votes behind them, their audit log",
    """
        CREATE TABLE warnings (
            id TEXT PRIMARY KEY,
            staff TEXT NOT NULL,
            department TEXT,
            level TEXT NOT NULL,
            rank INTEGER NOT NULL,
            grain TEXT NOT NULL CHECK (grain IN ('month', 'year')),
            period TEXT NOT NULL,
            threshold INTEGER NOT NULL,
            action TEXT NOT NULL,
            count INTEGER NOT NULL,
            trigger_vote TEXT,
            raised_at TEXT NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('raised', 'acknowledged', 'actioned', 'closed')),
            withdrawn_at TEXT,
            superseded_by TEXT,
            updated_at TEXT NOT NULL,
            events INTEGER NOT NULL DEFAULT 0
        )""",
    "CREATE INDEX warnings_staff ON warnings (staff, period)",
    "CREATE INDEX warnings_raised ON warnings (raised_at)",
    """
        CREATE TABLE warning_votes (
            warning_id TEXT NOT NULL,
            vote_id TEXT NOT NULL,
            PRIMARY KEY (warning_id, vote_id)
        ) WITHOUT ROWID""",
    "CREATE INDEX warning_votes_vote ON warning_votes (vote_id)",
    """
        CREATE TABLE warning_events (
            rowid INTEGER PRIMARY KEY,
            warning_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            event TEXT NOT NULL,
            at TEXT NOT NULL,
            by TEXT NOT NULL,
            detail TEXT NOT NULL,
            UNIQUE (warning_id, seq)
        )""",
)

FORWARDING = SqlStep(
    "issue 4: the outbox of messages to central",
    """
        CREATE TABLE forward_outbox (
            rowid INTEGER PRIMARY KEY,
            channel TEXT NOT NULL CHECK (channel IN ('mqtt', 'webhook')),
            kind TEXT NOT NULL CHECK (kind IN ('warning', 'summary')),
            message_id TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt REAL NOT NULL DEFAULT 0,
            last_error TEXT,
            UNIQUE (channel, message_id)
        )""",
    "CREATE INDEX forward_outbox_due ON forward_outbox (next_attempt)",
)

TOKENS = SqlStep(
    "issue 4: API tokens, kept as hashes",
    """
        CREATE TABLE api_tokens (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            digest TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )""",
)

CENTRAL = SqlStep(
    "issue 4: what central keeps of every hall's warnings and summaries",
    """
        CREATE TABLE central_warnings (
            hall TEXT NOT NULL,
            id TEXT NOT NULL,
            staff TEXT NOT NULL,
            department TEXT,
            level TEXT NOT NULL,
            grain TEXT NOT NULL,
            period TEXT NOT NULL,
            status TEXT NOT NULL,
            withdrawn_at TEXT,
            superseded_by TEXT,
            raised_at TEXT NOT NULL,
            last_seq INTEGER NOT NULL,
            document TEXT NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (hall, id)
        )""",
    "CREATE INDEX central_warnings_raised ON central_warnings (raised_at)",
    """
        CREATE TABLE central_warning_events (
            hall TEXT NOT NULL,
            warning_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            event TEXT NOT NULL,
            at TEXT NOT NULL,
            by TEXT NOT NULL,
            detail TEXT NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (hall, warning_id, seq)
        )""",
    """
        CREATE TABLE central_summaries (
            hall TEXT PRIMARY KEY,
            generated_at TEXT NOT NULL,
            document TEXT NOT NULL,
            received_at TEXT NOT NULL
        )""",
)

FILTER_COLUMNS = SqlStep(
    "issue 3: a filtered vote keeps its rule; votes and events name their service",
    "ALTER TABLE votes ADD COLUMN filter_rule TEXT",
    "ALTER TABLE votes ADD COLUMN filter_version INTEGER",
    "ALTER TABLE votes ADD COLUMN service TEXT",
    "ALTER TABLE service_events ADD COLUMN service TEXT",
)

DEVICE_CONFIG = SqlStep(
    "issue 3: each device's last answer to config/set",
    "ALTER TABLE devices ADD COLUMN config TEXT",
    "ALTER TABLE devices ADD COLUMN config_at TEXT",
)

DUTY_BY_CAST_TIME = SqlStep(
    "issue 3: sign events by the time they were cast",
    "CREATE INDEX service_events_window_cast ON service_events (window, event, cast_at)",
)

DEVICE_SEQ = SqlStep(
    "each device's highest record number, for re-provisioning it",
    "CREATE INDEX votes_device_seq ON votes (device, seq)",
    "CREATE INDEX service_events_device_seq ON service_events (device, seq)",
)

RULE_COLUMNS = SqlStep(
    "issue 10: the hub's own rules (directory binding, anti-stuffing, time)",
    "ALTER TABLE votes ADD COLUMN hub_rule TEXT",
    "ALTER TABLE votes ADD COLUMN hub_rule_version INTEGER",
    "CREATE INDEX votes_ticket ON votes (ticket, cast_at) WHERE ticket IS NOT NULL",
    """
        CREATE TABLE vote_acceptances (
            vote_id TEXT PRIMARY KEY,
            rule TEXT NOT NULL,
            note TEXT,
            by TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
)

STANDING_WARNINGS = SqlStep(
    "issue 12: the boards read only the current period's standing warnings",
    "CREATE INDEX warnings_standing ON warnings (period, rank DESC, count DESC, raised_at "
    "DESC, id) WHERE status != 'closed' AND withdrawn_at IS NULL AND superseded_by IS NULL",
)

COUNTS_BY_PERIOD = SqlStep(
    "issue 12: counts keyed the way they are read, a group in a period",
    """
        CREATE TABLE counts_by_period (
            scope TEXT NOT NULL CHECK (scope IN ('hall', 'department', 'window', 'staff')),
            subject TEXT NOT NULL,
            period TEXT NOT NULL,
            grain TEXT NOT NULL CHECK (grain IN ('day', 'month', 'year')),
            level_1 INTEGER NOT NULL DEFAULT 0,
level_2 INTEGER NOT NULL DEFAULT 0,
level_3 INTEGER NOT NULL DEFAULT 0,
level_4 INTEGER NOT NULL DEFAULT 0,
level_5 INTEGER NOT NULL DEFAULT 0,
total INTEGER NOT NULL DEFAULT 0,
dissatisfied INTEGER NOT NULL DEFAULT 0,
filtered INTEGER NOT NULL DEFAULT 0,
voided INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (scope, period, subject)
        ) WITHOUT ROWID""",
    "INSERT INTO counts_by_period (scope, subject, period, grain, level_1, level_2, "
    "level_3, level_4, level_5, total, dissatisfied, filtered, voided) SELECT scope, "
    "subject, period, grain, level_1, level_2, level_3, level_4, level_5, total, "
    "dissatisfied, filtered, voided FROM counts",
    "DROP TABLE counts",
    "ALTER TABLE counts_by_period RENAME TO counts",
)

SIGN_EVENTS = SqlStep(
    "issue 12: sign events by window and time, for the hub's rules",
    "CREATE INDEX service_events_sign ON service_events (window, cast_at) WHERE event IN "
    "('sign_in', 'sign_out')",
)

CAST_HOURS = SqlStep(
    "issue 12: where the votes cast since a time begin, by the hour instead of the day",
    """
        CREATE TABLE cast_hours (
            hour INTEGER PRIMARY KEY,
            first_rowid INTEGER NOT NULL
        )""",
    # SQLite's / truncates toward zero; an hour before 1970 is floored here by hand.
    "INSERT INTO cast_hours (hour, first_rowid) SELECT CASE WHEN cast_at >= 0 THEN "
    "cast_at / 3600000 ELSE (cast_at + 1) / 3600000 - 1 END, min(rowid) FROM votes GROUP BY 1",
    "DROP TABLE cast_days",
)

NOTICES = SqlStep(
    "issue 13: notices queued for apprise with their outcome, and the device outages noticed",
    """
        CREATE TABLE notices (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            event TEXT NOT NULL,
            subject TEXT NOT NULL,
            role TEXT NOT NULL,
            department TEXT,
            target TEXT NOT NULL,
            channel TEXT NOT NULL,
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt REAL NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            done_at TEXT,
            last_error TEXT
        )""",
    # The sender reads the pending notices in the order they were queued.
    "CREATE INDEX notices_pending ON notices (id) WHERE status = 'pending'",
    """
        CREATE TABLE device_outages (
            device TEXT PRIMARY KEY,
            since TEXT NOT NULL,
            noticed_at TEXT NOT NULL
        )""",
)

CASES = SqlStep(
    "issue 14: cases from every source, their chain of steps and its audit log",
    """
        CREATE TABLE cases (
            id INTEGER PRIMARY KEY,
            class TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('registered', 'assigned', 'in_progress',
                'drafted', 'approved', 'answered', 'checked', 'archived', 'merged')),
            title TEXT NOT NULL,
            text TEXT NOT NULL,
            department TEXT,
            assignee TEXT,
            received_on TEXT NOT NULL,
            registered_at TEXT NOT NULL,
            stage INTEGER NOT NULL DEFAULT 0,
            stage_started_on TEXT,
            stage_due_on TEXT,
            due_on TEXT,
            draft TEXT,
            answer TEXT,
            answered_at TEXT,
            rating TEXT,
            merged_into INTEGER REFERENCES cases (id),
            events INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL,
            CHECK ((status = 'merged') = (merged_into IS NOT NULL))
        )""",
    "CREATE INDEX cases_stage_due ON cases (stage_due_on) WHERE stage_due_on IS NOT NULL",
    "CREATE INDEX cases_status ON cases (status, id)",
    """
        CREATE TABLE case_sources (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases (id),
            first_case INTEGER NOT NULL REFERENCES cases (id),
            kind TEXT NOT NULL CHECK (kind IN ('kiosk', 'phone', 'letter', 'hotline',
                'website', 'visit', 'warning')),
            ref TEXT,
            received_on TEXT NOT NULL,
            registered_by TEXT NOT NULL,
            registered_at TEXT NOT NULL,
            contact TEXT,
            text TEXT NOT NULL,
            UNIQUE (kind, ref)
        )""",
    "CREATE INDEX case_sources_case ON case_sources (case_id)",
    """
        CREATE TABLE case_events (
            case_id INTEGER NOT NULL REFERENCES cases (id),
            seq INTEGER NOT NULL,
            event TEXT NOT NULL,
            from_status TEXT,
            to_status TEXT NOT NULL,
            at TEXT NOT NULL,
            by TEXT NOT NULL,
            note TEXT,
            detail TEXT NOT NULL,
            PRIMARY KEY (case_id, seq)
        ) WITHOUT ROWID""",
    # A case is never deleted, and its audit log is never rewritten.
    """
        CREATE TRIGGER cases_kept BEFORE DELETE ON cases
        BEGIN SELECT RAISE(ABORT, 'a case is never deleted'); END""",
    """
        CREATE TRIGGER case_events_kept BEFORE DELETE ON case_events
        BEGIN SELECT RAISE(ABORT, 'a case step is never deleted'); END""",
    """
        CREATE TRIGGER case_events_fixed BEFORE UPDATE ON case_events
        BEGIN SELECT RAISE(ABORT, 'a case step is never changed'); END""",
)

SUPERVISION = SqlStep(
    "issue 14: service-time supervision: each service's times and limits, and its alerts",
    "ALTER TABLE service_events ADD COLUMN item TEXT",
    """
        CREATE TABLE supervised_services (
            id TEXT PRIMARY KEY,
            window TEXT,
            staff TEXT,
            ticket TEXT,
            item TEXT,
            department TEXT,
            started_at TEXT,
            ended_at TEXT,
            ended_by TEXT CHECK (ended_by IN ('end', 'start', 'sign_out')),
            min_s INTEGER,
            max_s INTEGER,
            limits TEXT CHECK (limits IN ('item', 'department')),
            due_at TEXT,
            overdue_raised INTEGER NOT NULL DEFAULT 0
        )""",
    "CREATE INDEX supervised_services_window ON supervised_services (window, started_at)",
    "CREATE INDEX supervised_services_due ON supervised_services (due_at)"
    " WHERE ended_at IS NULL AND overdue_raised = 0",
    """
        CREATE TABLE supervision_alerts (
            id TEXT PRIMARY KEY,
            service TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('too_fast', 'overdue')),
            department TEXT,
            window TEXT,
            staff TEXT,
            ticket TEXT,
            item TEXT,
            month TEXT NOT NULL,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            seconds REAL NOT NULL,
            limit_s INTEGER NOT NULL,
            limits TEXT NOT NULL CHECK (limits IN ('item', 'department')),
            raised_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'yellow'
                CHECK (status IN ('yellow', 'red', 'dismissed')),
            decided_by TEXT,
            decided_at TEXT,
            note TEXT,
            UNIQUE (service, kind)
        )""",
    "CREATE INDEX supervision_alerts_month ON supervision_alerts (month, department)",
    "CREATE INDEX supervision_alerts_raised ON supervision_alerts (raised_at)",
    "CREATE INDEX supervision_alerts_decided ON supervision_alerts (decided_at)"
    " WHERE decided_at IS NOT NULL",
    """
        CREATE TRIGGER supervision_alerts_kept BEFORE DELETE ON supervision_alerts
        BEGIN
            SELECT RAISE(ABORT, 'supervision alerts are never deleted');
        END""",
    """
        CREATE TABLE supervision_marks (
            name TEXT PRIMARY KEY,
            last_rowid INTEGER NOT NULL
        )""",
    # Supervision starts with the upgrade: services already stored are not judged.
    "INSERT INTO supervision_marks (name, last_rowid)"
    " SELECT 'service_events', coalesce(max(rowid), 0) FROM service_events",
)

BREAKDOWN_COUNTS = SqlStep(
    "issue 13: counts per staff rating dimension and per local hour, for the console's charts",
    """
        CREATE TABLE breakdown_counts (
            scope TEXT NOT NULL,
            subject TEXT NOT NULL,
            period TEXT NOT NULL,
            level_1 INTEGER NOT NULL DEFAULT 0,
            level_2 INTEGER NOT NULL DEFAULT 0,
            level_3 INTEGER NOT NULL DEFAULT 0,
            level_4 INTEGER NOT NULL DEFAULT 0,
            level_5 INTEGER NOT NULL DEFAULT 0,
            total INTEGER NOT NULL DEFAULT 0,
            dissatisfied INTEGER NOT NULL DEFAULT 0,
            filtered INTEGER NOT NULL DEFAULT 0,
            voided INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (scope, period, subject)
        ) WITHOUT ROWID""",
)

CONSOLE_ACCOUNTS = SqlStep(
    "issue 13: console users, their server-side sessions, login attempts and the audit log",
    """
        CREATE TABLE console_users (
            name TEXT PRIMARY KEY,
            display_name TEXT,
            role TEXT NOT NULL
                CHECK (role IN ('manager', 'dept_head', 'office', 'staff', 'admin')),
            department TEXT,
            staff TEXT,
            password_hash TEXT NOT NULL,
            password_changed_at TEXT NOT NULL,
            disabled_at TEXT,
            created_at TEXT NOT NULL,
            CHECK (role != 'dept_head' OR department IS NOT NULL),
            CHECK (role != 'staff' OR staff IS NOT NULL)
        )""",
    """
        CREATE TABLE console_sessions (
            digest TEXT PRIMARY KEY,
            user TEXT NOT NULL REFERENCES console_users (name),
            csrf TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            address TEXT,
            revoked_at TEXT
        )""",
    "CREATE INDEX console_sessions_user ON console_sessions (user)",
    """
        CREATE TABLE console_login_attempts (
            rowid INTEGER PRIMARY KEY,
            user TEXT NOT NULL,
            address TEXT NOT NULL,
            at TEXT NOT NULL,
            ok INTEGER NOT NULL CHECK (ok IN (0, 1))
        )""",
    "CREATE INDEX console_login_attempts_who ON console_login_attempts (user, address, at)",
    """
        CREATE TABLE console_audit (
            rowid INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            user TEXT,
            action TEXT NOT NULL,
            target TEXT,
            note TEXT,
            address TEXT
        )""",
    "CREATE INDEX console_audit_user ON console_audit (user, rowid)",
)

CASE_RATING_SOURCE = SqlStep(
    "issue 14: a rating as a case's source (差评整改, kind 'rating'); cases by the day"
    " received (the bulletin) and by the time answered (the public results)",
    """
        CREATE TABLE case_sources_rating (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases (id),
            first_case INTEGER NOT NULL REFERENCES cases (id),
            kind TEXT NOT NULL CHECK (kind IN ('kiosk', 'phone', 'letter', 'hotline',
                'website', 'visit', 'warning', 'rating')),
            ref TEXT,
            received_on TEXT NOT NULL,
            registered_by TEXT NOT NULL,
            registered_at TEXT NOT NULL,
            contact TEXT,
            text TEXT NOT NULL,
            UNIQUE (kind, ref)
        )""",
    """
        INSERT INTO case_sources_rating (id, case_id, first_case, kind, ref, received_on,
            registered_by, registered_at, contact, text)
        SELECT id, case_id, first_case, kind, ref, received_on, registered_by, registered_at,
            contact, text FROM case_sources""",
    "DROP TABLE case_sources",
    "ALTER TABLE case_sources_rating RENAME TO case_sources",
    "CREATE INDEX case_sources_case ON case_sources (case_id)",
    "CREATE INDEX cases_received ON cases (received_on)",
    "CREATE INDEX cases_answered ON cases (answered_at) WHERE answered_at IS NOT NULL",
)

WARNING_APPEALS = SqlStep(
    "issue 13: appeals against a warning's votes, filed and decided in the console; kept",
    """
        CREATE TABLE warning_appeals (
            id INTEGER PRIMARY KEY,
            warning_id TEXT NOT NULL,
            staff TEXT NOT NULL,
            department TEXT,
            votes TEXT NOT NULL,
            reason TEXT NOT NULL,
            text TEXT NOT NULL,
            filed_by TEXT NOT NULL,
            filed_at TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('filed', 'accepted', 'rejected')),
            decided_by TEXT,
            decided_at TEXT,
            decision_note TEXT
        )""",
    "CREATE INDEX warning_appeals_warning ON warning_appeals (warning_id, id)",
    "CREATE INDEX warning_appeals_status ON warning_appeals (status, id)",
    """
        CREATE TRIGGER warning_appeals_kept BEFORE DELETE ON warning_appeals
        BEGIN SELECT RAISE(ABORT, 'appeals are kept'); END""",
)

CENTRAL_PEOPLE = SqlStep(
    "issue 13: central keeps every hall's per-person figures, to count a person across halls",
    """
        CREATE TABLE central_person_counts (
            hall TEXT NOT NULL,
            period TEXT NOT NULL,
            staff TEXT NOT NULL,
            person TEXT NOT NULL,
            name TEXT NOT NULL,
            level_1 INTEGER NOT NULL,
            level_2 INTEGER NOT NULL,
            level_3 INTEGER NOT NULL,
            level_4 INTEGER NOT NULL,
            level_5 INTEGER NOT NULL,
            total INTEGER NOT NULL,
            dissatisfied INTEGER NOT NULL,
            generated_at TEXT NOT NULL,
            PRIMARY KEY (hall, period, staff)
        ) WITHOUT ROWID""",
    "CREATE INDEX central_person_counts_by_person"
    " ON central_person_counts (period, person, hall, staff)",
)

# In order; the position of a step (from 1) is the schema version it brings a file to.
STEPS: list[Migration] = [
    RELEASE_0_1,
    COMPLAINTS,
    DUTY_INDEX,
    COUNTS,
    VOIDS,
    WARNINGS,
    FORWARDING,
    TOKENS,
    CENTRAL,
    FILTER_COLUMNS,
    DEVICE_CONFIG,
    DUTY_BY_CAST_TIME,
    DEVICE_SEQ,
    RULE_COLUMNS,
    bound_quarantine,
    STANDING_WARNINGS,
    lean_votes,
    COUNTS_BY_PERIOD,
    SIGN_EVENTS,
    CAST_HOURS,
    NOTICES,
    CASES,
    SUPERVISION,
    BREAKDOWN_COUNTS,
    CONSOLE_ACCOUNTS,
    CASE_RATING_SOURCE,
    WARNING_APPEALS,
    CENTRAL_PEOPLE,
]
