"""Stories, rules and test stories from a reviewed conversation (bot/trainer/stories.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.trainer.examples import InvalidData
from bot.trainer.stories import Correction, StoryError, build, save_story

EVENTS = [
    {"event": "action", "name": "action_session_start"},
    {"event": "action", "name": "action_listen"},
    {
        "event": "user",
        "text": "杯子收到就是碎的 电话13912345678",
        "parse_data": {
            "intent": {"name": "complaint_logistics"},
            "entities": [{"entity": "phone", "value": "13912345678", "start": 12, "end": 23}],
        },
    },
    {"event": "action", "name": "action_acknowledge_complaint"},
    {"event": "bot", "text": "很抱歉……对吗？"},
    {"event": "slot", "name": "complaint_type", "value": "logistics"},
    {"event": "slot", "name": "problem_detail", "value": "电话13912345678"},
    {"event": "active_loop", "name": "understand_form"},
    {"event": "action", "name": "action_listen"},
    {"event": "user", "text": "对", "parse_data": {"intent": {"name": "affirm"}, "entities": []}},
    {"event": "action", "name": "action_offer_options"},
]


def test_a_story_lists_every_turn_with_its_actions_slots_and_form_masked() -> None:
    training, test = build(EVENTS, upto=1, corrections={}, next_action=None, name="s1", keep_slots={"complaint_type"})
    steps = yaml.safe_load(training)["stories"][0]["steps"]
    assert steps == [
        {"intent": "complaint_logistics", "entities": [{"phone": "139****5678"}]},
        {"action": "action_acknowledge_complaint"},
        {"slot_was_set": [{"complaint_type": "logistics"}]},
        {"active_loop": "understand_form"},
        {"intent": "affirm"},
        {"action": "action_offer_options"},
    ]
    test_steps = yaml.safe_load(test)["stories"][0]["steps"]
    assert test_steps[0] == {"user": "杯子收到就是碎的 电话139****5678", "intent": "complaint_logistics"}
    assert "13912345678" not in training + test


def test_corrections_replace_the_reading_and_a_wrong_action_is_replaced() -> None:
    training, _ = build(
        EVENTS,
        upto=0,
        corrections={0: Correction("complaint_product", ({"entity": "product_category", "value": "杯子"},))},
        next_action="action_restate",
        name="s2",
    )
    steps = yaml.safe_load(training)["stories"][0]["steps"]
    assert steps == [
        {"intent": "complaint_product", "entities": [{"product_category": "杯子"}]},
        {"action": "action_restate"},
    ]


def test_a_rule_keeps_only_the_chosen_turn() -> None:
    training, _ = build(EVENTS, upto=1, corrections={}, next_action=None, name="r1", kind="rule")
    rule = yaml.safe_load(training)["rules"][0]
    assert rule["rule"] == "r1" and rule["steps"] == [{"intent": "affirm"}, {"action": "action_offer_options"}]


@pytest.mark.parametrize(
    "kwargs",
    [{"upto": 5}, {"upto": -1}, {"upto": 0, "kind": "poem"}],
)
def test_impossible_stories_are_refused(kwargs: dict) -> None:
    args = {"corrections": {}, "next_action": None, "name": "x", **kwargs}
    with pytest.raises(StoryError):
        build(EVENTS, **args)


def test_a_turn_the_bot_did_nothing_after_needs_the_right_action() -> None:
    events = [{"event": "user", "text": "在吗", "parse_data": {"intent": {"name": "greet"}}}]
    with pytest.raises(StoryError, match="did nothing"):
        build(events, upto=0, corrections={}, next_action=None, name="x")
    training, _ = build(events, upto=0, corrections={}, next_action="utter_greet", name="x")
    assert "utter_greet" in training


def test_saving_writes_both_files_and_a_refused_story_leaves_nothing(tmp_path: Path) -> None:
    data, tests = tmp_path / "data", tmp_path / "tests" / "trainer_stories"
    data.mkdir()
    training, test = build(EVENTS, upto=1, corrections={}, next_action=None, name="ok")
    saved = save_story(
        data,
        tests,
        trainer="小王",
        conversation="rest:a",
        training_yaml=training,
        test_yaml=test,
        name="ok",
        kind="story",
    )
    assert saved.training_file.read_text(encoding="utf-8") == training and saved.test_file.exists()
    assert '"action": "save_story"' in (data / "trainer_audit.jsonl").read_text(encoding="utf-8")
    with pytest.raises(InvalidData):
        save_story(
            data,
            tests,
            trainer="小王",
            conversation="rest:a",
            training_yaml=training,
            test_yaml=test,
            name="bad",
            kind="story",
            validate=lambda: ["Story structure conflict"],
        )
    assert not (data / "stories" / "trainer" / "bad.yml").exists() and not (tests / "test_bad.yml").exists()
