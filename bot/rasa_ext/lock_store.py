"""A Redis lock store whose tickets are issued, queued and released atomically.

Why: Rasa 3.6's ``RedisLockStore`` keeps a conversation's tickets as one JSON list and changes it
with a plain GET, an edit in Python and a SET. Two Sanic workers doing that at the same moment
overwrite each other's tickets: with ``SANIC_WORKERS=2`` and 20 messages of one customer sent at
once, 3 of 5 rounds lost 2-3 messages (answered 503 "Could not acquire lock", never recorded).
The atomic store was reverted upstream, so this is ours.

How: every change is one Lua script, so Redis runs it alone (no other command of any client
runs in between). For conversation ``C`` and prefix ``P`` (``key_prefix`` in endpoints.yml):

* ``P:{C}:next``: the ticket counter (``INCR``). Ticket numbers of a conversation only grow,
  so a number is never handed out twice (the key lives ``COUNTER_TTL_SECONDS`` after the last
  ticket, far longer than any ticket), which makes a late release of an expired ticket harmless.
* ``P:{C}:queue``: sorted set of the waiting tickets, score = ticket number: the head is the
  ticket being served, the rest wait in arrival order.
* ``P:{C}:expires``: hash ticket -> expiry (Redis server time, ms). A waiting ticket is renewed
  at every poll, so it waits as long as its process is alive; a dead process's ticket expires
  and is dropped when it reaches the head. The ticket being served is not renewed: as in Rasa,
  ``lock_lifetime`` (``TICKET_LOCK_LIFETIME``, default 60 s) bounds how long one message may
  hold the conversation before the next one goes ahead.
* ``P:{C}:wake:<n>``: a release pushes here for the new head, so the next message starts at
  once (``BLPOP``) instead of at its next poll.

The ``{C}`` hash tag keeps a conversation's keys in one Redis Cluster slot. The interface is
Rasa's ``LockStore``: ``lock(conversation_id, lock_lifetime, wait_time_in_seconds)`` is the
async context manager the processor, ``Agent.handle_message`` and the HTTP API use (it raises
``LockError`` only when this message's own ticket expired or Redis failed); the synchronous ticket methods
(``issue_ticket``, ``finish_serving``, ``cleanup``, ``is_someone_waiting``, ``get_lock``) run
the same scripts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from contextlib import asynccontextmanager
from typing import Any, AsyncGenerator, Dict, List, Optional, Text, Tuple

import redis
import redis.asyncio
from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

from bot.store.client import retry_once
from bot.store.reply import async_reply, sync_reply

logger = logging.getLogger(__name__)

COUNTER_TTL_SECONDS = 24 * 3600
"""How long a conversation's ticket counter outlives its last ticket (must exceed any lifetime)."""

_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

# KEYS: next, queue, expires. ARGV: lifetime ms, counter ttl ms. Returns the new ticket number.
ISSUE = (
    _NOW
    + """
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], n, n)
redis.call('HSET', KEYS[3], n, now + tonumber(ARGV[1]))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return n
"""
)

# Drops expired tickets from the head of the queue; leaves the first live ticket at the head.
_DROP_EXPIRED_HEADS = """
local head = nil
while true do
  head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  if not head then break end
  local expires = tonumber(redis.call('HGET', KEYS[2], head) or '0')
  if expires >= now then break end
  redis.call('ZREM', KEYS[1], head)
  redis.call('HDEL', KEYS[2], head)
  head = nil
end
"""

# KEYS: queue, expires. ARGV: ticket, lifetime ms.
# Returns -1 (this ticket is gone: expired), 0 (this ticket is served now) or the number of
# tickets ahead of it. A waiting or newly served ticket gets a full lifetime from now.
POLL = (
    _NOW
    + """
local mine = redis.call('HGET', KEYS[2], ARGV[1])
if (not mine) or tonumber(mine) < now then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return -1
end
"""
    + _DROP_EXPIRED_HEADS
    + """
local rank = redis.call('ZRANK', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], now + tonumber(ARGV[2]))
return rank
"""
)

# KEYS: queue, expires, wake prefix (".../wake:"). ARGV: ticket, wake ttl ms.
# Removes the ticket and wakes the next live one. Returns 1 if someone is still waiting.
RELEASE = (
    _NOW
    + """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3] .. ARGV[1])
"""
    + _DROP_EXPIRED_HEADS
    + """
if head then
  redis.call('RPUSH', KEYS[3] .. head, '1')
  redis.call('PEXPIRE', KEYS[3] .. head, ARGV[2])
  return 1
end
redis.call('DEL', KEYS[1], KEYS[2])
return 0
"""
)


# KEYS: expires. ARGV: ticket, lifetime ms. Extends a live ticket (the one being served, by its
# holder): 1, or 0 when the ticket is gone or already expired (someone else may hold the lock now).
RENEW = (
    _NOW
    + """
local mine = redis.call('HGET', KEYS[1], ARGV[1])
if (not mine) or tonumber(mine) < now then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], now + tonumber(ARGV[2]))
return 1
"""
)


class AtomicRedisLockStore(LockStore):
    """Rasa's ticket lock on Redis, with every ticket change one atomic script."""

    def __init__(
        self,
        endpoint_config: Optional[EndpointConfig] = None,
        *,
        host: Text = "localhost",
        port: int = 6379,
        db: int = 0,
        password: Optional[Text] = None,
        key_prefix: Text = "lock",
        socket_timeout: float = 10,
    ) -> None:
        """Connects lazily to Redis.

        Args:
            endpoint_config: the ``lock_store`` section of endpoints.yml (Rasa passes it:
                ``url`` is the host; ``port``, ``db``, ``password``, ``key_prefix`` as below).
            host, port, db, password: the Redis server (an empty password means none).
            key_prefix: first part of every key.
            socket_timeout: seconds a Redis command may take before it fails (``BLPOP`` waits
                are shorter than this).
        """
        if endpoint_config is not None:
            kwargs = endpoint_config.kwargs
            host = endpoint_config.url or host
            port = kwargs.get("port") or port
            db = kwargs.get("db") or db
            password = kwargs.get("password") or password
            key_prefix = kwargs.get("key_prefix") or key_prefix
        self.settings: Dict[Text, Any] = {
            "host": host or "localhost",
            "port": int(port or 6379),
            "db": int(db or 0),
            "password": password or None,
            "socket_timeout": socket_timeout,
        }
        self.prefix = str(key_prefix or "lock")
        self._sync: Optional[redis.Redis] = None
        self._async: Optional[redis.asyncio.Redis] = None
        self._async_loop: Optional[asyncio.AbstractEventLoop] = None
        super().__init__()

    # ---- keys and clients -----------------------------------------------------------------
    def keys(self, conversation_id: Text) -> Dict[Text, Text]:
        """The Redis keys of one conversation: ``next``, ``queue``, ``expires``, ``wake`` (a prefix)."""
        base = f"{self.prefix}:{{{conversation_id}}}"
        return {"next": f"{base}:next", "queue": f"{base}:queue", "expires": f"{base}:expires", "wake": f"{base}:wake:"}

    @property
    def sync_client(self) -> redis.Redis:
        """Blocking client for the synchronous ``LockStore`` methods."""
        if self._sync is None:
            self._sync = redis.Redis(decode_responses=True, **retry_once(asyncio=False), **self.settings)
        return self._sync

    def async_client(self) -> redis.asyncio.Redis:
        """Client for ``lock()``, one per event loop (a pool is bound to the loop that made it)."""
        loop = asyncio.get_running_loop()
        if self._async is None or self._async_loop is not loop:
            self._async = redis.asyncio.Redis(decode_responses=True, **retry_once(), **self.settings)
            self._async_loop = loop
        return self._async

    # ---- Rasa's LockStore interface -------------------------------------------------------
    @asynccontextmanager
    async def lock(
        self,
        conversation_id: Text,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> AsyncGenerator[TicketLock, None]:
        """Holds the conversation for one message: waits its turn, in arrival order.

        Args:
            conversation_id: the sender id.
            lock_lifetime: seconds a ticket lives without renewal; a waiting ticket is renewed
                at every poll, the served one is not (it may hold the lock this long).
            wait_time_in_seconds: longest wait between two polls (a release wakes the next
                ticket at once; polling only notices an expired holder).

        Raises:
            LockError: this message's own ticket expired while it waited (its process stalled
                for longer than ``lock_lifetime``), or Redis failed.
        """
        client = self.async_client()
        keys = self.keys(conversation_id)
        lifetime_ms = max(1, int(lock_lifetime * 1000))
        try:
            ticket = int(
                await _eval_async(
                    client,
                    ISSUE,
                    [keys["next"], keys["queue"], keys["expires"]],
                    [lifetime_ms, COUNTER_TTL_SECONDS * 1000],
                )
            )
        except redis.RedisError as error:
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error
        try:
            yield await self._wait_for_turn(client, conversation_id, ticket, lifetime_ms, wait_time_in_seconds)
        finally:
            try:
                await _eval_async(
                    client, RELEASE, [keys["queue"], keys["expires"], keys["wake"]], [ticket, lifetime_ms]
                )
            except redis.RedisError:
                # The ticket then expires after lock_lifetime and is dropped by the next poll.
                logger.exception("could not release lock ticket %s of a conversation", ticket)

    async def renew(self, conversation_id: Text, ticket: int, lock_lifetime: float = LOCK_LIFETIME) -> bool:
        """Extends the ticket this process holds by ``lock_lifetime`` seconds from now.

        For a holder that may need longer than one lifetime (a turn on an overloaded server): it
        renews while it works, so the next message does not go ahead while it still runs.
        Returns False when the ticket had already expired (the lock may be someone else's).

        Raises:
            redis.RedisError: Redis failed.
        """
        keys = self.keys(conversation_id)
        lifetime_ms = max(1, int(lock_lifetime * 1000))
        return bool(await _eval_async(self.async_client(), RENEW, [keys["expires"]], [ticket, lifetime_ms]))

    async def _wait_for_turn(
        self, client: redis.asyncio.Redis, conversation_id: Text, ticket: int, lifetime_ms: int, wait_time: float
    ) -> TicketLock:
        keys = self.keys(conversation_id)
        while True:
            try:
                ahead = int(await _eval_async(client, POLL, [keys["queue"], keys["expires"]], [ticket, lifetime_ms]))
            except redis.RedisError as error:
                raise LockError(f"Error while acquiring lock. Error:\n{error}") from error
            if ahead < 0:
                raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")
            if ahead == 0:
                logger.debug("Acquired lock for conversation '%s' (ticket %s).", conversation_id, ticket)
                return _ticket_lock(conversation_id, [(ticket, lifetime_ms)])
            logger.debug("Conversation '%s': %s message(s) ahead of ticket %s.", conversation_id, ahead, ticket)
            try:
                # redis-py 4.6 annotates the timeout as int; Redis >= 6 takes fractional seconds.
                wake = client.blpop([keys["wake"] + str(ticket)], timeout=max(wait_time, 0.01))  # type: ignore[arg-type]
                await async_reply(wake)
            except redis.RedisError as error:
                raise LockError(f"Error while acquiring lock. Error:\n{error}") from error

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """Queues a new ticket for ``conversation_id`` and returns its number (atomic)."""
        keys = self.keys(conversation_id)
        try:
            return int(
                _eval_sync(
                    self.sync_client,
                    ISSUE,
                    [keys["next"], keys["queue"], keys["expires"]],
                    [max(1, int(lock_lifetime * 1000)), COUNTER_TTL_SECONDS * 1000],
                )
            )
        except redis.RedisError as error:
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error

    def finish_serving(self, conversation_id: Text, ticket_number: int) -> None:
        """Removes the ticket and wakes the next one (atomic); deletes the lock when no one waits."""
        keys = self.keys(conversation_id)
        _eval_sync(
            self.sync_client,
            RELEASE,
            [keys["queue"], keys["expires"], keys["wake"]],
            [ticket_number, int(LOCK_LIFETIME * 1000)],
        )

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        """Same as :meth:`finish_serving`: the release script deletes an empty lock itself."""
        self.finish_serving(conversation_id, ticket_number)

    def get_lock(self, conversation_id: Text) -> Optional[TicketLock]:
        """A snapshot of the queued tickets (head first), or None when no one holds the lock."""
        keys = self.keys(conversation_id)
        numbers = sync_reply(self.sync_client.zrange(keys["queue"], 0, -1))
        if not numbers:
            return None
        expiries = sync_reply(self.sync_client.hmget(keys["expires"], numbers))
        return TicketLock(conversation_id, deque(Ticket(int(n), int(e or 0) / 1000) for n, e in zip(numbers, expiries)))

    def is_someone_waiting(self, conversation_id: Text) -> bool:
        """True when a ticket is queued for ``conversation_id``."""
        return bool(self.sync_client.zcard(self.keys(conversation_id)["queue"]))

    def delete_lock(self, conversation_id: Text) -> None:
        """Drops every ticket of the conversation (the counter stays, so numbers are not reused)."""
        keys = self.keys(conversation_id)
        deleted = self.sync_client.delete(keys["queue"], keys["expires"])
        self._log_deletion(conversation_id, bool(deleted))

    def save_lock(self, lock: TicketLock) -> None:
        """Not supported: tickets change only through the atomic scripts.

        Raises:
            NotImplementedError: always (a read-modify-write of the whole lock is the race this
                store exists to avoid).
        """
        raise NotImplementedError("AtomicRedisLockStore changes tickets only through its scripts")

    def update_lock(self, conversation_id: Text) -> None:
        """Nothing to do: expired tickets are dropped by the scripts as they reach the head."""


def _ticket_lock(conversation_id: Text, tickets: List[Tuple[int, int]]) -> TicketLock:
    """The ``TicketLock`` handed to the ``async with`` body (Rasa's callers ignore it)."""
    return TicketLock(conversation_id, deque(Ticket(n, time.time() + ms / 1000) for n, ms in tickets))


# redis-py 4.6 annotates ``eval``'s ``*keys_and_args`` as lists (each one is a key or an argument)
# and its reply as ``str``; a script's reply is whatever its Lua returns, hence ``Any``.
def _eval_sync(client: redis.Redis, script: str, keys: List[str], args: List[int]) -> Any:
    """``EVAL script len(keys) *keys *args`` on the synchronous client; the script's reply."""
    keys_and_args: List[Any] = [*keys, *args]
    return sync_reply(client.eval(script, len(keys), *keys_and_args))


async def _eval_async(client: redis.asyncio.Redis, script: str, keys: List[str], args: List[int]) -> Any:
    """``EVAL script len(keys) *keys *args`` on the asyncio client; the script's reply."""
    keys_and_args: List[Any] = [*keys, *args]
    return await async_reply(client.eval(script, len(keys), *keys_and_args))
