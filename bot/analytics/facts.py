"""The analytics projection of a ticket (SPEC.md section 7): a flat dict the reports count.

The ticket store writes it beside every ticket on every create and update (``HSET P:facts <id>
<JSON>``, see :mod:`bot.store.tickets`), so the dashboard reads 100,000 small projections instead
of 100,000 tickets with their words, facts and history. :func:`ticket_facts` is the one place
that derives it, from the ticket dict alone, so a projection can always be recomputed from its
ticket (``TicketStore.all_facts`` does so for tickets written before projections existed, or
with an older :data:`VERSION`). One field needs the past as well: ``handoff_queue``, the queue
the case was handed to, which an escalation overwrites on the ticket; the store passes the
previous projection in, and the value is carried forward from it.

Fields (every key is always present; None when unknown):

=====================  ==========================================================================
``v``                  :data:`VERSION` of the projection
``id``                 ticket id
``created_at``         epoch seconds
``day``                ``YYYY-MM-DD`` of ``created_at`` in Asia/Shanghai
``hour``, ``weekday``  0-23 and 0-6 (Monday 0) of ``created_at`` in Asia/Shanghai
``channel``            ``webchat``, ``wechat``, ``taobao``, ``rest`` ...
``customer``           ``customer_id`` of the ticket, else its ``sender_id``
``type``               complaint type (``product`` ...) or None
``cause``              cause id of ``causes.yml`` or None
``category``           product category id of ``options.yml`` (from ``facts.product_category``;
                       a name such as ``家电`` is read as its id; an unknown text is kept) or None
``urgency``            ``safety``, ``media_legal``, ``vulnerable`` or None
``priority``           ``P1``..``P4``
``queue``              the ticket's queue now (after an escalation: the escalation queue)
``status``             ticket status now
``handoff_reason``     the reason of the first history note ``转人工：<reason>`` (the handoff action
                       writes it); None: no human was asked for (the bot settled it, or still is)
``handoff_at``         when that note was written
``handoff_queue``      the queue the case was handed to: the ticket's queue when the handoff note
                       was first seen, kept from the ``previous`` projection after that (an
                       escalation moves the ticket to the supervisor queue; the queue that let
                       the deadline pass stays here). Computed from a ticket alone (no previous
                       projection): its queue now
``first_claimed_at``   the first history note ``客服接手`` (an agent claimed the case)
``escalated``          a history note ``超时未接手…`` (the timer escalated the unclaimed case)
``resolved_at``        the first history entry with status ``resolved`` or ``closed``
``first_response_due`` the ticket's first-response deadline (set at creation)
``respond_by``         when a human had to answer the handoff: ``first_response_due`` for a ticket
                       handed over when created; for a later handoff, ``handoff_at`` plus the same
                       first-response window (``first_response_due - created_at``), so a customer
                       asking for a human days after the bot settled is not counted late at once
``satisfaction``       1-5 or None
``option_id``          ``chosen_option.id`` (or None)
``option_label``       ``chosen_option.label`` (or None)
``compensation``       compensation amount in yuan (or None)
``compensation_status`` ``granted``, ``pending_approval``, ``approved``, ``rejected`` ... (or None)
``risk_flag``          flagged for the risk team
=====================  ==========================================================================

Plain Python. :func:`ticket_facts` never raises on odd ticket data (a ticket write must not fail
because of analytics): a value of the wrong kind reads as None.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.analytics.labels import resolve_category

VERSION = 1
"""Bump when the projection changes: ``TicketStore.all_facts`` recomputes older ones."""

TIMEZONE = ZoneInfo("Asia/Shanghai")
"""The shop's day (ticket ids carry the same date)."""

HANDOFF_NOTE = "转人工：{reason}"
"""History note of a handoff (``actions/handoff.py`` writes it)."""

CLAIM_NOTE = "客服接手"
"""History note of an agent claiming the case (``bot/agent_api/routes.py`` writes it)."""

ESCALATION_NOTE_PREFIX = "超时未接手"
"""Start of the history note of an escalation (``bot/followup/jobs.py`` writes it)."""

_HANDOFF_PREFIXES = (HANDOFF_NOTE.split("{")[0], "转人工:")
_DONE = frozenset({"resolved", "closed"})

FIELDS = (
    "v",
    "id",
    "created_at",
    "day",
    "hour",
    "weekday",
    "channel",
    "customer",
    "type",
    "cause",
    "category",
    "urgency",
    "priority",
    "queue",
    "status",
    "handoff_reason",
    "handoff_at",
    "handoff_queue",
    "first_claimed_at",
    "escalated",
    "resolved_at",
    "first_response_due",
    "respond_by",
    "satisfaction",
    "option_id",
    "option_label",
    "compensation",
    "compensation_status",
    "risk_flag",
)
"""Every key of a projection, in order."""


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None


def _history(ticket: dict[str, Any]) -> dict[str, Any]:
    """Handoff, claim, escalation and resolution read from the history, oldest entry first."""
    found: dict[str, Any] = {
        "handoff_reason": None,
        "handoff_at": None,
        "handoff_queue": None,
        "first_claimed_at": None,
        "escalated": False,
        "resolved_at": None,
    }
    history = ticket.get("history")
    for entry in history if isinstance(history, list) else ():
        if not isinstance(entry, dict):
            continue
        note = entry.get("note")
        note = note.strip() if isinstance(note, str) else ""
        at = _number(entry.get("at"))
        if found["handoff_at"] is None and note.startswith(_HANDOFF_PREFIXES):
            reason = note.split("：", 1)[-1] if "：" in note else note.split(":", 1)[-1]
            found["handoff_reason"] = reason.strip() or "asked"
            found["handoff_at"] = at
        elif found["first_claimed_at"] is None and note == CLAIM_NOTE:
            found["first_claimed_at"] = at
        elif note.startswith(ESCALATION_NOTE_PREFIX):
            found["escalated"] = True
        if found["resolved_at"] is None and entry.get("status") in _DONE:
            found["resolved_at"] = at
    return found


def _local(created_at: float | None) -> tuple[str | None, int | None, int | None]:
    if created_at is None:
        return None, None, None
    try:
        moment = datetime.fromtimestamp(created_at, TIMEZONE)
    except (OverflowError, OSError, ValueError):
        return None, None, None
    return moment.strftime("%Y-%m-%d"), moment.hour, moment.weekday()


def ticket_facts(ticket: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The analytics projection of a ticket (the fields are listed in the module docstring).

    Args:
        ticket: A ticket as ``Ticket.to_dict()`` gives it (or as stored: the same keys). The id
            may be empty (the create script puts it in).
        previous: The projection stored before this change, if any: ``handoff_queue`` is kept
            from it.

    Returns:
        A new dict with every key of :data:`FIELDS`, JSON-ready.
    """
    created_at = _number(ticket.get("created_at"))
    day, hour, weekday = _local(created_at)
    facts: dict[str, Any] = ticket["facts"] if isinstance(ticket.get("facts"), dict) else {}
    option = ticket.get("chosen_option")
    compensation: dict[str, Any] = ticket["compensation"] if isinstance(ticket.get("compensation"), dict) else {}
    history = _history(ticket)
    if history["handoff_at"] is not None:
        kept = previous.get("handoff_queue") if isinstance(previous, dict) else None
        history["handoff_queue"] = _str(kept) or _str(ticket.get("queue"))
    due = _number(ticket.get("first_response_due"))
    respond_by = None
    if history["handoff_at"] is not None:
        respond_by = due
        if due is not None and created_at is not None and due > created_at:
            respond_by = max(due, history["handoff_at"] + (due - created_at))
    satisfaction = ticket.get("satisfaction")
    return {
        "v": VERSION,
        "id": _str(ticket.get("id")) or "",
        "created_at": created_at,
        "day": day,
        "hour": hour,
        "weekday": weekday,
        "channel": _str(ticket.get("channel")),
        "customer": _str(ticket.get("customer_id")) or _str(ticket.get("sender_id")),
        "type": _str(ticket.get("type")),
        "cause": _str(ticket.get("cause")),
        "category": resolve_category(facts.get("product_category")),
        "urgency": _str(ticket.get("urgency")),
        "priority": _str(ticket.get("priority")),
        "queue": _str(ticket.get("queue")),
        "status": _str(ticket.get("status")),
        **history,
        "first_response_due": due,
        "respond_by": respond_by,
        "satisfaction": satisfaction if isinstance(satisfaction, int) and not isinstance(satisfaction, bool) else None,
        "option_id": _str(option.get("id")) if isinstance(option, dict) else None,
        "option_label": _str(option.get("label")) if isinstance(option, dict) else _str(option),
        "compensation": _number(compensation.get("amount")),
        "compensation_status": _str(compensation.get("status")),
        "risk_flag": ticket.get("risk_flag") is True,
    }


def dumps(facts: dict[str, Any]) -> str:
    """The projection as compact JSON (what ``P:facts`` holds)."""
    return json.dumps(facts, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
