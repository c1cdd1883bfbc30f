"""The queue of conversations handed to human agents, on Redis Streams with a consumer group.

Plain Python (no Rasa imports): the handoff action, the agents' HTTP API and a periodic escalation
job all talk to one :class:`HandoffQueue` built on a ``redis.asyncio`` client.

Keys, for prefix ``P`` (give the prefix a hash tag, e.g. ``{handoff}``, to run on Redis Cluster):

- ``P:q:<queue>`` - one stream per queue of ``policy/sla.yml`` (``emergency``, ``senior``,
  ``priority``, ``supervisor``, ``general`` as shipped). An entry is ``sender_id``, ``case_id``, ``priority``, ``rank`` (the number in the
  priority), ``deadline``. Every stream has the consumer group ``agents``.
- ``P:q:direct`` - stream through which a specific case is delivered to the agent who asked for it
  (see below); same group.
- ``P:open`` - hash ``sender_id`` -> case JSON: the index of open cases (the agents' queue view).
  Written only by compare-and-set scripts.
- ``P:pos`` - hash ``sender_id`` -> small JSON ``{"stream", "id", "agent", "at"}``: where the case's
  stream entry is and, once delivered, which agent holds it since when. The runtime state of a case
  (``status``, ``claimed_by``, ``claimed_at``) is read from here, so that the scripts that deliver
  entries never rewrite the case JSON.
- ``P:resolved`` - hash ``sender_id`` -> JSON of that conversation's latest resolved case (the record).
- ``P:idem:<key>`` - idempotency key of an enqueue (``SET NX`` semantics, expires after
  ``idempotency_ttl``).
- ``P:version`` - a counter raised after every change of the queue (enqueue, claim, reclaim,
  escalation, resolve), so the agents' console can tell "something changed" by reading one key
  (:meth:`HandoffQueue.version`); a hint, raised after the change, never part of its atomic step.

Invariants, kept by Lua scripts (each transition is one atomic script):

- an open *waiting* case has exactly one entry, not yet delivered, in the stream of its queue;
- an open *claimed* case has exactly one entry pending (delivered, not acknowledged) in the group
  ``agents`` and owned by the claiming agent, in its queue's stream or in ``P:q:direct``;
- a resolved case has no entry left (``XACK`` then ``XDEL``; the record is ``P:resolved``).

Claiming. ``claim(agent)`` looks at the first undelivered entry of each queue stream (after the
group's ``last-delivered-id``), picks the most urgent one (lowest priority number, then earliest
deadline, then queue order) and delivers it with ``XREADGROUP GROUP agents <agent> COUNT 1`` on that
stream, in the same script, so the delivered entry is exactly the one chosen and no two agents can
get it. Within one queue the order is arrival order (a stream is FIFO).
``claim(agent, sender_id)`` cannot use ``XREADGROUP >`` on the queue stream (that hands out the head
of the stream, not the wanted entry), and ``XCLAIM ... FORCE`` on an undelivered entry would leave it
after the group's ``last-delivered-id``, so a later ``XREADGROUP >`` would deliver it a second time.
Instead one script deletes the waiting entry from its queue stream (it was never delivered, so there
is nothing to acknowledge), adds the case to ``P:q:direct`` and reads it right away with
``XREADGROUP GROUP agents <agent> COUNT 1 STREAMS P:q:direct >``. Nothing else writes that stream, so
it never holds undelivered entries and the read returns the entry just added. The case then is a
pending entry of the agent in the group like any other: ``XPENDING``, ``XAUTOCLAIM``, ``XACK`` treat
both paths alike. A case held by another agent is refused (``None``); only :meth:`reclaim_stale`
moves it.

Dead agents. A claimed entry stays pending until :meth:`resolve` acknowledges it. If the agent's
process dies first, :meth:`reclaim_stale` (``XAUTOCLAIM`` with ``min_idle_seconds`` on every stream)
hands it to another agent; the delivery count seen in ``XPENDING`` goes up. The idle time of a pending
entry counts from its last delivery, so a live agent working a long case must call
:meth:`heartbeat` (it ``XCLAIM``s its own entries with ``JUSTID``, resetting the idle time) more often
than the ``min_idle_seconds`` used for reclaiming, or its case would be taken from it.

One open case per conversation. Enqueuing for a conversation that already has an open case does not
add a second one: the summary is replaced by the new one (the bot's summary is cumulative). If that
case is still waiting and the new trigger is more urgent (lower priority number), the case also takes
the new reason, queue and priority, its deadline becomes the earlier of the two, and its entry moves
to the new queue's stream. A claimed case only gets the new summary (the agent already has it).

Escalation. :meth:`escalate_overdue` moves waiting cases past their deadline to the escalation
queue of ``sla.yml`` (``escalation.queue``; entry deleted from the old stream - it was never
delivered, so there is nothing to acknowledge - and added to the escalation stream), with
``escalated=True`` and a new deadline ``now + escalation.window_minutes``. Escalated cases and
cases already in the escalation queue are never escalated again, so running it twice is harmless.

Queues. The queue names, their tie-break order, the escalation queue and its window all come
from ``policy/sla.yml`` (:class:`bot.policy.sla.SlaConfig`): a queue renamed there is a new
stream at the next enqueue, and a case naming a queue that is not defined is refused.

Every Redis connection or timeout error surfaces as :class:`HandoffQueueUnavailable`.
"""

from __future__ import annotations

import functools
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from bot.policy import sla as sla_module
from bot.store.reply import async_reply
from bot.vocabulary import HandoffReason

REASONS = tuple(HandoffReason)
STATUSES = ("waiting", "claimed", "resolved")
DIRECT = "direct"
GROUP = "agents"

DEFAULT_IDEMPOTENCY_TTL = 24 * 3600.0
MAX_ATTEMPTS = 50  # compare-and-set retries before giving up (only under heavy contention)

_PRIORITY = re.compile(r"^P(\d+)$")
_RUNTIME = ("status", "claimed_by", "claimed_at")  # read from P:pos, not stored in the case JSON

P = ParamSpec("P")
T = TypeVar("T")


class HandoffQueueUnavailable(RuntimeError):
    """Redis could not be reached (connection refused, dropped or timed out)."""


class CaseNotFound(LookupError):
    """There is no open case for this conversation."""


class CaseNotClaimed(RuntimeError):
    """The case is not held by the agent who tried to resolve it."""


class HandoffConflict(RuntimeError):
    """A case kept changing under a compare-and-set; the operation was given up."""


def priority_rank(priority: str) -> int:
    """The number in a priority label (``"P1"`` -> 1); lower is more urgent.

    Raises:
        ValueError: when the label is not ``P`` followed by digits.
    """
    match = _PRIORITY.match(priority)
    if not match:
        raise ValueError(f"priority must look like 'P1'..'P4', got {priority!r}")
    return int(match.group(1))


@dataclass
class HandoffCase:
    """One conversation waiting for, or being handled by, a human agent.

    Attributes:
        sender_id: The conversation (Rasa sender id).
        channel: The channel the customer wrote on (replies go back there).
        customer_id: The customer.
        reason: Why the bot handed over; one of :data:`REASONS`.
        queue: Which agents' queue; a queue of ``policy/sla.yml`` (checked when enqueued).
        priority: ``"P1"``.. ``"P4"``; a lower number is more urgent.
        deadline: When a human must have taken the case (epoch seconds).
        summary: What the agent needs (type, urgency, phase, facts, options_offered, last_messages...).
        ticket_id: The ticket of the case, if one was opened.
        created_at: When the case was first enqueued (set by :meth:`HandoffQueue.enqueue` if empty).
        case_id: Identity of this case (a conversation can have several cases over time).
        status: ``waiting``, ``claimed`` or ``resolved``.
        claimed_by: The agent holding the case.
        claimed_at: When that agent got it.
        escalated: Whether the case was moved to the escalation queue after its deadline.
        resolved_at: When an agent resolved it.
    """

    sender_id: str
    channel: str
    customer_id: str
    reason: str
    queue: str
    priority: str
    deadline: float
    summary: dict[str, Any] = field(default_factory=dict)
    ticket_id: str | None = None
    created_at: float | None = None
    case_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: str = "waiting"
    claimed_by: str | None = None
    claimed_at: float | None = None
    escalated: bool = False
    resolved_at: float | None = None

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"reason must be one of {REASONS}, got {self.reason!r}")
        if not self.queue or self.queue == DIRECT:
            raise ValueError(f"queue must name a queue of sla.yml, got {self.queue!r}")
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if not self.sender_id:
            raise ValueError("sender_id is required")
        priority_rank(self.priority)
        self.deadline = float(self.deadline)

    @property
    def rank(self) -> int:
        """The priority number (1 is the most urgent)."""
        return priority_rank(self.priority)

    def sort_key(self) -> tuple[int, float, float, str]:
        """Order of the agents' queue view: priority, then deadline, then age."""
        return (self.rank, self.deadline, self.created_at or 0.0, self.sender_id)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HandoffCase:
        """Builds a case from :meth:`to_dict` output; unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


# Lua ------------------------------------------------------------------------------------------
# Each transition is one script in bot/store/lua/ (what KEYS and ARGV each takes is written at the
# top of its file); handoff_lib.lua holds shared helpers and is prepended to every script. Read once
# per process and registered per client with ``register_script`` (EVALSHA, EVAL on NOSCRIPT).
LUA_DIR = Path(__file__).resolve().parent / "lua"


@functools.cache
def lua(name: str) -> str:
    """The source of ``bot/store/lua/handoff_<name>.lua``, with the shared helpers in front."""
    return (LUA_DIR / "handoff_lib.lua").read_text(encoding="utf-8") + (LUA_DIR / f"handoff_{name}.lua").read_text(
        encoding="utf-8"
    )


def _text(value: str | bytes | None) -> str:
    """Script and command replies as ``str``, whether or not the client decodes responses."""
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


def _guarded(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Turns Redis connection and timeout errors into :class:`HandoffQueueUnavailable`."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as error:
            raise HandoffQueueUnavailable(f"handoff queue unavailable: {error}") from error

    return wrapper


@dataclass(frozen=True)
class _Snapshot:
    """A case as stored: the raw strings (for compare-and-set) and the case they make."""

    case_json: str
    pos_json: str

    @property
    def pos(self) -> dict[str, str]:
        return json.loads(self.pos_json) if self.pos_json else {}

    @property
    def case(self) -> HandoffCase:
        return _merge(self.case_json, self.pos_json)


def _merge(case_json: str, pos_json: str) -> HandoffCase:
    """The stored case JSON with its runtime state from the position record."""
    data = json.loads(case_json)
    pos = json.loads(pos_json) if pos_json else {}
    if pos.get("agent"):
        data.update(status="claimed", claimed_by=pos["agent"], claimed_at=float(pos["at"]))
    return HandoffCase.from_dict(data)


def _stored_json(case: HandoffCase) -> str:
    """The case JSON kept in the open index: everything but the runtime state."""
    data = case.to_dict()
    for key in _RUNTIME:
        data.pop(key)
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def _record_json(case: HandoffCase) -> str:
    """The JSON of a resolved case, runtime state included."""
    return json.dumps(case.to_dict(), ensure_ascii=False, sort_keys=True)


def _entry_fields(case: HandoffCase) -> list[str]:
    """The fields of a stream entry for a case (flat, as XADD takes them)."""
    return [
        "sender_id", case.sender_id,
        "case_id", case.case_id,
        "priority", case.priority,
        "rank", str(case.rank),
        "deadline", repr(case.deadline),
    ]  # fmt: skip


class HandoffQueue:
    """The agents' queue on Redis Streams (see the module docstring for the design).

    Args:
        client: A ``redis.asyncio`` client (``decode_responses`` either way).
        prefix: Prefix of every key.
        clock: Returns the current time in epoch seconds (injectable for tests).
        sla: The queues, the escalation queue and its window; :func:`bot.policy.sla.load_sla`
            by default (loaded on first use).
        idempotency_ttl: Seconds an enqueue idempotency key is remembered.
    """

    def __init__(
        self,
        client: Redis,
        prefix: str = "handoff",
        *,
        clock: Callable[[], float] = time.time,
        sla: sla_module.SlaConfig | None = None,
        idempotency_ttl: float = DEFAULT_IDEMPOTENCY_TTL,
    ) -> None:
        self.redis = client
        self.prefix = prefix
        self.clock = clock
        self._sla = sla
        self.idempotency_ttl = float(idempotency_ttl)
        self._write = client.register_script(lua("write"))
        self._claim_next = client.register_script(lua("claim_next"))
        self._claim_one = client.register_script(lua("claim_one"))
        self._reclaim = client.register_script(lua("reclaim"))
        self._heartbeat = client.register_script(lua("heartbeat"))
        self._resolve = client.register_script(lua("resolve"))

    # policy -------------------------------------------------------------------------------------
    @property
    def sla(self) -> sla_module.SlaConfig:
        """The SLA configuration (loaded on first use)."""
        if self._sla is None:
            self._sla = sla_module.load_sla()
        return self._sla

    @property
    def queues(self) -> tuple[str, ...]:
        """The queue names of ``sla.yml``, in tie-break order."""
        return self.sla.queue_names

    @property
    def escalation_queue(self) -> str:
        """Where overdue waiting cases go (``escalation.queue``)."""
        return self.sla.escalation_queue

    @property
    def escalation_window(self) -> float:
        """Seconds the escalation queue gets for an escalated case (``escalation.window_minutes``)."""
        return self.sla.escalation_window_seconds

    def _check_queue(self, name: str) -> None:
        if name not in self.queues:
            raise ValueError(f"unknown queue {name!r}; the queues of sla.yml are {', '.join(self.queues)}")

    # keys ---------------------------------------------------------------------------------------
    @property
    def open_key(self) -> str:
        """Hash ``sender_id`` -> case JSON of the open cases."""
        return f"{self.prefix}:open"

    @property
    def pos_key(self) -> str:
        """Hash ``sender_id`` -> where the case's entry is and who holds it."""
        return f"{self.prefix}:pos"

    @property
    def resolved_key(self) -> str:
        """Hash ``sender_id`` -> the conversation's latest resolved case."""
        return f"{self.prefix}:resolved"

    def stream_key(self, name: str) -> str:
        """The stream of a queue (or of ``direct`` deliveries)."""
        return f"{self.prefix}:q:{name}"

    @property
    def version_key(self) -> str:
        """Counter raised after every change of the queue (see the module docstring)."""
        return f"{self.prefix}:version"

    async def _changed(self) -> None:
        await self.redis.incr(self.version_key)

    @_guarded
    async def version(self) -> int:
        """The change counter: it differs from an earlier reading when the queue changed since."""
        return int(_text(await self.redis.get(self.version_key)) or 0)

    def idempotency_key(self, key: str) -> str:
        """Where an enqueue idempotency key is remembered."""
        return f"{self.prefix}:idem:{key}"

    def all_streams(self) -> list[str]:
        """Every stream key: the queues, then the direct stream."""
        return [self.stream_key(name) for name in (*self.queues, DIRECT)]

    # reading ------------------------------------------------------------------------------------
    async def _snapshot(self, sender_id: str) -> _Snapshot | None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(self.open_key, sender_id)
            pipe.hget(self.pos_key, sender_id)
            case_json, pos_json = await pipe.execute()
        if case_json is None:
            return None
        return _Snapshot(_text(case_json), _text(pos_json))

    async def _snapshots(self) -> list[_Snapshot]:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(self.open_key)
            pipe.hgetall(self.pos_key)
            cases, positions = await pipe.execute()
        positions = {_text(k): _text(v) for k, v in positions.items()}
        return [_Snapshot(_text(v), positions.get(_text(k), "")) for k, v in cases.items()]

    @_guarded
    async def ping(self) -> bool:
        """True when Redis answers.

        Raises:
            HandoffQueueUnavailable: when it does not.
        """
        return bool(await self.redis.ping())

    @_guarded
    async def get(self, sender_id: str) -> HandoffCase | None:
        """The conversation's open case, else its latest resolved case, else ``None``."""
        snapshot = await self._snapshot(sender_id)
        if snapshot is not None:
            return snapshot.case
        return await self._resolved(sender_id)

    async def _resolved(self, sender_id: str) -> HandoffCase | None:
        record = await async_reply(self.redis.hget(self.resolved_key, sender_id))
        return HandoffCase.from_dict(json.loads(_text(record))) if record else None

    @_guarded
    async def list_cases(self, status: str | None = None) -> list[HandoffCase]:
        """The agents' queue view, most urgent first (priority, then deadline, then age).

        Args:
            status: ``waiting`` or ``claimed`` for only those; ``resolved`` for the latest resolved
                case of each conversation; ``None`` for every open case.
        """
        if status == "resolved":
            records = await async_reply(self.redis.hvals(self.resolved_key))
            cases = [HandoffCase.from_dict(json.loads(_text(r))) for r in records]
        else:
            cases = [s.case for s in await self._snapshots()]
            cases = [c for c in cases if status is None or c.status == status]
        return sorted(cases, key=HandoffCase.sort_key)

    # enqueue ------------------------------------------------------------------------------------
    @_guarded
    async def enqueue(self, case: HandoffCase, idempotency_key: str) -> tuple[HandoffCase, bool]:
        """Puts a case in its queue, once per idempotency key and once per conversation.

        A second call with the same key changes nothing. A call for a conversation that already
        has an open case updates that case (see the module docstring) instead of adding one.

        Args:
            case: The case; ``created_at`` is set to now when empty. Runtime state is ignored.
            idempotency_key: Identifies this handoff attempt (e.g. sender id + triggering message id).

        Returns:
            The case as stored, and True when this call added a new case (False for a duplicate key
            or an update of the conversation's open case).

        Raises:
            ValueError: The case names a queue that ``sla.yml`` does not define.
        """
        self._check_queue(case.queue)
        incoming = HandoffCase.from_dict({**case.to_dict(), "created_at": case.created_at or self.clock()})
        for _ in range(MAX_ATTEMPTS):
            current = await self._snapshot(case.sender_id)
            new, move = self._merged(current, incoming)
            reply = await self._cas_write(current, new, move=move, idempotency_key=idempotency_key)
            if reply[0] == "duplicate":
                return await self._duplicate_of(case, reply), False
            if reply[0] == "ok":
                return _merge(reply[1], reply[2]), current is None
        raise HandoffConflict(f"case of {case.sender_id} kept changing")

    @staticmethod
    def _merged(current: _Snapshot | None, incoming: HandoffCase) -> tuple[HandoffCase, bool]:
        """What to store for ``incoming`` given the open case, and whether its entry moves."""
        if current is None:
            return HandoffCase.from_dict(incoming.to_dict()), True
        case = current.case
        case.summary = incoming.summary
        case.ticket_id = incoming.ticket_id or case.ticket_id
        if case.status != "waiting" or incoming.rank >= case.rank:
            return case, False
        case.reason, case.queue, case.priority = incoming.reason, incoming.queue, incoming.priority
        case.deadline = min(case.deadline, incoming.deadline)
        return case, True

    async def _duplicate_of(self, case: HandoffCase, reply: list[str]) -> HandoffCase:
        """The answer to a repeated enqueue: the case as it stands now."""
        _, case_json, pos_json, first_json = reply
        first = HandoffCase.from_dict(json.loads(first_json))
        if case_json and json.loads(case_json)["case_id"] == first.case_id:
            return _merge(case_json, pos_json)
        resolved = await self._resolved(case.sender_id)
        if resolved is not None and resolved.case_id == first.case_id:
            return resolved
        return first

    async def _cas_write(
        self,
        current: _Snapshot | None,
        new: HandoffCase,
        *,
        move: bool,
        idempotency_key: str | None = None,
    ) -> list[str]:
        """Runs the compare-and-set write script; returns its reply as strings."""
        old_pos = current.pos if current else {}
        old_stream = self.stream_key(old_pos.get("stream", new.queue))
        idem = self.idempotency_key(idempotency_key) if idempotency_key is not None else self.open_key
        reply = await self._write(
            keys=[self.open_key, self.pos_key, old_stream, self.stream_key(new.queue), idem],
            args=[
                GROUP,
                new.sender_id,
                current.case_json if current else "",
                current.pos_json if current else "",
                _stored_json(new),
                "1" if move else "0",
                str(int(self.idempotency_ttl * 1000)) if idempotency_key is not None else "",
                new.queue,
                *_entry_fields(new),
            ],
        )
        parts = [_text(part) for part in reply]
        if parts[0] == "ok":
            await self._changed()
        return parts

    # claiming -----------------------------------------------------------------------------------
    @_guarded
    async def claim(
        self, agent: str, sender_id: str | None = None, *, queues: Sequence[str] | None = None
    ) -> HandoffCase | None:
        """Gives an agent a waiting case, through the consumer group ``agents``.

        Args:
            agent: The agent (consumer name in the group).
            sender_id: That conversation's case; without it, the most urgent waiting case.
            queues: Only these queues (e.g. ``["supervisor"]`` for a supervisor); all by default.
                Ignored when ``sender_id`` is given.

        Returns:
            The claimed case; ``None`` when nothing is waiting, when there is no such case, or when
            another agent holds it. Claiming a case the agent already holds returns it again.
        """
        if sender_id is None:
            return await self._claim_next_case(agent, queues or self.queues)
        return await self._claim_case(agent, sender_id)

    async def _claim_next_case(self, agent: str, queues: Sequence[str]) -> HandoffCase | None:
        for name in queues:
            self._check_queue(name)
        reply = await self._claim_next(
            keys=[self.open_key, self.pos_key, *(self.stream_key(q) for q in queues)],
            args=[GROUP, agent, repr(self.clock()), *queues],
        )
        if not reply:
            return None
        _, case_json, pos_json = (_text(part) for part in reply)
        await self._changed()
        return _merge(case_json, pos_json)

    async def _claim_case(self, agent: str, sender_id: str) -> HandoffCase | None:
        for _ in range(MAX_ATTEMPTS):
            current = await self._snapshot(sender_id)
            if current is None:
                return None
            holder = current.pos.get("agent")
            if holder:
                return current.case if holder == agent else None
            source = self.stream_key(current.pos["stream"])
            reply = await self._claim_one(
                keys=[self.open_key, self.pos_key, source, self.stream_key(DIRECT)],
                args=[GROUP, agent, repr(self.clock()), sender_id, current.case_json, current.pos_json]
                + _entry_fields(current.case),
            )
            if _text(reply[0]) == "ok":
                await self._changed()
                return _merge(_text(reply[1]), _text(reply[2]))
        raise HandoffConflict(f"case of {sender_id} kept changing")

    @_guarded
    async def reclaim_stale(self, agent: str, min_idle_seconds: float) -> list[HandoffCase]:
        """Hands the cases of agents that went silent to ``agent`` (``XAUTOCLAIM``).

        Args:
            agent: The agent taking them over.
            min_idle_seconds: Only entries delivered (or heartbeaten) longer ago than this.

        Returns:
            The cases now held by ``agent``, with ``claimed_at`` = now.
        """
        names = [*self.queues, DIRECT]
        senders = await self._reclaim(
            keys=[self.pos_key, *(self.stream_key(n) for n in names)],
            args=[GROUP, agent, str(int(min_idle_seconds * 1000)), repr(self.clock()), *names],
        )
        if senders:
            await self._changed()
        cases = [await self.get(_text(sender)) for sender in senders]
        return [case for case in cases if case is not None]

    @_guarded
    async def heartbeat(self, agent: str) -> int:
        """Marks the agent's cases as worked on, so :meth:`reclaim_stale` leaves them alone.

        Returns:
            How many cases the agent holds.
        """
        return int(await self._heartbeat(keys=self.all_streams(), args=[GROUP, agent]))

    # closing ------------------------------------------------------------------------------------
    @_guarded
    async def resolve(self, sender_id: str, agent: str) -> HandoffCase:
        """Closes the case the agent holds: acknowledges its entry and keeps a record.

        Resolving again a case this agent already resolved returns the record.

        Raises:
            CaseNotFound: when the conversation has no open case.
            CaseNotClaimed: when the case is waiting or held by another agent.
        """
        for _ in range(MAX_ATTEMPTS):
            current = await self._snapshot(sender_id)
            if current is None:
                return await self._already_resolved(sender_id, agent)
            case, pos = current.case, current.pos
            if case.claimed_by != agent:
                raise CaseNotClaimed(f"case of {sender_id} is {case.status}, held by {case.claimed_by}")
            case.status, case.resolved_at = "resolved", self.clock()
            reply = await self._resolve(
                keys=[self.open_key, self.pos_key, self.stream_key(pos["stream"]), self.resolved_key],
                args=[GROUP, sender_id, current.case_json, current.pos_json, pos["id"], _record_json(case)],
            )
            if _text(reply) == "ok":
                await self._changed()
                return case
        raise HandoffConflict(f"case of {sender_id} kept changing")

    async def _already_resolved(self, sender_id: str, agent: str) -> HandoffCase:
        resolved = await self._resolved(sender_id)
        if resolved is None or resolved.claimed_by != agent:
            raise CaseNotFound(f"no open case for {sender_id}")
        return resolved

    @_guarded
    async def escalate_overdue(self, now: float | None = None) -> list[HandoffCase]:
        """Moves waiting cases past their deadline to the escalation queue of ``sla.yml``.

        Args:
            now: The time to judge deadlines by (default: the clock).

        Returns:
            The escalated cases, with their new deadline (``now`` + the escalation window), so the caller
            can tell each customer the new time. Empty when nothing is overdue or all was escalated.
        """
        now = self.clock() if now is None else now
        escalated = []
        for snapshot in await self._snapshots():
            case = await self._escalate(snapshot, now)
            if case is not None:
                escalated.append(case)
        return sorted(escalated, key=HandoffCase.sort_key)

    def _overdue(self, case: HandoffCase, now: float) -> bool:
        return (
            case.status == "waiting"
            and not case.escalated
            and case.queue != self.escalation_queue
            and case.deadline <= now
        )

    async def _escalate(self, snapshot: _Snapshot | None, now: float) -> HandoffCase | None:
        for _ in range(MAX_ATTEMPTS):
            if snapshot is None or not self._overdue(snapshot.case, now):
                return None
            case = snapshot.case
            case.queue, case.escalated, case.deadline = self.escalation_queue, True, now + self.escalation_window
            reply = await self._cas_write(snapshot, case, move=True)
            if reply[0] == "ok":
                return _merge(reply[1], reply[2])
            snapshot = await self._snapshot(case.sender_id)
        raise HandoffConflict(f"case of {snapshot.case.sender_id if snapshot else '?'} kept changing")
