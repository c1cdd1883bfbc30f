"""The follow-up jobs: escalate unclaimed overdue cases, send due progress messages.

One round is :meth:`FollowUp.once`, given the time it runs at, so tests drive it with their own
clock instead of sleeping. :func:`run_forever` repeats rounds every ``interval`` seconds; the
agents' API starts it from its ``after_server_start`` listener (``bot/agent_api/channel.py``).

The rounds are safe to run in every Sanic worker at once: each step claims its work atomically in
Redis (the escalation compare-and-set scripts, a ``SET NX`` marker per progress message), so a
message goes out once however many workers run, and since all state is in Redis the timers
survive a restart.

What the rules come from:

* which cases escalate, to which queue and with what new deadline: ``escalation`` in
  ``policy/sla.yml`` (:meth:`bot.store.handoff.HandoffQueue.escalate_overdue`);
* who the customer is told takes over: ``queues`` in ``policy/labels.yml``;
* when the next progress message is due: the progress interval of the ticket's *own* tier
  (``Ticket.tier``; ``normal`` for tickets stored before tickets kept their tier).

Rendering a domain response and sending it are injected (the Rasa agent's NLG and
``bot.services.delivery.send`` in the server), so the jobs need no running server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from bot.analytics.facts import ESCALATION_NOTE_PREFIX
from bot.followup import satisfaction
from bot.followup.conversations import Conversations
from bot.followup.promises import scan_conversation
from bot.policy import sla as sla_module
from bot.privacy import mask_pii
from bot.quality.house_rules import check_conversation
from bot.store.handoff import HandoffQueue
from bot.store.promises import PromiseLedger
from bot.store.quality import QualityStore
from bot.store.tickets import TicketNotFound, TicketStore, describe

logger = logging.getLogger(__name__)

MARKER_PREFIX = "followup"
"""Key prefix of the ``SET NX`` markers that make one worker send each progress message:
``followup:<ticket store prefix>:progress:<ticket id>:<due time>``."""

MARKER_TTL = 7 * 86400
"""Seconds a progress marker is kept (longer than any progress interval)."""

QUIET_SECONDS = 30 * 60.0
"""A conversation with no event for this long has ended for the house-rule check (it is checked
again if it starts again)."""

ROUND_LIMIT = 200
"""Most conversations one round checks or scans for promises (the rest wait for the next round)."""

PROGRESS_LEAD_SECONDS = 10 * 60.0
"""The server sends a progress report this long before it is due (see ``FollowUp.progress_lead``)."""

PROMISE_WARNING_SECONDS = 2 * 3600.0
"""A pending promise is about to be broken when it is due within this, and within a quarter of
the time it gave (a two-hour promise warns 30 minutes before, a 24-hour one 2 hours before, never
later than 5 minutes before): its ticket gets one warning (:func:`about_to_break`)."""

PROGRESS_AUTHOR = "timer:progress"
"""Author of progress reports: they keep the conversation's contact promises."""

ESCALATION_AUTHOR = "timer:escalation"
"""Author of "the agents are busier than expected" messages: they keep no promise."""


def about_to_break(due: float, made_at: float, now: float) -> bool:
    """Whether a pending promise should be warned about now (see :data:`PROMISE_WARNING_SECONDS`)."""
    left = due - now
    span = max(due - made_at, 0.0)
    return left <= max(min(PROMISE_WARNING_SECONDS, 0.25 * span), 300.0)


Render = Callable[..., Awaitable[dict[str, Any]]]
"""``render(response, sender_id, channel, **values)`` -> the message for the customer."""

Send = Callable[[str, dict[str, Any], str], Awaitable[None]]
"""``send(sender_id, message, author)``: delivers (and records, as written by ``author``) a message;
must not raise. The author tells the promise ledger what a message keeps (:data:`PROGRESS_AUTHOR`,
:data:`ESCALATION_AUTHOR`)."""

AskSatisfaction = Callable[[str], Awaitable[bool]]
"""``ask(sender_id)``: asks the 1-5 question in that conversation now; False when the conversation
is busy (paused for an agent, a form running) or its channel cannot send; must not raise."""


@dataclass
class FollowUp:
    """The follow-up jobs on the stores of one Redis.

    Attributes:
        tickets: The ticket store (its SLA gives the tiers).
        handoffs: The agents' queue (its SLA gives the escalation queue and window).
        redis: The client for the progress markers.
        render: Fills a domain response for a conversation.
        send: Delivers a message to a conversation.
        ask_satisfaction: Asks a conversation the satisfaction question; None leaves that step out.
        progress_lead: Seconds before its due time a progress report goes out. Each report says
            when the next one comes ("明天10:02前我会把进展发给您"), a promise the ledger holds the
            bot to; sent at the due time by a timer ticking every minute it would always be late,
            so the server sends it a little early (:data:`PROGRESS_LEAD_SECONDS`).
        conversations: Reads conversations from the tracker store's keys; None leaves out the
            house-rule check and the promise ledger.
        quality: Where the house-rule checks go (with ``conversations``).
        promises: The promise ledger (with ``conversations``).
        exempt_texts: Bot texts the house rules do not judge (the domain's safety notes).
    """

    tickets: TicketStore
    handoffs: HandoffQueue
    redis: Redis
    render: Render
    send: Send
    ask_satisfaction: AskSatisfaction | None = None
    progress_lead: float = 0.0
    conversations: Conversations | None = None
    quality: QualityStore | None = None
    promises: PromiseLedger | None = None
    exempt_texts: frozenset[str] = frozenset()

    async def once(self, now: float | None = None) -> dict[str, int]:
        """One round at ``now`` (epoch seconds; the wall clock by default).

        Returns:
            ``{"escalated": n, "progress": m}``: how many cases this round escalated and how
            many progress messages it sent; with ``ask_satisfaction``, also ``"satisfaction"``:
            how many satisfaction questions it sent.

        Raises:
            HandoffQueueUnavailable, TicketStoreUnavailable: Redis failed (the round stops;
                what it did so far stays done).
        """
        now = time.time() if now is None else now
        counts = {"escalated": await self.escalate(now), "progress": await self.progress(now)}
        if self.ask_satisfaction is not None:
            counts["satisfaction"] = await self.satisfaction(now)
        if self.conversations is not None and self.quality is not None:
            counts["checked"] = await self.check_quality(now)
        if self.conversations is not None and self.promises is not None:
            counts.update(await self.watch_promises(now))
        return counts

    async def escalate(self, now: float) -> int:
        """Moves unclaimed overdue cases to the escalation queue and tells each customer the new time."""
        config = self.handoffs.sla
        count = 0
        for case in await self.handoffs.escalate_overdue(now):
            message = await self.render(
                "utter_escalated",
                case.sender_id,
                case.channel,
                who=config.queue_display(case.queue),
                deadline=sla_module.format_deadline(case.deadline, now=now, tz=config.tz),
            )
            await self.send(case.sender_id, message, ESCALATION_AUTHOR)
            if case.ticket_id:
                await self.tickets.update(
                    case.ticket_id,
                    actor="timer",
                    note=f"{ESCALATION_NOTE_PREFIX}，已升级给{config.queue_display(case.queue)}",
                    queue=case.queue,
                )
            count += 1
        return count

    async def progress(self, now: float) -> int:
        """Sends every due progress message once and schedules the next by the ticket's own tier."""
        count = 0
        for ticket in await self.tickets.due_for_progress(now + self.progress_lead):
            due = float(ticket.next_progress_due or 0)
            marker = f"{MARKER_PREFIX}:{self.tickets.prefix}:progress:{ticket.id}:{int(due)}"
            if not await self.redis.set(marker, "1", nx=True, ex=MARKER_TTL):
                continue  # another worker sent it
            message = await self.render("utter_progress_update", ticket.sender_id, ticket.channel, **describe(ticket))
            await self.send(ticket.sender_id, message, PROGRESS_AUTHOR)
            # The next report not yet due: after downtime the customer gets one report, not one per
            # missed interval (the old "due + interval" sent a burst, one a round).
            tier = self.tickets.tier_of(ticket)
            reference = max(now, due)  # sent early, the next report still counts from this due time
            following = sla_module.next_progress_due(tier, ticket.created_at, reference)
            if following <= reference:
                following += tier.progress_seconds
            await self.tickets.update(
                ticket.id,
                actor="timer",
                note="进展已通知客户",
                next_progress_due=following,
            )
            count += 1
        return count

    async def satisfaction(self, now: float) -> int:
        """Asks the satisfaction question of every ticket resolved within the last 24 hours whose
        customer was not asked yet and whose conversation is free (SPEC.md section 7;
        :mod:`bot.followup.satisfaction`). A busy conversation is tried again next round."""
        assert self.ask_satisfaction is not None
        survey = satisfaction.Survey(self.redis, self.tickets.prefix)
        count = 0
        for ticket_id in await survey.due(now):
            ticket = await self.tickets.get(ticket_id)
            if ticket is None or ticket.satisfaction is not None:
                await survey.forget(ticket_id)
                continue
            if not await survey.claim(ticket_id):
                continue  # another worker or the agent's resolve asked
            if not await self.ask_satisfaction(ticket.sender_id):
                await survey.release(ticket_id)
                continue
            await survey.forget(ticket_id)
            await self.tickets.update(ticket_id, actor="timer", note="已发送满意度调查")
            count += 1
        return count

    async def check_quality(self, now: float) -> int:
        """Checks every conversation that went quiet (no event for :data:`QUIET_SECONDS`) since
        its last check against the house rules, and stores the report (issue 12, 质检).

        A conversation that starts again is checked again when it goes quiet again; the report
        replaces the earlier one. Walks the conversation index from a watermark, at most
        :data:`ROUND_LIMIT` conversations a round.
        """
        assert self.conversations is not None and self.quality is not None
        mark = f"{MARKER_PREFIX}:{self.tickets.prefix}:quality:watermark"
        after = float(await self.redis.get(mark) or 0)
        count = 0
        for sender_id, activity in await self.conversations.changed(after, now - QUIET_SECONDS, ROUND_LIMIT):
            events = await self.conversations.events(sender_id)
            if events:
                case = await self.handoffs.get(sender_id)
                tickets = await self.tickets.for_sender(sender_id)
                report = check_conversation(
                    events,
                    case=case.to_dict() if case else None,
                    tickets=[t.to_dict() for t in tickets],
                    now=now,
                    exempt_texts=self.exempt_texts,
                    sender_id=sender_id,
                )
                await self.quality.save(report, activity)
                count += 1
            await self.redis.set(mark, repr(activity))
        return count

    async def watch_promises(self, now: float) -> dict[str, int]:
        """Records the promises in new messages, warns before one is broken, marks broken ones.

        Returns:
            ``{"promises": recorded, "alerted": warned, "broken": marked broken}``. A warning and
            a broken promise each leave a note in the ticket's history (the agents' console shows
            them), so the owner sees it; the console's queue lists promises due soon.
        """
        assert self.conversations is not None and self.promises is not None
        ledger = self.promises
        mark = f"{MARKER_PREFIX}:{self.tickets.prefix}:promises:watermark"
        after = float(await self.redis.get(mark) or 0)
        recorded = 0
        for sender_id, activity in await self.conversations.changed(after, now, ROUND_LIMIT):
            events = await self.conversations.events(sender_id)
            tickets = sorted(await self.tickets.for_sender(sender_id), key=lambda t: t.created_at)

            def ticket_at(moment: float, tickets: list[Any] = tickets) -> str | None:
                # the ticket open when the promise was made; one announced in the same message
                # was created a moment before it; a promise before any ticket goes to the first
                chosen = [t for t in tickets if t.created_at <= moment + 1] or tickets[:1]
                return chosen[-1].id if chosen else None

            recorded += await scan_conversation(ledger, sender_id, events, ticket_at)
            await self.redis.set(mark, repr(activity))
        alerted = 0
        for promise in await ledger.due_soon(now, PROMISE_WARNING_SECONDS):
            if not about_to_break(promise.due, promise.made_at, now):
                continue  # a short promise: warned later, when little of it is left
            if not await ledger.mark_alerted(promise.id, now):
                continue
            alerted += 1
            await self._note(
                promise, f"承诺即将到期（{sla_module.format_deadline(promise.due, now=now)}）：{promise.text}"
            )
        broken = await ledger.break_overdue(now)
        for promise in broken:
            await self._note(promise, f"承诺未按时兑现：{promise.text}")
        return {"promises": recorded, "alerted": alerted, "broken": len(broken)}

    async def _note(self, promise: Any, note: str) -> None:
        if not promise.ticket_id:
            return
        try:
            await self.tickets.update(promise.ticket_id, actor="timer", note=note)
        except TicketNotFound:
            logger.warning("promise %s points to a missing ticket", promise.id)


async def run_forever(job: Callable[[], Awaitable[FollowUp]], interval: float) -> None:
    """Runs a round every ``interval`` seconds until cancelled; a failed round is logged, not fatal.

    Args:
        job: Returns the :class:`FollowUp` to run (built per round, so a lost client is rebuilt).
        interval: Seconds between rounds.
    """
    while True:
        try:
            await (await job()).once()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - the timer must survive one bad round
            logger.exception("follow-up round failed: %s", mask_pii(str(error)))
        await asyncio.sleep(interval)
