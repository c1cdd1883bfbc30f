"""When a platform can no longer reach a customer: their open tickets say so, for the agents.

WeChat refuses customer-service messages once a customer has not written for 48 hours
(errcode 45015, SPEC.md section 9). The connector only notices the refusal; what that means
for the case is decided here: every open ticket of the customer gets a history entry and the
facts ``contact_route_needed = True`` and ``<channel>_window_closed_at`` (epoch seconds), so the
agents' queue shows that another contact route (phone, SMS) is needed.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, List, Optional

from bot.privacy import mask_pii
from bot.store import client as stores

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)

WINDOW_CLOSED_NOTE = "48小时窗口已关闭，需要其他联系方式"
"""The ticket history entry (read by agents, not sent to the customer)."""


async def mark_tickets_for_other_contact(
    redis: Redis, sender_id: str, *, channel: str, note: str = WINDOW_CLOSED_NOTE, now: Optional[float] = None
) -> List[str]:
    """Notes on every open ticket of the customer that ``channel`` can no longer reach them.

    Args:
        redis: a ``redis.asyncio`` client (``decode_responses=True``) on the ticket store.
        sender_id: the conversation, e.g. ``wechat:<openid>`` (also the tickets' customer id).
        channel: the platform that refused, e.g. ``wechat`` (names the ``*_window_closed_at`` fact).
        note: the history entry.
        now: the time to record (epoch seconds; the clock by default).

    Returns:
        The ids of the tickets marked. Errors are logged, not raised: the caller is a send path.
    """
    marked: List[str] = []
    try:
        store = stores.ticket_store(redis)
        tickets = await store.open_or_recent(customer_id=sender_id, sender_id=sender_id)
        for ticket in tickets:
            if not ticket.is_open:
                continue
            facts = dict(
                ticket.facts or {},
                contact_route_needed=True,
                **{f"{channel}_window_closed_at": time.time() if now is None else now},
            )
            await store.update(ticket.id, actor=channel, note=note, facts=facts)
            marked.append(ticket.id)
    except Exception:  # noqa: BLE001 - the send path must not fail on this
        logger.exception(
            "could not mark the tickets of %s after %s stopped reaching them", mask_pii(sender_id), channel
        )
    if marked:
        logger.warning("tickets %s of %s need another contact route", ", ".join(marked), mask_pii(sender_id))
    return marked
