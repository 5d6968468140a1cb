"""The console's devices page (``/console/devices``) and the quarantine (``/console/quarantine``).

Devices: every device's status, last contact, software and config version,
telemetry (outbox, keypad frames, alarm), and the remote configuration: an
administrator sends a ``config/set`` document with
:func:`hub.device_config.set_device_config` (as ``hallrate device-config``
does) and sees the device's answer, applied or refused with every problem; a
device that does not answer in time applies the retained document when it
next connects, and its answer shows on the page once it arrives. Managers see
the page without the form. Each configuration sent is in the audit log.

Quarantine: what the hub refused, bounded and redacted as
:mod:`hub.quarantine` stores it, newest first; administrators and the office.
"""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, render_template, request
from flask.typing import ResponseReturnValue

from device_agent.errors import ProtocolError
from hub.console import accounts, messages, nav
from hub.console.devices_list import next_config_version, read_devices, read_quarantine
from hub.console.web import address, console_blueprint, requires, user
from hub.db import get_db, hub_config, write
from hub.device_config import DeviceConfigError, set_device_config

bp = console_blueprint("console_devices", __name__)

DEVICE_ROLES = ("admin", "manager")
QUARANTINE_ROLES = ("admin", "office")
# How long the form waits for the device's answer before showing the page (seconds);
# a later answer shows on the page when it arrives.
ANSWER_WAIT_S = 8.0

nav.add(nav.NavEntry("console_devices.devices", "nav.devices", frozenset(DEVICE_ROLES)))
nav.add(nav.NavEntry("console_devices.quarantine", "nav.quarantine", frozenset(QUARANTINE_ROLES)))


def _page(**extra: Any) -> ResponseReturnValue:
    config = hub_config()
    devices = read_devices(get_db().conn, config)
    chosen = extra.pop("device", None) or request.args.get("device") or ""
    row = next((d for d in devices if d.id == chosen), None)
    window_devices = [d for d in devices if d.kind == "evaluator"]
    if row is None and window_devices:
        row = window_devices[0]
    # Sent and not answered yet: the page looks again until the device answers that version.
    waiting = extra.pop("waiting", None)
    if waiting is None:
        waiting = request.args.get("waiting", type=int)
    answered = row.config_answer if row is not None else None
    if waiting is not None and answered and answered.get("config_version") == waiting:
        waiting = None
    draft = extra.pop("document", None)
    if draft is None:
        draft = json.dumps({"v": 1, "config_version": next_config_version(row)}, indent=1)
    return render_template(
        "console/devices.html",
        devices=devices,
        window_devices=window_devices,
        chosen=row.id if row else "",
        document=draft,
        may_configure=user().role == "admin",
        waiting=waiting,
        zone=config.timezone,
        **extra,
    )


@bp.get("/devices")
@requires(*DEVICE_ROLES)
def devices() -> ResponseReturnValue:
    """Every device, what it last reported, and (for an administrator) the config form."""
    return _page()


@bp.post("/devices/config")
@requires("admin")
def send_config() -> ResponseReturnValue:
    """Send a configuration document to a device and show its answer (or that it is pending)."""
    config = hub_config()
    device = request.form.get("device", "").strip()
    text = request.form.get("document", "")
    try:
        document = json.loads(text)
    except ValueError as exc:
        return _page(device=device, document=text, problem=f"JSON: {exc}"), 400
    if device not in config.directory.devices:
        return _page(device=device, document=text, problem=f"device: {device!r}"), 400
    if not isinstance(document, dict):
        return _page(device=device, document=text, problem="JSON: not an object"), 400
    wait = float(current_app.config.get("HALLRATE_DEVICE_CONFIG_WAIT_S", ANSWER_WAIT_S))
    answer: dict[str, Any] | None = None
    problem = None
    try:
        answer = set_device_config(config, device, document, timeout=wait)
        outcome = "applied" if answer.get("applied") else "refused"
    except DeviceConfigError as exc:
        outcome, problem = "pending", str(exc)
    except ProtocolError as exc:  # a device id or document the checks refuse
        outcome, problem = "invalid", str(exc)
    with write() as conn:
        accounts.audit(
            conn,
            user().name,
            "device_config",
            target=device,
            note=f"{outcome}: {json.dumps(document, ensure_ascii=False)}"[:1000],
            address=address(),
        )
    status = 400 if outcome == "invalid" else 200
    version = document.get("config_version") if outcome == "pending" else None
    page = _page(
        device=device,
        document=text,
        sent=outcome,
        answer=answer,
        problem=problem,
        waiting=version if isinstance(version, int) else None,
    )
    return page, status


@bp.get("/quarantine")
@requires(*QUARANTINE_ROLES)
def quarantine() -> ResponseReturnValue:
    """The refused messages, newest first, bounded and redacted; their totals."""
    before = request.args.get("before", type=int)
    page = read_quarantine(get_db().conn, hub_config(), before=before)
    return render_template("console/quarantine.html", page=page, before=before)


messages.register(
    {
        "nav.devices": ("设备", "Devices"),
        "nav.quarantine": ("隔离消息", "Quarantine"),
        "devices.title": ("设备状态", "Devices"),
        "devices.id": ("设备", "Device"),
        "devices.kind": ("类型", "Kind"),
        "devices.kind.evaluator": ("窗口评价器", "Window evaluator"),
        "devices.kind.kiosk": ("自助终端", "Kiosk"),
        "devices.kind.unknown": ("名录外", "Not in the directory"),
        "devices.window": ("窗口", "Window"),
        "devices.status": ("状态", "Status"),
        "devices.online": ("在线", "Online"),
        "devices.offline": ("离线", "Offline"),
        "devices.unknown": ("未上报", "Not heard"),
        "devices.last_seen": ("最后上报", "Last seen"),
        "devices.software": ("软件版本", "Software"),
        "devices.config_version": ("配置版本", "Config version"),
        "devices.outbox": ("待发队列", "Outbox"),
        "devices.outbox_oldest": ("最早未确认 {seconds} 秒", "oldest unreceipted {seconds} s"),
        "devices.malformed": ("错误帧", "Malformed frames"),
        "devices.keypad": ("按键板", "Keypad"),
        "devices.alarm": ("存储告警", "Storage alarm"),
        "devices.disk_ok": ("正常", "OK"),
        "devices.telemetry_at": ("遥测时间", "Telemetry at"),
        "devices.answer": ("最近配置回执", "Last config answer"),
        "devices.applied": ("已应用 第 {version} 版", "Applied, version {version}"),
        "devices.refused": (
            "已拒绝 第 {version} 版（生效中：第 {active} 版）",
            "Refused version {version} (in force: version {active})",
        ),
        "devices.no_answer": ("—", "—"),
        "devices.none": ("名录中没有设备。", "The directory lists no device."),
        "devices.config_title": ("远程配置", "Remote configuration"),
        "devices.config_help": (
            "配置文件为完整的期望状态（未列出的项保持设备本地配置），"
            "config_version 须大于设备当前版本。",
            "The document is the whole desired state (fields left out keep the device's own"
            " file); config_version must be above the device's current one.",
        ),
        "devices.config_device": ("目标设备", "Device"),
        "devices.config_document": ("配置（JSON）", "Document (JSON)"),
        "devices.config_send": ("发送配置", "Send"),
        "devices.read_only": (
            "仅系统管理员可修改设备配置。",
            "Only an administrator may configure devices.",
        ),
        "devices.sent.applied": ("设备已应用该配置。", "The device applied the configuration."),
        "devices.sent.refused": (
            "设备拒绝了该配置，原因如下：",
            "The device refused the configuration, for these reasons:",
        ),
        "devices.sent.pending": (
            "配置已发出，设备尚未回复；设备连线后会应用，回执将显示在此页。",
            "Sent; the device has not answered yet. It applies it when it connects,"
            " and its answer shows on this page.",
        ),
        "devices.sent.invalid": ("无法发送：", "Not sent:"),
        "devices.times": (
            "时间均为大厅所在时区 {zone}。",
            "Times are in the hall's time zone, {zone}.",
        ),
        "quarantine.title": ("隔离消息", "Quarantine"),
        "quarantine.intro": (
            "中心拒收的消息：只保留有限的前缀，个人信息已遮盖。",
            "Messages the hub refused: only a bounded prefix is kept, personal fields redacted.",
        ),
        "quarantine.rows": ("当前条数", "Held"),
        "quarantine.bytes": ("占用字节", "Bytes held"),
        "quarantine.pruned": ("已清理条数", "Pruned"),
        "quarantine.last_pruned": ("最近清理", "Last pruned"),
        "quarantine.reason": ("原因", "Reason"),
        "quarantine.topic": ("主题", "Topic"),
        "quarantine.device": ("设备", "Device"),
        "quarantine.size": ("大小", "Size"),
        "quarantine.sha256": ("SHA-256", "SHA-256"),
        "quarantine.seen": ("首次 / 最近", "First / last seen"),
        "quarantine.times": ("次数", "Times"),
        "quarantine.prefix": ("内容前缀（已遮盖）", "Prefix (redacted)"),
        "quarantine.truncated": ("已截断", "truncated"),
        "quarantine.none": ("没有被隔离的消息。", "Nothing is quarantined."),
        "quarantine.older": ("更早的", "Older"),
        "quarantine.newest": ("最新的", "Newest"),
    }
)
