"""Handoff, ticket and satisfaction actions on paths that touch no store (the action unit layer)."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import ActiveLoop, SlotSet

from actions.followup import ActionRecordSatisfaction, ValidateSatisfactionForm
from actions.handoff import ActionCancel, ActionFallback, queue_for, ticket_fields, trigger_key
from actions.tickets import ActionAnswerTiming, next_steps
from bot.policy.catalogue import Option
from bot.policy.sla import load_sla


def responses(dispatcher: Any) -> list[str]:
    return [m.get("response") for m in dispatcher.messages]


def misunderstood(text: str) -> dict[str, Any]:
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": "nlu_fallback"}}}


# ---- action_fallback / action_cancel -------------------------------------------------------


async def test_a_first_misunderstanding_asks_again(dispatcher, tracker_factory, domain) -> None:
    tracker = tracker_factory(
        text="嗯嗯那个",
        intent="nlu_fallback",
        events=[{"event": "user", "text": "你好", "parse_data": {"intent": {"name": "greet"}}}],
    )
    events = await ActionFallback().run(dispatcher, tracker, domain)
    assert events == [] and responses(dispatcher) == ["utter_default"]


async def test_a_second_misunderstanding_in_a_row_hands_over(dispatcher, tracker_factory, domain) -> None:
    tracker = tracker_factory(text="啊啊啊", intent="nlu_fallback", events=[misunderstood("嗯嗯那个")])
    events = await ActionFallback().run(dispatcher, tracker, domain)
    assert events == [SlotSet("handoff_reason", "misunderstood")] and dispatcher.messages == []


async def test_cancel_closes_the_flow_without_opening_anything(dispatcher, tracker_factory, domain) -> None:
    tracker = tracker_factory(text="算了", intent="cancel", active_loop="settle_form", slots={"phase": "settle"})
    events = await ActionCancel().run(dispatcher, tracker, domain)
    assert events == [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("phase", "cancelled")]
    assert responses(dispatcher) == ["utter_cancel"]


# ---- action_answer_timing before a ticket exists ------------------------------------------


async def test_timing_without_a_case_says_there_is_none(dispatcher, tracker_factory, domain) -> None:
    events = await ActionAnswerTiming().run(dispatcher, tracker_factory(text="多久能好", intent="ask_timing"), domain)
    assert events == [] and responses(dispatcher) == ["utter_no_open_case"]


@pytest.mark.parametrize("urgency", [None, "safety"])
async def test_timing_before_the_ticket_gives_the_tiers_resolution_time(
    dispatcher, tracker_factory, domain, urgency: Any
) -> None:
    tracker = tracker_factory(
        text="多久能处理好", intent="ask_timing", slots={"complaint_type": "logistics", "urgency": urgency}
    )
    await ActionAnswerTiming().run(dispatcher, tracker, domain)
    (message,) = dispatcher.messages
    tier = load_sla().priority_for(urgency)
    assert message["response"] == "utter_answer_timing_before"
    assert message["hours"] == round(tier.resolution_seconds / 3600)
    assert message["type_label"] and "{" not in message["type_label"]


# ---- satisfaction ------------------------------------------------------------------------


@pytest.mark.parametrize("text, score", [("5", 5.0), ("给5分", 5.0), ("一分", 1.0)])
async def test_the_score_is_read_only_while_it_is_asked(
    dispatcher, tracker_factory, domain, text: str, score: float
) -> None:
    action = ValidateSatisfactionForm()
    asked = tracker_factory(text=text, intent="inform", slots={"requested_slot": "satisfaction"})
    assert await action.extract_satisfaction(dispatcher, asked, domain) == {"satisfaction": score}
    not_asked = tracker_factory(text=text, intent="inform")
    assert await action.extract_satisfaction(dispatcher, not_asked, domain) == {}


async def test_a_good_score_without_a_ticket_is_thanked(dispatcher, tracker_factory, domain) -> None:
    tracker = tracker_factory(text="5", intent="inform", slots={"satisfaction": 5.0})
    events = await ActionRecordSatisfaction().run(dispatcher, tracker, domain)
    assert events == [SlotSet("phase", "done")]
    assert responses(dispatcher) == ["utter_thanks_for_rating"]


# ---- what the ticket and the handoff are built from -----------------------------------------


def test_a_retried_call_gets_the_same_idempotency_key_and_the_next_message_a_new_one(tracker_factory) -> None:
    first = tracker_factory(text="确认", intent="affirm", sender_id="rest-7")
    again = tracker_factory(text="确认", intent="affirm", sender_id="rest-7")
    later = tracker_factory(text="确认", intent="affirm", sender_id="rest-7", events=[misunderstood("嗯")])
    assert trigger_key(first, "ticket") == trigger_key(again, "ticket")
    assert trigger_key(first, "ticket") != trigger_key(later, "ticket")
    assert trigger_key(first, "ticket").startswith("rest-7:ticket:")


def test_confirming_the_same_choice_again_gets_the_same_ticket_key(tracker_factory) -> None:
    """The soak's duplicate ticket: a turn cut off after the ticket was written, then "确认" again."""
    from actions.tickets import confirmation_key

    chosen = {"event": "slot", "name": "chosen_option", "value": {"id": "callback"}, "timestamp": 1700000000.5}
    other = {"event": "slot", "name": "chosen_option", "value": {"id": "coupon"}, "timestamp": 1700000100.5}
    first = tracker_factory(text="确认", intent="affirm", sender_id="rest-8", events=[chosen])
    again = tracker_factory(text="确认", intent="affirm", sender_id="rest-8", events=[chosen, misunderstood("确认")])
    changed = tracker_factory(text="确认", intent="affirm", sender_id="rest-8", events=[chosen, other])
    assert trigger_key(first, "ticket") != trigger_key(again, "ticket")  # two messages ...
    assert confirmation_key(first) == confirmation_key(again)  # ... one choice, one ticket
    assert confirmation_key(changed) != confirmation_key(first)  # another choice: another ticket
    no_choice = tracker_factory(text="确认", intent="affirm", sender_id="rest-8")
    assert confirmation_key(no_choice) == trigger_key(no_choice, "ticket")


def test_approval_goes_to_the_approvers_queue_and_anything_else_to_the_tiers() -> None:
    tier = load_sla().priority_for(None)
    assert queue_for("approval", tier) != tier.queue
    assert queue_for("asked", tier) == tier.queue


def test_ticket_fields_come_from_the_slots(tracker_factory) -> None:
    tracker = tracker_factory(
        text="订单号3920184756210384",
        intent="inform",
        sender_id="rest-9",
        slots={
            "complaint_type": "malicious",
            "secondary_type": "malicious",
            "order_id": "3920184756210384",
            "urgency": "safety",
            "complaint_cause": "not-a-cause",
        },
    )
    fields = ticket_fields(tracker, status="open")
    assert fields["sender_id"] == "rest-9" and fields["channel"] == "rest"
    assert fields["order_id"] == "3920184756210384" and fields["type"] == "malicious"
    assert fields["secondary_type"] is None  # the same as the type
    assert fields["cause"] is None  # not in the cause vocabulary
    assert fields["risk_flag"] is True and fields["status"] == "open"
    assert "3920184756210384" in fields["customer_words"]


def test_next_steps_name_the_deadline_when_the_option_has_one() -> None:
    now = 1_700_000_000.0
    timed = Option(id="x", label="换货", description="给您换一个新的。", by_when_hours=48)
    untimed = Option(id="y", label="人工", description="转给人工处理。", by_when_hours=None)
    assert next_steps(timed, now).startswith("给您换一个新的（") and next_steps(timed, now).endswith("完成）。")
    assert next_steps(untimed, now) == "转给人工处理。"
