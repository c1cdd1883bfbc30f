"""Customer turns through the inbox (bot/services/turns.py, bot/store/inbox.py) on a real Redis.

``process`` is a recording coroutine standing in for Rasa's ``on_new_message`` (the real bot runs
through the same code in tests/test_bursts.py and every channel test); the inbox, the turn locks
and the sweep are the real ones.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from types import SimpleNamespace
from typing import Any, Dict, List, Optional

import pytest
import pytest_asyncio
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered

from bot.language.normalize import join_burst
from bot.services import turns
from bot.store.inbox import Inbox, InboxEntry


class Recorder:
    """Runs a turn like Rasa would: records the message in the tracker and answers once."""

    def __init__(self, tracker_store: InMemoryTrackerStore, delay: float = 0.0) -> None:
        self.tracker_store = tracker_store
        self.delay = delay
        self.messages: List[UserMessage] = []
        self.running = 0
        self.most_at_once = 0

    async def __call__(self, message: UserMessage) -> None:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            self.messages.append(message)
            if self.delay:
                await asyncio.sleep(self.delay)
            tracker = await self.tracker_store.get_or_create_tracker(message.sender_id)
            tracker.update(UserUttered(message.text, metadata=message.metadata, input_channel=message.input_channel))
            await self.tracker_store.save(tracker)
            await message.output_channel.send_text_message(message.sender_id, f"回复：{message.text}")
        finally:
            self.running -= 1


class FakeAgent:
    """What turns.py reads of the agent: readiness, the tracker store, ``handle_message``."""

    def __init__(self, recorder: Recorder) -> None:
        self.tracker_store = recorder.tracker_store
        self.handle_message = recorder

    def is_ready(self) -> bool:
        return True


class OutputRecorder:
    def __init__(self) -> None:
        self.sent: List[tuple[str, Dict[str, Any]]] = []

    def name(self) -> str:
        return "rest"

    def get_output_channel(self) -> Any:
        recorder = self

        class Output(CollectingOutputChannel):
            async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
                recorder.sent.append((recipient_id, message))

        return Output()


@pytest_asyncio.fixture(loop_scope="function")
async def inbox(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    import redis.asyncio as aioredis

    for key, value in redis_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(turns, "_turn_locks", None)
    client = aioredis.Redis(host=redis_server.host, port=redis_server.port, decode_responses=True)
    yield Inbox(client, prefix="inbox-test-" + uuid.uuid4().hex[:8])
    await client.close()
    await client.connection_pool.disconnect()


def settings(monkeypatch: pytest.MonkeyPatch, **values: float) -> None:
    monkeypatch.setattr(turns, "_settings", turns.BurstSettings(**values))


def message(sender: str, text: str, **metadata: Any) -> UserMessage:
    return UserMessage(text, None, sender, input_channel="rest", metadata=metadata or None)


# ---- joining the lines -----------------------------------------------------------------------


def test_lines_are_joined_into_one_sentence() -> None:
    assert join_burst(["你好", "我买的电饭煲", "煮饭夹生"]) == "你好，我买的电饭煲，煮饭夹生"
    assert join_burst(["快递三天没到！", "订单号3920184756210384"]) == "快递三天没到！订单号3920184756210384"
    assert join_burst(["/empty_message", "杯子碎了", "  "]) == "杯子碎了"
    assert join_burst(["/empty_message"]) == "/empty_message"
    assert join_burst(["杯子碎了"]) == "杯子碎了"


def test_settings_refuse_nonsense(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("BURST_WINDOW_SECONDS", "-1")
    with pytest.raises(ValidationError):
        turns.BurstSettings()
    monkeypatch.setenv("BURST_WINDOW_SECONDS", "abc")
    with pytest.raises(ValidationError):
        turns.BurstSettings()
    monkeypatch.setenv("BURST_WINDOW_SECONDS", "0.8")
    assert turns.BurstSettings().window_ms == 800


# ---- bursts ------------------------------------------------------------------------------------


async def test_a_burst_is_one_turn_answered_on_its_last_line(inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    settings(monkeypatch, window_seconds=0.6, max_seconds=6)
    recorder = Recorder(InMemoryTrackerStore(Domain.empty()))
    sender = "c-" + uuid.uuid4().hex[:8]

    async def send(text: str, after: float) -> turns.TurnOutcome:
        await asyncio.sleep(after)
        return await turns.handle(None, recorder, message(sender, text), inbox)

    started = time.monotonic()
    outcomes = await asyncio.gather(send("你好", 0), send("我买的电饭煲", 0.2), send("煮饭夹生", 0.4))
    assert [m.text for m in recorder.messages] == ["你好，我买的电饭煲，煮饭夹生"]
    assert [o.merged for o in outcomes] == [True, True, False]
    assert outcomes[2].replies == [{"recipient_id": sender, "text": "回复：你好，我买的电饭煲，煮饭夹生"}]
    assert outcomes[2].texts == ["你好", "我买的电饭煲", "煮饭夹生"]
    assert time.monotonic() - started >= 0.4 + 0.6  # quiet for the window after the last line
    # the next message after the window is a turn of its own
    later = await turns.handle(None, recorder, message(sender, "能退吗"), inbox)
    assert not later.merged and recorder.messages[-1].text == "能退吗"


async def test_a_customer_who_keeps_typing_is_answered_after_the_cap(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings(monkeypatch, window_seconds=0.5, max_seconds=1.0)
    recorder = Recorder(InMemoryTrackerStore(Domain.empty()))
    sender = "c-" + uuid.uuid4().hex[:8]

    async def send(i: int) -> turns.TurnOutcome:
        await asyncio.sleep(i * 0.3)
        return await turns.handle(None, recorder, message(sender, f"第{i}句"), inbox)

    await asyncio.gather(*(send(i) for i in range(8)))  # 2.1 s of lines 0.3 s apart
    texts = [m.text for m in recorder.messages]
    assert len(texts) >= 2, texts  # the cap cut the burst
    assert "，".join(texts) == "，".join(f"第{i}句" for i in range(8))  # every line once, in order


async def test_one_customer_one_turn_at_a_time_in_order_others_in_parallel(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings(monkeypatch, window_seconds=0, max_seconds=0)
    recorder = Recorder(InMemoryTrackerStore(Domain.empty()), delay=0.1)
    sender, other = "c-" + uuid.uuid4().hex[:8], "c-" + uuid.uuid4().hex[:8]

    async def send(who: str, i: int) -> turns.TurnOutcome:
        await asyncio.sleep(i * 0.02)
        return await turns.handle(None, recorder, message(who, str(i)), inbox)

    started = time.monotonic()
    await asyncio.gather(*(send(sender, i) for i in range(10)), *(send(other, i) for i in range(10)))
    for who in (sender, other):
        turns_of = [m.text for m in recorder.messages if m.sender_id == who]
        assert "，".join(turns_of).split("，") == [str(i) for i in range(10)]  # all, once, in order
        assert len(turns_of) < 10  # lines that came in while a turn ran were read together
    assert recorder.most_at_once == 2  # one turn per customer at a time, both customers at once
    assert time.monotonic() - started < 10 * 0.1 * 2


async def test_a_crashed_turn_is_reported_and_not_kept(inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    settings(monkeypatch, window_seconds=0)

    async def boom(message: UserMessage) -> None:
        raise RuntimeError("tracker store down")

    sender = "c-" + uuid.uuid4().hex[:8]
    outcome = await turns.handle(None, boom, message(sender, "杯子碎了"), inbox)
    assert outcome.crashed and not outcome.merged
    assert await inbox.client.hlen(inbox._shared[1]) == 0  # finished: the channel told the customer


async def test_redis_down_is_raised_to_the_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    import redis.asyncio as aioredis
    import redis.exceptions

    settings(monkeypatch, window_seconds=0)
    dead = Inbox(aioredis.Redis(port=1, socket_connect_timeout=0.5, decode_responses=True))
    recorder = Recorder(InMemoryTrackerStore(Domain.empty()))
    with pytest.raises(redis.exceptions.ConnectionError):
        await turns.handle(None, recorder, message("c-x", "杯子碎了"), dead)
    assert recorder.messages == []


# ---- a process that died ---------------------------------------------------------------------


def app_with(recorder: Recorder, output: OutputRecorder) -> Any:
    return SimpleNamespace(ctx=SimpleNamespace(agent=FakeAgent(recorder), input_channels=[output]))


async def test_an_inbox_whose_waiter_died_is_swept(inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    settings(monkeypatch, window_seconds=0.2, sweep_grace_seconds=0.3)
    recorder, output = Recorder(InMemoryTrackerStore(Domain.empty())), OutputRecorder()
    sender = "c-" + uuid.uuid4().hex[:8]
    # what a worker leaves behind when it dies while waiting for the quiet window
    await inbox.push(sender, InboxEntry("快递三天没到", "rest", {}, "m1"), 200, 6000)
    await inbox.push(sender, InboxEntry("订单号3920184756210384", "rest", {}, "m2"), 200, 6000)
    app = app_with(recorder, output)
    assert await turns.sweep(app, inbox) == 0  # not overdue yet: its waiter may still be alive
    await asyncio.sleep(0.6)
    assert await turns.sweep(app, inbox) == 1
    assert [m.text for m in recorder.messages] == ["快递三天没到，订单号3920184756210384"]
    assert recorder.messages[0].metadata["message_ids"] == ["m1", "m2"]
    assert output.sent == [(sender, {"text": "回复：快递三天没到，订单号3920184756210384"})]
    assert await turns.sweep(app, inbox) == 0  # once


async def test_a_turn_whose_process_died_is_run_again_once(inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    settings(monkeypatch, window_seconds=0)
    monkeypatch.setattr(turns, "LEASE_SECONDS", 0.3)
    recorder, output = Recorder(InMemoryTrackerStore(Domain.empty())), OutputRecorder()
    app = app_with(recorder, output)
    lost, done = "c-" + uuid.uuid4().hex[:8], "c-" + uuid.uuid4().hex[:8]
    # taken, then the process died before the turn was recorded ...
    await inbox.push(lost, InboxEntry("杯子碎了", "rest"), 0, 0)
    await inbox.take(lost, 300)
    # ... and taken, recorded, but the process died before closing the batch
    await inbox.push(done, InboxEntry("谢谢", "rest"), 0, 0)
    batch = await inbox.take(done, 300)
    assert batch is not None
    recorded = await recorder.tracker_store.get_or_create_tracker(done)
    recorded.update(UserUttered("谢谢", metadata={"turn_id": batch.batch_id}))
    await recorder.tracker_store.save(recorded)
    await asyncio.sleep(0.5)
    assert await turns.sweep(app, inbox) == 1
    assert [(m.sender_id, m.text) for m in recorder.messages] == [(lost, "杯子碎了")]
    assert [who for who, _ in output.sent] == [lost]  # the recorded one is not answered twice
    await asyncio.sleep(0.5)
    assert await turns.sweep(app, inbox) == 0
    assert await inbox.client.zcard(inbox._shared[2]) == 0


async def test_entries_keep_platform_metadata_and_images(inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    settings(monkeypatch, window_seconds=0.3)
    recorder = Recorder(InMemoryTrackerStore(Domain.empty()))
    sender = "wechat:o" + uuid.uuid4().hex[:8]

    def wechat(text: str, msg_id: str, image: Optional[Dict[str, str]] = None) -> UserMessage:
        metadata: Dict[str, Any] = {"channel": "wechat", "message_id": msg_id}
        if image:
            metadata["image"] = image
        return UserMessage(text, None, sender, input_channel="wechat", metadata=metadata, message_id=msg_id)

    await asyncio.gather(
        turns.handle(None, recorder, wechat("[图片]", "1", {"media_id": "a"}), inbox),
        turns.handle(None, recorder, wechat("[图片]", "2", {"media_id": "b"}), inbox),
        turns.handle(None, recorder, wechat("收到就是这样的", "3"), inbox),
    )
    [turn] = recorder.messages
    assert turn.message_id == "3" and turn.input_channel == "wechat"
    assert turn.metadata["image"] == {"media_id": "b"}
    assert turn.metadata["images"] == [{"media_id": "a"}, {"media_id": "b"}]
    assert turn.metadata["message_ids"] == ["1", "2", "3"] and turn.metadata["burst"] == 3


async def test_a_slow_turn_keeps_its_lease_and_is_not_run_twice(inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """An overloaded server's turn can outlast the lease: it is renewed while the turn runs."""
    settings(monkeypatch, window_seconds=0)
    monkeypatch.setattr(turns, "LEASE_SECONDS", 0.6)
    recorder, output = Recorder(InMemoryTrackerStore(Domain.empty()), delay=1.5), OutputRecorder()
    app = app_with(recorder, output)
    sender = "c-" + uuid.uuid4().hex[:8]
    turn = asyncio.ensure_future(turns.handle(None, recorder, message(sender, "杯子碎了"), inbox))
    swept = 0
    for _ in range(5):
        await asyncio.sleep(0.3)
        swept += await turns.sweep(app, inbox)
    outcome = await turn
    assert swept == 0 and not outcome.merged
    assert [m.text for m in recorder.messages] == ["杯子碎了"] and output.sent == []
    assert await inbox.client.zcard(inbox._shared[2]) == 0  # finished, nothing left to sweep


async def test_a_turn_longer_than_the_lock_lifetime_keeps_the_customer_waiting(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The turn lock's ticket would expire after its lifetime and let the next turn run beside it."""
    settings(monkeypatch, window_seconds=0)
    monkeypatch.setattr(turns, "TURN_LOCK_LIFETIME", 1.5)  # a waiting ticket is renewed at each 1 s poll
    monkeypatch.setattr(turns, "LEASE_SECONDS", 0.6)
    recorder = Recorder(InMemoryTrackerStore(Domain.empty()), delay=3.5)
    sender = "c-" + uuid.uuid4().hex[:8]

    async def later(text: str) -> turns.TurnOutcome:
        await asyncio.sleep(0.3)
        return await turns.handle(None, recorder, message(sender, text), inbox)

    await asyncio.gather(
        turns.handle(None, recorder, message(sender, "杯子碎了"), inbox), later("订单号3920184756210384")
    )
    assert recorder.most_at_once == 1
    assert [m.text for m in recorder.messages] == ["杯子碎了", "订单号3920184756210384"]


async def test_the_sweep_checks_again_under_the_lock(inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch claimed by the sweep but finished by its own (slow, live) process while the sweep
    waited for the turn lock is not run a second time."""
    settings(monkeypatch, window_seconds=0)
    monkeypatch.setattr(turns, "LEASE_SECONDS", 0.3)
    recorder, output = Recorder(InMemoryTrackerStore(Domain.empty())), OutputRecorder()
    app = app_with(recorder, output)
    sender = "c-" + uuid.uuid4().hex[:8]
    await inbox.push(sender, InboxEntry("杯子碎了", "rest"), 0, 0)
    batch = await inbox.take(sender, 300)
    assert batch is not None
    async with turns.turn_locks().lock(sender):  # its own process holds the turn, renewals lapsed
        await asyncio.sleep(0.5)
        sweeping = asyncio.ensure_future(turns.sweep(app, inbox))
        await asyncio.sleep(0.5)  # the sweep has claimed the batch and waits for the lock
        tracker = await recorder.tracker_store.get_or_create_tracker(sender)
        tracker.update(UserUttered("杯子碎了", metadata={"turn_id": batch.batch_id}))
        await recorder.tracker_store.save(tracker)
        await inbox.finish(batch.batch_id)
    assert await sweeping == 0
    assert recorder.messages == [] and output.sent == []
