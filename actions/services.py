"""What the actions share: Redis-backed stores, the option catalogue, the SLA tiers.

Clients are created lazily on first use (never at import time) and per event loop, from
the same ``REDIS_*`` variables ``endpoints.yml`` reads, so the action server and the Rasa
server always talk to the same Redis.
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Tracker

from bot.language import replies
from bot.policy import sla as sla_module
from bot.policy.catalogue import Catalogue, load_catalogue
from bot.store import client as stores
from bot.store.handoff import HandoffQueue
from bot.store.tickets import TicketStore
from bot.vocabulary import customer_identity

if TYPE_CHECKING:
    from redis.asyncio import Redis

_clients: dict[int, Redis] = {}


def redis_client() -> Redis:
    """A ``redis.asyncio`` client for the running event loop."""
    loop = id(asyncio.get_running_loop())
    if loop not in _clients:
        _clients[loop] = stores.redis_from_env()
    return _clients[loop]


def tickets() -> TicketStore:
    """The ticket store."""
    return stores.ticket_store(redis_client())


def handoffs() -> HandoffQueue:
    """The agents' queue."""
    return stores.handoff_queue(redis_client())


@functools.lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """The option catalogue (``policy/options.yml``)."""
    return load_catalogue()


@functools.lru_cache(maxsize=1)
def sla() -> sla_module.SlaConfig:
    """The SLA tiers (``policy/sla.yml``)."""
    return sla_module.load_sla()


def customer_of(tracker: Tracker) -> Tuple[str, str]:
    """(channel, customer id): channels put their own customer id into the message metadata."""
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    channel = tracker.get_latest_input_channel() or metadata.get("channel") or "rest"
    customer = metadata.get("customer_id") or tracker.sender_id
    return str(channel), customer_identity(str(channel), str(customer))


def user_texts(tracker: Tracker, last: int = 5) -> List[Text]:
    """The customer's latest messages (for summaries)."""
    texts = [e.get("text") or "" for e in tracker.events if e.get("event") == "user"]
    return [t for t in texts if t and not t.startswith("/")][-last:]


def images_sent(tracker: Tracker) -> List[Text]:
    """Every evidence photo the customer sent in the conversation (in the events Rasa passed)."""
    refs: List[Text] = []
    for event in tracker.events:
        if event.get("event") == "user":
            refs.extend(r for r in replies.image_refs(event.get("text") or "", event.get("metadata")) if r not in refs)
    return refs


def latest_entities(tracker: Tracker, name: Text) -> List[Dict[Text, Any]]:
    """Entities called ``name`` in the latest message."""
    return [e for e in (tracker.latest_message or {}).get("entities") or [] if e.get("entity") == name]


def first_entity_value(tracker: Tracker, name: Text) -> Optional[Any]:
    """The first value of an entity in the latest message."""
    found = latest_entities(tracker, name)
    return found[0].get("value") if found else None
