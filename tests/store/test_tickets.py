"""The ticket store (bot/store/tickets.py) on a real Redis server."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from bot.store.tickets import Ticket, TicketNotFound, TicketStore, TicketStoreUnavailable
from tools.devstack import RedisSettings, Stack, free_port

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOUR = 3600.0
DAY = 24 * HOUR
# 2026-11-23 23:30 UTC is 2026-11-24 07:30 in Shanghai: ticket ids carry the Shanghai date.
T0 = datetime(2026, 11, 23, 23, 30, tzinfo=ZoneInfo("UTC")).timestamp()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def client_for(settings: RedisSettings, **kwargs: object) -> Redis:
    return Redis(
        host=settings.host,
        port=settings.port,
        db=settings.db,
        decode_responses=True,
        **kwargs,
    )


@pytest_asyncio.fixture(loop_scope="function")
async def client(redis_server: RedisSettings) -> AsyncIterator[Redis]:
    redis = client_for(redis_server)
    yield redis
    await redis.close()


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def prefix() -> str:
    return f"tk{uuid.uuid4().hex[:10]}"


@pytest.fixture()
def store(client: Redis, clock: Clock, prefix: str) -> TicketStore:
    return TicketStore(client, prefix=prefix, clock=clock)


BASE = {
    "channel": "rest",
    "sender_id": "conv-1",
    "customer_id": "cust-1",
    "type": "product",
}


# creation ---------------------------------------------------------------------------------
async def test_a_new_ticket_has_every_field_a_readable_id_and_its_sla(store: TicketStore, client: Redis) -> None:
    ticket, created = await store.create(
        "conv-1:confirm:1",
        **BASE,
        order_id="3920184756210384",
        customer_words="收到的电饭煲煮饭夹生",
        facts={"problem": "煮饭夹生", "since": "昨天"},
        evidence=["photo:abc123"],
        options_offered=[
            {"id": "refund", "title": "退货退款"},
            {"id": "exchange", "title": "换货"},
        ],
        chosen_option="exchange",
    )
    assert created is True
    assert ticket.id == "TS202611240001"
    assert ticket.status == "open"
    assert (ticket.priority, ticket.tier, ticket.queue) == ("P4", "normal", "general")
    assert ticket.first_response_due == T0 + 2 * HOUR
    assert ticket.resolution_due == T0 + DAY
    assert ticket.next_progress_due == T0 + DAY
    assert ticket.created_at == ticket.updated_at == T0
    assert ticket.history == [
        {
            "at": T0,
            "status": "open",
            "actor": "bot",
            "note": "工单已创建",
            "changed": [],
        }
    ]
    assert (
        ticket.compensation,
        ticket.risk_flag,
        ticket.owner,
        ticket.satisfaction,
    ) == (None, False, None, None)
    assert ticket.facts == {"problem": "煮饭夹生", "since": "昨天"}
    assert ticket.chosen_option == "exchange"

    data = ticket.to_dict()
    assert list(data) == [
        "id", "channel", "customer_id", "sender_id", "order_id", "type", "secondary_type", "cause", "urgency",
        "priority", "tier", "queue", "first_response_due", "resolution_due", "next_progress_due", "customer_words",
        "facts", "evidence", "options_offered", "chosen_option", "compensation", "risk_flag", "status",
        "history", "owner", "satisfaction", "created_at", "updated_at",
    ]  # fmt: skip
    assert Ticket.from_dict(json.loads(json.dumps(data, ensure_ascii=False))) == ticket
    assert await store.get(ticket.id) == ticket
    assert await store.get("TS199001010001") is None

    # the key layout
    p = store.prefix
    assert json.loads(await client.get(f"{p}:ticket:{ticket.id}"))["customer_words"] == "收到的电饭煲煮饭夹生"
    assert await client.get(f"{p}:idem:conv-1:confirm:1") == ticket.id
    assert await client.get(f"{p}:seq:20261124") == "1"
    assert await client.zrange(f"{p}:created", 0, -1, withscores=True) == [(ticket.id, T0)]
    assert await client.zrange(f"{p}:sender:conv-1", 0, -1) == [ticket.id]
    assert await client.zrange(f"{p}:customer:cust-1", 0, -1) == [ticket.id]
    assert await client.zrange(f"{p}:progress", 0, -1, withscores=True) == [(ticket.id, T0 + DAY)]
    idem_ttl = await client.ttl(f"{p}:idem:conv-1:confirm:1")
    assert 7 * DAY - 60 < idem_ttl <= 7 * DAY


async def test_urgency_and_repeat_pick_the_sla_tier(store: TicketStore) -> None:
    safety, _ = await store.create("k1", **BASE, urgency="safety")
    assert (safety.priority, safety.queue, safety.first_response_due) == (
        "P1",
        "emergency",
        T0 + 15 * 60,
    )
    media, _ = await store.create("k2", **BASE, urgency="media_legal", repeat=True)
    assert (media.priority, media.queue, media.first_response_due) == (
        "P2",
        "senior",
        T0 + 30 * 60,
    )
    repeat, _ = await store.create("k3", **BASE, repeat=True)
    assert (repeat.priority, repeat.queue, repeat.first_response_due) == (
        "P3",
        "senior",
        T0 + 2 * HOUR,
    )
    vulnerable, _ = await store.create("k4", **BASE, urgency="vulnerable")
    assert (vulnerable.priority, vulnerable.queue, vulnerable.first_response_due) == (
        "P3",
        "priority",
        T0 + HOUR,
    )
    explicit, _ = await store.create("k5", **BASE, priority="P2", queue="supervisor", first_response_due=T0 + 60)
    assert (explicit.priority, explicit.queue, explicit.first_response_due) == (
        "P2",
        "supervisor",
        T0 + 60,
    )
    assert explicit.resolution_due == T0 + DAY  # the missing deadlines are still filled in


async def test_the_daily_sequence_follows_the_shanghai_date(store: TicketStore, clock: Clock) -> None:
    first, _ = await store.create("a", **BASE)
    second, _ = await store.create("b", **BASE)
    clock.now = datetime(2026, 11, 24, 16, 0, tzinfo=ZoneInfo("UTC")).timestamp()  # 00:00 on the 25th in Shanghai
    third, _ = await store.create("c", **BASE)
    assert [first.id, second.id, third.id] == [
        "TS202611240001",
        "TS202611240002",
        "TS202611250001",
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({**BASE, "colour": "red"}, "unknown"),
        ({**BASE, "id": "TS1"}, "unknown or store-managed"),
        ({**BASE, "history": []}, "unknown or store-managed"),
        ({"channel": "rest"}, "sender_id is required"),
        ({"sender_id": "s"}, "channel is required"),
        ({**BASE, "status": "lost"}, "invalid status"),
        ({**BASE, "type": "weather"}, "invalid type"),
        ({**BASE, "urgency": "angry"}, "invalid urgency"),
        ({**BASE, "compensation": {"amount": -5}}, "non-negative"),
        ({**BASE, "facts": ["not", "a", "dict"]}, "facts must be a dict"),
        ({**BASE, "facts": {"when": object()}}, "JSON"),
    ],
)
async def test_invalid_fields_are_rejected_and_nothing_is_written(
    store: TicketStore,
    client: Redis,
    fields: dict,
    message: str,  # type: ignore[type-arg]
) -> None:
    with pytest.raises(ValueError, match=message):
        await store.create("bad", **fields)
    assert await client.keys(f"{store.prefix}:*") == []


async def test_an_empty_idempotency_key_is_rejected(store: TicketStore) -> None:
    with pytest.raises(ValueError):
        await store.create("  ", **BASE)


# idempotency ------------------------------------------------------------------------------
async def test_concurrent_duplicate_requests_make_exactly_one_ticket(store: TicketStore, client: Redis) -> None:
    results = await asyncio.gather(*(store.create("conv-1:confirm:7", **BASE) for _ in range(50)))
    assert sum(created for _, created in results) == 1
    assert len({ticket.id for ticket, _ in results}) == 1
    assert all(ticket == results[0][0] for ticket, _ in results)
    assert await client.zcard(f"{store.prefix}:created") == 1
    assert len(await client.keys(f"{store.prefix}:ticket:*")) == 1
    # no sequence number was used up by the duplicates
    following, _ = await store.create("another", **BASE)
    assert following.id.endswith("0002")


def test_duplicate_requests_from_separate_connections_make_exactly_one_ticket(
    redis_server: RedisSettings, prefix: str
) -> None:
    """Eight threads, each with its own event loop and Redis connection pool, ten requests each."""
    results: list[tuple[str, bool]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    async def worker() -> None:
        redis = client_for(redis_server)
        try:
            store = TicketStore(redis, prefix=prefix, clock=Clock())
            await redis.ping()
            start.wait()
            done = await asyncio.gather(*(store.create("same-request", **BASE) for _ in range(10)))
            with lock:
                results.extend((ticket.id, created) for ticket, created in done)
        finally:
            await redis.close()

    def run() -> None:
        try:
            asyncio.run(worker())
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(results) == 80
    assert sum(created for _, created in results) == 1
    assert {ticket_id for ticket_id, _ in results} == {"TS202611240001"}


async def test_different_keys_make_different_tickets_with_unique_ids(
    store: TicketStore,
) -> None:
    results = await asyncio.gather(*(store.create(f"key-{i}", **BASE) for i in range(30)))
    assert all(created for _, created in results)
    ids = sorted(ticket.id for ticket, _ in results)
    assert ids == [f"TS20261124{n:04d}" for n in range(1, 31)]


async def test_a_retried_request_gets_the_ticket_as_it_is_now(
    store: TicketStore,
) -> None:
    ticket, _ = await store.create("req", **BASE)
    await store.update(ticket.id, actor="agent-7", note="接手", status="with_agent", owner="agent-7")
    again, created = await store.create("req", **BASE, order_id="ignored")
    assert created is False
    assert again.id == ticket.id
    assert (again.status, again.owner, again.order_id) == (
        "with_agent",
        "agent-7",
        None,
    )


async def test_the_idempotency_key_lifetime_is_configurable(client: Redis, prefix: str) -> None:
    store = TicketStore(client, prefix=prefix, idempotency_ttl=90)
    await store.create("short", **BASE)
    assert 0 < await client.ttl(f"{prefix}:idem:short") <= 90
    with pytest.raises(ValueError):
        TicketStore(client, prefix=prefix, idempotency_ttl=0)


# updates ----------------------------------------------------------------------------------
async def test_updates_append_timestamped_history(store: TicketStore, clock: Clock) -> None:
    ticket, _ = await store.create("h", **BASE)
    clock.advance(600)
    taken = await store.update(
        ticket.id,
        actor="agent-7",
        note="人工接手",
        status="with_agent",
        owner="agent-7",
    )
    clock.advance(3600)
    comp = await store.update(ticket.id, actor="manager-2", note="批准补偿", compensation={"amount": 800})
    clock.advance(60)
    done = await store.update(ticket.id, actor="agent-7", note="已补发", status="resolved")
    assert taken.status == "with_agent" and taken.owner == "agent-7"
    assert comp.compensation == {"amount": 800, "status": None, "approved_by": None}
    assert done.updated_at == T0 + 600 + 3600 + 60
    assert [(h["at"], h["status"], h["actor"], h["note"], h["changed"]) for h in done.history] == [
        (T0, "open", "bot", "工单已创建", []),
        (T0 + 600, "with_agent", "agent-7", "人工接手", ["owner", "status"]),
        (T0 + 4200, "with_agent", "manager-2", "批准补偿", ["compensation"]),
        (T0 + 4260, "resolved", "agent-7", "已补发", ["status"]),
    ]
    assert await store.get(ticket.id) == done
    rated = await store.set_satisfaction(ticket.id, 5)
    assert rated.satisfaction == 5
    assert rated.history[-1]["actor"] == "customer"


async def test_invalid_updates_are_rejected_and_change_nothing(
    store: TicketStore,
) -> None:
    ticket, _ = await store.create("inv", **BASE)
    with pytest.raises(ValueError, match="invalid status"):
        await store.update(ticket.id, actor="a", note="n", status="lost")
    for field in (
        "id",
        "sender_id",
        "channel",
        "created_at",
        "updated_at",
        "history",
        "nonsense",
    ):
        with pytest.raises(ValueError, match="read-only"):
            await store.update(ticket.id, actor="a", note="n", **{field: "x"})
    for score in (0, 6, 3.5, True, "5"):
        with pytest.raises(ValueError, match="satisfaction"):
            await store.set_satisfaction(ticket.id, score)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await store.update(ticket.id, actor="a", note="n", risk_flag="yes")
    assert await store.get(ticket.id) == ticket
    with pytest.raises(TicketNotFound):
        await store.update("TS199001010001", actor="a", note="n", owner="x")


async def test_concurrent_updates_keep_every_history_entry(store: TicketStore, redis_server: RedisSettings) -> None:
    ticket, _ = await store.create("busy", **BASE)
    other_client = client_for(redis_server)
    other = TicketStore(other_client, prefix=store.prefix, clock=store.clock)
    try:
        await asyncio.gather(
            *(
                (store if i % 2 else other).update(ticket.id, actor=f"agent-{i}", note=f"note {i}", facts={"n": i})
                for i in range(40)
            )
        )
    finally:
        await other_client.close()
    final = await store.get(ticket.id)
    assert final is not None
    assert len(final.history) == 41
    assert sorted(h["note"] for h in final.history[1:]) == sorted(f"note {i}" for i in range(40))


async def test_a_new_customer_id_moves_the_ticket_in_the_index(
    store: TicketStore,
) -> None:
    ticket, _ = await store.create("anon", channel="rest", sender_id="web-9")
    assert await store.open_or_recent("cust-9") == []
    await store.update(ticket.id, actor="bot", note="客户已登录", customer_id="cust-9")
    assert [t.id for t in await store.open_or_recent("cust-9")] == [ticket.id]


async def test_the_same_order_links_customers_of_different_channels(store: TicketStore, clock: Clock) -> None:
    web, _ = await store.create(
        "w", channel="webchat", sender_id="webchat:ab", customer_id="webchat:ab", order_id="3920184756210384"
    )
    clock.advance(60)
    wechat, _ = await store.create(
        "x", channel="wechat", sender_id="wechat:o1", customer_id="wechat:o1", order_id="3920184756210384"
    )
    again, _ = await store.create(
        "y", channel="wechat", sender_id="wechat:o1", customer_id="wechat:o1", order_id="3920184756210384"
    )
    other_order, _ = await store.create(
        "z", channel="taobao", sender_id="taobao:t", customer_id="taobao:t", order_id="111122223333"
    )
    no_order, _ = await store.create("n", channel="rest", sender_id="r", customer_id="rest:r")
    assert [t.id for t in await store.linked(wechat)] == [web.id], "the same customer's own tickets are not 'linked'"
    assert [t.id for t in await store.linked(web)] == [again.id, wechat.id]
    assert await store.linked(other_order) == [] and await store.linked(no_order) == []
    # an order number learnt later (or corrected) moves the ticket in the index
    await store.update(no_order.id, actor="agent", note="客户补充订单号", order_id="111122223333")
    assert [t.id for t in await store.linked(other_order)] == [no_order.id]
    await store.update(no_order.id, actor="agent", note="订单号更正", order_id="999900001111")
    assert await store.linked(other_order) == []


# reading ----------------------------------------------------------------------------------
async def test_tickets_of_a_conversation_newest_first(store: TicketStore, clock: Clock) -> None:
    ids = []
    for i in range(3):
        ticket, _ = await store.create(f"s{i}", **BASE)
        ids.append(ticket.id)
        clock.advance(60)
    await store.create("other", **{**BASE, "sender_id": "conv-2"})
    assert [t.id for t in await store.for_sender("conv-1")] == ids[::-1]
    assert await store.for_sender("nobody") == []


async def test_open_or_recent_is_the_30_day_repeat_check(store: TicketStore, clock: Clock) -> None:
    old_done, _ = await store.create("a", **BASE)
    old_open, _ = await store.create("b", **BASE)
    await store.update(old_done.id, actor="agent", note="解决", status="resolved")
    clock.advance(20 * DAY)
    recent_closed, _ = await store.create("c", **{**BASE, "sender_id": "conv-2"})
    await store.update(recent_closed.id, actor="agent", note="关闭", status="closed")
    other_customer, _ = await store.create("d", **{**BASE, "customer_id": "cust-2", "sender_id": "conv-3"})

    clock.advance(10 * DAY)  # day 30: everything of cust-1 is still within 30 days
    assert [t.id for t in await store.open_or_recent("cust-1")] == [
        recent_closed.id,
        old_open.id,
        old_done.id,
    ]
    clock.advance(DAY)  # day 31: the resolved one is 31 days old, the open one stays
    assert [t.id for t in await store.open_or_recent("cust-1")] == [
        recent_closed.id,
        old_open.id,
    ]
    day51 = T0 + 51 * DAY
    assert [t.id for t in await store.open_or_recent("cust-1", now=day51)] == [old_open.id]
    assert [t.id for t in await store.open_or_recent("cust-1", now=day51, days=40)] == [
        recent_closed.id,
        old_open.id,
    ]
    # by conversation id, and both together (no duplicates)
    assert [t.id for t in await store.open_or_recent(sender_id="conv-2")] == [recent_closed.id]
    both = await store.open_or_recent("cust-1", sender_id="conv-1")
    assert [t.id for t in both] == [recent_closed.id, old_open.id]
    assert [t.id for t in await store.open_or_recent("cust-2")] == [other_customer.id]
    with pytest.raises(ValueError):
        await store.open_or_recent()


async def test_due_for_progress_lists_open_tickets_past_their_report_time(store: TicketStore, clock: Clock) -> None:
    first, _ = await store.create("p1", **BASE)
    clock.advance(HOUR)
    second, _ = await store.create("p2", **BASE)
    assert await store.due_for_progress(T0 + 23 * HOUR) == []
    assert [t.id for t in await store.due_for_progress(T0 + 25 * HOUR)] == [
        first.id,
        second.id,
    ]
    await store.update(first.id, actor="agent", note="进展已告知", next_progress_due=T0 + 48 * HOUR)
    await store.update(second.id, actor="agent", note="解决", status="resolved")
    assert await store.due_for_progress(T0 + 25 * HOUR) == []
    assert [t.id for t in await store.due_for_progress(T0 + 49 * HOUR)] == [first.id]


async def test_a_client_without_decoded_responses_works_too(redis_server: RedisSettings, prefix: str) -> None:
    raw = Redis(host=redis_server.host, port=redis_server.port, db=redis_server.db)
    try:
        store = TicketStore(raw, prefix=prefix, clock=Clock())
        ticket, created = await store.create("bytes", **BASE, customer_words="快递三天没动了")
        assert created
        again, created = await store.create("bytes", **BASE)
        assert not created and again == ticket
        updated = await store.update(ticket.id, actor="bot", note="n", status="with_agent")
        assert [t.id for t in await store.for_sender("conv-1")] == [ticket.id]
        assert (await store.get(ticket.id)) == updated
    finally:
        await raw.close()


async def test_log_lines_mask_personal_data(store: TicketStore, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="bot.store.tickets"):
        ticket, _ = await store.create(
            "pii",
            channel="rest",
            sender_id="13812345678",
            customer_words="我电话13812345678",
        )
        await store.create("pii", channel="rest", sender_id="13812345678")
        await store.update(ticket.id, actor="13900001111", note="n", owner="x")
    assert caplog.records
    assert "13812345678" not in caplog.text and "13900001111" not in caplog.text
    assert "138****5678" in caplog.text


# durability and failure -------------------------------------------------------------------
async def test_tickets_and_idempotency_keys_survive_a_redis_restart(
    tmp_path: Path,
) -> None:
    data = tmp_path / "redis"
    stack = Stack()
    try:
        settings = stack.start_redis(free_port(), data, log=tmp_path / "redis1.log")
        redis = client_for(settings)
        store = TicketStore(redis, prefix="tickets", clock=Clock())
        ticket, created = await store.create("conv-1:confirm:1", **BASE, customer_words="电饭煲坏了")
        assert created
        ticket = await store.update(ticket.id, actor="bot", note="已记录照片", evidence=["photo:1"])
        stack.stop()
        with pytest.raises(TicketStoreUnavailable):  # the server is gone
            await store.get(ticket.id)
        assert await store.ping() is False
        await redis.close()

        settings = stack.start_redis(free_port(), data, log=tmp_path / "redis2.log")
        redis = client_for(settings)
        store = TicketStore(redis, prefix="tickets", clock=Clock())
        try:
            assert await store.ping() is True
            assert await store.get(ticket.id) == ticket
            again, created = await store.create("conv-1:confirm:1", **BASE)
            assert (again.id, created) == (ticket.id, False)
            following, created = await store.create("conv-1:confirm:2", **BASE)
            assert created and following.id == "TS202611240002"  # the sequence survived too
            assert [t.id for t in await store.for_sender("conv-1")] == [
                following.id,
                ticket.id,
            ]
        finally:
            await redis.close()
    finally:
        stack.stop()


async def test_a_store_whose_redis_is_down_says_so_plainly() -> None:
    redis = Redis(
        host="127.0.0.1",
        port=free_port(),
        decode_responses=True,
        socket_connect_timeout=2,
    )
    store = TicketStore(redis, prefix="down", clock=Clock())
    try:
        assert await store.ping() is False
        with pytest.raises(TicketStoreUnavailable):
            await store.create("k", **BASE)
        with pytest.raises(TicketStoreUnavailable):
            await store.get("TS202611240001")
        with pytest.raises(TicketStoreUnavailable):
            await store.update("TS202611240001", actor="a", note="n", owner="x")
        with pytest.raises(TicketStoreUnavailable):
            await store.set_satisfaction("TS202611240001", 4)
        with pytest.raises(TicketStoreUnavailable):
            await store.for_sender("conv-1")
        with pytest.raises(TicketStoreUnavailable):
            await store.open_or_recent("cust-1")
        with pytest.raises(TicketStoreUnavailable):
            await store.due_for_progress()
        with pytest.raises(TicketStoreUnavailable):
            await store.linked(
                Ticket(id="TS202611240001", created_at=0, updated_at=0, channel="rest", sender_id="s", order_id="1234")
            )
    finally:
        await redis.close()


def test_describe_tells_the_customer_where_a_ticket_stands() -> None:
    from bot.store.tickets import Ticket, describe

    ticket = Ticket(
        id="TS202611230001",
        channel="rest",
        sender_id="c1",
        status="with_agent",
        created_at=0.0,
        updated_at=0.0,
        chosen_option={"label": "换货", "description": "48小时内给您发出新的。"},
    )
    assert describe(ticket) == {
        "ticket_id": "TS202611230001",
        "status": "人工客服处理中",
        "next_steps": "方案：换货，48小时内给您发出新的。",
    }
    assert describe(Ticket(id="T", channel="rest", sender_id="c", created_at=0.0, updated_at=0.0))["next_steps"] == ""
