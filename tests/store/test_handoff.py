"""The handoff queue on the real Redis server of the test run (no fakes)."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from bot.store.handoff import (
    GROUP,
    CaseNotClaimed,
    CaseNotFound,
    HandoffCase,
    HandoffQueue,
    HandoffQueueUnavailable,
)
from tools.devstack import RedisSettings, Stack, base_env, free_port

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.0

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest_asyncio.fixture(loop_scope="session")
async def client(redis_server: RedisSettings) -> AsyncIterator[Redis]:
    red = Redis(host=redis_server.host, port=redis_server.port, db=redis_server.db, decode_responses=True)
    yield red
    await red.close()
    await red.connection_pool.disconnect()


@pytest.fixture()
def queue(client: Redis, clock: Clock) -> HandoffQueue:
    return HandoffQueue(client, prefix=f"h{uuid.uuid4().hex[:10]}", clock=clock)


def make_case(
    sender: str, queue: str = "general", priority: str = "P4", deadline: float = T0 + 7200, **extra: Any
) -> HandoffCase:
    summary = {
        "type": "product",
        "urgency": None,
        "phase": "understand",
        "facts": {"order_id": "A1"},
        "options_offered": [],
        "last_messages": ["转人工"],
    }
    values: dict[str, Any] = {
        "sender_id": sender,
        "channel": "rest",
        "customer_id": f"cust-{sender}",
        "reason": "asked",
        "queue": queue,
        "priority": priority,
        "deadline": deadline,
        "summary": summary,
    }
    values.update(extra)
    return HandoffCase(**values)


async def pending(client: Redis, stream: str) -> list[dict[str, Any]]:
    """XPENDING, extended form: message_id, consumer, time_since_delivered, times_delivered."""
    if not await client.exists(stream):
        return []
    return await client.xpending_range(stream, GROUP, min="-", max="+", count=100)


async def pending_everywhere(client: Redis, queue: HandoffQueue) -> list[dict[str, Any]]:
    return [p for stream in queue.all_streams() for p in await pending(client, stream)]


# the case ---------------------------------------------------------------------------------------
def test_case_round_trips_through_a_dict() -> None:
    case = make_case("s1", ticket_id="T-9", escalated=True)
    again = HandoffCase.from_dict({**case.to_dict(), "unknown": 1})
    assert again == case
    assert again.summary["options_offered"] == []


@pytest.mark.parametrize(
    "change",
    [
        {"reason": "bored"},
        {"queue": ""},
        {"queue": "direct"},
        {"priority": "high"},
        {"status": "gone"},
        {"sender_id": ""},
    ],
)
def test_case_rejects_unknown_values(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        make_case("s1", **change)


# enqueue ----------------------------------------------------------------------------------------
async def test_concurrent_duplicate_enqueues_make_one_entry(queue: HandoffQueue, client: Redis, clock: Clock) -> None:
    results = await asyncio.gather(*(queue.enqueue(make_case("dup"), "dup:msg-1") for _ in range(12)))

    assert sum(created for _, created in results) == 1
    assert len({case.case_id for case, _ in results}) == 1
    assert await client.xlen(queue.stream_key("general")) == 1
    stored = await queue.get("dup")
    assert stored is not None and stored.status == "waiting" and stored.created_at == clock.now


async def test_repeating_a_key_later_returns_the_case_as_it_stands(queue: HandoffQueue, client: Redis) -> None:
    first, created = await queue.enqueue(make_case("c1"), "c1:m1")
    assert created
    await queue.claim("agent-a")
    again, created = await queue.enqueue(make_case("c1"), "c1:m1")
    assert not created
    assert again.case_id == first.case_id and again.claimed_by == "agent-a"
    assert await client.xlen(queue.stream_key("general")) == 1


async def test_one_open_case_per_conversation_new_trigger_updates_the_summary(
    queue: HandoffQueue, client: Redis
) -> None:
    first, _ = await queue.enqueue(make_case("c2"), "c2:m1")
    newer = make_case("c2", summary={"type": "product", "last_messages": ["还没人理我"]})
    updated, created = await queue.enqueue(newer, "c2:m2")

    assert not created
    assert updated.case_id == first.case_id
    assert updated.summary["last_messages"] == ["还没人理我"]
    assert await client.xlen(queue.stream_key("general")) == 1


async def test_concurrent_triggers_with_different_keys_still_make_one_case(queue: HandoffQueue, client: Redis) -> None:
    results = await asyncio.gather(*(queue.enqueue(make_case("c3"), f"c3:m{i}") for i in range(8)))

    assert sum(created for _, created in results) == 1
    assert len({case.case_id for case, _ in results}) == 1
    assert await client.xlen(queue.stream_key("general")) == 1


async def test_a_more_urgent_trigger_moves_a_waiting_case(queue: HandoffQueue, client: Redis) -> None:
    await queue.enqueue(make_case("c4", deadline=T0 + 7200), "c4:m1")
    urgent = make_case("c4", queue="emergency", priority="P1", reason="urgency", deadline=T0 + 900)
    moved, created = await queue.enqueue(urgent, "c4:m2")

    assert not created
    assert (moved.queue, moved.priority, moved.reason, moved.deadline) == ("emergency", "P1", "urgency", T0 + 900)
    assert await client.xlen(queue.stream_key("general")) == 0
    assert await client.xlen(queue.stream_key("emergency")) == 1
    claimed = await queue.claim("agent-a")
    assert claimed is not None and claimed.sender_id == "c4"
    assert await queue.claim("agent-b") is None  # the old entry is gone, not delivered twice


# ordering ---------------------------------------------------------------------------------------
async def enqueue_mixed(queue: HandoffQueue) -> None:
    """Arrival order differs from urgency order on purpose."""
    await queue.enqueue(make_case("gen-late", "general", "P4", T0 + 7200), "k1")
    await queue.enqueue(make_case("senior", "senior", "P2", T0 + 1800, reason="urgency"), "k2")
    await queue.enqueue(make_case("gen-early", "general", "P3", T0 + 3600), "k3")
    await queue.enqueue(make_case("vulnerable", "priority", "P2", T0 + 1200, reason="urgency"), "k4")
    await queue.enqueue(make_case("safety", "emergency", "P1", T0 + 900, reason="urgency"), "k5")


async def test_list_cases_is_ordered_by_priority_then_deadline(queue: HandoffQueue) -> None:
    await enqueue_mixed(queue)

    cases = await queue.list_cases()

    assert [c.sender_id for c in cases] == ["safety", "vulnerable", "senior", "gen-early", "gen-late"]
    assert all(c.status == "waiting" for c in cases)


async def test_claim_without_sender_gives_the_most_urgent_case_first(queue: HandoffQueue, client: Redis) -> None:
    await enqueue_mixed(queue)

    order = [(await queue.claim(f"agent-{i}")) for i in range(5)]

    assert [c.sender_id for c in order if c] == ["safety", "vulnerable", "senior", "gen-late", "gen-early"]
    # within one queue (general) the stream is first come, first served
    assert await queue.claim("agent-9") is None
    owners = {p["consumer"] for p in await pending_everywhere(client, queue)}
    assert owners == {f"agent-{i}" for i in range(5)}
    assert [c.sender_id for c in await queue.list_cases(status="claimed")][:1] == ["safety"]


async def test_claim_can_be_limited_to_some_queues(queue: HandoffQueue) -> None:
    await enqueue_mixed(queue)

    case = await queue.claim("sup", queues=["general"])

    assert case is not None and case.sender_id == "gen-late"


async def test_claim_of_a_specific_sender_goes_through_the_group(
    queue: HandoffQueue, client: Redis, clock: Clock
) -> None:
    await enqueue_mixed(queue)
    clock.now += 60

    case = await queue.claim("agent-a", "gen-early")

    assert case is not None
    assert (case.sender_id, case.status, case.claimed_by, case.claimed_at) == (
        "gen-early",
        "claimed",
        "agent-a",
        T0 + 60,
    )
    direct = await pending(client, queue.stream_key("direct"))
    assert [(p["consumer"], p["times_delivered"]) for p in direct] == [("agent-a", 1)]
    # the other cases are untouched and the claimed one is not handed out again
    rest = [(await queue.claim("agent-b")) for _ in range(5)]
    assert [c.sender_id for c in rest if c] == ["safety", "vulnerable", "senior", "gen-late"]


async def test_a_case_claimed_by_someone_else_cannot_be_claimed(queue: HandoffQueue) -> None:
    await queue.enqueue(make_case("c5"), "c5:m1")
    first, second = await asyncio.gather(queue.claim("agent-a", "c5"), queue.claim("agent-b", "c5"))

    winners = [c.claimed_by for c in (first, second) if c is not None]
    assert len(winners) == 1
    winner = winners[0]
    loser = "agent-b" if winner == "agent-a" else "agent-a"
    assert await queue.claim(loser, "c5") is None
    assert await queue.claim(loser) is None
    mine = await queue.claim(winner, "c5")
    assert mine is not None and mine.claimed_by == winner
    assert await queue.claim("agent-a", "nobody") is None


async def test_concurrent_agents_never_get_the_same_case(queue: HandoffQueue) -> None:
    for i in range(6):
        await queue.enqueue(make_case(f"p{i}"), f"p{i}")

    got = await asyncio.gather(*(queue.claim(f"agent-{i}") for i in range(10)))

    senders = [c.sender_id for c in got if c is not None]
    assert sorted(senders) == [f"p{i}" for i in range(6)]


# an agent that dies before acknowledging --------------------------------------------------------
AGENT_PROCESS = textwrap.dedent(
    """
    import asyncio, os, sys
    from redis.asyncio import Redis
    from bot.store.handoff import HandoffQueue

    async def main():
        client = Redis(host=sys.argv[1], port=int(sys.argv[2]), db=int(sys.argv[3]), decode_responses=True)
        case = await HandoffQueue(client, prefix=sys.argv[4]).claim("agent-dies")
        print(case.sender_id if case else "-", flush=True)
        os._exit(0)  # dies: no resolve, no XACK, no clean disconnect

    asyncio.run(main())
    """
)


async def run_dying_agent(settings: RedisSettings, prefix: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", AGENT_PROCESS, settings.host, str(settings.port), str(settings.db), prefix,
        cwd=ROOT, env=base_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    return out.decode().strip()


async def test_a_case_held_by_a_dead_agent_is_reclaimed_and_delivered_again(
    queue: HandoffQueue, client: Redis, redis_server: RedisSettings
) -> None:
    await queue.enqueue(make_case("lost", "emergency", "P1", T0 + 900, reason="urgency"), "lost:m1")

    assert await run_dying_agent(redis_server, queue.prefix) == "lost"

    stream = queue.stream_key("emergency")
    held = await pending(client, stream)
    assert [(p["consumer"], p["times_delivered"]) for p in held] == [("agent-dies", 1)]
    case = await queue.get("lost")
    assert case is not None and case.claimed_by == "agent-dies"
    assert await queue.claim("agent-b", "lost") is None  # still held: not up for grabs
    assert await queue.reclaim_stale("agent-b", min_idle_seconds=60) == []  # not idle long enough yet

    await asyncio.sleep(0.3)
    reclaimed = await queue.reclaim_stale("agent-b", min_idle_seconds=0.2)

    assert [(c.sender_id, c.claimed_by, c.status) for c in reclaimed] == [("lost", "agent-b", "claimed")]
    held = await pending(client, stream)
    assert [(p["message_id"], p["consumer"], p["times_delivered"]) for p in held] == [
        (held[0]["message_id"], "agent-b", 2)
    ]
    resolved = await queue.resolve("lost", "agent-b")
    assert resolved.status == "resolved"
    assert await pending_everywhere(client, queue) == []


async def test_a_specifically_claimed_case_is_reclaimed_too(queue: HandoffQueue, client: Redis) -> None:
    await queue.enqueue(make_case("direct"), "d:m1")
    await queue.claim("agent-a", "direct")
    await asyncio.sleep(0.3)

    reclaimed = await queue.reclaim_stale("agent-b", min_idle_seconds=0.2)

    assert [c.claimed_by for c in reclaimed] == ["agent-b"]
    held = await pending(client, queue.stream_key("direct"))
    assert [(p["consumer"], p["times_delivered"]) for p in held] == [("agent-b", 2)]


async def test_heartbeat_keeps_a_live_agents_case(queue: HandoffQueue) -> None:
    await queue.enqueue(make_case("busy"), "b:m1")
    await queue.claim("agent-a")
    await asyncio.sleep(0.3)

    assert await queue.heartbeat("agent-a") == 1
    assert await queue.reclaim_stale("agent-b", min_idle_seconds=0.2) == []
    case = await queue.get("busy")
    assert case is not None and case.claimed_by == "agent-a"


# resolve ----------------------------------------------------------------------------------------
async def test_resolve_acknowledges_and_keeps_a_record(queue: HandoffQueue, client: Redis, clock: Clock) -> None:
    await queue.enqueue(make_case("r1", ticket_id="T-1"), "r1:m1")
    await queue.enqueue(make_case("r2"), "r2:m1")
    await queue.claim("agent-a", "r1")
    await queue.claim("agent-b", "r2")
    with pytest.raises(CaseNotClaimed):
        await queue.resolve("r1", "agent-b")
    clock.now += 300

    done = await queue.resolve("r1", "agent-a")

    assert (done.status, done.claimed_by, done.resolved_at, done.ticket_id) == ("resolved", "agent-a", T0 + 300, "T-1")
    assert [p["consumer"] for p in await pending_everywhere(client, queue)] == ["agent-b"]
    assert [c.sender_id for c in await queue.list_cases()] == ["r2"]
    assert [c.sender_id for c in await queue.list_cases(status="resolved")] == ["r1"]
    record = await queue.get("r1")
    assert record is not None and record.status == "resolved"
    assert (await queue.resolve("r1", "agent-a")).case_id == done.case_id  # a retried resolve is harmless
    await queue.resolve("r2", "agent-b")
    assert await pending_everywhere(client, queue) == []


async def test_resolve_needs_an_open_claimed_case(queue: HandoffQueue) -> None:
    with pytest.raises(CaseNotFound):
        await queue.resolve("ghost", "agent-a")
    await queue.enqueue(make_case("w1"), "w1:m1")
    with pytest.raises(CaseNotClaimed):
        await queue.resolve("w1", "agent-a")


async def test_a_conversation_can_be_handed_over_again_after_resolve(queue: HandoffQueue, client: Redis) -> None:
    first, _ = await queue.enqueue(make_case("again"), "again:m1")
    await queue.claim("agent-a")
    await queue.resolve("again", "agent-a")

    second, created = await queue.enqueue(make_case("again"), "again:m9")

    assert created and second.case_id != first.case_id and second.status == "waiting"
    duplicate, created = await queue.enqueue(make_case("again"), "again:m1")
    assert not created and duplicate.case_id == first.case_id and duplicate.status == "resolved"


# escalation -------------------------------------------------------------------------------------
async def test_overdue_waiting_cases_escalate_once(queue: HandoffQueue, client: Redis, clock: Clock) -> None:
    await queue.enqueue(make_case("late", "senior", "P2", T0 + 1800, reason="urgency"), "late:m1")
    await queue.enqueue(make_case("fine", "general", "P4", T0 + 7200), "fine:m1")
    await queue.enqueue(make_case("taken", "emergency", "P1", T0 + 900, reason="urgency"), "taken:m1")
    await queue.claim("agent-a", "taken")
    assert await queue.escalate_overdue() == []

    clock.now = T0 + 1801
    escalated = await queue.escalate_overdue()

    assert [(c.sender_id, c.queue, c.escalated, c.deadline) for c in escalated] == [
        ("late", "supervisor", True, T0 + 1801 + 1800)
    ]
    assert await client.xlen(queue.stream_key("senior")) == 0
    assert await client.xlen(queue.stream_key("supervisor")) == 1
    assert await queue.escalate_overdue() == []
    clock.now = T0 + 10_000  # even past the supervisor's own deadline: never escalated twice
    assert [c.sender_id for c in await queue.escalate_overdue()] == ["fine"]
    assert await client.xlen(queue.stream_key("supervisor")) == 2
    supervisor = await queue.claim("sup-1", queues=["supervisor"])
    assert supervisor is not None and supervisor.sender_id == "late"


async def test_concurrent_escalation_runs_escalate_once(queue: HandoffQueue, client: Redis, clock: Clock) -> None:
    for i in range(4):
        await queue.enqueue(make_case(f"e{i}", deadline=T0 + 60), f"e{i}")
    clock.now = T0 + 61

    runs = await asyncio.gather(*(queue.escalate_overdue() for _ in range(3)))

    assert sorted(c.sender_id for run in runs for c in run) == ["e0", "e1", "e2", "e3"]
    assert await client.xlen(queue.stream_key("supervisor")) == 4
    assert await client.xlen(queue.stream_key("general")) == 0


async def test_escalate_overdue_accepts_an_explicit_now(queue: HandoffQueue) -> None:
    await queue.enqueue(make_case("x", deadline=T0 + 60), "x")

    escalated = await queue.escalate_overdue(now=T0 + 100)

    assert [c.deadline for c in escalated] == [T0 + 100 + 1800]


# a client that does not decode responses ------------------------------------------------------
async def test_works_with_a_client_returning_bytes(redis_server: RedisSettings) -> None:
    raw = Redis(host=redis_server.host, port=redis_server.port, db=redis_server.db)
    try:
        queue = HandoffQueue(raw, prefix=f"h{uuid.uuid4().hex[:10]}")
        await queue.enqueue(make_case("b1", summary={"facts": {"问题": "屏幕碎了"}}), "b1")
        assert (await queue.enqueue(make_case("b1"), "b1"))[1] is False
        claimed = await queue.claim("agent-a")
        assert claimed is not None and claimed.summary == {"facts": {"问题": "屏幕碎了"}}
        assert [c.status for c in await queue.list_cases()] == ["claimed"]
        assert (await queue.resolve("b1", "agent-a")).status == "resolved"
    finally:
        await raw.close()
        await raw.connection_pool.disconnect()


# Redis down -------------------------------------------------------------------------------------
async def test_no_redis_listening_raises_handoff_queue_unavailable() -> None:
    client = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1, decode_responses=True)
    queue = HandoffQueue(client, prefix="down")
    with pytest.raises(HandoffQueueUnavailable):
        await queue.ping()
    with pytest.raises(HandoffQueueUnavailable):
        await queue.enqueue(make_case("d"), "d")
    with pytest.raises(HandoffQueueUnavailable):
        await queue.claim("agent-a")
    await client.connection_pool.disconnect()


async def test_redis_going_down_mid_use_raises_handoff_queue_unavailable(tmp_path: Path) -> None:
    stack = Stack()
    settings = stack.start_redis(free_port(), tmp_path / "redis", log=tmp_path / "redis.log")
    client = Redis(host=settings.host, port=settings.port, socket_connect_timeout=1, decode_responses=True)
    try:
        queue = HandoffQueue(client, prefix="mid")
        assert await queue.ping()
        await queue.enqueue(make_case("m"), "m")
        stack.stop()
        for call in (queue.list_cases(), queue.claim("agent-a"), queue.escalate_overdue(), queue.resolve("m", "a")):
            with pytest.raises(HandoffQueueUnavailable):
                await call
    finally:
        stack.stop()
        await client.connection_pool.disconnect()
