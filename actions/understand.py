"""Phase 1 (understand): acknowledge once, restate, then ask only for what is still missing."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services
from bot import flow
from bot.language import replies
from bot.language.restate import restate_problem
from bot.language.urgency import URGENCY_LEVELS
from bot.masking import mask_pii
from bot.tickets import TicketStoreUnavailable

logger = logging.getLogger(__name__)

COMPLAINT_INTENT_PREFIX = "complaint_"

# Intents that interrupt a form: the form gives way and a rule answers them, then the form
# asks its question again (data/stories/rules.yml).
INTERRUPTIONS = {"ask_progress", "request_human", "cancel", "out_of_scope", "consult", "bot_challenge"}

# Slots that describe one case; a new complaint after a settled case starts from scratch.
CASE_SLOTS = (
    "complaint_type", "urgency", "problem_summary", "problem_detail", "evidence", "desired_outcome",
    "demanded_amount", "options_offered", "chosen_option", "agreement", "ticket_id", "handoff_reason",
    "order_id", "tracking_number", "amount",
)


def urgency_from_entities(entities: List[Dict[Text, Any]]) -> Optional[str]:
    """Highest-priority urgency level among the message's ``urgency`` entities."""
    levels = {e.get("value") for e in entities if e.get("entity") == "urgency"}
    return next((level for level in URGENCY_LEVELS if level in levels), None)


def latest_intent(tracker: Tracker) -> Text:
    """Name of the latest message's intent."""
    return ((tracker.latest_message or {}).get("intent") or {}).get("name") or ""


def new_urgency(tracker: Tracker) -> Optional[str]:
    """An urgency in the latest message that the case did not have yet (any turn, SPEC.md 3)."""
    found = urgency_from_entities((tracker.latest_message or {}).get("entities") or [])
    if found and found != tracker.get_slot("urgency"):
        return found
    return None


def outcome_events(text: Text, entities: Optional[List[Dict[Text, Any]]] = None) -> List[EventType]:
    """What the customer wants (``desired_outcome``, ``demanded_amount``) and what the order cost.

    An amount next to a demand ("赔我3000") is the demand; an amount without one ("花了3500买的")
    is taken as the price of the order.
    """
    outcome, amount = services.catalogue().outcome_from_text(text)
    events: List[EventType] = []
    if outcome:
        events.append(SlotSet("desired_outcome", outcome))
    if amount is not None:
        events.append(SlotSet("demanded_amount", amount))
    else:
        prices = [float(e["value"]) for e in entities or [] if e.get("entity") == "amount" and _is_number(e.get("value"))]
        if prices:
            events.append(SlotSet("order_amount", max(prices)))
    return events


def _is_number(value: Any) -> bool:
    try:
        return float(value) >= 0
    except (TypeError, ValueError):
        return False


class ActionAcknowledgeComplaint(Action):
    """Apologises once, restates the problem, records type/urgency and what was already said.

    SPEC.md section 4: the apology belongs to the first reply only; a correction gets a new
    restatement without a second apology. Facts in the first message (details, what the
    customer wants, the order number through its slot mapping) are not asked again. Urgency
    and repeat complainants set ``handoff_reason`` and a rule hands the case to a human.
    """

    def name(self) -> Text:
        """Action name used in the domain."""
        return "action_acknowledge_complaint"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        """Sends the acknowledgement and sets the case slots."""
        message = tracker.latest_message or {}
        text = message.get("text") or ""
        intent = latest_intent(tracker)
        complaint_type = intent[len(COMPLAINT_INTENT_PREFIX) :] if intent.startswith(COMPLAINT_INTENT_PREFIX) else None
        settled = tracker.get_slot("phase") == "done"  # after 算了 ("cancelled") the facts are kept
        events: List[EventType] = []
        if settled:  # a new case after a settled one
            events += [SlotSet(name, None) for name in CASE_SLOTS]
        known_type = None if settled else tracker.get_slot("complaint_type")
        complaint_type = complaint_type or known_type or "product"
        problem = restate_problem(text, complaint_type)
        previous_urgency = None if settled else tracker.get_slot("urgency")
        urgency = urgency_from_entities(message.get("entities") or []) or previous_urgency

        kind = "restate" if known_type else "ack"
        dispatcher.utter_message(response=f"utter_{kind}_{complaint_type}", problem=problem)
        if urgency and urgency != previous_urgency:
            dispatcher.utter_message(response=f"utter_urgency_{urgency}")
        events += [
            SlotSet("complaint_type", complaint_type),
            SlotSet("urgency", urgency),
            SlotSet("problem_summary", problem),
            SlotSet("phase", "understand"),
        ]
        known_order = (message.get("metadata") or {}).get("order_id")  # from a platform that knows it
        if known_order and (settled or not tracker.get_slot("order_id")):
            events.append(SlotSet("order_id", str(known_order)))
        detail = flow.detail_from_first_message(text)
        if detail and not tracker.get_slot("problem_detail"):
            events.append(SlotSet("problem_detail", detail))
        events += outcome_events(text, message.get("entities"))
        if urgency and urgency != previous_urgency:
            events.append(SlotSet("handoff_reason", "urgency"))
        elif not known_type and await self._is_repeat(tracker):
            events.append(SlotSet("handoff_reason", "repeat"))
        return events

    @staticmethod
    async def _is_repeat(tracker: Tracker) -> bool:
        """Another complaint open, or one in the last 30 days (SPEC.md section 4)."""
        _, customer = services.customer_of(tracker)
        try:
            found = await services.tickets().open_or_recent(customer_id=customer, sender_id=tracker.sender_id)
        except TicketStoreUnavailable as error:
            logger.error("repeat-complainant check failed for %s: %s", mask_pii(tracker.sender_id), error)
            return False
        return bool(found)


class CaseFormValidation(FormValidationAction):
    """Shared behaviour of the case forms (abstract: the SDK does not register it).

    Interruptions (a question, 转人工, 算了) make the form give way so a rule can answer;
    an urgency mentioned at any turn ends the form and hands the case to a human.
    """

    @abstractmethod
    def name(self) -> Text:
        """Subclasses name the validation action."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Extraction and validation, after the checks every turn needs."""
        if latest_intent(tracker) in INTERRUPTIONS:
            return []  # nothing extracted: the form is rejected and a rule answers
        events: List[EventType] = []
        urgency = new_urgency(tracker)
        if urgency:
            dispatcher.utter_message(response=f"utter_urgency_{urgency}")
            events = [SlotSet("urgency", urgency), SlotSet("handoff_reason", "urgency")]
            tracker.slots.update({"urgency": urgency, "handoff_reason": "urgency"})
        extracted = await self.get_extraction_events(dispatcher, tracker, domain)
        tracker.add_slots(extracted)
        validated = await self._extract_validation_events(dispatcher, tracker, domain)
        # The SDK keeps only the form's required slots; the bookkeeping slots an extraction
        # sets (ask_failures, handoff_reason, options_offered ...) must not be dropped.
        names = {e["name"] for e in validated}
        return events + [e for e in extracted if e["name"] not in names] + validated


class ValidateUnderstandForm(CaseFormValidation):
    """Phase 1: order number, problem details, evidence, desired outcome (per type)."""

    def name(self) -> Text:
        """Validation action of ``understand_form``."""
        return "validate_understand_form"

    async def required_slots(
        self, domain_slots: List[Text], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Text]:
        """The facts this type of case needs; none once a human takes over."""
        return flow.required_facts(tracker.get_slot("complaint_type"), tracker.get_slot("handoff_reason"))

    async def extract_order_id(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """"找不到" counts as an answer; anything else that is not an order number is a miss."""
        known = ((tracker.latest_message or {}).get("metadata") or {}).get("order_id")
        if known and not tracker.get_slot("order_id"):  # a platform that knows the order passes it along
            return {"order_id": str(known), "ask_failures": 0}
        if tracker.get_slot("requested_slot") != "order_id" or tracker.get_slot("order_id"):
            return {}
        if services.first_entity_value(tracker, "order_id"):
            return {}  # the slot mapping fills it
        text = (tracker.latest_message or {}).get("text") or ""
        if replies.says_unknown(text):
            return {"order_id": flow.UNKNOWN, "ask_failures": 0}
        failures = int(tracker.get_slot("ask_failures") or 0) + 1
        result: Dict[Text, Any] = {"ask_failures": failures}
        if failures >= 2:
            result["handoff_reason"] = "misunderstood"
        return result

    async def extract_desired_outcome(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """What the customer wants, from any message ("两个问题一起答"); free text when asked."""
        message = tracker.latest_message or {}
        text = message.get("text") or ""
        found = {e["name"]: e["value"] for e in outcome_events(text, message.get("entities"))}
        asked = tracker.get_slot("requested_slot") == "desired_outcome"
        if asked and "desired_outcome" not in found and replies.content_length(text) >= 2:
            found["desired_outcome"] = f"other:{text[:100]}"
        return found

    def validate_order_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """Any extracted order number is kept; a good answer resets the miss counter."""
        return {"order_id": value, "ask_failures": 0}

    def validate_evidence(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """A photo reference, ``none``, ``later`` or the customer's description of the damage."""
        latest = tracker.latest_message or {}
        metadata = latest.get("metadata") or {}
        refs = replies.image_refs(latest.get("text") or "", metadata)
        read = replies.read_evidence(str(value or ""), has_attachment=bool(metadata.get("image")), refs=refs)
        if read == flow.EVIDENCE_LATER:
            dispatcher.utter_message(response="utter_evidence_later")
        return {"evidence": read or flow.NO_EVIDENCE}


class ActionAskOrderId(Action):
    """Asks for the order number; the second time with a hint on what it looks like."""

    def name(self) -> Text:
        """Ask action of ``order_id``."""
        return "action_ask_order_id"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        """One question."""
        again = int(tracker.get_slot("ask_failures") or 0) > 0
        dispatcher.utter_message(response="utter_ask_order_id_again" if again else "utter_ask_order_id")
        return []


class _AskPerType(Action, ABC):
    """Asks a question worded for the complaint type (``utter_ask_<slot>_<type>``)."""

    slot = ""

    @abstractmethod
    def name(self) -> Text:
        """Subclasses name the ask action."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        """One question."""
        complaint_type = tracker.get_slot("complaint_type") or "product"
        response = f"utter_ask_{self.slot}_{complaint_type}"
        if response not in (domain.get("responses") or {}):
            response = f"utter_ask_{self.slot}_product"
        dispatcher.utter_message(response=response)
        return []


class ActionAskProblemDetail(_AskPerType):
    """What is wrong, since when / where it is stuck / what happened and where."""

    slot = "problem_detail"

    def name(self) -> Text:
        """Ask action of ``problem_detail``."""
        return "action_ask_problem_detail"


class ActionAskEvidence(_AskPerType):
    """A photo (product), or evidence to record (malicious)."""

    slot = "evidence"

    def name(self) -> Text:
        """Ask action of ``evidence``."""
        return "action_ask_evidence"


class ActionAskDesiredOutcome(_AskPerType):
    """What the customer wants."""

    slot = "desired_outcome"

    def name(self) -> Text:
        """Ask action of ``desired_outcome``."""
        return "action_ask_desired_outcome"
