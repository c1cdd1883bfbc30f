"""The quality reports (质检, ``bot/quality``) of every checked conversation, on Redis.

One report per conversation: checking a conversation again replaces its report. Besides the full
report the store keeps a compact summary per conversation (when it was checked, which rules passed,
which failed), so the daily rates read only summaries, and indexes by check time for the screens.

Keys, for prefix ``P`` (default ``quality``):

==============================  ======  =========================================================
``P:report:{sender_id}``        string  the full report as JSON (``QualityReport.to_dict()``)
``P:summary``                   hash    sender_id -> ``<checked_at>|<rule>=1;<rule>=0;...`` (1 passed,
                                        0 failed; rules that did not apply are left out)
``P:checked``                   zset    every checked conversation, scored by ``checked_at``
``P:activity``                  hash    sender_id -> the conversation's last activity the report was
                                        made at (epoch seconds), for a timer that skips unchanged ones
``P:failed``                    zset    conversations whose report has a failed rule, by ``checked_at``
``P:failed:{rule}``             zset    conversations that failed ``rule``, by ``checked_at``
==============================  ======  =========================================================

A save is one ``MULTI``/``EXEC`` transaction: the report, its summary and every index change
together, so readers never see a report without its indexes or a conversation listed under a rule
it no longer fails. Times are epoch seconds; windows are half-open, ``since <= checked_at < until``.
Any failure to reach Redis raises :class:`QualityStoreUnavailable`.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from bot.quality import RULES, QualityReport
from bot.store.reply import async_reply

DEFAULT_PREFIX = "quality"
RULE_IDS = tuple(rule for rule, _ in RULES)
LUA_DIR = Path(__file__).resolve().parent / "lua"

P = ParamSpec("P")
T = TypeVar("T")


class QualityStoreUnavailable(RuntimeError):
    """Redis could not be reached (connection refused, dropped or timed out)."""


def _guarded(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Turns Redis connection and timeout errors into :class:`QualityStoreUnavailable`."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as error:
            raise QualityStoreUnavailable(f"quality store unavailable: {error}") from error

    return wrapper


@functools.cache
def _lua(name: str) -> str:
    """The source of ``bot/store/lua/<name>.lua`` (read once per process)."""
    return (LUA_DIR / f"{name}.lua").read_text(encoding="utf-8")


def _text(value: str | bytes | None) -> str | None:
    """A reply as ``str``, whether or not the client decodes responses."""
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def summary_of(report: QualityReport) -> str:
    """The compact summary the rates are computed from: ``"<checked_at>|<rule>=1;<rule>=0;..."``.

    1 passed, 0 failed; rules that did not apply are left out. Plain text without JSON, so that
    10,000 of them are read with string splits, and equal verdicts are counted once (see :meth:`rates`).
    """
    verdicts = ";".join(f"{r.rule}={int(r.passed)}" for r in report.results if r.passed is not None)
    return f"{report.checked_at!r}|{verdicts}"


def _stats(checked: int, failed: int) -> dict[str, Any]:
    return {"checked": checked, "failed": failed, "rate": failed / checked if checked else None}


class QualityStore:
    """Quality reports on Redis (``redis.asyncio``; ``decode_responses`` either way).

    Args:
        redis: The client.
        prefix: Key prefix (tests use a fresh one each).
    """

    def __init__(self, redis: Redis, prefix: str = DEFAULT_PREFIX) -> None:
        self.redis = redis
        self.prefix = prefix
        self._summaries_script = redis.register_script(_lua("quality_summaries"))

    # keys ------------------------------------------------------------------------------------
    def report_key(self, sender_id: str) -> str:
        """``P:report:{sender_id}``."""
        return f"{self.prefix}:report:{sender_id}"

    @property
    def summary_key(self) -> str:
        """``P:summary``."""
        return f"{self.prefix}:summary"

    @property
    def checked_key(self) -> str:
        """``P:checked``."""
        return f"{self.prefix}:checked"

    @property
    def activity_key(self) -> str:
        """``P:activity``."""
        return f"{self.prefix}:activity"

    def failed_key(self, rule: str | None = None) -> str:
        """``P:failed`` (any rule) or ``P:failed:{rule}``."""
        return f"{self.prefix}:failed" if rule is None else f"{self.prefix}:failed:{rule}"

    # writing ---------------------------------------------------------------------------------
    async def save(self, report: QualityReport, last_activity: float) -> None:
        """Stores ``report``, replacing an earlier report of the same conversation.

        Args:
            report: The report (its ``sender_id`` names the conversation).
            last_activity: The conversation's last activity the report was made at (epoch seconds,
                e.g. the timestamp of its last event); :meth:`checked_activity` returns it.

        Raises:
            ValueError: the report has no sender id.
            QualityStoreUnavailable: Redis could not be reached; nothing was stored.
        """
        await self.save_many([(report, last_activity)])

    @_guarded
    async def save_many(self, reports: Iterable[tuple[QualityReport, float]]) -> int:
        """Stores several ``(report, last_activity)`` pairs in one transaction (a timer's batch).

        Each replaces an earlier report of its conversation, as :meth:`save`; a conversation given
        twice keeps the later one. Returns how many were stored.

        Raises:
            ValueError: a report has no sender id (nothing is stored).
            QualityStoreUnavailable: Redis could not be reached; nothing was stored.
        """
        items = list(reports)
        if any(not report.sender_id for report, _ in items):
            raise ValueError("a report without a sender_id cannot be stored")
        if not items:
            return 0
        pipe = self.redis.pipeline(transaction=True)
        for report, last_activity in items:
            sender = report.sender_id
            failed = report.failed
            pipe.set(self.report_key(sender), json.dumps(report.to_dict(), ensure_ascii=False))
            pipe.hset(self.summary_key, sender, summary_of(report))
            pipe.zadd(self.checked_key, {sender: report.checked_at})
            pipe.hset(self.activity_key, sender, repr(float(last_activity)))
            # The earlier report may have failed other rules: the sender leaves every rule's index first.
            for rule in dict.fromkeys([*RULE_IDS, *(r.rule for r in report.results)]):
                pipe.zrem(self.failed_key(rule), sender)
            pipe.zrem(self.failed_key(), sender)
            if failed:
                pipe.zadd(self.failed_key(), {sender: report.checked_at})
                for rule in failed:
                    pipe.zadd(self.failed_key(rule), {sender: report.checked_at})
        await pipe.execute()
        return len(items)

    # reading ---------------------------------------------------------------------------------
    @_guarded
    async def get(self, sender_id: str) -> QualityReport | None:
        """The conversation's report, or None if it was never checked.

        Raises:
            QualityStoreUnavailable: Redis could not be reached.
        """
        raw = _text(await async_reply(self.redis.get(self.report_key(sender_id))))
        return None if raw is None else QualityReport.from_dict(json.loads(raw))

    @_guarded
    async def checked_activity(self, sender_id: str) -> float | None:
        """The ``last_activity`` the stored report was made at (None: never checked).

        A timer compares it with the conversation's latest event and skips conversations that
        did not change since their check.

        Raises:
            QualityStoreUnavailable: Redis could not be reached.
        """
        raw = _text(await async_reply(self.redis.hget(self.activity_key, sender_id)))
        return None if raw is None else float(raw)

    @_guarded
    async def failures(
        self, since: float, until: float, rule: str | None = None, limit: int = 100
    ) -> list[QualityReport]:
        """Reports checked in ``[since, until)`` that failed (``rule``, or any rule), newest first.

        Args:
            since: Start of the window (epoch seconds, inclusive).
            until: End of the window (epoch seconds, exclusive).
            rule: Only reports that failed this rule (an id of ``bot.quality.RULES``).
            limit: At most this many reports (the newest).

        Raises:
            ValueError: ``rule`` is not a rule id.
            QualityStoreUnavailable: Redis could not be reached.
        """
        if rule is not None and rule not in RULE_IDS:
            raise ValueError(f"unknown rule {rule!r}; one of {RULE_IDS}")
        if limit <= 0 or until <= since:
            return []
        members = await async_reply(
            self.redis.zrevrangebyscore(self.failed_key(rule), f"({until!r}", repr(float(since)), start=0, num=limit)
        )
        senders = [s for s in (_text(m) for m in members) if s is not None]
        if not senders:
            return []
        raws = await async_reply(self.redis.mget([self.report_key(s) for s in senders]))
        return [QualityReport.from_dict(json.loads(raw)) for raw in (_text(r) for r in raws) if raw is not None]

    @_guarded
    async def rates(self, since: float, until: float, tz: str = "Asia/Shanghai") -> dict[str, Any]:
        """How often each rule failed, per day and overall, for conversations checked in ``[since, until)``.

        Read from the compact summaries only: one Lua script (``bot/store/lua/quality_summaries.lua``)
        gathers them (``ZRANGEBYSCORE``, ``HMGET`` in chunks) into one reply of lines; equal verdicts
        of one day are then tallied once. 10,000 conversations take about 0.1 s (2 CPUs).

        Args:
            since: Start of the window (epoch seconds, inclusive).
            until: End of the window (epoch seconds, exclusive).
            tz: The IANA time zone the days are counted in.

        Returns:
            ``{"since", "until", "tz", "days": {"YYYY-MM-DD": {"conversations": n, "rules": {rule: stats}}},
            "overall": {"conversations": n, "rules": {rule: stats}}}`` where ``stats`` is
            ``{"checked": conversations the rule applied to, "failed": how many of them failed it,
            "rate": failed / checked (the failure rate, None when checked is 0)}``. Every rule of
            ``RULES`` is listed (a day lists only days with checked conversations), in rule order.

        Raises:
            zoneinfo.ZoneInfoNotFoundError: ``tz`` is not a time zone.
            QualityStoreUnavailable: Redis could not be reached.
        """
        zone = ZoneInfo(tz)
        days: dict[int, str] = {}  # quarter hour -> its day (whole quarter hours never straddle two days)
        groups: Counter[tuple[str, str]] = Counter()  # (day, verdicts) -> conversations
        if until > since:
            keys, args = [self.checked_key, self.summary_key], [repr(float(since)), f"({until!r}"]
            reply = _text(await async_reply(self._summaries_script(keys=keys, args=args))) or ""
            for line in reply.split("\n") if reply else ():
                checked_at, _, verdicts = line.partition("|")
                quarter = int(float(checked_at) // 900)
                day = days.get(quarter)
                if day is None:
                    day = days[quarter] = datetime.fromtimestamp(quarter * 900, zone).date().isoformat()
                groups[(day, verdicts)] += 1
        counts: dict[str, dict[str, list[int]]] = {}  # day -> rule -> [checked, failed]
        per_day: dict[str, int] = {}
        for (day, verdicts), n in groups.items():
            per_day[day] = per_day.get(day, 0) + n
            rules = counts.setdefault(day, {})
            for verdict in verdicts.split(";") if verdicts else ():
                rule, _, passed = verdict.partition("=")
                tally = rules.setdefault(rule, [0, 0])
                tally[0] += n
                tally[1] += n if passed == "0" else 0
        return {
            "since": since,
            "until": until,
            "tz": tz,
            "days": {
                day: {"conversations": per_day[day], "rules": self._table(counts[day].items())}
                for day in sorted(counts)
            },
            "overall": {"conversations": sum(per_day.values()), "rules": self._overall(counts)},
        }

    @staticmethod
    def _table(tallies: Iterable[tuple[str, list[int]]]) -> dict[str, dict[str, Any]]:
        found = dict(tallies)
        order = list(RULE_IDS) + sorted(set(found) - set(RULE_IDS))
        return {rule: _stats(*found.get(rule, [0, 0])) for rule in order}

    @classmethod
    def _overall(cls, counts: dict[str, dict[str, list[int]]]) -> dict[str, dict[str, Any]]:
        total: dict[str, list[int]] = {}
        for rules in counts.values():
            for rule, (checked, failed) in rules.items():
                tally = total.setdefault(rule, [0, 0])
                tally[0] += checked
                tally[1] += failed
        return cls._table(total.items())
