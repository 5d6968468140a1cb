"""bench/years.py on a tiny hall, so the bench of years of history cannot rot unnoticed.

It builds a database through the hub's own store, rules and counting, then
runs its measurements against a real ``hallrate hub`` on the session's
Mosquitto: the hub serves what was built, and every vote published during a
``hallrate hub rebuild`` gets its receipt.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from bench import years
from device_agent.session import ONE_PER_SERVICE
from tests.hall import query

VOTES = 2000


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> years.Built:
    """A cached database of 2,000 votes."""
    return years.cached_database(tmp_path_factory.mktemp("cache"), VOTES)


def test_the_history_is_built_once_and_counted(built: years.Built) -> None:
    assert not built.cached and built.votes == VOTES
    assert query(built.path, "SELECT count(*) FROM votes")[0][0] == VOTES
    kiosk = query(built.path, "SELECT count(*) FROM votes WHERE channel = 'kiosk'")[0][0]
    assert 0 < kiosk < VOTES * 0.1
    again = years.cached_database(built.path.parent, VOTES)
    assert again.cached and again.path == built.path and again.end == built.end
    sizes = years.sizes(built.path, VOTES)
    assert sizes["file"] == built.path.stat().st_size / VOTES
    assert 100 < sizes["votes"] < sizes["file"]


def test_every_day_has_its_votes_and_sign_ins(tmp_path: Path) -> None:
    history = years.History(2600, date(2026, 11, 30))
    days = history.working_days()
    assert 250 <= len(days) <= 270 and days[-1] == date(2026, 11, 27)
    batches = list(history.batches())
    assert sum(len(b.votes) for b in batches) == 2600
    assert all(len(b.votes) <= years.BATCH for b in batches)
    sign_ins = [e for b in batches for e in b.events if e.event.event == "sign_in"]
    assert len(sign_ins) == len(days) * years.WINDOWS


@pytest.mark.slow
def test_the_measurements_run_against_a_real_hub(
    built: years.Built, mosquitto, tmp_path: Path
) -> None:
    config = years.write_hall(tmp_path, port=mosquitto.port, client_id="hub-years-test")
    shutil.copyfile(built.path, tmp_path / "hub.sqlite")
    token = years.read_token(config)
    hub = years.Hub(config)
    try:
        cpu = years.hub_cpu(hub, mosquitto.port, seconds=2, epoch="testcpu1")
        api = years.api_latency(hub.url, token, end=built.end, requests=3)
        # The hub's rules let the built history through; the evaluators' filter shows.
        held = years.get(f"{hub.url}/api/v1/votes?rule=not_on_duty", token)["votes"]
        filtered = years.get(f"{hub.url}/api/v1/votes?rule={ONE_PER_SERVICE}", token)["votes"]
    finally:
        hub.stop()
    assert cpu["cpu_pct_1_vote_s"] > 0 and cpu["idle_cpu_s_per_min"] >= 0
    assert set(api) == {"since", "window_deep", "staff_deep"}
    assert all(0 < p50 <= p95 for p50, p95 in api.values())
    assert held == [] and filtered
    # The two votes published at 1 vote/s, and those of the rebuild run, are stored.
    rebuild = years.rebuild_latency(
        config, mosquitto.port, rate=50, baseline_s=0.5, epoch="testreb1"
    )
    assert rebuild["missing"] == 0 and rebuild["during"] > 0 and rebuild["hub_exited"] is None
    assert rebuild["p50_ms"] <= rebuild["p99_ms"] <= rebuild["max_ms"]
    live = "SELECT count(*) FROM votes WHERE id LIKE '%-testcpu1-%' OR id LIKE '%-testreb1-%'"
    assert query(tmp_path / "hub.sqlite", live)[0][0] == 2 + rebuild["published"]


@pytest.mark.slow
def test_the_bench_prints_every_figure_beside_the_small_hall(
    built: years.Built, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = str(built.path.parent)
    argv = ["--votes", str(VOTES), "--base", "1000", "--cache", cache, "--quick"]
    assert years.main([*argv, "--seconds", "1", "--requests", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    # Columns: figure (46), unit (9), the small hall, the big one, the ratio.
    table = {line[:46].strip(): (line[47:56].strip(), line[56:].split()) for line in out}
    for name, unit, _ in years.FIGURES:
        assert table[name][0] == unit
        base, big, ratio = table[name][1]
        assert float(base) >= 0 and float(big) >= 0 and ratio.endswith("x"), name
    assert "bytes per vote in votes" in table
    receipts = [line for line in out if "never receipted" in line]
    assert len(receipts) == 2 and all(", 0 never receipted" in line for line in receipts)
    pairs = dict(pair.split("=") for pair in out[-1].split())
    assert pairs["votes"] == str(VOTES) and pairs["base_votes"] == "1000"
    assert float(pairs["agent_idle_cpu_s_min"]) >= 0
