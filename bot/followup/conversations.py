"""The conversations the follow-up timer reads, straight from the tracker store's keys in Redis.

The tracker store (:mod:`bot.rasa_ext.tracker_store`) keeps every conversation's events as a list
``P:events:<sender>`` and an index ``P:active`` (zset: sender -> when it was last saved). The
house-rule check and the promise ledger walk that index forward from a watermark of their own,
so each round reads only conversations that changed since the last one, however many are stored.
"""

from __future__ import annotations

import json
from typing import Any


class Conversations:
    """Reading conversations by the tracker store's keys.

    Args:
        redis: A ``redis.asyncio`` client.
        prefix: The tracker store's ``key_prefix`` (``tracker`` in endpoints.yml).
    """

    def __init__(self, redis: Any, prefix: str = "tracker") -> None:
        self.redis = redis
        self.prefix = prefix

    @property
    def active_key(self) -> str:
        """Zset of conversations by last activity (written by the tracker store)."""
        return f"{self.prefix}:active"

    def events_key(self, sender_id: str) -> str:
        """List of a conversation's events as JSON."""
        return f"{self.prefix}:events:{sender_id}"

    async def changed(self, after: float, until: float, limit: int = 200) -> list[tuple[str, float]]:
        """Conversations last active in ``(after, until]``, the earliest first, at most ``limit``.

        Returns:
            ``(sender_id, last activity in epoch seconds)`` pairs.
        """
        found = await self.redis.zrangebyscore(
            self.active_key, f"({after!r}", until, start=0, num=limit, withscores=True
        )
        return [(s.decode() if isinstance(s, bytes) else str(s), float(score)) for s, score in found]

    async def events(self, sender_id: str) -> list[dict[str, Any]]:
        """Every stored event of the conversation (empty when it expired; then it leaves the index)."""
        raw = await self.redis.lrange(self.events_key(sender_id), 0, -1)
        if not raw:
            await self.redis.zrem(self.active_key, sender_id)
            return []
        events = []
        for item in raw:
            try:
                event = json.loads(item)
            except ValueError:
                continue
            if isinstance(event, dict):
                events.append(event)
        return events
