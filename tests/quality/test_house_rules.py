"""Each house rule catches conversations that break it, and leaves the good variant alone.

The conversations are written here, in the shape the tracker store keeps them; for each rule there
are several phrasings of the same fault (the rule must catch the kind, not one reply of domain.yml).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.quality import RULES, QualityReport, RuleResult, build_turns, check_conversation, exempt_texts_from_domain

T0 = 1_764_468_000.0
SAFETY_NOTE = "您的安全最重要：如有人受伤或身体不适，请先停止使用并尽快就医。这类情况我们会最优先处理。"
EXEMPT = frozenset({SAFETY_NOTE})

Event = dict[str, Any]


class Talk:
    """Builds a conversation's events, ten seconds apart."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def _at(self) -> float:
        return T0 + 10.0 * len(self.events)

    def user(self, text: str, intent: str = "inform") -> Talk:
        self.events.append(
            {"event": "user", "text": text, "timestamp": self._at(), "parse_data": {"intent": {"name": intent}}}
        )
        return self

    def bot(self, *texts: str, author: str = "bot", utter: str = "") -> Talk:
        for text in texts:
            metadata: dict[str, Any] = {"author": author}
            if utter:
                metadata["utter_action"] = utter
            self.events.append({"event": "bot", "text": text, "timestamp": self._at(), "metadata": metadata})
        return self

    def agent(self, *texts: str, name: str = "小王") -> Talk:
        return self.bot(*texts, author=f"agent:{name}")

    def slot(self, name: str, value: Any) -> Talk:
        self.events.append({"event": "slot", "name": name, "value": value, "timestamp": self._at()})
        return self

    def action(self, name: str) -> Talk:
        self.events.append({"event": "action", "name": name, "timestamp": self._at()})
        return self


OPTIONS = (
    "可以这样处理，您选一个（回复序号就行）：\n"
    "1. 换货：质量问题换货的来回运费由我们承担，收到您寄回的商品后48小时内给您发出新的。\n"
    "2. 退货退款：质量问题退货的运费由我们承担，您寄回商品后我们在48小时内全额退款。\n"
    "3. 人工复核：人工客服复核您的全部情况，24小时内给您答复。"
)
TICKET = (
    "已登记，工单号 TS202611300001。\n接下来：收到您寄回的商品后48小时内给您发出新的（后天10:02前完成）。\n"
    "明天10:02前我会把进展发给您。"
)


def good() -> Talk:
    """A conversation that follows every rule: the three phases of SPEC.md section 4."""
    return (
        Talk()
        .user("你好", "greet")
        .bot("您好，我是店铺的售后助手。遇到什么问题了？直接说就行，我来帮您处理。")
        .user("收到的电饭煲煮饭夹生", "complaint_product")
        .slot("complaint_type", "product")
        .bot("抱歉让您遇到这种情况。我理解的是：收到的电饭煲煮饭夹生，商品有质量问题，对吗？")
        .user("对", "affirm")
        .bot("请把订单号发给我（在“我的订单”里能看到）。找不到的话告诉我一声就行。")
        .user("3920184756210384")
        .bot("方便拍张能看清问题的照片发给我吗？没有的话直接说“没有”也行。")
        .user("没有", "deny")
        .bot("您希望怎么处理？比如退货退款、换货或者维修。")
        .user("换货")
        .bot(OPTIONS)
        .user("1")
        .bot("确认一下：换货——收到您寄回的商品后48小时内给您发出新的。确认的话回复“确认”，想换别的方案也可以直接说。")
        .user("确认", "affirm")
        .bot(TICKET)
    )


def check(talk: Talk, **kwargs: Any) -> QualityReport:
    kwargs.setdefault("now", talk.events[-1]["timestamp"] + 60 if talk.events else T0)
    kwargs.setdefault("exempt_texts", EXEMPT)
    return check_conversation(talk.events, sender_id="c1", **kwargs)


def result(talk: Talk, rule: str, **kwargs: Any) -> RuleResult:
    return check(talk, **kwargs).result(rule)


def test_the_good_conversation_passes_every_rule_that_applies() -> None:
    report = check(good())
    assert report.passed_all and report.failed == []
    assert {r.rule: r.passed for r in report.results} == {
        "apology_once": True,
        "restate_first": True,
        "one_question": True,
        "options_with_time": True,
        "ticket_after_confirm": True,
        "promise_has_time": True,
        "malicious_no_money": None,
        "urgent_in_tier": None,
    }


# --- the report ------------------------------------------------------------------------------


def test_turns_group_runs_of_one_author_and_skip_what_the_customer_did_not_say() -> None:
    talk = (
        Talk()
        .user("/empty_message", "empty_message")
        .bot("您好像没有输入内容。")
        .user("杯子碎了", "complaint_logistics")
        .action("action_acknowledge_complaint")
        .bot("抱歉给您添麻烦了。", "我理解的是：杯子碎了，运输中损坏了，对吗？")
        .user("", "EXTERNAL_resolved")
        .agent("您好，我是客服小王。", "已经给您补发了，明天18:00前送到。")
        .bot("您的问题已处理完。")
        .user("好的", "affirm")
    )
    turns = check(talk).turns
    assert [(t["from"], len(t["texts"])) for t in turns] == [
        ("bot", 1),
        ("customer", 1),
        ("bot", 2),
        ("agent:小王", 2),
        ("bot", 1),
        ("customer", 1),
    ]
    assert turns[1] == {"from": "customer", "texts": ["杯子碎了"], "at": T0 + 20}
    assert build_turns(talk.events) == turns


def test_a_bot_turn_ends_when_the_bot_listens() -> None:
    progress = "工单 TS202611300001 的进展：处理中。"
    rating = "您的问题已处理完（工单 TS202611300001）。请给这次处理打个分：1到5分，5分最满意。"
    talk = good().action("action_listen").bot(progress).action("action_listen")
    talk.user("", "EXTERNAL_resolved").bot(rating).action("action_listen")
    turns = check(talk).turns
    assert [t["texts"] for t in turns[-3:]] == [[TICKET], [progress], [rating]]
    assert check(talk).passed_all


def test_report_round_trips_through_json() -> None:
    report = check(good().bot("我们会尽快处理。"))
    data = json.loads(json.dumps(report.to_dict(), ensure_ascii=False))
    assert data["failed"] == ["promise_has_time"] and data["passed_all"] is False
    again = QualityReport.from_dict(data)
    assert again == report and again.to_dict() == data
    assert [r["rule"] for r in data["results"]] == [rule for rule, _ in RULES]
    assert [r["title"] for r in data["results"]] == [title for _, title in RULES]


def test_report_from_dict_refuses_what_is_not_a_report() -> None:
    with pytest.raises(ValueError):
        QualityReport.from_dict({"turns": []})
    with pytest.raises(ValueError):
        QualityReport.from_dict({"sender_id": "c", "checked_at": 1.0, "results": [{"passed": True}]})


def test_sender_id_and_checked_at() -> None:
    report = check_conversation(good().events, now=T0 + 999, tickets=[{"sender_id": "wechat:o1"}])
    assert report.sender_id == "wechat:o1" and report.checked_at == T0 + 999


def test_odd_events_do_not_break_the_check() -> None:
    events: list[dict[str, Any]] = [
        {"event": "user"},
        {"event": "bot", "text": None},
        {"event": "slot", "name": "urgency", "value": None},
        {"event": "user", "text": "喂", "parse_data": None, "timestamp": "x"},
        {"event": "session_started"},
    ]
    report = check_conversation(events, now=T0)
    assert report.passed_all and len(report.turns) == 2


def test_exempt_texts_are_the_domains_urgency_notes() -> None:
    texts = exempt_texts_from_domain()
    assert SAFETY_NOTE in texts and len(texts) >= 3


# --- a. apology_once ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "later",
    ["不好意思让您久等了，请把订单号发给我。", "非常抱歉，方案如下。", "对不起，刚才没看清。", "对此我们深表歉意。"],
)
def test_an_apology_after_the_first_reply_fails(later: str) -> None:
    talk = good().user("还要多久", "ask_progress").bot(later)
    outcome = result(talk, "apology_once")
    assert outcome.passed is False and outcome.turn == len(check(talk).turns) - 1


def test_an_apology_in_the_third_turn_fails_at_that_turn() -> None:
    talk = (
        Talk()
        .user("快递五天了还没到", "complaint_logistics")
        .bot("我理解的是：快递五天了还没到，配送太慢了，对吗？")
        .user("对", "affirm")
        .bot("很抱歉让您久等了。请把订单号发给我。")
    )
    outcome = result(talk, "apology_once")
    assert (outcome.passed, outcome.turn) == (False, 3) and "开头之后" in outcome.detail


def test_two_apologies_in_the_first_reply_fail() -> None:
    talk = Talk().user("快递五天了还没到", "complaint_logistics").bot("很抱歉让您久等了。真的非常抱歉。我理解的是：…")
    outcome = result(talk, "apology_once")
    assert (outcome.passed, outcome.turn) == (False, 1) and "不止一次" in outcome.detail


def test_apology_in_the_reply_to_the_complaint_after_a_greeting_passes() -> None:
    assert result(good(), "apology_once").passed is True


def test_no_apology_passes_and_agents_and_exempt_notes_are_not_counted() -> None:
    talk = (
        Talk()
        .user("插线板起火了", "complaint_product")
        .bot("我理解的是：插线板起火了，对吗？", SAFETY_NOTE)
        .agent("非常抱歉，我是安全应急专员。")
        .agent("再次向您道歉。")
    )
    outcome = result(talk, "apology_once")
    assert outcome.passed is True and "没有道歉" in outcome.detail


def test_the_customers_words_in_a_restatement_are_not_the_bots_apology() -> None:
    reply = "很抱歉让您有了不好的体验。我理解的是：客服连句对不起都没有，态度很差，对吗？"
    talk = Talk().user("客服连句对不起都没有", "complaint_service").bot(reply)
    assert result(talk, "apology_once").passed is True


def test_an_exempt_note_with_an_apology_is_not_counted() -> None:
    note = "很抱歉，您的安全最重要：请先停止使用。"
    talk = Talk().user("起火了", "complaint_product").bot("抱歉让您遇到这种情况。我理解的是：起火了，对吗？", note)
    assert result(talk, "apology_once").passed is False
    assert result(talk, "apology_once", exempt_texts=frozenset({note})).passed is True


# --- b. restate_first ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "抱歉让您遇到这种情况。我理解的是：收到的电饭煲煮饭夹生，商品有质量问题，对吗？",
        "很抱歉给您添麻烦了。我确认一下：电饭煲煮饭夹生，是商品本身的问题，对吗？",
        "您是说电饭煲煮饭夹生，对吧？",
        "电饭煲煮饭夹生，才用了两次，是这样吗？",
        "抱歉让您不愉快。您的诉求我已记录：您要求赔偿500元。请问您的订单号是多少？",
    ],
)
def test_a_restatement_first_passes(reply: str) -> None:
    talk = Talk().user("收到的电饭煲煮饭夹生", "complaint_product").bot(reply)
    assert result(talk, "restate_first").passed is True


@pytest.mark.parametrize(
    "reply",
    [
        "请把订单号发给我（在“我的订单”里能看到）。",
        "抱歉让您遇到这种情况。请问您的订单号是多少？",
        "方便拍张照片吗？我理解的是：电饭煲煮饭夹生，对吗？",
        "我没太明白，能再具体说一下遇到了什么问题吗？",
        "很抱歉给您添麻烦了。",
    ],
)
def test_no_restatement_or_a_question_before_it_fails(reply: str) -> None:
    talk = Talk().user("你好", "greet").bot("您好").user("收到的电饭煲煮饭夹生", "complaint_product").bot(reply)
    outcome = result(talk, "restate_first")
    assert (outcome.passed, outcome.turn) == (False, 3)


def test_restate_first_applies_to_complaints_only() -> None:
    talk = Talk().user("能开发票吗", "consult").bot("发票可以在“我的订单”里申请。你还有别的问题吗？")
    assert result(talk, "restate_first").passed is None
    unanswered = Talk().user("收到的电饭煲煮饭夹生", "complaint_product")
    assert result(unanswered, "restate_first").passed is None


def test_a_complaint_found_by_the_slot_counts_too() -> None:
    talk = Talk().user("东西有毛病", "inform").slot("complaint_type", "product").bot("请把订单号发给我。")
    assert result(talk, "restate_first").passed is False


# --- c. one_question -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "turn",
    [
        ("具体是什么问题？从什么时候开始的？",),
        ("物流现在显示到哪一步了？具体出了什么问题？",),
        ("请把订单号发给我。", "方便拍张照片发给我吗？"),
        ("请把订单号发给我，再拍张照片发给我。还有别的需要帮忙的吗？",),
        ("我理解的是：杯子碎了，对吗？还有别的需要帮忙的吗？",),
        ("您希望怎么处理？请提供能说明问题的照片。",),
        ("麻烦您提供一下订单号。请您确认一下收货地址。",),
        ("请问还有其他问题吗", "能告诉我订单号吗"),
        ("订单号是多少呢", "您希望怎么处理？"),
    ],
)
def test_two_questions_in_one_bot_turn_fail(turn: tuple[str, ...]) -> None:
    talk = good().user("还有问题", "inform").bot(*turn)
    outcome = result(talk, "one_question")
    assert outcome.passed is False and outcome.turn == len(check(talk).turns) - 1


@pytest.mark.parametrize(
    "turn",
    [
        ("好的，已记下。还有别的需要帮忙的吗？",),
        ("抱歉让您遇到这种情况。我理解的是：杯子碎了，对吗？", SAFETY_NOTE),
        ("请把订单号发给我（在“我的订单”里能看到）。找不到的话告诉我一声就行。",),
        ("方便拍张照片发给我吗？没有的话直接说“没有”也行。",),
        ("确认一下：换货。确认的话回复“确认”，想换别的方案也可以直接说。",),
        ("具体是哪天、通过什么渠道、发生了什么？",),
        ("您可以在订单页回复“好吗？”这类问题。如果有疑问，请直接告诉我。",),
        ("能不能用请以商品详情页的成分和“适用人群”说明为准。还有别的需要帮忙的吗？",),
        (OPTIONS.replace("1. 换货：", "1. 提交凭证核实：请在平台内上传照片等凭证，"),),
    ],
)
def test_one_question_per_turn_passes(turn: tuple[str, ...]) -> None:
    assert result(good().user("嗯", "inform").bot(*turn), "one_question").passed is True


def test_agents_may_ask_several_questions() -> None:
    talk = good().user("转人工", "request_human").agent("您好，是哪个订单？什么时候收到的？")
    assert result(talk, "one_question").passed is True


# --- d. options_with_time ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offer", "word"),
    [
        ("您选一个：\n1. 换货：收到您寄回的商品后48小时内给您发出新的。", "一个方案"),
        ("您选一个：\n1. 换货：收到寄回的商品后48小时内发出新的。\n2. 退货退款：寄回后全额退款。", "没有时限"),
        ("您选一个：\n1. 换货：我们尽快给您发出新的。\n2. 退款：24小时内原路到账。", "没有时限"),
        ("您选一个：\n1. 换货\n2. 退款", "没有说清"),
        ("您选一个：\n1. 补发：48小时内。\n2. 退款：24小时内原路到账。", "没有说清"),
        ("您选一个：\n1. 专员回电：专员过几天给您回电。\n2. 退款：24小时内原路到账。", "没有时限"),
    ],
)
def test_one_option_or_an_option_without_what_or_when_fails(offer: str, word: str) -> None:
    talk = (
        Talk()
        .user("快递丢了", "complaint_logistics")
        .bot("我理解的是：快递丢了，对吗？")
        .user("对", "affirm")
        .bot(offer)
    )
    outcome = result(talk, "options_with_time")
    assert (outcome.passed, outcome.turn) == (False, 3) and word in outcome.detail


@pytest.mark.parametrize(
    "offer",
    [
        OPTIONS,
        "您选一个：\n1、专员回电：一位售后专员在您选定的时间给您回电。\n2、主管复核：主管复核这次服务，明天18:00前给您结果。",
        "您选一个：\n1) 补发：今天下班前重新发出一件，运费我们承担。\n2) 退款：两个工作日内原路退回全部货款。",
        "您选一个：\n① 催件：我们联系快递公司，3小时内告诉您最新进度。\n② 退款：为您全额退款，12月5日前到账。",
    ],
)
def test_two_or_more_options_each_with_what_and_when_pass(offer: str) -> None:
    talk = (
        Talk()
        .user("快递丢了", "complaint_logistics")
        .bot("我理解的是：快递丢了，对吗？")
        .user("对", "affirm")
        .bot(offer)
    )
    assert result(talk, "options_with_time").passed is True


def test_options_do_not_apply_without_an_offer() -> None:
    assert result(Talk().user("在吗", "greet").bot("您好"), "options_with_time").passed is None


# --- e. ticket_after_confirm ----------------------------------------------------------------------


def test_a_ticket_before_the_customer_confirmed_fails() -> None:
    talk = good()
    del talk.events[-3:-1]  # no repeat-back, no 确认: the choice "1" opens the ticket
    outcome = result(talk, "ticket_after_confirm")
    assert outcome.passed is False and "没有确认" in outcome.detail
    assert check(talk).turns[outcome.turn]["texts"] == [TICKET]


def test_a_ticket_on_an_agreement_nobody_asked_for_fails() -> None:
    talk = Talk().user("杯子碎了", "complaint_logistics").bot("我理解的是：杯子碎了，对吗？").user("好的", "affirm")
    talk.bot("已登记，工单号 TS202611300002。")
    outcome = result(talk, "ticket_after_confirm")
    assert outcome.passed is False and "复述方案" in outcome.detail


def test_a_ticket_right_after_the_confirmation_passes() -> None:
    assert result(good(), "ticket_after_confirm").passed is True
    talk = good()
    talk.events[-2]["parse_data"]["intent"]["name"] = "inform"  # "确认" read as agreement by replies.read_agreement
    assert result(talk, "ticket_after_confirm").passed is True


def test_a_ticket_announced_with_a_handoff_is_exempt() -> None:
    urgent = (
        Talk()
        .user("插线板起火了", "complaint_product")
        .bot("我理解的是：插线板起火了，对吗？", SAFETY_NOTE)
        .bot("已为您转接安全应急专员，今天10:17前会联系您（工单号 TS202611300019）。")
    )
    assert result(urgent, "ticket_after_confirm").passed is None
    by_action = Talk().user("转人工", "request_human").action("action_handoff").bot("好的（工单号 TS202611300019）。")
    assert result(by_action, "ticket_after_confirm").passed is None
    by_response = Talk().user("转人工", "request_human").bot("工单号 TS202611300019。", utter="utter_handoff")
    assert result(by_response, "ticket_after_confirm").passed is None


def test_no_ticket_no_judgement() -> None:
    assert result(Talk().user("在吗", "greet").bot("您好"), "ticket_after_confirm").passed is None


# --- f. promise_has_time --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "promise",
    [
        "我们会尽快处理。",
        "好的，马上给您处理。",
        "稍后会有专员联系您。",
        "我们将会安排专人跟进。",
        "这个问题一定给您处理好。",
        "我给您安排补发。",
        "我们会第一时间联系快递。",
        "我们过几天会给您回复。",
        "一会儿给您回电。",
        "我们保证给您处理好。",
        "随后会有专员联系您。",
    ],
)
def test_a_promise_without_a_time_fails(promise: str) -> None:
    outcome = result(good().user("多久能好", "ask_progress").bot(promise), "promise_has_time")
    assert outcome.passed is False and "机器人" in outcome.detail


def test_an_agents_promise_without_a_time_fails() -> None:
    outcome = result(good().user("转人工", "request_human").agent("收到，我们会尽快处理。"), "promise_has_time")
    assert outcome.passed is False and "客服" in outcome.detail


@pytest.mark.parametrize(
    "promise",
    [
        "我们会在24小时内处理。",
        "我们会尽快处理，今天18:00前给您答复。",
        "我们将于3个工作日内完成退款。",
        "专员会在明天上午十点前联系您。",
        "明天10:02前我会把进展发给您。",
        "客服会在您选定的时间回电。",
        "我们马上联系快递公司催件，12小时内把最新进度告诉您。",
        "已为您转接安全应急专员，今天10:17前会联系您。这期间您发的消息都会转给安全应急专员。",
        "方案确认后我会登记工单，每一步都会告诉您时间。",
        "半小时内会有人联系您。",
        "我们会在12月5日前寄出。",
    ],
)
def test_a_promise_with_a_time_passes(promise: str) -> None:
    assert result(good().user("多久能好", "ask_progress").bot(promise), "promise_has_time").passed is True


@pytest.mark.parametrize(
    "sentence",
    [
        "需要的话我可以为您安排人工客服。",
        "请先停止使用并尽快就医。",
        "好的，照片方便时再发给我，会补进记录里。",
        "下单时会自动抵扣。",
        "这种情况不会影响您的退款。",
        "需要我们尽快给您补发吗？",
        "如果您想处理，我们会帮您跟进。",
        "运输中可能会有磕碰。",
        "您的诉求我已记录：您说插线板插上会冒烟。",
        "我理解的是：耳机有时会断连，对吗？",
        "抱歉没有及时回复您。",
        "我们保证质量，都是正品。",
        "您一定要注意安全。",
    ],
)
def test_what_is_not_a_promise(sentence: str) -> None:
    talk = Talk().user("在吗", "greet").bot(sentence)
    assert result(talk, "promise_has_time").passed is None


def test_the_exempt_safety_note_is_not_judged_as_a_promise() -> None:
    talk = Talk().user("插线板起火了", "complaint_product").bot("我理解的是：插线板起火了，对吗？", SAFETY_NOTE)
    assert result(talk, "promise_has_time").passed is None
    assert result(talk, "promise_has_time", exempt_texts=frozenset()).passed is False


# --- g. malicious_no_money -----------------------------------------------------------------------


def malicious(how: str = "slot") -> Talk:
    talk = Talk().user("不给我赔五百我就天天给你们差评 加我微信私下转", "complaint_malicious")
    if how == "slot":
        talk.slot("complaint_type", "malicious")
    return talk.bot(
        "抱歉让您不愉快。您的诉求我已记录：您要求赔偿500元。所有沟通和处理都在本平台内进行。请问您的订单号是多少？"
    )


@pytest.mark.parametrize(
    "offer",
    [
        "补偿优惠券：给您发一张10元无门槛优惠券作为补偿，1小时内到账。",
        "这样吧，可以补偿您50元，24小时内到账。",
        "送您一个20元红包，今天到账。",
        "不退货部分退款：商品您留着继续用，我们退您20元，24小时内原路到账。",
        "按您的要求赔偿：您提出的500元赔偿需经理审批，48小时内退到您的原支付账户。",
        "我们同意赔偿200块。",
        "给您申请了一张代金券，明天前发到您的账户。",
        "这单给您优惠一些，今天就能用。",
        "我们会给您退差价10元。",
    ],
)
def test_money_offered_to_a_malicious_case_fails(offer: str) -> None:
    outcome = result(malicious().user("3920184756210384").bot(offer), "malicious_no_money")
    assert (outcome.passed, outcome.turn) == (False, 3)


def test_an_agent_offering_money_to_a_malicious_case_fails() -> None:
    talk = malicious().user("转人工", "request_human").agent("我们可以给您补偿50元，您看行吗？")
    assert result(talk, "malicious_no_money").passed is False


@pytest.mark.parametrize(
    "reply",
    [
        "处理会按平台规则进行，超出规则的补偿我这边无法答应；所有沟通和处理都在本平台内进行。",
        "按规退货退款：按平台售后规则办理退货退款，我们收到退货后48小时内原路退款。",
        "我们会按正常流程退货退款，收到退货后48小时内退款128元，原路退回。",
        "我们不能给您补偿，也不会私下转账。",
        "您提出的500元赔偿不符合平台规则。",
        "平台售后流程：在平台内提交售后申请，按平台规则处理，48小时内通过平台消息告诉您结果。",
    ],
)
def test_the_normal_process_and_refusals_pass(reply: str) -> None:
    assert result(malicious().user("1").bot(reply), "malicious_no_money").passed is True


def test_malicious_is_read_from_the_slot_the_ticket_or_the_case() -> None:
    coupon = "给您发一张10元优惠券作为补偿，1小时内到账。"
    plain = malicious(how="none").user("1").bot(coupon)
    assert result(plain, "malicious_no_money").passed is None  # a product case may get a coupon
    assert result(plain, "malicious_no_money", tickets=[{"type": "malicious"}]).passed is False
    assert result(plain, "malicious_no_money", tickets=[{"type": "product", "risk_flag": True}]).passed is False
    case = {"deadline": T0 + 7200, "summary": {"type": "malicious"}}
    assert result(plain, "malicious_no_money", case=case).passed is False


# --- h. urgent_in_tier -----------------------------------------------------------------------------


def urgent() -> Talk:
    return (
        Talk()
        .user("插线板插上就起火了", "complaint_product")
        .slot("urgency", "safety")
        .bot("抱歉让您遇到这种情况。我理解的是：插线板插上就起火了，商品有质量问题，对吗？", SAFETY_NOTE)
        .action("action_handoff")
        .bot("已为您转接安全应急专员，今天10:17前会联系您（工单号 TS202611300019）。")
    )


DEADLINE = T0 + 15 * 60


def case(**fields: Any) -> dict[str, Any]:
    base = {"sender_id": "c1", "reason": "urgency", "queue": "emergency", "priority": "P1", "deadline": DEADLINE}
    base.update({"created_at": T0 + 30, "status": "waiting", "claimed_at": None, "escalated": False})
    base.update(fields)
    return base


def test_an_urgent_case_claimed_in_time_passes() -> None:
    claimed = case(status="claimed", claimed_at=DEADLINE - 60)
    assert result(urgent(), "urgent_in_tier", case=claimed, now=T0 + 3600).passed is True
    on_the_dot = case(status="resolved", claimed_at=DEADLINE)
    assert result(urgent(), "urgent_in_tier", case=on_the_dot, now=T0 + 3600).passed is True


def test_an_urgent_case_claimed_late_fails() -> None:
    late = case(status="claimed", claimed_at=DEADLINE + 600)
    outcome = result(urgent(), "urgent_in_tier", case=late, now=T0 + 3600)
    assert (outcome.passed, outcome.turn) == (False, 1) and "晚了10分钟" in outcome.detail


def test_a_waiting_urgent_case_is_pending_until_its_deadline() -> None:
    assert result(urgent(), "urgent_in_tier", case=case(), now=DEADLINE).passed is None
    past = result(urgent(), "urgent_in_tier", case=case(), now=DEADLINE + 1)
    assert past.passed is False and "仍无人接手" in past.detail


def test_an_escalated_case_missed_its_first_deadline() -> None:
    escalated = case(
        escalated=True, queue="supervisor", deadline=DEADLINE + 1800, status="claimed", claimed_at=DEADLINE + 60
    )
    assert result(urgent(), "urgent_in_tier", case=escalated, now=T0 + 3600).passed is False


def test_an_urgent_case_without_a_handoff_fails() -> None:
    talk = Talk().user("孩子吃了拉肚子", "complaint_product").slot("urgency", "safety").bot("我理解的是：…，对吗？")
    outcome = result(talk, "urgent_in_tier")
    assert (outcome.passed, outcome.turn) == (False, 0) and "没有转人工" in outcome.detail


def test_urgency_from_a_ticket_and_none_without_urgency() -> None:
    talk = Talk().user("退款拖了半个月", "complaint_service").bot("我理解的是：退款拖得太久，对吗？")
    assert result(talk, "urgent_in_tier").passed is None
    assert result(talk, "urgent_in_tier", tickets=[{"urgency": "media_legal"}]).passed is False
    late = case(status="claimed", claimed_at=DEADLINE + 1)
    assert result(talk, "urgent_in_tier", tickets=[{"urgency": "vulnerable"}], case=late).passed is False
    assert result(talk, "urgent_in_tier", case={**late, "reason": "asked"}).passed is None


# --- the events as Rasa writes them -----------------------------------------------------------------


def test_events_as_rasa_serialises_them() -> None:
    """The tracker store keeps ``Event.as_dict()``: the checker reads those shapes (no Rasa in the checker)."""
    from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered

    def said(text: str, intent: str, at: float) -> UserUttered:
        return UserUttered(text, intent={"name": intent, "confidence": 1.0}, timestamp=at)

    def bot(text: str, at: float, **metadata: str) -> BotUttered:
        return BotUttered(text, metadata={"author": "bot", **metadata}, timestamp=at)

    events = [
        said("／::( 插线板插上就起火了", "complaint_product", T0),
        ActionExecuted("action_acknowledge_complaint", timestamp=T0 + 1),
        bot("抱歉让您遇到这种情况。我理解的是：插线板插上就起火了，对吗？", T0 + 1, utter_action="utter_ack_product"),
        bot(SAFETY_NOTE, T0 + 1, utter_action="utter_urgency_safety"),
        SlotSet("urgency", "safety", timestamp=T0 + 1),
        SlotSet("complaint_type", "product", timestamp=T0 + 1),
        ActionExecuted("action_handoff", timestamp=T0 + 2),
        bot(
            "已为您转接安全应急专员，今天10:17前会联系您（工单号 TS202611300019）。",
            T0 + 2,
            utter_action="utter_handoff",
        ),
        ActionExecuted("action_listen", timestamp=T0 + 3),
        said("/EXTERNAL_resolved", "EXTERNAL_resolved", T0 + 600),
        BotUttered("好的，补发的插线板明天18:00前送到。", metadata={"author": "agent:小王"}, timestamp=T0 + 300),
    ]
    claimed = {"reason": "urgency", "deadline": T0 + 900, "status": "claimed", "claimed_at": T0 + 240}
    report = check_conversation([e.as_dict() for e in events], case=claimed, now=T0 + 3600, exempt_texts=EXEMPT)
    assert [t["from"] for t in report.turns] == ["customer", "bot", "agent:小王"]
    assert report.passed_all
    assert {r.rule: r.passed for r in report.results} == {
        "apology_once": True,
        "restate_first": True,
        "one_question": True,
        "options_with_time": None,
        "ticket_after_confirm": None,
        "promise_has_time": True,
        "malicious_no_money": None,
        "urgent_in_tier": True,
    }
