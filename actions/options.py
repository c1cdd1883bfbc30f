"""Phases 2 and 3 (explore, settle): concrete options, the customer's choice, the agreement."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services
from actions.understand import CaseFormValidation, latest_intent
from bot.language import replies
from bot.language.causes import vocabulary as cause_vocabulary
from bot.policy.catalogue import FAST, Case, Option

HUMAN_REVIEW = "human_review"
_AMOUNT = re.compile(r"\d+(?:\.\d+)?")


def case_from_slots(tracker: Tracker) -> Case:
    """The facts the option rules look at."""
    outcome = tracker.get_slot("desired_outcome")
    problem = " ".join(str(tracker.get_slot(s) or "") for s in ("problem_summary", "problem_detail")).strip()
    cause = tracker.get_slot("complaint_cause")
    return Case(
        complaint_type=tracker.get_slot("complaint_type") or "product",
        cause=cause if cause in cause_vocabulary() else None,
        urgency=tracker.get_slot("urgency"),
        product_category=tracker.get_slot("product_category"),
        problem=problem,
        desired_outcome=None if not outcome or str(outcome).startswith("other:") else outcome,
        demanded_amount=tracker.get_slot("demanded_amount"),
        order_amount=tracker.get_slot("order_amount"),
    )


def offered(tracker: Tracker) -> List[Option]:
    """The options offered so far, back from the slot."""
    return [Option(**o) for o in tracker.get_slot("options_offered") or []]


def as_slot(options: List[Option]) -> List[Dict[Text, Any]]:
    """Options as a JSON-ready slot value."""
    return [dataclasses.asdict(o) for o in options]


def option_lines(options: List[Option]) -> Text:
    """ "1. 换货：…（48小时内）" lines for the options message."""
    return "\n".join(f"{i}. {o.label}：{o.description}" for i, o in enumerate(options, start=1))


def buttons(options: List[Option]) -> List[Dict[Text, Text]]:
    """Quick-reply buttons; the payload is the option's number, read like a typed reply."""
    return [{"title": o.label, "payload": str(i)} for i, o in enumerate(options, start=1)]


def with_human_review(options: List[Option]) -> List[Option]:
    """Adds the human-review option when it is not offered yet (the bot never refuses finally)."""
    if any(o.id == HUMAN_REVIEW for o in options):
        return options
    return options + [services.catalogue().human_review]


class ValidateSettleForm(CaseFormValidation):
    """Phases 2-3: which option, then the customer's confirmation of the agreement.

    A different option named at any point replaces the choice and asks for confirmation
    again (changing one's mind); a dispute or a compensation demand re-offers the options
    with human review (and, within policy, the demanded compensation).
    """

    def name(self) -> Text:
        """Validation action of ``settle_form``."""
        return "validate_settle_form"

    def answers_the_question(self, tracker: Tracker) -> bool:
        """Naming an offered option answers, even inside "等等，不退了，换个新的吧" (read as 算了)."""
        text = (tracker.latest_message or {}).get("text") or ""
        return services.catalogue().match_choice(text, offered(tracker)) is not None

    async def required_slots(
        self, domain_slots: List[Text], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Text]:
        """Choice and agreement, unless a human takes over."""
        return [] if tracker.get_slot("handoff_reason") else ["chosen_option", "agreement"]

    async def extract_chosen_option(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """The option the latest message picks, a re-offer after a dispute, or a miss."""
        options = offered(tracker)
        if not options:
            return {}
        text = (tracker.latest_message or {}).get("text") or ""
        catalogue = services.catalogue()
        choice = catalogue.match_choice(text, options)
        current = tracker.get_slot("chosen_option") or {}
        if choice is not None:
            if choice.id == HUMAN_REVIEW:
                return {"chosen_option": dataclasses.asdict(choice), "handoff_reason": "asked", "ask_failures": 0}
            if choice.id == current.get("id"):
                return {}
            return {"chosen_option": dataclasses.asdict(choice), "agreement": None, "ask_failures": 0}
        if tracker.get_slot("requested_slot") != "chosen_option":
            return {}
        outcome, amount = catalogue.outcome_from_text(text)
        if amount is not None or replies.is_dispute(text) or latest_intent(tracker) == "deny":
            return self._reoffer(dispatcher, tracker, amount)
        failures = int(tracker.get_slot("ask_failures") or 0) + 1
        result: Dict[Text, Any] = {"ask_failures": failures}
        if failures + int(tracker.get_slot("asides") or 0) >= 2:
            result["handoff_reason"] = "misunderstood"
        return result

    @staticmethod
    def _reoffer(dispatcher: CollectingDispatcher, tracker: Tracker, amount: Optional[float]) -> Dict[Text, Any]:
        """Options again, with human review and (within policy) the demanded compensation."""
        case = case_from_slots(tracker)
        if amount is not None:
            case = dataclasses.replace(case, demanded_amount=amount, desired_outcome="compensation")
        if case.complaint_type == "malicious":
            dispatcher.utter_message(response="utter_policy_only")
        else:
            dispatcher.utter_message(response="utter_dispute")
        options = with_human_review(services.catalogue().options_for(case))
        return {"options_offered": as_slot(options), "demanded_amount": case.demanded_amount, "reoffer": True}

    async def extract_agreement(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """ "确认" agrees; "换个方案" / "不" goes back to choosing. A reply that names an offered
        option is a choice, not an answer here: ``extract_chosen_option`` (run before this one;
        the SDK shows its result on the tracker) sets it, and the agreement is asked for it."""
        current = tracker.get_slot("chosen_option")
        if tracker.get_slot("requested_slot") != "agreement" or not current:
            return {}
        text = (tracker.latest_message or {}).get("text") or ""
        if services.catalogue().match_choice(text, offered(tracker)) is not None:
            return {}
        reading = replies.read_agreement(text, latest_intent(tracker))
        if reading == "change":
            return {"chosen_option": None, "agreement": None, "ask_failures": 0}
        if reading == "agree":
            return {"agreement": True}
        return {"ask_failures": int(tracker.get_slot("ask_failures") or 0) + 1}


class ActionAskChosenOption(Action):
    """Phase 2: offers at least two concrete options that fit the type and the facts."""

    def name(self) -> Text:
        """Ask action of ``chosen_option``."""
        return "action_ask_chosen_option"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        """Lists the options the first time; later says briefly how to pick."""
        options = offered(tracker)
        events: List[EventType] = [SlotSet("phase", "explore")]
        reoffer = bool(tracker.get_slot("reoffer"))
        if (
            options
            and not reoffer
            and tracker.get_slot("chosen_option") is None
            and int(tracker.get_slot("ask_failures") or 0)
        ):
            dispatcher.utter_message(response="utter_option_not_clear", buttons=buttons(options))
            return events
        if not options:
            case = case_from_slots(tracker)
            options = services.catalogue().options_for(case)
            events.append(SlotSet("options_offered", as_slot(options)))
            response = "utter_offer_options_fast" if case.desired_outcome == FAST else "utter_offer_options"
            demanded = case.demanded_amount
            if demanded and not any(o.compensation == demanded for o in options):
                if case.complaint_type == "malicious":
                    dispatcher.utter_message(response="utter_policy_only")
                else:
                    dispatcher.utter_message(response="utter_demand_needs_review", amount=f"{demanded:g}")
        else:
            response = "utter_offer_options_again"
        dispatcher.utter_message(response=response, options=option_lines(options), buttons=buttons(options))
        return events + [SlotSet("reoffer", False)]


class ActionAskAgreement(Action):
    """Phase 3: repeats the agreement back before anything is opened."""

    def name(self) -> Text:
        """Ask action of ``agreement``."""
        return "action_ask_agreement"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        """ "确认一下：换货——…，48小时内…"."""
        chosen_slot = tracker.get_slot("chosen_option")
        assert isinstance(chosen_slot, dict), "runs only after an option was chosen (rules and forms order it)"
        chosen = Option(**chosen_slot)
        dispatcher.utter_message(
            response="utter_ask_agreement",
            agreement=agreement_text(chosen),
        )  # the 确认 / 换个方案 buttons are the response's own (domain.yml)
        return [SlotSet("phase", "settle")]


def agreement_text(option: Option) -> Text:
    """One sentence: what we do and by when."""
    return f"{option.label}——{option.description.rstrip('。')}"
