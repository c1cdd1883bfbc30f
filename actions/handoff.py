"""Handing a case to a human (SPEC.md section 5), misunderstandings and 算了."""

from __future__ import annotations

import logging
import time
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services
from bot.analytics.facts import HANDOFF_NOTE
from bot.language.causes import vocabulary as cause_vocabulary
from bot.policy import flow
from bot.policy import sla as sla_module
from bot.privacy import mask_pii
from bot.store.handoff import HandoffCase, HandoffQueueUnavailable
from bot.store.tickets import TicketStoreUnavailable
from bot.vocabulary import HandoffReason

logger = logging.getLogger(__name__)


def trigger_key(tracker: Tracker, what: Text) -> Text:
    """Idempotency key of a side effect: the conversation and the message that triggered it.

    A retried action call (the same user message) gets the same key; the next message a new one.
    """
    latest = tracker.latest_message or {}
    marker = latest.get("message_id") or next(
        (str(e.get("timestamp")) for e in reversed(tracker.events) if e.get("event") == "user"), "start"
    )
    return f"{tracker.sender_id}:{what}:{marker}"


def queue_for(reason: Text, tier: sla_module.Tier, config: sla_module.SlaConfig | None = None) -> Text:
    """The agents' queue: a compensation above the bot's authority goes to ``approval_queue`` of
    ``policy/sla.yml`` (someone who may approve it), every other case to its tier's queue."""
    if reason == HandoffReason.APPROVAL:
        return (config or services.sla()).approval_queue
    return tier.queue


def ticket_fields(tracker: Tracker, *, status: Text) -> Dict[Text, Any]:
    """Ticket fields from the conversation's slots."""
    channel, customer = services.customer_of(tracker)
    evidence = tracker.get_slot("evidence")
    order_id = tracker.get_slot("order_id")
    complaint_type = tracker.get_slot("complaint_type")
    secondary = tracker.get_slot("secondary_type")
    cause = tracker.get_slot("complaint_cause")
    return {
        "channel": channel,
        "customer_id": customer,
        "sender_id": tracker.sender_id,
        "order_id": None if order_id in (None, flow.UNKNOWN) else str(order_id),
        "type": complaint_type,
        "secondary_type": secondary if secondary != complaint_type else None,
        "cause": cause if cause in cause_vocabulary() else None,
        "urgency": tracker.get_slot("urgency"),
        "customer_words": " / ".join(services.user_texts(tracker, last=5)),
        "facts": flow.summary(tracker.current_slot_values())["facts"],
        "evidence": flow.evidence_list(evidence, services.images_sent(tracker)),
        "options_offered": tracker.get_slot("options_offered") or [],
        "chosen_option": tracker.get_slot("chosen_option"),
        "risk_flag": complaint_type == "malicious",
        "status": status,
    }


class ActionHandoff(Action):
    """Says who takes over and by when, opens/updates the ticket, queues the case, pauses.

    The ticket and the queue entry carry idempotency keys from the triggering message, so a
    retried call neither opens a second ticket nor queues the case twice. If Redis cannot
    take the case, the customer hears so plainly and the bot stays active (a paused bot
    with nobody coming would lose the customer); the failure is logged as an error.
    """

    def name(self) -> Text:
        """Action name used in the domain."""
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        """Hands over."""
        reason = tracker.get_slot("handoff_reason") or "asked"
        config = services.sla()
        tier = config.priority_for(tracker.get_slot("urgency"), repeat=reason == "repeat")
        queue = queue_for(reason, tier, config)
        now = time.time()
        deadline = now + tier.first_response_seconds
        try:
            ticket_id = await self._ticket(tracker, tier, reason)
            case = HandoffCase(
                sender_id=tracker.sender_id,
                channel=services.customer_of(tracker)[0],
                customer_id=services.customer_of(tracker)[1],
                reason=reason,
                queue=queue,
                priority=tier.priority,
                deadline=deadline,
                summary=flow.summary(tracker.current_slot_values(), services.user_texts(tracker)),
                ticket_id=ticket_id,
            )
            case, _ = await services.handoffs().enqueue(case, trigger_key(tracker, "handoff"))
        except (TicketStoreUnavailable, HandoffQueueUnavailable) as error:
            logger.error("HANDOFF FAILED for %s (%s): %s", mask_pii(tracker.sender_id), reason, error)
            dispatcher.utter_message(response="utter_handoff_failed")
            return [SlotSet("handoff_reason", None)]
        dispatcher.utter_message(
            response="utter_handoff",
            who=config.queue_display(case.queue),
            deadline=sla_module.format_deadline(case.deadline, now=now),
            ticket_id=ticket_id,
        )
        return [
            ActiveLoop(None),
            SlotSet("requested_slot", None),
            SlotSet("ticket_id", ticket_id),
            SlotSet("phase", "handed_off"),
            ConversationPaused(),
        ]

    @staticmethod
    async def _ticket(tracker: Tracker, tier: sla_module.Tier, reason: Text) -> Text:
        """The case's ticket, now with an agent (one ticket follows the case to the end)."""
        store = services.tickets()
        existing: Optional[Text] = tracker.get_slot("ticket_id")
        note = HANDOFF_NOTE.format(reason=reason)  # the analytics read the reason from this note
        if existing:  # the case already has its ticket: it follows the case to the human
            status = None if reason == "approval" else "with_agent"  # approval keeps pending_approval
            ticket = await store.update(existing, actor="bot", note=note, status=status, queue=queue_for(reason, tier))
            return ticket.id
        fields = ticket_fields(tracker, status="with_agent")
        fields.update(priority=tier.priority, queue=queue_for(reason, tier))
        ticket, _ = await store.create(trigger_key(tracker, "ticket"), repeat=reason == "repeat", note=note, **fields)
        return ticket.id


class ActionFallback(Action):
    """Asks again; the second misunderstanding in a row hands the case to a human."""

    def name(self) -> Text:
        """Action name used in the domain."""
        return "action_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        """One clarifying question, or the handoff trigger."""
        intents = [
            ((e.get("parse_data") or {}).get("intent") or {}).get("name")
            for e in tracker.events
            if e.get("event") == "user"
        ]
        if flow.consecutive_misunderstandings(intents) >= 2:
            return [SlotSet("handoff_reason", "misunderstood")]
        dispatcher.utter_message(response="utter_default")
        return []


class ActionCancel(Action):
    """算了: stops the flow without opening anything; what was said stays recorded."""

    def name(self) -> Text:
        """Action name used in the domain."""
        return "action_cancel"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        """Closes the current flow."""
        dispatcher.utter_message(response="utter_cancel")
        return [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("phase", "cancelled")]
