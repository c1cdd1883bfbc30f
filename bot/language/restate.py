"""The one-sentence restatement a good agent gives before asking anything (SPEC.md section 4).

The seeds ask to "复述顾客投诉的内容，以确认了解客户需求点": short, in the agent's words, built
from what was understood, so the customer can confirm or correct it. :func:`restate` builds it
from the reading of the message:

* the cause (``bot.language.causes``): a wrong item is said as "您拍的是小耙子，收到的是铲子，
  发错货了", a wrong courier as "您要求发圆通，我们发的是天天，快递公司发错了", any other cause by
  the customer's own clause that names it, turned into the agent's voice ("我妈" -> "您母亲",
  "你们" -> "我们"), or by the cause's own phrase (``says`` in ``resources/causes.yml``);
* what the customer wants, when they said it ("您希望换货", "您希望赔偿500元");
* without a cause, the clause that says most about the problem and what kind of problem it is
  ("是物流配送的问题").

Never quoted back: threats (regulators, the media, bad reviews), insults, questions to the
shop ("你现在怎么给我处理"), emoticon codes, order and phone numbers, links.
"""

from __future__ import annotations

import re

from bot.language.causes import CauseHit, CauseReading, read_causes, vocabulary
from bot.language.normalize import normalize_text
from bot.language.replies import outcome_vocabulary
from bot.language.urgency import detect_urgency

MAX_CHARS = 48
"""Longest restatement (the problem part); a longer clause is cut at a clause boundary."""
MAX_CLAUSE_CHARS = 26
SHORT_CLAUSE_CHARS = 10
NOTHING_USABLE = "您遇到的问题"

TYPE_TAILS = {
    "product": "是商品本身的问题",
    "logistics": "是物流配送的问题",
    "service": "是对我们服务的不满",
    "malicious": "您提出了赔偿要求",
}

_CLAUSE_SPLIT = re.compile(r"[,.!?;，。！？；~…\n]+|\s+")
_NUMBERS = re.compile(
    r"(?:订单号?|单号|订单编号|快递单号|运单号|手机号?|电话)?(?:是|为)?[:：]?\s*[A-Za-z]*[0-9][0-9A-Za-z\-]{5,}|https?://\S+"
)
_FILLERS = re.compile(
    r"^(?:喂|嗯+|啊+|哎+|唉+|呃+|哦+|额+|你好|您好|在吗|在不在|亲|那个|就是说?|然后|对|是这样的|我想说|请问|我跟你说|"
    r"你们怎么回事|你们搞什么|怎么回事|什么情况|搞什么|说实话|真的是?|我去|天哪|我的天|是(?=.{4}))+"
)
_INNER_FILLERS = re.compile(r"那个|就是说?|然后|嗯+|呃+|这个|怎么说呢|明明|竟然|居然|到底|究竟|真的|简直|实在")
_STUTTER = re.compile(r"([^0-9]{2,4}?)\1+")
_PRONOUN_STUTTER = re.compile(r"([我你他她])\1+")
_QUESTION_TO_SHOP = re.compile(
    r"怎么(?:给我|帮我)?(?:处理|办|解决|弄|说)|怎么回事|什么情况|啥情况|咋回事|咋办|给个说法|给我个说法|什么意思|"
    r"能不能|可不可以|行不行|有没有人|在不在|还要等多久|要等多久|[吗呢嘛]$|^为什么|^凭什么"
)
_EMOTION_ONLY = re.compile(
    r"^(?:气死(?:我)?了?|无语|服了|醉了|呵呵|哈哈|太(?:过分|离谱|失望|气人)了?|真(?:是)?(?:服|醉|无语)了?|我也是醉了|"
    r"什么玩意|垃圾|差评|差差差|坑人|坑爹|骗子|太差了?|烂透了|失望|郁闷|心累|崩溃|不可理喻|无法接受|不能接受)[!啊呀吧了的]*$"
)
_INSULT = re.compile(r"他妈|妈的|tmd|TMD|尼玛|你妹|傻[逼B比]|SB|sb|滚|去死|狗|猪|脑子|智障|贱|畜生|垃圾店|黑店|骗子")
_THREAT = re.compile(r"差评|投诉|曝光|举报|告你|找人|闹|不然|否则|要不然|等着|走着瞧|一星")
_WISH = re.compile(
    r"^(?:我)?(?:要|想|希望|必须|赶紧|马上|给我)?(?:退款|退货|换货|换一个|换个|退钱|赔|补偿|重发|补发|维修|修)"
)
_REPLY_ONLY = re.compile(r"^(?:不是|不对|不是的|对|对的|是的|是|没错|嗯|好的?)+$")

# The customer's people and things, in the agent's voice. Order matters: longer first.
_VOICE = (
    ("我妈妈", "您母亲"),
    ("我母亲", "您母亲"),
    ("我妈", "您母亲"),
    ("我爸爸", "您父亲"),
    ("我父亲", "您父亲"),
    ("我爸", "您父亲"),
    ("我老公", "您爱人"),
    ("我老婆", "您爱人"),
    ("我媳妇", "您爱人"),
    ("我爱人", "您爱人"),
    ("我儿子", "您儿子"),
    ("我女儿", "您女儿"),
    ("我家孩子", "您的孩子"),
    ("我家宝宝", "您的宝宝"),
    ("我孩子", "您的孩子"),
    ("我宝宝", "您的宝宝"),
    ("我奶奶", "您奶奶"),
    ("我爷爷", "您爷爷"),
    ("我们家", "您家"),
    ("我家", "您家"),
    ("我们这边", "您那边"),
    ("我们这里", "您那里"),
    ("我们这", "您那边"),
    ("我们", "您"),
    ("你们家", "\x01"),
    ("你们", "\x01"),
    ("您们", "\x01"),
    ("你家", "\x01"),
    ("贵店", "\x01"),
    ("你", "\x01"),
    ("我", "您"),
    ("\x01", "我们"),
)
_OUR_GOODS = re.compile(r"我们(?:的|家的?)?东西")
_WRONG_ITEM = re.compile(
    r"(?:拍|买|要|点|订|下单|选)(?:的|了)(?:是)?(?P<x>[^,，。!?！？\s寄发送]{1,12})[,，\s]*"
    r"(?:但是|可是|结果|怎么|却|你们|收到)?.{0,4}?(?:寄|发|送|收到|来|给)(?:过来|回来|来|到|了)*的?(?:却|竟然|居然)?(?:是|成了?)(?P<y>[^,，。!?！？\s]{1,12})"
)
_COURIER_ASKED = re.compile(
    r"(?:要求|指定|说好|备注|说了|明明要|让你们)(?:了)?(?:发|走|用)(?P<x>[\u4e00-\u9fffA-Za-z]{2,6}?)(?:快递|物流)?[,，\s]"
    r".{0,12}?(?:发|走|用|寄)(?:的|了)(?:是)?(?P<y>[\u4e00-\u9fffA-Za-z]{2,6}?)(?:快递|物流)?(?:[,，。!?！？\s]|$)"
)


def _clean(clause: str) -> str:
    clause = clause.strip()
    previous = None
    while previous != clause:
        previous = clause
        clause = _FILLERS.sub("", clause).strip()
    clause = _INNER_FILLERS.sub("", clause)
    clause = _STUTTER.sub(r"\1", clause)
    clause = _PRONOUN_STUTTER.sub(r"\1", clause)
    return clause.strip("啊呀吧呢么嘛哈 ")


def to_agent_voice(text: str) -> str:
    """The customer's words as the agent says them: "我妈" -> "您母亲", "我" -> "您", "你们" -> "我们"."""
    for old, new in _VOICE:
        text = text.replace(old, new)
    return _OUR_GOODS.sub("商品", text)


_CONTENT = re.compile(r"[\u4e00-\u9fffA-Za-z]")


def _usable(clause: str) -> bool:
    if len(_CONTENT.findall(clause)) < 2 or _REPLY_ONLY.match(clause) or _EMOTION_ONLY.match(clause):
        return False
    if _INSULT.search(clause) or _QUESTION_TO_SHOP.search(clause) or _WISH.match(clause):
        return False
    if _THREAT.search(clause) or any(h.level == "media_legal" for h in detect_urgency(clause)):
        return False
    return not read_causes(clause).first_of("malicious")


def _clauses(text: str) -> list[tuple[int, int, str]]:
    """Usable clauses: (start, end) of the customer's clause in ``text`` and the cleaned clause."""
    found = []
    position = 0
    for part in _CLAUSE_SPLIT.split(text):
        start = text.find(part, position)
        position = start + len(part)
        cleaned = _clean(part)
        if part and _usable(cleaned):
            found.append((start, start + len(part), cleaned))
    return found


def _cut(clause: str) -> str:
    return clause if len(clause) <= MAX_CLAUSE_CHARS else clause[: MAX_CLAUSE_CHARS - 1] + "…"


def _template(text: str, hit: CauseHit | None) -> str | None:
    """A wrong item or a wrong courier, said the way an agent says it."""
    if hit is not None and hit.cause == "wrong_item":
        match = _WRONG_ITEM.search(text)
        if match:
            verb = next((v for v in ("拍", "点", "订", "选", "要") if v in match.group(0)[:3]), "买")
            return f"您{verb}的是{_INNER_FILLERS.sub('', match.group('x'))}，收到的是{_INNER_FILLERS.sub('', match.group('y'))}"
    if hit is not None and hit.cause == "wrong_courier":
        match = _COURIER_ASKED.search(text)
        if match:
            return f"您要求发{match.group('x')}，我们发的是{match.group('y')}"
    return None


def _fact(hit: CauseHit | None, clauses: list[tuple[int, int, str]]) -> str | None:
    """What happened, in the agent's voice: the clause naming the cause, or the fullest one."""
    if hit is not None:
        index = next((i for i, (_, _, c) in enumerate(clauses) if hit.trigger in c), None)
        if index is None:
            index = next((i for i, (start, end, _) in enumerate(clauses) if start <= hit.start < end), None)
        if index is None:
            return None
        clause = clauses[index][2]
        # "用了一晚上就不热了" says little without "您母亲用我们的电热毯" right before it
        if index and len(clause) <= SHORT_CLAUSE_CHARS and clauses[index - 1][1] >= clauses[index][0] - 1:
            joined = f"{clauses[index - 1][2]}，{clause}"
            if len(joined) <= MAX_CLAUSE_CHARS:
                clause = joined
        return to_agent_voice(_cut(clause))
    if not clauses:
        return None
    whole = "，".join(c for _, _, c in clauses)
    if len(whole) <= MAX_CLAUSE_CHARS:
        return to_agent_voice(whole)
    return to_agent_voice(_cut(max(clauses, key=lambda c: len(c[2]))[2]))


def _wish(outcome: str | None, demanded_amount: float | None) -> str | None:
    if demanded_amount:
        amount = f"{demanded_amount:g}"
        return f"您希望赔偿{amount}元"
    if outcome:
        label = outcome_vocabulary().get(outcome, (None, ()))[0]
        if label:
            return f"您希望{label}"
    return None


def restate(
    text: str,
    complaint_type: str | None,
    *,
    causes: CauseReading | None = None,
    outcome: str | None = None,
    demanded_amount: float | None = None,
) -> str:
    """The problem part of the restatement ("我确认一下：<this>，对吗？").

    Args:
        text: the customer's message (raw or normalised).
        complaint_type: product, logistics, service or malicious (None: no type phrase).
        causes: the message's causes (read from ``text`` when not given).
        outcome: what the customer asked for (an id of ``resources/outcomes.yml``), if known.
        demanded_amount: yuan the customer asked for, if any.

    Returns:
        One clause of at most :data:`MAX_CHARS` characters, in the agent's voice, e.g.
        "您拍的是小耙子，收到的是铲子，发错货了"; "您遇到的问题" plus the type when nothing
        usable is left (emoji only, greetings only).
    """
    normalized = _NUMBERS.sub(" ", normalize_text(text or ""))
    causes = read_causes(normalized) if causes is None else causes
    hit = causes.first_of(complaint_type) if complaint_type else causes.primary
    if complaint_type == "malicious":
        underlying = next((h for h in causes.hits if h.type != "malicious"), None)
        wish = _wish(outcome, demanded_amount)
        said = [
            f"您反映{vocabulary()[underlying.cause].says}" if underlying else None,
            wish.replace("您希望", "您要求") if wish else TYPE_TAILS["malicious"],
        ]
        return "，".join(p for p in said if p)
    templated = _template(normalized, hit)
    fact = templated or _fact(hit, _clauses(normalized))
    if (
        fact
        and hit is not None
        and not templated
        and len(_CONTENT.findall(fact.replace(to_agent_voice(hit.trigger), ""))) < 2
    ):
        fact = None  # "跑哪去了" says nothing the cause's own phrase does not say better
    parts: list[str] = []
    if fact:
        parts.append(fact)
    if hit is not None and vocabulary()[hit.cause].says not in (fact or ""):
        parts.append(vocabulary()[hit.cause].says)
    elif complaint_type in TYPE_TAILS:
        parts.append(TYPE_TAILS[complaint_type])
    second = next((h for h in causes.hits if hit is not None and h.type != hit.type and h.type != "malicious"), None)
    if second is not None:  # "…配送太慢了，另外没人及时回复您" (SPEC.md section 6: secondary type)
        parts.append(f"另外{vocabulary()[second.cause].says}")
    wish = _wish(outcome, demanded_amount)
    if wish:
        parts.append(wish)
    if not fact and hit is None:
        parts.insert(0, NOTHING_USABLE)
    sentence = "，".join(parts)
    while len(sentence) > MAX_CHARS and len(parts) > 1:
        parts.pop(0 if parts[0] == fact and len(parts) > 2 else -1)
        sentence = "，".join(parts)
    return sentence


def restate_problem(text: str, complaint_type: str | None) -> str:
    """:func:`restate` from the text alone (the causes and the wish read from it)."""
    from bot.language.replies import read_outcome

    outcome, amount = read_outcome(normalize_text(text or ""))
    return restate(text, complaint_type, outcome=outcome, demanded_amount=amount)
