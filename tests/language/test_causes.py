"""Complaint causes (bot/language/causes.py): the vocabulary and how customers say each cause."""

from __future__ import annotations

import pytest
import yaml

from bot.language.causes import _RESOURCES, cause_label, read_causes, vocabulary
from bot.language.normalize import normalize_text


def primary(text: str) -> str | None:
    hit = read_causes(normalize_text(text)).primary
    return hit.cause if hit else None


def test_every_cause_has_a_label_a_phrase_a_type_and_patterns() -> None:
    patterns = yaml.safe_load((_RESOURCES / "cause_patterns.yml").read_text(encoding="utf-8"))
    with_patterns = {cause for causes in patterns.values() for cause in causes}
    for cause in vocabulary().values():
        assert cause.label and cause.says and cause.type in ("product", "logistics", "service", "malicious")
        assert cause.id in with_patterns or cause.id == "wrong_courier", cause.id
    assert cause_label("wrong_item") == "发错货" and cause_label("nonsense") is None


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("你们怎么回事？我明明拍的是小耙子，怎么寄过来是铲子？", "wrong_item"),
        ("拍的是蓝色的杯子，寄来的是红色的", "wrong_item"),
        ("备注了不要香菜结果还是放了一大把", "wrong_item"),
        ("我明明要求发圆通，你们为什么还是发的天天？", "wrong_courier"),
        ("耳机左边没声音", "defect"),
        ("新买的插线板插上没两分钟就起火了", "defect"),
        ("少发了一个配件", "missing_parts"),
        ("颜色和图片差太多了", "not_as_described"),
        ("一看就是假货", "fake"),
        ("面包里有根头发", "spoiled"),
        ("牛奶是过期的", "expired"),
        ("太咸了 根本没法吃", "taste_portion"),
        ("刚买三天就降价一百", "price"),
        ("付款一周了还没发货", "not_shipped"),
        ("外卖两个小时才送到", "late"),
        ("显示已签收但是我根本没收到", "lost"),
        ("箱子压扁了 里面的杯子碎了", "damaged_in_transit"),
        ("快递员不送上楼 让我自己下楼拿", "not_to_door"),
        ("骑手态度很差还骂人", "courier_conduct"),
        ("客服态度太差了", "rude"),
        ("在线客服半天不回消息", "unresponsive"),
        ("说好的今天给我回电话 到现在也没人打", "promise_broken"),
        ("退款申请一周了还没到账", "after_sales_delay"),
        ("商家让我找快递 快递让我找商家", "shirking"),
        ("不给我赔五百我就天天给你们刷差评", "extortion"),
        ("加我微信私下转我两百就行", "off_platform"),
        ("其实没坏 我就是想退点钱", "fake_claim"),
        ("冇人理，佢哋唔覆", "unresponsive"),
    ],
)
def test_how_customers_say_each_cause(text: str, cause: str) -> None:
    assert cause in read_causes(normalize_text(text)).causes(), read_causes(normalize_text(text))


@pytest.mark.parametrize("text", ["没有发错 就是有点小", "不是质量问题 是我不会用", "物流很快 没有破损"])
def test_denied_causes_do_not_count(text: str) -> None:
    causes = read_causes(normalize_text(text)).causes()
    assert not {"wrong_item", "defect", "damaged_in_transit", "late"} & set(causes)


@pytest.mark.parametrize(
    "text",
    [
        "不退款我就给差评",  # an ordinary refund under threat: not bad faith
        "我有QQ 图片在那发给你们",
        "我已经在微信上跟你们说过了",
        "我要投诉你们",
        "取消以后钱是退到银行卡吗",
        "商家说删了差评给我返五块钱",
    ],
)
def test_mentions_are_not_bad_faith(text: str) -> None:
    assert "malicious" not in read_causes(normalize_text(text)).types


def test_several_problems_keep_their_order_and_types() -> None:
    reading = read_causes(normalize_text("包裹晚了整整一周才到，打开发现两个玻璃杯都碎了，找客服也一直没人回复"))
    assert reading.types[0] == "logistics" and {"service"} <= set(reading.types)
