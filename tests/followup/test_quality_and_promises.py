"""The follow-up timer's house-rule check and promise ledger rounds, on the real Redis, by the test's clock.

Conversations are written the way the tracker store writes them (``P:events:<sender>`` and the
``P:active`` index, bot/rasa_ext/tracker_store.py); each round is ``FollowUp.once(now)``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.followup.conversations import Conversations
from bot.followup.jobs import PROMISE_WARNING_SECONDS, QUIET_SECONDS, FollowUp
from bot.store.handoff import HandoffQueue
from bot.store.promises import PromiseLedger
from bot.store.quality import QualityStore
from bot.store.tickets import TicketStore
from tests.support.followup import Outbox, render

T0 = 1_795_000_000.0  # 2026-11-18 19:06:40 Asia/Shanghai
MINUTE = 60.0


class World:
    def __init__(self, client: Redis) -> None:
        prefix = uuid.uuid4().hex[:10]
        self.client = client
        self.tickets = TicketStore(client, prefix=f"t{prefix}", clock=lambda: T0)
        self.handoffs = HandoffQueue(client, prefix=f"h{prefix}", clock=lambda: T0)
        self.conversations = Conversations(client, prefix=f"c{prefix}")
        self.quality = QualityStore(client, prefix=f"q{prefix}")
        self.ledger = PromiseLedger(client, prefix=f"p{prefix}")

    def worker(self) -> FollowUp:
        return FollowUp(
            self.tickets,
            self.handoffs,
            self.client,
            render,
            Outbox(),
            conversations=self.conversations,
            quality=self.quality,
            promises=self.ledger,
        )

    async def say(self, sender: str, events: list[dict[str, Any]]) -> None:
        """Appends events like the tracker store does, and marks the conversation active at the last one."""
        await self.client.rpush(
            self.conversations.events_key(sender), *(json.dumps(e, ensure_ascii=False) for e in events)
        )
        await self.client.zadd(self.conversations.active_key, {sender: events[-1]["timestamp"]})


def user(text: str, at: float, intent: str = "complaint_product") -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "timestamp": at,
        "parse_data": {"intent": {"name": intent, "confidence": 0.9}},
    }


def bot(text: str, at: float, author: str = "bot") -> dict[str, Any]:
    return {"event": "bot", "text": text, "timestamp": at, "metadata": {"author": author}}


@pytest.fixture()
def world(client: Redis) -> World:
    return World(client)


async def test_a_conversation_is_checked_once_it_goes_quiet_and_again_after_it_resumes(world: World) -> None:
    await world.say(
        "q1",
        [
            user("买的杯子裂了", T0),
            bot("抱歉让您遇到这种情况。我理解的是：杯子裂了，是商品本身的问题，对吗？", T0 + 1),
            user("对", T0 + 10, intent="affirm"),
            bot("非常抱歉。请问您的订单号是多少？", T0 + 11),
        ],
    )
    assert (await world.worker().once(T0 + 11 + QUIET_SECONDS - 1))["checked"] == 0  # still going on
    assert (await world.worker().once(T0 + 11 + QUIET_SECONDS))["checked"] == 1
    report = await world.quality.get("q1")
    assert report is not None and "apology_once" in report.failed
    assert (await world.worker().once(T0 + 11 + 2 * QUIET_SECONDS))["checked"] == 0  # unchanged since

    later = T0 + 3 * QUIET_SECONDS
    await world.say("q1", [user("3920184756210384", later, intent="inform"), bot("好的，已记录。", later + 1)])
    assert (await world.worker().once(later + 1 + QUIET_SECONDS))["checked"] == 1
    assert (await world.quality.checked_activity("q1")) == later + 1


async def test_a_promise_is_recorded_warned_before_its_time_and_broken_after(world: World) -> None:
    ticket, _ = await world.tickets.create(f"p-{uuid.uuid4().hex}", channel="rest", sender_id="p1", type="product")
    said = T0  # 19:06 Shanghai: "今天21:30前" is more than two hours away
    await world.say(
        "p1", [user("转人工", said - 5, intent="request_human"), bot("已为您转接客服专员，今天21:30前会联系您。", said)]
    )
    first = await world.worker().once(said + 1)
    assert first["promises"] == 1 and first["alerted"] == 0
    [promise] = await world.ledger.for_sender("p1")
    assert promise.ticket_id == ticket.id and promise.kind == "contact" and promise.status == "pending"

    assert (await world.worker().once(promise.due - PROMISE_WARNING_SECONDS + 1))["alerted"] == 0  # too early for 2.4 h
    warned = await world.worker().once(promise.due - 30 * MINUTE)  # within the last quarter
    assert warned["alerted"] == 1 and warned["promises"] == 0
    assert (await world.worker().once(promise.due - 60))["alerted"] == 0  # warned once
    broken = await world.worker().once(promise.due + 1)
    assert broken["broken"] == 1
    stored = await world.tickets.get(ticket.id)
    assert stored is not None
    notes = [h["note"] for h in stored.history]
    assert any(n.startswith("承诺即将到期") for n in notes) and any(n.startswith("承诺未按时兑现") for n in notes)
    assert (await world.ledger.get(promise.id)).status == "broken"


def test_a_short_promise_is_warned_about_late_in_its_time_a_long_one_two_hours_before() -> None:
    from bot.followup.jobs import about_to_break

    made = T0
    assert not about_to_break(made + 2 * 3600, made, made + 60)  # a 2-hour handoff promise is not amber at once
    assert about_to_break(made + 2 * 3600, made, made + 90 * MINUTE)  # its last half hour
    assert not about_to_break(made + 24 * 3600, made, made + 21 * 3600)
    assert about_to_break(made + 24 * 3600, made, made + 22 * 3600)  # 2 hours before a day's promise
    assert about_to_break(made + 10 * MINUTE, made, made + 5 * MINUTE)  # never later than 5 minutes before


async def test_the_timers_busier_than_expected_message_keeps_no_promise(world: World) -> None:
    await world.tickets.create(f"p-{uuid.uuid4().hex}", channel="rest", sender_id="p3", type="product")
    await world.say("p3", [bot("已为您转接客服专员，今天21:30前会联系您。", T0)])
    await world.worker().once(T0 + 1)
    await world.say(
        "p3", [bot("抱歉，客服比预计的忙，已升级给客服主管，今天22:00前联系您。", T0 + 60, author="timer:escalation")]
    )
    await world.worker().once(T0 + 61)
    first = sorted(await world.ledger.for_sender("p3"), key=lambda p: p.made_at)[0]
    assert first.status == "pending"


async def test_an_agents_answer_in_time_keeps_the_contact_promise(world: World) -> None:
    await world.tickets.create(f"p-{uuid.uuid4().hex}", channel="rest", sender_id="p2", type="product")
    await world.say("p2", [bot("已为您转接客服专员，今天21:30前会联系您。", T0)])
    await world.worker().once(T0 + 1)
    await world.say("p2", [bot("您好，我是客服小王，现在为您处理。", T0 + 20 * MINUTE, author="agent:小王")])
    assert (await world.worker().once(T0 + 21 * MINUTE))["broken"] == 0
    [promise] = await world.ledger.for_sender("p2")
    assert promise.status == "kept" and promise.kept_by == "agent:小王"
    assert (await world.worker().once(promise.due + 1))["broken"] == 0
