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
    assert (d.name, d.rule) == ("complaint_service", "urgency_is_complaint")
    assert d.confidence == 0.6


def test_fallback_with_media_legal_becomes_a_complaint() -> None:
    d = decide_intent({"name": "nlu_fallback", "confidence": 0.4}, RANKING, ["media_legal"], "我去12315")
    assert d.name == "complaint_service"


def test_safety_never_becomes_malicious() -> None:
    ranking = [{"name": "greet", "confidence": 0.9}, {"name": "complaint_malicious", "confidence": 0.08},
               {"name": "complaint_product", "confidence": 0.02}]
    assert decide_intent(ranking[0], ranking, ["safety"], "孩子吃了发烧").name == "complaint_product"


def test_vulnerable_alone_does_not_change_the_intent() -> None:
    assert decide_intent({"name": "consult", "confidence": 0.9}, RANKING, ["vulnerable"], "给老人买什么好").rule is None


def test_request_human_is_kept() -> None:
    d = decide_intent({"name": "request_human", "confidence": 0.9}, RANKING, ["safety"], "孩子受伤了 转人工")
    assert d.name == "request_human"


def test_media_legal_is_not_malicious_without_bad_faith() -> None:
    d = decide_intent({"name": "complaint_malicious", "confidence": 0.9}, RANKING, ["media_legal"], "不处理我就去消协")
    assert (d.name, d.rule) == ("complaint_service", "media_legal_is_not_malicious")


def test_bad_faith_stays_malicious() -> None:
    d = decide_intent({"name": "complaint_malicious", "confidence": 0.9}, RANKING, ["media_legal"], "私下转我五百 不然就曝光")
    assert d.name == "complaint_malicious"


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
    ranking = [{"name": "affirm", "confidence": 0.7}, {"name": "complaint_product", "confidence": 0.2}, {"name": "deny", "confidence": 0.1}]
    decision = decide_intent(ranking[0], ranking, [], "对 然后他拿出来看确实是有个东西在里面 不知道是什么")
    assert (decision.name, decision.rule) == ("complaint_product", "long_message_is_not_a_short_reply")


def test_a_short_yes_stays_a_yes() -> None:
    ranking = [{"name": "affirm", "confidence": 0.7}, {"name": "complaint_product", "confidence": 0.2}]
    assert decide_intent(ranking[0], ranking, [], "对对对 就是这个").name == "affirm"


def test_a_long_short_reply_with_safety_becomes_a_complaint() -> None:
    ranking = [{"name": "thanks", "confidence": 0.8}, {"name": "inform", "confidence": 0.15}, {"name": "complaint_service", "confidence": 0.05}]
    decision = decide_intent(ranking[0], ranking, ["safety"], "嗯谢谢谢谢 对的我一直在不舒服吃了药也没用 然后去医院输液了")
    assert decision.name == "complaint_service" and decision.rule == "urgency_is_complaint"


def _inform_ranking(complaint: float) -> list[dict]:
    return [
        {"name": "inform", "confidence": 1 - complaint},
        {"name": "complaint_product", "confidence": complaint},
    ]


@pytest.mark.parametrize(
    "text", ["耳机左边没声音 订单号3920184756210384", "订单号3920184756210384 耳机坏了", "单号SF1234567890123 箱子压扁了"]
)
def test_a_complaint_with_an_order_number_is_a_complaint(text: str) -> None:
    decision = decide_intent({"name": "inform", "confidence": 0.84}, _inform_ranking(0.15), [], text)
    assert decision.name == "complaint_product" and decision.rule == "data_with_a_complaint"


@pytest.mark.parametrize("text", ["订单号3920184756210384", "我的订单号是 3920184756210384", "手机号13812345678", "单号是SF1234567890123"])
def test_data_alone_stays_inform(text: str) -> None:
    assert decide_intent({"name": "inform", "confidence": 0.9}, _inform_ranking(0.3), [], text).name == "inform"


def test_inform_without_a_ranked_complaint_stays_inform() -> None:
    decision = decide_intent({"name": "inform", "confidence": 0.99}, _inform_ranking(0.01), [], "订单号3920184756210384 麻烦看看")
    assert decision.name == "inform"


@pytest.mark.parametrize("text", ["asdfghjkl", "qwertyuiop", "啊啊啊啊", "哦哦哦哦哦", "？？？", "。。。", "jfkdsla;fj", "zxcvbnm"])
def test_gibberish_is_not_understood(text: str) -> None:
    assert decide_intent({"name": "out_of_scope", "confidence": 0.7}, RANKING, [], text).name == "nlu_fallback"


@pytest.mark.parametrize("text", ["refund", "ok", "好好好", "哈哈", "iphone坏了", "谢谢谢谢你"])
def test_ordinary_short_text_is_not_gibberish(text: str) -> None:
    assert decide_intent({"name": "inform", "confidence": 0.7}, RANKING, [], text).rule != "gibberish"
