"""The hall hub: ingest, storage, aggregates, warnings, LED boards, dashboard and API."""
