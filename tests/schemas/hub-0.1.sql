-- A hub database as release 0.1 wrote it (schema version 1): ISO text times, hex digests.
-- Made with hub.schema.STEPS[:1] and rows in 0.1's form; never edit (tests/test_schema.py).
PRAGMA user_version = 1;
BEGIN TRANSACTION;
CREATE TABLE devices (
            id TEXT PRIMARY KEY,
            status TEXT,
            status_at TEXT,
            info TEXT,
            info_at TEXT,
            telemetry TEXT,
            telemetry_at TEXT
        );
INSERT INTO "devices" VALUES('eval-w01','online','2026-03-02T00:55:00.000+00:00','{"version":"0.1.0"}','2026-03-02T00:55:00.000+00:00','{"uptime_s":120}','2026-03-02T00:57:00.000+00:00');
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
        );
INSERT INTO "quarantine" VALUES(1,'d3c93d2799e1a63815096d2a3309f2c5925ca2a773e19b17fec8ed9f849055e1','hall/h1/device/eval-w01/vote','eval-w01','eval-w01-000000000009','level: must be 1 to 5',X'7B2276223A312C226C6576656C223A392C22636F6D6D656E74223A22E5A4AAE685A2227D','2026-03-02T01:50:00.000+00:00','2026-03-02T01:52:00.000+00:00',2);
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
        );
INSERT INTO "service_events" VALUES(1,'eval-w01-000000000003','eval-w01',3,'sign_in','w01','s01',NULL,'2026-03-02T08:58:00.000+08:00','2026-03-02T08:58:00.000+08:00','2026-03-02T08:58:00.000+08:00','2026-03-02T00:58:00.410+00:00');
CREATE TABLE vote_conflicts (
            rowid INTEGER PRIMARY KEY,
            id TEXT NOT NULL,
            received_at TEXT NOT NULL,
            digest TEXT NOT NULL,
            payload TEXT NOT NULL
        );
INSERT INTO "vote_conflicts" VALUES(1,'eval-w01-000000000002','2026-03-02T01:42:03.001+00:00','2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881','{"v":1,"id":"eval-w01-000000000002","level":2}');
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
        );
INSERT INTO "votes" VALUES(1,'eval-w01-000000000001','eval-w01',1,'window','w01','s01','A001',5,NULL,'[]',NULL,0,'[]','2026-03-02T09:15:04.120+08:00','2026-03-02T09:15:04.120+08:00','2026-03-02T09:15:04.120+08:00','2026-03-02T01:15:04.377+00:00','e8fd5bbb2bbe419cd1f490e268ce63f69f1d4d78c3e158709e1e2b0e16af6d67',1);
INSERT INTO "votes" VALUES(2,'eval-w01-000000000002','eval-w01',2,'window','w01','s01','A002',1,NULL,'["attitude"]',NULL,0,'[]','2026-03-02T09:41:50.002+08:00','2026-03-02T09:41:50.002+08:00','2026-03-02T09:41:50.002+08:00','2026-03-02T01:41:50.210+00:00','85c35a37c8d59d9c6468de65774e05b75bbdf6ef3812317510164542947f0309',1);
INSERT INTO "votes" VALUES(3,'eval-w02-000000000003','eval-w02',3,'window','w02','s02','A003',4,NULL,'[]',NULL,0,'[]','2026-03-02T10:03:11.500+08:00','2026-03-02T10:03:11.500+08:00','2026-03-02T10:03:11.500+08:00','2026-03-02T02:03:11.902+00:00','55423a49f4685ffaad09b7ec3ecff80eba227cf8359b7361a5f537e6188d04a2',1);
INSERT INTO "votes" VALUES(4,'kiosk-1-000000000001','kiosk-1',1,'kiosk',NULL,'s02','A001',3,NULL,'[]',NULL,0,'[]','2026-03-02T10:20:00.000+08:00','2026-03-02T10:20:00.000+08:00','2026-03-02T10:20:00.000+08:00','2026-03-02T02:20:00.640+00:00','9c351e9f4e76efd93e78490521e03ce1f3ed446f0d8db7637ac6f6858bf05de1',1);
CREATE INDEX votes_device ON votes (device, rowid);
CREATE INDEX votes_staff ON votes (staff, cast_at);
CREATE INDEX votes_window ON votes (window, cast_at);
CREATE INDEX vote_conflicts_id ON vote_conflicts (id);
COMMIT;
