"""Questions beside the case: ordinary shopping questions and small talk (SPEC.md section 4).

An ordinary pre- or after-sales question gets a short answer for its topic (发票, 改地址, 孕妇能用吗 ...;
``bot/language/resources/topics.yml``), never an apology or a complaint form. Inside the case's
forms the same question is answered and the form asks its own question again; when the
customer answers the form's question with something beside it twice in a row, a human takes
over (SPEC.md sections 4-5: two misunderstandings in a row), so the bot never asks forever.
"""

from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.understand import latest_intent
from bot.language import replies

ASIDES_BEFORE_HANDOFF = 2
"""Unusable answers to the form's question in a row (asides and misses together) after which a
human takes over (SPEC.md section 4: two misunderstandings in a row)."""


class ActionAnswerAside(Action):
    """Answers an ordinary question (by topic) or off-topic talk; counts it inside a form."""

    def name(self) -> Text:
        """Action name used in the domain."""
        return "action_answer_aside"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        """One answer; inside a form, the second aside in a row hands the case over."""
        in_form = bool((tracker.active_loop or {}).get("name"))
        if not in_form:
            dispatcher.utter_message(response=self._response(tracker, domain))
            return []
        asides = int(tracker.get_slot("asides") or 0) + 1
        if asides + int(tracker.get_slot("ask_failures") or 0) >= ASIDES_BEFORE_HANDOFF:
            return [SlotSet("asides", asides), SlotSet("handoff_reason", "misunderstood")]
        dispatcher.utter_message(response=self._response(tracker, domain))
        return [SlotSet("asides", asides)]

    @staticmethod
    def _response(tracker: Tracker, domain: DomainDict) -> Text:
        if latest_intent(tracker) != "consult":
            return "utter_out_of_scope"
        topic = replies.consult_topic((tracker.latest_message or {}).get("text") or "")
        response = f"utter_consult_{topic}" if topic else "utter_consult"
        return response if response in (domain.get("responses") or {}) else "utter_consult"
