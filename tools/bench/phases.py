"""The measured phases of one running bot, from the first reply to the long conversations and memory."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aiohttp
import redis

from tools.bench.load import Client, Sample, closed_loop, open_loop
from tools.bench.procstats import OTHER, cpu_delta, cpu_seconds, tree_memory
from tools.bench.settings import BUSY_MACHINE_CORES, EARLY_WINDOW, IDLE_PROBE_S, LATE_WINDOW, LONG_TURNS, ROOT
from tools.bench.stacks import Bot, count_ready_lines, wait_for_workers
from tools.bench.stats import latency_summary, mean_ms, median, median_ms, ratio, turn_median, window
from tools.http_client import get_json


async def long_conversations(client: Client, prefix: str, repetitions: int) -> dict[str, Any]:
    """``repetitions`` conversations of LONG_TURNS turns, one request at a time.

    Besides the latency of every turn, records the Rasa server's CPU time per turn and the
    size of the conversation in Redis at the end, to show where a long conversation's extra
    time goes.
    """
    latencies: list[list[float]] = []
    rasa_cpu: list[list[float]] = []
    errors = 0
    sender = ""
    for rep in range(repetitions):
        sender = f"{prefix}-long{rep}"
        turns: list[float] = []
        cpu: list[float] = []
        for turn in range(LONG_TURNS):
            before = cpu_seconds(client.bot.cpu_groups)
            sample = await client.turn(sender, client.bot.long_cycle[turn % len(client.bot.long_cycle)])
            cpu.append(cpu_delta(before, cpu_seconds(client.bot.cpu_groups))["rasa"])
            errors += not sample.ok
            turns.append(sample.latency)
        latencies.append(turns)
        rasa_cpu.append(cpu)
    early_ms = median_ms(window(latencies, *EARLY_WINDOW))
    late_ms = median_ms(window(latencies, *LATE_WINDOW))
    turn1 = turn_median(latencies, 1)
    turn50 = turn_median(latencies, 50)
    return {
        "repetitions": repetitions,
        "turns": LONG_TURNS,
        "errors": errors,
        "turn1_ms": round(turn1 * 1000, 1) if turn1 is not None else None,
        "turn50_ms": round(turn50 * 1000, 1) if turn50 is not None else None,
        "turn50_over_turn1": ratio(turn50, turn1),
        "early_window": list(EARLY_WINDOW),
        "late_window": list(LATE_WINDOW),
        "early_median_ms": early_ms,
        "late_median_ms": late_ms,
        "late_over_early": ratio(late_ms, early_ms),
        # The kernel counts CPU time in clock ticks (10 ms): a mean over many turns, not a median.
        "rasa_cpu_early_mean_ms": mean_ms(window(rasa_cpu, *EARLY_WINDOW)),
        "rasa_cpu_late_mean_ms": mean_ms(window(rasa_cpu, *LATE_WINDOW)),
        "tracker_bytes_at_end": tracker_bytes(client.bot, sender) if sender else None,
        "per_turn_median_ms": [
            round(m * 1000, 1) for m in (turn_median(latencies, t) for t in range(1, LONG_TURNS + 1)) if m is not None
        ],
    }


def tracker_bytes(bot: Bot, sender: str) -> int | None:
    """Size in bytes of the conversation ``sender`` as stored by the bot's Redis tracker store (None: not found).

    Rasa's RedisTrackerStore keeps one JSON document (a string); ours one JSON document per event (a list).
    """
    client = redis.Redis(host=bot.redis.host, port=bot.redis.port, db=bot.redis.db, password=bot.redis.password or None)
    sizes = []
    for key in client.scan_iter(match=f"*tracker*{sender}"):
        kind = client.type(key)
        if kind == b"string":
            sizes.append(int(client.strlen(key)))
        elif kind == b"list":
            sizes.append(sum(len(e) for e in client.lrange(key, 0, -1)))
    return max(sizes, default=None)


async def nlu_versus_full(client: Client, prefix: str, rounds: int) -> dict[str, Any]:
    """Sequential: every message through ``/model/parse``, then through full REST turns.

    The CPU time of each process is taken around the full turns only, so it shows which
    process spends the time of a turn.
    """
    messages = [m for script in client.bot.conversations for m in script]
    parse = [await client.parse(m) for _ in range(rounds) for m in messages]
    before = cpu_seconds(client.bot.cpu_groups)
    turns: list[Sample] = []
    for r in range(rounds):
        for i, script in enumerate(client.bot.conversations):
            for message in script:
                turns.append(await client.turn(f"{prefix}-seq{r}-{i}", message))
    used = cpu_delta(before, cpu_seconds(client.bot.cpu_groups))
    parse_ms = median([s.latency for s in parse if s.ok]) * 1000
    turn_ms = median([s.latency for s in turns if s.ok]) * 1000
    return {
        "requests_each": len(turns),
        "errors": sum(not s.ok for s in parse + turns),
        "parse": latency_summary([s.latency for s in parse if s.ok]),
        "turn": latency_summary([s.latency for s in turns if s.ok]),
        "nlu_share_of_turn": ratio(parse_ms, turn_ms),
        "cpu_ms_per_turn": {name: round(sec * 1000 / len(turns), 1) for name, sec in used.items()},
        "empty_replies": sum(s.ok and s.replies == 0 for s in turns),
    }


async def with_cpu(bot: Bot, phase: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """Runs a phase and adds ``cores_busy``: CPU cores each process kept busy meanwhile."""
    before, started = cpu_seconds(bot.cpu_groups), time.perf_counter()
    result = await phase
    elapsed = time.perf_counter() - started
    used = cpu_delta(before, cpu_seconds(bot.cpu_groups))
    result["cores_busy"] = {name: round(sec / elapsed, 2) for name, sec in used.items()}
    return result


async def wait_for_quiet(bot: Bot, budget: float) -> float | None:
    """Cores other processes keep busy while the bot is idle, probed for IDLE_PROBE_S.

    With a ``budget`` (seconds), probes again until the machine is quiet or the budget is
    spent: on a shared machine that keeps other people's jobs out of the measurements.
    """
    deadline = time.perf_counter() + budget
    while True:
        probe = await with_cpu(bot, asyncio.sleep(IDLE_PROBE_S, result={}))
        busy = probe["cores_busy"].get(OTHER)
        if (busy or 0) <= BUSY_MACHINE_CORES or time.perf_counter() >= deadline:
            return busy
        print(f"    waiting: other processes keep {busy:.1f} cores busy", flush=True)


async def measure(bot: Bot, options: argparse.Namespace, run_id: str) -> dict[str, Any]:
    """All HTTP measurements of one running bot: ``load``, ``breakdown``, ``saturation``, ``fixed_rate``, ``long``.

    Raises:
        RuntimeError: the first REST turn failed.
    """
    prefix = f"bench-{run_id}-{bot.key}"
    timeout = aiohttp.ClientTimeout(total=60)
    # One connection per request by default: Sanic workers share the listening socket, and
    # a keep-alive connection stays with the worker that accepted it, so a client that opens
    # its connections at once can end up with all of them on one worker.
    connector = aiohttp.TCPConnector(
        limit=max(256, options.senders + options.concurrency), force_close=not options.keepalive
    )
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        client = Client(session, bot)
        first_sent = time.perf_counter()
        first = await client.turn(f"{prefix}-first", bot.conversations[0][0])
        if not first.ok:
            raise RuntimeError(f"{bot.title}: first REST turn failed ({first.error}); see {bot.log}")
        load = {
            "to_status_s": round(bot.ready_at - bot.started_at, 2),
            "first_reply_since_start_s": round(first.done - bot.started_at, 2),
            "first_reply_latency_ms": round((first.done - first_sent) * 1000, 1),
        }
        all_up = await asyncio.to_thread(wait_for_workers, bot.log, options.workers, bot.started_at, 60)
        load["all_workers_up_s"] = round(all_up, 2) if all_up is not None else None
        load["workers_up"] = count_ready_lines(bot.log.read_text(encoding="utf-8", errors="replace"))

        print(f"    warm-up ({options.warmup:.0f} s, {options.concurrency} conversations)", flush=True)
        await closed_loop(client, f"{prefix}-warm", options.concurrency, 0, options.warmup)
        load["background_cores_busy"] = await wait_for_quiet(bot, options.wait_quiet)
        if (load["background_cores_busy"] or 0) > BUSY_MACHINE_CORES:
            print(
                f"    warning: other processes keep {load['background_cores_busy']:.1f} cores "
                "busy; the figures will be pessimistic",
                flush=True,
            )
        print("    NLU only vs full turn (sequential)", flush=True)
        breakdown = await nlu_versus_full(client, prefix, options.rounds)
        print(f"    saturation ({options.duration:.0f} s, {options.concurrency} conversations)", flush=True)
        saturation = await closed_loop(
            client, f"{prefix}-sat", options.concurrency, min(2.0, options.warmup), options.duration, bot.cpu_groups
        )
        print(f"    open loop ({options.latency_duration:.0f} s at {options.rate:g} turns/s)", flush=True)
        fixed = await with_cpu(
            bot, open_loop(client, f"{prefix}-ol", options.rate, options.latency_duration, options.senders)
        )
        print(f"    long conversations ({options.reps} x {LONG_TURNS} turns)", flush=True)
        long = await with_cpu(bot, long_conversations(client, prefix, options.reps))
    return {"load": load, "breakdown": breakdown, "saturation": saturation, "fixed_rate": fixed, "long": long}


def bench_bot(bot: Bot, options: argparse.Namespace, run_id: str) -> dict[str, Any]:
    """Measures a started bot (:func:`measure`); memory is read after the load tests.

    Raises:
        RuntimeError: ``/status`` shows no model, or the first turn failed.
    """
    bot.status = get_json(f"{bot.base}/status?token={bot.token}", timeout=5)
    if not bot.status.get("model_file"):
        raise RuntimeError(f"{bot.title}: /status shows no model: {bot.status}")
    result = asyncio.run(measure(bot, options, run_id))
    result["memory"] = tree_memory(bot.rasa_pid)
    if "actions" in bot.cpu_groups:
        result["action_server_memory"] = tree_memory(bot.cpu_groups["actions"])
    result["model"] = bot.model.name
    result["status_model_file"] = Path(str(bot.status.get("model_file"))).name
    result["log"] = str(bot.log.relative_to(ROOT))
    return result
