"""Command line of the benchmark: ``python -m tools.bench [options]`` (``make bench``); see ``tools/bench/__init__.py``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tools.bench
from tools.bench.phases import bench_bot
from tools.bench.procstats import machine_info
from tools.bench.report import render_cpu, render_markdown, render_table, table_rows
from tools.bench.settings import BENCH, LOGS, LONG_TURNS, REPORTS, ROOT
from tools.bench.stacks import ensure_starter, fresh_log, pid_of, start_our_bot, start_starter_bot
from tools.bench.targets import targets, verdict
from tools.devstack import Stack, ensure_model, free_port


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; ``--quick`` shortens everything for a smoke test.

    Fills the derived options too: ``warmup`` (s) and ``rounds`` (of the sequential phase).
    """
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=tools.bench.__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, help="saturation window in seconds (default 20, quick 4)")
    parser.add_argument("--latency-duration", type=float, help="open-loop run in seconds (default 30, quick 6)")
    parser.add_argument("--rate", type=float, default=20.0, help="open-loop offered load, turns/s (default 20)")
    parser.add_argument("--concurrency", type=int, default=20, help="conversations in the saturation run (default 20)")
    parser.add_argument(
        "--senders", type=int, default=200, help="conversations the open loop rotates over (default 200)"
    )
    parser.add_argument("--workers", type=int, help="SANIC_WORKERS for both bots (default: $SANIC_WORKERS or 2)")
    parser.add_argument("--reps", type=int, help=f"long conversations of {LONG_TURNS} turns (default 5, quick 1)")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="S",
        help="wait up to S seconds for other processes to leave the CPUs before measuring a bot",
    )
    parser.add_argument(
        "--keepalive", action="store_true", help="reuse HTTP connections (default: a new connection per request)"
    )
    parser.add_argument("--skip-starter", action="store_true", help="measure our bot only")
    parser.add_argument("--quick", action="store_true", help="short durations: a smoke test, not a measurement")
    parser.add_argument("--out", type=Path, default=REPORTS, help="report directory (default reports/)")
    options = parser.parse_args(argv)
    quick = options.quick
    options.duration = options.duration or (4.0 if quick else 20.0)
    options.latency_duration = options.latency_duration or (6.0 if quick else 30.0)
    options.reps = options.reps or (1 if quick else 5)
    options.warmup = 2.0 if quick else 5.0
    options.rounds = 1 if quick else 3
    options.workers = options.workers or int(os.environ.get("SANIC_WORKERS") or 2)
    if options.workers < 1 or options.rate <= 0 or options.concurrency < 1:
        parser.error("--workers, --rate and --concurrency must be positive")
    return options


def run(options: argparse.Namespace, stacks: list[Stack]) -> dict[str, Any]:
    """Starts Redis, then each bot in turn, measures it and stops it; returns the report (``reports/bench.json``).

    Every started :class:`Stack` is appended to ``stacks`` first, so the caller can stop them
    whatever happens.
    """
    run_id = dt.datetime.now().strftime("%Y%m%d%H%M%S")
    model = ensure_model()
    starter_model = None if options.skip_starter else ensure_starter()

    infra = Stack()
    stacks.append(infra)
    redis_dir = BENCH / "redis"
    shutil.rmtree(redis_dir, ignore_errors=True)  # the bench's own data only: start empty
    redis = infra.start_redis(free_port(), redis_dir, log=fresh_log("redis.log"))
    cpu_redis = {"redis": pid_of(infra, "redis")}

    bots: dict[str, Any] = {}
    print(f"==> our bot ({model.name}), SANIC_WORKERS={options.workers}", flush=True)
    stack = Stack()
    stacks.append(stack)
    ours = start_our_bot(stack, redis, model, options.workers)
    ours.cpu_groups.update(cpu_redis)
    bots["ours"] = bench_bot(ours, options, run_id)
    stack.stop()

    if starter_model is not None:
        print(f"==> starter bot ({starter_model.name}), SANIC_WORKERS={options.workers}", flush=True)
        stack = Stack()
        stacks.append(stack)
        starter = start_starter_bot(stack, redis, starter_model, options.workers, db=1)
        starter.cpu_groups.update(cpu_redis)
        bots["starter"] = bench_bot(starter, options, run_id)
        stack.stop()

    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "config": {
            "quick": options.quick,
            "sanic_workers": options.workers,
            "duration_s": options.duration,
            "latency_duration_s": options.latency_duration,
            "rate": options.rate,
            "concurrency": options.concurrency,
            "senders": options.senders,
            "reps": options.reps,
            "warmup_s": options.warmup,
            "keepalive": options.keepalive,
            "wait_quiet_s": options.wait_quiet,
        },
        "bots": bots,
    }
    report["targets"] = targets(bots["ours"], bots.get("starter"))
    return report


def _raise_interrupt(signum: int, frame: Any) -> None:
    """SIGTERM behaves like Ctrl-C, so the ``finally`` below stops every child."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark, writes ``bench.json`` and ``bench.md``, prints the tables; 130 when interrupted."""
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    stacks: list[Stack] = []
    finished = False
    try:
        report = run(options, stacks)
        finished = True
    except KeyboardInterrupt:
        print("\n==> interrupted", file=sys.stderr, flush=True)
        return 130
    finally:
        for stack in reversed(stacks):
            stack.stop()
        if not finished:
            print(f"==> benchmark did not finish; logs in {LOGS.relative_to(ROOT)}/", file=sys.stderr, flush=True)
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "bench.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (options.out / "bench.md").write_text(render_markdown(report), encoding="utf-8")
    print()
    print(render_table(table_rows(report)))
    print()
    print(render_cpu(report))
    for target in report["targets"]:
        print(f"target {target['name']}: {target['value']} -> {verdict(target['met'], target['noisy'])}")
    print(f"\n==> wrote {options.out / 'bench.md'} and {options.out / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
