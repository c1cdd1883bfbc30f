"""Entity spans must fall on jieba's tokens, or Rasa cannot learn them."""

from __future__ import annotations

from bot.trainer.spans import misaligned, tokens

TEXT = "快递员把我的电饭煲摔坏了 订单号3920184756210384"


def test_a_span_on_token_boundaries_is_fine() -> None:
    words = {w: (s, e) for w, s, e in tokens(TEXT)}
    start, end = words["电饭煲"]
    assert TEXT[start:end] == "电饭煲"
    assert misaligned(TEXT, [{"entity": "product", "start": start, "end": end}]) == []


def test_a_span_cutting_a_word_is_refused_with_the_word_and_the_span_that_works() -> None:
    [problem] = misaligned(TEXT, [{"entity": "product", "start": 7, "end": 9}])
    assert "电饭煲" in problem.reason and problem.suggested == (6, 9)


def test_a_span_outside_the_text_or_empty_is_refused() -> None:
    problems = misaligned(TEXT, [{"entity": "x", "start": 5, "end": 5}, {"entity": "y", "start": 30, "end": 99}])
    assert [p.reason for p in problems] == ["the span is not inside the text"] * 2
