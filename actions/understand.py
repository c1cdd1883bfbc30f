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
from bot.language import replies
from bot.language.restate import restate
from bot.language.urgency import URGENCY_LEVELS
from bot.policy import flow
from bot.privacy import mask_pii
from bot.store.tickets import TicketStoreUnavailable

logger = logging.getLogger(__name__)

COMPLAINT_INTENT_PREFIX = "complaint_"

# Intents that interrupt a form: the form gives way and a rule answers them, then the form
# asks its question again (data/stories/rules.yml).
INTERRUPTIONS = {"ask_progress", "request_human", "cancel", "out_of_scope", "consult", "bot_challenge"}

# Slots that describe one case; a new complaint after a settled case starts from scratch.
CASE_SLOTS = (
    "complaint_type",
    "complaint_cause",
    "secondary_type",
    "urgency",
    "problem_summary",
    "problem_detail",
    "evidence",
    "desired_outcome",
    "demanded_amount",
    "options_offered",
    "chosen_option",
    "agreement",
    "ticket_id",
    "handoff_reason",
    "order_id",
    "tracking_number",
    "amount",
    "asides",
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


def primary_cause(entities: List[Dict[Text, Any]]) -> Optional[Text]:
    """The ``complaint_cause`` the NLU found for the message's own type (not the secondary one)."""
    return next((e.get("value") for e in entities if e.get("entity") == "complaint_cause" and not e.get("role")), None)


def demanded_amount(entities: List[Dict[Text, Any]]) -> Optional[float]:
    """The first amount the NLU read as demanded ("赔我2千")."""
    return next(
        (
            float(e["value"])
            for e in entities
            if e.get("entity") == "amount" and e.get("role") == "demand" and _is_number(e.get("value"))
        ),
        None,
    )


def corrects_the_restatement(tracker: Tracker) -> bool:
    """The customer corrects the bot's restatement: after "不对" the bot asked what the problem
    really is, or the answer to the restatement itself starts with "不是/不对"."""
    events = tracker.events[:-1] if tracker.events and tracker.events[-1].get("event") == "user" else tracker.events
    last_action = next(
        (
            e.get("name")
            for e in reversed(events)
            if e.get("event") == "action" and e.get("name") not in ("action_listen", None)
        ),
        None,
    )
    if last_action == "utter_ask_correction":
        return True
    text = (tracker.latest_message or {}).get("text") or ""
    return last_action == "action_acknowledge_complaint" and replies.is_correction(text)


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
        prices = [
            float(e["value"])
            for e in entities or []
            if e.get("entity") == "amount" and e.get("role") != "demand" and _is_number(e.get("value"))
        ]
        if prices:
            events.append(SlotSet("order_amount", max(prices)))
    return events


def _is_number(value: Any) -> bool:
    try:
        return float(value) >= 0
    except (TypeError, ValueError):
        return False


class ActionAcknowledgeComplaint(Action):
    """Apologises once, restates the problem, records type, cause, urgency and what was already said.

    SPEC.md section 4: the apology belongs to the first reply only. One case, one type (issue
    "understand real customers"): the type and the cause are set by the complaint and change only
    when the customer corrects the restatement ("不对" and then the right problem); a later
    message of another type that names its own cause is a second problem (``secondary_type``,
    SPEC.md section 6); a threat or a tone word changes nothing but the urgency, which can rise
    at any turn. Facts in the first message (details, what the customer wants, the order number
    through its slot mapping) are not asked again. Urgency and repeat complainants set
    ``handoff_reason`` and a rule hands the case to a human.
    """

    def name(self) -> Text:
        """Action name used in the domain."""
        return "action_acknowledge_complaint"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Dict[Text, Any]]:
        """Sends the acknowledgement and sets the case slots."""
        message = tracker.latest_message or {}
        text = message.get("text") or ""
        entities = message.get("entities") or []
        intent = latest_intent(tracker)
        said_type = intent[len(COMPLAINT_INTENT_PREFIX) :] if intent.startswith(COMPLAINT_INTENT_PREFIX) else None
        settled = tracker.get_slot("phase") == "done"  # after 算了 ("cancelled") the facts are kept
        events: List[EventType] = []
        if settled:  # a new case after a settled one
            events += [SlotSet(name, None) for name in CASE_SLOTS]
        known_type = None if settled else tracker.get_slot("complaint_type")
        previous_urgency = None if settled else tracker.get_slot("urgency")
        urgency = urgency_from_entities(entities) or previous_urgency
        new_urgency_level = urgency if urgency and urgency != previous_urgency else None
        cause = primary_cause(entities)
        outcome = services.first_entity_value(tracker, "desired_outcome")
        demanded = demanded_amount(entities)

        if known_type and not corrects_the_restatement(tracker):
            events += self._same_case(dispatcher, tracker, text, known_type, said_type, cause, new_urgency_level)
        else:
            complaint_type = said_type or known_type or "product"
            problem = restate(text, complaint_type, outcome=outcome, demanded_amount=demanded)
            kind = "restate" if known_type else "ack"
            dispatcher.utter_message(response=f"utter_{kind}_{complaint_type}", problem=problem)
            if new_urgency_level:
                dispatcher.utter_message(response=f"utter_urgency_{new_urgency_level}")
            events += [
                SlotSet("complaint_type", complaint_type),
                SlotSet("complaint_cause", cause),
                SlotSet("secondary_type", services.first_entity_value(tracker, "complaint_type2")),
                SlotSet("problem_summary", problem),
                SlotSet("phase", "understand"),
            ]
        events.append(SlotSet("urgency", urgency))
        known_order = (message.get("metadata") or {}).get("order_id")  # from a platform that knows it
        if known_order and (settled or not tracker.get_slot("order_id")):
            events.append(SlotSet("order_id", str(known_order)))
        detail = flow.detail_from_first_message(text)
        if detail and not tracker.get_slot("problem_detail"):
            events.append(SlotSet("problem_detail", detail))
        events += outcome_events(text, entities)
        if new_urgency_level:
            events.append(SlotSet("handoff_reason", "urgency"))
        elif not known_type and await self._is_repeat(tracker):
            events.append(SlotSet("handoff_reason", "repeat"))
        return events

    @staticmethod
    def _same_case(
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        text: Text,
        known_type: Text,
        said_type: Optional[Text],
        cause: Optional[Text],
        new_urgency_level: Optional[Text],
    ) -> List[EventType]:
        """A complaint message while a case is open: the type stays, a second problem is kept beside it."""
        first = tracker.get_slot("problem_summary") or restate("", known_type)
        if new_urgency_level:  # "再不处理我就打12315": the urgency rises, the case is the same
            dispatcher.utter_message(response=f"utter_urgency_{new_urgency_level}")
            return []
        if said_type and said_type != known_type and cause and said_type != "malicious":
            second = restate(text, said_type)
            dispatcher.utter_message(response="utter_second_problem", problem=second, first=first)
            events: List[EventType] = (
                [SlotSet("secondary_type", said_type)] if not tracker.get_slot("secondary_type") else []
            )
            return events
        if said_type == known_type and cause:  # more about the same problem: restate with it
            problem = restate(text, known_type)
            dispatcher.utter_message(response=f"utter_restate_{known_type}", problem=problem)
            return [
                SlotSet("problem_summary", problem),
                SlotSet("complaint_cause", tracker.get_slot("complaint_cause") or cause),
            ]
        dispatcher.utter_message(response="utter_same_case", problem=first)
        return []

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

    def answers_the_question(self, tracker: Tracker) -> bool:
        """Whether the latest message answers the form's question although its intent is an
        interruption ("明天上午之前能用上" read as a question, "等等，不退了，换个新的吧" as 算了)."""
        return False

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        """Extraction and validation, after the checks every turn needs."""
        if latest_intent(tracker) in INTERRUPTIONS and not self.answers_the_question(tracker):
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
        result = events + [e for e in extracted if e["name"] not in names] + validated
        requested = tracker.get_slot("requested_slot")
        if any(e.get("name") == requested and e.get("value") is not None for e in result):
            result.append(SlotSet("asides", 0))  # the question got its answer
        return result


class ValidateUnderstandForm(CaseFormValidation):
    """Phase 1: order number, problem details, evidence, desired outcome (per type)."""

    def name(self) -> Text:
        """Validation action of ``understand_form``."""
        return "validate_understand_form"

    def answers_the_question(self, tracker: Tracker) -> bool:
        """An order number, or a wish ("退款", "明天上午之前能用上"), answers whatever the intent."""
        requested = tracker.get_slot("requested_slot")
        if requested == "order_id":
            return bool(services.first_entity_value(tracker, "order_id"))
        if requested == "desired_outcome":
            outcome, amount = services.catalogue().outcome_from_text((tracker.latest_message or {}).get("text") or "")
            return outcome is not None or amount is not None
        return False

    async def required_slots(
        self, domain_slots: List[Text], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Text]:
        """The facts this type of case needs; none once a human takes over."""
        return flow.required_facts(tracker.get_slot("complaint_type"), tracker.get_slot("handoff_reason"))

    async def extract_order_id(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """ "找不到" counts as an answer; anything else that is not an order number is a miss."""
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
        if failures + int(tracker.get_slot("asides") or 0) >= 2:
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
        if asked and "desired_outcome" in found:
            found["ask_failures"] = 0
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
