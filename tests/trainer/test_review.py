"""The trainer's view of conversations: turns, uncertainty, filters, least sure first."""

from __future__ import annotations

from typing import Any

import pytest

from bot.trainer.review import CORRECTED, FALLBACK, least_sure_first, read_conversation, select


def user(text: str, intent: str, confidence: float, ranking: list[tuple[str, float]], t: float, **extra: Any) -> dict:
    return {
        "event": "user",
        "text": text,
        "timestamp": t,
        "input_channel": extra.get("channel", "rest"),
        "parse_data": {
            "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking],
            "entities": extra.get("entities", []),
        },
    }


def bot(text: str) -> dict:
    return {"event": "bot", "text": text}


def action(name: str) -> dict:
    return {"event": "action", "name": name}


def slot(name: str, value: Any) -> dict:
    return {"event": "slot", "name": name, "value": value}


SURE = [("complaint_product", 0.95), ("complaint_logistics", 0.03)]
COIN = [("complaint_service", 0.51), ("complaint_product", 0.49)]


def misread_conversation(sender: str = "rest:c1", t0: float = 1000.0):
    return read_conversation(
        sender,
        [
            user("你们怎么回事 拍的耙子寄来铲子 电话13912345678", "complaint_service", 0.51, COIN, t0),
            action("action_acknowledge_complaint"),
            bot("您对我们的服务不满意，对吗？"),
            action("action_listen"),
            user("不对，是发错货了", "deny", 0.9, [("deny", 0.9), ("inform", 0.05)], t0 + 5),
            slot("complaint_type", "service"),
        ],
    )


def test_turns_carry_the_reading_the_runner_up_actions_and_replies_with_pii_masked() -> None:
    conversation = misread_conversation()
    first, second = conversation.turns
    assert (first.intent, first.confidence, first.runner_up, first.runner_up_confidence) == (
        "complaint_service",
        0.51,
        "complaint_product",
        0.49,
    )
    assert first.actions == ("action_acknowledge_complaint",) and first.replies == ("您对我们的服务不满意，对吗？",)
    assert "13912345678" not in first.text and "139****5678" in first.text
    assert first.corrected_next and not second.corrected_next
    assert conversation.channel == "rest" and conversation.complaint_type == "service"


def test_a_corrected_coin_toss_outranks_a_sure_reading_and_a_fallback_outranks_a_margin() -> None:
    corrected = misread_conversation().turns[0]
    assert corrected.uncertainty == pytest.approx(1 - 0.02 + CORRECTED)
    fallback = read_conversation("rest:f", [user("asdf", "nlu_fallback", 0.3, [("greet", 0.3)], 1.0)]).turns[0]
    assert fallback.fallback and fallback.uncertainty >= FALLBACK
    sure = read_conversation("rest:s", [user("杯子碎了", "complaint_product", 0.95, SURE, 2.0)]).turns[0]
    assert sure.uncertainty == pytest.approx(0.08)
    ranked = least_sure_first(
        [read_conversation("rest:s", [user("杯子碎了", "complaint_product", 0.95, SURE, 2.0)]), misread_conversation()],
        limit=2,
    )
    assert [t.text for _, t in ranked][0].startswith("你们怎么回事")


def test_filters_type_channel_and_dates() -> None:
    misread = misread_conversation("rest:c1", t0=1000.0)
    handed = read_conversation(
        "wechat:o1",
        [
            user("孩子吃了拉肚子", "complaint_product", 0.97, SURE, 5000.0, channel="wechat"),
            slot("handoff_reason", "urgency"),
        ],
    )
    everything = [misread, handed]
    assert [c.sender_id for c in select(everything, filter="low_confidence")] == ["rest:c1"]
    assert [c.sender_id for c in select(everything, filter="handoff")] == ["wechat:o1"]
    assert select(everything, filter="fallback") == []
    assert [c.sender_id for c in select(everything, channel="wechat")] == ["wechat:o1"]
    assert [c.sender_id for c in select(everything, complaint_type="service")] == ["rest:c1"]
    assert [c.sender_id for c in select(everything, since=2000.0)] == ["wechat:o1"]
    assert [c.sender_id for c in select(everything, until=2000.0)] == ["rest:c1"]
    assert [c.sender_id for c in select(everything)] == ["wechat:o1", "rest:c1"]  # newest first
    assert [c.sender_id for c in select(everything, order="least_confident")] == ["rest:c1", "wechat:o1"]


def test_an_unknown_filter_or_order_is_an_error_not_an_empty_list() -> None:
    with pytest.raises(ValueError, match="unknown filter"):
        select([], filter="sad")
    with pytest.raises(ValueError, match="unknown order"):
        select([], order="random")


def test_a_fallback_decided_with_full_confidence_is_still_a_low_confidence_turn() -> None:
    events = [
        {
            "event": "user",
            "text": "asdfghjkl",
            "timestamp": 1.0,
            "parse_data": {
                "intent": {"name": "nlu_fallback", "confidence": 1.0},
                "intent_ranking": [{"name": "out_of_scope", "confidence": 0.99}],
            },
        }
    ]
    conversation = read_conversation("rest:x", events)
    assert conversation.least_confidence == 0.0 and conversation.matches("low_confidence")
