"""The citizen's SMS (issue 14): when a complaint's answer is ready, a text to the phone
the citizen left at the kiosk, through an apprise ``citizen_sms`` template.

A kiosk's outbox sender files the complaints over the session's Mosquitto; staff
answer through the JSON API; the SMS gateway is apprise's ``json://`` pointed at
the loopback receiver of test_notify, with the number in its path.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from device_agent.storage import open_database
from hub.notify.notices import notice_log
from tests import test_kiosk_hub_api
from tests.hall import query, wait_until
from tests.kiosk_hall import KioskHall
from tests.test_cases import Api, case_of, tokens
from tests.test_kiosk_hub_api import file_complaint
from tests.test_notify import Receiver, free_port

hall = test_kiosk_hub_api.hall
device = test_kiosk_hub_api.device
PHONE = "13912345678"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver(free_port())
    receiver.start()
    yield receiver
    receiver.stop()


def sms_config(hall: KioskHall, port: int) -> str:
    (hall.root / "notify-urls.toml").write_text(
        f'citizen_sms = ["json://127.0.0.1:{port}/sms/{{phone}}"]\n'
    )
    return '[notify]\nurls_file = "notify-urls.toml"\npoll_s = 0.05\ntimeout_s = 2\n'


def answer(api: Api, case: int) -> None:
    api.ok("office-li", case, "assign", department="civil", assignee="zhang")
    api.ok("zhang", case, "start")
    api.ok("zhang", case, "draft", answer="已核实。")
    api.ok("zhang", case, "answer")


def test_an_answered_complaint_texts_the_phone_the_citizen_left(
    hall, device, start_hub, receiver, caplog
):
    caplog.set_level(logging.INFO)  # the hub logs at INFO
    hub = start_hub(hall, extra=sms_config(hall, receiver.port))
    api = Api(hub, tokens(hall))
    kiosk = device(hall.kiosk_id(1))
    named = case_of(hall, file_complaint(kiosk, "12345674", "246813", contact=PHONE))
    anonymous = case_of(
        hall, file_complaint(kiosk, "22345672", "246813", anonymous=True, contact=None)
    )

    answer(api, named)
    answer(api, anonymous)

    [sms] = wait_until(lambda: receiver.at(f"/sms/{PHONE}"), message="the citizen's SMS")
    assert sms["title"] == "投诉已答复 | Complaint answered"
    assert sms["message"].startswith(f"【测试大厅】您反映的问题（案件 #{named}）已答复")
    db = open_database(hall.database)
    try:
        log = wait_until(
            lambda: (rows := notice_log(db.conn)) and rows[0]["status"] == "sent" and rows,
            message="the SMS logged as sent",
        )
    finally:
        db.close()
    assert [(n["event"], n["role"], n["channel"]) for n in log] == [
        ("citizen_sms", "citizen", "json")
    ]
    assert len(receiver.notices) == 1  # the anonymous complaint left no number
    # The number stays in the complaint's source: not in the notices, not in a log line.
    stored = query(hall.database, "SELECT * FROM notices")
    assert PHONE not in repr(stored)
    assert "sent to citizen by json (json citizen_sms)" in caplog.text
    assert PHONE not in caplog.text
