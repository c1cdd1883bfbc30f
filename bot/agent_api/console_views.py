"""What the console's case screen reads besides the case: linked tickets, promises, the house-rule check.

Kept apart from :mod:`bot.agent_api.console_routes` so the route module stays about rights and
HTTP; each function returns JSON-ready dicts.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from bot.store.promises import PromiseLedger
from bot.store.quality import QualityStore
from bot.store.tickets import Ticket


def linked_ticket(ticket: Ticket) -> Dict[str, Any]:
    """Another conversation's ticket on the same order: where to find it and how it stands."""
    return {
        k: getattr(ticket, k)
        for k in ("id", "channel", "customer_id", "sender_id", "status", "type", "cause", "created_at", "owner")
    }


async def promises_of(client: Any, sender_id: str) -> List[Dict[str, Any]]:
    """The promises made in a conversation (bot, agents, timer), soonest due first."""
    promises = await PromiseLedger(client).for_sender(sender_id)
    return [p.to_dict() for p in sorted(promises, key=lambda p: p.due)]


async def quality_of(client: Any, sender_id: str) -> Optional[Dict[str, Any]]:
    """The conversation's latest house-rule check, or None when it was not checked yet."""
    report = await QualityStore(client).get(sender_id)
    return report.to_dict() if report is not None else None
