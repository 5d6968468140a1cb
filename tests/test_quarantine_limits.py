"""The quarantine stays bounded under a flood, forgets what is old, and keeps no personal data."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.request import Request, urlopen

import pytest

from device_agent.claim import hash_password
from device_agent.errors import ConfigError
from device_agent.protocol import format_time
from device_agent.storage import migrate, open_database
from device_agent.topics import DeviceTopic, Topics
from hub import quarantine
from hub.config import load_hub_config
from hub.quarantine import Quarantined, QuarantineSettings, stored_form
from hub.schema import STEPS, bound_quarantine
from hub.store import Batch, Store
from tests.hall import get_json, query, wait_until
from tests.thirdparty import vote_payload

PHONE = "13912345678"
FLOOD = 2000
CAP = 256 * 1024
OLD_TIME = "2026-11-01T00:00:00.000+00:00"


def database_bytes(path: Path) -> int:
    """The size of the hub's database with its write-ahead log."""
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def raw_files(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


def quarantine_pages(api_url: str, token: str, limit: int = 100) -> tuple[list[dict], list[int]]:
    """Every quarantined item, walking the pages; and each answer's size in bytes."""
    items, sizes, after = [], [], 0
    while True:
        request = Request(
            f"{api_url}/api/v1/quarantine?limit={limit}&after={after}",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urlopen(request, timeout=10) as response:
            raw = response.read()
        sizes.append(len(raw))
        page = json.loads(raw)
        items += page["quarantine"]
        if page["next_after"] is None:
            return items, sizes
        after = page["next_after"]


def test_a_flood_of_large_payloads_stays_under_the_cap_and_the_hub_stays_healthy(
    hall, mosquitto, start_hub, third_party
):
    hub = start_hub(hall, extra=f"[quarantine]\nmax_total_bytes = {CAP}\n")
    topics = Topics.for_hall(hall.id)
    firmware = third_party(mosquitto.port)
    firmware.wait_for_hub(topics)
    topic = topics.device("w01-eval", DeviceTopic.VOTE)
    # ~60 KB each, every one different: none is a repeat the hub could fold.
    flood = [vote_payload("w01-eval", seq, comment=f"{seq:06d}" * 10_000) for seq in range(FLOOD)]
    started = time.monotonic()
    for payload in flood:
        firmware.publish(topic, payload)
    wait_until(
        lambda: get_json(f"{hub.api_url}/healthz")["quarantined"] == FLOOD,
        timeout=180,
        message="every payload quarantined",
    )
    elapsed = time.monotonic() - started

    totals = get_json(f"{hub.api_url}/api/v1/quarantine?limit=1", token=hall.token)["totals"]
    assert totals["stored_bytes"] <= CAP
    assert totals["pruned_rows"] > 0 and totals["last_pruned_at"]
    assert totals["rows"] + totals["pruned_rows"] == FLOOD
    # The running total is what the table holds (the triggers kept it, no scan did).
    assert query(hall.database, "SELECT count(*), sum(stored_bytes) FROM quarantine") == [
        (totals["rows"], totals["stored_bytes"])
    ]
    # The newest are kept; each as a 1 KiB prefix with the size and hash of the whole.
    items, sizes = quarantine_pages(hub.api_url, hall.token)
    assert len(items) == totals["rows"]
    assert items[-1]["payload_sha256"] == hashlib.sha256(flood[-1]).hexdigest()
    assert items[-1]["payload_bytes"] > 60_000 and items[-1]["payload_truncated"]
    assert len(items[-1]["payload"].encode()) <= 1024
    assert max(sizes) < 300 * 1024, sizes
    health = get_json(f"{hub.api_url}/healthz")
    assert health["status"] == "ok"
    assert health["quarantine_pruned"] == totals["pruned_rows"]
    # 120 MB went through; the database holds a few hundred KB of it.
    size = database_bytes(hall.database)
    print(f"{FLOOD} payloads of {len(flood[0])} bytes in {elapsed:.1f} s; database {size} bytes")
    assert size < 8 * 1024 * 1024, size

    # And the hub still counts votes.
    firmware.publish(topics.device("w02-eval", DeviceTopic.VOTE), vote_payload("w02-eval", 1))
    wait_until(hall.stored_votes, message="a vote after the flood")


def complaint(device: str, seq: int, **changes: object) -> dict:
    body = {
        "v": 1,
        "id": f"{device}-{seq:012d}",
        "seq": seq,
        "ts": format_time(datetime.now(UTC)),
        "device": device,
        "code": "12345674",
        "secret": hash_password("246813", iterations=1000),
        "category": "attitude",
        "text": f"态度生硬, 请回电 {PHONE}",
        "staff": "s01",
        "department": "civil",
        "anonymous": False,
        "contact": PHONE,
    }
    body.update(changes)
    return body


def test_a_quarantined_complaint_never_shows_the_citizens_phone(
    hall, mosquitto, start_hub, third_party
):
    with hall.directory_path.open("a") as directory:
        directory.write('\n[[devices]]\nid = "kiosk-01"\nkind = "kiosk"\n')
    hub = start_hub(hall)
    topics = Topics.for_hall(hall.id)
    firmware = third_party(mosquitto.port)
    firmware.wait_for_hub(topics)
    complaints = topics.device("kiosk-01", DeviceTopic.COMPLAINT)
    whole = json.dumps(complaint("kiosk-01", 1), ensure_ascii=False).encode()
    sent = [
        # An anonymous complaint that names a contact all the same.
        (complaints, complaint("kiosk-01", 2, anonymous=True)),
        # Too large to accept, contact and all.
        (complaints, complaint("kiosk-01", 3, text="长" * 3000 + PHONE)),
        # Cut short: no field can be found in it, so none of it is kept.
        (complaints, whole[:-40]),
        # A complaint on a window's vote topic: its fields give it away.
        (topics.device("w01-eval", DeviceTopic.VOTE), complaint("w01-eval", 4)),
    ]
    for topic, body in sent:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        assert PHONE.encode() in payload
        firmware.publish(topic, payload)
    wait_until(lambda: len(hall.quarantined()) == len(sent), message="every complaint refused")

    answer = get_json(f"{hub.api_url}/api/v1/quarantine", token=hall.token)
    assert PHONE not in json.dumps(answer, ensure_ascii=False)
    items = answer["quarantine"]
    assert items[0]["reason"] == "contact: an anonymous complaint carries no contact"
    assert items[1]["reason"].startswith("payload of ")
    assert items[2]["reason"].startswith("not valid JSON")
    anonymous = json.loads(items[0]["payload"])
    assert anonymous["contact"] == anonymous["secret"] == anonymous["text"] == "[redacted]"
    assert anonymous["code"] == "12345674" and anonymous["category"] == "attitude"
    assert items[2]["payload"] == "" and items[2]["payload_bytes"] == len(whole) - 40
    assert items[2]["payload_sha256"] == hashlib.sha256(whole[:-40]).hexdigest()
    assert json.loads(items[3]["payload"])["contact"] == "[redacted]"
    # Nor anywhere in the database's files.
    hub.stop()
    assert PHONE.encode() not in raw_files(hall.database)


def old_quarantine_database(path: Path) -> None:
    """A hub database as the release before bounded quarantine left it, with two rows."""
    db = open_database(path)
    migrate(db, STEPS[: STEPS.index(bound_quarantine)])
    rows = [
        ("hallrate/t/device/w01-eval/vote", b"x" * 60_000),
        ("hallrate/t/device/kiosk-01/complaint", json.dumps(complaint("kiosk-01", 1)).encode()),
    ]
    with db.conn:
        for topic, payload in rows:
            db.execute(
                "INSERT INTO quarantine (digest, topic, device, record_id, reason, payload,"
                " first_seen, last_seen) VALUES (?, ?, NULL, NULL, 'old', ?, ?, ?)",
                (hashlib.sha256(payload).hexdigest(), topic, payload, OLD_TIME, OLD_TIME),
            )
    db.close()


def test_the_migration_cuts_and_redacts_what_an_older_hub_kept(tmp_path):
    path = tmp_path / "hub.sqlite"
    old_quarantine_database(path)
    assert PHONE.encode() in raw_files(path)

    Store(path).close()

    rows = query(path, "SELECT payload, payload_bytes, stored_bytes FROM quarantine ORDER BY rowid")
    assert [(len(p), n) for p, n, _ in rows] == [(1024, 60_000), (len(rows[1][0]), rows[1][1])]
    assert json.loads(rows[1][0])["contact"] == "[redacted]"
    assert query(path, "SELECT rows, stored_bytes FROM quarantine_totals") == [
        (2, sum(r[2] for r in rows))
    ]
    assert PHONE.encode() not in raw_files(path)


def test_what_is_older_than_the_age_limit_is_pruned_at_the_next_commit(tmp_path):
    store = Store(tmp_path / "hub.sqlite", quarantine=QuarantineSettings(max_age_days=30))
    now = datetime.now(UTC)

    def item(n: int, days_ago: int) -> Quarantined:
        at = format_time(now - timedelta(days=days_ago))
        return Quarantined("t/device/w01-eval/vote", "w01-eval", None, "bad", b"%d" % n, at)

    try:
        store.commit(Batch(quarantine=[item(1, 40), item(2, 31)]))
        store.commit(Batch(quarantine=[item(3, 29), item(4, 1)]))
        kept = query(tmp_path / "hub.sqlite", "SELECT payload FROM quarantine ORDER BY rowid")
        assert [bytes(p) for (p,) in kept] == [b"3", b"4"]
        totals = quarantine.totals(store.db.conn)
        assert (totals["rows"], totals["pruned_rows"]) == (2, 2)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("topic", "payload", "kept"),
    [
        ("h/device/w01-eval/vote", b'{"v": 1, "level": 9}', b'{"v": 1, "level": 9}'),
        ("h/device/w01-eval/vote", b"\xff" * 5000, b"\xff" * 1024),
        ("h/device/kiosk-01/complaint", b'{"contact": "1390", "text": "x"', b""),
        ("h/device/w01-eval/vote", b'{"contact": "1390", "level": 9', b""),
        (
            "h/device/kiosk-01/complaint",
            b'{"code": "1234", "contact": null, "text": "\\u4f60"}',
            b'{"code":"1234","contact":null,"text":"[redacted]"}',
        ),
        (
            "h/device/w01-eval/vote",
            b'[{"deep": {"\\u0063ontact": "1390"}}]',
            b'[{"deep":{"contact":"[redacted]"}}]',
        ),
    ],
)
def test_what_is_kept_of_a_payload(topic, payload, kept):
    form = stored_form(topic, payload, 1024)
    assert form.prefix == kept
    assert (form.size, form.sha256) == (len(payload), hashlib.sha256(payload).hexdigest())


def test_quarantine_settings_are_checked_with_file_and_key(hall):
    table = "prefix_bytes = 99999\nmax_total_bytes = 10\nmax_age_days = 0\nkeep = 1\n"
    path = hall.hub_config(extra=f"[quarantine]\n{table}")
    with pytest.raises(ConfigError) as caught:
        load_hub_config(path)
    problems = caught.value.problems
    for key in ("prefix_bytes", "max_total_bytes", "max_age_days", "keep"):
        assert any(p.startswith(f"{path}: quarantine.{key}: ") for p in problems), (key, problems)
    defaults = load_hub_config(hall.hub_config()).quarantine
    assert defaults == QuarantineSettings(
        prefix_bytes=1024, max_total_bytes=64 << 20, max_age_days=90
    )
