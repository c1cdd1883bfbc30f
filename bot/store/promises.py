"""The ledger of promises made to customers (SPEC.md section 4 "every promise carries a time", section 7).

Every time the bot or an agent tells a customer that something will happen by a time (补发 within 24
hours, a call back, progress by tomorrow 10:00), the follow-up scan (:mod:`bot.followup.promises`)
records it here against the conversation and its ticket. The follow-up timer asks for the promises
about to fall due (:meth:`PromiseLedger.due_soon`) to alert an agent once each
(:meth:`PromiseLedger.mark_alerted`), breaks the ones past due (:meth:`PromiseLedger.break_overdue`),
and the dashboard reads kept and broken counts per day (:meth:`PromiseLedger.stats`).

A promise is ``pending`` until it is kept (an agent or a progress message answered the customer, the
ticket was resolved, or someone marked it) or broken (its due passed while pending). Keeping a broken
promise is allowed: it becomes ``kept`` with ``kept_at`` after ``due`` and ``broken_at`` kept, and
counts as *kept late*. So the four counts partition the promises: ``kept`` (on time, ``kept_at <=
due``), ``kept_late`` (kept after its due, whether or not the timer had broken it first), ``broken``
(past due, not kept), ``pending``. Without this the kept-late figure would depend on how often the
timer happened to run between the deadline and the late answer. Keeping a kept promise changes nothing
and returns it as it is.

Keys, for prefix ``P`` (default ``promises``):

==========================  ======  ================================================================
``P:promise``               hash    promise id -> promise JSON
``P:source``                hash    source key -> promise id (what makes :meth:`record` idempotent)
``P:pending``               zset    pending promises, by due
``P:unalerted``             zset    pending promises not yet alerted, by due (:meth:`due_soon` reads it)
``P:kept``                  zset    kept promises, by ``kept_at``
``P:broken``                zset    broken promises, by ``broken_at``
``P:made``                  zset    every promise, by ``made_at``
``P:sender:{sender_id}``    zset    a conversation's promises, by ``made_at``
``P:ticket:{ticket_id}``    zset    a ticket's promises, by ``made_at``
``P:day:{YYYYMMDD}``        hash    counters of the promises *due* that day (Asia/Shanghai): ``pending``,
                                    ``kept``, ``kept_late``, ``broken`` and ``<kind>:<bucket>``
``P:cursor``                hash    sender id -> how many events of the conversation were scanned
==========================  ======  ================================================================

Speed with many promises (100,000 and more): every read goes through an index, never a scan of all
promises. :meth:`stats` reads a per-day counter hash (one per day, whatever the number of promises: a
30-day report is 30 ``HGETALL`` in one pipeline, 4-8 ms with 100,000 promises stored on the 2-CPU test
machine); the counters move in the same Lua script as the state change, so they never drift from the
promises. :meth:`due_soon` and :meth:`break_overdue` read a range of a zset by due; :meth:`for_ticket`,
:meth:`for_sender` and :meth:`recent` a small zset or its first page. Memory: about 0.8 KB per promise
(80 MB for 100,000) with its indexes. Breaking costs about half a millisecond per promise (a round trip
each): nothing in a normal round; ``break_overdue(limit=...)`` bounds a round after a long outage.

Every state change is one compare-and-set Lua script (``bot/store/lua/promise_change.lua``), as in
:mod:`bot.store.handoff`: the new JSON is written, with its index and counter moves, only if the stored
JSON is still what was read; otherwise the change is read and decided again. So two workers that
alert, break or keep the same promise do it once: only the first gets it back. Recording is one script
too (``promise_record.lua``) that checks the source key first. The scripts build no key names (every
key is passed in), but the keys of one promise do not share a hash slot: like the ticket store this
assumes one Redis server, not a Cluster.

Nothing expires: a promise and its counters stay for the dashboard. Any Redis connection or timeout
error (or a Redis that refuses writes) raises :class:`PromiseLedgerUnavailable`.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from bot.store.reply import async_reply

STATUSES = ("pending", "kept", "broken")
"""What a promise is: waiting for its due, kept, or broken (past due, not kept)."""

BUCKETS = ("kept", "kept_late", "broken", "pending")
"""How :meth:`PromiseLedger.stats` counts: kept on time, kept after the due, broken, pending."""

KINDS = ("contact", "action")
"""``contact``: the customer hears from us; ``action``: something is done (bot/language/promises.py)."""

DEFAULT_PREFIX = "promises"
TIMEZONE = "Asia/Shanghai"
MAX_STATS_DAYS = 1000
"""The longest period :meth:`PromiseLedger.stats` reports on, in days."""

_MADE_BY = re.compile(r"^(?:bot|timer|agent:.+)$")
_UNAVAILABLE_REPLIES = ("MISCONF", "OOM", "READONLY", "LOADING", "MASTERDOWN", "NOREPLICAS", "TRYAGAIN")
_UNAVAILABLE_ERRORS = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)

P = ParamSpec("P")
R = TypeVar("R")


class PromiseLedgerError(Exception):
    """Base class of the ledger's errors."""


class PromiseLedgerUnavailable(PromiseLedgerError):
    """Redis could not be reached, timed out, or refused the write."""


class PromiseNotFound(PromiseLedgerError, LookupError):
    """No promise with that id (an HTTP API answers 404)."""


class PromiseConflict(PromiseLedgerError, RuntimeError):
    """A promise kept changing under a compare-and-set; the change was given up."""


@dataclass(kw_only=True)
class Promise:
    """One promise made to a customer. Times are epoch seconds.

    Attributes:
        id: The ledger's id (32 hex digits, in the order promises were recorded: :func:`new_id`).
        sender_id: The conversation (Rasa sender id) it was made in.
        ticket_id: The ticket it belongs to, when there was one.
        made_by: ``bot``, ``timer`` or ``agent:<name>``.
        text: The promise as said (a sentence or clause).
        kind: ``contact`` or ``action``.
        conditional: It depends on something first ("收到您寄回的商品后…"); its due still counts from
            when it was said.
        made_at: When it was said.
        due: The deadline it named.
        status: ``pending``, ``kept`` or ``broken``.
        kept_at: When it was kept (after ``due``: kept late).
        kept_by: Who or what kept it (``agent:<name>``, ``timer``, ``ticket:<id> resolved`` ...).
        broken_at: When the timer found it past due (stays set when a broken promise is kept late).
        alerted_at: When an agent was alerted that it was about to be broken.
        note: Free text of whoever kept it.
        source_key: The key it was recorded under (conversation, event index, mention index).
    """

    id: str
    sender_id: str
    ticket_id: str | None = None
    made_by: str
    text: str
    kind: str
    conditional: bool = False
    made_at: float
    due: float
    status: str = "pending"
    kept_at: float | None = None
    kept_by: str | None = None
    broken_at: float | None = None
    alerted_at: float | None = None
    note: str = ""
    source_key: str = ""

    @property
    def kept_late(self) -> bool:
        """Kept, but after its due."""
        return self.status == "kept" and self.kept_at is not None and self.kept_at > self.due

    @property
    def bucket(self) -> str:
        """Where :meth:`PromiseLedger.stats` counts it: one of :data:`BUCKETS`."""
        if self.status == "kept":
            return "kept_late" if self.kept_late else "kept"
        return self.status

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (all are scalars, so no deep copy is needed)."""
        return {name: getattr(self, name) for name in _FIELD_NAMES}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Promise:
        """Builds a promise from :meth:`to_dict` output; unknown keys are ignored.

        Raises:
            ValueError: a required field is missing.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as error:
            raise ValueError(f"not a promise: {error}") from error


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(Promise))


_SEQUENCE = itertools.count()


def new_id() -> str:
    """A promise id that sorts by when it was made (hex nanoseconds, a per-process sequence, then
    random), so promises said together (same ``made_at`` score) list in the order they were recorded."""
    return f"{time.time_ns():016x}{next(_SEQUENCE) % 0x10000:04x}{uuid.uuid4().hex[:12]}"


def _dumps(promise: Promise) -> str:
    return json.dumps(promise.to_dict(), ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _loads(raw: str | bytes) -> Promise:
    return Promise.from_dict(json.loads(raw))


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


@functools.cache
def _lua(name: str) -> str:
    return (Path(__file__).resolve().parent / "lua" / f"promise_{name}.lua").read_text(encoding="utf-8")


def _guard(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turns Redis connection trouble into :class:`PromiseLedgerUnavailable`."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except PromiseLedgerError:
            raise
        except _UNAVAILABLE_ERRORS as error:
            raise PromiseLedgerUnavailable(f"promise ledger unavailable: {error}") from error
        except redis_errors.ResponseError as error:
            if str(error).upper().startswith(_UNAVAILABLE_REPLIES):
                raise PromiseLedgerUnavailable(f"promise ledger refused the request: {error}") from error
            raise

    return wrapper


_Plan = tuple[Promise, list[tuple[str, str, float | None]]]
"""A decided change: the new promise and the zset moves ``(op, key, score)``."""


class PromiseLedger:
    """Promises on Redis: idempotent recording, atomic keep/alert/break, per-day counters.

    Args:
        redis: A ``redis.asyncio`` client (``decode_responses`` either way).
        prefix: Key prefix (see the module docstring for the layout).
        clock: Returns the current time in epoch seconds; injectable for tests.
        timezone: The time zone of the days :meth:`stats` counts by (customer-facing: Asia/Shanghai).
        max_attempts: How often a compare-and-set is retried when another worker got there first.
    """

    def __init__(
        self,
        redis: Redis,
        prefix: str = DEFAULT_PREFIX,
        clock: Callable[[], float] = time.time,
        *,
        timezone: str = TIMEZONE,
        max_attempts: int = 50,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.clock = clock
        self.tz = ZoneInfo(timezone)
        self.max_attempts = max_attempts
        self._record = redis.register_script(_lua("record"))
        self._change_script = redis.register_script(_lua("change"))
        self._cursor = redis.register_script(_lua("cursor"))

    # keys -----------------------------------------------------------------------------------
    @property
    def promises_key(self) -> str:
        """Hash promise id -> JSON."""
        return f"{self.prefix}:promise"

    @property
    def sources_key(self) -> str:
        """Hash source key -> promise id."""
        return f"{self.prefix}:source"

    @property
    def pending_key(self) -> str:
        """Pending promises by due."""
        return f"{self.prefix}:pending"

    @property
    def unalerted_key(self) -> str:
        """Pending promises not yet alerted, by due."""
        return f"{self.prefix}:unalerted"

    @property
    def kept_key(self) -> str:
        """Kept promises by ``kept_at``."""
        return f"{self.prefix}:kept"

    @property
    def broken_key(self) -> str:
        """Broken promises by ``broken_at``."""
        return f"{self.prefix}:broken"

    @property
    def made_key(self) -> str:
        """Every promise by ``made_at``."""
        return f"{self.prefix}:made"

    @property
    def cursor_key(self) -> str:
        """Hash sender id -> events scanned."""
        return f"{self.prefix}:cursor"

    def sender_key(self, sender_id: str) -> str:
        """A conversation's promises by ``made_at``."""
        return f"{self.prefix}:sender:{sender_id}"

    def ticket_key(self, ticket_id: str) -> str:
        """A ticket's promises by ``made_at``."""
        return f"{self.prefix}:ticket:{ticket_id}"

    def day_key(self, day: date) -> str:
        """The counters of the promises due on ``day``."""
        return f"{self.prefix}:day:{day:%Y%m%d}"

    def day_of(self, moment: float) -> date:
        """The calendar day (in the ledger's time zone) of an epoch time."""
        return datetime.fromtimestamp(moment, self.tz).date()

    # reading --------------------------------------------------------------------------------
    async def _read(self, promise_id: str) -> tuple[str, Promise] | None:
        raw = await async_reply(self.redis.hget(self.promises_key, promise_id))
        if raw is None:
            return None
        return _text(raw), _loads(raw)

    async def _many(self, ids: Sequence[Any]) -> list[Promise]:
        if not ids:
            return []
        names = [_text(i) for i in ids]
        raws = await async_reply(self.redis.hmget(self.promises_key, names))
        return [_loads(raw) for raw in raws if raw is not None]

    @_guard
    async def get(self, promise_id: str) -> Promise | None:
        """The promise with that id, or None."""
        found = await self._read(promise_id)
        return found[1] if found else None

    @_guard
    async def for_ticket(self, ticket_id: str) -> list[Promise]:
        """A ticket's promises, oldest first."""
        return await self._many(await async_reply(self.redis.zrange(self.ticket_key(ticket_id), 0, -1)))

    @_guard
    async def for_sender(self, sender_id: str) -> list[Promise]:
        """A conversation's promises, oldest first."""
        return await self._many(await async_reply(self.redis.zrange(self.sender_key(sender_id), 0, -1)))

    @_guard
    async def recent(self, status: str | None = None, limit: int = 100) -> list[Promise]:
        """The latest promises for the dashboard.

        Args:
            status: None: every promise, newest made first; ``kept`` / ``broken``: the latest kept /
                broken first; ``pending``: the soonest due first (what needs attention next).
            limit: At most this many.

        Raises:
            ValueError: an unknown status or a limit below 1.
        """
        if status is not None and status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES} or None, got {status!r}")
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if status == "pending":
            ids = await async_reply(self.redis.zrange(self.pending_key, 0, limit - 1))
        else:
            key = {None: self.made_key, "kept": self.kept_key, "broken": self.broken_key}[status]
            ids = await async_reply(self.redis.zrevrange(key, 0, limit - 1))
        return await self._many(ids)

    # recording ------------------------------------------------------------------------------
    @_guard
    async def record(
        self,
        *,
        sender_id: str,
        ticket_id: str | None,
        made_by: str,
        text: str,
        due: float,
        made_at: float,
        kind: str,
        conditional: bool = False,
        source_key: str,
    ) -> tuple[Promise, bool]:
        """Records a promise once per ``source_key``.

        Args:
            sender_id: The conversation.
            ticket_id: Its ticket, or None.
            made_by: ``bot``, ``timer`` or ``agent:<name>``.
            text: The promise as said.
            due: Its deadline (epoch seconds). A due already past is accepted: the next
                :meth:`break_overdue` breaks it.
            made_at: When it was said (epoch seconds).
            kind: ``contact`` or ``action``.
            conditional: It depends on something first.
            source_key: Identifies where it was said (e.g. sender, event index, mention index);
                recording the same key again returns the first promise.

        Returns:
            The promise as stored, and True when this call recorded it (False for a known source key).

        Raises:
            ValueError: an empty sender id, text or source key, an unknown kind or author, a due or
                made_at that is not a number.
        """
        if not sender_id or not text or not source_key:
            raise ValueError("sender_id, text and source_key must not be empty")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if not _MADE_BY.match(made_by or ""):
            raise ValueError(f"made_by must be 'bot', 'timer' or 'agent:<name>', got {made_by!r}")
        for name, value in (("due", due), ("made_at", made_at)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise ValueError(f"{name} must be epoch seconds, got {value!r}")
        promise = Promise(
            id=new_id(),
            sender_id=sender_id,
            ticket_id=ticket_id or None,
            made_by=made_by,
            text=text,
            kind=kind,
            conditional=bool(conditional),
            made_at=float(made_at),
            due=float(due),
            source_key=source_key,
        )
        keys = [
            self.sources_key,
            self.promises_key,
            self.pending_key,
            self.unalerted_key,
            self.made_key,
            self.sender_key(sender_id),
            self.day_key(self.day_of(promise.due)),
            *([self.ticket_key(ticket_id)] if ticket_id else []),
        ]
        reply = await self._record(
            keys=keys,
            args=[
                source_key,
                promise.id,
                _dumps(promise),
                repr(promise.due),
                repr(promise.made_at),
                kind,
                "1" if ticket_id else "0",
            ],
        )
        created, body = int(reply[0]) == 1, _text(reply[2])
        if not body:
            raise PromiseNotFound(f"source key {source_key!r} points at a promise that is gone")
        return _loads(body), created

    # changing -------------------------------------------------------------------------------
    async def _change(self, raw: str, old: Promise, plan: _Plan) -> bool:
        new, moves = plan
        keys = [self.promises_key, self.day_key(self.day_of(old.due))]
        ops: list[str] = []
        for op, key, score in moves:
            keys.append(key)
            ops += [op, str(len(keys)), "" if score is None else repr(score)]
        written = await self._change_script(
            keys=keys, args=[old.id, raw, _dumps(new), old.bucket, new.bucket, old.kind, *ops]
        )
        return int(written) == 1

    async def _update(
        self, promise_id: str, decide: Callable[[Promise], _Plan | None]
    ) -> tuple[Promise | None, Promise]:
        """Reads, decides and writes with compare-and-set until it holds.

        Returns:
            (the promise as changed, or None when ``decide`` wanted no change; the promise as it stands).
        """
        for _ in range(self.max_attempts):
            found = await self._read(promise_id)
            if found is None:
                raise PromiseNotFound(f"no promise {promise_id}")
            raw, promise = found
            plan = decide(promise)
            if plan is None:
                return None, promise
            if await self._change(raw, promise, plan):
                return plan[0], plan[0]
        raise PromiseConflict(f"promise {promise_id} kept changing")

    def _keeping(self, promise: Promise, at: float, by: str, note: str) -> _Plan:
        new = dataclasses.replace(promise, status="kept", kept_at=float(at), kept_by=by, note=note or promise.note)
        moves: list[tuple[str, str, float | None]] = [
            ("zrem", self.pending_key, None),
            ("zrem", self.unalerted_key, None),
        ]
        if promise.status == "broken":
            moves = [("zrem", self.broken_key, None)]
        return new, [*moves, ("zadd", self.kept_key, float(at))]

    @_guard
    async def keep(self, promise_id: str, by: str, note: str = "", at: float | None = None) -> Promise:
        """Marks a promise kept.

        A pending promise kept after its due, or a broken one, is kept late (``kept_at > due``;
        ``broken_at`` stays). A promise already kept is returned unchanged (the first keeper stays).

        Args:
            promise_id: The promise.
            by: Who kept it (``agent:<name>``, ``timer`` ...).
            note: Free text, e.g. what was done.
            at: When (epoch seconds); now by default.

        Raises:
            PromiseNotFound: no promise with that id.
        """
        when = self.clock() if at is None else float(at)

        def decide(promise: Promise) -> _Plan | None:
            return None if promise.status == "kept" else self._keeping(promise, when, by, note)

        _, promise = await self._update(promise_id, decide)
        return promise

    async def _update_many(self, ids: Sequence[Any], decide: Callable[[Promise], _Plan | None]) -> list[Promise]:
        """:meth:`_update` on many promises, read together (one ``HMGET`` per 1,000): the usual case is one
        round trip per promise changed; a promise that changed meanwhile is read and decided again.

        Returns:
            The promises changed, in the order of ``ids``; unknown ids are skipped.
        """
        changed: list[Promise] = []
        names = [_text(i) for i in ids]
        for first in range(0, len(names), 1000):
            chunk = names[first : first + 1000]
            raws = await async_reply(self.redis.hmget(self.promises_key, chunk))
            for promise_id, raw in zip(chunk, raws):
                if raw is None:
                    continue
                promise = _loads(raw)
                plan = decide(promise)
                if plan is None:
                    continue
                if await self._change(_text(raw), promise, plan):
                    changed.append(plan[0])
                    continue
                try:
                    again, _ = await self._update(promise_id, decide)
                except PromiseNotFound:
                    continue
                if again is not None:
                    changed.append(again)
        return changed

    async def _keep_where(
        self, ids: Sequence[Any], at: float, by: str, note: str, wanted: Callable[[Promise], bool]
    ) -> list[Promise]:
        return await self._update_many(ids, lambda p: self._keeping(p, at, by, note) if wanted(p) else None)

    @_guard
    async def keep_contact_promises(
        self, sender_id: str, at: float, by: str, *, note: str = "", include_broken: bool = True
    ) -> list[Promise]:
        """Marks kept the ``contact`` promises of a conversation made before ``at``: the customer
        heard from an agent or got a progress message at ``at``.

        Called for every agent message and progress update (:func:`bot.followup.promises.scan_conversation`).
        A promise made at ``at`` or later is left alone (the message that made it does not keep it).

        Args:
            sender_id: The conversation.
            at: When the customer was answered (epoch seconds).
            by: Who answered (``agent:<name>`` or ``timer``).
            note: Stored on each promise kept.
            include_broken: Also keep, late, the contact promises the timer already broke (the
                answer came after the deadline); False keeps only pending ones.

        Returns:
            The promises this call kept (pending ones kept after their due are kept late).
        """
        statuses = ("pending", "broken") if include_broken else ("pending",)
        ids = await async_reply(self.redis.zrangebyscore(self.sender_key(sender_id), "-inf", f"({at!r}"))
        return await self._keep_where(
            ids, at, by, note, lambda p: p.kind == "contact" and p.status in statuses and p.made_at < at
        )

    @_guard
    async def keep_for_ticket(
        self, ticket_id: str, at: float, by: str, *, note: str = "", include_broken: bool = True
    ) -> list[Promise]:
        """Marks kept every promise of a ticket made before ``at``: the ticket was resolved at ``at``.

        Args:
            ticket_id: The ticket.
            at: When it was resolved (epoch seconds).
            by: Who resolved it.
            note: Stored on each promise kept.
            include_broken: Also keep, late, promises the timer already broke.

        Returns:
            The promises this call kept.
        """
        statuses = ("pending", "broken") if include_broken else ("pending",)
        ids = await async_reply(self.redis.zrangebyscore(self.ticket_key(ticket_id), "-inf", f"({at!r}"))
        return await self._keep_where(ids, at, by, note, lambda p: p.status in statuses and p.made_at < at)

    # the timer ------------------------------------------------------------------------------
    @_guard
    async def due_soon(self, now: float, window_seconds: float) -> list[Promise]:
        """Pending promises due between ``now`` and ``now + window_seconds`` (both included) whose
        agent was not alerted yet, soonest first. Already overdue ones are :meth:`break_overdue`'s."""
        if window_seconds < 0:
            raise ValueError("window_seconds must not be negative")
        ids = await async_reply(self.redis.zrangebyscore(self.unalerted_key, repr(now), repr(now + window_seconds)))
        found = await self._many(ids)
        return [p for p in found if p.status == "pending" and p.alerted_at is None]

    @_guard
    async def mark_alerted(self, promise_id: str, at: float) -> bool:
        """Notes that an agent was alerted about a promise; atomic, so that of two workers alerting the
        same promise only one goes on.

        Returns:
            True for the call that marked it; False when it was alerted already or is no longer pending.

        Raises:
            PromiseNotFound: no promise with that id.
        """

        def decide(promise: Promise) -> _Plan | None:
            if promise.status != "pending" or promise.alerted_at is not None:
                return None
            return dataclasses.replace(promise, alerted_at=float(at)), [("zrem", self.unalerted_key, None)]

        changed, _ = await self._update(promise_id, decide)
        return changed is not None

    @_guard
    async def break_overdue(self, now: float, limit: int | None = None) -> list[Promise]:
        """Marks broken every pending promise whose due is before ``now``.

        Each promise is broken by one compare-and-set, so concurrent workers break it once and only
        the one that did gets it back; a second call returns nothing new. About half a millisecond per
        promise broken (a round trip each): nothing in a normal round, but after a long outage pass
        ``limit`` to keep a round short (the rest is broken by the next rounds, soonest due first).

        Args:
            now: The time to judge dues by (epoch seconds).
            limit: At most this many promises looked at; all by default.

        Returns:
            The promises this call broke (``broken_at = now``), soonest due first.
        """
        if limit is not None and limit < 1:
            raise ValueError("limit must be at least 1")
        ids = await async_reply(
            self.redis.zrangebyscore(self.pending_key, "-inf", f"({now!r}", *((0, limit) if limit is not None else ()))
        )

        def decide(promise: Promise) -> _Plan | None:
            if promise.status != "pending" or promise.due >= now:
                return None
            new = dataclasses.replace(promise, status="broken", broken_at=float(now))
            return new, [
                ("zrem", self.pending_key, None),
                ("zrem", self.unalerted_key, None),
                ("zadd", self.broken_key, float(now)),
            ]

        return await self._update_many(ids, decide)

    # the dashboard --------------------------------------------------------------------------
    @_guard
    async def stats(self, since: float, until: float) -> dict[str, Any]:
        """Promises kept and broken, by the day they were *due* (whole days in the ledger's time zone,
        from the day of ``since`` to the day of ``until``, both included).

        Returns:
            ``{"kept", "broken", "pending", "kept_late"}`` totals (kept is on time; the four partition
            the promises), ``"by_day": {"YYYY-MM-DD": {the four counts}}`` with every day of the period,
            and ``"by_kind": {"contact": {...}, "action": {...}}``.

        Raises:
            ValueError: ``until`` before ``since``, or a period longer than :data:`MAX_STATS_DAYS`.
        """
        first, last = self.day_of(since), self.day_of(until)
        if last < first:
            raise ValueError("until is before since")
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        if len(days) > MAX_STATS_DAYS:
            raise ValueError(f"at most {MAX_STATS_DAYS} days at a time")
        async with self.redis.pipeline(transaction=False) as pipe:
            for day in days:
                pipe.hgetall(self.day_key(day))
            counters = await pipe.execute()
        totals = dict.fromkeys(BUCKETS, 0)
        by_kind = {kind: dict.fromkeys(BUCKETS, 0) for kind in KINDS}
        by_day: dict[str, dict[str, int]] = {}
        for day, raw in zip(days, counters):
            values = {_text(k): int(v) for k, v in raw.items()}
            by_day[day.isoformat()] = {bucket: values.get(bucket, 0) for bucket in BUCKETS}
            for bucket in BUCKETS:
                totals[bucket] += values.get(bucket, 0)
                for kind in KINDS:
                    by_kind[kind][bucket] += values.get(f"{kind}:{bucket}", 0)
        return {**totals, "by_day": by_day, "by_kind": by_kind}

    # the scan cursor ------------------------------------------------------------------------
    @_guard
    async def scan_cursor(self, sender_id: str) -> int:
        """How many events of the conversation were already scanned for promises (0 at first)."""
        value = await async_reply(self.redis.hget(self.cursor_key, sender_id))
        return int(value) if value is not None else 0

    @_guard
    async def set_scan_cursor(self, sender_id: str, n: int) -> int:
        """Notes that the first ``n`` events of the conversation were scanned. The cursor only moves
        forward (a slower worker finishing an older scan cannot move it back).

        Returns:
            The cursor as stored afterwards.

        Raises:
            ValueError: a negative ``n``.
        """
        if n < 0:
            raise ValueError("n must not be negative")
        return int(await self._cursor(keys=[self.cursor_key], args=[sender_id, str(int(n))]))
