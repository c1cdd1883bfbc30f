"""The real type of a redis-py 4.6 reply.

redis-py 4.6 annotates every command of both clients as ``Awaitable[X] | X`` (one mixin serves
``redis.Redis`` and ``redis.asyncio.Redis``). These two helpers state which half a call returns,
so callers get ``X`` checked instead of a union: ``sync_reply(client.llen(key))`` for the
synchronous client, ``await async_reply(client.hget(key, field))`` for the asyncio one. Each
asserts the half it claims (an ``AssertionError`` means the wrong client was passed).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


def sync_reply(reply: Awaitable[T] | T) -> T:
    """The reply of a ``redis.Redis`` command, as is."""
    assert not isinstance(reply, Awaitable), "an asyncio client was used where a synchronous one was expected"
    return reply


async def async_reply(reply: Awaitable[T] | T) -> T:
    """The awaited reply of a ``redis.asyncio.Redis`` command."""
    assert isinstance(reply, Awaitable), "a synchronous client was used where an asyncio one was expected"
    return await reply
