-- The hub's schema at version 19 (issue 12), as the released code wrote it: sqlite_master's text.
-- A released step never changes, so migrating an empty file to version 19 must give exactly this.
CREATE TABLE vote_conflicts (
            rowid INTEGER PRIMARY KEY,
            id TEXT NOT NULL,
            received_at TEXT NOT NULL,
            digest TEXT NOT NULL,
            payload TEXT NOT NULL
        );
CREATE INDEX vote_conflicts_id ON vote_conflicts (id);
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
        , service TEXT);
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
        , payload_bytes INTEGER, payload_sha256 TEXT, stored_bytes INTEGER NOT NULL DEFAULT 0);
CREATE TABLE devices (
            id TEXT PRIMARY KEY,
            status TEXT,
            status_at TEXT,
            info TEXT,
            info_at TEXT,
            telemetry TEXT,
            telemetry_at TEXT
        , config TEXT, config_at TEXT);
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
        );
CREATE INDEX complaints_code ON complaints (code);
CREATE INDEX service_events_window ON service_events (window, event, rowid);
CREATE TABLE count_marks (
            name TEXT PRIMARY KEY,
            last_rowid INTEGER NOT NULL
        );
CREATE TABLE vote_voids (
            vote_id TEXT PRIMARY KEY,
            reason TEXT NOT NULL
                CHECK (reason IN ('malicious', 'not_about_staff', 'duplicate')),
            note TEXT,
            by TEXT NOT NULL,
            at TEXT NOT NULL
        );
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
        );
CREATE INDEX warnings_staff ON warnings (staff, period);
CREATE INDEX warnings_raised ON warnings (raised_at);
CREATE TABLE warning_votes (
            warning_id TEXT NOT NULL,
            vote_id TEXT NOT NULL,
            PRIMARY KEY (warning_id, vote_id)
        ) WITHOUT ROWID;
CREATE INDEX warning_votes_vote ON warning_votes (vote_id);
CREATE TABLE warning_events (
            rowid INTEGER PRIMARY KEY,
            warning_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            event TEXT NOT NULL,
            at TEXT NOT NULL,
            by TEXT NOT NULL,
            detail TEXT NOT NULL,
            UNIQUE (warning_id, seq)
        );
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
        );
CREATE INDEX forward_outbox_due ON forward_outbox (next_attempt);
CREATE TABLE api_tokens (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            digest TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        );
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
        );
CREATE INDEX central_warnings_raised ON central_warnings (raised_at);
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
        );
CREATE TABLE central_summaries (
            hall TEXT PRIMARY KEY,
            generated_at TEXT NOT NULL,
            document TEXT NOT NULL,
            received_at TEXT NOT NULL
        );
CREATE INDEX service_events_window_cast ON service_events (window, event, cast_at);
CREATE INDEX service_events_device_seq ON service_events (device, seq);
CREATE TABLE vote_acceptances (
            vote_id TEXT PRIMARY KEY,
            rule TEXT NOT NULL,
            note TEXT,
            by TEXT NOT NULL,
            at TEXT NOT NULL
        );
CREATE TABLE quarantine_totals (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            rows INTEGER NOT NULL,
            stored_bytes INTEGER NOT NULL,
            pruned_rows INTEGER NOT NULL DEFAULT 0,
            pruned_bytes INTEGER NOT NULL DEFAULT 0,
            last_pruned_at TEXT
        );
CREATE TRIGGER quarantine_added AFTER INSERT ON quarantine BEGIN
            UPDATE quarantine_totals
            SET rows = rows + 1, stored_bytes = stored_bytes + NEW.stored_bytes WHERE id = 1;
        END;
CREATE TRIGGER quarantine_removed AFTER DELETE ON quarantine BEGIN
            UPDATE quarantine_totals
            SET rows = rows - 1, stored_bytes = stored_bytes - OLD.stored_bytes WHERE id = 1;
        END;
CREATE TRIGGER quarantine_resized AFTER UPDATE OF stored_bytes ON quarantine BEGIN
            UPDATE quarantine_totals
            SET stored_bytes = stored_bytes - OLD.stored_bytes + NEW.stored_bytes WHERE id = 1;
        END;
CREATE INDEX warnings_standing ON warnings (period, rank DESC, count DESC, raised_at DESC, id) WHERE status != 'closed' AND withdrawn_at IS NULL AND superseded_by IS NULL;
CREATE TABLE "votes" (
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
        );
CREATE INDEX votes_device ON votes (device, rowid);
CREATE INDEX votes_device_seq ON votes (device, seq);
CREATE INDEX votes_kiosk_cast ON votes (device, cast_at) WHERE channel = 'kiosk';
CREATE INDEX votes_window ON votes (window, rowid);
CREATE INDEX votes_window_cast ON votes (window, cast_at);
CREATE INDEX votes_staff ON votes (staff, rowid);
CREATE INDEX votes_staff_cast ON votes (staff, cast_at);
CREATE INDEX votes_ticket ON votes (ticket, cast_at) WHERE ticket IS NOT NULL;
CREATE INDEX votes_rule ON votes (coalesce(filter_rule, hub_rule), rowid) WHERE coalesce(filter_rule, hub_rule) IS NOT NULL;
CREATE TABLE cast_days (
            day INTEGER PRIMARY KEY,
            first_rowid INTEGER NOT NULL
        );
CREATE VIEW votes_readable AS SELECT rowid, id, device, seq, channel, window, staff, ticket, level, dims, reasons, comment, anonymous, flags, ts, strftime('%Y-%m-%dT%H:%M:%S', (cast_at - ((cast_at % 1000) + 1000) % 1000) / 1000, 'unixepoch') || printf('.%03d', ((cast_at % 1000) + 1000) % 1000) || '+00:00' AS cast_at, sent, strftime('%Y-%m-%dT%H:%M:%S', (received_at - ((received_at % 1000) + 1000) % 1000) / 1000, 'unixepoch') || printf('.%03d', ((received_at % 1000) + 1000) % 1000) || '+00:00' AS received_at, lower(hex(digest)) AS digest, counted, filter_rule, filter_version, service, hub_rule, hub_rule_version FROM votes;
CREATE TABLE "counts" (
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
        ) WITHOUT ROWID;
CREATE INDEX service_events_sign ON service_events (window, cast_at) WHERE event IN ('sign_in', 'sign_out');
