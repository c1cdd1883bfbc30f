"""The analytics projection the ticket store keeps (``P:facts``), on a real Redis server."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from bot.analytics import facts as analytics
from bot.analytics.facts import CLAIM_NOTE, HANDOFF_NOTE, ticket_facts
from bot.store import projections
from bot.store import tickets as tickets_module
from bot.store.tickets import TicketStore
from tools.devstack import RedisSettings

HOUR = 3600.0
DAY = 24 * HOUR
# 2026-11-23 23:30 UTC is Tuesday 2026-11-24 07:30 in Shanghai.
T0 = datetime(2026, 11, 23, 23, 30, tzinfo=ZoneInfo("UTC")).timestamp()
BASE = {"channel": "webchat", "sender_id": "conv-1", "customer_id": "webchat:cust-1", "type": "product"}


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest_asyncio.fixture(loop_scope="function")
async def client(redis_server: RedisSettings) -> AsyncIterator[Redis]:
    redis = Redis(host=redis_server.host, port=redis_server.port, db=redis_server.db, decode_responses=True)
    yield redis
    await redis.close()


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def store(client: Redis, clock: Clock) -> TicketStore:
    return TicketStore(client, prefix=f"af{uuid.uuid4().hex[:10]}", clock=clock)


async def stored_facts(client: Redis, store: TicketStore, ticket_id: str) -> dict[str, Any] | None:
    raw = await client.hget(store.facts_key, ticket_id)
    return None if raw is None else json.loads(raw)


async def test_create_writes_the_projection_with_the_ticket(store: TicketStore, client: Redis) -> None:
    ticket, _ = await store.create(
        "k1",
        **BASE,
        cause="defect",
        facts={"product_category": "家电", "problem_summary": "煮饭夹生"},
        chosen_option={"id": "exchange", "label": "换货"},
        compensation={"amount": 20, "status": "granted", "approved_by": "bot"},
    )
    raw = await client.hget(store.facts_key, ticket.id)
    assert raw is not None and raw.startswith('{"id":"TS202611240001",')  # the script put the id in
    projection = json.loads(raw)
    assert projection == ticket_facts(ticket.to_dict())
    assert {k: projection[k] for k in ("v", "day", "hour", "weekday", "channel", "customer", "type", "cause")} == {
        "v": analytics.VERSION,
        "day": "2026-11-24",
        "hour": 7,
        "weekday": 1,
        "channel": "webchat",
        "customer": "webchat:cust-1",
        "type": "product",
        "cause": "defect",
    }
    assert (projection["category"], projection["priority"], projection["queue"]) == ("appliances", "P4", "general")
    assert (projection["option_id"], projection["option_label"]) == ("exchange", "换货")
    assert (projection["compensation"], projection["compensation_status"]) == (20.0, "granted")
    assert projection["handoff_reason"] is None and projection["first_response_due"] == T0 + 2 * HOUR
    assert list(projection) == ["id", *[f for f in analytics.FIELDS if f != "id"]]


async def test_a_repeated_create_leaves_the_projection_alone(store: TicketStore, client: Redis) -> None:
    ticket, _ = await store.create("k1", **BASE)
    await store.update(ticket.id, actor="agent-7", note=CLAIM_NOTE, status="with_agent")
    before = await client.hget(store.facts_key, ticket.id)
    again, created = await store.create("k1", **{**BASE, "type": "service"})
    assert created is False and again.id == ticket.id
    assert await client.hget(store.facts_key, ticket.id) == before
    assert await client.hlen(store.facts_key) == 1


async def test_every_update_rewrites_the_projection(store: TicketStore, client: Redis, clock: Clock) -> None:
    ticket, _ = await store.create(
        "k1", **BASE, urgency="safety", status="with_agent", note=HANDOFF_NOTE.format(reason="urgency")
    )
    projection = await stored_facts(client, store, ticket.id)
    assert projection is not None
    assert (projection["handoff_reason"], projection["handoff_at"], projection["respond_by"]) == (
        "urgency",
        T0,
        T0 + 900,
    )
    assert (projection["priority"], projection["queue"], projection["first_claimed_at"]) == ("P1", "emergency", None)

    clock.now = T0 + 600
    await store.update(ticket.id, actor="agent-7", note=CLAIM_NOTE, status="with_agent", owner="agent-7")
    clock.now = T0 + HOUR
    await store.update(ticket.id, actor="agent-7", note="已解决", status="resolved")
    clock.now = T0 + 2 * HOUR
    final = await store.set_satisfaction(ticket.id, 2)

    projection = await stored_facts(client, store, ticket.id)
    assert projection == ticket_facts(final.to_dict())
    assert projection is not None
    assert (projection["first_claimed_at"], projection["resolved_at"]) == (T0 + 600, T0 + HOUR)
    assert (projection["status"], projection["satisfaction"]) == ("resolved", 2)
    assert await store.all_facts() == [projection]


async def test_an_escalation_keeps_the_queue_the_case_was_handed_to(
    store: TicketStore, client: Redis, clock: Clock
) -> None:
    ticket, _ = await store.create("k1", **BASE)
    clock.now = T0 + 60
    await store.update(ticket.id, actor="bot", note=HANDOFF_NOTE.format(reason="asked"), status="with_agent")
    clock.now = T0 + 3 * HOUR
    await store.update(ticket.id, actor="timer", note="超时未接手，已升级给客服主管", queue="supervisor")
    clock.now = T0 + 4 * HOUR
    await store.update(ticket.id, actor="sup-1", note=CLAIM_NOTE, status="with_agent")
    (projection,) = await store.all_facts()
    assert (projection["handoff_queue"], projection["queue"], projection["escalated"]) == (
        "general",
        "supervisor",
        True,
    )
    # recomputed from the ticket alone (a lost projection), the handed-to queue is the ticket's queue
    await client.hdel(store.facts_key, ticket.id)
    projections.caches.clear()  # deleted by hand, behind the cache's back
    (recomputed,) = await store.all_facts()
    assert recomputed["handoff_queue"] == "supervisor"


async def test_a_later_handoff_gets_its_own_first_response_window(store: TicketStore, clock: Clock) -> None:
    ticket, _ = await store.create("k1", **BASE)  # settled by the bot: P4, 2 hours
    clock.now = T0 + 3 * DAY
    await store.update(ticket.id, actor="bot", note=HANDOFF_NOTE.format(reason="asked"), status="with_agent")
    (projection,) = await store.all_facts()
    assert projection["first_response_due"] == T0 + 2 * HOUR
    assert projection["respond_by"] == T0 + 3 * DAY + 2 * HOUR
    assert (projection["handoff_reason"], projection["handoff_at"]) == ("asked", T0 + 3 * DAY)


async def test_all_facts_reads_a_time_range_oldest_first(store: TicketStore, clock: Clock) -> None:
    ids = []
    for n in range(3):
        clock.now = T0 + n * DAY
        ticket, _ = await store.create(f"k{n}", **BASE)
        ids.append(ticket.id)
    assert [f["id"] for f in await store.all_facts()] == ids
    assert [f["id"] for f in await store.all_facts(since=T0 + DAY)] == ids[1:]
    assert [f["id"] for f in await store.all_facts(until=T0 + DAY)] == ids[:1]  # until is exclusive
    assert [f["id"] for f in await store.all_facts(since=T0, until=T0 + 2 * DAY)] == ids[:2]
    assert await store.all_facts(since=T0 + 10 * DAY) == []
    assert await store.all_facts(since=T0 + DAY, until=T0 + DAY) == []


async def test_all_facts_reads_more_than_one_chunk(
    store: TicketStore, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tickets_module, "FACTS_CHUNK", 2)
    for n in range(5):
        clock.now = T0 + n
        await store.create(f"k{n}", **BASE)
    facts = await store.all_facts()
    assert [f["created_at"] for f in facts] == [T0 + n for n in range(5)]


async def test_a_ticket_written_before_projections_is_computed_and_stored(store: TicketStore, client: Redis) -> None:
    old, _ = await store.create("k1", **BASE, cause="wrong_item")
    new, _ = await store.create("k2", **BASE)
    await client.hdel(store.facts_key, old.id)  # as if written before this change
    legacy = {**old.to_dict(), "id": "TS202611230009", "created_at": T0 - DAY}  # never had one
    await client.set(store.ticket_key("TS202611230009"), json.dumps(legacy, ensure_ascii=False))
    await client.zadd(store.created_key, {"TS202611230009": T0 - DAY})

    facts = await store.all_facts()
    assert [f["id"] for f in facts] == ["TS202611230009", old.id, new.id]
    assert facts[1] == ticket_facts(old.to_dict()) and facts[1]["cause"] == "wrong_item"
    assert facts[0]["day"] == "2026-11-23"
    # stored for the next call
    assert await stored_facts(client, store, old.id) == facts[1]
    assert await stored_facts(client, store, "TS202611230009") == facts[0]


async def test_a_projection_of_an_older_version_is_recomputed(store: TicketStore, client: Redis) -> None:
    ticket, _ = await store.create("k1", **BASE)
    await client.hset(store.facts_key, ticket.id, json.dumps({"v": 0, "id": ticket.id, "type": "stale"}))
    (projection,) = await store.all_facts()
    assert projection["type"] == "product" and projection["v"] == analytics.VERSION
    assert await stored_facts(client, store, ticket.id) == projection


async def test_the_backfill_never_overwrites_a_newer_projection(store: TicketStore, client: Redis) -> None:
    ticket, _ = await store.create("k1", **BASE)
    current = await client.hget(store.facts_key, ticket.id)
    # all_facts read "no projection", but an update wrote one meanwhile: the computed one is not stored
    keys = [store.facts_key, *store.facts_change_keys]
    written = await store._backfill_script(keys=keys, args=[ticket.id, "", '{"v":1,"stale":true}'])
    assert written == 0 and await client.hget(store.facts_key, ticket.id) == current
    written = await store._backfill_script(keys=keys, args=[ticket.id, current, '{"v":1,"next":true}'])
    assert written == 1 and await stored_facts(client, store, ticket.id) == {"v": 1, "next": True}


async def test_an_indexed_id_without_its_ticket_is_skipped(store: TicketStore, client: Redis) -> None:
    ticket, _ = await store.create("k1", **BASE)
    await client.zadd(store.created_key, {"TS202611249999": T0 + 1})
    assert [f["id"] for f in await store.all_facts()] == [ticket.id]


async def test_a_failing_projection_never_fails_the_ticket_write(
    store: TicketStore, client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(ticket: dict[str, Any], previous: Any = None) -> dict[str, Any]:
        raise RuntimeError("bug in analytics")

    ticket, _ = await store.create("k1", **BASE)
    monkeypatch.setattr(analytics, "ticket_facts", broken)
    other, created = await store.create("k2", **BASE)
    assert created and await store.get(other.id) == other
    assert await client.hget(store.facts_key, other.id) is None
    updated = await store.update(ticket.id, actor="bot", note="x", status="resolved")
    assert updated.status == "resolved"
    assert await client.hget(store.facts_key, ticket.id) is None  # no stale projection left behind
    assert await store.all_facts() == []  # nothing it could compute
    monkeypatch.undo()
    assert [f["status"] for f in await store.all_facts()] == ["resolved", "open"]


async def test_a_client_without_decoded_responses_reads_the_same(
    store: TicketStore, redis_server: RedisSettings
) -> None:
    ticket, _ = await store.create("k1", **BASE)
    raw_client = Redis(host=redis_server.host, port=redis_server.port, db=redis_server.db)
    try:
        other = TicketStore(raw_client, prefix=store.prefix, clock=store.clock)
        assert await other.all_facts() == await store.all_facts()
        await raw_client.hdel(store.facts_key, ticket.id)
        assert [f["id"] for f in await other.all_facts()] == [ticket.id]
    finally:
        await raw_client.close()


# the in-process cache of projections ---------------------------------------------------------


async def test_every_projection_write_is_numbered(store: TicketStore, client: Redis, clock: Clock) -> None:
    gen_key, changed_key, epoch_key = store.facts_change_keys
    first, _ = await store.create("k1", **BASE)
    second, _ = await store.create("k2", **BASE)
    await store.update(first.id, actor="bot", note="x", status="resolved")
    assert await client.get(gen_key) == "3"
    assert await client.zrange(changed_key, 0, -1, withscores=True) == [(second.id, 2.0), (first.id, 3.0)]
    epoch = await client.get(epoch_key)
    assert epoch and epoch.endswith(":1")  # set with the first write, kept after
    await store.create("k1", **BASE)  # a repeated create writes nothing
    assert await client.get(gen_key) == "3"


async def test_later_calls_fetch_only_what_changed(
    store: TicketStore, client: Redis, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    tickets = []
    for n in range(4):
        clock.now = T0 + n * HOUR
        tickets.append((await store.create(f"k{n}", **BASE))[0])
    assert len(await store.all_facts()) == 4
    asked: list[list[str]] = []
    real = store._facts_of

    async def spy(ids: list[str]) -> Any:
        asked.append(list(ids))
        return await real(ids)

    monkeypatch.setattr(store, "_facts_of", spy)
    assert len(await store.all_facts()) == 4 and asked == []  # nothing changed: no projection read
    # written through another store and client, as another process would
    other_client = Redis(
        host=client.connection_pool.connection_kwargs["host"],
        port=client.connection_pool.connection_kwargs["port"],
        decode_responses=True,
    )
    try:
        other = TicketStore(other_client, prefix=store.prefix, clock=clock)
        await other.update(tickets[1].id, actor="agent-1", note=CLAIM_NOTE, status="with_agent")
        clock.now = T0 + 5 * HOUR
        new, _ = await other.create("k9", **BASE)
    finally:
        await other_client.close()
    facts = await store.all_facts()
    assert asked == [[tickets[1].id, new.id]]
    assert [f["id"] for f in facts] == [t.id for t in tickets] + [new.id]
    assert facts[1]["first_claimed_at"] == T0 + 3 * HOUR and facts[1]["status"] == "with_agent"
    assert [f["id"] for f in await store.all_facts(since=T0 + HOUR, until=T0 + 3 * HOUR)] == [
        tickets[1].id,
        tickets[2].id,
    ]


async def test_the_answers_are_copies(store: TicketStore) -> None:
    await store.create("k1", **BASE)
    (first,) = await store.all_facts()
    first["type"] = "changed by a caller"
    assert (await store.all_facts())[0]["type"] == "product"


async def test_an_emptied_database_starts_the_cache_over(store: TicketStore, client: Redis, clock: Clock) -> None:
    old, _ = await store.create("k1", **BASE)
    assert [f["id"] for f in await store.all_facts()] == [old.id]
    for key in await client.keys(f"{store.prefix}:*"):  # as FLUSHDB would, for this prefix only
        await client.delete(key)
    clock.now = T0 + DAY
    new, _ = await store.create("k2", **{**BASE, "type": "service"})
    assert new.id != old.id
    assert [(f["id"], f["type"]) for f in await store.all_facts()] == [(new.id, "service")]


async def test_without_the_cache_every_call_reads_redis(client: Redis, clock: Clock) -> None:
    store = TicketStore(client, prefix=f"af{uuid.uuid4().hex[:10]}", clock=clock, cache_facts=False)
    ticket, _ = await store.create("k1", **BASE)
    assert [f["id"] for f in await store.all_facts()] == [ticket.id]
    await client.hdel(store.facts_key, ticket.id)  # behind its back: read again, recomputed
    assert [f["id"] for f in await store.all_facts(until=T0 + 1)] == [ticket.id]
    assert await store.all_facts(since=T0 + 1) == []


async def test_the_cache_reads_only_the_range_asked_and_further_back_once(
    store: TicketStore, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    tickets = []
    for n in range(4):
        clock.now = T0 + n * DAY
        tickets.append((await store.create(f"k{n}", **BASE))[0])
    asked: list[list[str]] = []
    real = store._facts_of

    async def spy(ids: list[str]) -> Any:
        asked.append(list(ids))
        return await real(ids)

    monkeypatch.setattr(store, "_facts_of", spy)
    assert [f["id"] for f in await store.all_facts(since=T0 + 2 * DAY)] == [t.id for t in tickets[2:]]
    assert asked == [[t.id for t in tickets[2:]]]  # the first call read only its range
    clock.now = T0 + 5 * DAY
    await store.update(tickets[0].id, actor="bot", note="x", status="resolved")  # before the cached range
    assert [f["id"] for f in await store.all_facts(since=T0 + 3 * DAY)] == [tickets[3].id]
    facts = await store.all_facts(since=T0 + DAY)  # further back: tickets[1] read once
    assert [f["id"] for f in facts] == [t.id for t in tickets[1:]]
    everything = await store.all_facts()
    assert [f["status"] for f in everything] == ["resolved", "open", "open", "open"]
    # read: the first range, the change to tickets[0] (outside the range: left out), then each extension
    assert asked[1:] == [[tickets[0].id], [tickets[1].id], [tickets[0].id]]
    await store.all_facts()
    assert len(asked) == 4  # all covered, nothing changed: nothing read
