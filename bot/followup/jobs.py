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
from bot.policy import sla as sla_module
from bot.privacy import mask_pii
from bot.store.handoff import HandoffQueue
from bot.store.tickets import TicketStore, describe

logger = logging.getLogger(__name__)

MARKER_PREFIX = "followup"
"""Key prefix of the ``SET NX`` markers that make one worker send each progress message:
``followup:<ticket store prefix>:progress:<ticket id>:<due time>``."""

MARKER_TTL = 7 * 86400
"""Seconds a progress marker is kept (longer than any progress interval)."""

Render = Callable[..., Awaitable[dict[str, Any]]]
"""``render(response, sender_id, channel, **values)`` -> the message for the customer."""

Send = Callable[[str, dict[str, Any]], Awaitable[None]]
"""``send(sender_id, message)``: delivers (and records) a message; must not raise."""


@dataclass
class FollowUp:
    """The follow-up jobs on the stores of one Redis.

    Attributes:
        tickets: The ticket store (its SLA gives the tiers).
        handoffs: The agents' queue (its SLA gives the escalation queue and window).
        redis: The client for the progress markers.
        render: Fills a domain response for a conversation.
        send: Delivers a message to a conversation.
    """

    tickets: TicketStore
    handoffs: HandoffQueue
    redis: Redis
    render: Render
    send: Send

    async def once(self, now: float | None = None) -> dict[str, int]:
        """One round at ``now`` (epoch seconds; the wall clock by default).

        Returns:
            ``{"escalated": n, "progress": m}``: how many cases this round escalated and how
            many progress messages it sent.

        Raises:
            HandoffQueueUnavailable, TicketStoreUnavailable: Redis failed (the round stops;
                what it did so far stays done).
        """
        now = time.time() if now is None else now
        return {"escalated": await self.escalate(now), "progress": await self.progress(now)}

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
            await self.send(case.sender_id, message)
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
        for ticket in await self.tickets.due_for_progress(now):
            marker = f"{MARKER_PREFIX}:{self.tickets.prefix}:progress:{ticket.id}:{int(ticket.next_progress_due or 0)}"
            if not await self.redis.set(marker, "1", nx=True, ex=MARKER_TTL):
                continue  # another worker sent it
            message = await self.render("utter_progress_update", ticket.sender_id, ticket.channel, **describe(ticket))
            await self.send(ticket.sender_id, message)
            # The next report not yet due: after downtime the customer gets one report, not one per
            # missed interval (the old "due + interval" sent a burst, one a round).
            tier = self.tickets.tier_of(ticket)
            following = sla_module.next_progress_due(tier, ticket.created_at, now)
            if following <= now:
                following += tier.progress_seconds
            await self.tickets.update(
                ticket.id,
                actor="timer",
                note="进展已通知客户",
                next_progress_due=following,
            )
            count += 1
        return count


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
