"""The three-phase flow rules (bot/flow.py), without Rasa."""

from __future__ import annotations

import pytest

from bot import flow


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


@pytest.mark.parametrize("text", ["订单号找不到了", "不记得了", "忘了订单号", "没有订单号", "我也不知道"])
def test_dont_know_is_an_answer(text: str) -> None:
    assert flow.says_unknown(text)


@pytest.mark.parametrize("text", ["3920184756210384", "好的", "在我的订单里"])
def test_other_replies_are_not_dont_know(text: str) -> None:
    assert not flow.says_unknown(text)


@pytest.mark.parametrize(
    ("text", "attachment", "expected"),
    [
        ("没有", False, flow.NO_EVIDENCE),
        ("没拍照片", False, flow.NO_EVIDENCE),
        ("等下发给你", False, flow.EVIDENCE_LATER),
        ("[图片]", False, "photo:[图片]"),
        ("https://img.example.com/a.jpg", False, "photo:https://img.example.com/a.jpg"),
        ("", True, "photo:attachment"),
        ("拍了 你看", False, "photo:described"),
        ("内胆上有一道很深的划痕", False, "described:内胆上有一道很深的划痕"),
        ("嗯", False, None),
    ],
)
def test_evidence_answers(text: str, attachment: bool, expected) -> None:  # type: ignore[no-untyped-def]
    assert flow.read_evidence(text, has_attachment=attachment) == expected


@pytest.mark.parametrize(
    ("text", "metadata", "expected"),
    [
        ("[图片] http://shop.cn:5005/webhooks/webchat/uploads/ab12.png", {}, ["http://shop.cn:5005/webhooks/webchat/uploads/ab12.png"]),
        ("看这两张 https://x.cn/a.JPG 和 https://x.cn/b.webp?x=1，还有https://x.cn/a.JPG", {},
         ["https://x.cn/a.JPG", "https://x.cn/b.webp?x=1"]),
        ("[图片]", {"image": {"media_id": "m1", "pic_url": ""}}, ["wechat-media:m1"]),
        ("[图片]", {"image": {"media_id": "m1", "pic_url": "http://mmbiz.qpic.cn/x"}}, ["http://mmbiz.qpic.cn/x"]),
        ("[图片]", {"image": "https://img.alicdn.com/1.jpg", "images": ["https://img.alicdn.com/2.jpg", "https://img.alicdn.com/1.jpg"]},
         ["https://img.alicdn.com/1.jpg", "https://img.alicdn.com/2.jpg"]),
        ("网页 https://shop.cn/a.html 不是图片", {}, []),
        ("[图片]", {}, []),
        ("", None, []),
    ],
)
def test_image_refs(text: str, metadata, expected) -> None:  # type: ignore[no-untyped-def]
    assert flow.image_refs(text, metadata) == expected


def test_evidence_prefers_the_photo_itself() -> None:
    assert flow.read_evidence("[图片] http://h/u/ab.png") == "photo:http://h/u/ab.png"
    assert flow.read_evidence("[图片]", refs=["wechat-media:m1"]) == "photo:wechat-media:m1"
    assert flow.evidence_list("photo:[图片]", ["http://h/a.png", "http://h/b.png"]) == ["photo:http://h/a.png", "photo:http://h/b.png"]
    assert flow.evidence_list("photo:described", []) == ["photo:described"]
    assert flow.evidence_list("none", []) == [] and flow.evidence_list(None, []) == []


@pytest.mark.parametrize("text", ["这不合理", "都不行", "太少了吧", "凭什么", "这算什么处理"])
def test_disputes(text: str) -> None:
    assert flow.is_dispute(text)


@pytest.mark.parametrize("text", ["1", "换货吧", "好的确认"])
def test_choices_are_not_disputes(text: str) -> None:
    assert not flow.is_dispute(text)


def test_misunderstandings_count_only_in_a_row() -> None:
    assert flow.consecutive_misunderstandings(["greet", "nlu_fallback", "nlu_fallback"]) == 2
    assert flow.consecutive_misunderstandings(["nlu_fallback", "inform", "nlu_fallback"]) == 1
    assert flow.consecutive_misunderstandings([]) == 0


@pytest.mark.parametrize(
    ("text", "score"),
    [("5", 5), ("5分", 5), ("４分吧", 4), ("三分", 3), ("很满意", 5), ("不满意", 2), ("太差了", 1), ("一般般", 3), ("嗯", None), ("10", None)],
)
def test_satisfaction_scores(text: str, score) -> None:  # type: ignore[no-untyped-def]
    assert flow.read_satisfaction(text) == score


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
