"""bot/rasa_ext/lock_store.py on the real Redis server of the test run.

Two store objects with their own connections stand for two Sanic workers; threads with their
own event loops make the calls truly concurrent (Rasa's ``RedisLockStore`` fails the
concurrency tests below: its GET/edit/SET loses tickets).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from pathlib import Path

import pytest
from rasa.core.lock_store import LockError, LockStore
from rasa.utils.endpoints import read_endpoint_config

from bot.rasa_ext.lock_store import AtomicRedisLockStore

ROOT = Path(__file__).resolve().parents[2]


def make_store(redis_server) -> AtomicRedisLockStore:  # type: ignore[no-untyped-def]
    return AtomicRedisLockStore(
        host=redis_server.host, port=redis_server.port, db=redis_server.db, key_prefix=f"lk{uuid.uuid4().hex[:6]}"
    )


def conversation() -> str:
    return f"c-{uuid.uuid4().hex[:8]}"


def test_endpoints_yml_registers_the_atomic_store(redis_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for name, value in redis_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ACTION_ENDPOINT_URL", "http://127.0.0.1:1/webhook")
    store = LockStore.create(read_endpoint_config(str(ROOT / "endpoints.yml"), "lock_store"))
    assert isinstance(store, AtomicRedisLockStore)
    assert (store.settings["host"], store.settings["port"], store.prefix) == (
        redis_server.host,
        redis_server.port,
        "lock",
    )
    ticket = store.issue_ticket(conversation())
    assert ticket == 1


def test_tickets_are_unique_and_increasing_under_concurrency(redis_server) -> None:  # type: ignore[no-untyped-def]
    prefix = f"lk{uuid.uuid4().hex[:6]}"
    stores = [AtomicRedisLockStore(host=redis_server.host, port=redis_server.port, key_prefix=prefix) for _ in range(4)]
    conv = conversation()
    issued: list[int] = []

    def issue(store: AtomicRedisLockStore) -> None:
        for _ in range(50):
            issued.append(store.issue_ticket(conv))

    threads = [threading.Thread(target=issue, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(issued) == list(range(1, 201))
    lock = stores[0].get_lock(conv)
    assert lock is not None and [t.number for t in lock.tickets] == list(range(1, 201))
    assert lock.now_serving == 1 and lock.last_issued == 200


def _worker(
    store: AtomicRedisLockStore, conv: str, redis_client, log: list, n: int, started: threading.Barrier
) -> None:  # type: ignore[no-untyped-def]
    """One 'Sanic worker': n messages at once, each a read-modify-write that needs the lock."""

    async def message(i: int) -> None:
        async with store.lock(conv, lock_lifetime=30, wait_time_in_seconds=0.5):
            log.append(("in", threading.get_ident(), i))
            value = int(redis_client.get(f"{conv}:counter") or 0)
            await asyncio.sleep(0.005)
            redis_client.set(f"{conv}:counter", value + 1)
            log.append(("out", threading.get_ident(), i))

    async def main() -> None:
        started.wait()
        await asyncio.gather(*(message(i) for i in range(n)))

    asyncio.run(main())


def test_two_workers_process_one_message_at_a_time_and_none_is_lost(redis_server, redis_client) -> None:  # type: ignore[no-untyped-def]
    prefix = f"lk{uuid.uuid4().hex[:6]}"
    conv = conversation()
    log: list = []
    started = threading.Barrier(2)
    threads = [
        threading.Thread(
            target=_worker,
            args=(
                AtomicRedisLockStore(host=redis_server.host, port=redis_server.port, key_prefix=prefix),
                conv,
                redis_client,
                log,
                15,
                started,
            ),
        )
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert int(redis_client.get(f"{conv}:counter")) == 30
    # strictly alternating in/out: never two messages inside at once
    assert [kind for kind, *_ in log] == ["in", "out"] * 30
    # the lock is gone, the counter is kept (numbers are never reused)
    store = AtomicRedisLockStore(host=redis_server.host, port=redis_server.port, key_prefix=prefix)
    assert store.get_lock(conv) is None and not store.is_someone_waiting(conv)
    assert store.issue_ticket(conv) == 31


async def test_messages_are_served_in_arrival_order(redis_server) -> None:  # type: ignore[no-untyped-def]
    store_a, store_b = make_store(redis_server), make_store(redis_server)
    store_b.prefix = store_a.prefix  # two workers, one Redis
    conv = conversation()
    served: list[int] = []

    async def message(i: int) -> None:
        async with (store_a if i % 2 else store_b).lock(conv, wait_time_in_seconds=1):
            served.append(i)
            await asyncio.sleep(0.01)

    tasks = []
    for i in range(12):
        tasks.append(asyncio.create_task(message(i)))
        await asyncio.sleep(0.005)  # arrival order = creation order
    started = time.monotonic()
    await asyncio.gather(*tasks)
    assert served == list(range(12))
    # a release wakes the next message at once: far below one 1-second poll per message
    assert time.monotonic() - started < 3


async def test_a_waiting_message_outlives_the_lock_lifetime(redis_server) -> None:  # type: ignore[no-untyped-def]
    """Rasa's store drops a ticket lifetime after it was issued, however long it waited."""
    store = make_store(redis_server)
    conv = conversation()
    served: list[int] = []

    async def message(i: int) -> None:
        async with store.lock(conv, lock_lifetime=0.5, wait_time_in_seconds=0.05):
            served.append(i)
            await asyncio.sleep(0.3)

    tasks = [asyncio.create_task(message(i)) for i in range(4)]  # the last waits ~0.9 s > 0.5 s
    await asyncio.gather(*tasks)
    assert served == [0, 1, 2, 3]


async def test_a_dead_holder_is_passed_after_its_lifetime(redis_server) -> None:  # type: ignore[no-untyped-def]
    store = make_store(redis_server)
    conv = conversation()
    dead = store.issue_ticket(conv, lock_lifetime=0.4)  # a worker that died holding the lock
    started = time.monotonic()
    async with store.lock(conv, wait_time_in_seconds=0.05) as lock:
        waited = time.monotonic() - started
        assert lock.now_serving == dead + 1
    assert 0.3 < waited < 2
    assert store.get_lock(conv) is None


async def test_a_message_whose_own_ticket_expired_gets_a_lock_error(redis_server) -> None:  # type: ignore[no-untyped-def]
    store = make_store(redis_server)
    conv = conversation()
    store.issue_ticket(conv, lock_lifetime=30)  # someone holds the conversation
    waiting = store.issue_ticket(conv, lock_lifetime=0.1)  # a ticket whose process stalled
    time.sleep(0.2)
    with pytest.raises(LockError):
        await store._wait_for_turn(store.async_client(), conv, waiting, 100, 0.05)


def test_finish_serving_wakes_the_next_ticket_and_cleanup_deletes_an_empty_lock(redis_server, redis_client) -> None:  # type: ignore[no-untyped-def]
    store = make_store(redis_server)
    conv = conversation()
    first, second = store.issue_ticket(conv), store.issue_ticket(conv)
    store.finish_serving(conv, first)
    keys = store.keys(conv)
    assert redis_client.lrange(keys["wake"] + str(second), 0, -1) == ["1"]
    lock = store.get_lock(conv)
    assert lock is not None and [t.number for t in lock.tickets] == [second]
    store.cleanup(conv, second)
    assert store.get_lock(conv) is None
    assert not redis_client.exists(keys["queue"], keys["expires"], keys["wake"] + str(second))
    assert int(redis_client.get(keys["next"])) == 2 and redis_client.ttl(keys["next"]) > 3600


def test_save_lock_is_refused(redis_server) -> None:  # type: ignore[no-untyped-def]
    store = make_store(redis_server)
    with pytest.raises(NotImplementedError):
        store.save_lock(store.create_lock("x"))


def test_lifetime_comes_from_the_environment_like_rasa() -> None:
    """TICKET_LOCK_LIFETIME is read by Rasa once at import; the store uses Rasa's value."""
    from rasa.core import lock_store as rasa_lock_store

    from bot.rasa_ext import lock_store

    assert (
        lock_store.LOCK_LIFETIME
        == rasa_lock_store.LOCK_LIFETIME
        == (int(os.environ.get("TICKET_LOCK_LIFETIME", 0)) or 60)
    )
