"""The analytics projection of a ticket (bot/analytics/facts.py): pure, from the ticket dict alone."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.analytics.facts import CLAIM_NOTE, ESCALATION_NOTE_PREFIX, FIELDS, HANDOFF_NOTE, VERSION, dumps, ticket_facts
from tests.support.analytics import HOUR, shanghai

T0 = shanghai(24, 7, 30)  # Tuesday


def entry(at: float, note: str, status: str = "open", actor: str = "bot") -> dict[str, Any]:
    return {"at": at, "status": status, "actor": actor, "note": note, "changed": []}


def ticket(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "TS202611240001",
        "channel": "wechat",
        "customer_id": "wechat:o6_bm",
        "sender_id": "wechat:o6_bm",
        "type": "product",
        "cause": "defect",
        "urgency": None,
        "priority": "P4",
        "queue": "general",
        "status": "open",
        "facts": {"product_category": "appliances"},
        "first_response_due": T0 + 2 * HOUR,
        "history": [entry(T0, "工单已创建")],
        "created_at": T0,
        "updated_at": T0,
    }
    base.update(values)
    return base


def test_a_whole_case_read_from_its_history() -> None:
    history = [
        entry(T0, HANDOFF_NOTE.format(reason="urgency"), "with_agent"),
        entry(T0 + 300, "补偿已批准", "with_agent", "agent-1"),
        entry(T0 + 600, CLAIM_NOTE, "with_agent", "agent-1"),
        entry(T0 + 900, CLAIM_NOTE, "with_agent", "agent-2"),  # only the first claim counts
        entry(T0 + HOUR, "已解决", "resolved", "agent-2"),
        entry(T0 + 2 * HOUR, "重新打开", "with_agent"),
        entry(T0 + 3 * HOUR, "再次解决", "resolved"),
        entry(T0 + 4 * HOUR, "满意度评分", "resolved", "customer"),
    ]
    facts = ticket_facts(
        ticket(
            urgency="safety",
            priority="P1",
            queue="emergency",
            status="resolved",
            history=history,
            first_response_due=T0 + 900,
            satisfaction=4,
            chosen_option={"id": "refund", "label": "退货退款", "description": "…"},
            compensation={"amount": 50, "status": "granted", "approved_by": "bot"},
            risk_flag=False,
        )
    )
    assert list(facts) == list(FIELDS)
    assert facts == {
        "v": VERSION,
        "id": "TS202611240001",
        "created_at": T0,
        "day": "2026-11-24",
        "hour": 7,
        "weekday": 1,
        "channel": "wechat",
        "customer": "wechat:o6_bm",
        "type": "product",
        "cause": "defect",
        "category": "appliances",
        "urgency": "safety",
        "priority": "P1",
        "queue": "emergency",
        "status": "resolved",
        "handoff_reason": "urgency",
        "handoff_at": T0,
        "handoff_queue": "emergency",
        "first_claimed_at": T0 + 600,
        "escalated": False,
        "resolved_at": T0 + HOUR,
        "first_response_due": T0 + 900,
        "respond_by": T0 + 900,
        "satisfaction": 4,
        "option_id": "refund",
        "option_label": "退货退款",
        "compensation": 50.0,
        "compensation_status": "granted",
        "risk_flag": False,
    }
    json.loads(dumps(facts))  # JSON-ready


def test_a_ticket_the_bot_settled_has_no_handoff_and_no_deadline_to_meet() -> None:
    facts = ticket_facts(ticket())
    assert (facts["handoff_reason"], facts["handoff_at"], facts["respond_by"]) == (None, None, None)
    assert (facts["first_claimed_at"], facts["resolved_at"], facts["escalated"]) == (None, None, False)


def test_a_later_handoff_counts_its_window_from_the_handoff() -> None:
    history = [entry(T0, "工单已创建"), entry(T0 + 5 * HOUR, HANDOFF_NOTE.format(reason="asked"), "with_agent")]
    facts = ticket_facts(ticket(history=history))
    assert (facts["handoff_reason"], facts["handoff_at"]) == ("asked", T0 + 5 * HOUR)
    assert facts["respond_by"] == T0 + 7 * HOUR  # 5 h + the 2-hour window of its tier
    # handed over within the first window: the original deadline stands (it is the later one)
    history[1]["at"] = T0 - HOUR
    assert ticket_facts(ticket(history=history))["respond_by"] == T0 + 2 * HOUR


def test_escalation_and_a_closed_ticket() -> None:
    history = [
        entry(T0, HANDOFF_NOTE.format(reason="repeat"), "with_agent"),
        entry(T0 + 3 * HOUR, f"{ESCALATION_NOTE_PREFIX}，已升级给客服主管", "with_agent", "timer"),
        entry(T0 + 4 * HOUR, "关闭", "closed", "agent-9"),
    ]
    facts = ticket_facts(ticket(history=history, queue="supervisor", status="closed"))
    assert (facts["escalated"], facts["resolved_at"], facts["first_claimed_at"]) == (True, T0 + 4 * HOUR, None)
    assert (facts["queue"], facts["handoff_reason"]) == ("supervisor", "repeat")
    # from the ticket alone the queue it was handed to is lost; the previous projection keeps it
    assert facts["handoff_queue"] == "supervisor"
    previous = ticket_facts(ticket(history=history[:1], queue="senior", status="with_agent"))
    assert previous["handoff_queue"] == "senior"
    kept = ticket_facts(ticket(history=history, queue="supervisor", status="closed"), previous)
    assert (kept["handoff_queue"], kept["queue"]) == ("senior", "supervisor")


def test_no_handoff_no_handoff_queue_whatever_came_before() -> None:
    assert ticket_facts(ticket(), {"handoff_queue": "senior"})["handoff_queue"] is None
    assert (
        ticket_facts(ticket(history=[entry(T0, HANDOFF_NOTE.format(reason="asked"))]), {"x": 1})["handoff_queue"]
        == "general"
    )


@pytest.mark.parametrize(
    ("slot", "category"),
    [("appliances", "appliances"), ("家电", "appliances"), ("Electronics", "electronics"), ("数码", "electronics"),
     ("玩具车", "玩具车"), ("", None), ("  ", None), (7, None), (None, None)],
)  # fmt: skip
def test_the_product_category_is_read_as_its_id(slot: Any, category: str | None) -> None:
    assert ticket_facts(ticket(facts={"product_category": slot}))["category"] == category


def test_the_customer_is_the_sender_when_the_channel_gave_no_customer_id() -> None:
    assert ticket_facts(ticket(customer_id=None, sender_id="conv-9"))["customer"] == "conv-9"


def test_a_chosen_option_written_as_text() -> None:
    facts = ticket_facts(ticket(chosen_option="exchange"))
    assert (facts["option_id"], facts["option_label"]) == (None, "exchange")


def test_odd_values_read_as_none_and_never_raise() -> None:
    odd = {
        "id": None,
        "created_at": "yesterday",
        "channel": 5,
        "type": "",
        "facts": ["not", "a", "dict"],
        "history": [None, "text", {"note": 3, "at": "x"}, {"note": CLAIM_NOTE}],
        "first_response_due": True,
        "satisfaction": True,
        "chosen_option": 12,
        "compensation": {"amount": "lots"},
        "risk_flag": "yes",
    }
    facts = ticket_facts(odd)
    assert list(facts) == list(FIELDS)
    assert facts["id"] == "" and facts["created_at"] is None and facts["day"] is None
    assert facts["channel"] is None and facts["type"] is None and facts["category"] is None
    assert facts["first_claimed_at"] is None and facts["first_response_due"] is None
    assert facts["satisfaction"] is None and facts["option_label"] is None and facts["compensation"] is None
    assert facts["risk_flag"] is False
    assert ticket_facts({})["customer"] is None
    assert ticket_facts({"created_at": float("nan")})["day"] is None
    assert ticket_facts({"created_at": 1e300})["day"] is None
    json.loads(dumps(facts))
