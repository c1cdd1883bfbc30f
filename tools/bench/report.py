"""``reports/bench.md``: the main table, where the time goes, and how it is measured (tables by tabulate)."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from tools.bench.procstats import OTHER
from tools.bench.settings import (
    BUSY_MACHINE_CORES,
    EARLY_WINDOW,
    LATE_WINDOW,
    LONG_TURNS,
    OUR_LONG_CYCLE,
    TARGET_LONG_RATIO,
    TARGET_P99_MS,
    TARGET_THROUGHPUT_FACTOR,
)
from tools.bench.targets import get, no_errors, verdict

TABLEFMT = "pipe"
MAIN_HEADERS = ("metric", "our bot", "starter bot", "target", "met?")
CPU_HEADERS = (
    "process",
    "CPU ms per turn, idle (ours)",
    "cores busy at saturation (ours)",
    "CPU ms per turn, idle (starter)",
    "cores busy at saturation (starter)",
)


def fmt(value: Any, digits: int = 1) -> str:
    """A table cell: floats rounded to ``digits``, None as "—"."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(metric, our bot, starter bot, target, met?) rows of the main table."""
    ours, starter = report["bots"]["ours"], report["bots"].get("starter")
    config = report["config"]
    met = [verdict(t["met"], t.get("noisy", False)) for t in report["targets"]]
    starter_tps = get(starter, "saturation", "turns_per_s")
    rate = f"fixed load {config['rate']:g} turns/s"
    early = f"turns {EARLY_WINDOW[0]}-{EARLY_WINDOW[1]}"
    late = f"turns {LATE_WINDOW[0]}-{LATE_WINDOW[1]}"
    twice = fmt(TARGET_THROUGHPUT_FACTOR * starter_tps) if starter_tps else "—"
    # Rows with a target: (label, path, digits, target, met?).
    targeted: dict[str, tuple[str, str]] = {
        "saturation throughput": (f"≥ 2× starter ({twice})", met[0]),
        "saturation errors": ("0", verdict(no_errors(ours, starter, "saturation"))),
        "p99": (f"ours ≤ {TARGET_P99_MS:.0f}", met[1]),
        "fixed errors": ("0", verdict(no_errors(ours, starter, "fixed_rate"))),
        "late/early": (f"ours ≤ {TARGET_LONG_RATIO}", met[2]),
    }
    spec: list[tuple[str, tuple[str, ...], int, str]] = [
        (f"saturation throughput, {config['concurrency']} conversations back to back (turns/s)",
         ("saturation", "turns_per_s"), 1, "saturation throughput"),
        ("saturation: errors", ("saturation", "errors"), 0, "saturation errors"),
        ("saturation: median latency (ms)", ("saturation", "latency", "p50_ms"), 1, ""),
        (f"{rate}: achieved turns/s", ("fixed_rate", "achieved_rate"), 1, ""),
        (f"{rate}: p50 latency (ms)", ("fixed_rate", "latency", "p50_ms"), 1, ""),
        (f"{rate}: p95 latency (ms)", ("fixed_rate", "latency", "p95_ms"), 1, ""),
        (f"{rate}: p99 latency (ms)", ("fixed_rate", "latency", "p99_ms"), 1, "p99"),
        (f"{rate}: max latency (ms)", ("fixed_rate", "latency", "max_ms"), 1, ""),
        (f"{rate}: errors", ("fixed_rate", "errors"), 0, "fixed errors"),
        ("long conversation: turn 1, median (ms)", ("long", "turn1_ms"), 1, ""),
        ("long conversation: turn 50, median (ms)", ("long", "turn50_ms"), 1, ""),
        ("long conversation: turn 50 / turn 1", ("long", "turn50_over_turn1"), 2, ""),
        (f"long conversation: {early}, median (ms)", ("long", "early_median_ms"), 1, ""),
        (f"long conversation: {late}, median (ms)", ("long", "late_median_ms"), 1, ""),
        (f"long conversation: {late} / {early} median", ("long", "late_over_early"), 2, "late/early"),
        (f"long conversation: Rasa CPU per turn, {early}, mean (ms)", ("long", "rasa_cpu_early_mean_ms"), 1, ""),
        (f"long conversation: Rasa CPU per turn, {late}, mean (ms)", ("long", "rasa_cpu_late_mean_ms"), 1, ""),
        (f"long conversation: tracker in Redis after {LONG_TURNS} turns (bytes)", ("long", "tracker_bytes_at_end"), 0,
         ""),
        ("model load: start → /status with model (s)", ("load", "to_status_s"), 2, ""),
        (f"model load: start → all {config['sanic_workers']} workers up (s)", ("load", "all_workers_up_s"), 2, ""),
        ("model load: start → first reply (s)", ("load", "first_reply_since_start_s"), 2, ""),
        ("first reply latency (ms)", ("load", "first_reply_latency_ms"), 1, ""),
        ("Rasa server memory after load, RSS summed over processes (MB)", ("memory", "rss_mb"), 0, ""),
        ("Rasa server memory after load, PSS (MB)", ("memory", "pss_mb"), 0, ""),
        ("Rasa server processes (main + workers)", ("memory", "processes"), 0, ""),
        ("idle: NLU only, POST /model/parse, median (ms)", ("breakdown", "parse", "p50_ms"), 1, ""),
        ("idle: full REST turn, median (ms)", ("breakdown", "turn", "p50_ms"), 1, ""),
        ("idle: NLU share of a turn", ("breakdown", "nlu_share_of_turn"), 2, ""),
        ("noise: other processes' CPU, bot idle (cores)", ("load", "background_cores_busy"), 2, ""),
        ("noise: other processes' CPU, saturation (cores)", ("saturation", "cores_busy", OTHER), 2, ""),
        (f"noise: other processes' CPU, {rate} (cores)", ("fixed_rate", "cores_busy", OTHER), 2, ""),
        ("noise: other processes' CPU, long conversations (cores)", ("long", "cores_busy", OTHER), 2, ""),
    ]  # fmt: skip
    rows = []
    for label, path, digits, key in spec:
        target, ok = targeted.get(key, ("", ""))
        theirs = fmt(get(starter, *path), digits=digits) if starter else "skipped"
        rows.append((label, fmt(get(ours, *path), digits=digits), theirs, target, ok))
    return rows


def render_table(rows: list[tuple[str, str, str, str, str]]) -> str:
    """The main table (:func:`table_rows`) in Markdown; the cells are kept as formatted by :func:`fmt`."""
    return _markdown(rows, MAIN_HEADERS, ("left", "right", "right", "left", "left"))


def _markdown(rows: list[tuple[str, ...]], headers: tuple[str, ...], align: tuple[str, ...]) -> str:
    return tabulate(rows, headers=headers, tablefmt=TABLEFMT, colalign=align, disable_numparse=True)


def render_cpu(report: dict[str, Any]) -> str:
    """Where the time goes, in Markdown: per process, CPU ms per idle turn and cores busy at saturation, both bots."""
    ours, starter = report["bots"]["ours"], report["bots"].get("starter")
    rows = [
        (
            name,
            fmt(get(ours, "breakdown", "cpu_ms_per_turn", name)),
            fmt(get(ours, "saturation", "cores_busy", name), digits=2),
            fmt(get(starter, "breakdown", "cpu_ms_per_turn", name)),
            fmt(get(starter, "saturation", "cores_busy", name), digits=2),
        )
        for name in get(ours, "breakdown", "cpu_ms_per_turn") or {}
    ]
    return _markdown(rows, CPU_HEADERS, ("left", "right", "right", "right", "right"))


def render_markdown(report: dict[str, Any]) -> str:
    """``reports/bench.md`` from a report as written to ``reports/bench.json`` (see ``__main__.run``)."""
    machine, config = report["machine"], report["config"]
    ours, starter = report["bots"]["ours"], report["bots"].get("starter")
    breakdown = ours["breakdown"]
    share = breakdown.get("nlu_share_of_turn")
    cpu = breakdown.get("cpu_ms_per_turn", {})
    quick = " — **quick smoke run, figures are rough**" if config["quick"] else ""
    setup = (
        f"Machine: {machine['cpus']} CPUs ({machine['cpu_model']}), {machine['memory_gb']} GB RAM, "
        f"Python {machine['python']}, Rasa {machine['rasa']}, Sanic {machine['sanic']}, "
        f"`SANIC_WORKERS={config['sanic_workers']}` for both bots. "
        f"Models: `{ours['model']}` (ours), `{starter['model'] if starter else '—'}` (starter). "
        "Both bots: Redis tracker store and Redis lock store on one real `redis-server` (own database "
        "and key prefix each), REST channel, measured one after the other on the same machine; the load "
        "generator (aiohttp, one process) shares the CPUs with the server."
    )
    where = (
        "One request at a time on a warm server: `POST /model/parse` (the NLU pipeline alone, plus "
        f"HTTP) takes {fmt(breakdown['parse']['p50_ms'])} ms at the median, a full REST turn "
        f"{fmt(breakdown['turn']['p50_ms'])} ms, so the NLU is about "
        f"{fmt(share * 100 if share is not None else None, digits=0)} % of a turn. The rest is "
        "spent in the Rasa server too (loading, replaying and saving the conversation, the lock, "
        "the policies, calling the action server): per turn Redis used "
        f"{fmt(cpu.get('redis'))} ms and the action server {fmt(cpu.get('actions'))} ms of CPU, "
        f"the Rasa server {fmt(cpu.get('rasa'))} ms. CPU time per process (psutil) during "
        "those sequential turns, and how many cores each process kept busy during the saturation "
        "run:"
    )
    spread = (
        "Cores busy per Rasa server process (main process, then each worker) at saturation: "
        + "; ".join(
            f"{bot_key} "
            + " / ".join(f"{v:.2f}" for v in (get(bot, "saturation", "rasa_cores_busy_by_process") or {}).values())
            for bot_key, bot in report["bots"].items()
        )
        + "."
    )
    long = ours["long"]
    growth = (
        f"In a long conversation a turn takes {fmt(long['early_median_ms'])} ms at turns "
        f"{EARLY_WINDOW[0]}-{EARLY_WINDOW[1]} and {fmt(long['late_median_ms'])} ms at turns "
        f"{LATE_WINDOW[0]}-{LATE_WINDOW[1]}; the Rasa server's CPU time per turn goes from "
        f"{fmt(long['rasa_cpu_early_mean_ms'])} to {fmt(long['rasa_cpu_late_mean_ms'])} ms, and "
        f"the conversation stored in Redis reaches {fmt(long['tracker_bytes_at_end'])} bytes after "
        f"{LONG_TURNS} turns. With Rasa's own Redis tracker store (the starter bot) every turn "
        "loads, replays and rewrites the whole conversation and the policies featurise its whole "
        "history, so a turn costs more the longer the conversation; our store "
        "(`bot/rasa_ext/tracker_store.py`) appends only a turn's new events and hands the dialogue the last "
        "40 events (about six turns) plus the state before them. Per-turn medians: `reports/bench.json` "
        "(`bots.ours.long.per_turn_median_ms`)."
    )
    noise = max(
        (
            get(bot, *path) or 0.0
            for bot in report["bots"].values()
            for path in (
                ("load", "background_cores_busy"),
                ("saturation", "cores_busy", OTHER),
                ("fixed_rate", "cores_busy", OTHER),
                ("long", "cores_busy", OTHER),
            )
        ),
        default=0.0,
    )
    warning = (
        f"**Warning: other processes on this machine used up to {noise:.1f} CPU cores while "
        'the bots were measured (the "noise" rows): figures of those phases are pessimistic '
        "for the bot measured then, comparisons can be skewed either way, and verdicts that rest "
        'on them are marked "(noisy)". Re-run `make bench` (with `--wait-quiet`) on a quiet '
        "machine.**"
        if noise > BUSY_MACHINE_CORES
        else 'The machine was otherwise quiet during the measurements (the "noise" rows).'
    )
    method = [
        (
            f"- Saturation: {config['concurrency']} conversations, each sending its next message as "
            f"soon as the reply arrives, for {config['duration_s']:g} s after a warm-up; turns finished "
            "inside the window count. Conversations are short scripts (greeting, complaint, "
            "confirmation, order number, thanks), a new sender id for each."
        ),
        (
            f"- Fixed load: open loop, one request every {1000 / config['rate']:.0f} ms for "
            f"{config['latency_duration_s']:g} s, sent on schedule whatever the replies; latency "
            "counted from the scheduled send time, so a stalled server is not hidden (no coordinated "
            f"omission). Each request goes to the next idle one of {config['senders']} conversations; "
            "a conversation never has two requests in flight."
        ),
        (
            f"- Long conversation: {config['reps']} conversations of {LONG_TURNS} turns, one request "
            f"at a time, cycling {len(OUR_LONG_CYCLE)} messages (so turn 1 and turn 50, and turns "
            f"{EARLY_WINDOW[0]}-{EARLY_WINDOW[1]} and {LATE_WINDOW[0]}-{LATE_WINDOW[1]}, carry the "
            "same messages). The target uses the window medians; the single-turn medians are shown too."
        ),
        (
            "- Model load: from starting `rasa run` until `/status` answers with a model (polled every "
            '0.3 s), until every Sanic worker logged "Rasa server is up and running", and until the '
            "first REST reply."
        ),
        (
            "- Memory: the Rasa server process and its worker children after the load tests; RSS "
            "summed over processes counts pages the forked workers share once per process, PSS "
            "splits them."
        ),
        (
            "- HTTP: "
            + ("keep-alive connections" if config["keepalive"] else "a new connection per request")
            + " (`--keepalive` switches). Sanic's workers share one listening socket and a "
            "keep-alive connection stays with the worker that accepted it: a client that opens its "
            "connections all at once (a proxy's upstream pool, this benchmark with `--keepalive`) "
            "can have every connection on one worker while the others idle."
        ),
        (
            '- Noise: CPU time of every process (psutil, from /proc); "other processes" is what the whole '
            "machine used beyond the bot, its action server, Redis and the benchmark client; "
            "`--wait-quiet S` waits up to S seconds for a quiet machine before each bot."
        ),
    ]
    lines = [
        "# Benchmark: our bot vs Rasa's starter bot",
        "",
        f"Written by `make bench` (`python -m tools.bench`) on {report['date']}{quick}.",
        "",
        setup,
        "",
        warning,
        "",
        render_table(table_rows(report)),
        "",
        "## Where the time goes (our bot)",
        "",
        where,
        "",
        render_cpu(report),
        "",
        spread,
        "",
        growth,
        "",
        "## How it is measured",
        "",
        *method,
        "",
        "Raw figures, including per-turn medians and error kinds: `reports/bench.json`; logs: `var/bench/logs/`.",
        "",
    ]
    return "\n".join(lines)
