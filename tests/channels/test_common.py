"""What every connector shares (bot/channels/common.py): text escaping and ordered background turns."""

from __future__ import annotations

import asyncio
from typing import List

from bot.channels.common import EMPTY_MESSAGE_INTENT, OrderedTasks, escape_user_text


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
