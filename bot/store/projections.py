"""An in-process copy of the tickets' analytics projections, kept up to date by change numbers.

Reading 100,000 projections from Redis takes seconds in Python (one reply and one JSON document
per ticket), far over what a dashboard may take, while between two dashboard loads only the
tickets created or changed since have new projections. So ``TicketStore.all_facts`` keeps the
projections it read in a :class:`FactsCache`, and the store numbers every projection write
(``bot/store/lua/ticket_facts_lib.lua``): ``P:facts:gen`` counts them, ``P:facts:changed`` holds
each ticket's latest number and ``P:facts:epoch`` names the counter's life. A reader asks for
the tickets numbered above the number it is up to and fetches only those; a new epoch or a
counter that went back (a flushed database) makes it read everything again.

A cache covers the tickets created from some moment on (``covered_from``): the first call of a
process reads only the range it asks for, and a later call asking further back reads the older
part once. Changes to tickets created before that moment are not kept.

Caches live per process and per Redis database and prefix (:data:`caches`), a few at most. One
projection costs about 1 KB of memory; repeated words (types, channels, days ...) are shared.
Safe under concurrent refreshes in one event loop: a projection is replaced only by one of the
same or a later change number.
"""

from __future__ import annotations

import bisect
import sys
from collections import OrderedDict
from typing import Any

from bot.analytics.facts import FIELDS

_SHARED = frozenset(
    {
        "day",
        "channel",
        "type",
        "cause",
        "category",
        "urgency",
        "priority",
        "queue",
        "status",
        "handoff_reason",
        "handoff_queue",
        "option_id",
        "option_label",
        "compensation_status",
    }
)
_CREATED = FIELDS.index("created_at")
_SHARED_AT = tuple(i for i, name in enumerate(FIELDS) if name in _SHARED)


class FactsCache:
    """The projections of the tickets of one store, by id and in creation order.

    Each projection is kept as a tuple of its values in :data:`bot.analytics.facts.FIELDS` order
    (about 1 KB a ticket; kept as dicts they took 2.8 KB) and handed out as a new dict.

    Args:
        epoch: ``P:facts:epoch`` when the copy was read (None when nothing was ever numbered).
        gen: ``P:facts:gen`` read before the copy was read: every later write is numbered above.
        covered_from: The tickets created from then on are all here (epoch seconds; ``-inf``: all).
    """

    def __init__(self, epoch: str | None, gen: int, covered_from: float = float("-inf")) -> None:
        self.epoch = epoch
        self.gen = gen
        self.covered_from = covered_from
        self.complete = True
        self._by_id: dict[str, tuple[float, tuple[Any, ...]]] = {}  # id -> (change number, values)
        self._order: list[tuple[float, str]] = []  # (created_at, id), sorted

    def __len__(self) -> int:
        return len(self._by_id)

    def put(self, projection: dict[str, Any], number: float) -> None:
        """Keeps ``projection`` unless one with a later change ``number`` is already kept (or it
        was created before ``covered_from``)."""
        self.put_many([projection], number)

    def put_many(self, projections: list[dict[str, Any]], number: float) -> None:
        """:meth:`put` for many at once: the creation order is merged once, not an insertion
        each (inserting 80,000 older tickets one by one in front of the others took seconds)."""
        added: list[tuple[float, str]] = []
        moved: set[tuple[float, str]] = set()
        for projection in projections:
            ticket_id = projection.get("id")
            created_at = projection.get("created_at")
            if not isinstance(ticket_id, str) or not isinstance(created_at, (int, float)):
                continue
            if created_at < self.covered_from:
                continue
            old = self._by_id.get(ticket_id)
            if old is not None and old[0] > number:
                continue
            get = projection.get
            row = [get(name) for name in FIELDS]
            for i in _SHARED_AT:
                value = row[i]
                if isinstance(value, str):
                    row[i] = sys.intern(value)
            if old is None:
                added.append((float(created_at), ticket_id))
            elif old[1][_CREATED] != created_at:  # never for a real ticket; kept right anyway
                moved.add((float(old[1][_CREATED]), ticket_id))
                added.append((float(created_at), ticket_id))
            self._by_id[ticket_id] = (number, tuple(row))
        if len(added) == 1 and not moved:
            bisect.insort(self._order, added[0])
        elif added:
            kept = [key for key in self._order if key not in moved] if moved else self._order
            self._order = sorted(kept + added)  # two sorted runs: merged in linear time

    def covers(self, since: float | None) -> bool:
        """Whether every ticket created from ``since`` on (None: all) is here."""
        return self.covered_from == float("-inf") or (since is not None and since >= self.covered_from)

    def select(self, since: float | None, until: float | None) -> list[dict[str, Any]]:
        """New dicts of the projections created in ``[since, until)``, oldest first (of those covered)."""
        low = 0 if since is None else bisect.bisect_left(self._order, (float(since), ""))
        high = len(self._order) if until is None else bisect.bisect_left(self._order, (float(until), ""))
        by_id = self._by_id
        return [dict(zip(FIELDS, by_id[ticket_id][1])) for _, ticket_id in self._order[low:high]]


class Caches:
    """The caches of a process, at most ``size`` (the least recently used one is dropped)."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._caches: OrderedDict[tuple[Any, ...], FactsCache] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> FactsCache | None:
        """The cache for ``key`` (Redis server, database and prefix), or None."""
        cache = self._caches.get(key)
        if cache is not None:
            self._caches.move_to_end(key)
        return cache

    def put(self, key: tuple[Any, ...], cache: FactsCache) -> None:
        """Keeps ``cache`` for ``key``, dropping the least recently used beyond ``size``."""
        self._caches[key] = cache
        self._caches.move_to_end(key)
        while len(self._caches) > self.size:
            self._caches.popitem(last=False)

    def clear(self) -> None:
        """Forgets every cache (tests)."""
        self._caches.clear()


caches = Caches()
"""This process's caches."""
