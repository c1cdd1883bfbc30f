"""What every connector shares (bot/channels/common.py): text escaping and ordered background turns."""

from __future__ import annotations

import asyncio
from typing import List

import pytest

from bot.channels import taobao, webchat, wechat
from bot.channels.common import EMPTY_MESSAGE_INTENT, OrderedTasks, escape_user_text
from bot.services import delivery

CHANNEL_RESPONSES = sorted(
    {
        *wechat.connector.RESPONSES,
        *taobao.connector.RESPONSES,
        *webchat.RESPONSES,
        "utter_system_error",
        "utter_paused_notice",
    }
)


def test_escape_user_text() -> None:
    assert escape_user_text("") == EMPTY_MESSAGE_INTENT
    assert escape_user_text(" \n\t　") == EMPTY_MESSAGE_INTENT
    assert escape_user_text("/restart") == "／restart"
    assert escape_user_text("  /restart") == "／restart"
    assert escape_user_text("快递没到 /急") == "快递没到 /急"


async def test_one_key_runs_in_arrival_order_other_keys_concurrently() -> None:
    tasks = OrderedTasks("test")
    log: List[str] = []

    def turn(name: str, seconds: float):  # type: ignore[no-untyped-def]
        async def work() -> None:
            log.append(f"start {name}")
            await asyncio.sleep(seconds)
            log.append(f"end {name}")

        return work

    tasks.spawn("a", turn("a1", 0.3))
    tasks.spawn("a", turn("a2", 0.0))
    tasks.spawn("b", turn("b1", 0.0))
    assert tasks.pending == 3
    await tasks.drain(5)
    assert tasks.pending == 0
    assert log.index("end a1") < log.index("start a2")  # a2 waited for a1
    assert log.index("end b1") < log.index("end a1")  # b did not wait for a


async def test_a_failing_turn_does_not_stop_the_next_one() -> None:
    tasks = OrderedTasks("test")
    done: List[str] = []

    async def boom() -> None:
        raise RuntimeError("boom")

    async def fine() -> None:
        done.append("fine")

    tasks.spawn("a", boom)
    tasks.spawn("a", fine)
    await tasks.drain(5)
    assert done == ["fine"]


async def test_drain_cancels_what_is_left_after_the_timeout() -> None:
    tasks = OrderedTasks("test")
    cancelled: List[str] = []

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append("slow")
            raise

    task = tasks.spawn("a", slow)
    await asyncio.sleep(0.05)
    await tasks.drain(timeout=0.1)
    assert task.cancelled() and cancelled == ["slow"] and tasks.pending == 0


@pytest.mark.parametrize("name", CHANNEL_RESPONSES)
def test_every_reply_a_channel_sends_by_itself_is_in_the_domain(name: str) -> None:
    """The channels hold response names only; the text is domain.yml's (no Python copy to drift)."""
    from rasa.shared.core.domain import Domain

    domain = Domain.load(str(delivery.DOMAIN_FILE))
    assert name in domain.responses, f"domain.yml lacks {name}, which a channel sends"
    assert delivery.domain_response(name)["text"] == domain.responses[name][0]["text"]


def test_a_missing_response_is_an_error_not_a_silent_reply() -> None:
    with pytest.raises(LookupError, match="utter_no_such_response"):
        delivery.domain_response("utter_no_such_response")


async def test_fixed_reply_falls_back_to_the_domain_when_the_conversation_cannot_be_read() -> None:
    class BrokenStore:
        async def retrieve(self, sender_id: str) -> None:
            raise ConnectionError("redis down")

    class Agent:
        tracker_store = BrokenStore()

    expected = delivery.domain_response("utter_describe_image")
    assert await delivery.fixed_reply(Agent(), "utter_describe_image", "taobao:x", "taobao") == expected
    assert await delivery.fixed_reply(None, "utter_describe_image", "taobao:x", "taobao") == expected
    with pytest.raises(LookupError):
        await delivery.fixed_reply(None, "utter_no_such_response", "taobao:x", "taobao")
