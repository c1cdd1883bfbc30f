"""After the case: satisfaction (1-5), progress messages and escalations from the timers."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services
from bot.language import replies
from bot.privacy import mask_pii
from bot.store.tickets import TicketStoreUnavailable

logger = logging.getLogger(__name__)

LOW_SCORE = 2


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
    """Stores the score on the ticket; a low score is passed to the supervisor."""

    def name(self) -> Text:
        """Action name used in the domain."""
        return "action_record_satisfaction"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        """Thanks the customer."""
        score = int(tracker.get_slot("satisfaction") or 0)
        ticket_id = tracker.get_slot("ticket_id")
        if ticket_id and score:
            try:
                await services.tickets().set_satisfaction(ticket_id, score, actor="customer")
            except TicketStoreUnavailable as error:
                logger.error("satisfaction not stored for %s: %s", mask_pii(tracker.sender_id), error)
        dispatcher.utter_message(response="utter_sorry_for_rating" if score <= LOW_SCORE else "utter_thanks_for_rating")
        return [SlotSet("phase", "done")]
