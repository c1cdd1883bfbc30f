"""The complaint dashboard's data layer at scale (``make bench-console``).

Starts its own Redis (``tools.devstack.Stack``, data in ``var/bench_console/redis``, emptied
first), seeds it with :func:`seed` - by default 100,000 tickets over 180 days and 10,000 handoff
cases, all written through the real stores - and times what the dashboard will call:
``TicketStore.all_facts`` over the last 30 days and over everything, each report of
:mod:`bot.analytics.reports` on all projections, the SVG charts, CSV export, and
``HandoffQueue.list_cases``. Writes ``reports/console_bench.json`` and ``reports/console_bench.md``
(median and 95th percentile of ``--runs`` runs each).

Seeding goes through the code paths the bot uses, not bulk writes: every ticket by
``TicketStore.create`` (the Lua script that also writes its projection), every later event by
``TicketStore.update`` (handoff, escalation, claim, resolution, satisfaction score), every case
by ``HandoffQueue.enqueue`` / ``claim`` / ``resolve``, and the timer's ``escalate_overdue``.
The clocks of both stores are moved per call (a context variable per asyncio task), so the
history reads as if it had happened over 180 days; ``--concurrency`` tasks write at once.

The mix (deterministic for a ``--seed``): types 55/30/12/3 % product/logistics/service/malicious,
causes by type, product categories weighted, 4 % urgent (always handed over), another ~21 %
handed over (asked, misunderstood, repeat, approval, failure), 2 % of the others asking for a
human days later; a claim delay around a third of the tier's first-response time (about one in
eight late, and those escalated at their deadline), evenings and weekends busier, volume rising
over the period, a pool of frequent complainants, satisfaction scores on about half of the
resolved tickets, and in the last 24 hours two and a half times the usual appliance complaints,
the extra ones all defects (the jump the early warnings should flag).

Usage: python -m tools.bench_console [--tickets N] [--cases N] [--runs N] [--concurrency N] [--seed N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import functools
import json
import math
import os
import random
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bot.analytics import charts, export, reports
from bot.analytics.facts import CLAIM_NOTE, ESCALATION_NOTE_PREFIX, HANDOFF_NOTE, TIMEZONE, ticket_facts
from bot.language.causes import vocabulary as cause_vocabulary
from bot.policy.sla import SlaConfig, load_sla
from bot.store import projections
from bot.store.client import handoff_queue, ticket_store
from bot.store.handoff import HandoffCase, HandoffQueue
from bot.store.tickets import TicketStore
from tools.bench.stats import median, percentile
from tools.devstack import ROOT, RedisSettings, Stack, free_port

DAY = 86400.0
HOUR = 3600.0
WORKDIR = ROOT / "var" / "bench_console"
REPORTS = ROOT / "reports"
SLOW_SECONDS = 1.0
"""A timing above this is called out in the report (the dashboard's budget per call)."""
CHANGES_BETWEEN_LOADS = 100
"""Tickets updated (through the store) before each timed cached read: the activity between two loads."""

_CLOCK: contextvars.ContextVar[float] = contextvars.ContextVar("bench_clock")


def _clock() -> float:
    """The stores' clock while seeding: the time of the event being written."""
    return _CLOCK.get()


TYPES = {"product": 55, "logistics": 30, "service": 12, "malicious": 3}
CHANNELS = {"webchat": 45, "wechat": 30, "taobao": 25}
CATEGORIES = {
    "clothing": 25,
    "electronics": 20,
    "appliances": 15,
    "cosmetics": 10,
    "food": 10,
    "food_delivery": 8,
    "baby": 5,
    "furniture": 4,
    "pet": 3,
}
URGENCY = {"safety": 1.5, "media_legal": 1.0, "vulnerable": 1.5}  # percent; the rest none
LATER_HANDOFF = {"asked": 12.0, "misunderstood": 4.0, "repeat": 2.5, "approval": 2.5, "failure": 0.3}  # percent
HOURS = [1, 1, 1, 1, 1, 1, 2, 4, 6, 8, 9, 9, 8, 8, 8, 8, 8, 8, 9, 11, 12, 12, 9, 4]
OPTIONS = {
    "product": [
        ("return_refund", "退货退款"),
        ("exchange", "换货"),
        ("repair", "维修"),
        ("keep_partial_refund", "部分退款"),
    ],
    "logistics": [("chase_courier", "催促快递"), ("reship", "补发"), ("refund", "退款"), ("coupon", "补偿优惠券")],
    "service": [("callback", "专人回电"), ("supervisor_review", "主管复核"), ("goodwill_coupon", "补偿优惠券")],
    "malicious": [("normal_process", "按正常流程处理"), ("human_review", "人工复核")],
}
AGENTS = [f"agent-{i:02d}" for i in range(1, 41)]


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


@dataclass
class Plan:
    """One seeded ticket and what happens to it (times in epoch seconds; None = never, or not yet)."""

    n: int
    created_at: float
    fields: dict[str, Any]
    repeat: bool = False
    handoff: str | None = None
    handoff_at: float | None = None
    window: float = 2 * HOUR
    claim_at: float | None = None
    escalate_at: float | None = None
    resolve_at: float | None = None
    score_at: float | None = None
    score: int | None = None
    ticket_id: str = ""
    agent: str = ""
    queue: str = "general"
    priority: str = "P4"
    events: list[tuple[float, str]] = field(default_factory=list)


@functools.cache
def _causes_by_type() -> dict[str, list[str]]:
    causes: dict[str, list[str]] = {}
    for cause in cause_vocabulary().values():
        causes.setdefault(cause.type, []).append(cause.id)
    return causes


def _created_times(rng: random.Random, count: int, now: float, days: int) -> list[float]:
    """``count`` moments over the ``days`` before ``now``: volume rising by half over the period,
    weekends a fifth busier, an evening peak (:data:`HOURS`, Shanghai time)."""
    first = datetime.fromtimestamp(now - days * DAY, TIMEZONE).date()
    dates = [first + timedelta(days=d) for d in range(days + 1)]
    weights = [(1 + 0.5 * d / days) * (1.2 if day.weekday() >= 5 else 1.0) for d, day in enumerate(dates)]
    moments: list[float] = []
    while len(moments) < count:  # a moment outside the period (the first and last day are partial) is drawn again
        day = rng.choices(dates, weights=weights)[0]
        hour = rng.choices(range(24), weights=HOURS)[0]
        moment = datetime(day.year, day.month, day.day, hour, tzinfo=TIMEZONE).timestamp() + rng.random() * HOUR
        if now - days * DAY <= moment < now:
            moments.append(moment)
    return moments


def _plan(rng: random.Random, n: int, created_at: float, sla: SlaConfig, frequent: list[str], spike: bool) -> Plan:
    """One ticket of the mix; ``spike``: an appliance defect of the last day's jump."""
    causes = _causes_by_type()
    if rng.random() < 0.2:
        customer = rng.choice(frequent)
        channel = customer.split(":", 1)[0]
    else:
        channel = _pick(rng, CHANNELS)
        customer = f"{channel}:c{n:07d}"
    complaint_type = "product" if spike else _pick(rng, TYPES)
    options = OPTIONS[complaint_type]
    ids = causes[complaint_type]
    cause = "defect" if spike else rng.choices(ids, weights=[1 / (i + 1) for i in range(len(ids))])[0]
    category = None
    if spike:
        category = "appliances"
    elif complaint_type in ("product", "logistics") or rng.random() < 0.5:
        category = _pick(rng, CATEGORIES)
    roll = rng.random() * 100
    urgency = None
    for name, share in URGENCY.items():
        roll -= share
        if roll < 0:
            urgency = name
            break
    compensation = None
    if complaint_type in ("product", "logistics") and rng.random() < 0.15:
        amount = rng.choice([10, 20, 30, 50, 80, 100, 200, 300])
        compensation = {"amount": amount, "status": "granted", "approved_by": "bot"}
    plan = Plan(
        n=n,
        created_at=created_at,
        fields={
            "channel": channel,
            "customer_id": customer,
            "sender_id": f"bench:{n}",
            "order_id": f"{rng.randrange(10**15, 10**16)}",
            "type": complaint_type,
            "cause": cause,
            "urgency": urgency,
            "customer_words": cause_vocabulary()[cause].says,
            "facts": {"product_category": category} if category else {},
            "options_offered": [{"id": i, "label": label} for i, label in options[:3]],
            "chosen_option": dict(zip(("id", "label"), rng.choice(options))),
            "compensation": compensation,
            "risk_flag": complaint_type == "malicious",
        },
    )
    if urgency:
        plan.handoff, plan.handoff_at = "urgency", created_at
    else:
        roll = rng.random() * 100
        for reason, share in LATER_HANDOFF.items():
            roll -= share
            if roll < 0:
                plan.handoff = reason
                plan.handoff_at = created_at + (5 if reason == "approval" else 0)
                break
        if plan.handoff is None and rng.random() < 0.02:  # asks for a human days after the bot settled
            plan.handoff, plan.handoff_at = "asked", created_at + rng.uniform(DAY, 3 * DAY)
    if plan.handoff == "approval":
        amount = rng.choice([600, 800, 1200, 1500])
        plan.fields["compensation"] = {"amount": amount, "status": "pending_approval", "approved_by": None}
        plan.fields["status"] = "pending_approval"
    plan.repeat = plan.handoff == "repeat"
    tier = sla.priority_for(urgency, repeat=plan.repeat)
    plan.window, plan.priority = tier.first_response_seconds, tier.priority
    plan.queue = sla.approval_queue if plan.handoff == "approval" else tier.queue
    if plan.handoff is not None and plan.handoff_at is not None:
        plan.agent = rng.choice(AGENTS)
        delay = plan.window * 0.35 * math.exp(rng.gauss(0, 0.9))  # about one in eight later than the window
        plan.claim_at = plan.handoff_at + delay
        if delay > plan.window:
            plan.escalate_at = plan.handoff_at + plan.window
        plan.resolve_at = plan.claim_at + rng.uniform(0.5 * HOUR, DAY)
    else:
        plan.resolve_at = created_at + rng.uniform(12 * HOUR, 3 * DAY)
    if rng.random() < 0.03:  # stuck: never resolved
        plan.resolve_at = None
    if plan.resolve_at is not None and rng.random() < 0.55:
        plan.score_at = plan.resolve_at + rng.uniform(HOUR, 20 * HOUR)
        weights = [6, 7, 12, 30, 45] if plan.handoff is None else [8, 8, 15, 30, 39]
        plan.score = rng.choices(range(1, 6), weights=weights)[0]
    return plan


def plan_tickets(count: int, now: float, *, seed: int = 7, days: int = 180, sla: SlaConfig | None = None) -> list[Plan]:
    """The seeded tickets, oldest first (see the module docstring for the mix).

    ``count`` tickets of the mix, then, in the last 24 hours, one and a half times as many extra
    appliance defects as the 7 days before had appliance complaints per day (the jump
    :func:`reports.early_warnings` should flag; a jump of only the defects, a third of them, hid
    in the weekend's rise of everything).
    """
    rng = random.Random(seed)
    sla = sla or load_sla()
    frequent = [f"{_pick(rng, CHANNELS)}:vip{i:05d}" for i in range(max(10, count // 25))]
    plans = [_plan(rng, n, at, sla, frequent, False) for n, at in enumerate(_created_times(rng, count, now, days))]
    week = [
        p
        for p in plans
        if now - 8 * DAY <= p.created_at < now - DAY and p.fields["facts"].get("product_category") == "appliances"
    ]
    extra = round(1.5 * len(week) / 7)
    plans += [_plan(rng, count + i, now - rng.random() * DAY, sla, frequent, True) for i in range(extra)]
    return sorted(plans, key=lambda p: p.created_at)


async def _write_ticket(store: TicketStore, plan: Plan, now: float) -> int:
    """Creates the ticket and replays its events up to ``now``; returns how many updates it took."""
    at_creation = plan.handoff is not None and plan.handoff_at == plan.created_at
    fields = dict(plan.fields)
    if at_creation:
        fields.update(status="with_agent", priority=plan.priority, queue=plan.queue)
    _CLOCK.set(plan.created_at)
    ticket, _ = await store.create(
        f"bench:{plan.n}:ticket",
        repeat=plan.repeat,
        note=HANDOFF_NOTE.format(reason=plan.handoff) if at_creation else "工单已创建",
        **fields,
    )
    plan.ticket_id = ticket.id
    events: list[tuple[float, dict[str, Any]]] = []
    if plan.handoff is not None and plan.handoff_at is not None and not at_creation:
        status = None if plan.handoff == "approval" else "with_agent"
        events.append(
            (
                plan.handoff_at,
                {
                    "actor": "bot",
                    "note": HANDOFF_NOTE.format(reason=plan.handoff),
                    "status": status,
                    "queue": plan.queue,
                },
            )
        )
    if plan.escalate_at is not None:
        events.append(
            (
                plan.escalate_at,
                {"actor": "timer", "note": f"{ESCALATION_NOTE_PREFIX}，已升级给客服主管", "queue": "supervisor"},
            )
        )
    if plan.claim_at is not None:
        events.append(
            (plan.claim_at, {"actor": plan.agent, "note": CLAIM_NOTE, "status": "with_agent", "owner": plan.agent})
        )
        if plan.handoff == "approval":
            compensation = dict(plan.fields["compensation"], status="approved", approved_by=plan.agent)
            events.append(
                (
                    plan.claim_at + 60,
                    {"actor": plan.agent, "note": "补偿已批准", "status": "with_agent", "compensation": compensation},
                )
            )
    if plan.resolve_at is not None:
        actor = plan.agent or "bot"
        events.append((plan.resolve_at, {"actor": actor, "note": "已解决", "status": "resolved"}))
    if plan.score_at is not None:
        events.append((plan.score_at, {"actor": "customer", "note": "满意度评分", "satisfaction": plan.score}))
    updates = 0
    for at, change in sorted(events, key=lambda e: e[0]):
        if at > now:
            break
        _CLOCK.set(at)
        await store.update(ticket.id, **change)
        updates += 1
    plan.events = [(at, str(change.get("note"))) for at, change in events]
    return updates


async def _write_case(queue: HandoffQueue, plan: Plan, now: float) -> str:
    """The plan's handoff case through the real queue; returns its state."""
    assert plan.handoff_at is not None
    _CLOCK.set(plan.handoff_at)
    case = HandoffCase(
        sender_id=plan.fields["sender_id"],
        channel=plan.fields["channel"],
        customer_id=plan.fields["customer_id"],
        reason=plan.handoff or "asked",
        queue=plan.queue,
        priority=plan.priority,
        deadline=plan.handoff_at + plan.window,
        summary={"type": plan.fields["type"], "cause": plan.fields["cause"], "facts": plan.fields["facts"]},
        ticket_id=plan.ticket_id,
        created_at=plan.handoff_at,
    )
    await queue.enqueue(case, f"bench:{plan.n}:handoff")
    if plan.claim_at is None or plan.claim_at > now:
        return "waiting"
    _CLOCK.set(plan.claim_at)
    await queue.claim(plan.agent, plan.fields["sender_id"])
    if plan.resolve_at is None or plan.resolve_at > now:
        return "claimed"
    _CLOCK.set(plan.resolve_at)
    await queue.resolve(plan.fields["sender_id"], plan.agent)
    return "resolved"


async def _pool(items: list[Any], work: Callable[[Any], Awaitable[Any]], concurrency: int, label: str) -> list[Any]:
    """Runs ``work`` over ``items`` with ``concurrency`` tasks, printing progress; results in order."""
    results: list[Any] = [None] * len(items)
    next_index = 0
    started = time.monotonic()

    async def worker() -> None:
        nonlocal next_index
        while next_index < len(items):
            i = next_index
            next_index += 1
            results[i] = await work(items[i])
            if (i + 1) % 10_000 == 0:
                print(f"    {label}: {i + 1:,} of {len(items):,} ({time.monotonic() - started:.0f} s)", flush=True)

    await asyncio.gather(*(asyncio.create_task(worker()) for _ in range(concurrency)))
    return results


def client_for(settings: RedisSettings, connections: int = 64) -> Redis:
    """An asyncio client on ``settings`` (decoded responses, as the bot's)."""
    return Redis(
        host=settings.host,
        port=settings.port,
        db=settings.db,
        password=settings.password or None,
        decode_responses=True,
        max_connections=connections,
    )


async def seed_async(
    redis_settings: RedisSettings,
    tickets: int = 100_000,
    cases: int = 10_000,
    *,
    now: float | None = None,
    seed: int = 7,
    days: int = 180,
    concurrency: int = 32,
    flush: bool = False,
) -> dict[str, Any]:
    """Seeds a Redis database with tickets and handoff cases through the real stores.

    The data uses the bot's own key prefixes (``bot/store/client.py``), so a server started on
    the same database (``REDIS_DB``) sees it.

    Args:
        redis_settings: Where to write (host, port, db).
        tickets: How many tickets (plus the few of the last day's appliance jump).
        cases: How many handoff cases: the latest handed-over tickets, each enqueued, claimed
            and resolved as far as its ticket got by ``now``.
        now: The end of the seeded period (epoch seconds); the current time by default.
        seed: Random seed: the same seed gives the same mix.
        days: The seeded period.
        concurrency: Tasks writing at once.
        flush: Empty the database first. Without it a database that already holds keys is refused.

    Returns:
        ``{"now", "tickets", "updates", "cases": {"waiting", "claimed", "resolved", "escalated"},
        "seconds", "ticket_prefix", "handoff_prefix"}``.

    Raises:
        RuntimeError: The database is not empty and ``flush`` is False.
    """
    moment = time.time() if now is None else now
    client = client_for(redis_settings, connections=concurrency + 4)
    try:
        if flush:
            await client.flushdb()
        elif await client.dbsize():
            raise RuntimeError(f"Redis db {redis_settings.db} is not empty: seed a fresh database (or pass flush=True)")
        store = ticket_store(client)
        store.clock = _clock
        queue = handoff_queue(client)
        queue.clock = _clock
        started = time.monotonic()
        plans = plan_tickets(tickets, moment, seed=seed, days=days)
        print(f"==> seeding {len(plans):,} tickets ({concurrency} at once)", flush=True)
        updates = await _pool(plans, lambda plan: _write_ticket(store, plan, moment), concurrency, "tickets")
        handed = sorted(
            (p for p in plans if p.handoff_at is not None and p.handoff_at <= moment),
            key=lambda p: p.handoff_at or 0.0,
            reverse=True,
        )[:cases]
        print(f"==> seeding {len(handed):,} handoff cases", flush=True)
        states = await _pool(handed, lambda plan: _write_case(queue, plan, moment), concurrency, "cases")
        _CLOCK.set(moment)
        escalated = await queue.escalate_overdue(moment)
        counts = {state: states.count(state) for state in ("waiting", "claimed", "resolved")}
        return {
            "now": moment,
            "tickets": len(plans),
            "updates": sum(updates),
            "cases": {**counts, "escalated": len(escalated)},
            "seconds": round(time.monotonic() - started, 1),
            "ticket_prefix": store.prefix,
            "handoff_prefix": queue.prefix,
        }
    finally:
        await client.close()


def seed(redis_settings: RedisSettings, tickets: int = 100_000, cases: int = 10_000, **options: Any) -> dict[str, Any]:
    """:func:`seed_async` for callers without an event loop (options as there)."""
    return asyncio.run(seed_async(redis_settings, tickets, cases, **options))


# measuring ----------------------------------------------------------------------------------


def _fewer(runs: int, part: int = 3) -> int:
    """Runs of the slow measurements: a ``part`` of ``runs``, at least 3 (1 when ``runs`` is 1)."""
    return 1 if runs <= 1 else max(3, runs // part)


def _summary(seconds: list[float], rows: int | None = None) -> dict[str, Any]:
    return {
        "runs": len(seconds),
        "rows": rows,
        "median_ms": round(median(seconds) * 1000, 1),
        "p95_ms": round(percentile(seconds, 95) * 1000, 1),
        "max_ms": round(max(seconds) * 1000, 1),
        "over_1s": median(seconds) > SLOW_SECONDS,
    }


async def _time_async(
    work: Callable[[], Awaitable[Any]], runs: int, before: Callable[[], Awaitable[Any]] | None = None
) -> tuple[list[float], Any]:
    """Runs ``work`` ``runs`` times (``before`` first each time, not timed); the seconds and the last result."""
    seconds, result = [], None
    for _ in range(runs):
        if before is not None:
            await before()
        started = time.perf_counter()
        result = await work()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def _time(work: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    seconds, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        seconds.append(time.perf_counter() - started)
    return seconds, result


async def measure(redis_settings: RedisSettings, now: float, runs: int = 10) -> dict[str, Any]:
    """Times every call the dashboard makes on the seeded data; returns ``{name: summary}`` and checks."""
    client = client_for(redis_settings)
    results: dict[str, Any] = {}
    checks: dict[str, Any] = {}
    try:
        store, queue = ticket_store(client), handoff_queue(client)
        direct = TicketStore(client, prefix=store.prefix, cache_facts=False)
        since30, until = now - 30 * DAY, now + 1
        ids = [str(i) for i in await client.zrangebyscore(store.created_key, since30, "+inf")]
        rng = random.Random(2)

        async def activity() -> None:
            """What happens between two dashboard loads: :data:`CHANGES_BETWEEN_LOADS` tickets change."""
            for ticket_id in rng.sample(ids, min(CHANGES_BETWEEN_LOADS, len(ids))):
                await store.update(ticket_id, actor="timer", note="进展已通知客户", next_progress_due=time.time() + DAY)

        async def cold() -> list[dict[str, Any]]:
            projections.caches.clear()
            return await store.all_facts(since=since30, until=until)

        async def cold_then_all() -> None:
            await cold()  # the cache holds the last 30 days; the call timed reads the 150 before once

        seconds, recent = await _time_async(cold, _fewer(runs))
        results["all_facts 30 days, first call of a process (reads its 30 days)"] = _summary(seconds, len(recent))
        seconds, recent = await _time_async(lambda: store.all_facts(since=since30, until=until), runs, activity)
        results[f"all_facts 30 days, cached, {CHANGES_BETWEEN_LOADS} changed since"] = _summary(seconds, len(recent))
        seconds, everything = await _time_async(lambda: store.all_facts(), _fewer(runs), cold_then_all)
        results["all_facts all, first call asking further back (reads 150 days)"] = _summary(seconds, len(everything))
        seconds, everything = await _time_async(lambda: store.all_facts(), runs, activity)
        results[f"all_facts all, cached, {CHANGES_BETWEEN_LOADS} changed since"] = _summary(seconds, len(everything))
        seconds, _ = await _time_async(lambda: direct.all_facts(since=since30, until=until), _fewer(runs))
        results["all_facts 30 days, without the cache"] = _summary(seconds, len(recent))
        seconds, _ = await _time_async(lambda: direct.all_facts(), _fewer(runs))
        results["all_facts all, without the cache"] = _summary(seconds, len(everything))

        # the projections match their tickets (a sample read back through TicketStore.get)
        sample = random.Random(1).sample(everything, min(200, len(everything)))
        mismatched = 0
        for projection in sample:
            ticket = await store.get(projection["id"])
            assert ticket is not None
            expected = ticket_facts(ticket.to_dict(), projection)
            mismatched += expected != projection
        checks["sample_projections_match_tickets"] = f"{len(sample) - mismatched} of {len(sample)}"

        jobs: dict[str, Callable[[], Any]] = {
            "heatmap type x day, 30 days": lambda: reports.heatmap(recent, ("type", "day"), since30, now),
            "heatmap category x day, all": lambda: reports.heatmap(everything, ("category", "day")),
            "heatmap weekday x hour, all": lambda: reports.heatmap(everything, ("weekday", "hour")),
            "sla_breaches, all": lambda: reports.sla_breaches(everything, now),
            "repeat_complainants, all": lambda: reports.repeat_complainants(everything, now),
            "satisfaction, all": lambda: reports.satisfaction(everything),
            "settlement, all": lambda: reports.settlement(everything),
            "early_warnings, all": lambda: reports.early_warnings(everything, now),
            "trend, 30 days": lambda: reports.trend(recent, now, since30, now),
        }
        outputs: dict[str, Any] = {}
        for name, job in jobs.items():
            seconds, outputs[name] = _time(job, runs)
            results[name] = _summary(seconds, len(everything) if name.endswith("all") else len(recent))
        warnings = outputs["early_warnings, all"]
        checks["early_warnings"] = [w["label"] for w in warnings if w["kind"] != "repeat_customer"][:5]
        checks["repeat_customer_warnings"] = sum(1 for w in warnings if w["kind"] == "repeat_customer")
        sla = outputs["sla_breaches, all"]
        checks["sla_total"] = sla["total"]
        checks["settlement"] = {k: v for k, v in outputs["settlement, all"].items() if k != "by_reason"}
        checks["satisfaction_mean"] = outputs["satisfaction, all"]["mean"]

        daily = outputs["trend, 30 days"]
        chart_jobs: dict[str, Callable[[], Any]] = {
            "heatmap_svg type x day (30 days, annotated)": lambda: charts.heatmap_svg(
                outputs["heatmap type x day, 30 days"], "投诉热力图（类型 × 日期）"
            ),
            "heatmap_svg category x day (180 days)": lambda: charts.heatmap_svg(
                outputs["heatmap category x day, all"], "品类 × 日期"
            ),
            "bars_svg handoff reasons": lambda: charts.bars_svg(
                [(r["label"], r["share"]) for r in outputs["settlement, all"]["by_reason"]], "转人工原因", percent=True
            ),
            "lines_svg 3 rates, 30 days": lambda: charts.lines_svg(
                {
                    name: list(zip(daily["days"], daily["series"][key]))
                    for name, key in (
                        ("转人工比例", "handed_over_share"),
                        ("超时率", "breach_rate"),
                        ("低分比例", "low_satisfaction_share"),
                    )
                },
                "每日比例",
            ),
            "to_csv breached cases": lambda: export.to_csv(sla["breached"]),
        }
        chart_runs = _fewer(runs, 2)
        for name, job in chart_jobs.items():
            seconds, svg = _time(job, chart_runs)
            results[name] = {**_summary(seconds), "bytes": len(svg.encode("utf-8"))}

        seconds, open_cases = await _time_async(lambda: queue.list_cases(), runs)
        results["HandoffQueue.list_cases() (open)"] = _summary(seconds, len(open_cases))
        seconds, resolved = await _time_async(lambda: queue.list_cases("resolved"), runs)
        results["HandoffQueue.list_cases('resolved')"] = _summary(seconds, len(resolved))

        async def dashboard() -> None:
            facts = await store.all_facts(since=since30, until=until)
            reports.heatmap(facts, ("type", "day"), since30, now)
            reports.sla_breaches(facts, now)
            reports.satisfaction(facts)
            reports.settlement(facts)
            reports.early_warnings(facts, now)
            reports.repeat_complainants(facts, now)

        seconds, _ = await _time_async(dashboard, runs, activity)
        results["one dashboard load: all_facts 30 days (cached) + 6 reports"] = _summary(seconds, len(recent))
        checks["load_average"] = [round(x, 2) for x in os.getloadavg()]
        info = await client.info("memory")
        checks["redis_used_memory"] = info.get("used_memory_human")
        checks["facts_hash_bytes"] = await client.memory_usage(store.facts_key)
    finally:
        await client.close()
    return {"timings": results, "checks": checks}


def markdown(report: dict[str, Any]) -> str:
    """``reports/console_bench.md``."""
    seeded, machine = report["seeded"], report["machine"]
    lines = [
        "# Complaint dashboard data layer at scale (`make bench-console`)",
        "",
        f"{report['date']}, commit {machine.get('git_commit')}, "
        f"{machine.get('cpu_model')}, {machine.get('cpus')} CPUs, Python {machine.get('python')}.",
        "",
        f"Seeded through the real stores: {seeded['tickets']:,} tickets over {report['config']['days']} days "
        f"and {seeded['updates']:,} updates (handoffs, escalations, claims, resolutions, scores), "
        f"{sum(seeded['cases'][k] for k in ('waiting', 'claimed', 'resolved')):,} handoff cases "
        f"({seeded['cases']['waiting']:,} waiting, {seeded['cases']['claimed']:,} claimed, "
        f"{seeded['cases']['resolved']:,} resolved; {seeded['cases']['escalated']:,} escalated by the timer) "
        f"in {seeded['seconds']:.0f} s with {report['config']['concurrency']} writers.",
        "",
        f"Median and 95th percentile of {report['config']['runs']} runs (first calls and reads without the cache: "
        f"{_fewer(report['config']['runs'])}, charts and CSV: {_fewer(report['config']['runs'], 2)}); "
        f'"rows" is how many projections or cases went in; every cached read follows '
        f"{CHANGES_BETWEEN_LOADS} ticket updates.",
        "",
        "| operation | rows | median ms | p95 ms | over 1 s? |",
        "|---|---:|---:|---:|---|",
    ]
    for name, timing in report["timings"].items():
        rows = "" if timing.get("rows") is None else f"{timing['rows']:,}"
        size = f" ({timing['bytes'] / 1024:.0f} KiB)" if timing.get("bytes") else ""
        lines.append(
            f"| {name}{size} | {rows} | {timing['median_ms']:.1f} | {timing['p95_ms']:.1f} | "
            f"{'**yes**' if timing['over_1s'] else 'no'} |"
        )
    checks = report["checks"]
    lines += [
        "",
        "Checks on the seeded data:",
        "",
        f"- projections read back against their tickets (`TicketStore.get` + `ticket_facts`): "
        f"{checks['sample_projections_match_tickets']} equal",
        f"- early warnings: {'; '.join(checks['early_warnings']) or 'none'}; "
        f"{checks['repeat_customer_warnings']:,} repeat customers within 7 days",
        f"- SLA: {checks['sla_total']['handed_over']:,} handed over, {checks['sla_total']['breached']:,} breached "
        f"(rate {checks['sla_total']['breach_rate']}); bot settled {checks['settlement']['bot_settled_share']}; "
        f"mean satisfaction {checks['satisfaction_mean']}",
        f"- Redis memory {checks['redis_used_memory']}, of which the projections hash "
        f"{(checks['facts_hash_bytes'] or 0) / 1024 / 1024:.1f} MiB",
        f"- load average at the end (1, 5, 15 min; other work on the machine slows every figure): "
        f"{', '.join(map(str, checks.get('load_average', [])))} on {machine.get('cpus')} CPUs",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPORTS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Starts Redis, seeds, measures, writes the reports; stops Redis whatever happens."""
    from tools.bench.procstats import machine_info

    options = parse_args(argv)
    stack = Stack()
    try:
        data = WORKDIR / "redis"
        shutil.rmtree(data, ignore_errors=True)  # the bench's own data only
        WORKDIR.mkdir(parents=True, exist_ok=True)
        settings = stack.start_redis(free_port(), data, log=WORKDIR / "redis.log")
        seeded = seed(
            settings,
            options.tickets,
            options.cases,
            seed=options.seed,
            days=options.days,
            concurrency=options.concurrency,
        )
        print(f"==> seeded in {seeded['seconds']:.0f} s; measuring ({options.runs} runs each)", flush=True)
        measured = asyncio.run(measure(settings, seeded["now"], options.runs))
        report = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine_info(),
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(options).items()},
            "seeded": seeded,
            **measured,
        }
        options.out.mkdir(parents=True, exist_ok=True)
        (options.out / "console_bench.json").write_text(
            json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        text = markdown(report)
        (options.out / "console_bench.md").write_text(text, encoding="utf-8")
        print(text)
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
