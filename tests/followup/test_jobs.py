"""The follow-up jobs (bot/followup/jobs.py) on the real Redis, driven by the test's clock.

No sleeping: every round is ``FollowUp.once(now)`` at a time the test chooses. Messages are
rendered by Rasa's templated NLG on the real domain.yml and recorded where they would leave the
server (the network edge). The running server's timer loop is exercised end to end in
tests/agent_api/test_agent_api.py.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.followup.jobs import FollowUp, run_forever
from bot.policy.sla import format_deadline
from bot.store.handoff import HandoffCase, HandoffQueue
from bot.store.tickets import TicketStore
from tests.support.followup import Outbox, render

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_795_000_000.0
HOUR = 3600.0
DAY = 24 * HOUR


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class World:
    """Stores with their own prefixes, a clock, an outbox and jobs (a 'worker') on them."""

    def __init__(self, client: Redis) -> None:
        prefix = uuid.uuid4().hex[:10]
        self.client, self.clock, self.outbox = client, Clock(), Outbox()
        self.tickets = TicketStore(client, prefix=f"t{prefix}", clock=self.clock)
        self.handoffs = HandoffQueue(client, prefix=f"h{prefix}", clock=self.clock)

    def worker(self) -> FollowUp:
        return FollowUp(self.tickets, self.handoffs, self.client, render, self.outbox)


@pytest.fixture()
def world(client: Redis) -> World:
    return World(client)


async def test_a_due_progress_message_goes_out_once_and_the_next_is_scheduled(world: World) -> None:
    ticket, _ = await world.tickets.create(
        f"p-{uuid.uuid4().hex}",
        channel="rest",
        sender_id="p1",
        type="product",
        chosen_option={"label": "换货", "description": "48小时内给您发出新的。"},
    )
    assert await world.worker().once(T0 + DAY - 1) == {"escalated": 0, "progress": 0}  # not yet due

    two_workers = await asyncio.gather(world.worker().once(T0 + DAY), world.worker().once(T0 + DAY))

    assert sum(r["progress"] for r in two_workers) == 1
    [(sender, text)] = world.outbox.sent
    assert sender == "p1" and ticket.id in text and "进展" in text and "处理中" in text and "换货" in text
    assert world.outbox.authors == ["timer:progress"]  # it keeps the conversation's contact promises
    stored = await world.tickets.get(ticket.id)
    assert stored is not None and stored.next_progress_due == T0 + 2 * DAY
    assert [h["actor"] for h in stored.history] == ["bot", "timer"]


async def test_a_progress_report_goes_out_before_the_time_the_customer_was_promised(world: World) -> None:
    # "明天10:02前我会把进展发给您" is a promise (the ledger holds the bot to it): with a lead the report
    # goes out before its due time, and the next one still counts from that due time
    ticket, _ = await world.tickets.create(f"p-{uuid.uuid4().hex}", channel="rest", sender_id="p5", type="product")
    early = FollowUp(world.tickets, world.handoffs, world.client, render, world.outbox, progress_lead=600)
    assert (await early.once(T0 + DAY - 601))["progress"] == 0
    assert (await early.once(T0 + DAY - 600))["progress"] == 1
    stored = await world.tickets.get(ticket.id)
    assert stored is not None and stored.next_progress_due == T0 + 2 * DAY
    assert (await early.once(T0 + DAY - 10))["progress"] == 0  # not again for the same due time


async def test_the_same_due_time_coming_round_again_sends_nothing(world: World) -> None:
    ticket, _ = await world.tickets.create(f"p-{uuid.uuid4().hex}", channel="rest", sender_id="p2", type="product")
    await world.worker().once(T0 + DAY)
    await world.tickets.update(
        ticket.id, actor="test", note="进展到期", next_progress_due=T0 + DAY
    )  # the same due time

    assert await world.worker().once(T0 + DAY + 5) == {"escalated": 0, "progress": 0}
    assert len(world.outbox.sent) == 1


async def test_after_downtime_one_progress_message_goes_out_not_one_per_missed_interval(world: World) -> None:
    ticket, _ = await world.tickets.create(f"p-{uuid.uuid4().hex}", channel="rest", sender_id="p4", type="product")
    back = T0 + 4 * DAY + 10  # the timer was down for four intervals

    rounds = [await world.worker().once(back + minute * 60) for minute in range(4)]

    assert [r["progress"] for r in rounds] == [1, 0, 0, 0]
    stored = await world.tickets.get(ticket.id)
    assert stored is not None and stored.next_progress_due == T0 + 5 * DAY


async def test_a_resolved_ticket_gets_no_progress_message(world: World) -> None:
    ticket, _ = await world.tickets.create(f"p-{uuid.uuid4().hex}", channel="rest", sender_id="p3", type="product")
    await world.tickets.update(ticket.id, actor="agent", note="解决", status="resolved")
    assert await world.worker().once(T0 + 3 * DAY) == {"escalated": 0, "progress": 0}


async def test_an_unclaimed_overdue_case_escalates_once_with_an_honest_new_time(world: World) -> None:
    ticket, _ = await world.tickets.create(f"e-{uuid.uuid4().hex}", channel="rest", sender_id="e1", type="product")
    case = HandoffCase(
        sender_id="e1",
        channel="rest",
        customer_id="rest:e1",
        reason="urgency",
        queue="emergency",
        priority="P1",
        deadline=T0 + 900,
        ticket_id=ticket.id,
    )
    await world.handoffs.enqueue(case, "e1:1")
    assert await world.worker().once(T0 + 899) == {"escalated": 0, "progress": 0}

    now = T0 + 901
    runs = await asyncio.gather(world.worker().once(now), world.worker().once(now))

    assert sum(r["escalated"] for r in runs) == 1
    [(sender, text)] = world.outbox.sent
    assert sender == "e1" and "升级" in text and "客服主管" in text
    assert world.outbox.authors == ["timer:escalation"]  # it admits a promise broken, keeps none
    assert format_deadline(now + 30 * 60, now=now) in text
    escalated = await world.handoffs.get("e1")
    assert escalated is not None and (escalated.queue, escalated.escalated, escalated.deadline) == (
        "supervisor",
        True,
        now + 1800,
    )
    for later in (now + 1, now + 3600, now + DAY):  # later rounds, past the supervisor's own deadline too
        assert (await world.worker().once(later))["escalated"] == 0
    assert len([t for _, t in world.outbox.sent if "升级" in t]) == 1
    stored = await world.tickets.get(ticket.id)
    assert stored is not None and stored.queue == "supervisor"
    assert sum("升级" in h["note"] for h in stored.history) == 1


async def test_the_loop_survives_a_failed_round_and_stops_when_cancelled(world: World) -> None:
    rounds: list[str] = []

    async def job() -> FollowUp:
        rounds.append("round")
        if len(rounds) == 1:
            raise RuntimeError("redis went away")
        return world.worker()

    task = asyncio.ensure_future(run_forever(job, 0.01))
    while len(rounds) < 3:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(rounds) >= 3
