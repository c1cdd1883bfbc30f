"""The dashboard benchmark's seeding and measuring (tools/bench_console.py), small, on the test Redis."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest
from redis import Redis

from bot.analytics.facts import ticket_facts
from bot.store import projections
from bot.store.client import ticket_store
from tools import bench_console
from tools.devstack import RedisSettings

DB = 9  # a database of its own on the session's Redis server (the other tests use 0)


@pytest.fixture()
def settings(redis_server: RedisSettings) -> RedisSettings:
    return replace(redis_server, db=DB)


def test_the_plan_is_the_same_for_a_seed_and_has_the_jump() -> None:
    now = time.time()
    first = bench_console.plan_tickets(1500, now, seed=3, days=30)
    again = bench_console.plan_tickets(1500, now, seed=3, days=30)
    assert [(p.created_at, p.fields["type"], p.handoff) for p in first] == [
        (p.created_at, p.fields["type"], p.handoff) for p in again
    ]
    assert all(now - 30 * 86400 <= p.created_at < now for p in first)
    assert [p.created_at for p in first] == sorted(p.created_at for p in first)
    assert {p.fields["type"] for p in first} == {"product", "logistics", "service", "malicious"}
    jump = [p for p in first if p.n >= 1500]
    assert jump and all(p.fields["cause"] == "defect" and p.created_at > now - 86400 for p in jump)


def test_seed_writes_through_the_stores_and_measure_runs(settings: RedisSettings) -> None:
    now = time.time()
    seeded = bench_console.seed(settings, 600, 60, now=now, seed=5, days=20, concurrency=8, flush=True)
    assert seeded["tickets"] >= 600 and seeded["updates"] > 600
    assert sum(seeded["cases"][k] for k in ("waiting", "claimed", "resolved")) == 60
    with pytest.raises(RuntimeError, match="not empty"):
        bench_console.seed(settings, 10, 1, now=now)

    async def read() -> None:
        client = bench_console.client_for(settings)
        try:
            store = ticket_store(client)
            facts = await store.all_facts()
            assert len(facts) == seeded["tickets"]
            for projection in facts[:: len(facts) // 20]:
                ticket = await store.get(projection["id"])
                assert ticket is not None and ticket_facts(ticket.to_dict(), projection) == projection
            assert sum(1 for f in facts if f["handoff_reason"] is not None) > 60
            assert any(f["satisfaction"] is not None for f in facts)
        finally:
            await client.close()

    projections.caches.clear()
    asyncio.run(read())
    measured = asyncio.run(bench_console.measure(settings, now, runs=1))
    assert (
        measured["checks"]["sample_projections_match_tickets"].split(" of ")[0]
        == (measured["checks"]["sample_projections_match_tickets"].split(" of ")[1])
    )
    assert all(t["runs"] >= 1 and t["median_ms"] >= 0 for t in measured["timings"].values())
    report = {
        "date": "2026-11-24T00:00:00+00:00",
        "machine": {"git_commit": "abc", "cpu_model": "cpu", "cpus": 2, "python": "3.11"},
        "config": {"days": 20, "runs": 1, "concurrency": 8},
        "seeded": seeded,
        **measured,
    }
    text = bench_console.markdown(report)
    assert "| all_facts 30 days, first call of a process (reads its 30 days) |" in text
    Redis(host=settings.host, port=settings.port, db=DB).flushdb()
