"""After the case: the 1-5 satisfaction form, and a low score handed to a supervisor.

Progress messages and escalations are the follow-up timer's (``bot/followup/jobs.py``).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services
from actions.handoff import trigger_key
from bot.language import replies
from bot.policy import flow
from bot.policy import sla as sla_module
from bot.privacy import mask_pii
from bot.store.handoff import HandoffCase, HandoffQueueUnavailable
from bot.store.tickets import TicketStoreUnavailable
from bot.vocabulary import HandoffReason

logger = logging.getLogger(__name__)


class ValidateSatisfactionForm(FormValidationAction):
    """Reads the 1-5 score."""

    def name(self) -> Text:
        """Validation action of ``satisfaction_form``."""
        return "validate_satisfaction_form"

    async def extract_satisfaction(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """A score from the reply, if it has one."""
        if tracker.get_slot("requested_slot") != "satisfaction":
            return {}
        score = replies.read_satisfaction((tracker.latest_message or {}).get("text") or "")
        return {"satisfaction": float(score)} if score else {}


class ActionRecordSatisfaction(Action):
    """Stores the score on the ticket; a low score is handed to a supervisor with the conversation.

    A score at or below ``low_satisfaction.max_score`` of ``policy/sla.yml`` becomes a handoff
    case (reason ``low_satisfaction``) in ``low_satisfaction.queue``, linked to the ticket, with
    the ``normal`` tier's priority and first-response deadline; the agents' API lists it and
    serves the transcript. The enqueue carries an idempotency key from the scoring message, so a
    retried call queues it once.
    """

    def name(self) -> Text:
        """Action name used in the domain."""
        return "action_record_satisfaction"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        """Thanks the customer (and passes a low score on)."""
        score = int(tracker.get_slot("satisfaction") or 0)
        ticket_id = tracker.get_slot("ticket_id")
        if ticket_id and score:
            try:
                await services.tickets().set_satisfaction(ticket_id, score, actor="customer")
            except TicketStoreUnavailable as error:
                logger.error("satisfaction not stored for %s: %s", mask_pii(tracker.sender_id), error)
        config = services.sla()
        low = config.is_low_satisfaction(score)
        if low:
            await self._to_supervisor(tracker, score, ticket_id, config)
        dispatcher.utter_message(response="utter_sorry_for_rating" if low else "utter_thanks_for_rating")
        return [SlotSet("phase", "done")]

    @staticmethod
    async def _to_supervisor(
        tracker: Tracker, score: int, ticket_id: Optional[Text], config: sla_module.SlaConfig
    ) -> Optional[HandoffCase]:
        """Queues the low score for ``low_satisfaction.queue``; None (logged) when Redis fails."""
        tier = config.tier(sla_module.NORMAL_TIER)
        channel, customer = services.customer_of(tracker)
        summary = flow.summary(tracker.current_slot_values(), services.user_texts(tracker))
        case = HandoffCase(
            sender_id=tracker.sender_id,
            channel=channel,
            customer_id=customer,
            reason=HandoffReason.LOW_SATISFACTION,
            queue=config.low_satisfaction_queue,
            priority=tier.priority,
            deadline=time.time() + tier.first_response_seconds,
            summary={**summary, "satisfaction": score},
            ticket_id=ticket_id,
        )
        try:
            stored, _ = await services.handoffs().enqueue(case, trigger_key(tracker, "low_satisfaction"))
        except HandoffQueueUnavailable as error:
            logger.error("LOW SCORE NOT HANDED OVER for %s: %s", mask_pii(tracker.sender_id), error)
            return None
        return stored
