"""The agents' queue and the shop's dashboard over HTTP at scale (``make bench-console-http``).

Seeds its own Redis the way ``make bench-console`` does (:func:`tools.bench_console.seed`:
100,000 tickets over 180 days and 10,000 handoff cases through the real stores), adds 10,000
house-rule reports and 20,000 promises through :class:`bot.store.quality.QualityStore` and
:class:`bot.store.promises.PromiseLedger`, starts the real action server and Rasa server on that
Redis (the trained model, ``make train``), and times what the screens call, as an agent, a
supervisor and the shop owner would:

* ``GET /api/console/queue`` (agent and supervisor), ``GET /api/console/cases/{id}``;
* ``GET /api/analytics/dashboard`` for the last 30 days: the first call of the server (cold: the
  projections are read from Redis), a call after the 15-second cache expired (warm process, fresh
  figures) and a cached call; the same for 180 days;
* ``GET /api/analytics/heatmap``, ``/quality``, a chart (SVG) and a CSV export.

Writes ``reports/console_http_bench.json`` and ``reports/console_http_bench.md`` (median and 95th
percentile of ``--runs`` runs, wall time per request as the client sees it). Timing is a report,
never a test assertion.

Usage: python -m tools.bench_console_http [--tickets N] [--cases N] [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import shutil
import sys
import time
import urllib.parse
from typing import Any

from redis.asyncio import Redis

from bot.quality.house_rules import RULES, QualityReport, RuleResult
from bot.store.promises import PromiseLedger
from bot.store.quality import QualityStore
from tools.bench.stats import median, percentile
from tools.bench_console import client_for, seed
from tools.devstack import ROOT, RedisSettings, Stack, base_env, ensure_model, free_port, http_json

REPORT_JSON = ROOT / "reports" / "console_http_bench.json"
REPORT_MD = ROOT / "reports" / "console_http_bench.md"
DATA = ROOT / "var" / "bench_console_http"
DAY = 86400.0


async def seed_quality_and_promises(settings: RedisSettings, now: float, reports: int, promises: int) -> None:
    """House-rule reports over the last 30 days (a tenth failing a rule) and promises due over 60 days."""
    rng = random.Random(11)
    client: Redis = client_for(settings)
    try:
        store = QualityStore(client)
        batch: list[tuple[QualityReport, float]] = []
        for i in range(reports):
            at = now - rng.random() * 30 * DAY
            results = []
            for rule, title in RULES:
                passed = None if rng.random() < 0.3 else rng.random() > 0.1
                results.append(RuleResult(rule, title, passed, 0 if passed is False else None, "" if passed else "—"))
            batch.append((QualityReport(f"bench-{i}", at, [], results), at))
            if len(batch) == 500:
                await store.save_many(batch)
                batch = []
        if batch:
            await store.save_many(batch)
        ledger = PromiseLedger(client)
        for i in range(promises):
            made = now - rng.random() * 30 * DAY
            due = made + rng.choice((2, 12, 24, 48)) * 3600
            promise, _ = await ledger.record(
                sender_id=f"bench-{i % reports}",
                ticket_id=None,
                made_by="bot",
                text="24小时内给您答复",
                due=due,
                made_at=made,
                kind=rng.choice(("contact", "action")),
                source_key=f"bench-{i}",
            )
            if due < now and rng.random() < 0.85:
                await ledger.keep(promise.id, by="agent:bench", at=due - 60)
        await ledger.break_overdue(now)
    finally:
        await client.close()


def timed(method: str, url: str, headers: dict[str, str], runs: int) -> dict[str, Any]:
    """Wall times of ``runs`` requests; the status of the last."""
    seconds, status = [], None
    for _ in range(runs):
        start = time.perf_counter()
        status, text, _ = http_json(method, url, None, headers=headers)
        seconds.append(time.perf_counter() - start)
        assert status == 200, (url, status, text[:300])
    return {
        "runs": runs,
        "median_s": round(median(seconds), 4),
        "p95_s": round(percentile(seconds, 95), 4),
        "max_s": round(max(seconds), 4),
        "status": status,
    }


def measure(base: str, token: str, runs: int) -> dict[str, Any]:
    """Times every screen's calls (see the module docstring)."""
    agent = {"Authorization": f"Bearer {token}", "X-Agent-Name": urllib.parse.quote("小张")}
    supervisor = {"Authorization": f"Bearer {token}", "X-Agent-Name": urllib.parse.quote("李主管")}
    owner = {"Authorization": f"Bearer {token}"}
    results: dict[str, Any] = {}
    today = time.strftime("%Y-%m-%d", time.localtime())
    month = time.strftime("%Y-%m-%d", time.localtime(time.time() - 29 * DAY))
    half_year = time.strftime("%Y-%m-%d", time.localtime(time.time() - 179 * DAY))
    dash30 = f"{base}/api/analytics/dashboard?since={month}&until={today}"
    dash180 = f"{base}/api/analytics/dashboard?since={half_year}&until={today}"
    results["dashboard_30d_first_call"] = timed("GET", dash30, owner, 1)
    results["dashboard_30d_cached"] = timed("GET", dash30, owner, runs)
    results["dashboard_180d_first_call"] = timed("GET", dash180, owner, 1)
    time.sleep(16)  # past the 15-second cache: fresh figures, projections already in memory
    results["dashboard_30d_fresh"] = timed("GET", dash30, owner, 1)
    time.sleep(16)
    results["dashboard_180d_fresh"] = timed("GET", dash180, owner, 1)
    results["queue_agent"] = timed("GET", f"{base}/api/console/queue", agent, runs)
    results["queue_supervisor"] = timed("GET", f"{base}/api/console/queue", supervisor, runs)
    status, _, queue = http_json("GET", f"{base}/api/console/queue", None, headers=supervisor)
    results["queue_size"] = len(queue["cases"]) if status == 200 else None
    if status == 200 and queue["cases"]:
        sender = urllib.parse.quote(queue["cases"][0]["sender_id"], safe="")
        results["case_view"] = timed("GET", f"{base}/api/console/cases/{sender}", supervisor, runs)
    results["heatmap_type_day_30d"] = timed(
        "GET", f"{base}/api/analytics/heatmap?by=type,day&since={month}&until={today}", owner, runs
    )
    results["heatmap_cause_category_180d"] = timed(
        "GET", f"{base}/api/analytics/heatmap?by=cause,category&since={half_year}&until={today}", owner, runs
    )
    results["quality_30d"] = timed("GET", f"{base}/api/analytics/quality?since={month}&until={today}", owner, runs)
    results["chart_type_day_30d"] = timed(
        "GET", f"{base}/api/analytics/charts/type_day.svg?since={month}&until={today}", owner, runs
    )
    results["csv_type_day_30d"] = timed(
        "GET", f"{base}/api/analytics/export/type_day.csv?since={month}&until={today}", owner, runs
    )
    return results


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown."""
    lines = [
        "# Agents' queue and dashboard over HTTP (`make bench-console-http`)",
        "",
        f"{report['tickets']:,} tickets over 180 days, {report['cases']:,} handoff cases "
        f"({report['results'].get('queue_size')} still open, all in a supervisor's view), {report['quality_reports']:,} "
        f"house-rule reports, {report['promises']:,} promises, in Redis; the real Rasa server (one Sanic worker) "
        f"on a {report['cpus']}-CPU machine. Wall time per request as the client sees it; seeding took "
        f"{report['seed_seconds']:.0f} s.",
        "",
        "| request | runs | median s | p95 s | max s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in report["results"].items():
        if isinstance(row, dict):
            lines.append(f"| {name} | {row['runs']} | {row['median_s']} | {row['p95_s']} | {row['max_s']} |")
    lines += [
        "",
        "`first_call`: the first dashboard request of the server process (projections read from Redis); "
        "`fresh`: after the 15-second dashboard cache expired (figures recomputed, projections already in the "
        "process); `cached`: within 15 seconds of the same request.",
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_console_http", description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--promises", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=10)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import os

    args = parse_args(argv)
    model = ensure_model()
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    stack = Stack()
    try:
        redis = stack.start_redis(free_port(), DATA / "redis", log=DATA / "redis.log")
        started = time.perf_counter()
        seed(redis, tickets=args.tickets, cases=args.cases)
        now = time.time()
        asyncio.run(seed_quality_and_promises(redis, now, args.reports, args.promises))
        seed_seconds = time.perf_counter() - started
        print(f"seeded in {seed_seconds:.0f} s; starting the bot", flush=True)
        token = secrets.token_urlsafe(16)
        action_port, rasa_port = free_port(), free_port()
        env = base_env(
            **redis.env(),
            ACTION_ENDPOINT_URL=f"http://127.0.0.1:{action_port}/webhook",
            BOT_API_TOKEN=token,
            TRAINER_ROOT=str(DATA / "trainer"),
        )
        stack.start_actions(action_port, env, log=DATA / "actions.log")
        base = stack.start_rasa(rasa_port, model, token, env, log=DATA / "rasa.log")
        results = measure(base, token, args.runs)
    finally:
        stack.stop()
    report = {
        "tickets": args.tickets,
        "cases": args.cases,
        "quality_reports": args.reports,
        "promises": args.promises,
        "cpus": os.cpu_count(),
        "seed_seconds": seed_seconds,
        "results": results,
    }
    REPORT_JSON.parent.mkdir(parents=True, exist_ok=True)
    REPORT_JSON.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    REPORT_MD.write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
