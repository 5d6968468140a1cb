"""The kiosk's calls to the hub's HTTP API: the directory, staff photos, complaint lookups.

Short timeouts throughout: a citizen waiting at the screen is better served
by "try again later" after a few seconds than by a page that hangs.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote
from urllib.request import Request, urlopen

from kiosk.errors import HubUnavailable

logger = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
MAX_PHOTO_BYTES = 2 * 1024 * 1024
PHOTO_TYPES = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}


@dataclass(frozen=True, slots=True)
class PublicResult:
    """One answered case as the hall publishes it: anonymised by the hub."""

    id: int
    department: str | None
    received_on: str
    answered_on: str
    text: str
    answer: str


@dataclass(frozen=True, slots=True)
class Handling:
    """What the hub reports about a complaint: its status and published answer."""

    status: str
    category: str
    filed_at: str
    answer: str | None
    updated_at: str | None
    # Issue 14: the case's current step, its steps as (step, date) and the planned deadline.
    step: str | None = None
    steps: tuple[tuple[str, str], ...] = ()
    due_on: str | None = None


class HubClient:
    """The hub's API at ``base_url`` (``http://host:port``)."""

    def __init__(self, base_url: str, *, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def directory(self, *, version: str | None = None) -> dict[str, Any] | None:
        """The hall directory document, or None when it is still ``version``."""
        headers = {"Accept": "application/json"}
        if version:
            headers["If-None-Match"] = f'"{version}"'
        status, body, _ = self._request("GET", "/api/v1/directory", headers=headers)
        if status == 304:
            return None
        if status != 200:
            raise HubUnavailable(f"the hub answered {status} for the directory")
        return _json(body)

    def photo(self, staff_id: str) -> tuple[bytes, str] | None:
        """A staff member's photo and its file suffix, or None when the hub has none."""
        status, body, content_type = self._request(
            "GET", f"/api/v1/staff/{quote(staff_id, safe='')}/photo", limit=MAX_PHOTO_BYTES
        )
        if status == 404:
            return None
        suffix = PHOTO_TYPES.get(content_type.split(";")[0].strip())
        if status != 200 or suffix is None:
            raise HubUnavailable(f"the hub answered {status} ({content_type}) for a photo")
        return body, suffix

    def lookup_complaint(self, code: str, password: str) -> Handling | None:
        """The handling of a complaint, None when code and password match none.

        Raises :class:`HubUnavailable` when the hub cannot answer now, including
        when it asks this kiosk to slow down.
        """
        payload = json.dumps({"code": code, "password": password}).encode()
        status, body, _ = self._request(
            "POST",
            "/api/v1/complaints/lookup",
            data=payload,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        if status == 404:
            return None
        if status != 200:
            raise HubUnavailable(f"the hub answered {status} to a lookup")
        found = _json(body)
        case = found.get("case")
        try:
            progress = _progress(case) if isinstance(case, dict) else {}
            return Handling(
                status=str(found["status"]),
                category=str(found["category"]),
                filed_at=str(found["filed_at"]),
                answer=None if found.get("answer") is None else str(found["answer"]),
                updated_at=None if found.get("updated_at") is None else str(found["updated_at"]),
                **progress,
            )
        except (KeyError, TypeError) as exc:
            raise HubUnavailable(f"the hub's lookup answer lacks {exc}") from None

    def public_results(self) -> list[PublicResult] | None:
        """The hall's published answers (网上公布), newest first; None when it publishes none.

        Raises :class:`HubUnavailable` when the hub cannot answer now.
        """
        status, body, _ = self._request(
            "GET", "/api/v1/public/results", headers={"Accept": "application/json"}
        )
        if status == 404:
            return None
        if status != 200:
            raise HubUnavailable(f"the hub answered {status} for the public results")
        try:
            return [
                PublicResult(
                    id=int(r["id"]),
                    department=None if r.get("department") is None else str(r["department"]),
                    received_on=str(r["received_on"]),
                    answered_on=str(r["answered_on"]),
                    text=str(r["text"]),
                    answer=str(r["answer"]),
                )
                for r in _json(body)["results"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise HubUnavailable(f"the hub's public results lack {exc}") from None

    def _request(
        self,
        method: str,
        path: str,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        limit: int = MAX_DOCUMENT_BYTES,
    ) -> tuple[int, bytes, str]:
        request = Request(self.base_url + path, data=data, method=method, headers=headers or {})
        try:
            with urlopen(request, timeout=self.timeout) as response:
                body = response.read(limit + 1)
                status, content_type = response.status, response.headers.get("Content-Type", "")
        except HTTPError as exc:
            with exc:
                return exc.code, exc.read(64 * 1024), exc.headers.get("Content-Type", "")
        except (URLError, OSError) as exc:
            raise HubUnavailable(f"cannot reach the hub at {self.base_url}: {exc}") from None
        if len(body) > limit:
            raise HubUnavailable(f"the hub's answer to {path} exceeds {limit} bytes")
        return status, body, content_type


def _progress(case: dict[str, Any]) -> dict[str, Any]:
    """The case's step, steps and deadline from a lookup answer."""
    return {
        "step": str(case["step"]),
        "steps": tuple((str(s["step"]), str(s["on"])) for s in case["steps"]),
        "due_on": None if case.get("due_on") is None else str(case["due_on"]),
    }


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise HubUnavailable(f"the hub answered something that is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise HubUnavailable("the hub answered JSON that is not an object")
    return value
