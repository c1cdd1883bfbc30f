"""Each customer's inbox in Redis: messages wait here until they are read as one turn.

Why (issue 13): customers type a complaint as several short lines in a row ("你好" / "我买的电饭煲"
/ "煮饭夹生"); answering each line apologises three times. And a message accepted by a worker that
then dies must not be gone. So every message is first appended to its customer's inbox, and the
turn takes *everything* waiting there at once, in the order Redis received it, from any worker
or replica (:mod:`bot.services.turns` does the waiting and takes under the conversation lock).

Keys (prefix ``P``, default ``inbox``; ``{S}`` is the conversation id as a Redis hash tag):

* ``P:{S}:pending``: list of the waiting entries (JSON, :class:`InboxEntry`), arrival order.
* ``P:{S}:meta``: hash ``first``/``last``: Redis server time (ms) of the first and the last
  waiting entry, from which the burst's due time is computed (quiet for ``window`` ms since the
  last one, but at most ``max_wait`` ms after the first).
* ``P:due``: sorted set conversation -> due time (ms): inboxes whose waiter may have died are
  found here by the sweeper.
* ``P:taken`` (hash batch id -> JSON ``{"sender", "entries"}``) and ``P:leases`` (sorted set
  batch id -> lease expiry, ms): a batch taken and not yet finished. A batch whose lease runs
  out belonged to a process that died mid-turn; the sweeper runs it again unless the
  conversation already recorded it (the batch id is the turn's ``message_id``).
* ``P:batches``: the batch counter.

Every change is one Lua script (atomic), with Redis's clock, so workers on different machines
agree on times. The conversation keys and the four shared keys are not in one Redis Cluster slot:
this store needs a single Redis (primary/replica, as deployed), not Redis Cluster.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from bot.store.reply import async_reply

if TYPE_CHECKING:
    from redis.asyncio import Redis

KEY_TTL_MS = 24 * 3600 * 1000
"""A forgotten inbox (nobody took it, the sweeper was off) is dropped after a day."""

_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

# KEYS: pending, meta, due. ARGV: entry, sender, window ms, max wait ms, ttl ms.
# Returns {entries waiting now, ms until the burst is due}.
_PUSH = (
    _NOW
    + """
local n = redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'last', now)
redis.call('HSETNX', KEYS[2], 'first', now)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
local first = tonumber(redis.call('HGET', KEYS[2], 'first'))
local due = math.min(now + tonumber(ARGV[3]), first + tonumber(ARGV[4]))
redis.call('ZADD', KEYS[3], due, ARGV[2])
return {n, math.max(0, due - now)}
"""
)

# KEYS: pending, meta. ARGV: window ms, max wait ms.
# Returns {0} (nothing waiting: taken by another turn) or {1, ms until due (0 = due now), entries waiting}.
_STATUS = (
    _NOW
    + """
if redis.call('LLEN', KEYS[1]) == 0 then return {0} end
local last = tonumber(redis.call('HGET', KEYS[2], 'last') or now)
local first = tonumber(redis.call('HGET', KEYS[2], 'first') or now)
local due = math.min(last + tonumber(ARGV[1]), first + tonumber(ARGV[2]))
return {1, math.max(0, due - now), redis.call('LLEN', KEYS[1])}
"""
)

# KEYS: pending, meta, due, taken, leases, counter. ARGV: sender, lease ms.
# Takes every waiting entry. Returns {} (nothing waiting) or {batch id, entry, entry, ...}.
_TAKE = (
    _NOW
    + """
local entries = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
if #entries == 0 then return {} end
local batch = tostring(redis.call('INCR', KEYS[6]))
redis.call('HSET', KEYS[4], batch, cjson.encode({sender = ARGV[1], entries = entries}))
redis.call('ZADD', KEYS[5], now + tonumber(ARGV[2]), batch)
local out = {batch}
for i = 1, #entries do out[i + 1] = entries[i] end
return out
"""
)

# KEYS: taken, leases. ARGV: lease ms, how many. Claims batches whose lease ran out (a new lease
# for the caller). Returns {batch id, payload, batch id, payload, ...}.
_CLAIM_EXPIRED = (
    _NOW
    + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  local payload = redis.call('HGET', KEYS[1], id)
  if payload then
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), id)
    out[#out + 1] = id
    out[#out + 1] = payload
  else
    redis.call('ZREM', KEYS[2], id)
  end
end
return out
"""
)

# KEYS: leases. ARGV: batch id, lease ms. Extends a batch's lease (1) unless it is finished (0).
_RENEW = (
    _NOW
    + """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
"""
)

# KEYS: due. ARGV: grace ms, how many. Conversations whose burst was due more than grace ms ago.
_OVERDUE = (
    _NOW
    + """
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]), 'LIMIT', 0, tonumber(ARGV[2]))
"""
)


@dataclass
class InboxEntry:
    """One customer message as it waits in the inbox.

    Attributes:
        text: the text for Rasa (already escaped by the channel).
        channel: the input channel's name (``rest``, ``webchat``, ``wechat``, ``taobao``).
        metadata: the message metadata (JSON-serialisable).
        message_id: the platform's id of the message, if any.
    """

    text: str
    channel: str
    metadata: Dict[str, Any] = field(default_factory=dict)
    message_id: Optional[str] = None

    def dumps(self) -> str:
        """The entry as stored (JSON)."""
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def loads(cls, raw: str) -> "InboxEntry":
        """An entry from its stored JSON (unknown keys ignored)."""
        data = json.loads(raw)
        return cls(
            text=str(data.get("text") or ""),
            channel=str(data.get("channel") or ""),
            metadata=dict(data.get("metadata") or {}),
            message_id=data.get("message_id"),
        )


@dataclass
class Batch:
    """Entries taken together: one turn.

    Attributes:
        batch_id: unique across all conversations (the turn's ``message_id`` is derived from it).
        sender_id: the conversation.
        entries: the messages, in arrival order (at least one).
    """

    batch_id: str
    sender_id: str
    entries: List[InboxEntry]


class Inbox:
    """The customers' inboxes on one Redis (see the module docstring).

    Args:
        client: a ``redis.asyncio`` client with ``decode_responses=True``.
        prefix: first part of every key.

    Every method raises redis-py's errors when Redis fails; the caller decides (REST answers
    503, the platforms' webhooks let the platform retry).
    """

    def __init__(self, client: Redis, prefix: str = "inbox") -> None:
        self.client = client
        self.prefix = prefix
        self._push = client.register_script(_PUSH)
        self._status = client.register_script(_STATUS)
        self._take = client.register_script(_TAKE)
        self._claim = client.register_script(_CLAIM_EXPIRED)
        self._overdue = client.register_script(_OVERDUE)
        self._renew = client.register_script(_RENEW)

    def _keys(self, sender_id: str) -> Tuple[str, str]:
        base = f"{self.prefix}:{{{sender_id}}}"
        return f"{base}:pending", f"{base}:meta"

    @property
    def _shared(self) -> Tuple[str, str, str, str]:
        p = self.prefix
        return f"{p}:due", f"{p}:taken", f"{p}:leases", f"{p}:batches"

    async def push(self, sender_id: str, entry: InboxEntry, window_ms: int, max_wait_ms: int) -> Tuple[int, int]:
        """Appends ``entry``; returns (entries now waiting, ms until the burst is due)."""
        pending, meta = self._keys(sender_id)
        due_key = self._shared[0]
        reply: Any = await self._push(
            keys=[pending, meta, due_key],
            args=[entry.dumps(), sender_id, int(window_ms), int(max_wait_ms), KEY_TTL_MS],
        )
        return int(reply[0]), int(reply[1])

    async def due_in(self, sender_id: str, window_ms: int, max_wait_ms: int) -> Optional[Tuple[int, int]]:
        """(ms until the waiting burst is due (0: now), entries waiting), or None when nothing waits
        (another turn took it)."""
        pending, meta = self._keys(sender_id)
        reply: Any = await self._status(keys=[pending, meta], args=[int(window_ms), int(max_wait_ms)])
        return None if int(reply[0]) == 0 else (int(reply[1]), int(reply[2]))

    async def take(self, sender_id: str, lease_ms: int) -> Optional[Batch]:
        """Takes everything waiting for ``sender_id`` as one batch (None when nothing waits).

        Call it while holding the conversation's lock, so batches run in the order they were taken.
        The batch stays leased for ``lease_ms``; :meth:`finish` it when its turn is recorded.
        """
        pending, meta = self._keys(sender_id)
        due_key, taken, leases, counter = self._shared
        reply: Any = await self._take(
            keys=[pending, meta, due_key, taken, leases, counter], args=[sender_id, int(lease_ms)]
        )
        if not reply:
            return None
        return Batch(str(reply[0]), sender_id, [InboxEntry.loads(raw) for raw in reply[1:]])

    async def finish(self, batch_id: str) -> None:
        """The batch's turn is recorded (or failed and the customer was told): forget it."""
        _, taken, leases, _ = self._shared
        pipe = self.client.pipeline(transaction=True)
        pipe.hdel(taken, batch_id)  # type: ignore[arg-type]  # redis-py 4.6 annotates *keys as a list
        pipe.zrem(leases, batch_id)
        await pipe.execute()

    async def renew(self, batch_id: str, lease_ms: int) -> bool:
        """Extends the lease of a batch whose turn is still running; False when it is finished."""
        _, _, leases, _ = self._shared
        reply: Any = await self._renew(keys=[leases], args=[batch_id, int(lease_ms)])
        return bool(reply)

    async def is_taken(self, batch_id: str) -> bool:
        """Whether the batch is still taken and not finished."""
        _, taken, _, _ = self._shared
        return bool(await async_reply(self.client.hexists(taken, batch_id)))

    async def claim_expired(self, lease_ms: int, limit: int = 20) -> List[Batch]:
        """Batches whose lease ran out (their process died mid-turn), leased anew to the caller."""
        _, taken, leases, _ = self._shared
        reply: Any = await self._claim(keys=[taken, leases], args=[int(lease_ms), int(limit)])
        batches = []
        for batch_id, payload in zip(reply[0::2], reply[1::2]):
            data = json.loads(payload)
            entries = [InboxEntry.loads(raw) for raw in data.get("entries") or []]
            batches.append(Batch(str(batch_id), str(data.get("sender") or ""), entries))
        return batches

    async def overdue(self, grace_ms: int, limit: int = 50) -> List[str]:
        """Conversations whose burst was due more than ``grace_ms`` ago and nobody took (their waiter died)."""
        reply: Any = await self._overdue(keys=[self._shared[0]], args=[int(grace_ms), int(limit)])
        return [str(sender) for sender in reply]
