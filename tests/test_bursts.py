"""A customer who types a complaint as three quick lines gets one answer, from the real bot.

The stack here runs with the product's default quiet window (``BURST_WINDOW_SECONDS`` unset:
1.5 s; the rest of the suite runs with 0, see tests/conftest.py), on the test Redis. Also: a
message whose waiting process died is answered by the inbox sweep (bot/services/turns.py), and
an agent's reply sent through one server reaches a widget customer connected to another one
(socket.io rooms shared through Redis).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from bot.store.inbox import Inbox, InboxEntry
from tests.support.bot import BotClient, start_bot
from tests.support.concurrency import spaced_calls
from tools.devstack import RedisSettings, Stack

APOLOGY = re.compile(r"抱歉|对不起|不好意思")


@pytest.fixture(scope="module")
def patient_bot(
    model_path: Path, redis_server: RedisSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotClient]:
    """The real service with the default burst window and a short sweep grace."""
    logs = tmp_path_factory.mktemp("bursts")
    stack = Stack()
    try:
        yield start_bot(
            stack, model_path, redis_server, logs, BURST_WINDOW_SECONDS="1.5", BURST_SWEEP_GRACE_SECONDS="2"
        )
    finally:
        stack.stop()


def send_lines(bot: BotClient, sender: str, lines: list[str], spacing: float) -> list[tuple[int, Any]]:
    calls = [lambda line=line: bot.send(sender, line) for line in lines]
    return spaced_calls(calls, spacing, failed=lambda error: (-1, repr(error)), timeout=60)


def user_turns(bot: BotClient, sender: str) -> list[dict[str, Any]]:
    status, tracker = bot.get(f"/conversations/{sender}/tracker")
    assert status == 200
    return [e for e in tracker["events"] if e["event"] == "user"]


def test_three_quick_lines_are_one_turn_with_one_answer(patient_bot: BotClient) -> None:
    sender = f"burst-{uuid.uuid4().hex[:10]}"
    lines = ["你好", "我买的电饭煲", "煮饭夹生，才用了两次"]
    results = send_lines(patient_bot, sender, lines, spacing=0.4)
    assert [status for status, _ in results] == [200, 200, 200]
    assert results[0][1] == [] and results[1][1] == []  # read together with the last line ...
    answer = [r.get("text", "") for r in results[2][1]]  # ... whose request gets the answer
    assert answer, results
    assert sum(len(APOLOGY.findall(text)) for text in answer) <= 1, answer
    [turn] = user_turns(patient_bot, sender)
    assert turn["text"] == "你好，我买的电饭煲，煮饭夹生，才用了两次"
    assert turn["parse_data"]["intent"]["name"] == "complaint_product", turn["parse_data"]["intent"]
    assert turn["metadata"]["burst"] == 3

    # a line after a pause is a turn of its own
    time.sleep(0.5)
    status, replies = patient_bot.send(sender, "订单号3920184756210384")
    assert status == 200 and replies
    assert [t["text"] for t in user_turns(patient_bot, sender)][-1] == "订单号3920184756210384"


def test_a_message_left_by_a_dead_worker_is_answered_by_the_sweep(
    patient_bot: BotClient, redis_server: RedisSettings
) -> None:
    """A worker accepted the message into the inbox and died before its turn: another server answers it."""
    import redis.asyncio as aioredis

    sender = f"orphan-{uuid.uuid4().hex[:10]}"

    async def leave_behind() -> None:
        client = aioredis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=True)
        try:
            await Inbox(client).push(sender, InboxEntry("快递三天没到，订单号3920184756210384", "rest"), 1500, 6000)
        finally:
            await client.close()

    asyncio.run(leave_behind())
    deadline = time.monotonic() + 30
    replies: list[Any] = []
    while time.monotonic() < deadline and not replies:
        time.sleep(1)
        status, replies = patient_bot.get(f"/webhooks/rest/outbox?sender={sender}", token=False)
        assert status == 200
    assert replies, "the sweep answered the message into the REST outbox"
    [turn] = user_turns(patient_bot, sender)
    assert turn["text"] == "快递三天没到，订单号3920184756210384"
    assert turn["parse_data"]["intent"]["name"] == "complaint_logistics"


def test_an_agent_reply_sent_by_another_server_reaches_the_widget(bot: BotClient, patient_bot: BotClient) -> None:
    """The browser is connected to ``bot``; the agent's console talks to ``patient_bot`` (another replica)."""
    import socketio

    from bot.channels.webchat import sender_id_for

    received: list[dict[str, Any]] = []
    confirmed: list[str] = []
    client = socketio.Client(reconnection=False)
    client.on("bot_uttered", lambda data: received.append(data))
    client.on("session_confirm", lambda sid: confirmed.append(sid))
    client.connect(bot.base, socketio_path="/socket.io", transports=["polling"], wait_timeout=10)
    try:
        client.emit("session_request", {})
        wait_for(lambda: confirmed, "session_confirm")
        client.emit("user_uttered", {"message": "快递三天没到"})
        wait_for(lambda: received, "the bot's answer")
        before = len(received)
        status, body = patient_bot.post(
            f"/api/conversations/{sender_id_for(confirmed[0])}/messages?token={patient_bot.token}",
            {"agent": "小王", "text": "您好，我是客服小王，马上帮您查物流"},
        )
        assert status == 200 and body == {"delivered": True, "channel": "webchat"}, body
        wait_for(lambda: len(received) > before, "the agent's reply")
        assert received[before]["text"] == "您好，我是客服小王，马上帮您查物流"
    finally:
        client.eio.disconnect(abort=True)


def wait_for(condition: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what}"
        time.sleep(0.05)
