"""Complaints (投诉): filing one without typing, and looking up its handling later.

A complaint is a category, the problems the citizen taps (and free text
only where the hall enabled an on-screen keyboard), optionally the
department or person concerned, anonymous or with a phone number, and a
six-digit password typed on the page's own keypad. It goes into the
durable outbox with a claim code and the password's salted hash, never the
password. The lookup asks the hub with code and password; while the
complaint still waits in this kiosk's outbox, the kiosk says so itself.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from device_agent.claim import (
    format_claim_code,
    hash_password,
    is_claim_code,
    is_password,
    new_claim_code,
    password_matches,
)
from device_agent.errors import AgentError
from device_agent.protocol import MAX_COMPLAINT_CHARS, Complaint, format_time, parse_time
from device_agent.storage import open_reader
from kiosk import csrf, session
from kiosk.errors import HubUnavailable
from kiosk.resources import Resources, kiosk
from kiosk.submissions import Record, is_token, new_token

logger = logging.getLogger(__name__)

bp = Blueprint("complaints", __name__, url_prefix="/complaints")

CONTACT = re.compile(r"[0-9]{6,20}")


@dataclass
class ComplaintForm:
    """What the citizen entered on the complaint page (complete or not)."""

    token: str
    category: str | None = None
    details: list[str] = field(default_factory=list)
    text: str = ""
    department: str | None = None
    staff: str | None = None
    anonymous: bool = True
    contact: str = ""
    password: str = ""

    def problem(self) -> str | None:
        """The message key of the first thing missing, or None when it can be filed."""
        if self.category is None:
            return "complaint.need_category"
        if not self.details and not self.text:
            return "complaint.need_details"
        if not self.anonymous and not CONTACT.fullmatch(self.contact):
            return "complaint.need_contact"
        if not is_password(self.password):
            return "complaint.need_password"
        return None

    @classmethod
    def read(cls, form: MultiDict[str, str], resources: Resources) -> ComplaintForm:
        """The entries of a posted form, keeping only values the kiosk offers."""
        config, hall = resources.config, resources.hall
        category = form.get("category")
        details = {d.code for d in config.details}
        department = form.get("department") or None
        staff = form.get("staff") or None
        return cls(
            token=form.get("submission", ""),
            category=category if category in {c.code for c in config.categories} else None,
            details=[d for d in dict.fromkeys(form.getlist("details")) if d in details],
            text=form.get("text", "").strip()[:1500] if config.keyboard else "",
            department=department if department in hall.departments else None,
            staff=staff if staff in hall.staff else None,
            anonymous=form.get("anonymous", "1") != "0",
            contact="".join(c for c in form.get("contact", "") if c.isdigit())[:20],
            password=form.get("password", "")[:6],
        )

    def composed_text(self, resources: Resources) -> str:
        """The complaint's text for the handlers: the tapped problems, then the citizen's words."""
        labels = {d.code: d.zh for d in resources.config.details}
        tapped = "".join(f"【{labels[d]}】" for d in self.details)
        return "\n".join(part for part in (tapped, self.text) if part)[:MAX_COMPLAINT_CHARS]


@bp.get("")
def menu() -> ResponseReturnValue:
    """File a complaint, or follow one up."""
    return render_template("complaints.html", back="/")


@bp.get("/new")
def new() -> ResponseReturnValue:
    """The complaint form, possibly about a named person or department."""
    hall = kiosk().hall
    staff = request.args.get("staff")
    person = hall.staff.get(staff) if staff else None
    department = request.args.get("department")
    entries = ComplaintForm(
        token=new_token(),
        staff=person.id if person else None,
        department=(
            person.department
            if person
            else (department if department in hall.departments else None)
        ),
    )
    return _form_page(entries)


@bp.post("/new")
def submit() -> ResponseReturnValue:
    """Store the complaint durably, then show its claim code; each form counts once."""
    csrf.refuse_cross_site()
    resources = kiosk()
    entries = ComplaintForm.read(request.form, resources)
    if not is_token(entries.token):
        abort(400, description="the form has no submission token")
    if resources.submissions.find(entries.token) is not None:
        return _to_thanks(entries.token)
    if not csrf.token_is_fresh():
        return _form_page(entries, notice="complaint.stale")
    problem = entries.problem()
    if problem is not None:
        return _form_page(entries, error=problem), 422
    citizen = resources.citizen
    if citizen.submitted("complaint") >= resources.config.limits.complaints_per_session:
        return render_template("refused.html", message_key="complaint.enough", back="/"), 429
    if not resources.rate.admit():
        return render_template("refused.html", message_key="busy", back="/"), 429
    # Hashing is slow on purpose: done before taking the submissions lock.
    secret = hash_password(entries.password)
    try:
        done, new = resources.submissions.once(
            entries.token, "complaint", lambda: _store_complaint(resources, entries, secret)
        )
    except AgentError as exc:
        logger.error("kiosk %s could not store a complaint: %s", resources.config.device, exc)
        return render_template("refused.html", message_key="store_failed", back="/"), 503
    if new:
        citizen.count("complaint")
    return _to_thanks(done.token)


@bp.get("/thanks/<token>")
def thanks(token: str) -> ResponseReturnValue:
    """The claim code, large, with how to follow the complaint up."""
    resources = kiosk()
    done = resources.submissions.find(token) if is_token(token) else None
    if done is None or done.kind != "complaint":
        return redirect("/", code=303)
    return render_template(
        "complaint_thanks.html",
        code=format_claim_code(done.reference),
        idle_override=max(resources.config.thanks_s, 60.0),
    )


@bp.get("/results")
def results() -> ResponseReturnValue:
    """网上公布: the answered cases the hall publishes, anonymised by the hub."""
    try:
        found = kiosk().hub.public_results()
    except HubUnavailable as exc:
        logger.warning("the public results failed: %s", exc)
        return render_template("results.html", error="results.unavailable", back="/complaints"), 503
    if found is None:
        return render_template("results.html", error="results.not_published", back="/complaints")
    return render_template("results.html", results=found, back="/complaints")


@bp.get("/lookup")
def lookup_form() -> ResponseReturnValue:
    """Code and password, typed on the page's keypads."""
    return render_template("lookup.html", code="", back="/complaints")


@bp.post("/lookup")
def lookup() -> ResponseReturnValue:
    """Ask the hub how the complaint is handled; say so when it still waits here."""
    csrf.refuse_cross_site()
    resources = kiosk()
    code = "".join(c for c in request.form.get("code", "") if c.isdigit())
    password = request.form.get("password", "")
    if not csrf.token_is_fresh():
        # Nothing is stored by a lookup: simply ask again, with the code kept.
        return render_template("lookup.html", code=code, back="/complaints")
    if not is_claim_code(code):
        return render_template(
            "lookup.html", code=code, error="lookup.bad_code", back="/complaints"
        ), 422
    citizen = resources.citizen
    if citizen.submitted("lookup") >= resources.config.limits.lookups_per_session:
        return render_template("refused.html", message_key="lookup.too_many", back="/"), 429
    citizen.count("lookup")
    try:
        found = resources.hub.lookup_complaint(code, password)
    except HubUnavailable as exc:
        logger.warning("complaint lookup failed: %s", exc)
        if not _waiting_here(resources, code, password):
            return render_template(
                "lookup.html", code=code, error="lookup.unavailable", back="/complaints"
            ), 503
        return _result_page(code, status="forwarding")
    if found is None:
        if _waiting_here(resources, code, password):
            return _result_page(code, status="forwarding")
        return render_template(
            "lookup.html", code=code, error="lookup.not_found", back="/complaints"
        ), 404
    language = session.language(resources.config.language)
    labels = {c.code: c.label(language) for c in resources.config.categories}
    return _result_page(
        code,
        status=found.status,
        category=labels.get(found.category, found.category),
        filed_at=_local_time(found.filed_at, resources),
        updated_at=_local_time(found.updated_at, resources) if found.updated_at else None,
        answer=found.answer,
        step=found.step,
        steps=found.steps,
        due_on=found.due_on,
    )


def _store_complaint(resources: Resources, entries: ComplaintForm, secret: str) -> Record:
    config = resources.config
    code = new_claim_code()
    filed_at = format_time(datetime.now().astimezone())
    complaint = resources.sender.submit(
        "complaint",
        lambda seq, ident: Complaint(
            id=ident,
            seq=seq,
            ts=filed_at,
            device=config.device,
            code=code,
            secret=secret,
            category=entries.category or "other",
            text=entries.composed_text(resources),
            staff=entries.staff,
            department=entries.department,
            anonymous=entries.anonymous,
            # Only a named complaint carries a way back to the citizen.
            contact=None if entries.anonymous else entries.contact,
        ),
    )
    return Record(complaint.id, code, entries.category)


def _waiting_here(resources: Resources, code: str, password: str) -> bool:
    """Whether this kiosk's outbox still holds the complaint (not yet at the hub)."""
    path = resources.config.outbox.path
    if not path.exists():
        return False
    db = open_reader(path)
    try:
        rows = db.execute("SELECT body FROM outbox WHERE kind = 'complaint'").fetchall()
    finally:
        db.close()
    for (body,) in rows:
        record = json.loads(body)
        if record.get("code") == code and password_matches(password, record.get("secret", "")):
            return True
    return False


def _local_time(value: str, resources: Resources) -> str:
    try:
        moment = parse_time(value)
    except ValueError:
        return value
    return moment.astimezone(ZoneInfo(resources.config.timezone)).strftime("%Y-%m-%d %H:%M")


def _result_page(code: str, **result: object) -> str:
    return render_template(
        "lookup_result.html", code=format_claim_code(code), back="/complaints", **result
    )


def _to_thanks(token: str) -> ResponseReturnValue:
    return redirect(url_for("complaints.thanks", token=token), code=303)


def _form_page(
    entries: ComplaintForm, *, notice: str | None = None, error: str | None = None
) -> str:
    resources = kiosk()
    hall = resources.hall
    return render_template(
        "complaint_form.html",
        entries=entries,
        person=hall.staff.get(entries.staff) if entries.staff else None,
        categories=resources.config.categories,
        details=resources.config.details,
        departments=list(hall.departments.values()),
        notice=notice,
        error=error,
        back="/complaints",
    )
