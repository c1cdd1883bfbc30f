"""The house rules (质检) every conversation is checked against (SPEC.md sections 4 and 5).

:func:`check_conversation` reads one conversation's Rasa tracker events (the dicts
``bot/rasa_ext/tracker_store.py`` stores) with its handoff case and tickets, and judges eight rules.
Each rule gives ``passed`` True or False, or None when it does not apply (or cannot be judged yet),
and on failure the turn that broke it and a short Chinese explanation for the quality screens.

The turns are what a person reads: one per customer message, one per run of consecutive messages
of the bot (or of one agent). A run ends at the next customer message, at an event that is not the
customer's (below) and at ``action_listen`` (the bot's turn is over: a progress message sent by the
timer hours later is a turn of its own). Who is the customer is decided as ``bot/services/delivery.transcript``
decides it: a user event whose intent starts with ``EXTERNAL_`` (an agent's or the timer's event) or
whose text starts with "/" (an intent command; channels escape a customer's own "/" to "／") is not.

The rules read the bot's own words with word lists (what an apology, a question, a promise, a time,
a money offer looks like in this shop's Chinese), tuned on the real conversations in
``docs/transcripts/`` (``tests/quality/`` replays every one of them). Every list matches a kind of
expression, not one reply of ``domain.yml``, so a reply reworded by the shop is still judged.

Texts the caller vouches for (``exempt_texts``: the ``utter_urgency_*`` safety notes of the domain,
:func:`exempt_texts_from_domain`) are not counted as apologies, questions or promises: each is said
right before the handoff message that names who takes over and by when.
"""

from __future__ import annotations

import datetime as _dt
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.language.replies import read_agreement

RULES: tuple[tuple[str, str], ...] = (
    ("apology_once", "道歉一次且只在开头"),
    ("restate_first", "先复述再提问"),
    ("one_question", "每轮只问一个问题"),
    ("options_with_time", "至少两个方案且各有时限"),
    ("ticket_after_confirm", "客户确认后才建单"),
    ("promise_has_time", "承诺必有时限"),
    ("malicious_no_money", "恶意投诉不给钱"),
    ("urgent_in_tier", "紧急个案在时限内转人工"),
)
"""Every rule as (id, Chinese title for screens), in the order reports list them."""

TITLES: dict[str, str] = dict(RULES)

DOMAIN_FILE = Path(__file__).resolve().parents[2] / "domain.yml"

CUSTOMER = "customer"
BOT = "bot"
AGENT_PREFIX = "agent:"

TICKET_ID = re.compile(r"TS\d{12,}")
"""A ticket number as the customer sees it (``TS`` + date + daily sequence, bot/store/tickets.py)."""

_SHOWN = 40  # characters of an offending sentence quoted in an explanation


# ---------------------------------------------------------------------------------------------
# The report


@dataclass
class RuleResult:
    """One rule's verdict on one conversation.

    Attributes:
        rule: The rule id (a key of :data:`RULES`).
        title: Its Chinese title.
        passed: True, False, or None when the rule does not apply or cannot be judged yet.
        turn: On failure, the index into :attr:`QualityReport.turns` of the turn that broke it
            (None when no single turn did, e.g. an urgent case nobody claimed).
        detail: A short Chinese explanation (also given when the rule passed or did not apply).
    """

    rule: str
    title: str
    passed: bool | None
    turn: int | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"rule": self.rule, "title": self.title, "passed": self.passed, "turn": self.turn, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleResult:
        """The inverse of :meth:`to_dict`.

        Raises:
            ValueError: ``rule`` is missing.
        """
        if not data.get("rule"):
            raise ValueError("a rule result needs its rule id")
        rule = str(data["rule"])
        passed = data.get("passed")
        turn = data.get("turn")
        return cls(
            rule=rule,
            title=str(data.get("title") or TITLES.get(rule, rule)),
            passed=None if passed is None else bool(passed),
            turn=None if turn is None else int(turn),
            detail=str(data.get("detail") or ""),
        )


@dataclass
class QualityReport:
    """One conversation checked against every rule of :data:`RULES`.

    Attributes:
        sender_id: The conversation (Rasa sender id).
        checked_at: When it was checked (epoch seconds, the ``now`` of the check).
        turns: ``{"from", "texts", "at"}`` per turn: ``from`` is ``customer``, ``bot`` or
            ``agent:<name>``; ``texts`` the messages of the turn; ``at`` the first one's time
            (epoch seconds or None).
        results: One :class:`RuleResult` per rule, in the order of :data:`RULES`.
    """

    sender_id: str
    checked_at: float
    turns: list[dict[str, Any]] = field(default_factory=list)
    results: list[RuleResult] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        """Ids of the rules that failed, in the order of :data:`RULES`."""
        return [r.rule for r in self.results if r.passed is False]

    @property
    def passed_all(self) -> bool:
        """True when no rule failed (rules that do not apply or are pending do not fail)."""
        return not self.failed

    def result(self, rule: str) -> RuleResult:
        """The result of ``rule``.

        Raises:
            KeyError: the report has no result for that rule.
        """
        for found in self.results:
            if found.rule == rule:
                return found
        raise KeyError(rule)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, with ``failed`` and ``passed_all`` spelt out for readers."""
        return {
            "sender_id": self.sender_id,
            "checked_at": self.checked_at,
            "turns": [dict(t) for t in self.turns],
            "results": [r.to_dict() for r in self.results],
            "failed": self.failed,
            "passed_all": self.passed_all,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QualityReport:
        """The inverse of :meth:`to_dict` (``failed`` and ``passed_all`` are recomputed).

        Raises:
            ValueError: ``sender_id`` or ``checked_at`` is missing, or a result has no rule.
        """
        if "sender_id" not in data or data.get("checked_at") is None:
            raise ValueError("a quality report needs sender_id and checked_at")
        return cls(
            sender_id=str(data["sender_id"]),
            checked_at=float(data["checked_at"]),
            turns=[dict(t) for t in data.get("turns") or []],
            results=[RuleResult.from_dict(r) for r in data.get("results") or []],
        )


# ---------------------------------------------------------------------------------------------
# Reading the events


@dataclass(frozen=True)
class _Message:
    turn: int
    side: str  # customer, bot, agent
    author: str  # customer, bot, agent:<name>
    text: str  # as sent
    norm: str  # NFKC: half-width digits, colons, question marks
    intent: str = ""
    utter_action: str = ""
    action: str = ""  # the last action executed before a bot message (the one that sent it)
    exempt: bool = False


@dataclass
class _Turn:
    index: int
    author: str
    side: str
    at: float | None
    messages: list[_Message] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.author, "texts": [m.text for m in self.messages], "at": self.at}


@dataclass(frozen=True)
class _Slot:
    name: str
    value: Any
    customer_turn: int | None  # the latest customer turn when the slot was set


@dataclass
class _Conversation:
    turns: list[_Turn]
    slots: list[_Slot]
    case: Mapping[str, Any] | None
    tickets: list[Mapping[str, Any]]
    now: float

    def messages(self, *sides: str) -> list[_Message]:
        return [m for t in self.turns if t.side in sides for m in t.messages]

    def slot_values(self, name: str) -> list[Any]:
        return [s.value for s in self.slots if s.name == name and s.value not in (None, "")]


_CIRCLED = re.compile("[\u2460-\u2473]")  # ① .. ⑳, which NFKC would turn into bare digits


def _norm(text: str) -> str:
    """Half-width digits and punctuation (NFKC); a circled number becomes "1." as it lists options."""
    text = _CIRCLED.sub(lambda m: f"{ord(m.group()) - 0x2460 + 1}.", text or "")
    return unicodedata.normalize("NFKC", text)


def _time(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _read(events: Iterable[Mapping[str, Any]], exempt: frozenset[str]) -> tuple[list[_Turn], list[_Slot]]:
    turns: list[_Turn] = []
    slots: list[_Slot] = []
    last_customer: int | None = None
    last_action = ""
    run_open = False  # the latest turn may take the next bot message of the same author
    for event in events:
        kind = event.get("event")
        if kind == "user":
            text = str(event.get("text") or "")
            intent = str(((event.get("parse_data") or {}).get("intent") or {}).get("name") or "")
            run_open = False
            if intent.startswith("EXTERNAL_") or text.startswith("/"):
                continue  # an agent's or the timer's event, or an intent command: not the customer
            turn = _Turn(len(turns), CUSTOMER, CUSTOMER, _time(event.get("timestamp")))
            turn.messages.append(_Message(turn.index, CUSTOMER, CUSTOMER, text, _norm(text), intent=intent))
            turns.append(turn)
            last_customer = turn.index
        elif kind == "bot":
            text = str(event.get("text") or "")
            if not text.strip():
                continue  # an image or buttons only: nothing said
            metadata = event.get("metadata") or {}
            author = str(metadata.get("author") or BOT)
            side = "agent" if author.startswith(AGENT_PREFIX) else BOT
            if not run_open or turns[-1].author != author:
                turns.append(_Turn(len(turns), author, side, _time(event.get("timestamp"))))
                run_open = True
            turn = turns[-1]
            turn.messages.append(
                _Message(
                    turn.index,
                    side,
                    author,
                    text,
                    _norm(text),
                    utter_action=str(metadata.get("utter_action") or ""),
                    action=last_action,
                    exempt=side == BOT and text.strip() in exempt,
                )
            )
        elif kind == "action":
            last_action = str(event.get("name") or "")
            if last_action == "action_listen":
                run_open = False  # the bot's turn is over; a later message (a timer's, say) is a new one
        elif kind == "slot":
            slots.append(_Slot(str(event.get("name") or ""), event.get("value"), last_customer))
    return turns, slots


def build_turns(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The conversation's turns as a report carries them (see :attr:`QualityReport.turns`).

    Args:
        events: The tracker events as stored (``{"event": "user" | "bot" | ..., ...}`` dicts).
    """
    return [t.to_dict() for t in _read(events, frozenset())[0]]


# ---------------------------------------------------------------------------------------------
# The words: sentences, questions, apologies, restatements, times, promises, money offers

# Quoted text ("回复“确认”", "可以说“转人工”") is the customer's words to use, not the bot's own.
_QUOTED = re.compile(r"“[^“”]*”|「[^「」]*」|『[^『』]*』|\"[^\"]*\"")
_SENTENCE = re.compile(r"[^。!?;\n]+[。!?;]*")  # NFKC has turned ！？； into !?;
_CLAUSE_BREAK = re.compile(r"[,;:，、]")


def _sentences(norm: str) -> list[str]:
    masked = _QUOTED.sub("“…”", norm)
    return [s.strip() for s in _SENTENCE.findall(masked) if s.strip()]


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


# Questions (SPEC 4 phase 1: one question per turn). A sentence asks when it ends in a question
# mark, ends in 吗/呢 without punctuation, starts with 请问, asks the customer to send, tell, describe
# or pick something (请把订单号发给我, 请提供凭证, 您选一个) - unless it is conditional (找不到的话告诉我).
_ASK_MARK = re.compile(r"\?$")
_ASK_PARTICLE = re.compile(r"[吗呢][~…]*$")
_ASK_OPENING = re.compile(r"^(?:请问|想问一下|问一下|我想问)")
_ASK_REQUEST = re.compile(
    r"(?:^|[,:])\s*(?:请|麻烦)您?(?:再|先|直接|帮忙)?(?:把|将)?(?!以)[^,。]{0,12}?"
    r"(?:发给我|发我|告诉我|提供|说明|描述|补充|上传|回复|填写|选择|选一个|打个分|打分|说一下|讲一下|拍|确认|核对)"
)
_ASK_CHOOSE = re.compile(r"您选一个|请选择|请选一个|回复序号")
_CONDITIONAL = re.compile(r"的话|如果|要是|假如|若是|万一")


def _is_question(sentence: str) -> bool:
    if _ASK_MARK.search(sentence) or _ASK_OPENING.search(sentence) or _ASK_CHOOSE.search(sentence):
        return True
    if not re.search(r"[。!;]$", sentence) and _ASK_PARTICLE.search(sentence):
        return True
    request = _ASK_REQUEST.search(sentence)
    return bool(request and not _CONDITIONAL.search(sentence[: request.start() + 1]))


# Apologies (SPEC 4: once, briefly, in the first reply; none from phase 2 on). One per sentence.
_APOLOGY = re.compile(r"抱歉|对不起|不好意思|遗憾|歉意|致歉|道歉|请原谅|见谅|sorry", re.I)

# The restatement (SPEC 4 phase 1: "restate the problem in one sentence so the customer can confirm
# or correct it"): "我理解的是：…，对吗？", "我确认一下：…", "您的诉求我已记录：…", or any sentence
# ending in a confirmation tag after some content ("…，是这样吗？").
_RESTATE_MARK = re.compile(
    r"(?:确认一下|理解的是|理解是|更正一下|还是这个问题|已记录|记下了|意思是|您是说|也就是说|总结一下|复述一下)"
    r"\s*:\s*[^。!?]{2,}"
)
_CONFIRM_TAG = re.compile(r"[\u4e00-\u9fff].{3,}?[,]?\s*(?:对吗|对吧|是吗|是吧|没错吧|是这样吗|是这样吧|对不对)\s*\??$")


def _is_restatement(sentence: str) -> bool:
    return bool(_RESTATE_MARK.search(sentence) or _CONFIRM_TAG.search(sentence))


def _own_words(sentence: str) -> str:
    """The sentence without the customer's problem it restates ("我理解的是：客服连句道歉都没有，对吗？"
    apologises for nothing; "已记录：您说插线板会冒烟" promises nothing)."""
    mark = _RESTATE_MARK.search(sentence)
    if mark:
        return sentence[: mark.start()]
    return "" if _CONFIRM_TAG.search(sentence) else sentence


# Times (SPEC 4: options "each with what happens and by when"; "every promise carries a time").
# Concrete: a number of hours/minutes/days, a clock time, a date, a named day, the time the customer
# picks, or "right after you confirm" (the ticket is opened in the chat at that moment). 尽快, 马上,
# 稍后, 第一时间, 几天 are not times: nobody can be held to them.
_CN = "一二两三四五六七八九十百半"
_NUM = rf"(?:\d+(?:\.\d+)?|[{_CN}]+)"
_TIME = re.compile(
    "|".join(
        (
            rf"{_NUM}\s*个?\s*半?\s*(?:小时|钟头|分钟|秒钟?|天|日|工作日|周|星期|礼拜|月)",
            r"\d{1,2}\s*:\s*\d{2}",
            r"\d{1,2}\s*点(?:\s*\d{1,2}\s*分|半|钟)?",
            r"[一二三四五六七八九十]{1,3}点(?=半|钟|前|之前|以前|左右|到)",
            r"\d{1,2}\s*月\s*\d{1,2}\s*[日号]",
            r"\d{4}\s*[-/年]\s*\d{1,2}\s*[-/月]\s*\d{1,2}",
            r"(?:周|星期|礼拜)[一二三四五六日天]",
            r"今天|今日|今晚|今早|明天|明日|明早|明晚|后天|本周|这周|本月|月底|周末|下班前|每天|每日",
            r"(?:选定|指定|约定|预约|选择|选好|约好)的时间",
            r"确认后|确认之后|选定后",
        )
    )
)


def _has_time(text: str) -> bool:
    return bool(_TIME.search(text))


# Promises (SPEC 4: "every promise carries a time"): the shop commits to doing something later:
# 会/将会/将在 (will), 马上/尽快/稍后/一会/回头 (soon), 一定/保证 + an action (surely), 给您安排 (arrange).
# Not promises: 不会, 可能会, 会员, 没有及时回复 (a report); offers (我可以为您安排) and conditions
# (需要的话…); instructions to the customer (请…尽快就医); questions; what is done in the chat itself
# (会补进记录里, 消息都会转给专员); what the system does by itself (会自动抵扣).
_PROMISE = re.compile(
    r"(?<![不也许能可该或总误机体学社约理聚开协工一])会(?![员议话计不儿])"
    r"|将会|将在|将于|将为|将给|即将|一会儿?"
    r"|马上|立即|立刻|尽快|尽早|稍后|随后|回头(?!客)|第一时间|抓紧|及时"
    r"|(?:一定|保证)(?=给|为|帮|把|会|在|让|尽|马上|处理|解决|跟进|联系|回复|答复)"
    r"|(?:给|为|帮)您安排"
)
_INSTRUCTION = re.compile(r"^(?:请|麻烦|建议|您可以|你可以|您也可以|记得|别忘了)")
_OFFER_BEFORE = re.compile(r"(?:可以|能够|能|可)\S{0,2}$")
_NEGATED_BEFORE = re.compile(r"(?:没有|没|未|不|别)$")  # "抱歉没有及时回复您" reports, does not promise
_IN_CHAT = re.compile(r"^\S{0,4}?(?:记录|记下|登记|补进|保存|存档|转给|转交|转接|备注)")
_AUTOMATIC = re.compile(r"^\s*自动")


def _clause_around(sentence: str, start: int, end: int) -> tuple[str, str]:
    """The clause text before position ``start`` and after ``end`` (within its clause)."""
    before = _CLAUSE_BREAK.split(sentence[:start])[-1]
    after = _CLAUSE_BREAK.split(sentence[end:])[0]
    return before, after


def _is_promise(sentence: str) -> bool:
    if _ASK_MARK.search(sentence):
        return False
    for match in _PROMISE.finditer(sentence):
        before, after = _clause_around(sentence, match.start(), match.end())
        if _INSTRUCTION.search(before.strip()) or _OFFER_BEFORE.search(before) or _NEGATED_BEFORE.search(before):
            continue
        if _CONDITIONAL.search(sentence[: match.start()]):
            continue
        if _IN_CHAT.search(after) or (match.group() == "会" and _AUTOMATIC.search(after)):
            continue
        return True
    return False


# Money (SPEC 4, malicious: "never offer compensation beyond policy"). A clause offers money when it
# names money for the customer (a coupon, 红包, 补偿/赔偿, an amount, a partial refund) and gives it
# (给您, 退您, 到账, 作为补偿, 可以补偿, 按您的要求赔偿 ...) without refusing it (无法, 不能, 超出 ...).
# Restating the customer's demand ("您要求赔偿500元") gives nothing; a normal refund of the price
# ("按规退货退款", "全额退款，原路退回") is the platform process, not compensation; "给您答复" next to
# "补偿金额需要审批" gives an answer, not money (the money and the giving must be in one clause).
_MONEY = re.compile(
    r"红包|优惠|代金券|购物券|礼品卡|无门槛券|\d+\s*元?券|积分|现金|礼金|返现|折扣|减免|免单|补偿|赔偿|赔付|慰问金"
    r"|部分退款|差价"
    r"|\d+(?:\.\d+)?\s*(?:元|块)|[¥￥]\s*\d+"
)
_AMOUNT_ONLY = re.compile(r"^(?:\d+(?:\.\d+)?\s*(?:元|块)|[¥￥]\s*\d+)$")
_NORMAL_REFUND = re.compile(r"全额退款|退货退款|原路退回|原路退款|退款金额")
_NOT_NORMAL = re.compile(r"部分退款|不退货|不用退货|不用寄回|留着")
_GIVE = re.compile(
    r"给您|为您|送您|发您|补您|赔您|返您|退您|打给您|转给您|退到您|打到您|转到您|到账|作为补偿|补偿您|赔偿您|赔给您"
    r"|(?:可以|同意|愿意|批准|申请)(?:给您|为您)?(?:补偿|赔偿|赔付|赔|补|发|送|返)"
    r"|(?:按|满足|答应)您的?(?:要求|诉求)(?:赔偿|补偿|赔付|退款)?"
)
_REFUSE = re.compile(r"不|无法|没法|没办法|不予|拒绝|超出")


def _offers_money(sentence: str) -> bool:
    terms = [m.group() for m in _MONEY.finditer(sentence)]
    if not terms:
        return False
    if (
        all(_AMOUNT_ONLY.match(t) for t in terms)
        and _NORMAL_REFUND.search(sentence)
        and not _NOT_NORMAL.search(sentence)
    ):
        return False
    for clause in re.split(r"[,;:，、]", sentence):
        if not _MONEY.search(clause):
            continue
        for give in _GIVE.finditer(clause):
            if not _REFUSE.search(clause[: give.start()]):
                return True
    return False


# Options (SPEC 4 phase 2): numbered lines "1. 换货：……48小时内……".
_OPTION_LINE = re.compile(r"^\s*\d{1,2}\s*[.、)]\s*(\S.*)$", re.M)
_LABEL = re.compile(r"^([^:]{1,12}):\s*")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_MIN_WHAT = 4  # Chinese characters an option needs beyond its label and time to say what happens

# Asking the customer to confirm the agreement (SPEC 4 phase 3): "确认的话回复“确认”", "…，可以吗？".
_CONFIRM_REQUEST = re.compile(r"确认|(?:对|可以|好|行)吗")

# Handing over to a human (SPEC 5): "已为您转接安全应急专员，…".
_HANDOFF = re.compile(r"(?:转接|转给)了?[^,。]{0,12}?(?:人工|客服|专员|主管|经理|同事|通道)")
HANDOFF_ACTION = "action_handoff"
HANDOFF_RESPONSE = "utter_handoff"


def _is_handoff(message: _Message) -> bool:
    return (
        message.utter_action == HANDOFF_RESPONSE
        or message.action == HANDOFF_ACTION
        or bool(_HANDOFF.search(message.norm))
    )


# ---------------------------------------------------------------------------------------------
# The rules


def _result(rule: str, passed: bool | None, detail: str, turn: int | None = None) -> RuleResult:
    return RuleResult(
        rule=rule, title=TITLES[rule], passed=passed, turn=turn if passed is False else None, detail=detail
    )


def _first_complaint(conv: _Conversation) -> int | None:
    """Index of the customer turn that made this a complaint (None: not a complaint).

    The first message read as a ``complaint_*`` intent, or the one after which the
    ``complaint_type`` slot was first set (a complaint the intent rules found in another intent).
    """
    found: list[int] = []
    for turn in conv.turns:
        if turn.side == CUSTOMER and turn.messages[0].intent.startswith("complaint_"):
            found.append(turn.index)
            break
    for slot in conv.slots:
        if slot.name == "complaint_type" and slot.value and slot.customer_turn is not None:
            found.append(slot.customer_turn)
            break
    return min(found) if found else None


def _next_turn(conv: _Conversation, index: int) -> _Turn | None:
    return conv.turns[index + 1] if index + 1 < len(conv.turns) else None


def _judged(message: _Message) -> bool:
    return message.side == BOT and not message.exempt


def rule_apology_once(conv: _Conversation) -> RuleResult:
    """道歉一次且只在开头: at most one apology from the bot, and only in its first reply.

    SPEC.md section 4, phase 1 ("acknowledge and apologize once, briefly, in the first reply") and
    phase 2 ("no more apologies from here on"). The first reply is the bot's answer to the message
    that made the conversation a complaint (a greeting before it is not the first reply), or its first
    turn when there is no complaint. Only the bot's own messages count: agents are people, coached
    separately; the exempt safety notes do not count, nor do the customer's words inside a
    restatement ("我理解的是：客服连句道歉都没有，对吗？"). No apology at all passes.
    """
    rule = "apology_once"
    complaint = _first_complaint(conv)
    if complaint is not None:
        reply = _next_turn(conv, complaint)
        allowed = reply.index if reply is not None and reply.side == BOT else None
    else:
        allowed = next((t.index for t in conv.turns if t.side == BOT), None)
    seen: list[tuple[int, str]] = []
    for message in conv.messages(BOT):
        if not _judged(message):
            continue
        for sentence in _sentences(message.norm):
            if not _APOLOGY.search(_own_words(sentence)):
                continue
            if message.turn != allowed:
                return _result(rule, False, f"开头之后又道歉：“{_short(sentence)}”", message.turn)
            if seen:
                return _result(rule, False, f"道歉了不止一次：“{_short(sentence)}”", message.turn)
            seen.append((message.turn, sentence))
    return _result(rule, True, "开头道歉一次" if seen else "没有道歉")


def rule_restate_first(conv: _Conversation) -> RuleResult:
    """先复述再提问: the bot's first reply to a complaint restates the problem before any question.

    SPEC.md section 4, phase 1 ("restate the problem in one sentence so the customer can confirm or
    correct it", then collect what the case needs). A restatement is a sentence like "我理解的是：…，
    对吗？", "我确认一下：…", "您的诉求我已记录：…" or one ending in 对吗/是吗/是这样吗 after some
    content; it may itself be the turn's question. Not applicable when the conversation is not a
    complaint, or the bot has not answered the complaint (yet, or an agent did).
    """
    rule = "restate_first"
    complaint = _first_complaint(conv)
    if complaint is None:
        return _result(rule, None, "不是投诉")
    reply = _next_turn(conv, complaint)
    if reply is None or reply.side != BOT:
        return _result(rule, None, "机器人还没有回复这条投诉")
    for message in reply.messages:
        if not _judged(message):
            continue
        for sentence in _sentences(message.norm):
            if _is_restatement(sentence):
                return _result(rule, True, f"先复述：“{_short(sentence)}”")
            if _is_question(sentence):
                return _result(rule, False, f"没有复述就先提问：“{_short(sentence)}”", reply.index)
    return _result(rule, False, "第一次回复没有复述顾客的问题", reply.index)


def rule_one_question(conv: _Conversation) -> RuleResult:
    """每轮只问一个问题: no bot turn asks more than one question.

    SPEC.md section 4, phase 1 ("collect what the case needs, one question per turn"). A question is
    a sentence ending in a question mark (or in 吗/呢 without punctuation), one starting with 请问, or
    a request to send, tell, describe or pick something ("请把订单号发给我", "您选一个"); a conditional
    instruction ("找不到的话告诉我一声") is not. Text in quotes is the customer's words to use and is
    not read, nor are numbered option lines (an option may say "请在平台内上传凭证": that is what
    happens if it is chosen). Several interrogatives in one sentence count once. Only the bot's turns
    are judged.
    """
    rule = "one_question"
    for turn in conv.turns:
        if turn.side != BOT:
            continue
        asked = [
            s for m in turn.messages if _judged(m) for s in _sentences(_OPTION_LINE.sub("", m.norm)) if _is_question(s)
        ]
        if len(asked) > 1:
            shown = "”“".join(_short(s) for s in asked[:3])
            return _result(rule, False, f"一轮问了{len(asked)}个问题：“{shown}”", turn.index)
    return _result(rule, True, "每轮最多一个问题")


def rule_options_with_time(conv: _Conversation) -> RuleResult:
    """至少两个方案且各有时限: every list of options has at least two, each saying what and by when.

    SPEC.md section 4, phase 2 ("offer at least two concrete options ..., each with what happens and
    by when"). An offer is a bot message with numbered lines ("1. 换货：……48小时内……"). Each option
    needs at least four Chinese characters beyond its label and its time (what happens) and a concrete
    time: N小时/分钟/天, a clock time or date, 今天/明天…前, 您选定的时间 (尽快 is not a time). Not
    applicable when the bot offered no options.
    """
    rule = "options_with_time"
    offers = 0
    for message in conv.messages(BOT):
        options = [m.group(1).strip() for m in _OPTION_LINE.finditer(message.norm)]
        if not options:
            continue
        offers += 1
        if len(options) < 2:
            return _result(rule, False, f"只给了一个方案：“{_short(options[0])}”", message.turn)
        for option in options:
            label = _LABEL.match(option)
            body = option[label.end() :] if label else option
            name = label.group(1) if label else _short(option)
            if len(_HAN.findall(_TIME.sub("", body))) < _MIN_WHAT:
                return _result(rule, False, f"方案“{name}”没有说清怎么处理", message.turn)
            if not _has_time(option):
                return _result(rule, False, f"方案“{name}”没有时限", message.turn)
    if not offers:
        return _result(rule, None, "没有给出方案")
    return _result(rule, True, f"{offers}次给出方案，都至少两个且各有时限")


def rule_ticket_after_confirm(conv: _Conversation) -> RuleResult:
    """客户确认后才建单: the first ticket number is announced right after the customer confirmed.

    SPEC.md section 4, phase 3 ("the bot repeats the agreement back, opens the ticket only after the
    customer confirms, gives the ticket number"). The first bot message naming a ticket number
    (``TS`` + 12 digits) must follow a customer message that agrees (intent ``affirm``, or a reply
    ``bot/language/replies.read_agreement`` reads as agreement: "确认", "好的") and that message must
    answer a bot turn that repeated the agreement back: options were offered before (numbered lines)
    and the turn asks for confirmation (it mentions 确认, or asks 对吗/可以吗/好吗/行吗). A "好的" to
    the restatement of the problem confirms the problem, not an agreement.

    Exempt (None): the ticket is first announced with a handoff to a human (SPEC.md section 5: an
    urgent case, "转人工", a second misunderstanding, a repeat complainant; ``actions/handoff.py``
    opens the case's ticket with the handoff, so the agent works one ticket). A message is a handoff
    when it was sent by ``action_handoff`` / ``utter_handoff`` or says 已为您转接…专员/客服/主管.
    Not applicable when no ticket number was announced.
    """
    rule = "ticket_after_confirm"
    announcement = next((m for m in conv.messages(BOT) if TICKET_ID.search(m.norm)), None)
    if announcement is None:
        return _result(rule, None, "没有告知工单号")
    if _is_handoff(announcement):
        return _result(rule, None, "工单随转人工建立（不需要确认）")
    customer = next((t for t in reversed(conv.turns[: announcement.turn]) if t.side == CUSTOMER), None)
    if customer is None:
        return _result(rule, False, "顾客还没说话就建了工单", announcement.turn)
    said = customer.messages[0]
    if said.intent != "affirm" and read_agreement(said.text, said.intent) != "agree":
        return _result(rule, False, f"顾客没有确认（“{_short(said.text)}”）就建了工单", announcement.turn)
    asked = next((t for t in reversed(conv.turns[: customer.index]) if t.side != CUSTOMER), None)
    offered = [m.turn for m in conv.messages(BOT) if m.turn < customer.index and _OPTION_LINE.search(m.norm)]
    asked_text = "".join(m.norm for m in asked.messages) if asked is not None else ""
    if asked is None or not offered or not _CONFIRM_REQUEST.search(asked_text):
        return _result(rule, False, "没有先复述方案请顾客确认就建了工单", announcement.turn)
    return _result(rule, True, "顾客确认后才告知工单号")


def rule_promise_has_time(conv: _Conversation) -> RuleResult:
    """承诺必有时限: every promise of the bot or an agent names a concrete time.

    SPEC.md section 4 ("every promise carries a time") and section 5 (the customer hears "who will
    take over and by when"). A promise is a sentence in which the shop commits to something later
    (我们会…, 将在…, 马上/尽快/稍后…, 一定…, 给您安排…) that is not an offer (我可以为您安排), a
    condition (需要的话…), an instruction to the customer (请…尽快就医), a question, or something done
    in the chat itself (会补进记录里, 消息都会转给专员), or the customer's words inside a restatement
    ("已记录：您说插线板会冒烟"). It passes when the sentence carries a time as
    for options (尽快, 马上, 稍后 alone fail). Agents' messages are judged too; the exempt safety notes
    are not.
    """
    rule = "promise_has_time"
    promises = 0
    for message in conv.messages(BOT, "agent"):
        if message.exempt:
            continue
        for sentence in _sentences(message.norm):
            if not _is_promise(_own_words(sentence)):
                continue
            promises += 1
            if not _has_time(sentence):
                who = "客服" if message.side == "agent" else "机器人"
                return _result(rule, False, f"{who}的承诺没有具体时间：“{_short(sentence)}”", message.turn)
    if not promises:
        return _result(rule, None, "没有承诺")
    return _result(rule, True, f"{promises}处承诺都有具体时间")


def _is_malicious(conv: _Conversation) -> bool:
    if "malicious" in conv.slot_values("complaint_type"):
        return True
    if any(t.get("type") == "malicious" or t.get("risk_flag") for t in conv.tickets):
        return True
    summary = (conv.case or {}).get("summary") or {}
    return isinstance(summary, Mapping) and summary.get("type") == "malicious"


def rule_malicious_no_money(conv: _Conversation) -> RuleResult:
    """恶意投诉不给钱: a malicious case is offered no money, by the bot or an agent.

    SPEC.md section 2 (malicious: bad faith) and section 4 ("Malicious: ... never offer compensation
    beyond policy; explain the normal process"). Malicious: the ``complaint_type`` slot was
    ``malicious``, a ticket has type ``malicious`` or the risk flag, or the handoff summary says so.
    An offer of money is a sentence that names money for the customer (红包, 优惠券, 补偿/赔偿, an
    amount, a partial refund) and gives it (给您, 退您, 到账, 作为补偿, 可以赔 ...) in a clause that does
    not refuse it. Restating the customer's demand ("您要求赔偿500元"), refusing ("超出规则的补偿我这边
    无法答应") and the normal refund ("按规退货退款…原路退款") are allowed. Not applicable to other cases.
    """
    rule = "malicious_no_money"
    if not _is_malicious(conv):
        return _result(rule, None, "不是恶意投诉")
    for message in conv.messages(BOT, "agent"):
        for sentence in _sentences(message.norm):
            if _offers_money(sentence):
                return _result(rule, False, f"对恶意投诉给了钱：“{_short(sentence)}”", message.turn)
    return _result(rule, True, "只讲平台流程，没有给钱")


def _urgency(conv: _Conversation) -> str | None:
    values = conv.slot_values("urgency")
    if values:
        return str(values[-1])
    for ticket in conv.tickets:
        if ticket.get("urgency"):
            return str(ticket["urgency"])
    case = conv.case or {}
    summary = case.get("summary") or {}
    if isinstance(summary, Mapping) and summary.get("urgency"):
        return str(summary["urgency"])
    return "urgency" if case.get("reason") == "urgency" else None


def _clock(at: float) -> str:
    return _dt.datetime.fromtimestamp(at, _dt.timezone(_dt.timedelta(hours=8))).strftime("%m-%d %H:%M")


def rule_urgent_in_tier(conv: _Conversation) -> RuleResult:
    """紧急个案在时限内转人工: an urgent case reached a human who claimed it by its deadline.

    SPEC.md section 3 (safety: a human within 15 minutes; media/legal: 30; vulnerable: priority
    queue) and section 5 (handoff, escalation when nobody claims before the deadline). Urgent: the
    ``urgency`` slot, a ticket's urgency, or the handoff case's summary or reason. Passes when the
    handoff case was claimed at or before its deadline (``claimed_at <= deadline``). Pending (None)
    while the case waits and ``now`` is not past the deadline. Fails when there is no handoff case,
    the case waited past its deadline, was claimed late, or was escalated (escalation moves the
    deadline: an escalated case missed the first one). Not applicable when nothing was urgent.
    """
    rule = "urgent_in_tier"
    urgency = _urgency(conv)
    if urgency is None:
        return _result(rule, None, "不是紧急个案")
    handoff = next((m.turn for m in conv.messages(BOT) if _is_handoff(m)), None)
    set_at = next((s.customer_turn for s in conv.slots if s.name == "urgency" and s.value), None)
    turn = handoff if handoff is not None else set_at
    case = conv.case
    if not case:
        return _result(rule, False, f"紧急个案（{urgency}）没有转人工", turn)
    deadline = _time(case.get("deadline"))
    if deadline is None:
        return _result(rule, False, "转人工的个案没有时限", turn)
    if case.get("escalated"):
        return _result(rule, False, f"时限（{_clock(deadline)}前）内无人接手，已升级给主管", turn)
    claimed_at = _time(case.get("claimed_at"))
    if claimed_at is None:
        if case.get("status") in (None, "waiting") and conv.now <= deadline:
            return _result(rule, None, f"等待人工接手，时限{_clock(deadline)}未到")
        return _result(rule, False, f"过了时限（{_clock(deadline)}）仍无人接手", turn)
    if claimed_at <= deadline:
        return _result(rule, True, f"{_clock(claimed_at)}人工接手，在时限{_clock(deadline)}内")
    late = round((claimed_at - deadline) / 60)
    return _result(rule, False, f"人工接手晚了{late}分钟（时限{_clock(deadline)}）", turn)


_CHECKS: dict[str, Callable[[_Conversation], RuleResult]] = {
    "apology_once": rule_apology_once,
    "restate_first": rule_restate_first,
    "one_question": rule_one_question,
    "options_with_time": rule_options_with_time,
    "ticket_after_confirm": rule_ticket_after_confirm,
    "promise_has_time": rule_promise_has_time,
    "malicious_no_money": rule_malicious_no_money,
    "urgent_in_tier": rule_urgent_in_tier,
}
assert tuple(_CHECKS) == tuple(rule for rule, _ in RULES), "every rule has one check, in order"


def check_conversation(
    events: Iterable[Mapping[str, Any]],
    *,
    case: Mapping[str, Any] | None = None,
    tickets: Iterable[Mapping[str, Any]] = (),
    now: float,
    exempt_texts: frozenset[str] = frozenset(),
    sender_id: str = "",
) -> QualityReport:
    """Checks one conversation against every house rule (SPEC.md sections 4 and 5).

    Args:
        events: The conversation's tracker events as stored, oldest first: dicts with ``event``
            (``user``: ``text``, ``timestamp``, ``parse_data.intent.name``; ``bot``: ``text``,
            ``timestamp``, ``metadata.author`` ``bot`` or ``agent:<name>``; ``action``: ``name``;
            ``slot``: ``name``, ``value``); other events are ignored.
        case: The conversation's handoff case (``HandoffCase.to_dict()``: ``reason``, ``deadline``,
            ``claimed_at``, ``status``, ``escalated``, ``summary`` ...; times in epoch seconds), or None.
        tickets: Its tickets (``Ticket.to_dict()``: ``type``, ``urgency``, ``risk_flag`` ...).
        now: The time of the check (epoch seconds): pending deadlines are judged against it.
        exempt_texts: Bot texts not counted as apologies, questions or promises (the domain's
            ``utter_urgency_*`` safety notes; see :func:`exempt_texts_from_domain`), compared stripped.
        sender_id: The conversation id; defaults to the case's or a ticket's ``sender_id``.

    Returns:
        The report: the turns and one result per rule of :data:`RULES`. Never raises on odd events
        (missing texts, intents or timestamps are read as empty).
    """
    ticket_list = [t for t in tickets if isinstance(t, Mapping)]
    turns, slots = _read(events, frozenset(t.strip() for t in exempt_texts))
    conv = _Conversation(turns=turns, slots=slots, case=case, tickets=ticket_list, now=float(now))
    if not sender_id:
        sender_id = str((case or {}).get("sender_id") or next((t.get("sender_id") for t in ticket_list), "") or "")
    return QualityReport(
        sender_id=sender_id,
        checked_at=float(now),
        turns=[t.to_dict() for t in turns],
        results=[check(conv) for check in _CHECKS.values()],
    )


def exempt_texts_from_domain(path: Path = DOMAIN_FILE, prefix: str = "utter_urgency_") -> frozenset[str]:
    """Every text of the domain responses whose name starts with ``prefix`` (the safety notes).

    Args:
        path: The ``domain.yml`` to read.
        prefix: Which responses.

    Raises:
        OSError: the file cannot be read. yaml.YAMLError: it is not YAML.
    """
    domain = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    responses = domain.get("responses") or {} if isinstance(domain, dict) else {}
    texts = {
        str(variation["text"]).strip()
        for name, variations in responses.items()
        if str(name).startswith(prefix)
        for variation in variations or []
        if isinstance(variation, dict) and variation.get("text")
    }
    return frozenset(texts)
