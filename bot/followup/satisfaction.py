"""The satisfaction question (1-5) within 24 hours of resolution (SPEC.md section 7).

Whoever resolves a ticket (an agent resolving a handed-over case, or marking a ticket the bot
settled as carried out) calls :meth:`Survey.resolved`; the follow-up timer then asks every
resolved ticket's customer once, within :data:`WINDOW_SECONDS` of the resolution, when the
conversation is free (not paused, no form running), by triggering the intent
``EXTERNAL_resolved`` (the rule that starts ``satisfaction_form``). An agent's resolve asks at
once when the channel can send; :meth:`Survey.claim` makes sure a customer is asked once however
many workers and paths try.

Keys, for the ticket store prefix ``P``:

* ``followup:P:csat:resolved`` - zset ticket id -> resolution time (epoch seconds);
* ``followup:P:csat:asked:<ticket id>`` - ``SET NX`` marker of the question sent (kept 7 days).

A resolution older than the window without a question is dropped and counted, so the dashboard
can say how many customers were never asked.
"""

from __future__ import annotations

from typing import Any

WINDOW_SECONDS = 24 * 3600.0
"""SPEC.md section 7: the question goes out within 24 hours of resolution."""

MARKER_TTL = 7 * 86400
"""Seconds an "asked" marker is kept (longer than the window)."""


class Survey:
    """The satisfaction questions still to ask, on one Redis.

    Args:
        redis: A ``redis.asyncio`` client.
        ticket_prefix: The ticket store's key prefix (keeps test stores apart).
    """

    def __init__(self, redis: Any, ticket_prefix: str) -> None:
        self.redis = redis
        self.base = f"followup:{ticket_prefix}:csat"

    @property
    def resolved_key(self) -> str:
        """Zset of resolved tickets waiting for their question, by resolution time."""
        return f"{self.base}:resolved"

    @property
    def missed_key(self) -> str:
        """Counter of resolutions whose customer was never asked within the window."""
        return f"{self.base}:missed"

    def marker(self, ticket_id: str) -> str:
        """Key of the "asked" marker of a ticket."""
        return f"{self.base}:asked:{ticket_id}"

    async def resolved(self, ticket_id: str, at: float) -> None:
        """Records a resolution (the first one counts: ``ZADD NX``)."""
        await self.redis.zadd(self.resolved_key, {ticket_id: at}, nx=True)

    async def claim(self, ticket_id: str) -> bool:
        """True for the one caller that may ask this ticket's customer now (``SET NX`` marker).

        After asking, call :meth:`forget`; when asking failed or the conversation was busy, call
        :meth:`release` so that a later round tries again.
        """
        return bool(await self.redis.set(self.marker(ticket_id), "1", nx=True, ex=MARKER_TTL))

    async def release(self, ticket_id: str) -> None:
        """Gives a claimed question back (not sent): the timer tries again next round."""
        await self.redis.delete(self.marker(ticket_id))

    async def due(self, now: float, limit: int = 200) -> list[str]:
        """Tickets resolved within the window whose customer was not asked yet, oldest first.

        Resolutions older than :data:`WINDOW_SECONDS` are dropped and counted in ``missed_key``.
        """
        stale = await self.redis.zremrangebyscore(self.resolved_key, "-inf", f"({now - WINDOW_SECONDS}")
        if stale:
            await self.redis.incrby(self.missed_key, int(stale))
        ids = await self.redis.zrangebyscore(self.resolved_key, now - WINDOW_SECONDS, now, start=0, num=limit)
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]

    async def forget(self, ticket_id: str) -> None:
        """Drops a ticket from the list: asked, already scored, or gone."""
        await self.redis.zrem(self.resolved_key, ticket_id)

    async def missed(self) -> int:
        """How many resolutions were never asked within the window."""
        value = await self.redis.get(self.missed_key)
        return int(value or 0)
