"""The HTTP load generator (aiohttp): customers, the REST client, the closed and the open loop."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp

from tools.bench.procstats import cpu_delta, cpu_seconds, cpu_seconds_by_process
from tools.bench.settings import REST_PATH
from tools.bench.stacks import Bot
from tools.bench.stats import latency_summary, schedule


@dataclass
class Sample:
    """One request: latency (s), success, when it finished (``perf_counter``), error kind, replies."""

    latency: float
    ok: bool
    done: float
    error: str = ""
    replies: int = 0


@dataclass
class Conversation:
    """A customer: a sender id working through one script after another."""

    prefix: str
    scripts: list[list[str]]
    index: int = 0
    generation: int = 0
    turn: int = 0

    @property
    def sender(self) -> str:
        """The sender id of the current conversation."""
        return f"{self.prefix}-{self.generation}"

    def next_message(self) -> tuple[str, str]:
        """``(sender, message)`` of the next turn; a finished script starts a new conversation."""
        script = self.scripts[(self.index + self.generation) % len(self.scripts)]
        if self.turn >= len(script):
            self.generation += 1
            self.turn = 0
            script = self.scripts[(self.index + self.generation) % len(self.scripts)]
        message = script[self.turn]
        self.turn += 1
        return self.sender, message


class Client:
    """REST channel and HTTP API calls to one bot over a shared aiohttp session."""

    def __init__(self, session: aiohttp.ClientSession, bot: Bot) -> None:
        self.session = session
        self.bot = bot

    async def turn(self, sender: str, message: str, started: float | None = None) -> Sample:
        """One REST turn; latency from ``started`` (the scheduled ``perf_counter`` time) if given."""
        return await self._post(f"{self.bot.base}{REST_PATH}", {"sender": sender, "message": message}, started)

    async def parse(self, text: str) -> Sample:
        """``POST /model/parse``: the NLU pipeline only, no tracker, no policies, no actions."""
        return await self._post(f"{self.bot.base}/model/parse?token={self.bot.token}", {"text": text}, None)

    async def _post(self, url: str, body: dict[str, str], started: float | None) -> Sample:
        start = time.perf_counter() if started is None else started
        try:
            async with self.session.post(url, json=body) as response:
                payload = await response.read()
                done = time.perf_counter()
                if response.status != 200:
                    return Sample(done - start, False, done, f"HTTP {response.status}")
                decoded = json.loads(payload)
                return Sample(done - start, True, done, replies=len(decoded) if isinstance(decoded, list) else 1)
        except (TimeoutError, aiohttp.ClientError, ValueError) as error:
            done = time.perf_counter()
            return Sample(done - start, False, done, type(error).__name__)


def error_counts(samples: Iterable[Sample]) -> dict[str, int]:
    """Failed requests by kind (e.g. ``{"HTTP 503": 2}``)."""
    return dict(Counter(s.error for s in samples if not s.ok))


async def closed_loop(
    client: Client,
    prefix: str,
    concurrency: int,
    warmup: float,
    duration: float,
    cpu_groups: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Saturation: ``concurrency`` conversations send back to back for ``warmup + duration`` s.

    Throughput and latency come from the turns that finished inside the last ``duration`` s.
    With ``cpu_groups``, also the cores each process tree (and each Rasa process) kept busy then.
    """
    start = time.perf_counter() + warmup
    end = start + duration
    samples: list[Sample] = []
    cpu: dict[str, dict[str, float]] = {}
    workers: dict[str, dict[int, float]] = {}

    async def customer(i: int) -> None:
        conversation = Conversation(f"{prefix}-c{i}", client.bot.conversations, index=i)
        while time.perf_counter() < end:
            sample = await client.turn(*conversation.next_message())
            if start <= sample.done <= end:
                samples.append(sample)

    async def snapshot() -> None:
        if cpu_groups is None:
            return
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        cpu["before"] = cpu_seconds(cpu_groups)
        workers["before"] = cpu_seconds_by_process(cpu_groups["rasa"])
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        cpu["after"] = cpu_seconds(cpu_groups)
        workers["after"] = cpu_seconds_by_process(cpu_groups["rasa"])

    await asyncio.gather(snapshot(), *(customer(i) for i in range(concurrency)))
    ok = [s for s in samples if s.ok]
    result: dict[str, Any] = {
        "concurrency": concurrency,
        "duration_s": duration,
        "turns": len(samples),
        "turns_per_s": round(len(ok) / duration, 1),
        "errors": len(samples) - len(ok),
        "error_kinds": error_counts(samples),
        "latency": latency_summary([s.latency for s in ok]),
    }
    if cpu:
        used = cpu_delta(cpu["before"], cpu["after"])
        result["cores_busy"] = {name: round(sec / duration, 2) for name, sec in used.items()}
        # Per Rasa process (main + each Sanic worker): shows whether the load is spread.
        result["rasa_cores_busy_by_process"] = {
            str(pid): round((sec - workers["before"].get(pid, 0.0)) / duration, 2)
            for pid, sec in workers["after"].items()
        }
    return result


async def open_loop(client: Client, prefix: str, rate: float, duration: float, senders: int) -> dict[str, Any]:
    """Fixed offered load: a request every 1/rate s, whatever the replies; latency from the schedule.

    Each request goes to the next idle conversation (round robin over ``senders``); when all
    are busy, a new one is opened, so one conversation never has two requests in flight.
    """
    idle: deque[Conversation] = deque(
        Conversation(f"{prefix}-o{i}", client.bot.conversations, index=i) for i in range(senders)
    )
    extra = 0
    samples: list[Sample] = []
    send_lag: list[float] = []
    in_flight: set[asyncio.Task[None]] = set()

    async def one(conversation: Conversation, scheduled: float) -> None:
        send_lag.append(time.perf_counter() - scheduled)
        samples.append(await client.turn(*conversation.next_message(), started=scheduled))
        idle.append(conversation)

    start = time.perf_counter() + 0.2
    for offset in schedule(rate, duration):
        scheduled = start + offset
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        if idle:
            conversation = idle.popleft()
        else:
            extra += 1
            conversation = Conversation(f"{prefix}-x{extra}", client.bot.conversations, index=extra)
        task = asyncio.create_task(one(conversation, scheduled))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.gather(*in_flight)
    elapsed = max(s.done for s in samples) - start if samples else duration
    ok = [s for s in samples if s.ok]
    return {
        "offered_rate": rate,
        "duration_s": duration,
        "requests": len(samples),
        "achieved_rate": round(len(ok) / elapsed, 1) if elapsed > 0 else None,
        "errors": len(samples) - len(ok),
        "error_kinds": error_counts(samples),
        "latency": latency_summary([s.latency for s in samples]),
        "max_client_send_lag_ms": round(max(send_lag) * 1000, 1) if send_lag else None,
        "conversations_opened_because_all_busy": extra,
    }
