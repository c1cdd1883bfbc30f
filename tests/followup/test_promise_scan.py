"""Scanning conversations into the promise ledger (bot/followup/promises.py), on the real Redis.

Every transcript of docs/transcripts is turned into tracker events and scanned: the ledger records
exactly the promises the reader finds in its bot lines (tests/language/test_promises.py), once.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from bot.followup.promises import author_of, scan_conversation
from bot.store.promises import PromiseLedger
from tests.language.test_promises import SAID, TRANSCRIPT_FILES, TRANSCRIPTS, bot_lines
from tools.devstack import RedisSettings

T0 = SAID.timestamp()  # 2026-11-30 10:02:05 in Shanghai, when the transcripts were recorded
HANDOFF = "已为您转接客服专员，今天12:02前会联系您（工单号 TS202611300010）。这期间您发的消息都会转给客服专员。"
OPENED = (
    "已登记，工单号 TS202611300002。\n接下来：我们在24小时内给您重新发一件，运费由我们承担（明天10:02前完成）。\n"
    "明天10:02前我会把进展发给您。"
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def client(redis_server: RedisSettings) -> AsyncIterator[Redis]:
    red = Redis(host=redis_server.host, port=redis_server.port, db=redis_server.db, decode_responses=True)
    yield red
    await red.close()
    await red.connection_pool.disconnect()


@pytest.fixture()
def ledger(client: Redis) -> PromiseLedger:
    return PromiseLedger(client, prefix=f"pf{uuid.uuid4().hex[:10]}", clock=lambda: T0)


def bot(text: str, at: float, author: str | None = None) -> dict[str, Any]:
    return {"event": "bot", "text": text, "timestamp": at, "metadata": {"author": author} if author else {}}


def user(text: str, at: float) -> dict[str, Any]:
    return {"event": "user", "text": text, "timestamp": at, "parse_data": {}}


def no_ticket(at: float) -> str | None:
    return None


def transcript_events(path: Path) -> list[dict[str, Any]]:
    """The transcript as tracker events: a user message, an action and the bot's reply, a second apart."""
    events: list[dict[str, Any]] = []
    for number, line in enumerate(bot_lines(path)):
        at = T0 + number
        events += [user("…", at - 0.5), {"event": "action", "name": "action_x", "timestamp": at - 0.2}, bot(line, at)]
    return events


@pytest.mark.parametrize("path", TRANSCRIPT_FILES, ids=[p.stem for p in TRANSCRIPT_FILES])
async def test_each_transcript_is_recorded_once(ledger: PromiseLedger, path: Path) -> None:
    events = transcript_events(path)
    assert await scan_conversation(ledger, path.stem, events, no_ticket) == len(TRANSCRIPTS[path.stem])
    assert await scan_conversation(ledger, path.stem, events, no_ticket) == 0
    assert await ledger.scan_cursor(path.stem) == len(events)
    stored = await ledger.for_sender(path.stem)
    assert [(p.kind, p.conditional) for p in stored] == [(k, c) for k, _, c in TRANSCRIPTS[path.stem]]
    assert all(p.made_by == "bot" and p.status == "pending" for p in stored)
    # a promise names its ticket, except one made before any ticket existed (the malicious
    # acknowledgement's "24小时内核实" comes before the order number); the timer files it under the
    # conversation's first ticket then
    assert all(p.ticket_id and p.ticket_id.startswith("TS") for p in stored[1:]), stored
    assert not stored or stored[0].ticket_id is None or stored[0].ticket_id.startswith("TS")


async def test_a_crash_before_the_cursor_moved_records_nothing_twice(ledger: PromiseLedger, client: Redis) -> None:
    events = [bot(OPENED, T0)]
    assert await scan_conversation(ledger, "c1", events, no_ticket) == 2
    await client.hdel(ledger.cursor_key, "c1")  # as if the worker died before moving the cursor
    assert await scan_conversation(ledger, "c1", events, no_ticket) == 0
    assert len(await ledger.for_sender("c1")) == 2


async def test_new_events_only(ledger: PromiseLedger) -> None:
    events = [bot(HANDOFF, T0)]
    assert await scan_conversation(ledger, "c1", events, no_ticket) == 1
    events += [user("多久能处理好", T0 + 60), bot(OPENED, T0 + 61)]
    assert await scan_conversation(ledger, "c1", events, no_ticket) == 2
    assert await scan_conversation(ledger, "c1", events[:1], no_ticket) == 0  # a shorter history scans nothing


async def test_an_agent_message_keeps_the_contact_promises_made_before_it(ledger: PromiseLedger) -> None:
    events = [bot(HANDOFF, T0), bot(OPENED, T0 + 1)]
    await scan_conversation(ledger, "c1", events, no_ticket)
    events.append(bot("您好，我是客服小王。退款的事今天下班前给您回电话。", T0 + 600, "agent:wang"))
    assert await scan_conversation(ledger, "c1", events, no_ticket) == 1
    handoff, reship, progress, call = await ledger.for_sender("c1")
    assert (handoff.status, handoff.kept_by, handoff.kept_at) == ("kept", "agent:wang", T0 + 600)
    assert (progress.status, progress.kind) == ("kept", "contact")  # the customer heard from us
    assert (reship.status, reship.kind) == ("pending", "action")  # the parcel is not sent by talking
    assert (call.status, call.made_by, call.kind) == ("pending", "agent:wang", "contact")  # not kept by itself
    assert call.text == "退款的事今天下班前给您回电话"


async def test_a_progress_update_by_the_timer_keeps_them_the_bots_own_reply_does_not(ledger: PromiseLedger) -> None:
    events = [bot(HANDOFF, T0), bot("您的消息已转给人工客服，请稍候。", T0 + 30)]
    await scan_conversation(ledger, "c1", events, no_ticket)
    assert [p.status for p in await ledger.for_sender("c1")] == ["pending"]
    events.append(bot("工单 TS202611300010 的进展：处理中。", T0 + 90, "timer"))
    await scan_conversation(ledger, "c1", events, no_ticket)
    assert [(p.status, p.kept_by) for p in await ledger.for_sender("c1")] == [("kept", "timer")]


async def test_a_deadline_said_again_is_the_same_promise(ledger: PromiseLedger) -> None:
    events = [bot(HANDOFF, T0), user("多久能处理好", T0 + 60), bot("客服专员会在今天12:02前联系您，请稍等。", T0 + 61)]
    assert await scan_conversation(ledger, "c1", events, no_ticket) == 1


async def test_the_ticket_named_in_the_message_else_the_conversations(ledger: PromiseLedger) -> None:
    events = [bot(HANDOFF, T0), bot("明天上午十点前给您回电话", T0 + 5, "agent:li"), bot("今晚给您答复", T0 + 9)]
    tickets = {T0 + 5: "TS202611300099"}
    await scan_conversation(ledger, "c1", events, lambda at: tickets.get(at))
    assert [p.ticket_id for p in await ledger.for_sender("c1")] == ["TS202611300010", "TS202611300099", None]
    assert await ledger.for_ticket("TS202611300099") != []


def test_who_wrote_a_message() -> None:
    assert author_of(bot("x", T0)) == "bot" and author_of(bot("x", T0, "agent:wang")) == "agent:wang"
    assert author_of(bot("x", T0, "timer")) == "timer"
    assert author_of(bot("x", T0, "agent:")) == "bot" and author_of({"event": "bot", "metadata": None}) == "bot"


async def test_a_message_without_a_timestamp_counts_from_the_ledgers_clock(ledger: PromiseLedger) -> None:
    await scan_conversation(ledger, "c1", [{"event": "bot", "text": "两小时内给您回复"}], no_ticket)
    (promise,) = await ledger.for_sender("c1")
    assert (promise.made_at, promise.due) == (T0, T0 + 7200)
