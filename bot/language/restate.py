"""One-sentence restatement of a customer's complaint, for the customer to confirm.

The restatement reuses the customer's own clause that says most about the problem (fillers
and greetings removed, "我" turned into "您"), so it reads naturally and never invents facts.
"""

from __future__ import annotations

import re

from bot.language.normalize import normalize_text

MAX_CHARS = 40

_CLAUSE_SPLIT = re.compile(r"[,.!?;，。！？；~…\n]+|\s{1,}")
_FILLERS = re.compile(
    r"^(喂|嗯+|啊+|哎+|唉+|呃+|哦+|额+|你好|您好|在吗|在不在|亲|那个|就是|然后|对|是这样的|我想说|请问|是(?=.{4}))+"
)
_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF]+")
_KEYWORDS = {
    "product": r"坏|质量|假|不符|错|少|缺|漏|破|裂|碎|不能|不了|没法|不新鲜|变质|难吃|异物|头发|虫|过期|发霉|夹生|没熟|色差|起球|掉色|尺码|黑屏|死机|不亮|不响|问题|臭|馊|咸|凉|冷|不好|差",
    "logistics": r"快递|物流|发货|送|配送|骑手|签收|驿站|没到|慢|超时|丢|压|洒|撒|单号|几天|小时|等",
    "service": r"客服|态度|不回|没人|推|敷衍|答应|说好|售后|退款|拒绝|电话|理|拖|降价",
    "malicious": r"赔|补偿|差评|微信|QQ|私下|转账|红包|不然|否则|投诉",
}
_INNER_FILLERS = re.compile(r"那个|就是说?|然后|嗯+|呃+|这个|怎么说呢")
_STUTTER = re.compile(r"([^0-9]{2,4}?)\1+")
_PRONOUN_STUTTER = re.compile(r"([我你他她])\1+")
_TRAILING_QUESTION = re.compile(r"(到底|究竟)?(是)?(怎么回事|怎么办|怎么搞的|什么情况|啥情况|咋回事|咋办)[啊呀呢吧嘛]*$|(到底|究竟)$")
# A clause that only answers the bot's question ("不是", "对的") is not part of the problem.
_REPLY_ONLY = re.compile(r"^(不是|不对|不是的|对|对的|是的|是|没错|嗯|好的?)+$")
_PERSONS = (("你们", "\x01"), ("您们", "\x01"), ("你家", "\x01"), ("你", "\x01"), ("我们", "您"), ("我", "您"), ("\x01", "我们"))


def _clean_clause(clause: str) -> str:
    clause = _EMOJI.sub("", clause).strip()
    previous = None
    while previous != clause:
        previous = clause
        clause = _FILLERS.sub("", clause).strip()
    clause = _TRAILING_QUESTION.sub("", _INNER_FILLERS.sub("", clause))
    clause = _STUTTER.sub(r"\1", clause)
    return _PRONOUN_STUTTER.sub(r"\1", clause).strip()


def _to_bot_voice(clause: str) -> str:
    for old, new in _PERSONS:
        clause = clause.replace(old, new)
    return clause


def restate_problem(text: str, complaint_type: str | None) -> str:
    """Builds the short restatement used in the acknowledgement.

    Args:
        text: the customer's message (raw or normalised).
        complaint_type: product, logistics, service or malicious (None scores all keywords).

    Returns:
        A clause of at most ``MAX_CHARS`` characters, in the bot's voice; "您遇到的问题"
        when nothing usable is left (emoji only, greetings only).
    """
    normalized = normalize_text(text, max_chars=2000)
    clauses = [
        c
        for c in (_clean_clause(c) for c in _CLAUSE_SPLIT.split(normalized))
        if len(c) >= 2 and not _REPLY_ONLY.match(c)
    ]
    if not clauses:
        return "您遇到的问题"
    whole = "，".join(clauses)
    if len(whole) <= MAX_CHARS:
        return _to_bot_voice(whole)
    pattern = re.compile(
        _KEYWORDS.get(complaint_type or "", "|".join(_KEYWORDS.values()))
    )
    best = max(clauses, key=lambda c: (len(pattern.findall(c)), -clauses.index(c)))
    idx = clauses.index(best)
    # A very short clause ("坏了") reads better with the clause before it ("电饭煲用了两天 坏了").
    if len(best) <= 4 and idx > 0:
        best = clauses[idx - 1] + "，" + best
    best = _to_bot_voice(best)
    if len(best) > MAX_CHARS:
        best = best[: MAX_CHARS - 1] + "…"
    return best
