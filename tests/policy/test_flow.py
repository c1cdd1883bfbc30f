"""The three-phase flow rules (bot/policy/flow.py), without Rasa."""

from __future__ import annotations

import pytest

from bot.policy import flow


@pytest.mark.parametrize(
    ("complaint_type", "expected"),
    [
        ("product", ["order_id", "problem_detail", "evidence", "desired_outcome"]),
        ("logistics", ["order_id", "problem_detail", "desired_outcome"]),
        ("service", ["order_id", "problem_detail", "desired_outcome"]),
        ("malicious", ["order_id", "evidence"]),
        (None, ["order_id", "problem_detail", "evidence", "desired_outcome"]),
    ],
)
def test_required_facts_per_type(complaint_type, expected) -> None:  # type: ignore[no-untyped-def]
    assert flow.required_facts(complaint_type) == expected


def test_nothing_is_asked_once_a_human_takes_over() -> None:
    assert flow.required_facts("product", handoff_reason="urgency") == []


def test_what_the_customer_already_said_is_not_asked_again() -> None:
    slots = {"order_id": "3920184756210384", "problem_detail": "煮饭夹生", "desired_outcome": None}
    assert flow.missing_facts("product", slots) == ["evidence", "desired_outcome"]
    assert flow.missing_facts("logistics", {**slots, "desired_outcome": "reship"}) == []


@pytest.mark.parametrize(
    ("text", "detailed"),
    [("收到的电饭煲煮饭夹生 才用了两次", True), ("我要投诉", False), ("质量太差", False), ("快递五天了还没到", True)],
)
def test_a_detailed_first_message_counts_as_the_details(text: str, detailed: bool) -> None:
    assert (flow.detail_from_first_message(text) is not None) is detailed


def test_misunderstandings_count_only_in_a_row() -> None:
    assert flow.consecutive_misunderstandings(["greet", "nlu_fallback", "nlu_fallback"]) == 2
    assert flow.consecutive_misunderstandings(["nlu_fallback", "inform", "nlu_fallback"]) == 1
    assert flow.consecutive_misunderstandings([]) == 0


def test_summary_for_the_agent() -> None:
    slots = {
        "complaint_type": "product",
        "urgency": "safety",
        "phase": "explore",
        "order_id": "3920184756210384",
        "problem_summary": "暖手宝烫伤",
        "options_offered": [{"label": "退货退款"}, {"label": "人工复核"}],
        "chosen_option": None,
        "ticket_id": "TS202611230001",
    }
    summary = flow.summary(slots, ["第一句", "第二句"])
    assert summary["type"] == "product" and summary["urgency"] == "safety" and summary["phase"] == "explore"
    assert summary["facts"] == {"order_id": "3920184756210384", "problem_summary": "暖手宝烫伤"}
    assert summary["options_offered"] == ["退货退款", "人工复核"]
    assert summary["last_messages"] == ["第一句", "第二句"]
