"""The ticket and satisfaction actions with the real ticket store (the test run's Redis: integration)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.followup import ActionRecordSatisfaction
from actions.tickets import ActionAnswerTiming, ActionOpenTicket

TICKET_NO = re.compile(r"TS\d{8,}")
EXCHANGE = {
    "id": "exchange",
    "label": "换货",
    "description": "给您换一个新的。",
    "by_when_hours": 48,
    "compensation": None,
    "approval": None,
    "by_when_text": None,
}


@pytest.fixture
def on_test_redis(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in redis_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(services, "_clients", {})  # no client cached on another server


async def test_a_confirmed_option_opens_one_ticket_even_when_the_call_is_retried(
    on_test_redis, tracker_factory, domain
) -> None:
    tracker = tracker_factory(
        text="好的 就这样",
        intent="affirm",
        sender_id=f"rest-{uuid.uuid4().hex[:8]}",
        slots={"complaint_type": "product", "chosen_option": EXCHANGE, "order_id": "3920184756210384"},
    )
    first, again = CollectingDispatcher(), CollectingDispatcher()
    events = await ActionOpenTicket().run(first, tracker, domain)
    retried = await ActionOpenTicket().run(again, tracker, domain)
    (message,) = first.messages
    assert message["response"] == "utter_ticket_opened" and TICKET_NO.fullmatch(message["ticket_id"])
    assert SlotSet("ticket_id", message["ticket_id"]) in events and SlotSet("phase", "done") in events
    assert retried == events and again.messages[0]["ticket_id"] == message["ticket_id"]
    ticket = await services.tickets().get(message["ticket_id"])
    assert ticket is not None and ticket.status == "open" and ticket.order_id == "3920184756210384"

    timing = CollectingDispatcher()
    with_ticket = tracker_factory(
        text="多久能好", intent="ask_timing", slots={"ticket_id": ticket.id, "complaint_type": "product"}
    )
    await ActionAnswerTiming().run(timing, with_ticket, domain)
    assert [m["response"] for m in timing.messages] == ["utter_answer_timing_ticket"]

    rated = CollectingDispatcher()
    scored = tracker_factory(text="5", intent="inform", slots={"ticket_id": ticket.id, "satisfaction": 5.0})
    assert await ActionRecordSatisfaction().run(rated, scored, domain) == [SlotSet("phase", "done")]
    assert (await services.tickets().get(ticket.id)).satisfaction == 5
