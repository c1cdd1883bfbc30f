"""The quality report store on the real Redis server of the test run (no fakes)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from bot.quality import RULES, QualityReport, RuleResult
from bot.store.quality import QualityStore, QualityStoreUnavailable
from tools.devstack import RedisSettings, free_port

pytestmark = pytest.mark.asyncio(loop_scope="session")

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY1 = datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI).timestamp()
HOUR = 3600.0


@pytest_asyncio.fixture(loop_scope="session")
async def client(redis_server: RedisSettings) -> AsyncIterator[Redis]:
    red = Redis(host=redis_server.host, port=redis_server.port, db=redis_server.db, decode_responses=True)
    yield red
    await red.close()
    await red.connection_pool.disconnect()


@pytest.fixture()
def store(client: Redis) -> QualityStore:
    return QualityStore(client, prefix=f"q{uuid.uuid4().hex[:10]}")


def report(sender: str, at: float, failed: tuple[str, ...] = (), skipped: tuple[str, ...] = ()) -> QualityReport:
    """A report of ``sender`` checked at ``at`` in which ``failed`` failed and ``skipped`` did not apply."""
    results = [
        RuleResult(
            rule,
            title,
            None if rule in skipped else rule not in failed,
            turn=1 if rule in failed else None,
            detail="不合格" if rule in failed else "",
        )
        for rule, title in RULES
    ]
    turns = [{"from": "customer", "texts": ["杯子碎了"], "at": at - 60}, {"from": "bot", "texts": ["…"], "at": at - 50}]
    return QualityReport(sender_id=sender, checked_at=at, turns=turns, results=results)


async def test_save_get_and_replace(store: QualityStore) -> None:
    assert await store.get("c1") is None and await store.checked_activity("c1") is None
    first = report("c1", DAY1, failed=("promise_has_time",))
    await store.save(first, last_activity=DAY1 - 30)
    assert await store.get("c1") == first
    assert await store.checked_activity("c1") == DAY1 - 30

    again = report("c1", DAY1 + HOUR)
    await store.save(again, last_activity=DAY1 + HOUR - 5.25)
    assert await store.get("c1") == again
    assert await store.checked_activity("c1") == DAY1 + HOUR - 5.25
    # fixed: no longer listed as a failure, under any rule
    assert await store.failures(DAY1 - HOUR, DAY1 + 2 * HOUR) == []
    assert await store.failures(DAY1 - HOUR, DAY1 + 2 * HOUR, rule="promise_has_time") == []
    rates = await store.rates(DAY1 - HOUR, DAY1 + 2 * HOUR)
    assert rates["overall"]["conversations"] == 1
    assert rates["overall"]["rules"]["promise_has_time"] == {"checked": 1, "failed": 0, "rate": 0.0}


async def test_a_report_without_a_sender_is_refused(store: QualityStore) -> None:
    with pytest.raises(ValueError):
        await store.save(report("", DAY1), last_activity=DAY1)
    with pytest.raises(ValueError):
        await store.save_many([(report("ok", DAY1), DAY1), (report("", DAY1), DAY1)])
    assert await store.get("ok") is None  # all or nothing


async def test_save_many_in_one_transaction(store: QualityStore) -> None:
    assert await store.save_many([]) == 0
    batch = [
        (report("a", DAY1, failed=("one_question",)), DAY1 - 10),
        (report("b", DAY1 + 1), DAY1 - 5),
        (report("a", DAY1 + 2), DAY1 - 1),  # the same conversation again: the later report wins
    ]
    assert await store.save_many(batch) == 3
    assert await store.get("a") == report("a", DAY1 + 2) and await store.checked_activity("a") == DAY1 - 1
    assert await store.get("b") == report("b", DAY1 + 1)
    assert await store.failures(DAY1, DAY1 + 10) == []
    assert (await store.rates(DAY1, DAY1 + 10))["overall"]["conversations"] == 2


async def test_failures_newest_first_by_rule_in_a_half_open_window(store: QualityStore) -> None:
    await store.save(report("a", DAY1, failed=("apology_once",)), last_activity=DAY1)
    await store.save(report("b", DAY1 + 1, failed=("one_question", "apology_once")), last_activity=DAY1)
    await store.save(report("c", DAY1 + 2), last_activity=DAY1)
    await store.save(report("d", DAY1 + 3, failed=("one_question",)), last_activity=DAY1)

    assert [r.sender_id for r in await store.failures(DAY1, DAY1 + 10)] == ["d", "b", "a"]
    assert [r.sender_id for r in await store.failures(DAY1, DAY1 + 10, rule="apology_once")] == ["b", "a"]
    assert [r.sender_id for r in await store.failures(DAY1, DAY1 + 10, limit=2)] == ["d", "b"]
    assert [r.sender_id for r in await store.failures(DAY1 + 1, DAY1 + 3)] == ["b"]  # until is exclusive
    assert await store.failures(DAY1, DAY1 + 10, limit=0) == []
    assert await store.failures(DAY1 + 10, DAY1) == []
    found = (await store.failures(DAY1, DAY1 + 10, rule="one_question"))[0]
    assert found.failed == ["one_question"] and found.result("one_question").turn == 1
    with pytest.raises(ValueError):
        await store.failures(DAY1, DAY1 + 10, rule="be_nice")


async def test_rates_per_day_in_the_shops_time_zone(store: QualityStore) -> None:
    late = datetime(2026, 11, 30, 23, 30, tzinfo=SHANGHAI).timestamp()  # 15:30 UTC, still the 30th in Shanghai
    next_day = datetime(2026, 12, 1, 0, 30, tzinfo=SHANGHAI).timestamp()  # 16:30 UTC on the 30th
    await store.save(report("a", DAY1, failed=("apology_once",), skipped=("malicious_no_money",)), last_activity=0)
    await store.save(report("b", late, skipped=("malicious_no_money", "urgent_in_tier")), last_activity=0)
    await store.save(report("c", next_day, failed=("apology_once", "malicious_no_money")), last_activity=0)
    await store.save(report("outside", next_day + 2 * 24 * HOUR, failed=("apology_once",)), last_activity=0)

    rates = await store.rates(DAY1 - HOUR, next_day + HOUR)
    assert list(rates["days"]) == ["2026-11-30", "2026-12-01"]
    day1, day2 = rates["days"]["2026-11-30"], rates["days"]["2026-12-01"]
    assert day1["conversations"] == 2 and day2["conversations"] == 1
    assert list(day1["rules"]) == [rule for rule, _ in RULES]
    assert day1["rules"]["apology_once"] == {"checked": 2, "failed": 1, "rate": 0.5}
    assert day1["rules"]["malicious_no_money"] == {"checked": 0, "failed": 0, "rate": None}
    assert day1["rules"]["urgent_in_tier"] == {"checked": 1, "failed": 0, "rate": 0.0}
    assert day2["rules"]["malicious_no_money"] == {"checked": 1, "failed": 1, "rate": 1.0}
    overall = rates["overall"]
    assert overall["conversations"] == 3
    assert overall["rules"]["apology_once"] == {"checked": 3, "failed": 2, "rate": 2 / 3}
    assert overall["rules"]["malicious_no_money"] == {"checked": 1, "failed": 1, "rate": 1.0}

    utc = await store.rates(DAY1 - HOUR, next_day + HOUR, tz="UTC")
    assert list(utc["days"]) == ["2026-11-30"] and utc["days"]["2026-11-30"]["conversations"] == 3
    empty = await store.rates(DAY1 + 10 * 24 * HOUR, DAY1 + 11 * 24 * HOUR)
    assert empty["days"] == {} and empty["overall"]["conversations"] == 0
    assert empty["overall"]["rules"]["apology_once"] == {"checked": 0, "failed": 0, "rate": None}


async def test_a_client_without_decoding_works_too(redis_server: RedisSettings) -> None:
    raw = Redis(host=redis_server.host, port=redis_server.port, db=redis_server.db)
    try:
        store = QualityStore(raw, prefix=f"q{uuid.uuid4().hex[:10]}")
        await store.save(report("c1", DAY1, failed=("one_question",)), last_activity=DAY1 - 1)
        assert (await store.get("c1")) == report("c1", DAY1, failed=("one_question",))
        assert await store.checked_activity("c1") == DAY1 - 1
        assert [r.sender_id for r in await store.failures(DAY1, DAY1 + 1)] == ["c1"]
        assert (await store.rates(DAY1, DAY1 + 1))["overall"]["rules"]["one_question"]["failed"] == 1
    finally:
        await raw.close()
        await raw.connection_pool.disconnect()


async def test_redis_down_is_reported_as_unavailable() -> None:
    dead = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    store = QualityStore(dead)
    try:
        with pytest.raises(QualityStoreUnavailable):
            await store.save(report("c1", DAY1), last_activity=DAY1)
        with pytest.raises(QualityStoreUnavailable):
            await store.rates(DAY1, DAY1 + 1)
    finally:
        await dead.close()
        await dead.connection_pool.disconnect()


async def test_rates_and_failures_answer_fast_with_ten_thousand_reports(store: QualityStore) -> None:
    rule_ids = [rule for rule, _ in RULES]
    reports = [
        report(
            f"wechat:o{i:05d}",
            DAY1 + i * 60.0,  # a week of conversations, one a minute
            failed=tuple(rule for k, rule in enumerate(rule_ids) if (i + k) % 9 == 0),
            skipped=("malicious_no_money",) if i % 3 else (),
        )
        for i in range(10_000)
    ]
    for start in range(0, len(reports), 1000):
        await store.save_many((r, r.checked_at - 30) for r in reports[start : start + 1000])

    began = time.perf_counter()
    rates = await store.rates(DAY1 - HOUR, DAY1 + 10_000 * 60.0)
    took = time.perf_counter() - began
    assert rates["overall"]["conversations"] == 10_000 and len(rates["days"]) == 8  # 10:00 on day 1 to 04:39 on day 8
    assert rates["overall"]["rules"]["malicious_no_money"]["checked"] == 3334
    assert took < 0.5, f"rates over 10,000 reports took {took:.3f} s"

    began = time.perf_counter()
    newest = await store.failures(DAY1 - HOUR, DAY1 + 10_000 * 60.0, rule="one_question", limit=100)
    took = time.perf_counter() - began
    assert len(newest) == 100 and newest[0].checked_at > newest[-1].checked_at
    assert all("one_question" in r.failed for r in newest)
    assert took < 0.5, f"failures over 10,000 reports took {took:.3f} s"
