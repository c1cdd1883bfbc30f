"""Where the bot's Redis data lives: one client factory and one set of key prefixes.

The Rasa server (channels, agents' API, follow-up timer) and the action server both build
their stores here, from the same ``REDIS_*`` variables ``endpoints.yml`` reads, so they
always look at the same tickets and the same queue.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from bot.store.handoff import HandoffQueue
from bot.store.tickets import TicketStore

if TYPE_CHECKING:
    from redis.asyncio import Redis

TICKET_PREFIX = "tk"
HANDOFF_PREFIX = "handoff"


def retry_once(asyncio: bool = True) -> dict[str, Any]:
    """Client options that retry a command once on a fresh connection after a connection error.

    A connection left in the pool from before a Redis restart fails once; redis-py's own
    ``Retry`` repeats the command on a new connection (a Redis that is really down still fails:
    the retry fails too). For ``redis.asyncio.Redis`` (default) or ``redis.Redis``.
    """
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    if asyncio:
        from redis.asyncio.retry import Retry as AsyncRetry

        return {"retry": AsyncRetry(NoBackoff(), 1), "retry_on_error": [RedisConnectionError]}
    from redis.retry import Retry

    return {"retry": Retry(NoBackoff(), 1), "retry_on_error": [RedisConnectionError]}


def redis_from_env() -> Redis:
    """A new ``redis.asyncio`` client (use one per event loop)."""
    import redis.asyncio as aioredis

    return aioredis.Redis(
        **retry_once(),
        host=os.environ.get("REDIS_HOST", "127.0.0.1"),
        port=int(os.environ.get("REDIS_PORT", "6379")),
        db=int(os.environ.get("REDIS_DB", "0") or 0),
        password=os.environ.get("REDIS_PASSWORD") or None,
        decode_responses=True,
        socket_timeout=3,
        socket_connect_timeout=2,
    )


def ticket_store(client: Redis) -> TicketStore:
    """The ticket store on ``client``."""
    return TicketStore(client, prefix=TICKET_PREFIX)


def handoff_queue(client: Redis) -> HandoffQueue:
    """The agents' queue on ``client``."""
    return HandoffQueue(client, prefix=HANDOFF_PREFIX)
