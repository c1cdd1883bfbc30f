"""Phrases trainers taught by annotating examples (bot/language/phrases.py)."""

from __future__ import annotations

from bot.language.phrases import Phrase, find, learn


def test_annotated_spans_become_phrases_longest_first_and_ambiguous_ones_are_dropped() -> None:
    phrases = learn(
        [
            ("手上烫出泡了", [{"entity": "urgency", "value": "safety", "start": 2, "end": 5}]),
            ("买的暖手宝不热", [{"entity": "product_category", "value": "暖手宝", "start": 2, "end": 5}]),
            ("烫出泡了怎么办", [{"entity": "urgency", "value": "safety", "start": 0, "end": 4}]),
            ("订单123456", [{"entity": "order_id", "value": "123456", "start": 2, "end": 8}]),  # not a phrase
            ("杯", [{"entity": "product_category", "value": "杯子", "start": 0, "end": 1}]),  # too short
            ("那个小熊", [{"entity": "product_category", "value": "玩具", "start": 2, "end": 4}]),
            ("小熊快递送的", [{"entity": "product_category", "value": "快递", "start": 0, "end": 2}]),  # two values
        ]
    )
    assert [p.text for p in phrases] == ["烫出泡了", "暖手宝", "烫出泡"]
    assert phrases[1] == Phrase("暖手宝", "product_category", "暖手宝")


def test_taught_phrases_are_found_unless_negated_covered_or_the_level_is_known() -> None:
    phrases = [Phrase("烫出泡", "urgency", "safety"), Phrase("暖手宝", "product_category", "暖手宝")]
    found = find("暖手宝把手烫出泡了", phrases)
    assert {(e["entity"], e["value"], e["start"], e["end"]) for e in found} == {
        ("urgency", "safety", 5, 8),
        ("product_category", "暖手宝", 0, 3),
    }
    assert find("还好没有烫出泡", phrases) == []
    already = [{"entity": "urgency", "value": "safety", "start": 0, "end": 2}]
    assert find("起火了 也烫出泡了", phrases[:1], already) == []
    covered = [{"entity": "product_category", "value": "取暖器", "start": 0, "end": 4}]
    assert find("暖手宝", phrases[1:], [{**covered[0], "end": 3}]) == []
