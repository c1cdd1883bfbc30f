"""The satisfaction question sent by the follow-up timer within 24 hours of resolution (SPEC.md 7).

Driven by the test's clock on the real Redis; the question itself leaves the server through the
injected ``ask_satisfaction`` (the network edge: in the server it triggers ``EXTERNAL_resolved``
on the customer's channel), which records who was asked and can say "busy".
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.asyncio import Redis

from bot.followup import satisfaction
from bot.followup.jobs import FollowUp
from bot.store.handoff import HandoffQueue
from bot.store.tickets import TicketStore
from tests.support.followup import Outbox, render

T0 = 1_795_000_000.0
HOUR = 3600.0


class Asker:
    """Records the conversations asked; ``busy`` ones answer False (paused, a form running)."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.busy: set[str] = set()

    async def __call__(self, sender_id: str) -> bool:
        if sender_id in self.busy:
            return False
        self.asked.append(sender_id)
        return True


class World:
    def __init__(self, client: Redis) -> None:
        prefix = uuid.uuid4().hex[:10]
        self.client = client
        self.tickets = TicketStore(client, prefix=f"t{prefix}", clock=lambda: T0)
        self.handoffs = HandoffQueue(client, prefix=f"h{prefix}", clock=lambda: T0)
        self.asker = Asker()
        self.survey = satisfaction.Survey(client, self.tickets.prefix)

    def worker(self) -> FollowUp:
        return FollowUp(self.tickets, self.handoffs, self.client, render, Outbox(), self.asker)

    async def resolved_ticket(self, sender: str, at: float = T0) -> str:
        ticket, _ = await self.tickets.create(f"s-{uuid.uuid4().hex}", channel="rest", sender_id=sender, type="product")
        await self.tickets.update(ticket.id, actor="小王", note="已办结", status="resolved")
        await self.survey.resolved(ticket.id, at)
        return ticket.id


@pytest.fixture()
def world(client: Redis) -> World:
    return World(client)


async def test_a_resolved_ticket_is_asked_once_by_the_next_round(world: World) -> None:
    ticket_id = await world.resolved_ticket("s1")
    assert (await world.worker().once(T0 + 60))["satisfaction"] == 1
    assert world.asker.asked == ["s1"]
    assert (await world.worker().once(T0 + 120))["satisfaction"] == 0
    assert world.asker.asked == ["s1"]
    ticket = await world.tickets.get(ticket_id)
    assert ticket is not None and ticket.history[-1]["note"] == "已发送满意度调查"


async def test_a_busy_conversation_is_asked_when_it_is_free_again(world: World) -> None:
    await world.resolved_ticket("s2")
    world.asker.busy.add("s2")
    assert (await world.worker().once(T0 + 60))["satisfaction"] == 0
    assert (await world.worker().once(T0 + 2 * HOUR))["satisfaction"] == 0
    world.asker.busy.clear()
    assert (await world.worker().once(T0 + 3 * HOUR))["satisfaction"] == 1
    assert world.asker.asked == ["s2"]


async def test_past_24_hours_nobody_is_asked_and_the_miss_is_counted(world: World) -> None:
    await world.resolved_ticket("s3")
    world.asker.busy.add("s3")
    await world.worker().once(T0 + 23 * HOUR)
    world.asker.busy.clear()
    assert (await world.worker().once(T0 + 24 * HOUR + 1))["satisfaction"] == 0
    assert world.asker.asked == [] and await world.survey.missed() == 1


async def test_a_ticket_already_scored_is_not_asked_again(world: World) -> None:
    ticket_id = await world.resolved_ticket("s4")
    await world.tickets.set_satisfaction(ticket_id, 5, actor="customer")
    assert (await world.worker().once(T0 + 60))["satisfaction"] == 0
    assert world.asker.asked == [] and await world.survey.due(T0 + 60) == []


async def test_an_agents_resolve_that_asked_at_once_is_not_asked_twice(world: World) -> None:
    ticket_id = await world.resolved_ticket("s5")
    assert await world.survey.claim(ticket_id)  # the agent's resolve route asked right away
    await world.survey.forget(ticket_id)
    assert (await world.worker().once(T0 + 60))["satisfaction"] == 0 and world.asker.asked == []


async def test_two_workers_ask_once(world: World) -> None:
    await world.resolved_ticket("s6")
    rounds = await asyncio.gather(world.worker().once(T0 + 60), world.worker().once(T0 + 60))
    assert sum(r["satisfaction"] for r in rounds) == 1 and world.asker.asked == ["s6"]
