"""The kiosk's web app through Flask's test client: links, forms, limits, offline behaviour.

The app is the real one of a running kiosk (real outbox and sender, a real
hub to sync from and deliver to); only the browser is left out.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from device_agent.protocol import DIMENSIONS
from hallrate.broker import free_port
from hallrate.check_config import check
from hub.cases.chain import PUBLIC_STEP, STEP_NAMES
from hub.complaints import STATUSES
from hub.service import HubService
from kiosk.config import load_kiosk_config
from kiosk.display import local_path
from kiosk.limits import KioskRate
from kiosk.messages import MESSAGES
from kiosk.service import KioskService
from tests.certs import make_hall_ca
from tests.hall import get_json, query, wait_until
from tests.kiosk_hall import KioskHall, start_hub, start_kiosk

TEMPLATES = Path(__file__).resolve().parent.parent / "kiosk" / "templates"
SAMPLE_KIOSK = Path(__file__).resolve().parent.parent / "firmware_config" / "sample-hall"
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
LINK = re.compile(r'(?<![\w-])(?:href|src|action)="([^"]*)"')
KEY = re.compile(r"""\bt\(\s*['"]([a-z_]+\.[a-z_]+|[a-z_]+)['"]""")


@pytest.fixture(scope="module")
def hall(tmp_path_factory: pytest.TempPathFactory, mosquitto) -> KioskHall:
    return KioskHall(tmp_path_factory.mktemp("kiosk-app"), mosquitto.port)


@pytest.fixture(scope="module")
def hub(hall: KioskHall) -> Iterator[HubService]:
    hub = start_hub(hall)
    yield hub
    hub.stop()


@pytest.fixture(scope="module")
def kiosk(hall: KioskHall, hub: HubService) -> Iterator[KioskService]:
    kiosk = start_kiosk(hall, 1, hub_url=hub.api_url)
    yield kiosk
    kiosk.stop()


@pytest.fixture
def client(kiosk: KioskService) -> FlaskClient:
    """A new citizen at the kiosk, with a browser (a cookie jar) of their own."""
    kiosk.next_citizen()
    return kiosk.app.test_client()


@pytest.fixture
def clock(kiosk: KioskService) -> Iterator[list[float]]:
    """The kiosk's wall clock, moved by the test: ``clock[0] += s``."""
    resources = kiosk.app.extensions["hallrate_kiosk"]
    now = [1_000_000.0]
    resources.clock = lambda: now[0]
    yield now
    resources.clock = time.time


def hidden_fields(page: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in HIDDEN.findall(page)}


def rate(client: FlaskClient, staff: str, query: str = "", **choices: str):
    form = client.get(f"/rate/staff/{staff}{query}").get_data(as_text=True)
    fields = {**hidden_fields(form), "attitude": "4", "efficiency": "5", "style": "3"}
    fields.update(choices)
    return client.post(f"/rate/staff/{staff}", data=fields)


def test_every_sentence_a_template_asks_for_exists_in_both_languages():
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(KEY.findall(template.read_text()))
    # Keys put together in templates and views.
    used |= {f"dim.{d}" for d in DIMENSIONS} | {f"level.{n}" for n in range(1, 6)}
    used |= {f"status.{s}" for s in (*STATUSES, "forwarding")}
    used |= {f"step.{PUBLIC_STEP.get(s, s)}" for s in STEP_NAMES}
    used |= {"rate.repeat_ahead", "rate.enough", "busy", "store_failed", "complaint.enough"}
    used |= {"lookup.too_many", "lookup.bad_code", "lookup.not_found", "lookup.unavailable"}
    assert used - set(MESSAGES) == set()
    assert all(zh and en for zh, en in MESSAGES.values())


def test_no_page_leads_out_of_the_kiosk(client):
    for setup in ("/display/language/zh-CN", "/display/language/en", "/display/elderly/on"):
        client.get(setup)
        seen, queue = set(), ["/"]
        while queue:
            path = queue.pop()
            if path in seen:
                continue
            seen.add(path)
            with client.get(path) as response:
                assert response.status_code == 200, path
                if not response.mimetype.startswith("text/html"):
                    continue
                page = response.get_data(as_text=True)
            for link in LINK.findall(page):
                parts = urlsplit(html.unescape(link))
                if not parts.path and parts.fragment:
                    continue  # a place on the same page
                assert not parts.scheme and not parts.netloc, f"{path} leads out: {link}"
                assert parts.path.startswith("/"), f"{path}: {link}"
                if parts.path not in ("/reset",) and not parts.path.startswith("/display/"):
                    queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
        assert len(seen) > 30


def test_a_post_from_another_site_is_refused(client):
    form = client.get("/rate/staff/s01").get_data(as_text=True)
    fields = {**hidden_fields(form), "attitude": "1", "efficiency": "1", "style": "1"}
    assert (
        client.post(
            "/rate/staff/s01", data=fields, headers={"Origin": "http://elsewhere.example"}
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/rate/staff/s01", data=fields, headers={"Sec-Fetch-Site": "cross-site"}
        ).status_code
        == 403
    )


def kiosk_votes_since(hall: KioskHall, kiosk: KioskService, before: int, count: int) -> list:
    """The kiosk's votes after the first ``before``, once ``count`` of them are at the hub."""
    wait_until(lambda: len(hall.kiosk_votes()) >= before + count, message=f"{count} votes")
    return query(
        hall.database,
        "SELECT staff, level, filter_rule, filter_version, counted FROM votes"
        " WHERE channel = 'kiosk' ORDER BY rowid",
    )[before:]


def delivered(hall: KioskHall, kiosk: KioskService) -> int:
    """How many kiosk votes the hub holds once the kiosk's outbox is empty."""
    wait_until(lambda: kiosk.sender.depth == 0, message="earlier records delivered")
    return len(hall.kiosk_votes())


def test_a_citizen_rates_a_few_people_at_most_and_the_home_button_does_not_reset_it(
    client, hall, kiosk, clock
):
    for staff in ("s01", "s02", "s03"):
        assert rate(client, staff).status_code == 303
    enough = rate(client, "s99")
    assert enough.status_code == 429
    assert 'data-refused="rate.enough"' in enough.get_data(as_text=True)
    # The home button, a new browser: the same citizen, the same limit.
    client.get("/reset")
    assert 'data-refused="rate.enough"' in rate(client, "s99").get_data(as_text=True)
    assert 'data-refused="rate.enough"' in rate(kiosk.app.test_client(), "s99").get_data(
        as_text=True
    )
    # Nobody touched the screen for the idle time: the next request is a new citizen.
    clock[0] += kiosk.config.idle_reset_s
    assert rate(client, "s99").status_code == 303


def test_rating_the_same_person_again_after_home_is_kept_but_filtered(client, hall, kiosk, clock):
    before = delivered(hall, kiosk)
    thanks = client.get(rate(client, "s02", attitude="1", efficiency="1", style="1").location)
    assert "data-notice" not in thanks.get_data(as_text=True)
    client.get("/reset")  # 首页 on the thank-you page
    clock[0] += 30

    form = client.get("/rate/staff/s02").get_data(as_text=True)
    assert 'data-notice="rate.repeat_ahead"' in form
    assert "再评一次也会保存，但只有第一次的评价计入统计" in form
    again = rate(client, "s02", attitude="1", efficiency="1", style="1")
    assert again.status_code == 303
    page = client.get(again.location).get_data(as_text=True)
    assert 'data-notice="rate.repeat_saved"' in page
    assert "这次的评价也已保存，但不重复计入统计" in page
    assert "data-reference" in page

    # Nobody touched the screen for the idle time: a new citizen's rating counts.
    clock[0] += kiosk.config.idle_reset_s
    client.get("/")
    assert 'data-notice="rate.repeat_ahead"' not in client.get("/rate/staff/s02").get_data(
        as_text=True
    )
    # (Satisfied: another dissatisfied vote from this kiosk within minutes would
    # be the hub's kiosk_burst, whoever cast it.)
    assert rate(client, "s02", attitude="4", efficiency="5", style="4").status_code == 303

    # (staff, level, filter rule, its version, counted), as the hub stored them.
    assert kiosk_votes_since(hall, kiosk, before, 3) == [
        ("s02", 1, None, None, 1),
        ("s02", 1, "kiosk_repeat", 1, 0),
        ("s02", 4, None, None, 1),
    ]


def test_very_dissatisfied_ratings_with_home_between_raise_no_warning(hall, hub):
    # Rate, tap 首页, rate again: a dozen times in a minute (ten raise level III).
    eager = start_kiosk(
        hall, 2, hub_url=hub.api_url, extra="[limits]\nsubmissions_per_minute = 60\n"
    )
    try:
        client = eager.app.test_client()
        for _ in range(12):
            assert rate(client, "s01", attitude="1", efficiency="1", style="1").status_code == 303
            client.get("/reset")

        def stored() -> list[tuple]:
            return query(
                hall.database,
                "SELECT filter_rule, counted FROM votes WHERE device = 'kiosk-02' AND staff = 's01'"
                " ORDER BY rowid",
            )

        wait_until(lambda: len(stored()) == 12, message="all twelve at the hub")
        assert stored() == [(None, 1)] + [("kiosk_repeat", 0)] * 11
        assert query(hall.database, "SELECT id FROM warnings WHERE staff = 's01'") == []
        # Visible as filtered: the hub's filters API counts them for the kiosk.
        days = get_json(f"{hub.api_url}/api/v1/filters", token=hall.token)["days"]
        (today,) = [d for d in days if d.get("kiosk") == "kiosk-02"]
        assert today["filtered"].get("kiosk_repeat", 0) >= 11
    finally:
        eager.stop()


def test_a_form_posted_after_a_long_pause_is_still_the_same_citizen(client, hall, kiosk, clock):
    before = delivered(hall, kiosk)
    assert rate(client, "s03").status_code == 303
    form = client.get("/rate/staff/s03").get_data(as_text=True)
    # The citizen takes their time over the faces (touches that send no request).
    clock[0] += kiosk.config.idle_reset_s + 5
    fields = {**hidden_fields(form), "attitude": "2", "efficiency": "2", "style": "2"}
    # The browser's cookie aged out meanwhile: the form asks for one more tap.
    stale = client.post("/rate/staff/s03", data=fields)
    assert 'data-notice="rate.stale"' in stale.get_data(as_text=True)
    posted = client.post(
        "/rate/staff/s03", data={**fields, **hidden_fields(stale.get_data(as_text=True))}
    )
    assert posted.status_code == 303
    assert [v[2] for v in kiosk_votes_since(hall, kiosk, before, 2)] == [None, "kiosk_repeat"]


def test_a_missing_line_is_asked_for_with_the_other_choices_kept(client):
    response = rate(client, "s02", style="")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'data-error="rate.missing"' in page
    assert 'name="attitude" value="4" checked' in page
    assert 'name="efficiency" value="5" checked' in page


def test_the_ticket_from_a_windows_qr_code_is_kept_unless_anonymous(client, hall, kiosk):
    wait_until(lambda: kiosk.sender.depth == 0, message="earlier votes delivered")
    before = len(hall.kiosk_votes())
    scanned = client.get("/rate/scan?code=hallrate:window:w02:A017")
    assert scanned.status_code == 303
    assert scanned.headers["Location"] == "/rate/window/w02?ticket=A017"
    pick = client.get(scanned.headers["Location"]).get_data(as_text=True)
    assert "/rate/staff/s02?window=w02&amp;ticket=A017" in pick
    assert rate(client, "s02", "?window=w02&ticket=A017", anonymous="0").status_code == 303
    kiosk.next_citizen()
    assert rate(client, "s02", "?window=w02&ticket=A018", anonymous="1").status_code == 303

    wait_until(lambda: len(hall.kiosk_votes()) == before + 2, message="both votes at the hub")
    new = hall.kiosk_votes()[before:]
    # (anonymous, ticket): an anonymous vote keeps nothing that leads to the citizen.
    assert sorted((v[3], v[4]) for v in new) == [(0, "A017"), (1, None)]


def test_an_unknown_qr_code_says_so(client):
    response = client.get("/rate/scan?code=https://elsewhere.example/")
    assert response.status_code == 404
    assert "没有认出这个二维码" in response.get_data(as_text=True)


def test_a_complaint_form_asks_for_what_is_missing_and_keeps_what_was_entered(client, hall):
    form = client.get("/complaints/new?staff=s01").get_data(as_text=True)
    fields = {**hidden_fields(form), "category": "attitude", "details": ["rude"], "anonymous": "0"}
    fields["password"] = "135790"
    missing = client.post("/complaints/new", data=fields)
    page = missing.get_data(as_text=True)
    assert 'data-error="complaint.need_contact"' in page
    assert 'value="attitude" checked' in page and 'value="rude" checked' in page

    fields["contact"] = "139-0000-1111"
    filed = client.post("/complaints/new", data=fields)
    assert filed.status_code == 303
    thanks = client.get(filed.headers["Location"]).get_data(as_text=True)
    code = re.search(r"data-claim-code>(\d{4} \d{4})<", thanks).group(1).replace(" ", "")
    stored = wait_until(
        lambda: [c for c in hall.complaints() if c[1] == code], message="the complaint"
    )
    assert stored[0][2:6] == ("attitude", "【态度生硬冷漠】", 0, "13900001111")


def test_looking_up_asks_for_a_right_code_and_stops_after_a_few_tries(client):
    page = client.get("/complaints/lookup").get_data(as_text=True)
    token = hidden_fields(page)["csrf_token"]
    typo = client.post(
        "/complaints/lookup", data={"csrf_token": token, "code": "12345675", "password": "1"}
    )
    assert 'data-error="lookup.bad_code"' in typo.get_data(as_text=True)
    answers = [
        client.post(
            "/complaints/lookup",
            data={"csrf_token": token, "code": "1234 5674", "password": "000000"},
        ).status_code
        for _ in range(6)
    ]
    assert answers == [404] * 5 + [429]


def test_a_complaint_still_waiting_here_shows_as_forwarding(tmp_path, own_broker):
    hall = KioskHall(tmp_path / "hall", own_broker.port)
    hub = start_hub(hall, api_port=free_port())
    kiosk = start_kiosk(hall, 1, hub_url=hub.api_url)
    try:
        # Neither the broker nor the hub can be reached: the complaint stays here.
        own_broker.kill()
        hub.stop()
        client = kiosk.app.test_client()
        form = client.get("/complaints/new").get_data(as_text=True)
        fields = {**hidden_fields(form), "category": "other", "details": "overdue"}
        filed = client.post("/complaints/new", data={**fields, "password": "112233"})
        thanks = client.get(filed.headers["Location"]).get_data(as_text=True)
        code = re.search(r"data-claim-code>(\d{4} \d{4})<", thanks).group(1)
        assert kiosk.sender.depth == 1

        token = hidden_fields(client.get("/complaints/lookup").get_data(as_text=True))
        ask = {"csrf_token": token["csrf_token"], "code": code}
        waiting = client.post("/complaints/lookup", data={**ask, "password": "112233"})
        assert 'data-status="forwarding"' in waiting.get_data(as_text=True)
        wrong = client.post("/complaints/lookup", data={**ask, "password": "332211"})
        assert wrong.status_code == 503
        assert 'data-error="lookup.unavailable"' in wrong.get_data(as_text=True)
    finally:
        kiosk.stop()


def test_a_restarted_kiosk_shows_its_last_copy_while_the_hub_is_down(tmp_path, mosquitto):
    hall = KioskHall(tmp_path / "hall", mosquitto.port)
    hub = start_hub(hall, api_port=free_port())
    kiosk = start_kiosk(hall, 1, hub_url=hub.api_url)
    kiosk.stop()
    hub.stop()

    kiosk = start_kiosk(hall, 1, hub_url=hub.api_url)  # returns once a directory is shown
    try:
        wait_until(lambda: kiosk.sync.last_error is not None, message="the failed sync")
        page = kiosk.app.test_client().get("/windows").get_data(as_text=True)
        assert "1号窗口" in page and "职员1" in page
        assert "暂时连不上中心" in page
    finally:
        kiosk.stop()


def test_a_kiosk_configuration_reports_every_problem(tmp_path):
    path = tmp_path / "kiosk.toml"
    path.write_text(
        '[kiosk]\nid = "Kiosk 1"\nhall = "h1"\nhub_url = "hub.local"\nidle_reset_s = 0\n'
        'language = "fr"\ncolour = "red"\n[limits]\nvotes_per_session = 0\n'
        '[[rating.reasons]]\ncode = "Bad Code"\nzh = "差"\n'
    )
    with pytest.raises(ValueError) as caught:
        load_kiosk_config(path)
    problems = "\n".join(caught.value.problems)  # type: ignore[attr-defined]
    for expected in (
        "kiosk.id: must match",
        "kiosk.hub_url: must be an http:// or https:// address",
        "kiosk.idle_reset_s: must be between",
        "kiosk.language: must be one of zh-CN, en",
        "kiosk.colour: unknown key",
        "limits.votes_per_session: must be between",
        "rating.reasons[0].code: must match",
    ):
        assert expected in problems


def test_the_sample_kiosk_configuration_is_valid(tmp_path):
    for name in ("kiosk-01.toml", "directory.toml"):
        (tmp_path / name).write_text((SAMPLE_KIOSK / name).read_text())
    (tmp_path / "broker.password").write_text("kiosk-secret\n")
    shutil.copy(make_hall_ca(tmp_path / "ca").ca, tmp_path / "hall-ca.crt")
    assert check(tmp_path / "kiosk-01.toml") == ("kiosk", [])
    config = load_kiosk_config(tmp_path / "kiosk-01.toml")
    assert config.device == "kiosk-01"
    assert [r.code for r in config.reasons] == ["patient", "quick", "long-wait", "rude"]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/staff/s01", "/staff/s01"),
        ("//elsewhere.example/", "/"),
        ("http://elsewhere.example/", "/"),
        ("/\\elsewhere.example", "/"),
        ("/\t/elsewhere.example", "/"),
        ("/\n/elsewhere.example", "/"),
        (None, "/"),
    ],
)
def test_display_switches_only_return_to_kiosk_pages(target, expected):
    assert local_path(target) == expected


def test_the_kiosk_takes_a_limited_number_of_submissions_a_minute():
    now = [0.0]
    rate = KioskRate(3, clock=lambda: now[0])
    assert [rate.admit() for _ in range(4)] == [True, True, True, False]
    now[0] = 61.0
    assert rate.admit()


def test_the_kiosk_unit_is_hardened_and_accepted_by_systemd(tmp_path):
    unit_path = Path(__file__).resolve().parent.parent / "systemd" / "hallrate-kiosk.service"
    text = unit_path.read_text()
    for line in (
        "Type=notify",
        "User=hallrate",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/hallrate",
        "ExecStart=/opt/hallrate/venv/bin/hallrate kiosk --config /etc/hallrate/kiosk.toml",
    ):
        assert line in text.splitlines()
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze (package systemd) is needed to check units"
    here = str(Path(sys.executable).parent / "hallrate")
    copy = tmp_path / unit_path.name
    copy.write_text(text.replace("/opt/hallrate/venv/bin/hallrate", here))
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stderr.strip()) == (0, "")


def test_a_drawn_photo_escapes_the_name_too(client):
    with client.get("/staff/s99/photo") as response:
        drawing = response.get_data(as_text=True)
    assert response.mimetype == "image/svg+xml"
    assert "&lt;</text>" in drawing and "<script" not in drawing


def test_an_idle_session_is_forgotten_by_the_server_too(client, kiosk):
    # Even when the page's own timer never fired (no script, a crashed tab).
    resources = kiosk.app.extensions["hallrate_kiosk"]
    now = [1_000_000.0]
    resources.clock = lambda: now[0]
    try:
        client.get("/display/elderly/on")
        assert 'class="elderly"' in client.get("/").get_data(as_text=True)
        now[0] += kiosk.config.idle_reset_s - 1
        assert 'class="elderly"' in client.get("/").get_data(as_text=True)
        now[0] += kiosk.config.idle_reset_s + 1
        assert 'class="standard"' in client.get("/").get_data(as_text=True)
    finally:
        resources.clock = time.time
