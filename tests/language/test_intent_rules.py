import pytest

from bot.language.intent_rules import decide_intent

RANKING = [
    {"name": "inform", "confidence": 0.6},
    {"name": "complaint_service", "confidence": 0.2},
    {"name": "complaint_product", "confidence": 0.15},
    {"name": "complaint_malicious", "confidence": 0.05},
]


def test_safety_makes_a_non_complaint_a_complaint() -> None:
    d = decide_intent({"name": "inform", "confidence": 0.6}, RANKING, ["safety"], "吃完拉肚子了")
    # the classifier ranked service first among the complaints, but the cause (food that made
    # someone ill) is a product one
    assert (d.name, d.rule) == ("complaint_product", "urgency_is_complaint")
    assert d.confidence == 0.6


def test_fallback_with_media_legal_becomes_a_complaint() -> None:
    d = decide_intent({"name": "nlu_fallback", "confidence": 0.4}, RANKING, ["media_legal"], "我去12315")
    assert d.name == "complaint_service"


def test_safety_never_becomes_malicious() -> None:
    ranking = [
        {"name": "greet", "confidence": 0.9},
        {"name": "complaint_malicious", "confidence": 0.08},
        {"name": "complaint_product", "confidence": 0.02},
    ]
    assert decide_intent(ranking[0], ranking, ["safety"], "孩子吃了发烧").name == "complaint_product"


def test_vulnerable_alone_does_not_change_the_intent() -> None:
    assert decide_intent({"name": "consult", "confidence": 0.9}, RANKING, ["vulnerable"], "给老人买什么好").rule is None


def test_request_human_is_kept() -> None:
    d = decide_intent({"name": "request_human", "confidence": 0.9}, RANKING, ["safety"], "孩子受伤了 转人工")
    assert d.name == "request_human"


def read(text: str):  # type: ignore[no-untyped-def]
    from bot.language.causes import read_causes
    from bot.language.normalize import normalize_text

    return read_causes(normalize_text(text))


def test_media_legal_is_not_malicious_without_bad_faith() -> None:
    text = "不处理我就去消协"
    d = decide_intent({"name": "complaint_malicious", "confidence": 0.9}, RANKING, ["media_legal"], text, read(text))
    assert (d.name, d.rule) == ("complaint_service", "no_bad_faith_is_not_malicious")


@pytest.mark.parametrize(
    "text",
    [
        "私下转我五百 不然就曝光",
        "不给我赔五百我就天天给你们差评",
        "加我微信 私下给我转两百就行",
        "其实没坏 我就是想要点补偿",
    ],
)
def test_bad_faith_is_malicious(text: str) -> None:
    d = decide_intent({"name": "complaint_product", "confidence": 0.9}, RANKING, [], text, read(text))
    assert d.name == "complaint_malicious"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我有QQ 你们加我吧 图片在那发", "complaint_product"),  # off-platform contact alone is not bad faith
        ("不退款我就给差评", "complaint_product"),  # an ordinary refund under a threat: the underlying type
        ("我已经在微信上跟你们说过了 耳机还是没声音", "complaint_product"),
        ("我要投诉", "complaint_product"),
        ("商家还说私下赔我几十块 说好的退运费也没退", "complaint_product"),
    ],
)
def test_mentions_of_qq_wechat_or_bad_reviews_are_not_bad_faith(text: str, expected: str) -> None:
    ranking = [{"name": "complaint_malicious", "confidence": 0.6}, {"name": "complaint_product", "confidence": 0.3}]
    d = decide_intent(ranking[0], ranking, [], text, read(text))
    assert d.name != "complaint_malicious"


@pytest.mark.parametrize(
    ("text", "classifier", "expected"),
    [
        (
            "你们怎么回事？我明明拍的是小耙子，怎么寄过来是铲子？铲子我不需要！你现在怎么给我处理？",
            "complaint_service",
            "complaint_product",
        ),
        (
            "我明明要求发圆通，你们为什么还是发的天天？我都说了天天寄不到我们这，我要退款！",
            "complaint_service",
            "complaint_logistics",
        ),
        ("骑手送了两个小时才到", "complaint_product", "complaint_logistics"),
        ("怎么还没发货?", "consult", "complaint_logistics"),
    ],
)
def test_the_cause_decides_the_type_over_tone_words(text: str, classifier: str, expected: str) -> None:
    ranking = [{"name": classifier, "confidence": 0.7}, {"name": expected, "confidence": 0.2}]
    assert decide_intent(ranking[0], ranking, [], text, read(text)).name == expected


def test_a_very_sure_classifier_keeps_its_type() -> None:
    text = "客服态度太差 东西也坏了"
    ranking = [{"name": "complaint_service", "confidence": 0.99}]
    d = decide_intent(ranking[0], ranking, [], text, read(text))
    assert (d.name, d.secondary_type) == ("complaint_service", "product")


def test_three_problems_give_a_secondary_type() -> None:
    text = "快递晚了一个礼拜才到，里面两个杯子碎了，找客服也没人回"
    ranking = [{"name": "complaint_logistics", "confidence": 0.8}]
    d = decide_intent(ranking[0], ranking, [], text, read(text))
    assert d.name == "complaint_logistics" and d.secondary_type in ("product", "service")


def test_no_urgency_no_change() -> None:
    assert decide_intent({"name": "greet", "confidence": 0.99}, RANKING, [], "你好").rule is None


@pytest.mark.parametrize("text", ["/complaint_malicious", "／greet", '/inform{"order_id": "1"}'])
def test_intent_commands_typed_by_a_customer_are_not_understood(text: str) -> None:
    decision = decide_intent({"name": "complaint_malicious", "confidence": 1.0}, [], [], text)
    assert (decision.name, decision.rule) == ("nlu_fallback", "command_like_text")


def test_a_slash_inside_a_sentence_is_ordinary_text() -> None:
    decision = decide_intent({"name": "complaint_product", "confidence": 0.9}, [], [], "/ 屏幕坏了")
    assert decision.rule is None


def test_a_long_message_is_not_a_short_reply() -> None:
    ranking = [
        {"name": "affirm", "confidence": 0.7},
        {"name": "complaint_product", "confidence": 0.2},
        {"name": "deny", "confidence": 0.1},
    ]
    decision = decide_intent(ranking[0], ranking, [], "对 然后他拿出来看确实是有个东西在里面 不知道是什么")
    assert (decision.name, decision.rule) == ("complaint_product", "long_message_is_not_a_short_reply")


def test_a_short_yes_stays_a_yes() -> None:
    ranking = [{"name": "affirm", "confidence": 0.7}, {"name": "complaint_product", "confidence": 0.2}]
    assert decide_intent(ranking[0], ranking, [], "对对对 就是这个").name == "affirm"


def test_a_long_short_reply_with_safety_becomes_a_complaint() -> None:
    ranking = [
        {"name": "thanks", "confidence": 0.8},
        {"name": "inform", "confidence": 0.15},
        {"name": "complaint_service", "confidence": 0.05},
    ]
    decision = decide_intent(
        ranking[0], ranking, ["safety"], "嗯谢谢谢谢 对的我一直在不舒服吃了药也没用 然后去医院输液了"
    )
    assert decision.name == "complaint_service" and decision.rule == "urgency_is_complaint"


def _inform_ranking(complaint: float) -> list[dict]:
    return [
        {"name": "inform", "confidence": 1 - complaint},
        {"name": "complaint_product", "confidence": complaint},
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("耳机左边没声音 订单号3920184756210384", "complaint_product"),
        ("订单号3920184756210384 耳机坏了", "complaint_product"),
        ("单号SF1234567890123 箱子压扁了", "complaint_logistics"),  # the cause names the type
    ],
)
def test_a_complaint_with_an_order_number_is_a_complaint(text: str, expected: str) -> None:
    decision = decide_intent({"name": "inform", "confidence": 0.84}, _inform_ranking(0.15), [], text)
    assert decision.name == expected and decision.rule == "data_with_a_complaint"


@pytest.mark.parametrize(
    "text", ["订单号3920184756210384", "我的订单号是 3920184756210384", "手机号13812345678", "单号是SF1234567890123"]
)
def test_data_alone_stays_inform(text: str) -> None:
    assert decide_intent({"name": "inform", "confidence": 0.9}, _inform_ranking(0.3), [], text).name == "inform"


def test_inform_without_a_ranked_complaint_stays_inform() -> None:
    decision = decide_intent(
        {"name": "inform", "confidence": 0.99}, _inform_ranking(0.01), [], "订单号3920184756210384 麻烦看看"
    )
    assert decision.name == "inform"


@pytest.mark.parametrize(
    "text", ["asdfghjkl", "qwertyuiop", "啊啊啊啊", "哦哦哦哦哦", "？？？", "。。。", "jfkdsla;fj", "zxcvbnm"]
)
def test_gibberish_is_not_understood(text: str) -> None:
    assert decide_intent({"name": "out_of_scope", "confidence": 0.7}, RANKING, [], text).name == "nlu_fallback"


@pytest.mark.parametrize("text", ["refund", "ok", "好好好", "哈哈", "iphone坏了", "谢谢谢谢你"])
def test_ordinary_short_text_is_not_gibberish(text: str) -> None:
    assert decide_intent({"name": "inform", "confidence": 0.7}, RANKING, [], text).rule != "gibberish"


@pytest.mark.parametrize(
    "text", ["3920184756210384", "1", "订单号是 3920184756210384", "SF1234567890123", "单号：JD0012345678"]
)
def test_data_alone_answers_the_question(text: str) -> None:
    d = decide_intent({"name": "nlu_fallback", "confidence": 0.4}, [{"name": "inform", "confidence": 0.37}], [], text)
    assert (d.name, d.rule) == ("inform", "data_only_is_inform")


def test_data_with_words_is_not_data_alone() -> None:
    assert (
        decide_intent({"name": "complaint_product", "confidence": 0.9}, [], [], "3920184756210384 耳机坏了").name
        == "complaint_product"
    )


def test_a_demand_without_a_threat_is_not_malicious_however_sure_the_classifier_is() -> None:
    ranking = [{"name": "complaint_malicious", "confidence": 0.99}, {"name": "complaint_product", "confidence": 0.01}]
    assert decide_intent(ranking[0], ranking, [], "至少赔我2千").name == "complaint_product"
    assert decide_intent(ranking[0], ranking, [], "你们要是不给钱 我就找人天天骂").name == "complaint_malicious"


@pytest.mark.parametrize(
    "text, intent",
    [
        ("转人工，我的电话13912345678，地址上海市浦东新区世纪大道100号8楼", "inform"),
        ("我要投诉你们客服态度太差了，骂人，转人工", "complaint_service"),
        ("别跟我扯了 给我找个真人", "out_of_scope"),
        ("东西坏了 人工客服在吗", "complaint_product"),
    ],
)
def test_asking_for_a_human_in_so_many_words_is_request_human(text: str, intent: str) -> None:
    ranking = [{"name": intent, "confidence": 0.9}, {"name": "request_human", "confidence": 0.05}]
    decision = decide_intent(ranking[0], ranking, [], text)
    assert (decision.name, decision.rule) == ("request_human", "asks_for_a_human")


@pytest.mark.parametrize(
    "text, levels",
    [
        ("不用转人工，你帮我查一下物流就行", []),
        ("不想找人工，你直接告诉我怎么退", []),
        ("孩子吃了你们的饼干过敏了 转人工", ["safety"]),  # urgency hands over anyway, with its own tier
        ("人工费怎么算", []),
    ],
)
def test_a_negated_ask_or_an_urgent_message_keeps_its_reading(text: str, levels: list[str]) -> None:
    ranking = [{"name": "complaint_logistics", "confidence": 0.9}]
    assert decide_intent(ranking[0], ranking, levels, text).rule != "asks_for_a_human"
