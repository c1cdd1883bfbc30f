"""Whole conversations against the real service, the way customers and agents use it.

Every test talks to the running stack (Redis + action server + Rasa server, see conftest.py)
through the REST channel in Chinese, with a fresh sender id, and checks behaviour that
SPEC.md sections 3-6 promise: one apology at the start and none after, each question asked
once, concrete options with times, a ticket only after the customer confirms, handoffs with
the right queue, priority and deadline, the agents' round trip, and no duplicate tickets.
Assertions look for key facts (ticket numbers, times, queue names, ticket fields), not for
whole sentences.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import yaml

from bot.policy.sla import format_deadline, load_sla
from tests.support.bot import TICKET_FIELDS

ROOT = Path(__file__).resolve().parent.parent

ORDER = "3920184756210384"
TICKET_NO = re.compile(r"TS\d{12}")
APOLOGY = re.compile(r"抱歉|对不起")
# "1. 换货：质量问题换货的来回运费由我们承担，收到您寄回的商品后48小时内给您发出新的。"
OPTION_LINE = re.compile(r"^\s*(\d{1,2})[.、．]\s*([^：:\n]+)[：:](.+)$", re.M)
TIME_WORD = re.compile(r"\d+(?:\.\d+)?\s*个?(?:小时|分钟|天)|您选定的时间")
CLOCK = re.compile(r"\d{1,2}:\d{2}前|\d+\s*分钟")
OFF_PLATFORM = re.compile(r"微信|[Qq][Qq]|私下|站外|加我|vx|VX")
NEGATED_BEFORE = re.compile(r"(不通过|不会|不能|不可以|无法|不|禁止|拒绝)[^，。；！？]{0,10}$")


def _domain_texts(prefix: str) -> set[str]:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    return {
        variant["text"]
        for name, variants in domain["responses"].items()
        if name.startswith(prefix)
        for variant in variants
    }


URGENCY_NOTES = _domain_texts("utter_urgency_")
"""The safety/media/vulnerable notes: the only later messages allowed to be apologetic."""


def new_sender(tag: str = "conv") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}"


def who(queue: str) -> str:
    """Who the customer is told takes over in ``queue`` (policy/sla.yml)."""
    return load_sla().queue_display(queue)


class Conversation:
    """One customer talking to the bot; keeps every turn for the assertions and the messages."""

    def __init__(self, bot: Any, sender: Optional[str] = None, tag: str = "conv") -> None:
        self.bot = bot
        self.sender = sender or new_sender(tag)
        self.turns: list[tuple[str, list[str]]] = []

    def say(self, text: str) -> list[str]:
        replies = self.bot.say(self.sender, text)
        self.turns.append((text, replies))
        return replies

    def script(self, *messages: str) -> list[str]:
        """Says each message in turn; returns the replies to the last one."""
        replies: list[str] = []
        for message in messages:
            replies = self.say(message)
        return replies

    @property
    def bot_texts(self) -> list[str]:
        return [r for _, replies in self.turns for r in replies]

    def log(self) -> str:
        """The conversation as text, for assertion messages."""
        lines = []
        for text, replies in self.turns:
            lines.append(f"顾客: {text}")
            lines += [f"  机器人: {r}" for r in replies]
        return "\n".join(lines)

    # ---- the agents' view -------------------------------------------------------------------
    def tickets(self) -> list[dict[str, Any]]:
        status, tickets = self.bot.get(f"/api/tickets?sender_id={self.sender}")
        assert status == 200, tickets
        return tickets

    def only_ticket(self) -> dict[str, Any]:
        tickets = self.tickets()
        assert len(tickets) == 1, (tickets, self.log())
        return tickets[0]

    def handoff(self) -> Optional[dict[str, Any]]:
        status, cases = self.bot.get("/api/handoffs")
        assert status == 200, cases
        mine = [c for c in cases if c["sender_id"] == self.sender]
        assert len(mine) <= 1, mine
        return mine[0] if mine else None

    def transcript(self) -> dict[str, Any]:
        status, body = self.bot.get(f"/api/conversations/{self.sender}/transcript")
        assert status == 200, body
        return body

    def outbox(self, until: Callable[[list[str]], bool] = bool, timeout: float = 10) -> list[str]:
        """Collects the customer's outbox until ``until(texts)`` holds (or the timeout)."""
        texts: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            status, messages = self.bot.get(f"/webhooks/rest/outbox?sender={self.sender}", token=False)
            assert status == 200, messages
            texts += [m.get("text", "") for m in messages]
            if until(texts) or time.monotonic() > deadline:
                return texts
            time.sleep(0.2)


def options_in(replies: list[str]) -> list[tuple[int, str, str]]:
    """The numbered options in a turn's replies: (number, label, description)."""
    found: list[tuple[int, str, str]] = []
    for reply in replies:
        found += [(int(n), label.strip(), desc.strip()) for n, label, desc in OPTION_LINE.findall(reply)]
    return found


def number_of(options: list[tuple[int, str, str]], label_part: str) -> int:
    matches = [n for n, label, desc in options if label_part in label or label_part in desc]
    assert matches, f"no option with {label_part!r}: {options}"
    return matches[0]


def apologies(text: str) -> int:
    return len(APOLOGY.findall(text))


# A customer who answers whatever the form asks (each answer given when its question comes).
def answer_until_options(
    conv: Conversation, replies: list[str], answers: dict[str, str], max_turns: int = 8
) -> list[str]:
    """Answers the bot's questions until it offers numbered options; returns that turn's replies."""
    for _ in range(max_turns):
        if len(options_in(replies)) >= 2:
            return replies
        question = replies[-1] if replies else ""
        if "对吗" in question:
            answer = answers.get("confirm", "对")
        elif "订单号" in question:
            answer = answers.get("order_id", ORDER)
        elif "照片" in question or "凭证" in question:
            answer = answers.get("evidence", "没有")
        elif any(k in question for k in ("具体是什么问题", "到哪一步", "哪天", "具体说明", "发生了什么")):
            answer = answers.get("detail") or "就是这个问题 前天收到就发现了"
        elif "怎么处理" in question:
            answer = answers.get("desired") or "退款"
        else:
            pytest.fail(f"unexpected question {question!r}\n{conv.log()}")
        replies = conv.say(answer)
    pytest.fail(f"no options after {max_turns} answers\n{conv.log()}")


def assert_handed_over(
    conv: Conversation,
    replies: list[str],
    *,
    reason: str,
    queue: Optional[str] = None,
    priority: Optional[str] = None,
    within_minutes: Optional[float] = None,
) -> dict[str, Any]:
    """The reply names who takes over and by when; the case waits in the agents' queue."""
    case = conv.handoff()
    assert case is not None, f"no handoff case\n{conv.log()}"
    assert case["reason"] == reason, case
    if queue:
        assert case["queue"] == queue, case
    if priority:
        assert case["priority"] == priority, case
    handoff_reply = next((r for r in replies if "转接" in r), None)
    assert handoff_reply, f"no handoff message\n{conv.log()}"
    assert who(case["queue"]) in handoff_reply, (handoff_reply, case["queue"])
    assert CLOCK.search(handoff_reply), f"the handoff message names no time: {handoff_reply}"
    clock = format_deadline(case["deadline"])[-6:]  # "22:16前": the time the case must be taken by
    assert clock in handoff_reply, f"the customer hears another time than the deadline {clock}: {handoff_reply}"
    if within_minutes is not None:
        left = case["deadline"] - time.time()
        assert 0 < left <= within_minutes * 60 + 5, f"deadline in {left / 60:.1f} min, expected <= {within_minutes}"
    for key in ("type", "urgency", "phase", "facts"):
        assert key in case["summary"], case["summary"]
    return case


# =============================================================================================
# 1. Every complaint type through the three phases (SPEC.md section 4)
# =============================================================================================

THREE_PHASE_CASES = {
    "product": dict(first="电饭煲坏了", gist="电饭煲", detail="煮饭夹生 上周买回来第二次用就这样", desired="退货退款"),
    "logistics": dict(first="快递还没到", gist="快递", detail="显示在杭州中转站 五天没动了", desired="希望尽快补发"),
    "service": dict(
        first="客服不理人", gist="客服", detail="昨天下午在线客服 问了三遍都没人回", desired="希望专人给我回个电话"
    ),
    # the restatement records the demand, never the threat (bot/language/restate.py)
    "malicious": dict(
        first="不给我赔五百我就天天给你们差评 加我微信私下转",
        gist="赔偿500元",
        evidence="没有照片",
        desired="按规定处理",
    ),
}


def run_three_phases(bot: Any, complaint_type: str) -> tuple[Conversation, list[tuple[int, str, str]], list[str]]:
    """A whole case: complaint, questions, options, choice 1, confirmation. Checks along the way."""
    case = THREE_PHASE_CASES[complaint_type]
    conv = Conversation(bot, tag=complaint_type)
    first = conv.say(case["first"])
    replies = answer_until_options(conv, first, {k: v for k, v in case.items() if k not in ("first", "gist")})
    options = options_in(replies)
    agreement = conv.say("1")
    assert not TICKET_NO.search(" ".join(conv.bot_texts)), f"ticket number before the confirmation\n{conv.log()}"
    assert "确认" in agreement[-1], conv.log()
    done = conv.say("确认")
    return conv, options, done


@pytest.mark.parametrize(
    "complaint_type",
    [
        "product",
        "logistics",
        "service",
        "malicious",
    ],
)
def test_each_complaint_type_goes_through_the_three_phases(bot, complaint_type: str) -> None:
    case = THREE_PHASE_CASES[complaint_type]
    conv, options, done = run_three_phases(bot, complaint_type)
    _, first_replies = conv.turns[0]

    # phase 1: the later checks first, so that the malicious xfail reports only the apology
    later = [r for _, replies in conv.turns[1:] for r in replies if r not in URGENCY_NOTES]
    assert not [r for r in later if APOLOGY.search(r)], f"apology after the first reply\n{conv.log()}"
    texts = conv.bot_texts
    repeated = sorted({t for t in texts if texts.count(t) > 1})
    assert not repeated, f"asked twice: {repeated}\n{conv.log()}"

    # phase 2: at least two concrete numbered options, each with a time
    assert len(options) >= 2, conv.log()
    assert [n for n, _, _ in options] == list(range(1, len(options) + 1)), options
    for n, label, description in options:
        assert TIME_WORD.search(description), f"option {n} ({label}) names no time: {description}"

    # phase 3: the ticket, announced after the confirmation only, as stored
    announced = TICKET_NO.findall(" ".join(done))
    assert announced, f"no ticket number after 确认\n{conv.log()}"
    ticket = conv.only_ticket()
    assert announced[0] == ticket["id"]
    for field in TICKET_FIELDS:
        assert field in ticket, field
    assert ticket["type"] == complaint_type
    assert ticket["order_id"] == ORDER
    assert ticket["status"] == "open"
    assert ticket["urgency"] is None and ticket["priority"]
    assert ticket["chosen_option"]["label"] == options[0][1]
    assert [o["label"] for o in ticket["options_offered"]] == [label for _, label, _ in options]
    assert ticket["history"], ticket
    assert ticket["risk_flag"] is (complaint_type == "malicious")
    # ... with the next steps' time and when the bot follows up (at least every 24 hours)
    assert CLOCK.search(" ".join(done)) and "进展" in " ".join(done), done
    assert 0 < ticket["next_progress_due"] - time.time() <= 24 * 3600 + 60, ticket["next_progress_due"]

    # phase 1, first reply: one apology, and the problem restated as a question
    assert sum(apologies(r) for r in first_replies) == 1, f"first reply: {first_replies}"
    assert case["gist"] in first_replies[0], first_replies
    assert first_replies[0].rstrip().endswith(("？", "?")), first_replies


def test_malicious_claim_is_settled_inside_policy(bot) -> None:
    """Polite, factual, on the platform, no compensation beyond policy, flagged for the risk team."""
    conv = Conversation(bot, tag="malicious")
    first = conv.say("不给我赔五百我就天天给你们差评 加我微信私下转")
    assert first[0].rstrip().endswith(("？", "?")), first
    replies = answer_until_options(conv, first, {"evidence": "没有照片", "desired": "按规定处理"})
    again = conv.say("我就要五百")  # the demand again: policy, and the options once more
    options = options_in(replies) + options_in(again)
    assert options, conv.log()
    for _, label, description in options:
        assert not OFF_PLATFORM.search(label + description), (label, description)
        assert not re.search(r"500|五百", label + description), f"the demand offered: {label} {description}"
    conv.say("1")
    done = conv.say("确认")
    assert TICKET_NO.search(" ".join(done)), conv.log()

    # off-platform contact is only ever mentioned as something the bot does NOT do
    for text in conv.bot_texts:
        own_words = re.sub(r"您的诉求我已记录：[^。]*。", "", text)  # the restatement of the customer's words
        for match in OFF_PLATFORM.finditer(own_words):
            before = own_words[: match.start()]
            assert NEGATED_BEFORE.search(before), f"the bot offers {match.group()!r}: {text}"

    ticket = conv.only_ticket()
    assert ticket["type"] == "malicious"
    assert ticket["risk_flag"] is True
    assert ticket["compensation"] is None
    assert ticket["options_offered"] and all(o.get("compensation") is None for o in ticket["options_offered"])
    assert ticket["chosen_option"].get("compensation") is None
    assert "500" not in str([o.get("compensation") for o in ticket["options_offered"]])


# =============================================================================================
# 2. Customers who do not follow the script
# =============================================================================================


@pytest.mark.parametrize(
    "first",
    ids=["hair-dryer", "earphones", "parcel", "order-first-service", "lamp", "cup"],
    argvalues=[
        "买的吹风机不出热风 订单号" + ORDER,
        "耳机左边没声音 订单号" + ORDER,
        "快递一直没到 订单号" + ORDER,
        "订单号" + ORDER + " 客服态度太差了 问了三遍都没人理",
        "收到的台灯不亮 订单号" + ORDER,
        "收到的杯子是碎的 订单号" + ORDER,
    ],
)
def test_order_number_in_the_first_message_is_not_asked_again(bot, first: str) -> None:
    conv = Conversation(bot, tag="order-first")
    replies = conv.say(first)
    assert any(r.rstrip().endswith(("？", "?")) and APOLOGY.search(r) for r in replies), (
        f"no acknowledgement with a restatement\n{conv.log()}"
    )
    replies = answer_until_options(
        conv, replies, {"detail": "就是这个问题 前天开始的", "desired": "退款", "order_id": "订单号不是发过了吗"}
    )
    asked = [r for r in conv.bot_texts if re.search(r"订单号发给我|订单号一般是|订单号是多少", r)]
    assert not asked, f"order number asked again\n{conv.log()}"
    conv.say("1")
    conv.say("确认")
    assert conv.only_ticket()["order_id"] == ORDER


def test_two_answers_in_one_message_skip_both_questions(bot) -> None:
    conv = Conversation(bot, tag="two-answers")
    conv.say("快递五天了还没到 物流一直不更新 到底怎么回事")
    replies = conv.say("是的 订单号" + ORDER + " 希望尽快补发")
    options = options_in(replies)
    assert len(options) >= 2, f"expected the options straight away\n{conv.log()}"
    assert not any("订单号" in r or "怎么处理" in r for r in replies), conv.log()
    reship = number_of(options, "补发")
    conv.say(str(reship))
    conv.say("确认")
    ticket = conv.only_ticket()
    assert ticket["order_id"] == ORDER
    assert "补发" in ticket["chosen_option"]["label"]


def test_how_long_in_the_middle_of_the_form_gets_a_time_and_the_question_returns(bot) -> None:
    conv = Conversation(bot, tag="how-long")
    conv.say("收到的面膜是过期的")
    question = conv.say("对")[-1]
    assert "订单号" in question, conv.log()
    replies = conv.say("多久能处理好")
    assert len(replies) >= 2, conv.log()
    assert TIME_WORD.search(replies[0]), f"no time in the answer\n{conv.log()}"
    assert replies[-1] == question, f"the form's question did not come back\n{conv.log()}"
    nxt = conv.say(ORDER)
    assert nxt and "订单号" not in nxt[-1] and "照片" in nxt[-1], conv.log()
    assert not any(APOLOGY.search(r) for _, rs in conv.turns[1:] for r in rs), conv.log()


def test_how_long_while_choosing_and_agreeing_gets_a_time_and_the_question_returns(bot) -> None:
    conv = Conversation(bot, tag="how-long-settle")
    first = conv.say("收到的面膜是过期的")
    options = options_in(answer_until_options(conv, first, {"detail": "", "desired": "退货退款"}))
    replies = conv.say("多久能处理好")
    assert TIME_WORD.search(replies[0]), f"no time in the answer\n{conv.log()}"
    assert options_in(replies[1:]) == options, f"the options did not come back\n{conv.log()}"
    agreement = conv.say("1")[-1]
    replies = conv.say("多久能处理好")
    assert TIME_WORD.search(replies[0]) and replies[-1] == agreement, conv.log()
    assert conv.tickets() == []
    done = conv.say("确认")
    assert TICKET_NO.search(" ".join(done)) and conv.only_ticket()["chosen_option"]["label"] == options[0][1]


@pytest.mark.parametrize("off_topic", ["今天天气怎么样", "你们店在哪个城市"])
def test_off_topic_question_in_the_form_is_answered_and_the_form_continues(bot, off_topic: str) -> None:
    conv = Conversation(bot, tag="off-topic")
    conv.say("收到的面膜是过期的")
    question = conv.say("对")[-1]
    replies = conv.say(off_topic)
    assert len(replies) >= 2 and replies[0] != question, f"the question was not answered\n{conv.log()}"
    assert replies[-1] == question, f"the form did not continue\n{conv.log()}"
    replies = answer_until_options(conv, conv.say(ORDER), {"detail": "", "desired": "退货退款"})
    assert len(options_in(replies)) >= 2
    assert conv.tickets() == []


def test_changing_mind_at_the_confirmation(bot) -> None:
    conv = Conversation(bot, tag="change-mind")
    first = conv.say("买的裙子尺码发错了 要的M发的L")
    options = options_in(answer_until_options(conv, first, {"detail": "", "desired": "换货"}))
    exchange = number_of(options, "换货")
    assert "换货" in conv.say(str(exchange))[-1]
    refund_label = next(label for _, label, _ in options if "退货退款" in label)
    again = conv.say("还是退货退款吧")
    assert "确认" in again[-1] and "退货退款" in again[-1], f"not asked to confirm the new choice\n{conv.log()}"
    assert not TICKET_NO.search(" ".join(again)) and conv.tickets() == []
    done = conv.say("确认")
    assert TICKET_NO.search(" ".join(done)), conv.log()
    assert conv.only_ticket()["chosen_option"]["label"] == refund_label


def test_disputing_the_options_reoffers_them_with_human_review(bot) -> None:
    conv = Conversation(bot, tag="dispute")
    first = conv.say("买的裙子尺码发错了 要的M发的L")
    answer_until_options(conv, first, {"detail": "", "desired": "换货"})
    replies = conv.say("这些都不合理")
    options = options_in(replies)
    assert len(options) >= 2, f"options not offered again\n{conv.log()}"
    review = number_of(options, "人工复核")
    assert not any(APOLOGY.search(r) for r in replies), conv.log()
    assert conv.tickets() == []
    # choosing the human review is not a refusal: a person takes the case
    handed = conv.say(str(review))
    case = assert_handed_over(conv, handed, reason="asked")
    assert case["summary"]["options_offered"], case


@pytest.mark.parametrize("when", ["understand", "settle"])
def test_cancel_mid_form_opens_nothing_and_asks_nothing_more(bot, when: str) -> None:
    conv = Conversation(bot, tag="cancel")
    first = conv.say("收到的面膜是过期的")
    if when == "understand":
        conv.script("对", ORDER)
    else:
        answer_until_options(conv, first, {"detail": "", "desired": "退货退款"})
        conv.say("1")
    replies = conv.say("算了 不弄了")
    assert replies, conv.log()
    assert not any(r.rstrip().endswith(("？", "?")) for r in replies), f"still asking\n{conv.log()}"
    assert not options_in(replies) and not TICKET_NO.search(" ".join(replies))
    assert conv.tickets() == [] and conv.handoff() is None
    status, tracker = bot.get(f"/conversations/{conv.sender}/tracker")
    assert status == 200 and not (tracker.get("active_loop") or {}).get("name"), tracker.get("active_loop")


def test_no_more_questions_after_cancelling(bot) -> None:
    conv = Conversation(bot, tag="cancel-ack")
    conv.script("收到的面膜是过期的", "对", ORDER, "算了 不弄了")
    replies = conv.say("嗯 就这样吧")
    assert replies, conv.log()
    # a polite "anything else?" is fine; no apology and no question about the dropped case
    assert not any(APOLOGY.search(r) or re.search(r"什么问题|订单号|照片", r) for r in replies), conv.log()
    assert conv.tickets() == []


def test_coming_back_after_cancelling_is_not_asked_again(bot) -> None:
    conv = Conversation(bot, tag="come-back")
    conv.script("收到的面膜是过期的", "对", ORDER)
    promise = conv.say("算了 不弄了")
    assert any("不用再从头说" in r for r in promise), conv.log()  # what the bot promised
    replies = conv.say("我想了想还是要处理 面膜过期了")
    replies = answer_until_options(conv, replies, {"detail": "", "desired": "退货退款"})
    asked = [r for _, rs in conv.turns[4:] for r in rs if re.search(r"订单号发给我|订单号一般是|具体是什么问题", r)]
    assert not asked, f"asked again for what was recorded\n{conv.log()}"


# =============================================================================================
# 3. Handoff to a human (SPEC.md sections 3 and 5)
# =============================================================================================


def test_safety_urgency_in_the_first_message_goes_to_a_human_within_15_minutes(bot) -> None:
    conv = Conversation(bot, tag="safety")
    replies = conv.say("孩子吃了你们家的酸奶拉肚子 现在在医院")
    assert any("就医" in r for r in replies), conv.log()
    case = assert_handed_over(conv, replies, reason="urgency", queue="emergency", priority="P1", within_minutes=15)
    summary = case["summary"]
    assert summary["type"] == "product" and summary["urgency"] == "safety", summary
    assert summary["phase"] in ("understand", "explore", "settle", "handed_off"), summary
    assert "酸奶" in str(summary["facts"]), summary

    later = ["还在吗 孩子一直在吐", "你们快点联系我"]
    for text in later:
        answer = conv.say(text)
        assert any("已转给人工客服" in r for r in answer), conv.log()
        assert not any(APOLOGY.search(r) for r in answer)
    transcript = conv.transcript()
    said = [m["text"] for m in transcript["messages"] if m["from"] == "customer"]
    for text in later:
        assert text in said, said
    assert transcript["paused"] is True
    ticket = conv.only_ticket()
    assert (ticket["urgency"], ticket["priority"], ticket["status"]) == ("safety", "P1", "with_agent")
    assert ticket["id"] == case["ticket_id"] and ticket["id"] in " ".join(replies)


def test_urgency_later_in_the_form_goes_to_a_human(bot) -> None:
    conv = Conversation(bot, tag="urgency-later")
    conv.script("电热水壶用了两天就坏了", "对", ORDER)
    assert conv.handoff() is None
    replies = conv.say("刚才插电的时候冒烟了 还有焦味")
    case = assert_handed_over(conv, replies, reason="urgency", queue="emergency", priority="P1", within_minutes=15)
    assert case["summary"]["urgency"] == "safety"
    assert case["summary"]["facts"].get("order_id") == ORDER, case["summary"]
    assert any("已转给人工客服" in r for r in conv.say("人呢"))
    assert conv.only_ticket()["urgency"] == "safety"


def test_media_threat_in_the_form_goes_to_a_senior_within_30_minutes(bot) -> None:
    conv = Conversation(bot, tag="media")
    conv.script("快递还没到", "对", ORDER)
    replies = conv.say("再不处理我就打12315投诉你们")
    case = assert_handed_over(conv, replies, reason="urgency", queue="senior", priority="P2", within_minutes=30)
    assert case["summary"]["type"] == "logistics" and case["summary"]["urgency"] == "media_legal"


def test_customer_asks_for_a_human_in_the_middle_of_the_form(bot) -> None:
    conv = Conversation(bot, tag="human")
    conv.script("电热水壶用了两天就坏了", "对", ORDER)
    replies = conv.say("转人工")
    case = assert_handed_over(conv, replies, reason="asked")
    summary = case["summary"]
    assert summary["type"] == "product" and summary["facts"].get("order_id") == ORDER, summary
    assert not any("照片" in r for r in replies), "the form kept asking after 转人工"
    assert any("已转给人工客服" in r for r in conv.say("有照片 怎么发给你"))


@pytest.mark.parametrize(
    "gibberish",
    ids=["question-marks", "keyboard-mash", "keyboard-rows", "interjections"],
    argvalues=[
        ("？？？", "。。。"),
        ("jfkdsla;fj", "ghdkslq;wpe"),
        ("asdfghjkl", "qwertyuiop"),
        ("啊啊啊啊", "哦哦哦哦哦"),
    ],
)
def test_misunderstood_twice_in_a_row_goes_to_a_human(bot, gibberish: tuple[str, str]) -> None:
    conv = Conversation(bot, tag="gibberish")
    first = conv.say(gibberish[0])
    assert conv.handoff() is None and not any("转接" in r for r in first)
    replies = conv.say(gibberish[1])
    assert_handed_over(conv, replies, reason="misunderstood")


def test_order_number_question_misunderstood_twice_goes_to_a_human(bot) -> None:
    conv = Conversation(bot, tag="gibberish-form")
    conv.script("电热水壶用了两天就坏了", "对")
    hint = conv.say("啊？")
    assert conv.handoff() is None and "订单号" in hint[-1], conv.log()
    replies = conv.say("什么东西")
    assert_handed_over(conv, replies, reason="misunderstood")


def test_repeat_complainant_goes_to_a_senior_agent(bot) -> None:
    conv = Conversation(bot, tag="repeat")
    conv.script("快递五天了还没到 物流一直不更新", "是的 订单号" + ORDER + " 希望尽快补发", "1")
    assert TICKET_NO.search(" ".join(conv.say("确认")))
    assert conv.handoff() is None
    replies = conv.say("又出问题了 这次买的保温杯盖子是坏的 根本拧不紧")
    case = assert_handed_over(conv, replies, reason="repeat", queue="senior")
    assert case["summary"]["type"], case["summary"]
    assert len(conv.tickets()) == 2


def big_compensation_case(bot: Any) -> tuple[Conversation, dict[str, Any]]:
    """冰箱不制冷, price 3500 given, 赔我3000 demanded and chosen: above the bot's ¥500 authority."""
    conv = Conversation(bot, tag="big-comp")
    first = conv.say("买的冰箱不制冷 里面的肉全坏了 订单号" + ORDER + " 花了3500买的")
    replies = answer_until_options(conv, first, {"detail": "", "desired": "赔我3000", "evidence": "有照片"})
    options = options_in(replies)
    demanded = number_of(options, "3000元")
    agreement = conv.say(str(demanded))
    assert "3000" in agreement[-1] and "确认" in agreement[-1], conv.log()
    done = conv.say("确认")
    assert TICKET_NO.search(" ".join(done)), conv.log()
    assert any("审批" in r for r in done), conv.log()
    return conv, conv.only_ticket()


def test_compensation_above_the_bots_authority_waits_for_approval(bot) -> None:
    conv, ticket = big_compensation_case(bot)
    assert ticket["status"] == "pending_approval", ticket["status"]
    compensation = ticket["compensation"]
    assert compensation["amount"] == 3000 and compensation["status"] == "pending_approval", compensation
    assert compensation["approved_by"] is None
    assert ticket["chosen_option"]["compensation"] == 3000
    case = conv.handoff()
    assert case is not None and case["reason"] == "approval" and case["ticket_id"] == ticket["id"], case
    assert any("已转给人工客服" in r for r in conv.say("什么时候能批下来"))


def test_ticket_and_agents_queue_agree_on_an_approval_case(bot) -> None:
    conv, ticket = big_compensation_case(bot)
    case = conv.handoff()
    assert case is not None
    assert (ticket["queue"], ticket["priority"]) == (case["queue"], case["priority"]), (ticket["queue"], case)


# =============================================================================================
# 4. The agents' side: claim, reply, resolve, satisfaction; approvals
# =============================================================================================


def test_agent_round_trip_ends_with_a_satisfaction_score(bot) -> None:
    conv = Conversation(bot, tag="agent")
    handed = conv.script("电热水壶用了两天就坏了", "对", ORDER, "转人工")
    case = assert_handed_over(conv, handed, reason="asked")

    status, claimed = bot.post("/api/handoffs/claim", {"agent": "agent-li", "sender_id": conv.sender}, token=True)
    assert status == 200 and claimed["status"] == "claimed" and claimed["claimed_by"] == "agent-li", claimed
    assert conv.only_ticket()["owner"] == "agent-li"

    agent_text = "您好，我是客服小李，麻烦您发一张水壶底座的照片。"
    status, body = bot.post(
        f"/api/conversations/{conv.sender}/messages", {"agent": "agent-li", "text": agent_text}, token=True
    )
    assert status == 200 and body["delivered"] is True, body
    assert agent_text in conv.outbox(lambda t: agent_text in t)

    assert any("已转给人工客服" in r for r in conv.say("好的 马上拍"))
    messages = conv.transcript()["messages"]
    assert {"from": "agent:agent-li", "text": agent_text} in [{"from": m["from"], "text": m["text"]} for m in messages]
    assert "好的 马上拍" in [m["text"] for m in messages if m["from"] == "customer"]

    status, body = bot.post(f"/api/handoffs/{conv.sender}/resolve", {"agent": "agent-li"}, token=True)
    assert status == 200 and body["resolved"] is True, body
    survey = conv.outbox(lambda t: any("1到5分" in x for x in t))
    assert any("1到5分" in x and case["ticket_id"] in x for x in survey), survey
    assert conv.handoff() is None, "a resolved case is still in the queue"

    thanks = conv.say("5分")
    assert thanks and not any("已转给人工客服" in r for r in thanks), thanks
    ticket = conv.only_ticket()
    assert ticket["satisfaction"] == 5, ticket
    assert ticket["status"] == "resolved", ticket["status"]


def test_transcript_shows_only_what_the_customer_said(bot) -> None:
    conv = Conversation(bot, tag="transcript")
    conv.say("转人工")
    bot.post("/api/handoffs/claim", {"agent": "agent-zhao", "sender_id": conv.sender}, token=True)
    conv.say("我的耳机左边没声音")
    status, _ = bot.post(f"/api/handoffs/{conv.sender}/resolve", {"agent": "agent-zhao"}, token=True)
    assert status == 200
    conv.outbox(lambda t: any("1到5分" in x for x in t))
    conv.say("4分")
    said = [m["text"] for m in conv.transcript()["messages"] if m["from"] == "customer"]
    assert said == ["转人工", "我的耳机左边没声音", "4分"], said


def test_agent_approves_the_compensation(bot) -> None:
    conv, ticket = big_compensation_case(bot)
    status, _ = bot.post("/api/handoffs/claim", {"agent": "manager-wang", "sender_id": conv.sender}, token=True)
    assert status == 200
    decide = f"/api/tickets/{ticket['id']}/compensation"
    status, body = bot.post(decide, {"agent": "manager-wang", "approved": True}, token=True)
    assert status == 200, body
    assert body["compensation"]["status"] == "approved" and body["compensation"]["approved_by"] == "manager-wang"
    assert body["status"] != "pending_approval"
    assert any(h.get("actor") == "manager-wang" for h in body["history"]), body["history"]
    stored = conv.only_ticket()
    assert stored["compensation"]["status"] == "approved" and stored["compensation"]["amount"] == 3000
    # a decision is taken once
    status, body = bot.post(decide, {"agent": "manager-wang", "approved": False}, token=True)
    assert status == 409, body
    assert conv.only_ticket()["compensation"]["status"] == "approved"


# =============================================================================================
# 5. One confirmation, one ticket (SPEC.md section 6)
# =============================================================================================


def settle_up_to_the_confirmation(bot: Any, tag: str) -> Conversation:
    conv = Conversation(bot, tag=tag)
    conv.script("快递五天了还没到 物流一直不更新", "是的 订单号" + ORDER + " 希望尽快补发")
    assert "确认" in conv.say("1")[-1], conv.log()
    return conv


def tickets_in_redis(redis_client: Any, sender: str) -> list[str]:
    """Ticket ids of a conversation, straight from the store's keys (tk:sender:<id>, tk:ticket:<id>)."""
    indexed = redis_client.zrange(f"tk:sender:{sender}", 0, -1)
    stored = [
        key
        for key in redis_client.scan_iter("tk:ticket:*")
        if f'"sender_id":"{sender}"' in (redis_client.get(key) or "").replace(" ", "")
    ]
    assert sorted(indexed) == sorted(k.split(":")[-1] for k in stored), (indexed, stored)
    return indexed


def test_confirming_twice_creates_one_ticket(bot, redis_client) -> None:
    conv = settle_up_to_the_confirmation(bot, "confirm-twice")
    first = TICKET_NO.findall(" ".join(conv.say("确认")))
    second = TICKET_NO.findall(" ".join(conv.say("确认")))
    assert first, conv.log()
    assert set(second) <= set(first), f"a second ticket number\n{conv.log()}"
    ticket = conv.only_ticket()
    assert ticket["id"] == first[0]
    assert tickets_in_redis(redis_client, conv.sender) == [ticket["id"]]


def test_confirmation_sent_twice_at_once_creates_one_ticket(bot, redis_client) -> None:
    conv = settle_up_to_the_confirmation(bot, "double-click")
    replies: dict[int, list[str]] = {}

    def confirm(i: int) -> None:
        replies[i] = bot.say(conv.sender, "确认")

    threads = [threading.Thread(target=confirm, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(replies) == 2, f"a confirmation was not answered: {replies}"
    numbers = {n for r in replies.values() for n in TICKET_NO.findall(" ".join(r))}
    assert len(numbers) == 1, replies
    ticket = conv.only_ticket()
    assert numbers == {ticket["id"]}
    assert tickets_in_redis(redis_client, conv.sender) == [ticket["id"]]


def test_repeated_confirmation_is_not_treated_as_a_misunderstanding(bot) -> None:
    conv = settle_up_to_the_confirmation(bot, "confirm-again")
    conv.say("确认")
    again = conv.say("确认")
    assert again, conv.log()
    assert not any(APOLOGY.search(r) for r in again), conv.log()
    assert not any("没太明白" in r or "遇到了什么问题" in r for r in again), conv.log()


# =============================================================================================
# 6. Reading real customers: cause, one type per case, restatements, wishes, no loops
# =============================================================================================


def settle_with(conv: Conversation, replies: list[str], choose_label: str) -> dict[str, Any]:
    """Picks the option whose label contains ``choose_label``, confirms, returns the ticket."""
    options = options_in(replies)
    conv.say(str(number_of(options, choose_label)))
    done = conv.say("确认")
    assert TICKET_NO.search(" ".join(done)), conv.log()
    return conv.only_ticket()


def test_seed_rake_and_shovel_is_a_wrong_item_exchanged_at_the_sellers_cost(bot) -> None:
    conv = Conversation(bot, tag="seed-rake")
    first = conv.say("你们怎么回事？我明明拍的是小耙子，怎么寄过来是铲子？铲子我不需要！你现在怎么给我处理？")
    assert "小耙子" in first[0] and "铲子" in first[0] and "发错货" in first[0], first
    assert "服务" not in first[0] and "怎么给您处理" not in first[0], first
    replies = answer_until_options(conv, first, {"desired": "换货"})
    exchange = [d for _, label, d in options_in(replies) if label == "换货"]
    assert exchange and "来回运费我们承担" in exchange[0], conv.log()
    ticket = settle_with(conv, replies, "换货")
    assert (ticket["type"], ticket["cause"]) == ("product", "wrong_item"), ticket


def test_seed_wrong_courier_offers_the_refund_first(bot) -> None:
    conv = Conversation(bot, tag="seed-courier")
    first = conv.say("我明明要求发圆通，你们为什么还是发的天天？我都说了天天寄不到我们这，我要退款！")
    assert "圆通" in first[0] and "天天" in first[0], first
    replies = answer_until_options(conv, first, {})
    options = options_in(replies)
    assert options[0][1] == "退款" and any("指定快递" in label for _, label, _ in options), options
    ticket = settle_with(conv, replies, "退款")
    assert (ticket["type"], ticket["cause"]) == ("logistics", "wrong_courier"), ticket


def test_a_later_threat_raises_the_urgency_and_keeps_the_type(bot) -> None:
    conv = Conversation(bot, tag="threat")
    conv.say("快递五天了还没到，物流一直不更新")
    replies = conv.say("再不处理我就打12315投诉，还要找记者曝光你们")
    assert not any("服务的不满" in r for r in replies), conv.log()
    case = assert_handed_over(conv, replies, reason="urgency", priority="P2")
    assert case["summary"]["type"] == "logistics" and case["summary"]["urgency"] == "media_legal", case["summary"]


def test_a_wish_with_a_time_is_an_answer_and_orders_the_options(bot) -> None:
    conv = Conversation(bot, tag="printer")
    first = conv.say("打印机用了两天就卡纸，一张都打不出来")
    replies = answer_until_options(conv, first, {"desired": "明天上午之前能用上"})
    assert any("最快" in r for r in replies), conv.log()
    options = options_in(replies)
    assert options[0][1] == "维修", options
    assert sum("怎么处理" in r for r in conv.bot_texts) == 1, f"the wish was asked again\n{conv.log()}"


def test_two_answers_beside_the_question_go_to_a_human(bot) -> None:
    conv = Conversation(bot, tag="asides")
    replies = conv.script("耳机左边没声音", "对")
    assert "订单号" in replies[-1], conv.log()
    conv.say("你们店在哪个城市")
    replies = conv.say("今天天气怎么样")
    assert_handed_over(conv, replies, reason="misunderstood")


def test_an_order_number_read_aloud_is_understood(bot) -> None:
    conv = Conversation(bot, tag="spoken")
    conv.script("快递一个礼拜了还没到", "对")
    replies = conv.say("订单号是二零二六一一二九零零四四七七一二")
    assert not any("订单号" in r for r in replies), f"asked again\n{conv.log()}"
    replies = answer_until_options(conv, replies, {"desired": "催一下吧"})
    ticket = settle_with(conv, replies, "催")
    assert ticket["order_id"] == "2026112900447712", ticket


def test_three_problems_in_one_message_keep_a_secondary_type(bot) -> None:
    conv = Conversation(bot, tag="three")
    first = conv.say("包裹晚了整整一周才到，打开发现两个玻璃杯都碎了，找客服也一直没人回")
    replies = answer_until_options(conv, first, {"desired": "补发吧"})
    ticket = settle_with(conv, replies, "补发")
    assert ticket["type"] == "logistics" and ticket["secondary_type"] in ("product", "service"), ticket


def test_changing_mind_before_confirming_changes_the_choice(bot) -> None:
    conv = Conversation(bot, tag="mind")
    first = conv.say("买的蓝牙耳机左边没声音")
    replies = answer_until_options(conv, first, {"desired": "退货退款"})
    conv.say(str(number_of(options_in(replies), "退货退款")))
    replies = conv.say("等等，不退了，换个新的吧")
    assert any(r.startswith("确认一下：换货") for r in replies), conv.log()
    done = conv.say("确认")
    assert TICKET_NO.search(" ".join(done)), conv.log()
    assert conv.only_ticket()["chosen_option"]["label"] == "换货"


def test_a_burn_at_the_end_of_a_long_rant_is_urgent(bot) -> None:
    rant = "快递从下单到现在已经过去整整九天了，物流信息一直停在中转站，客服每次都说再等等，" * 30
    replies = Conversation(bot, tag="rant").say(rant + "孩子用这个暖手宝，手被烫伤起了水泡")
    assert len(rant) > 1000
    assert any("就医" in r or "安全" in r for r in replies), replies


@pytest.mark.parametrize(
    ("question", "answer_word"),
    [
        ("你好 请问能开发票吗 公司报销要用", "发票"),
        ("孕妇能用这个洗发水吗", "孕妇"),
        ("还没发货的话地址能改吗", "地址"),
    ],
)
def test_everyday_questions_get_an_answer_not_a_complaint_form(bot, question: str, answer_word: str) -> None:
    conv = Conversation(bot, tag="consult")
    replies = conv.say(question)
    text = " ".join(replies)
    assert answer_word in text and not APOLOGY.search(text) and "对吗" not in text, conv.log()
    assert conv.tickets() == [] and conv.handoff() is None
