"""The promise ledger (bot/store/promises.py) on the real Redis server of the test run (no fakes)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from bot.store.promises import (
    BUCKETS,
    Promise,
    PromiseLedger,
    PromiseLedgerUnavailable,
    PromiseNotFound,
)
from tools.devstack import RedisSettings, free_port

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 30, 10, 0, tzinfo=SH).timestamp()  # a Monday morning in Shanghai
HOUR = 3600.0
DAY = 24 * HOUR

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest_asyncio.fixture(loop_scope="session")
async def client(redis_server: RedisSettings) -> AsyncIterator[Redis]:
    red = Redis(host=redis_server.host, port=redis_server.port, db=redis_server.db, decode_responses=True)
    yield red
    await red.close()
    await red.connection_pool.disconnect()


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def ledger(client: Redis, clock: Clock) -> PromiseLedger:
    return PromiseLedger(client, prefix=f"pr{uuid.uuid4().hex[:10]}", clock=clock)


_counter = iter(range(10**9))


async def make(ledger: PromiseLedger, **values: Any) -> Promise:
    fields: dict[str, Any] = {
        "sender_id": "s1",
        "ticket_id": "TS202611300001",
        "made_by": "bot",
        "text": "今天12:00前会联系您",
        "due": T0 + 2 * HOUR,
        "made_at": T0,
        "kind": "contact",
        "source_key": f"k{next(_counter)}",
    }
    promise, created = await ledger.record(**{**fields, **values})
    assert created
    return promise


def counts(stats: dict[str, Any]) -> dict[str, int]:
    return {bucket: stats[bucket] for bucket in BUCKETS}


# --- recording --------------------------------------------------------------------------------
async def test_record_is_idempotent_by_source_key(ledger: PromiseLedger) -> None:
    first, created = await ledger.record(
        sender_id="s1",
        ticket_id="TS1",
        made_by="agent:wang",
        text="明天上午十点前给您回电话",
        due=T0 + DAY,
        made_at=T0,
        kind="contact",
        source_key="s1:7:0",
    )
    again, created_again = await ledger.record(
        sender_id="s1",
        ticket_id="TS1",
        made_by="agent:wang",
        text="something else",
        due=T0 + 2 * DAY,
        made_at=T0 + 5,
        kind="action",
        source_key="s1:7:0",
    )
    assert created and not created_again and again == first
    assert first.status == "pending" and first.made_by == "agent:wang" and first.source_key == "s1:7:0"
    assert await ledger.get(first.id) == first and await ledger.for_sender("s1") == [first]
    assert Promise.from_dict(first.to_dict()) == first
    assert (await ledger.stats(T0, T0 + DAY))["pending"] == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "maybe"},
        {"made_by": "customer"},
        {"made_by": "agent:"},
        {"text": ""},
        {"source_key": ""},
        {"sender_id": ""},
        {"due": "tomorrow"},
        {"due": float("nan")},
    ],
)
async def test_record_refuses_what_is_not_a_promise(ledger: PromiseLedger, bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        await make(ledger, **bad)


async def test_indexes_by_ticket_and_sender_oldest_first(ledger: PromiseLedger) -> None:
    b = await make(ledger, made_at=T0 + 10, ticket_id="T1")
    a = await make(ledger, made_at=T0, ticket_id="T1")
    other = await make(ledger, sender_id="s2", ticket_id=None)
    assert await ledger.for_ticket("T1") == [a, b]
    assert await ledger.for_sender("s1") == [a, b] and await ledger.for_sender("s2") == [other]
    assert other.ticket_id is None and await ledger.for_ticket("") == []


# --- keeping ----------------------------------------------------------------------------------
async def test_keep_on_time_late_and_twice(ledger: PromiseLedger, clock: Clock) -> None:
    on_time = await make(ledger, due=T0 + HOUR)
    late = await make(ledger, due=T0 + HOUR, kind="action")
    kept = await ledger.keep(on_time.id, by="agent:wang", note="已回电", at=T0 + 30 * 60)
    assert (kept.status, kept.kept_by, kept.note, kept.kept_late) == ("kept", "agent:wang", "已回电", False)
    clock.now = T0 + 2 * HOUR
    kept_late = await ledger.keep(late.id, by="agent:li")  # at defaults to the clock
    assert kept_late.kept_at == T0 + 2 * HOUR and kept_late.kept_late and kept_late.bucket == "kept_late"
    assert await ledger.keep(on_time.id, by="agent:other", at=T0 + 5 * HOUR) == kept  # the first keeper stays
    stats = await ledger.stats(T0, T0)
    assert counts(stats) == {"kept": 1, "kept_late": 1, "broken": 0, "pending": 0}
    assert stats["by_kind"]["contact"]["kept"] == 1 and stats["by_kind"]["action"]["kept_late"] == 1
    with pytest.raises(PromiseNotFound):
        await ledger.keep("nope", by="agent:wang")


async def test_a_broken_promise_kept_later_is_kept_late(ledger: PromiseLedger) -> None:
    promise = await make(ledger, due=T0 + HOUR)
    (broken,) = await ledger.break_overdue(T0 + 2 * HOUR)
    kept = await ledger.keep(promise.id, by="agent:wang", at=T0 + 3 * HOUR)
    assert (kept.status, kept.broken_at, kept.kept_late) == ("kept", broken.broken_at, True)
    assert counts(await ledger.stats(T0, T0)) == {"kept": 0, "kept_late": 1, "broken": 0, "pending": 0}
    assert await ledger.recent("broken") == [] and await ledger.recent("kept") == [kept]


async def test_an_answer_keeps_the_contact_promises_made_before_it(ledger: PromiseLedger) -> None:
    call = await make(ledger, made_at=T0, due=T0 + 2 * HOUR)
    action = await make(ledger, made_at=T0, kind="action", text="24小时内给您补发", due=T0 + DAY)
    overdue = await make(ledger, made_at=T0 - 3 * HOUR, due=T0 - HOUR)
    await ledger.break_overdue(T0)
    same_time = await make(ledger, made_at=T0 + HOUR, due=T0 + 3 * HOUR)  # said in the answering message
    elsewhere = await make(ledger, sender_id="s2", made_at=T0)
    kept = await ledger.keep_contact_promises("s1", T0 + HOUR, "agent:wang")
    assert sorted(p.id for p in kept) == sorted([call.id, overdue.id])
    states = {p.id: (p.status, p.kept_late) for p in await ledger.for_sender("s1")}
    assert states == {
        call.id: ("kept", False),
        overdue.id: ("kept", True),
        action.id: ("pending", False),
        same_time.id: ("pending", False),
    }
    assert (await ledger.get(elsewhere.id)) == elsewhere
    assert await ledger.keep_contact_promises("s1", T0 + HOUR, "agent:wang") == []  # nothing twice


async def test_only_pending_contact_promises_when_asked(ledger: PromiseLedger) -> None:
    overdue = await make(ledger, made_at=T0 - 3 * HOUR, due=T0 - HOUR)
    await ledger.break_overdue(T0)
    assert await ledger.keep_contact_promises("s1", T0, "timer", include_broken=False) == []
    assert (await ledger.get(overdue.id)).status == "broken"  # type: ignore[union-attr]


async def test_a_resolved_ticket_keeps_its_promises(ledger: PromiseLedger) -> None:
    a = await make(ledger, ticket_id="T9", kind="action", due=T0 + DAY)
    b = await make(ledger, ticket_id="T9", kind="contact", due=T0 + HOUR)
    other = await make(ledger, ticket_id="T8")
    kept = await ledger.keep_for_ticket("T9", T0 + 2 * HOUR, "agent:wang", note="工单已解决")
    assert {p.id: p.kept_late for p in kept} == {a.id: False, b.id: True}
    assert all(p.note == "工单已解决" for p in kept) and (await ledger.get(other.id)) == other


# --- the timer --------------------------------------------------------------------------------
async def test_due_soon_and_alerting_once(ledger: PromiseLedger) -> None:
    soon = await make(ledger, due=T0 + 20 * 60)
    edge = await make(ledger, due=T0 + 30 * 60)
    later = await make(ledger, due=T0 + 2 * HOUR)
    kept = await make(ledger, due=T0 + 10 * 60)
    await ledger.keep(kept.id, by="agent:wang", at=T0)
    await make(ledger, due=T0 - 60)  # overdue: break_overdue's, not due_soon's
    assert [p.id for p in await ledger.due_soon(T0, 30 * 60)] == [soon.id, edge.id]
    answers = await asyncio.gather(*(ledger.mark_alerted(soon.id, T0 + i) for i in range(8)))
    assert sorted(answers) == [False] * 7 + [True]
    assert [p.id for p in await ledger.due_soon(T0, 30 * 60)] == [edge.id]
    assert (await ledger.get(soon.id)).alerted_at is not None  # type: ignore[union-attr]
    assert not await ledger.mark_alerted(kept.id, T0)  # no longer pending
    assert later.id not in [p.id for p in await ledger.due_soon(T0, 60 * 60)]
    with pytest.raises(PromiseNotFound):
        await ledger.mark_alerted("nope", T0)
    with pytest.raises(ValueError):
        await ledger.due_soon(T0, -1)


async def test_break_overdue_once_even_with_two_workers(ledger: PromiseLedger, client: Redis) -> None:
    overdue = [await make(ledger, due=T0 - i * 60) for i in range(1, 21)]
    exactly_now = await make(ledger, due=T0)
    future = await make(ledger, due=T0 + HOUR)
    other_worker = PromiseLedger(client, prefix=ledger.prefix)
    first, second = await asyncio.gather(ledger.break_overdue(T0), other_worker.break_overdue(T0))
    broken_ids = [p.id for p in first + second]
    assert sorted(broken_ids) == sorted(p.id for p in overdue)  # each once, between them
    assert all(p.status == "broken" and p.broken_at == T0 for p in first + second)
    assert await ledger.break_overdue(T0) == []
    assert (await ledger.get(exactly_now.id)).status == "pending"  # type: ignore[union-attr]
    assert (await ledger.get(future.id)).status == "pending"  # type: ignore[union-attr]
    stats = await ledger.stats(T0 - DAY, T0)
    assert (stats["broken"], stats["pending"]) == (20, 2)  # exactly_now and future: due that day


async def test_break_overdue_a_few_at_a_time(ledger: PromiseLedger) -> None:
    promises = [await make(ledger, due=T0 - i * 60) for i in range(1, 8)]
    first = await ledger.break_overdue(T0, limit=5)
    assert [p.id for p in first] == [p.id for p in reversed(promises)][:5]  # soonest due first
    assert len(await ledger.break_overdue(T0, limit=5)) == 2 and await ledger.break_overdue(T0) == []
    with pytest.raises(ValueError):
        await ledger.break_overdue(T0, limit=0)


async def test_keep_and_break_racing_leave_the_counters_right(ledger: PromiseLedger) -> None:
    promises = [await make(ledger, due=T0 - 60, kind="action" if i % 2 else "contact") for i in range(30)]
    await asyncio.gather(
        ledger.break_overdue(T0),
        *(ledger.keep(p.id, by="agent:wang", at=T0 + 1) for p in promises[::3]),
        ledger.keep_contact_promises("s1", T0 + 2, "timer"),
    )
    stored = await ledger.for_sender("s1")
    stats = await ledger.stats(T0 - DAY, T0 + DAY)
    for bucket in BUCKETS:
        assert stats[bucket] == sum(p.bucket == bucket for p in stored), bucket
        for kind in ("contact", "action"):
            assert stats["by_kind"][kind][bucket] == sum(p.bucket == bucket and p.kind == kind for p in stored)


# --- the dashboard ----------------------------------------------------------------------------
async def test_stats_by_due_day_in_shanghai(ledger: PromiseLedger) -> None:
    day1 = datetime(2026, 12, 1, 0, 30, tzinfo=SH).timestamp()  # 16:30 UTC the day before
    day3 = datetime(2026, 12, 3, 23, 30, tzinfo=SH).timestamp()
    a = await make(ledger, due=day1)
    await make(ledger, due=day1, kind="action")
    c = await make(ledger, due=day3)
    await ledger.keep(a.id, by="agent:wang", at=day1 - 60)
    await ledger.break_overdue(day3 + HOUR)
    await ledger.keep(c.id, by="agent:wang", at=day3 + 2 * HOUR)
    stats = await ledger.stats(day1, day3)
    assert counts(stats) == {"kept": 1, "kept_late": 1, "broken": 1, "pending": 0}
    assert stats["by_day"] == {
        "2026-12-01": {"kept": 1, "kept_late": 0, "broken": 1, "pending": 0},
        "2026-12-02": {"kept": 0, "kept_late": 0, "broken": 0, "pending": 0},
        "2026-12-03": {"kept": 0, "kept_late": 1, "broken": 0, "pending": 0},
    }
    assert stats["by_kind"]["action"] == {"kept": 0, "kept_late": 0, "broken": 1, "pending": 0}
    assert (await ledger.stats(day3, day3))["kept_late"] == 1
    with pytest.raises(ValueError):
        await ledger.stats(day3, day1)


async def test_recent_by_status(ledger: PromiseLedger) -> None:
    old = await make(ledger, made_at=T0 - 10, due=T0 + 3 * HOUR)
    new = await make(ledger, made_at=T0, due=T0 + HOUR)
    gone = await make(ledger, made_at=T0 - 20, due=T0 - 1)
    await ledger.break_overdue(T0)
    assert [p.id for p in await ledger.recent()] == [new.id, old.id, gone.id]
    assert [p.id for p in await ledger.recent(limit=1)] == [new.id]
    assert [p.id for p in await ledger.recent("pending")] == [new.id, old.id]  # soonest due first
    assert [p.id for p in await ledger.recent("broken")] == [gone.id]
    with pytest.raises(ValueError):
        await ledger.recent("lost")


async def test_the_scan_cursor_only_moves_forward(ledger: PromiseLedger) -> None:
    assert await ledger.scan_cursor("s1") == 0
    assert await ledger.set_scan_cursor("s1", 12) == 12
    assert await ledger.set_scan_cursor("s1", 5) == 12
    assert await ledger.scan_cursor("s1") == 12 and await ledger.scan_cursor("s2") == 0
    with pytest.raises(ValueError):
        await ledger.set_scan_cursor("s1", -1)


GENERATE = """
-- Test data in the layout of promise_record.lua, made inside Redis with variadic commands (recording
-- 100,000 promises one script call at a time takes about half a minute on the shared test machine).
-- KEYS: sources, promises, pending, unalerted, made. ARGV: key prefix, first n, count, start, step,
-- then pairs: epoch day number (Asia/Shanghai), YYYYMMDD.
local days = {}
for i = 6, #ARGV, 2 do days[tonumber(ARGV[i])] = ARGV[i + 1] end
local start, step, prefix = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[1]
local function g(x) return string.format('%.17g', x) end
local sources, bodies, pending, made, indexes, counters = {}, {}, {}, {}, {}, {}
local function add(key, score, id)
  local list = indexes[key]
  if not list then list = {}; indexes[key] = list end
  list[#list + 1] = score; list[#list + 1] = id
end
for n = tonumber(ARGV[2]), tonumber(ARGV[2]) + tonumber(ARGV[3]) - 1 do
  local due = start + n * step
  local madeat = due - 86400
  local id = string.format('id%06d', n)
  local sender, ticket = 'c' .. (n % 5000), 'T' .. (n % 7000)
  local kind = (n % 3 ~= 0) and 'action' or 'contact'
  local body = string.format(
    '{"alerted_at":null,"broken_at":null,"conditional":false,"due":%.17g,"id":"%s","kept_at":null,' ..
    '"kept_by":null,"kind":"%s","made_at":%.17g,"made_by":"bot","note":"","sender_id":"%s",' ..
    '"source_key":"src%d","status":"pending","text":"24小时内给您补发","ticket_id":"%s"}',
    due, id, kind, madeat, sender, n, ticket)
  sources[#sources + 1] = 'src' .. n; sources[#sources + 1] = id
  bodies[#bodies + 1] = id; bodies[#bodies + 1] = body
  pending[#pending + 1] = g(due); pending[#pending + 1] = id
  made[#made + 1] = g(madeat); made[#made + 1] = id
  add(prefix .. ':sender:' .. sender, g(madeat), id)
  add(prefix .. ':ticket:' .. ticket, g(madeat), id)
  local day = prefix .. ':day:' .. days[math.floor((due + 28800) / 86400)]
  counters[day] = counters[day] or {pending = 0, contact = 0, action = 0}
  counters[day].pending = counters[day].pending + 1
  counters[day][kind] = counters[day][kind] + 1
end
local function flush(command, key, list)
  for i = 1, #list, 2000 do
    redis.call(command, key, unpack(list, i, math.min(i + 1999, #list)))
  end
end
flush('HSET', KEYS[1], sources)
flush('HSET', KEYS[2], bodies)
flush('ZADD', KEYS[3], pending)
flush('ZADD', KEYS[4], pending)
flush('ZADD', KEYS[5], made)
for key, list in pairs(indexes) do flush('ZADD', key, list) end
for key, c in pairs(counters) do
  redis.call('HINCRBY', key, 'pending', c.pending)
  if c.contact > 0 then redis.call('HINCRBY', key, 'contact:pending', c.contact) end
  if c.action > 0 then redis.call('HINCRBY', key, 'action:pending', c.action) end
end
return 1
"""


async def generate(ledger: PromiseLedger, count: int, start: float, step: float) -> None:
    """Promises ``promise_number(n, start, step)`` for n < count, written by :data:`GENERATE`."""
    first_day, last_day = int((start + 8 * HOUR) // DAY), int((start + count * step + 8 * HOUR) // DAY)
    days = [(str(d), f"{datetime.fromtimestamp(d * DAY, SH):%Y%m%d}") for d in range(first_day, last_day + 1)]
    keys = [ledger.sources_key, ledger.promises_key, ledger.pending_key, ledger.unalerted_key, ledger.made_key]
    script = ledger.redis.register_script(GENERATE)
    for first in range(0, count, 10_000):
        pairs = [part for pair in days for part in pair]
        await script(
            keys=keys, args=[ledger.prefix, first, min(10_000, count - first), repr(start), repr(step), *pairs]
        )


def promise_number(n: int, start: float, step: float) -> Promise:
    due = start + n * step
    return Promise(
        id=f"id{n:06d}", sender_id=f"c{n % 5000}", ticket_id=f"T{n % 7000}", made_by="bot", text="24小时内给您补发",
        kind="action" if n % 3 else "contact", made_at=due - DAY, due=due, source_key=f"src{n}",
    )  # fmt: skip


RECORD_FIELDS = ("sender_id", "ticket_id", "made_by", "text", "due", "made_at", "kind", "conditional", "source_key")


async def snapshot(ledger: PromiseLedger) -> dict[str, Any]:
    """Every key of a ledger with its content, prefix taken off and promise ids replaced by source keys."""
    source_of = {v: k for k, v in (await ledger.redis.hgetall(ledger.sources_key)).items()}
    found: dict[str, Any] = {}
    async for key in ledger.redis.scan_iter(match=f"{ledger.prefix}:*"):
        name = key.removeprefix(ledger.prefix)
        if await ledger.redis.type(key) == "zset":
            members = await ledger.redis.zrange(key, 0, -1, withscores=True)
            found[name] = sorted((source_of[m], score) for m, score in members)
        elif name == ":promise":
            found[name] = {
                source_of[k]: {**json.loads(v), "id": None} for k, v in (await ledger.redis.hgetall(key)).items()
            }
        elif name == ":source":
            found[name] = sorted(await ledger.redis.hkeys(key))
        else:
            found[name] = await ledger.redis.hgetall(key)
    return found


async def test_generated_data_is_what_record_writes(client: Redis) -> None:
    generated = PromiseLedger(client, prefix=f"gen{uuid.uuid4().hex[:8]}")
    recorded = PromiseLedger(client, prefix=f"rec{uuid.uuid4().hex[:8]}")
    await generate(generated, 12, T0, 7 * HOUR + 0.37)
    for p in [promise_number(n, T0, 7 * HOUR + 0.37) for n in range(12)]:
        await recorded.record(**{k: v for k, v in p.to_dict().items() if k in RECORD_FIELDS})
    assert await snapshot(generated) == await snapshot(recorded)


async def test_fast_with_100000_promises(client: Redis) -> None:
    """100,000 promises due over 60 days: a 30-day report, the alert window, a ticket and the latest
    page stay well under a second (stats reads one counter hash per day)."""
    ledger = PromiseLedger(client, prefix=f"big{uuid.uuid4().hex[:8]}")
    await generate(ledger, 100_000, T0 - 30 * DAY, 60 * DAY / 100_000)
    assert await client.hlen(ledger.promises_key) == 100_000
    began = time.perf_counter()
    stats = await ledger.stats(T0 - 30 * DAY, T0)
    elapsed = time.perf_counter() - began
    assert stats["pending"] == sum(day["pending"] for day in stats["by_day"].values()) > 49_000
    assert elapsed < 0.2, elapsed
    began = time.perf_counter()
    soon = await ledger.due_soon(T0, HOUR)
    tickets = await ledger.for_ticket("T42")
    latest = await ledger.recent(limit=100)
    assert len(soon) in (69, 70) and len(tickets) == 15 and len(latest) == 100
    assert time.perf_counter() - began < 0.5
    began = time.perf_counter()
    await ledger.keep(tickets[0].id, by="agent:wang", at=T0)
    await ledger.keep_contact_promises("c42", T0, "agent:wang")
    assert time.perf_counter() - began < 0.1


# --- Redis down -------------------------------------------------------------------------------
async def test_no_redis_raises_promise_ledger_unavailable() -> None:
    down = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1, decode_responses=True)
    ledger = PromiseLedger(down, prefix="down")
    calls = [
        make(ledger),
        ledger.keep("x", by="agent:a"),
        ledger.due_soon(T0, 60),
        ledger.break_overdue(T0),
        ledger.stats(T0, T0),
        ledger.scan_cursor("s"),
        ledger.keep_contact_promises("s", T0, "timer"),
    ]
    for call in calls:
        with pytest.raises(PromiseLedgerUnavailable):
            await call
    await down.connection_pool.disconnect()
