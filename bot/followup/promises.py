"""Reading what was promised in a conversation into the promise ledger (SPEC.md sections 4 and 7).

:func:`scan_conversation` reads the messages the customer got (Rasa ``bot`` events, written by the bot,
an agent or the follow-up timer) that were not scanned yet, records each promise with a time that
:func:`bot.language.promises.find_promises` finds in them, and keeps the conversation's ``contact``
promises when an agent or a progress update answered the customer. The follow-up timer then works on
the ledger (:class:`bot.store.promises.PromiseLedger`: ``due_soon``, ``mark_alerted``,
``break_overdue``).

Rescanning is harmless: each promise is recorded under ``<sender id>:<event index>:<mention index>``,
so a conversation scanned twice (two workers, a crash before the cursor moved) records nothing twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from bot.language.promises import PromiseMention, find_promises
from bot.store.promises import Promise, PromiseLedger
from bot.store.tickets import ID_PREFIX

TicketAt = Callable[[float], str | None]
"""``ticket_id_at(timestamp)``: the conversation's ticket at that time, or None."""

RESTATED_WITHIN = 60.0
"""Seconds: a mention of the same kind due this close to a pending promise of the conversation is that
promise said again (the bot writes deadlines to the minute), not a new one."""

_NAMED_TICKET = re.compile(rf"工单号?\s*[:：]?\s*({ID_PREFIX}[0-9]{{12,}})")


def author_of(event: dict[str, Any]) -> str:
    """Who wrote a ``bot`` event: ``metadata.author`` (``bot``, ``timer`` or ``agent:<name>``, as
    :func:`bot.services.delivery.send` writes it); anything else, or none, is the bot."""
    author = (event.get("metadata") or {}).get("author")
    if isinstance(author, str) and (author in ("bot", "timer") or (author.startswith("agent:") and len(author) > 6)):
        return author
    return "bot"


def answers_the_customer(author: str) -> bool:
    """Whether a message by ``author`` keeps the conversation's contact promises: an agent's message or
    a progress update (author ``timer:progress``, or ``timer`` in conversations recorded before the
    timer named its messages). The bot's own replies do not: "已为您转接…会联系您" is the promise, not
    its keeping; nor does the timer's "客服比预计的忙" (``timer:escalation``), which admits it is broken."""
    return author in ("timer", "timer:progress") or author.startswith("agent:")


def _restates(mention: PromiseMention, pending: Sequence[Promise]) -> bool:
    return any(p.kind == mention.kind and abs(p.due - mention.due) < RESTATED_WITHIN for p in pending)


async def scan_conversation(
    ledger: PromiseLedger,
    sender_id: str,
    events: list[dict[str, Any]],
    ticket_id_at: TicketAt,
) -> int:
    """Records the promises of a conversation's new messages and moves its scan cursor.

    For each event after the cursor (``ledger.scan_cursor``) that is a ``bot`` event
    (``{"event": "bot", "text", "timestamp", "metadata": {"author": ...}}``, author ``bot`` when
    missing):

    1. if its author is an agent (``agent:<name>``) or the timer (a progress update), the pending
       contact promises made before it are kept (:meth:`PromiseLedger.keep_contact_promises`, broken
       ones kept late): the customer heard from us. A message by the bot itself keeps nothing. This runs
       before step 2, so the message that makes a promise never keeps it.
    2. each promise :func:`find_promises` reads in its text (said at the event's timestamp) is recorded
       with ``made_by`` = the author and the ticket named in the message ("工单号 TS…") or else
       ``ticket_id_at(timestamp)``. A mention that repeats a pending promise made in an earlier message
       of the conversation (same kind, due within :data:`RESTATED_WITHIN`; e.g. "{who}会在{deadline}
       联系您" answering "多久" after the handoff) is not recorded again. Two promises of one message
       are two promises, even when due together (a call back and a progress message by 明天10:02).

    Then the cursor moves to ``len(events)``. A cursor beyond ``len(events)`` (a shortened history)
    scans nothing.

    Args:
        ledger: The promise ledger.
        sender_id: The conversation.
        events: Its tracker events as dicts, oldest first (Rasa's ``tracker.events`` serialised).
        ticket_id_at: The conversation's ticket at a given time (epoch seconds), or None.

    Returns:
        How many promises this call recorded (0 for a rescan).

    Raises:
        PromiseLedgerUnavailable: Redis failed; the cursor has not moved, and the next scan starts over
            where this one started (what was recorded stays, once).
    """
    cursor = await ledger.scan_cursor(sender_id)
    if cursor >= len(events):
        return 0
    recorded = 0
    for index in range(cursor, len(events)):
        event = events[index]
        if event.get("event") != "bot":
            continue
        at = event.get("timestamp")
        said_at = float(at) if isinstance(at, (int, float)) and not isinstance(at, bool) else ledger.clock()
        author = author_of(event)
        if answers_the_customer(author):
            await ledger.keep_contact_promises(sender_id, said_at, author)
        text = event.get("text")
        mentions = find_promises(text, said_at) if isinstance(text, str) else []
        if not mentions:
            continue
        source = f"{sender_id}:{index}:"
        pending = [
            p
            for p in await ledger.for_sender(sender_id)
            if p.status == "pending" and not p.source_key.startswith(source)
        ]
        named = _NAMED_TICKET.search(text or "")
        ticket_id = named.group(1) if named else ticket_id_at(said_at)
        for number, mention in enumerate(mentions):
            if _restates(mention, pending):
                continue
            _, created = await ledger.record(
                sender_id=sender_id,
                ticket_id=ticket_id,
                made_by=author,
                text=mention.text,
                due=mention.due,
                made_at=said_at,
                kind=mention.kind,
                conditional=mention.conditional,
                source_key=f"{sender_id}:{index}:{number}",
            )
            recorded += int(created)
    await ledger.set_scan_cursor(sender_id, len(events))
    return recorded
