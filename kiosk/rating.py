"""Rating a named staff member on attitude, efficiency and work style.

The citizen finds the person (by department, by window, or by scanning the
window's QR code), taps a face on each of the three lines, optionally taps
reasons, chooses anonymous or not, and submits. The vote goes into the
device agent's durable outbox before the thank-you page is shown; the
sender thread publishes it. A form's submission token makes a double tap
one vote, and a stale anti-forgery token shows the same choices again
instead of losing them. A second rating of the same person by the same
citizen (``kiosk/citizen.py``) is kept and sent too, filtered with the rule
``kiosk_repeat``, and the citizen is told it does not count again.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from device_agent.directory import Staff
from device_agent.errors import AgentError
from device_agent.protocol import DIMENSIONS, MAX_COMMENT_CHARS, Vote, VoteFilter, format_time
from kiosk import csrf
from kiosk.citizen import KIOSK_REPEAT
from kiosk.resources import Resources, kiosk
from kiosk.submissions import Record, is_token, new_token

logger = logging.getLogger(__name__)

bp = Blueprint("rating", __name__, url_prefix="/rate")

TICKET = re.compile(r"[A-Za-z0-9-]{1,32}")
# What a window's QR code says: "hallrate:window:w03", optionally with ":A017"
# (the ticket being served), or an address ending in /rate/window/w03.
QR_CODE = re.compile(r"hallrate:window:([a-z0-9][a-z0-9-]{0,31})(?::([A-Za-z0-9-]{1,32}))?")
QR_ADDRESS = re.compile(
    r".*/rate/window/([a-z0-9][a-z0-9-]{0,31})(?:\?ticket=([A-Za-z0-9-]{1,32}))?"
)
LEVELS = (5, 4, 3, 2, 1)


@dataclass
class RatingForm:
    """What the citizen chose on the rating page (complete or not)."""

    token: str
    dims: dict[str, int] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    comment: str = ""
    anonymous: bool = True
    window: str | None = None
    ticket: str | None = None

    @property
    def complete(self) -> bool:
        """Whether every dimension has a level."""
        return all(d in self.dims for d in DIMENSIONS)

    @property
    def level(self) -> int:
        """The vote's level: the lowest of the three, as the protocol says."""
        return min(self.dims.values())

    @classmethod
    def read(cls, form: MultiDict[str, str], resources: Resources) -> RatingForm:
        """The choices in a posted form, keeping only values the kiosk offers."""
        dims = {}
        for name in DIMENSIONS:
            value = form.get(name, "")
            if value.isdigit() and int(value) in LEVELS:
                dims[name] = int(value)
        offered = {r.code for r in resources.config.reasons}
        reasons = [code for code in dict.fromkeys(form.getlist("reasons")) if code in offered]
        comment = form.get("comment", "").strip() if resources.config.keyboard else ""
        window = form.get("window") or None
        ticket = form.get("ticket") or None
        return cls(
            token=form.get("submission", ""),
            dims=dims,
            reasons=reasons,
            comment=comment[:MAX_COMMENT_CHARS],
            anonymous=form.get("anonymous", "1") != "0",
            window=window if window in resources.hall.windows else None,
            ticket=ticket if ticket and TICKET.fullmatch(ticket) else None,
        )


@bp.get("")
def choose() -> ResponseReturnValue:
    """How to find the person to rate: by department, by window, or by QR code."""
    return render_template("rate_choose.html", back="/")


@bp.get("/departments/<department_id>")
def by_department(department_id: str) -> ResponseReturnValue:
    """The staff of a department, to pick one."""
    hall = kiosk().hall
    found = hall.departments.get(department_id) or abort(404)
    return render_template(
        "rate_pick.html", title=found.name, people=hall.staff_of(found.id), back="/rate"
    )


@bp.get("/windows")
def windows() -> ResponseReturnValue:
    """Every window, to pick the one that served the citizen."""
    return render_template("rate_windows.html", back="/rate")


@bp.get("/window/<window_id>")
def by_window(window_id: str) -> ResponseReturnValue:
    """The staff on duty at a window (where a window's QR code leads)."""
    hall = kiosk().hall
    found = hall.windows.get(window_id) or abort(404)
    ticket = request.args.get("ticket")
    return render_template(
        "rate_pick.html",
        title=found.name,
        people=hall.on_duty(found.id),
        window=found.id,
        ticket=ticket if ticket and TICKET.fullmatch(ticket) else None,
        back="/rate/windows",
    )


@bp.get("/scan")
def scan() -> ResponseReturnValue:
    """Waiting for the QR scanner (a USB scanner types the code and Enter)."""
    code = request.args.get("code")
    if code is None:
        return render_template("rate_scan.html", back="/rate")
    found = QR_CODE.fullmatch(code.strip()) or QR_ADDRESS.fullmatch(code.strip())
    if found is None or found.group(1) not in kiosk().hall.windows:
        return render_template("rate_scan.html", unknown=True, back="/rate"), 404
    window_id, ticket = found.group(1), found.group(2)
    return redirect(url_for("rating.by_window", window_id=window_id, ticket=ticket), code=303)


@bp.get("/staff/<staff_id>")
def form(staff_id: str) -> ResponseReturnValue:
    """The rating page for one staff member, with a fresh submission token."""
    resources = kiosk()
    person = resources.hall.staff.get(staff_id) or abort(404)
    window = request.args.get("window")
    ticket = request.args.get("ticket")
    choices = RatingForm(
        token=new_token(),
        window=window if window in resources.hall.windows else person.window,
        ticket=ticket if ticket and TICKET.fullmatch(ticket) else None,
    )
    # Said before the citizen spends a minute on it, and again on the thank-you.
    repeat = resources.citizen.has_rated(person.id)
    return _form_page(person, choices, notice="rate.repeat_ahead" if repeat else None)


@bp.post("/staff/<staff_id>")
def submit(staff_id: str) -> ResponseReturnValue:
    """Store the vote durably, then thank the citizen; each form counts once."""
    csrf.refuse_cross_site()
    resources = kiosk()
    person = resources.hall.staff.get(staff_id) or abort(404)
    choices = RatingForm.read(request.form, resources)
    if not is_token(choices.token):
        abort(400, description="the form has no submission token")
    if resources.submissions.find(choices.token) is not None:
        return _to_thanks(choices.token)
    if not csrf.token_is_fresh():
        return _form_page(person, choices, notice="rate.stale")
    if not choices.complete:
        return _form_page(person, choices, error="rate.missing"), 422
    citizen = resources.citizen
    # Held from the decision to the record, so two forms posted at once
    # cannot both be this citizen's first rating of the person.
    with citizen.lock:
        # A repeat is kept and sent, filtered; only new people count toward the limit.
        repeat = citizen.has_rated(person.id)
        if not repeat and citizen.submitted("vote") >= resources.config.limits.votes_per_session:
            return render_template("refused.html", message_key="rate.enough", back="/"), 429
        if not resources.rate.admit():
            return render_template("refused.html", message_key="busy", back="/"), 429
        caught = KIOSK_REPEAT if repeat else None
        try:
            done, new = resources.submissions.once(
                choices.token, "vote", lambda: _store_vote(resources, person, choices, caught)
            )
        except AgentError as exc:
            logger.error("kiosk %s could not store a vote: %s", resources.config.device, exc)
            return render_template("refused.html", message_key="store_failed", back="/"), 503
        if new and not repeat:
            citizen.count("vote")
            citizen.rated(person.id)
    return _to_thanks(done.token)


@bp.get("/thanks/<token>")
def thanks(token: str) -> ResponseReturnValue:
    """The thank-you page with the vote's reference; it returns home on its own."""
    resources = kiosk()
    done = resources.submissions.find(token) if is_token(token) else None
    if done is None or done.kind != "vote":
        return redirect("/", code=303)
    person = resources.hall.staff.get(done.subject or "")
    return render_template(
        "rate_thanks.html",
        reference=done.reference,
        name=person.name if person else None,
        repeat=done.filtered == KIOSK_REPEAT.rule,
        idle_override=resources.config.thanks_s,
    )


def reference_for(device: str, seq: int) -> str:
    """The short reference shown to the citizen; the hub finds the vote by device and seq.

    A replaced card numbers from 1 again (under a new epoch in the ids), so
    after one the day of the vote tells two equal references apart.
    """
    return f"{device.upper()}-{seq:06d}"


def _store_vote(
    resources: Resources, person: Staff, choices: RatingForm, caught: VoteFilter | None
) -> Record:
    config = resources.config
    cast_at = format_time(datetime.now().astimezone())
    vote = resources.sender.submit(
        "vote",
        lambda seq, ident: Vote(
            id=ident,
            seq=seq,
            ts=cast_at,
            device=config.device,
            channel="kiosk",
            level=choices.level,
            window=choices.window,
            staff=person.id,
            # An anonymous vote keeps nothing that could lead to the citizen.
            ticket=None if choices.anonymous else choices.ticket,
            dims=dict(choices.dims),
            reasons=list(choices.reasons),
            comment=choices.comment or None,
            anonymous=choices.anonymous,
            # Kept and delivered like any vote; the hub stores it and never counts it.
            filter=caught,
        ),
    )
    return Record(
        vote.id,
        reference_for(config.device, vote.seq),
        person.id,
        filtered=caught.rule if caught else None,
    )


def _to_thanks(token: str) -> ResponseReturnValue:
    return redirect(url_for("rating.thanks", token=token), code=303)


def _form_page(
    person: Staff,
    choices: RatingForm,
    *,
    notice: str | None = None,
    error: str | None = None,
) -> str:
    return render_template(
        "rate_form.html",
        person=person,
        choices=choices,
        dimensions=DIMENSIONS,
        levels=LEVELS,
        reasons=kiosk().config.reasons,
        notice=notice,
        error=error,
        back=f"/staff/{person.id}",
    )
