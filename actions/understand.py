"""Phase 1 (understand): acknowledge a complaint once and restate it for confirmation."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.nlu.urgency import URGENCY_LEVELS
from bot.restate import restate_problem

COMPLAINT_INTENT_PREFIX = "complaint_"


def urgency_from_entities(entities: List[Dict[Text, Any]]) -> Optional[str]:
    """Highest-priority urgency level among the message's ``urgency`` entities."""
    levels = {e.get("value") for e in entities if e.get("entity") == "urgency"}
    return next((level for level in URGENCY_LEVELS if level in levels), None)


class ActionAcknowledgeComplaint(Action):
    """Apologises once, restates the problem and notes urgency; records type and urgency.

    SPEC.md section 4: the apology belongs to the first reply only. When the complaint was
    already acknowledged in this conversation (the customer corrects or adds to it), the
    restatement comes without a second apology.
    """

    def name(self) -> Text:
        """Action name used in the domain."""
        return "action_acknowledge_complaint"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        """Sends the acknowledgement and sets ``complaint_type``, ``urgency``, ``problem_summary``."""
        message = tracker.latest_message or {}
        intent = (message.get("intent") or {}).get("name") or ""
        complaint_type = intent[len(COMPLAINT_INTENT_PREFIX) :] if intent.startswith(COMPLAINT_INTENT_PREFIX) else None
        already_acknowledged = tracker.get_slot("complaint_type") is not None
        complaint_type = complaint_type or tracker.get_slot("complaint_type") or "product"
        problem = restate_problem(message.get("text") or "", complaint_type)
        urgency = urgency_from_entities(message.get("entities") or []) or tracker.get_slot("urgency")

        kind = "restate" if already_acknowledged else "ack"
        dispatcher.utter_message(response=f"utter_{kind}_{complaint_type}", problem=problem)
        if urgency and urgency != tracker.get_slot("urgency"):
            dispatcher.utter_message(response=f"utter_urgency_{urgency}")
        return [
            SlotSet("complaint_type", complaint_type),
            SlotSet("urgency", urgency),
            SlotSet("problem_summary", problem),
        ]
