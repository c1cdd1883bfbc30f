"""The promise reader (bot/language/promises.py) on the bot's real messages and on agents' own words.

Every response of domain.yml, every option description of policy/options.yml (as the ticket message,
the options menu, the agreement question and the progress message write it) and every bot line of
docs/transcripts/*.md is read; the tables below are what the promise ledger would record.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.language.promises import PromiseMention, add_working_days, find_promises, small_number
from bot.policy.sla import format_deadline

ROOT = Path(__file__).resolve().parents[2]
SH = ZoneInfo("Asia/Shanghai")
SAID = datetime(2026, 11, 30, 10, 2, 5, tzinfo=SH)
"""A Monday; the transcripts were recorded then (ticket numbers TS20261130…, handoffs 今天12:02前)."""
FRIDAY = datetime(2026, 11, 27, 14, 30, tzinfo=SH)


def local(due: float) -> str:
    return f"{datetime.fromtimestamp(due, SH):%Y-%m-%d %H:%M}"


def reading(mentions: list[PromiseMention]) -> list[tuple[str, str, bool]]:
    return [(m.kind, local(m.due), m.conditional) for m in mentions]


def read(text: str, said: datetime = SAID) -> list[tuple[str, str, bool]]:
    return reading(find_promises(text, said.timestamp()))


# --- the domain's responses -------------------------------------------------------------------
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
OPTIONS = yaml.safe_load((ROOT / "policy" / "options.yml").read_text(encoding="utf-8"))
EXCHANGE = "质量问题换货的来回运费由我们承担，收到您寄回的商品后48小时内给您发出新的。"


def deadline(hours: float) -> str:
    """How the bot writes a deadline ``hours`` from SAID (bot.policy.sla.format_deadline)."""
    return format_deadline(SAID.timestamp() + hours * 3600, now=SAID.timestamp(), tz="Asia/Shanghai")


def minute_after(hours: float) -> str:
    """The deadline the customer reads: rounded up to the minute, as format_deadline does."""
    return local(math.ceil((SAID.timestamp() + hours * 3600) / 60) * 60)


def opened_steps(description: str, hours: float) -> str:
    """``next_steps`` of utter_ticket_opened (actions/tickets.py ``next_steps``)."""
    return f"{description.rstrip('。')}（{deadline(hours)}完成）。"


VALUES: dict[str, Any] = {
    "problem": "收到的电饭煲煮饭夹生，商品有质量问题",
    "first": "快递五天了还没到，配送太慢了",
    "options": f"1. 换货：{EXCHANGE}\n2. 人工复核：人工客服复核您的全部情况，24小时内给您答复。",
    "amount": "3000",
    "agreement": f"换货——{EXCHANGE.rstrip('。')}",
    "ticket_id": "TS202611300001",
    "next_steps": opened_steps(EXCHANGE, 48),
    "followup": deadline(24),
    "approver": "经理",
    "deadline": deadline(2),
    "type_label": "商品问题",
    "hours": "24",
    "status": "处理中",
    "who": "客服专员",
}
RESTATED = {"next_steps": f"方案：换货，{EXCHANGE}"}  # bot.store.tickets.describe
PER_RESPONSE = {"utter_answer_timing_ticket": RESTATED, "utter_progress_update": RESTATED}

PROMISING_RESPONSES = {
    "utter_ticket_opened": [("action", "2026-12-02 10:03", True), ("contact", "2026-12-01 10:03", False)],
    "utter_ticket_pending_approval": [("contact", "2026-11-30 12:03", False)],
    "utter_answer_timing_handoff": [("contact", "2026-11-30 12:03", False)],
    "utter_handoff": [("contact", "2026-11-30 12:03", False)],
    "utter_escalated": [("contact", "2026-11-30 12:03", False)],
    "utter_ack_malicious": [("contact", "2026-12-01 10:02", False)],  # "24小时内核实并答复您"
}
"""The responses that promise something by a time; every other response promises nothing with a time
(utter_answer_timing_before's "一般在24小时内" is a generality; the options menu, the agreement question
and the restated option in status and progress messages are not new promises)."""

RESPONSES = [(name, i) for name, variations in DOMAIN["responses"].items() for i in range(len(variations))]


@pytest.mark.parametrize(("name", "variation"), RESPONSES)
def test_every_domain_response(name: str, variation: int) -> None:
    template = DOMAIN["responses"][name][variation]["text"]
    text = template.format(**{**VALUES, **PER_RESPONSE.get(name, {})})
    assert read(text) == PROMISING_RESPONSES.get(name, [])


def test_the_figures_of_the_domain() -> None:
    assert len(RESPONSES) == 87 and len(PROMISING_RESPONSES) == 6


# --- every option description, in each message that carries it --------------------------------
CONTACT_OPTIONS = {
    "repair", "safety_costs", "quality_inspection", "usage_help", "chase_courier", "callback",
    "supervisor_review", "platform_process", "verify_evidence", "human_review",
}  # fmt: skip
CONDITIONAL_OPTIONS = {
    "return_wrong_item", "return_refund", "return_refund_no_reason", "refund_without_return", "exchange",
    "exchange_no_reason", "policy_return", "demanded_compensation",
}  # fmt: skip
"""Options whose description makes the promise depend on something first ("收到退货后", "核实后");
the approval variant of demanded_compensation ("需经理审批，N小时内审批并…") does not."""


def _descriptions() -> list[tuple[str, str, float, str]]:
    specs = [spec for group in OPTIONS["options"].values() for spec in group]
    specs += [OPTIONS["demanded_compensation"], OPTIONS["human_review"]]
    found = []
    for spec in specs:
        templates = [("plain", spec["description"], float(spec["by_when_hours"]))]
        if "description_with_approval" in spec:
            templates.append(("approval", spec["description_with_approval"], float(spec["by_when_hours"]) + 24))
        for variant, template, hours in templates:
            text = template.format(
                hours=f"{hours:g}", by_when=spec.get("by_when", ""), amount="20", approver="经理", window_days=7
            )
            found.append((f"{spec['id']}/{variant}", spec["label"], hours, text))
    return found


DESCRIPTIONS = _descriptions()


@pytest.mark.parametrize(("option", "label", "hours", "description"), DESCRIPTIONS, ids=[d[0] for d in DESCRIPTIONS])
def test_every_option_once_the_ticket_is_opened(option: str, label: str, hours: float, description: str) -> None:
    template = DOMAIN["responses"]["utter_ticket_opened"][0]["text"]
    text = template.format(**{**VALUES, "next_steps": opened_steps(description, hours)})
    kind = "contact" if option.split("/")[0] in CONTACT_OPTIONS else "action"
    conditional = option in {f"{o}/plain" for o in CONDITIONAL_OPTIONS}
    assert read(text) == [(kind, minute_after(hours), conditional), ("contact", minute_after(24), False)]


@pytest.mark.parametrize(("option", "label", "hours", "description"), DESCRIPTIONS, ids=[d[0] for d in DESCRIPTIONS])
def test_an_option_offered_agreed_or_restated_is_no_new_promise(
    option: str, label: str, hours: float, description: str
) -> None:
    responses = DOMAIN["responses"]
    menu = f"1. {label}：{description}\n2. 人工复核：人工客服复核您的全部情况，24小时内给您答复。"
    for name in ("utter_offer_options", "utter_offer_options_fast", "utter_offer_options_again"):
        assert read(responses[name][0]["text"].format(options=menu)) == []
    agreement = f"{label}——{description.rstrip('。')}"
    assert read(responses["utter_ask_agreement"][0]["text"].format(agreement=agreement)) == []
    restated = {**VALUES, "next_steps": f"方案：{label}，{description}"}
    assert read(responses["utter_progress_update"][0]["text"].format(**restated)) == []


def test_the_promise_keeps_its_sentence_and_the_deadline_the_customer_read() -> None:
    text = DOMAIN["responses"]["utter_ticket_opened"][0]["text"].format(**VALUES)
    first, second = find_promises(text, SAID.timestamp())
    assert first.text == "质量问题换货的来回运费由我们承担，收到您寄回的商品后48小时内给您发出新的（后天10:03前完成）"
    assert first.when == "48小时内（后天10:03前）" and first.conditional
    assert second.text == "明天10:03前我会把进展发给您" and second.when == "明天10:03前"


# --- the transcripts --------------------------------------------------------------------------
def bot_lines(path: Path) -> list[str]:
    """The bot's messages of a transcript (``> **机器人:** …`` and its continuation lines, no buttons)."""
    messages: list[str] = []
    current: list[str] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("> **机器人:** "):
            if current is not None:
                messages.append("\n".join(current))
            current = [line.removeprefix("> **机器人:** ")]
        elif current is not None:
            if not line.strip() or line.startswith(("**", "<sub>")):
                messages.append("\n".join(current))
                current = None
            elif not line.startswith("> - ["):
                current.append(line.removeprefix("> "))
    if current is not None:
        messages.append("\n".join(current))
    return messages


HANDOFF_2H = [("contact", "今天12:02前", False)]
SAFETY = [("contact", "今天10:17前", False)]
SENIOR = [("contact", "今天10:32前", False)]
PROGRESS = ("contact", "明天10:02前", False)
TRANSCRIPTS: dict[str, list[tuple[str, str, bool]]] = {
    "amount_written_2qian": HANDOFF_2H,
    "baby_vomited": SAFETY,
    "bad_input": [],
    "big_compensation": [("contact", "12月5日10:02前", False), *HANDOFF_2H],
    "changing_mind": [("action", "48小时内（后天10:02前）", True), PROGRESS],
    "changing_mind_before_confirming": [("action", "48小时内（后天10:02前）", True), PROGRESS],
    "demand_without_price": [],
    "dispute_and_human_review": HANDOFF_2H,
    "human_asked": HANDOFF_2H,
    "logistics_two_answers_at_once": [("action", "24小时内（明天10:02前）", False), PROGRESS],
    "long_rant_ending_in_a_burn": SAFETY,
    "malicious_threat": [("contact", "24小时内", False), ("contact", "48小时内（后天10:02前）", False), PROGRESS],
    "media_legal_12315": SENIOR,
    "misunderstood_twice": HANDOFF_2H,
    "negated_injury": [],
    "not_a_complaint_invoice": [],
    "off_topic_in_the_form": [],
    "order_number_read_aloud": [("contact", "12小时内（今天22:02前）", False), PROGRESS],
    "phone_call_style": [],
    "power_strip_caught_fire": SAFETY,
    "printer_needed_by_tomorrow": [("contact", "24小时内（明天10:02前）", False), PROGRESS],
    "product_three_phases": [("action", "48小时内（后天10:02前）", True), PROGRESS],
    "safety_child_diarrhoea": SAFETY,
    "seed_are_you_there": [("contact", "24小时内（明天10:02前）", False), PROGRESS],
    "seed_rake_sent_a_shovel": [("action", "48小时内（后天10:02前）", False), PROGRESS],
    "seed_yuantong_asked_tiantian_sent": [("action", "24小时内（明天10:02前）", False), PROGRESS],
    "service_no_order_number": [("contact", "24小时内（明天10:02前）", False), PROGRESS],
    "threat_keeps_the_type": SENIOR,
    "three_problems_in_one_message": [("action", "24小时内（明天10:02前）", False), PROGRESS],
    "traditional_input": [],
    "traditional_taiwan_hongkong": [("contact", "今天11:02前", False)],
    "urgency_later_in_the_form": SAFETY,
    "wechat_emoticon_code": [("action", "24小时内（明天10:02前）", False), PROGRESS],
    "wrong_colour_sent": [("action", "48小时内（后天10:02前）", False), PROGRESS],
}
"""What the ledger would record from each transcript: (kind, the time as written, conditional). The
transcripts were replayed at about 10:02 on 2026-11-30; re-recorded transcripts move these times."""

TRANSCRIPT_FILES = sorted((ROOT / "docs" / "transcripts").glob("*.md"))


def test_every_transcript_has_its_expectation() -> None:
    assert sorted(p.stem for p in TRANSCRIPT_FILES) == sorted(TRANSCRIPTS)


def clock_free(when: str) -> str:
    """A time as written with its clock and date blanked: ``make transcripts`` re-records the
    transcripts at another hour, and the clock times in them move with it."""
    return re.sub(r"\d{1,2}:\d{2}", "HH:MM", re.sub(r"\d{1,2}月\d{1,2}日", "M月D日", when))


@pytest.mark.parametrize("path", TRANSCRIPT_FILES, ids=[p.stem for p in TRANSCRIPT_FILES])
def test_what_the_ledger_records_from_each_transcript(path: Path) -> None:
    mentions = [m for line in bot_lines(path) for m in find_promises(line, SAID.timestamp())]
    found = [(m.kind, clock_free(m.when), m.conditional) for m in mentions]
    assert found == [(kind, clock_free(when), conditional) for kind, when, conditional in TRANSCRIPTS[path.stem]]
    for mention in mentions:  # every deadline lies ahead, and an annotation's time is the due
        assert SAID.timestamp() < mention.due <= SAID.timestamp() + 6 * 86400  # HQ approval: 5 days + the hour


def test_the_figures_of_the_transcripts() -> None:
    lines = [line for path in TRANSCRIPT_FILES for line in bot_lines(path)]
    promising = [line for line in lines if find_promises(line, SAID.timestamp())]
    assert (len(TRANSCRIPT_FILES), len(lines), len(promising)) == (
        34,
        171,
        29,
    )  # 14 ticket messages give two promises each
    assert sum(len(v) for v in TRANSCRIPTS.values()) == 43


def test_a_handoff_line_reads_whole() -> None:
    line = (
        "已为您转接安全应急专员，今天10:17前会联系您（工单号 TS202611300020）。这期间您发的消息都会转给安全应急专员。"
    )
    (mention,) = find_promises(line, SAID.timestamp())
    assert mention.text == "已为您转接安全应急专员，今天10:17前会联系您（工单号 TS202611300020）"
    assert (mention.kind, local(mention.due)) == ("contact", "2026-11-30 10:17")


# --- agents' own words ------------------------------------------------------------------------
AGENT_SENTENCES = [
    ("我这边明天上午十点前给您回电话", FRIDAY, [("contact", "2026-11-28 10:00", False)]),
    ("今天下班前给您答复", FRIDAY, [("contact", "2026-11-27 18:00", False)]),
    ("退款3个工作日内到账", FRIDAY, [("action", "2026-12-02 14:30", False)]),  # Sat, Sun skipped
    ("我马上帮您催一下快递，两小时内回复您", FRIDAY, [("contact", "2026-11-27 16:30", False)]),
    ("二十四小时内给您补发", FRIDAY, [("action", "2026-11-28 14:30", False)]),
    ("十点前给您回复", FRIDAY, [("contact", "2026-11-27 22:00", False)]),  # the next 十点 after 14:30
    ("十点前给您回复", datetime(2026, 11, 27, 8, 0, tzinfo=SH), [("contact", "2026-11-27 10:00", False)]),
    ("10:00前给您回复", datetime(2026, 11, 27, 23, 0, tzinfo=SH), [("contact", "2026-11-28 10:00", False)]),
    ("3点前给您回个电话", FRIDAY, [("contact", "2026-11-27 15:00", False)]),
    ("明早给您答复", FRIDAY, [("contact", "2026-11-28 12:00", False)]),
    ("今晚给您回电", FRIDAY, [("contact", "2026-11-27 23:59", False)]),
    ("明天下午给您回电", FRIDAY, [("contact", "2026-11-28 18:00", False)]),
    ("后天下午三点前上门取件", FRIDAY, [("action", "2026-11-29 15:00", False)]),
    ("明天3点前师傅上门", FRIDAY, [("action", "2026-11-28 15:00", False)]),
    ("12月3日前退款到账", FRIDAY, [("action", "2026-12-03 23:59", False)]),
    ("1月5日前给您寄出", FRIDAY, [("action", "2027-01-05 23:59", False)]),
    ("周五前给您发出", FRIDAY, [("action", "2026-11-27 23:59", False)]),
    ("下周一前给您发出", FRIDAY, [("action", "2026-11-30 23:59", False)]),
    ("本周内给您处理完", FRIDAY, [("action", "2026-11-29 23:59", False)]),
    ("30分钟内专员联系您", FRIDAY, [("contact", "2026-11-27 15:00", False)]),
    ("一两天内给您寄出", FRIDAY, [("action", "2026-11-29 14:30", False)]),
    ("3-5个工作日内原路退回", FRIDAY, [("action", "2026-12-04 14:30", False)]),
    ("今天内给您处理完", FRIDAY, [("action", "2026-11-27 23:59", False)]),
    ("下午3点半前给您回个电话", FRIDAY, [("contact", "2026-11-27 15:30", False)]),
    ("24h内给您答复", FRIDAY, [("contact", "2026-11-28 14:30", False)]),
    ("半小时内给您回复", FRIDAY, [("contact", "2026-11-27 15:00", False)]),
    ("一个半小时内给您回电", FRIDAY, [("contact", "2026-11-27 16:00", False)]),
    ("师傅2小时后给您打电话", FRIDAY, [("contact", "2026-11-27 16:30", False)]),
    ("明天上午十点前，我们给您回电", FRIDAY, [("contact", "2026-11-28 10:00", False)]),
    ("好的，我联系一下仓库，今天18:00前给您结果", FRIDAY, [("contact", "2026-11-27 18:00", False)]),
    ("我们马上联系快递，明天中午前给您补发", FRIDAY, [("action", "2026-11-28 14:00", False)]),
    ("已经给您退款了，预计1-3个工作日到账", FRIDAY, [("action", "2026-12-02 14:30", False)]),
    ("审批通过后24小时内到账", FRIDAY, [("action", "2026-11-28 14:30", True)]),
    ("如果今天仓库有货，今天17:00前给您发出", FRIDAY, [("action", "2026-11-27 17:00", True)]),
    ("不会超过明天中午，退款就到账", FRIDAY, [("action", "2026-11-28 14:00", False)]),
    ("快递员明天上门取件", FRIDAY, [("action", "2026-11-28 23:59", False)]),
    ("我們明天會聯繫您", FRIDAY, [("contact", "2026-11-28 23:59", False)]),  # Traditional
    ("２４小时内给您答复", FRIDAY, [("contact", "2026-11-28 14:30", False)]),  # full-width digits
    ("明天10：30前给您回电", FRIDAY, [("contact", "2026-11-28 10:30", False)]),
    ("亲，我们会在48小时之内为您安排补发哦~", FRIDAY, [("action", "2026-11-29 14:30", False)]),
    ("这边给您登记了，工作人员会在1-2个工作日内联系您", FRIDAY, [("contact", "2026-12-01 14:30", False)]),
    ("最迟后天给您发货", FRIDAY, [("action", "2026-11-29 23:59", False)]),
    ("预计下周三前送达", FRIDAY, [("action", "2026-12-02 23:59", False)]),
    ("我们明天这个时候再联系您", FRIDAY, [("contact", "2026-11-28 14:30", False)]),
    ("客服会在10分钟内接入", FRIDAY, [("contact", "2026-11-27 14:40", False)]),
    ("款项将在1至3个工作日内退回您的支付账户", FRIDAY, [("action", "2026-12-02 14:30", False)]),
    # the customer's condition is no promise; what we do after it is a conditional one
    ("如果您今天18:00前寄出，我们明天就能给您发出新的", FRIDAY, [("action", "2026-11-28 23:59", True)]),
    (
        "今天下午先给您回电话，明天10点前把退款办好",
        FRIDAY,
        [("contact", "2026-11-27 18:00", False), ("action", "2026-11-28 10:00", False)],
    ),
    (
        "您好，我是客服小王。已经帮您申请了加急，明天中午12点前仓库发出。今天下班前我再给您回个电话。",
        FRIDAY,
        [("action", "2026-11-28 12:00", False), ("contact", "2026-11-27 18:00", False)],
    ),
]


@pytest.mark.parametrize(("text", "said", "expected"), AGENT_SENTENCES, ids=[a[0] for a in AGENT_SENTENCES])
def test_agents_own_sentences(text: str, said: datetime, expected: list[tuple[str, str, bool]]) -> None:
    assert read(text, said) == expected


NOT_PROMISES = [
    "我们不会在今天联系您",
    "我们无法在今天之内给您退款",
    "您希望几点联系您？",
    "明天上午10点给您回电可以吗？",
    "明天上午10点给您回电，您看行吗",
    "稍后给您回电",
    "我们会尽快处理",
    "您好，退款已于今天10点原路退回",
    "三天前已经给您发过货了",
    "签收7天内可以换",
    "请您在24小时内寄回商品",
    "发票一般在24小时内开好",
    "活动到明天10点结束",
    "我们早一点给您发货",
    "这两点请您注意",
    "您是今天10点下的单吧",
    "今天上午10点前给您回复",  # said at 14:30: already past
    "您已经等了48小时了，非常抱歉",
    "超过24小时未回复的可以投诉",
    "支持7天无理由退货",
    "下班后师傅会联系您",
    "",
    "   ",
]


@pytest.mark.parametrize("text", NOT_PROMISES)
def test_what_is_not_a_promise(text: str) -> None:
    assert read(text, FRIDAY) == []


def test_the_time_zone_is_the_customers() -> None:
    text = "明天上午十点前给您回电话"
    berlin = find_promises(text, FRIDAY.timestamp(), tz="Europe/Berlin")[0]
    shanghai = find_promises(text, FRIDAY.timestamp())[0]
    assert datetime.fromtimestamp(berlin.due, ZoneInfo("Europe/Berlin")).hour == 10
    assert shanghai.due - berlin.due == -7 * 3600  # Shanghai is 7 hours ahead of Berlin in November


@pytest.mark.parametrize(
    ("raw", "value"),
    [("24", 24), ("二十四", 24), ("两", 2), ("十", 10), ("十二", 12), ("一百二十", 120), ("一百零五", 105),
     ("一两", 2), ("两三", 3), ("四十八", 48), ("半", None), ("", None)],
)  # fmt: skip
def test_small_numbers(raw: str, value: int | None) -> None:
    assert small_number(raw) == value


def test_working_days_skip_the_weekend() -> None:
    saturday = datetime(2026, 11, 28, 10, 0, tzinfo=SH)
    assert add_working_days(FRIDAY, 1).date().isoformat() == "2026-11-30"
    assert add_working_days(saturday, 1).date().isoformat() == "2026-11-30"
    assert add_working_days(saturday, 5).date().isoformat() == "2026-12-04"
