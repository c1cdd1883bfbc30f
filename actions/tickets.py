"""Phase 3 end: the ticket, announced only after the store accepted it; timing questions."""

from __future__ import annotations

import logging
import time
from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services
from actions.handoff import ticket_fields, trigger_key
from bot.policy import sla as sla_module
from bot.policy.catalogue import Option
from bot.policy.labels import load_labels
from bot.privacy import mask_pii
from bot.store.tickets import TicketStoreUnavailable, describe

logger = logging.getLogger(__name__)


def next_steps(option: Option, now: float) -> Text:
    """ "<what happens>（<deadline>完成）"."""
    if option.by_when_hours is None:
        return option.description
    done_by = sla_module.format_deadline(now + float(option.by_when_hours) * 3600, now=now)
    return f"{option.description.rstrip('。')}（{done_by}完成）。"


def confirmation_key(tracker: Tracker) -> Text:
    """Idempotency key of the ticket: the conversation and the event that set ``chosen_option``.

    Found in the soak (issue 13): the action server was killed after it wrote the ticket, the turn's
    events were lost, and the customer's second "确认" (a new message, so a new
    :func:`~actions.handoff.trigger_key`) opened a second ticket. Falls back to the message's key
    when the choice is outside the tracker's window.
    """
    for event in reversed(tracker.events):
        if event.get("event") == "slot" and event.get("name") == "chosen_option" and event.get("value"):
            return f"{tracker.sender_id}:ticket:chosen:{event.get('timestamp')}"
    return trigger_key(tracker, "ticket")


class ActionOpenTicket(Action):
    """Opens the ticket after the customer confirmed, then gives its number and next steps.

    The idempotency key is the conversation plus the moment the option was chosen
    (:func:`confirmation_key`), so a retried call, a swept turn run again, or the customer saying
    "确认" again after a turn that was cut off (the action server killed after the ticket was written)
    returns the same ticket; choosing another option makes a new key. If the store does not accept it, no number is announced: the
    customer hears so and the case goes to a human (``handoff_reason: failure``).
    """

    def name(self) -> Text:
        """Action name used in the domain."""
        return "action_open_ticket"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        """Creates the ticket and announces it."""
        chosen_slot = tracker.get_slot("chosen_option")
        assert isinstance(chosen_slot, dict), "runs only after an option was chosen (rules and forms order it)"
        chosen = Option(**chosen_slot)
        now = time.time()
        fields = ticket_fields(tracker, status="pending_approval" if chosen.approval else "open")
        if chosen.compensation:
            fields["compensation"] = {
                "amount": chosen.compensation,
                "status": "pending_approval" if chosen.approval else "granted",
                "approved_by": None if chosen.approval else "bot",
                "approval_level": chosen.approval,
            }
        try:
            ticket, _ = await services.tickets().create(confirmation_key(tracker), **fields)
        except TicketStoreUnavailable as error:
            logger.error("TICKET NOT CREATED for %s: %s", mask_pii(tracker.sender_id), error)
            dispatcher.utter_message(response="utter_ticket_failed")
            return [SlotSet("handoff_reason", "failure"), SlotSet("phase", "settle")]
        events: List[EventType] = [
            SlotSet("ticket_id", ticket.id),
            SlotSet("phase", "done"),
            SlotSet("ask_failures", 0),
        ]
        if chosen.approval:
            dispatcher.utter_message(
                response="utter_ticket_pending_approval",
                ticket_id=ticket.id,
                approver=services.catalogue().approvers[chosen.approval],
                deadline=sla_module.format_deadline(now + float(chosen.by_when_hours or 24) * 3600, now=now),
            )
            return events + [SlotSet("handoff_reason", "approval")]
        dispatcher.utter_message(
            response="utter_ticket_opened",
            ticket_id=ticket.id,
            next_steps=next_steps(chosen, now),
            followup=sla_module.format_deadline(ticket.next_progress_due or now + 86400, now=now),
        )
        return events


class ActionAnswerTiming(Action):
    """ "多久能处理好": the ticket's state, the human's deadline, or the usual time for the type."""

    def name(self) -> Text:
        """Action name used in the domain."""
        return "action_answer_timing"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        """One short answer with a time."""
        ticket_id = tracker.get_slot("ticket_id")
        if ticket_id:
            try:
                ticket = await services.tickets().get(ticket_id)
            except TicketStoreUnavailable as error:
                logger.error("ticket lookup failed for %s: %s", mask_pii(tracker.sender_id), error)
                ticket = None
            if ticket is not None:
                dispatcher.utter_message(response="utter_answer_timing_ticket", **describe(ticket))
                return []
        complaint_type = tracker.get_slot("complaint_type")
        if not complaint_type:
            dispatcher.utter_message(response="utter_no_open_case")
            return []
        tier = services.sla().priority_for(tracker.get_slot("urgency"))
        dispatcher.utter_message(
            response="utter_answer_timing_before",
            type_label=load_labels().complaint_types[complaint_type],
            hours=round(tier.resolution_seconds / 3600),
        )
        return []
