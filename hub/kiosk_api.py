"""The hub's API for kiosks: the public hall directory, staff photos, complaint lookup.

Everything here is public information or answers a citizen who holds a
claim code and its password, so nothing internal leaves: no devices, no
contacts, no individual votes. Handlers read the database through the
request's read-only connection (:func:`hub.db.get_db`) and never touch MQTT.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, jsonify, request, send_file
from flask.typing import ResponseReturnValue

from device_agent.protocol import format_time
from hub.cases.api import book as cases_book
from hub.cases.chain import citizen_view
from hub.complaints import lookup_complaint
from hub.db import get_db, hub_config
from hub.directory import Directory
from hub.duty import on_duty

bp = Blueprint("kiosk_api", __name__)

PHOTO_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}
MAX_PHOTO_BYTES = 2 * 1024 * 1024
MAX_LOOKUP_FIELD = 32


@dataclass
class LookupLimits:
    """Sliding-window limits on complaint lookups, per asking address and per claim code.

    A kiosk in a busy lobby may look up a few codes a minute; guessing a
    password needs thousands of tries, so a handful of failures per code per
    quarter hour stops it without ever bothering a citizen.
    """

    per_address: int = 20
    address_window_s: float = 60.0
    failures_per_code: int = 5
    code_window_s: float = 900.0
    clock: Callable[[], float] = time.monotonic
    _requests: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _failures: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, address: str, code: str) -> float | None:
        """None when this lookup may go ahead, else the seconds to wait."""
        now = self.clock()
        with self._lock:
            requests = _trim(self._requests[address], now - self.address_window_s)
            failures = _trim(self._failures[code], now - self.code_window_s)
            if len(failures) >= self.failures_per_code:
                return failures[0] + self.code_window_s - now
            if len(requests) >= self.per_address:
                return requests[0] + self.address_window_s - now
            requests.append(now)
            return None

    def failed(self, code: str) -> None:
        """Count a lookup of ``code`` that matched nothing."""
        with self._lock:
            self._failures[code].append(self.clock())


def _trim(times: deque[float], before: float) -> deque[float]:
    while times and times[0] < before:
        times.popleft()
    return times


def init_app(app: Any, *, limits: LookupLimits | None = None) -> None:
    """Register the kiosk API on the hub's app."""
    app.extensions["hallrate_lookup_limits"] = limits or LookupLimits()
    app.extensions["hallrate_photo_digests"] = {}
    app.register_blueprint(bp)


@bp.get("/api/v1/directory")
def directory() -> ResponseReturnValue:
    """The hall's public directory, for kiosks to keep a local copy of.

    ``version`` is a digest of the content; a kiosk sends it back in
    ``If-None-Match`` and gets 304 when nothing changed.
    """
    config = hub_config()
    hall = config.directory
    zone = ZoneInfo(config.timezone)
    now = datetime.now(zone)
    start_of_day = now.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    duty = on_duty(get_db(), hall.staff, list(hall.windows), since=format_time(start_of_day))
    body = _public_directory(hall, duty, today=now.date())
    content = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    version = hashlib.sha256(content.encode()).hexdigest()[:32]
    if version in request.if_none_match:
        return Response(status=304, headers={"ETag": f'"{version}"'})
    response = jsonify({**body, "version": version})
    response.set_etag(version)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/api/v1/staff/<staff_id>/photo")
def staff_photo(staff_id: str) -> ResponseReturnValue:
    """A staff member's photo, when the directory names one."""
    hall = hub_config().directory
    person = hall.staff.get(staff_id)
    path = _photo_path(person.photo if person else None)
    if path is None:
        abort(404, description="no photo")
    return send_file(path, mimetype=PHOTO_TYPES[path.suffix.lower()], max_age=60)


@bp.post("/api/v1/complaints/lookup")
def complaint_lookup() -> ResponseReturnValue:
    """The status and published answer of a complaint, given its code and password."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="send a JSON object with code and password")
    code, password = body.get("code"), body.get("password")
    for name, value in (("code", code), ("password", password)):
        if not isinstance(value, str) or not 0 < len(value) <= MAX_LOOKUP_FIELD:
            abort(400, description=f"{name}: must be a string of 1 to {MAX_LOOKUP_FIELD} chars")
    limits: LookupLimits = current_app.extensions["hallrate_lookup_limits"]
    wait = limits.admit(request.remote_addr or "?", code)
    if wait is not None:
        response = jsonify({"error": "Too Many Requests", "detail": "try again later"})
        response.status_code = 429
        response.headers["Retry-After"] = str(max(1, round(wait)))
        return response
    found = lookup_complaint(get_db(), code, password)
    if found is None:
        limits.failed(code)
        # The same answer for an unknown code and a wrong password.
        return jsonify({"error": "Not Found", "detail": "no complaint with this code"}), 404
    # Issue 14: the complaint's case decides its status and answer, and adds the steps.
    case = citizen_view(cases_book(), get_db().conn, found.ident)
    return jsonify(
        {
            "status": found.status if case is None else case["status"],
            "category": found.category,
            "filed_at": found.filed_at,
            "answer": found.answer if case is None else case["answer"],
            "updated_at": found.updated_at if case is None else case["updated_at"],
            "case": case,
        }
    )


def _public_directory(hall: Directory, duty: dict[str, list[str]], *, today: date) -> dict:
    """The fields of the directory a citizen may see; devices and file paths stay home."""
    return {
        "v": 1,
        "hall": {"id": hall.hall, "name": hall.name},
        "departments": [{"id": d.id, "name": d.name} for d in hall.departments.values()],
        "windows": [
            {"id": w.id, "name": w.name, "department": w.department, "on_duty": duty.get(w.id, [])}
            for w in hall.windows.values()
        ],
        "staff": [
            {
                "id": s.id,
                "name": s.name,
                "gender": s.gender,
                "post": s.post,
                "duties": s.duties,
                "department": s.department,
                "window": s.window,
                "photo": _photo_digest(s.photo),
            }
            for s in hall.staff.values()
        ],
        "service_items": [
            {
                "id": i.id,
                "name": i.name,
                "department": i.department,
                "materials": list(i.materials),
                "time_limit": i.time_limit,
                "fees": i.fees,
                "windows": list(i.windows),
                "notes": i.notes,
            }
            for i in hall.service_items.values()
        ],
        "announcements": [
            {
                "id": a.id,
                "title": a.title,
                "body": a.body,
                "published": a.published.isoformat(),
                "until": a.until.isoformat() if a.until else None,
            }
            for a in hall.announcements.values()
            if a.published <= today and (a.until is None or today <= a.until)
        ],
    }


def _photo_path(name: str | None) -> Path | None:
    path = Path(name) if name else None
    if path is None or path.suffix.lower() not in PHOTO_TYPES:
        return None
    try:
        size = path.stat().st_size
    except OSError:
        return None
    return path if 0 < size <= MAX_PHOTO_BYTES else None


def _photo_digest(path: str | None) -> str | None:
    """A digest of the photo file, so kiosks fetch it again only when it changed."""
    checked = _photo_path(path)
    if checked is None:
        return None
    stat = checked.stat()
    cache: dict[tuple[str, int, int], str] = current_app.extensions["hallrate_photo_digests"]
    key = (str(checked), stat.st_mtime_ns, stat.st_size)
    if key not in cache:
        cache[key] = hashlib.sha256(checked.read_bytes()).hexdigest()[:32]
    return cache[key]
