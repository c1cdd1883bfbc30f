"""The words every layer shares: complaint types, urgency levels, handoff reasons, phases, statuses.

One definition per word list, as :class:`enum.StrEnum` so a member *is* its string (it compares
equal to ``"product"``, serialises to JSON as ``"product"`` and can be stored in Redis or a Rasa
slot unchanged). The categorical slots of ``domain.yml`` carry the same values;
``tests/test_vocabulary.py`` fails when the two drift apart.

Sources: complaint types SPEC.md section 2, urgency SPEC.md section 3, phases and handoff
reasons SPEC.md sections 4-5, ticket statuses SPEC.md section 6. Their Chinese labels are the
shop's wording and live in ``policy/labels.yml``, not here.

Plain Python: no Rasa, no I/O.
"""

from __future__ import annotations

from enum import StrEnum


class ComplaintType(StrEnum):
    """Complaint types (SPEC.md section 2); the ``complaint_type`` and ``secondary_type`` slots."""

    PRODUCT = "product"
    LOGISTICS = "logistics"
    SERVICE = "service"
    MALICIOUS = "malicious"


class Urgency(StrEnum):
    """Urgency classes (SPEC.md section 3); the ``urgency`` slot. Each has an SLA tier of its name."""

    SAFETY = "safety"
    MEDIA_LEGAL = "media_legal"
    VULNERABLE = "vulnerable"


class HandoffReason(StrEnum):
    """Why a case went to a human (SPEC.md section 5).

    Every member but :attr:`LOW_SATISFACTION` is also a value of the ``handoff_reason`` slot
    (the rules that trigger ``action_handoff``); a low satisfaction score is handed over by
    ``action_record_satisfaction`` directly, after the conversation is done.
    """

    URGENCY = "urgency"
    ASKED = "asked"
    MISUNDERSTOOD = "misunderstood"
    REPEAT = "repeat"
    APPROVAL = "approval"
    FAILURE = "failure"
    LOW_SATISFACTION = "low_satisfaction"


SLOT_HANDOFF_REASONS = tuple(r for r in HandoffReason if r is not HandoffReason.LOW_SATISFACTION)
"""The handoff reasons a rule can act on (the values of the ``handoff_reason`` slot)."""


class Phase(StrEnum):
    """Where a conversation is in the three-phase flow (SPEC.md section 4); the ``phase`` slot."""

    UNDERSTAND = "understand"
    EXPLORE = "explore"
    SETTLE = "settle"
    HANDED_OFF = "handed_off"
    DONE = "done"
    CANCELLED = "cancelled"


class TicketStatus(StrEnum):
    """Ticket statuses (SPEC.md section 6)."""

    OPEN = "open"
    PENDING_APPROVAL = "pending_approval"
    WITH_AGENT = "with_agent"
    RESOLVED = "resolved"
    CLOSED = "closed"


DONE_STATUSES = frozenset({TicketStatus.RESOLVED, TicketStatus.CLOSED})
"""Statuses of a ticket that is no longer open."""


def customer_identity(channel: str, customer: str) -> str:
    """A customer's id across the system: ``"<channel>:<customer id on that channel>"``.

    Tickets, handoff cases and the repeat-complainant check key customers by it, so one buyer on
    two channels is two customers (the order number links them, see ``TicketStore.linked``).
    An id that already starts with ``"<channel>:"`` (platform channels put it in the sender id:
    ``"wechat:<openid>"``) is returned unchanged, so the prefix is never doubled.

    Args:
        channel: The channel name (``rest``, ``wechat``, ``taobao`` ...), non-empty.
        customer: The customer's id on that channel (or the Rasa sender id), non-empty.

    Returns:
        ``"wechat:o6_bm"`` for ``("wechat", "o6_bm")`` and for ``("wechat", "wechat:o6_bm")``.

    Raises:
        ValueError: An empty channel or customer.
    """
    if not channel or not customer:
        raise ValueError(f"channel and customer are required, got {channel!r}, {customer!r}")
    prefix = f"{channel}:"
    return customer if customer.startswith(prefix) else prefix + customer
