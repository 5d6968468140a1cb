"""The agent library every window device and kiosk runs, and the contract the hub speaks.

The hub and the kiosk import from it only its public surface, the names in
:data:`SURFACE` (``tests/test_import_rules.py`` holds them to it):

- the wire protocol: ``topics`` (every topic built and parsed), ``protocol``
  (the envelopes, encoding and validation), ``claim`` (claim codes and the
  complaint envelope's ``secret``: the kiosk hashes, the hub checks);
- the hall directory model the hub serves kiosks: ``directory``;
- ``errors``: the exceptions the surface raises;
- storage: ``storage`` (WAL SQLite, write transactions, migrations);
- config loading: ``configfile`` (config files declared as typed sections, every problem at
  once) and ``config`` (the outbox settings a kiosk shares with a window);
- the MQTT client base: ``mqtt`` (broker settings, TLS, ``MqttClient``: one connection per process);
- the agent's sending side a kiosk runs: ``sender`` (the resend loop over
  the durable outbox);
- ``runner``: the one process runner (signals, systemd, exit statuses).

Everything else here (buttons, keypads, the rating session, lights, the
link, telemetry) is the window device's own.
"""

__version__ = "0.1.0"

# module: the names the hub and the kiosk may import from it
SURFACE: dict[str, frozenset[str]] = {
    "topics": frozenset(
        {
            "BoardTopic",
            "DEFAULT_BASE",
            "DeviceTopic",
            "HubTopic",
            "ID_PATTERN",
            "Topics",
            "check_id",
            "every_hall_hub",
            "parse_hall_hub",
        }
    ),
    "protocol": frozenset(
        {
            "CODE",
            "Complaint",
            "DIMENSIONS",
            "ENVELOPE_ID",
            "MAX_COMMENT_CHARS",
            "MAX_COMPLAINT_CHARS",
            "MAX_PAYLOAD_BYTES",
            "Receipt",
            "ServiceEvent",
            "VERSION",
            "Vote",
            "VoteFilter",
            "decode_complaint",
            "decode_receipt",
            "decode_service_event",
            "decode_vote",
            "encode",
            "format_time",
            "load_object",
            "parse_time",
        }
    ),
    "claim": frozenset(
        {
            "DECOY_SECRET",
            "format_claim_code",
            "hash_password",
            "is_claim_code",
            "is_password",
            "new_claim_code",
            "password_matches",
        }
    ),
    "directory": frozenset(
        {
            "DEVICE_KINDS",
            "Announcement",
            "Department",
            "Device",
            "Directory",
            "Seconds",
            "ServiceItem",
            "Staff",
            "Window",
        }
    ),
    "errors": frozenset({"AgentError", "ConfigError", "ProtocolError"}),
    "storage": frozenset(
        {
            "Migration",
            "is_disk_full",
            "migrate",
            "open_database",
            "open_reader",
            "write_transaction",
        }
    ),
    "configfile": frozenset(
        {
            "Bool",
            "FilePath",
            "Float",
            "Id",
            "Int",
            "Problems",
            "Secret",
            "Str",
            "TimeZone",
            "base_of",
            "between",
            "checked",
            "cross_check",
            "document",
            "empty_means",
            "fill_secret",
            "load",
            "load_toml",
            "matching",
            "one_of",
            "read_secret",
            "repeats",
            "secret_field",
            "secret_from_file_or_env",
            "section",
            "validate",
        }
    ),
    "config": frozenset({"OutboxSettings", "outbox_table"}),
    "mqtt": frozenset(
        {
            "OFFLINE",
            "ONLINE",
            "PROTOCOLS",
            "BrokerSettings",
            "MqttClient",
            "is_failure",
        }
    ),
    "sender": frozenset({"SenderThread"}),
    "runner": frozenset({"Process", "serve"}),
}
