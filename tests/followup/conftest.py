"""What the follow-up timer's tests share: an async client on the session's real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from redis.asyncio import Redis

from tools.devstack import RedisSettings


@pytest_asyncio.fixture(loop_scope="function")
async def client(redis_server: RedisSettings) -> AsyncIterator[Redis]:
    """A ``redis.asyncio`` client (decoded replies) on the test Redis, closed after the test."""
    redis = Redis(host=redis_server.host, port=redis_server.port, db=redis_server.db, decode_responses=True)
    yield redis
    await redis.close()
    await redis.connection_pool.disconnect()
