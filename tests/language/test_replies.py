"""Answers to the bot's questions (bot/language/replies.py)."""

from __future__ import annotations

import pytest

from bot.language import replies
from bot.policy import flow


@pytest.mark.parametrize("text", ["订单号找不到了", "不记得了", "忘了订单号", "没有订单号", "我也不知道"])
def test_dont_know_is_an_answer(text: str) -> None:
    assert replies.says_unknown(text)


@pytest.mark.parametrize("text", ["3920184756210384", "好的", "在我的订单里"])
def test_other_replies_are_not_dont_know(text: str) -> None:
    assert not replies.says_unknown(text)


@pytest.mark.parametrize(
    ("text", "attachment", "expected"),
    [
        ("没有", False, replies.NO_EVIDENCE),
        ("没拍照片", False, replies.NO_EVIDENCE),
        ("等下发给你", False, replies.EVIDENCE_LATER),
        ("[图片]", False, "photo:[图片]"),
        ("https://img.example.com/a.jpg", False, "photo:https://img.example.com/a.jpg"),
        ("", True, "photo:attachment"),
        ("拍了 你看", False, "photo:described"),
        ("内胆上有一道很深的划痕", False, "described:内胆上有一道很深的划痕"),
        ("嗯", False, None),
    ],
)
def test_evidence_answers(text: str, attachment: bool, expected) -> None:  # type: ignore[no-untyped-def]
    assert replies.read_evidence(text, has_attachment=attachment) == expected


@pytest.mark.parametrize(
    ("text", "metadata", "expected"),
    [
        (
            "[图片] http://shop.cn:5005/webhooks/webchat/uploads/ab12.png",
            {},
            ["http://shop.cn:5005/webhooks/webchat/uploads/ab12.png"],
        ),
        (
            "看这两张 https://x.cn/a.JPG 和 https://x.cn/b.webp?x=1，还有https://x.cn/a.JPG",
            {},
            ["https://x.cn/a.JPG", "https://x.cn/b.webp?x=1"],
        ),
        ("[图片]", {"image": {"media_id": "m1", "pic_url": ""}}, ["wechat-media:m1"]),
        ("[图片]", {"image": {"media_id": "m1", "pic_url": "http://mmbiz.qpic.cn/x"}}, ["http://mmbiz.qpic.cn/x"]),
        (
            "[图片]",
            {
                "image": "https://img.alicdn.com/1.jpg",
                "images": ["https://img.alicdn.com/2.jpg", "https://img.alicdn.com/1.jpg"],
            },
            ["https://img.alicdn.com/1.jpg", "https://img.alicdn.com/2.jpg"],
        ),
        ("网页 https://shop.cn/a.html 不是图片", {}, []),
        ("[图片]", {}, []),
        ("", None, []),
    ],
)
def test_image_refs(text: str, metadata, expected) -> None:  # type: ignore[no-untyped-def]
    assert replies.image_refs(text, metadata) == expected


def test_evidence_prefers_the_photo_itself() -> None:
    assert replies.read_evidence("[图片] http://h/u/ab.png") == "photo:http://h/u/ab.png"
    assert replies.read_evidence("[图片]", refs=["wechat-media:m1"]) == "photo:wechat-media:m1"
    assert flow.evidence_list("photo:[图片]", ["http://h/a.png", "http://h/b.png"]) == [
        "photo:http://h/a.png",
        "photo:http://h/b.png",
    ]
    assert flow.evidence_list("photo:described", []) == ["photo:described"]
    assert flow.evidence_list("none", []) == [] and flow.evidence_list(None, []) == []


@pytest.mark.parametrize("text", ["这不合理", "都不行", "太少了吧", "凭什么", "这算什么处理"])
def test_disputes(text: str) -> None:
    assert replies.is_dispute(text)


@pytest.mark.parametrize("text", ["1", "换货吧", "好的确认"])
def test_choices_are_not_disputes(text: str) -> None:
    assert not replies.is_dispute(text)


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("5", 5),
        ("5分", 5),
        ("４分吧", 4),
        ("三分", 3),
        ("很满意", 5),
        ("不满意", 2),
        ("太差了", 1),
        ("一般般", 3),
        ("嗯", None),
        ("10", None),
    ],
)
def test_satisfaction_scores(text: str, score) -> None:  # type: ignore[no-untyped-def]
    assert replies.read_satisfaction(text) == score


@pytest.mark.parametrize(
    ("text", "intent", "expected"),
    [
        ("确认", "affirm", "agree"),
        ("好的 就这样", "", "agree"),
        ("换个方案", "", "change"),
        ("等等，不退了，换个新的吧", "", "change"),
        ("不行", "deny", "change"),
        ("不行", "", "change"),
        ("这不合理", "", "change"),
        ("什么时候能到", "", None),
    ],
)
def test_agreement(text: str, intent: str, expected) -> None:  # type: ignore[no-untyped-def]
    assert replies.read_agreement(text, intent) == expected


@pytest.mark.parametrize(
    ("text", "outcome", "amount"),
    [
        ("至少赔我2千", "compensation", 2000.0),
        ("赔我1.5w", "compensation", 15000.0),
        ("给我补偿2k就行", "compensation", 2000.0),
        ("花了300块 质量这么差", None, None),
        ("不要退款，换个新的", "exchange", None),
    ],
)
def test_outcomes_and_demanded_amounts(text: str, outcome, amount) -> None:  # type: ignore[no-untyped-def]
    assert replies.read_outcome(text) == (outcome, amount)


@pytest.mark.parametrize(
    ("text", "count", "indexes"),
    [
        ("1", 3, {1}),
        ("第二个", 3, {2}),
        ("选3吧", 3, {3}),
        ("最后一个", 4, {4}),
        ("都行", 3, set()),
        ("等了3天", 3, set()),
    ],
)
def test_choice_numbers(text: str, count: int, indexes: set[int]) -> None:
    assert replies.choice_indexes(text, count) == indexes


@pytest.mark.parametrize("text", ["3920184756210384", "500", "12", "2"])
def test_bare_digits_are_not_money(text: str) -> None:
    """An order number or a choice sent alone is not a demand (it once became "3.92018e+15元赔偿")."""
    assert replies.read_outcome(text) == (None, None)
