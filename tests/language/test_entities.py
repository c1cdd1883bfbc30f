import pytest

from bot.language.entities import JIEBA_USERDICT, extract_entities, lexicon_words


def values(text: str, entity: str) -> list:
    return [e["value"] for e in extract_entities(text) if e["entity"] == entity]


def test_order_and_phone() -> None:
    text = "订单号3920184756210384 手机13812345678"
    assert values(text, "order_id") == ["3920184756210384"]
    assert values(text, "phone") == ["13812345678"]


def test_spoken_order_number_with_spaces() -> None:
    assert values("你好 7409 3933 0680 5103 0 这个订单", "order_id") == ["74093933068051030"]


def test_phone_with_spaces_is_not_an_order() -> None:
    text = "电话是139 1234 5678"
    assert values(text, "phone") == ["13912345678"]
    assert values(text, "order_id") == []


def test_tracking_number_and_courier() -> None:
    text = "单号SF1234567890123 顺丰快递"
    assert values(text, "tracking_number") == ["SF1234567890123"]
    assert values(text, "courier") == ["顺丰"]


def test_ambiguous_tiantian() -> None:
    assert values("我要求发圆通你们发了天天", "courier") == ["圆通", "天天快递"]
    assert values("不然天天给你差评", "courier") == []


@pytest.mark.parametrize(
    "text, amount",
    [
        ("花了三百块", 300.0),
        ("一百五十块钱的奶粉", 150.0),
        ("五十八块五", 58.5),
        ("¥500", 500.0),
        ("给我补偿500不然差评", 500.0),
        ("不赔两千就投诉", 2000.0),
        ("99元", 99.0),
        ("退我两千", 2000.0),
    ],
)
def test_amounts(text: str, amount: float) -> None:
    assert values(text, "amount") == [amount]


def test_counts_are_not_amounts() -> None:
    assert values("要3个", "amount") == []
    assert values("等了3天", "amount") == []


def test_times() -> None:
    assert values("花了三百块的电饭煲昨天下午坏了", "time") == ["昨天下午"]
    assert values("11月3号下的单", "time") == ["11月3号"]


def test_product_categories() -> None:
    assert values("电饭煲煮饭夹生", "product_category") == ["appliances"]
    assert values("奶粉结块了", "product_category") == ["baby"]
    assert values("外卖送来汤都洒了", "product_category") == ["food_delivery"]


def test_offsets_point_at_the_text() -> None:
    text = "昨天买的手机13812345678"
    found = extract_entities(text)
    # the expected entities first: an extractor that returns nothing must not pass
    assert [(e["entity"], e["value"], e["start"], e["end"]) for e in found] == [
        ("time", "昨天", 0, 2),
        ("product_category", "electronics", 4, 6),
        ("phone", "13812345678", 6, 17),
    ]
    for e in found:
        assert text[e["start"] : e["end"]] == e["text"]


def test_amounts_carry_their_role() -> None:
    found = [e for e in extract_entities("花了300块 赔我2千") if e["entity"] == "amount"]
    assert [(e["value"], e.get("role")) for e in found] == [(300.0, "price"), (2000.0, "demand")]


def test_every_lexicon_word_is_in_the_jieba_dictionary() -> None:
    # Rasa's JiebaTokenizer and the spaCy pipeline must segment the same way.
    words = {line.split()[0] for line in JIEBA_USERDICT.read_text(encoding="utf-8").splitlines() if line.strip()}
    missing = [w for w in lexicon_words() if w not in words]
    assert missing == []


def test_empty() -> None:
    assert extract_entities("") == []
    assert extract_entities("   ") == []


@pytest.mark.parametrize(
    "text",
    [
        "身份证110101199003071234",
        "我的身份证号是 110101199003071234",
        "证件号码：110101199003071234",
        "110101199003071233",
    ],
)
def test_an_id_card_number_is_not_an_order_number(text: str) -> None:
    assert "order_id" not in {e["entity"] for e in extract_entities(text)}
