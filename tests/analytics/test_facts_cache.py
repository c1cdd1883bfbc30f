"""The in-process copy of the projections (bot/store/projections.py), without Redis."""

from __future__ import annotations

from bot.store.projections import Caches, FactsCache
from tests.support.analytics import HOUR, NOW, fact


def test_in_creation_order_with_inclusive_since_and_exclusive_until() -> None:
    cache = FactsCache("e", 0)
    for ticket_id, at in (("c", NOW + HOUR), ("a", NOW), ("b", NOW), ("d", NOW + 2 * HOUR)):
        cache.put(fact(ticket_id, at), 1)
    assert [f["id"] for f in cache.select(None, None)] == ["a", "b", "c", "d"]
    assert [f["id"] for f in cache.select(NOW, NOW + HOUR)] == ["a", "b"]
    assert [f["id"] for f in cache.select(NOW + HOUR, None)] == ["c", "d"]
    assert cache.select(NOW + 3 * HOUR, None) == [] and len(cache) == 4


def test_an_older_write_never_replaces_a_newer_one() -> None:
    cache = FactsCache("e", 0)
    cache.put(fact("a", NOW, status="resolved"), 7)
    cache.put(fact("a", NOW, status="open"), 5)  # a slower refresh arriving late
    assert cache.select(None, None)[0]["status"] == "resolved"
    cache.put(fact("a", NOW, status="closed"), 7)
    assert [f["status"] for f in cache.select(None, None)] == ["closed"]


def test_words_are_shared_and_odd_projections_ignored() -> None:
    cache = FactsCache("e", 0)
    one, two = fact("a", NOW, channel="".join(["we", "chat"])), fact("b", NOW, channel="".join(["wec", "hat"]))
    assert one["channel"] is not two["channel"]
    cache.put(one, 1)
    cache.put(two, 1)
    first, second = cache.select(None, None)
    assert first["channel"] is second["channel"] and first["channel"] == "wechat"
    assert first == one and first is not one  # a new dict every time
    cache.put({"id": None, "created_at": NOW}, 1)
    cache.put({"id": "x", "created_at": None}, 1)
    assert len(cache) == 2


def test_a_few_caches_per_process() -> None:
    caches = Caches(size=2)
    first, second, third = FactsCache("1", 0), FactsCache("2", 0), FactsCache("3", 0)
    caches.put(("a",), first)
    caches.put(("b",), second)
    assert caches.get(("a",)) is first  # now the most recent
    caches.put(("c",), third)
    assert caches.get(("b",)) is None and caches.get(("a",)) is first and caches.get(("c",)) is third
    caches.clear()
    assert caches.get(("a",)) is None


def test_many_older_ones_merge_into_the_order() -> None:
    cache = FactsCache("e", 0, covered_from=NOW)
    cache.put_many([fact(f"n{i}", NOW + i * HOUR) for i in range(3)], 1)
    cache.put(fact("too-old", NOW - HOUR), 1)  # before the covered range: left out
    assert len(cache) == 3
    cache.covered_from = float("-inf")
    cache.put_many([fact("o1", NOW - HOUR), fact("o0", NOW - 2 * HOUR), fact("n1", NOW + HOUR, status="resolved")], 2)
    assert [f["id"] for f in cache.select(None, None)] == ["o0", "o1", "n0", "n1", "n2"]
    assert cache.select(NOW + HOUR, NOW + 2 * HOUR)[0]["status"] == "resolved"
    cache.put_many([fact("n2", NOW - 3 * HOUR), fact("n0", NOW - 4 * HOUR)], 3)  # created_at moved (never in real life)
    assert [f["id"] for f in cache.select(None, None)] == ["n0", "n2", "o0", "o1", "n1"]
