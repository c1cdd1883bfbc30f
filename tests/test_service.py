"""End-to-end checks against the real service: Rasa server + action server + Redis."""

from __future__ import annotations

import json
import uuid

import pytest


def new_sender() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


# ---- bad input through the REST channel (SPEC.md section 9) ----


@pytest.mark.parametrize(
    "raw",
    [
        b"[1, 2, 3]",
        b'"just a string"',
        b"{not json",
        json.dumps({"message": "你好"}).encode(),
        json.dumps({"sender": "", "message": "你好"}).encode(),
        json.dumps({"sender": "x"}).encode(),
    ],
)
def test_malformed_payloads_get_400_not_500(bot, raw: bytes) -> None:
    status, body = bot.post("/webhooks/rest/webhook", raw, raw=True)
    assert status == 400
    assert "error" in body and "Traceback" not in json.dumps(body)


@pytest.mark.parametrize("message", ["", "   \n\t "])
def test_empty_message_gets_a_clear_reply(bot, message: str) -> None:
    replies = bot.say(new_sender(), message)
    assert replies and "没有输入内容" in replies[0]


def test_emoji_only_gets_a_reply(bot) -> None:
    replies = bot.say(new_sender(), "😡😡😡🙄")
    assert replies and all(r for r in replies)


def test_ten_thousand_characters_get_a_reply(bot) -> None:
    rant = ("收到的电饭煲用了两天就坏了，煮饭夹生，" * 600)[:10_000]
    replies = bot.say(new_sender(), rant)
    assert replies and any("商品" in r or "质量" in r for r in replies)


def test_customer_cannot_trigger_an_intent_directly(bot) -> None:
    replies = bot.say(new_sender(), "/complaint_malicious")
    assert not any("平台规则" in r for r in replies)
    assert any("没太明白" in r for r in replies)


# ---- understanding and the first reply ----


def test_greeting(bot) -> None:
    assert any("您好" in r for r in bot.say(new_sender(), "你好"))


@pytest.mark.parametrize(
    "message, expected",
    [
        ("收到的电饭煲煮饭夹生 这才用了两次", "商品"),
        ("快递三天没动了 到底什么时候能到", "配送"),  # both variants: 物流配送 / 快递配送
        ("客服半天不回消息 问了三遍都没人理", "客服"),
        ("给我补偿500 不然天天给你差评", "平台规则"),
    ],
)
def test_type_specific_acknowledgement_with_one_apology_and_restatement(bot, message: str, expected: str) -> None:
    replies = bot.say(new_sender(), message)
    assert any(expected in r for r in replies), replies
    first = replies[0]
    assert "对吗" in first or "订单号" in first
    assert sum(r.count("抱歉") for r in replies) <= 1


def test_restatement_uses_the_customers_words(bot) -> None:
    replies = bot.say(new_sender(), "我要求发圆通你们发了天天")
    assert "圆通" in replies[0] and "天天" in replies[0]


def test_safety_urgency_is_acknowledged(bot) -> None:
    replies = bot.say(new_sender(), "宝宝用了你们家的奶瓶 嘴巴被划伤流血了")
    assert any("就医" in r for r in replies), replies


def test_parse_api_shows_urgency_and_entities(bot) -> None:
    status, parsed = bot.post(
        "/model/parse", {"text": "孩子吃了你们的饼干拉肚子 订单号3920184756210384 花了三百块"}, token=True
    )
    assert status == 200
    entities = {(e["entity"], e["value"]) for e in parsed["entities"]}
    assert ("urgency", "safety") in entities
    assert ("order_id", "3920184756210384") in entities
    assert ("amount", 300.0) in entities
    assert parsed["intent"]["name"].startswith("complaint_")


def test_negated_injury_is_not_urgent(bot) -> None:
    status, parsed = bot.post("/model/parse", {"text": "人没有受伤 就是锅摔裂了"}, token=True)
    assert status == 200
    assert not [e for e in parsed["entities"] if e["entity"] == "urgency"]


def test_traditional_input_is_understood(bot) -> None:
    status, parsed = bot.post("/model/parse", {"text": "收到的衣服顏色跟圖片完全不一樣"}, token=True)
    assert parsed["text"] == "收到的衣服颜色跟图片完全不一样"
    assert parsed["intent"]["name"] == "complaint_product"


# ---- the HTTP API is protected, conversations live in Redis ----


def test_http_api_requires_the_token(bot) -> None:
    status, _ = bot.get("/status", token=False)
    assert status == 401
    status, _ = bot.get("/status")
    assert status == 200


def test_conversation_is_stored_in_redis(bot, redis_client) -> None:
    sender = new_sender()
    bot.say(sender, "你好")
    keys = [k for k in redis_client.keys("*") if sender in k]
    assert keys, "the tracker should be in Redis, not in memory"
    status, tracker = bot.get(f"/conversations/{sender}/tracker")
    assert status == 200 and any(e.get("text") == "你好" for e in tracker["events"] if e["event"] == "user")


def test_slots_from_entities_are_kept(bot) -> None:
    sender = new_sender()
    bot.say(sender, "快递一直没到 单号SF1234567890123 顺丰的")
    status, tracker = bot.get(f"/conversations/{sender}/tracker")
    assert tracker["slots"]["tracking_number"] == "SF1234567890123"
    assert tracker["slots"]["courier"] == "顺丰"
    assert tracker["slots"]["complaint_type"] == "logistics"


def test_only_the_first_reply_apologises(bot) -> None:
    sender = new_sender()
    first = bot.say(sender, "快递五天了还没到 物流一直不更新")
    second = bot.say(sender, "不是 是显示签收了但我根本没收到")
    assert any("抱歉" in r for r in first)
    assert second and not any("抱歉" in r for r in second)
    assert any("显示签收了但您根本没收到" in r for r in second)
