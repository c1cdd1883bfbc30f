"""The restatement: one sentence in the agent's words, built from what was understood."""

import pytest

from bot.language.restate import MAX_CHARS, restate, restate_problem, to_agent_voice


@pytest.mark.parametrize(
    ("text", "complaint_type", "expected"),
    [
        # the seed's training exercise, as the seed writes it
        (
            "你们怎么回事？我明明拍的是小耙子，怎么寄过来是铲子？铲子我不需要！你现在怎么给我处理？",
            "product",
            "您拍的是小耙子，收到的是铲子，发错货了",
        ),
        (
            "我明明要求发圆通，你们为什么还是发的天天？我都说了天天寄不到我们这，我要退款！",
            "logistics",
            "您要求发圆通，我们发的是天天，快递公司发错了，您希望退款",
        ),
        (
            "拍的是蓝色的杯子，寄来的是红色的，我要换货",
            "product",
            "您拍的是蓝色的杯子，收到的是红色的，发错货了，您希望换货",
        ),
        (
            "我妈用你们的电热毯，用了一晚上就不热了",
            "product",
            "您母亲用我们的电热毯，用了一晚上就不热了，商品有质量问题",
        ),
        ("/::( 快递五天了还没到，物流一直不更新", "logistics", "快递五天了还没到，配送太慢了"),
        ("不是 是显示签收了但我根本没收到", "logistics", "显示签收了但您根本没收到，包裹可能丢了"),
        ("客服半天不回消息 问了三遍都没人理", "service", "客服半天不回消息，一直没人回复您"),
    ],
)
def test_restatements_read_like_an_agent(text: str, complaint_type: str, expected: str) -> None:
    assert restate_problem(text, complaint_type) == expected


@pytest.mark.parametrize(
    "text",
    [
        "你们东西有问题，不给我赔500块我就天天给你们刷差评",
        "收到的耳机坏了 再不处理我就打12315投诉 还要找记者曝光你们",
        "耳机坏了 订单号3920184756210384 你们这群骗子",
        "／::( 快递没到[流泪]",
    ],
)
def test_threats_insults_numbers_and_emoticons_are_never_quoted(text: str) -> None:
    for complaint_type in ("product", "logistics", "malicious"):
        out = restate_problem(text, complaint_type)
        for forbidden in ("差评", "12315", "曝光", "记者", "骗子", "3920184756210384", "::", "流泪", "我们东西"):
            assert forbidden not in out, (forbidden, out)


def test_a_malicious_demand_is_recorded_without_the_threat() -> None:
    assert restate_problem("你们东西有问题，不给我赔500块我就天天给你们刷差评", "malicious") == "您要求赔偿500元"


def test_without_a_cause_the_type_is_named() -> None:
    assert restate("😡😡😡", "product") == "您遇到的问题，是商品本身的问题"
    assert restate("", "logistics") == "您遇到的问题，是物流配送的问题"


def test_a_long_rant_is_cut_to_the_problem() -> None:
    text = "我真的很生气，上周五下的单，今天终于到了，打开一看，屏幕碎了一大块，包装倒是挺好看的，以后再也不买了，太失望了，朋友都劝我别买"
    out = restate_problem(text, "product")
    assert len(out) <= MAX_CHARS and "屏幕碎了" in out


def test_fillers_and_stutters_removed() -> None:
    out = restate_problem("喂你好就是我那个我那个在你们家买的那个奶粉罐子打开里面结块了", "product")
    assert "那个" not in out and "喂" not in out and "您您" not in out
    assert "奶粉" in out and "结块" in out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我妈说", "您母亲说"),
        ("我爸", "您父亲"),
        ("我们家孩子", "您家孩子"),
        ("你们发错了", "我们发错了"),
        ("我买的", "您买的"),
    ],
)
def test_agent_voice(text: str, expected: str) -> None:
    assert to_agent_voice(text) == expected


def test_a_second_problem_is_named_and_a_bare_trigger_is_not_quoted() -> None:
    assert restate_problem("跑哪去了", "service") == "一直没人回复您"
    assert (
        restate_problem("包裹晚了整整一周才到，找客服也一直没人回", "logistics")
        == "包裹晚了整整一周才到，配送太慢了，另外一直没人回复您"
    )


@pytest.mark.parametrize(
    ("text", "complaint_type", "gist"), [("快递还没到", "logistics", "快递"), ("客服不理人", "service", "客服")]
)
def test_the_thing_complained_about_stays_in_a_short_restatement(text: str, complaint_type: str, gist: str) -> None:
    assert gist in restate_problem(text, complaint_type)
