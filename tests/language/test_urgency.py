import pytest

from bot.language.normalize import normalize_text
from bot.language.urgency import detect_urgency, top_urgency


@pytest.mark.parametrize(
    "text, expected",
    [
        # safety, including worries and Traditional characters
        ("孩子吃了拉肚子", "safety"),
        ("充电的时候突然冒烟了 吓死我了", "safety"),
        ("吹风机用着用着漏电 手都麻了", "safety"),
        ("吃完上吐下泻 现在在医院挂水", "safety"),
        ("面霜用了一次脸就过敏了 又红又肿", "safety"),
        ("宝宝把玩具上掉下来的小零件吞下去了", "safety"),
        ("会不会过敏啊 脸有点痒", "safety"),
        ("米饭里吃出一根铁丝", "safety"),
        ("不小心被锅边割伤了", "safety"),
        ("電池鼓包了 還發燙", "safety"),
        ("吃的时候发现是过期的", "safety"),
        # negated: no trigger
        ("没有受伤 就是东西坏了", None),
        ("人没受伤 但是箱子全压扁了", None),
        ("还好没吃 不然就麻烦了", None),
        ("受伤倒没有 就是很生气", None),
        ("我气炸了 等了三天还没发货", None),
        ("头发太多了 太恶心", None),
        # media / legal
        ("再不处理我就打12315", "media_legal"),
        ("我要找记者曝光你们", "media_legal"),
        ("已经在走法律程序了", "media_legal"),
        ("去其他平台投诉你们", "media_legal"),
        ("退到我工商银行卡就行", None),
        ("订单号31512345678", None),
        ("告诉你们一声 我已经收到了", None),
        ("120块钱的东西", None),
        # vulnerable
        ("给家里八十多岁的老人买的 他下不了楼", "vulnerable"),
        ("我是孕妇 闻不了这个味", "vulnerable"),
        ("新生儿的奶粉急用 到现在还没发", "vulnerable"),
        ("其他宝宝们买的也这样吗", None),
        # priority: safety over media_legal over vulnerable
        ("老人吃了拉肚子 我要打12315", "safety"),
        ("老人家的订单 不处理就曝光", "media_legal"),
    ],
)
def test_top_urgency(text: str, expected: str | None) -> None:
    assert top_urgency(normalize_text(text)) == expected


def test_hits_carry_positions_and_all_levels() -> None:
    text = "老人吃了拉肚子 我要打12315"
    hits = detect_urgency(text)
    assert [h.level for h in hits][:1] == ["safety"]
    assert {h.level for h in hits} == {"safety", "media_legal", "vulnerable"}
    for hit in hits:
        assert text[hit.start : hit.end] == hit.trigger


def test_negation_does_not_cross_clauses() -> None:
    # "没有" belongs to the first clause; the injury in the second one counts.
    assert top_urgency("快递没有送上门，搬的时候砸伤了脚") == "safety"


def test_empty_text() -> None:
    assert detect_urgency("") == []


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("新买的插线板插上没两分钟就起火了", "safety"),  # "没两分钟" negates a duration, not the fire
        ("宝宝刚喝没几口就吐了，小脸都白了", "safety"),
        ("用了没几天就漏电，手被电了一下", "safety"),
        ("第一次用完头皮痒得受不了", "safety"),
        ("阿公歲數大了，電熱毯壞掉了", "vulnerable"),  # Traditional, Taiwan usage
        ("求各位帮忙转发，让大家看看这家店", "media_legal"),
    ],
)
def test_urgency_kinds_found_on_real_messages(text: str, level: str) -> None:
    from bot.language.normalize import normalize_text

    assert [h.level for h in detect_urgency(normalize_text(text))][:1] == [level]


@pytest.mark.parametrize("text", ["心疼我买的东西", "这事真让人头疼", "多媒体播放不了", "没有受伤 就是坏了"])
def test_words_that_only_look_urgent(text: str) -> None:
    assert detect_urgency(text) == []


def test_urgency_reads_the_end_of_a_very_long_message() -> None:
    from bot.language.normalize import normalize_text

    rant = "快递一直不更新，" * 180 + "孩子用这个暖手宝，手被烫伤起了水泡"
    assert len(rant) > 1400
    assert "safety" in {h.level for h in detect_urgency(normalize_text(rant))}
