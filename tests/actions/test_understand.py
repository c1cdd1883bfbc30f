"""The understand phase's actions on trackers built by hand (no servers): one case, one type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.understand import ActionAcknowledgeComplaint, corrects_the_restatement, demanded_amount, primary_cause

DOMAIN = yaml.safe_load((Path(__file__).resolve().parents[2] / "domain.yml").read_text(encoding="utf-8"))


def tracker(
    text: str,
    intent: str,
    entities: list[dict[str, Any]] | None = None,
    *,
    slots: dict[str, Any] | None = None,
    last_action: str = "action_listen",
) -> Tracker:
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": entities or []}
    events = [
        {"event": "action", "name": last_action},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": text, "parse_data": latest},
    ]
    return Tracker("t1", slots or {}, latest, events, False, None, {}, "action_listen")


async def acknowledge(t: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await ActionAcknowledgeComplaint().run(dispatcher, t, DOMAIN)
    return events, dispatcher.messages


def slot(events: list[dict[str, Any]], name: str) -> Any:
    return next((e["value"] for e in events if e.get("event") == "slot" and e["name"] == name), "unset")


OPEN_LOGISTICS = {
    "complaint_type": "logistics",
    "phase": "understand",
    "problem_summary": "快递五天了还没到，配送太慢了",
}


async def test_a_threat_raises_urgency_and_keeps_the_type() -> None:
    t = tracker(
        "再不处理我就打12315投诉，还要找记者曝光你们",
        "complaint_service",
        [{"entity": "urgency", "value": "media_legal"}],
        slots=OPEN_LOGISTICS,
    )
    events, messages = await acknowledge(t)
    assert slot(events, "complaint_type") == "unset"  # not overwritten
    assert (slot(events, "urgency"), slot(events, "handoff_reason")) == ("media_legal", "urgency")
    assert [m["response"] for m in messages] == ["utter_urgency_media_legal"]


async def test_a_second_problem_is_the_secondary_type() -> None:
    t = tracker(
        "而且客服也一直不回我",
        "complaint_service",
        [{"entity": "complaint_cause", "value": "unresponsive"}],
        slots=OPEN_LOGISTICS,
    )
    events, messages = await acknowledge(t)
    assert slot(events, "secondary_type") == "service" and slot(events, "complaint_type") == "unset"
    assert messages[0]["response"] == "utter_second_problem"


async def test_after_no_the_customer_may_change_the_type() -> None:
    t = tracker(
        "是客服态度太差 骂人",
        "complaint_service",
        [{"entity": "complaint_cause", "value": "rude"}],
        slots=OPEN_LOGISTICS,
        last_action="utter_ask_correction",
    )
    events, messages = await acknowledge(t)
    assert (slot(events, "complaint_type"), slot(events, "complaint_cause")) == ("service", "rude")
    assert messages[0]["response"] == "utter_restate_service"


@pytest.mark.parametrize(
    ("text", "last_action", "expected"),
    [
        ("不是 是显示签收了但我根本没收到", "action_acknowledge_complaint", True),
        ("对 而且还很慢", "action_acknowledge_complaint", False),
        ("快递员态度很差", "utter_ask_correction", True),
        ("不是 我要换货", "action_ask_desired_outcome", False),
    ],
)
def test_corrections(text: str, last_action: str, expected: bool) -> None:
    assert corrects_the_restatement(tracker(text, "complaint_logistics", last_action=last_action)) is expected


def test_entity_readers() -> None:
    entities = [
        {"entity": "complaint_cause", "value": "unresponsive", "role": "secondary"},
        {"entity": "complaint_cause", "value": "wrong_item"},
        {"entity": "amount", "value": 300.0, "role": "price"},
        {"entity": "amount", "value": 2000.0, "role": "demand"},
    ]
    assert primary_cause(entities) == "wrong_item"
    assert demanded_amount(entities) == 2000.0
