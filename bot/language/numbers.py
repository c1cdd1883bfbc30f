"""The one reader of numbers in customers' messages: amounts of money and spoken digit strings.

Customers write money as "500", "500元", "三百块", "两千五", "2千", "2千5", "1.5w", "2k", "一万五",
"¥88", and read order numbers aloud digit by digit ("二零二六一一二九…", 幺 for 1). Everything that
needs an amount (the ``amount`` entity, the demanded compensation, the order price) goes through
:func:`find_amounts`; the normaliser turns spoken digit strings into Arabic digits with
:func:`spoken_digits_to_arabic`, so the order-number rules read both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CN_DIGITS = "零〇一二两三四五六七八九"
_CN_MAGNITUDES = "十百千万"
_MULTIPLIERS = {"k": 1_000.0, "千": 1_000.0, "w": 10_000.0, "万": 10_000.0, "百": 100.0}
_CN_DIGIT_VALUE = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2, "幺": 1, "洞": 0}

NUMBER = (
    r"(?:[0-9]+(?:\.[0-9]+)?(?:\s*[kKwW千万百](?:[0-9一二三四五六七八九](?![0-9]))?)?"
    rf"|[{CN_DIGITS}{_CN_MAGNITUDES}]+(?:点[{CN_DIGITS}]+[万千]?)?)"
)
"""A number as customers write one (Arabic, Chinese, with 千/万/k/w and a trailing digit: 2千5)."""

_NOT_AFTER = r"(?![0-9.零〇一二两三四五六七八九十百千万kKwW])"
_UNIT = r"(?:元|块钱|块|rmb|RMB|人民币)"
_COUNT_AFTER = r"(?!\s*(?:个|天|倍|件|次|小时|分|号|斤|克|%|月|年|岁|星|折|单|下|点|周|遍|份|台|只|条|张|公里|米|瓶|包|盒|箱|袋|人|楼|层))"
_DEMAND_TRIGGER = (
    r"(?:赔偿金|补偿金|赔偿款|赔偿|补偿|赔付|赔|退款|退还|退|返还|返现|返|给|要|补)"
    r"(?:我|给我|我们)?(?:个|一个)?\s*(?:¥|￥|rmb)?\s*"
)
_PRICE_BEFORE = (
    r"(?:花了|付了|买的|买了|价格|价钱|原价|售价|单价|才|总共|一共|订单金额|实付|付款)(?:是|为)?\s*(?:¥|￥)?\s*"
)
# A number starts where a run of digits starts, never inside one: without this every pattern retried at
# each position of a long digit run (a 20,000-digit message held the server's event loop for minutes,
# found by schemathesis, issue 13); the matches are the same, since a number ends at its run's end.
_START = rf"(?<![0-9{CN_DIGITS}{_CN_MAGNITUDES}])"
_MULTIPLE = re.compile(rf"[退假][一1]赔[0-9一二三四五六七八九十]+|{_START}(?:[0-9]+|[一二两三四五六七八九十]+)倍")

_WITH_UNIT = re.compile(rf"(?:¥|￥)\s*({NUMBER}){_NOT_AFTER}|{_START}({NUMBER}){_NOT_AFTER}\s*{_UNIT}钱?")
_JIAO = re.compile(r"^块([一二三四五六七八九1-9])(?![0-9一二三四五六七八九十百千万])")
_AFTER_TRIGGER = re.compile(rf"{_DEMAND_TRIGGER}({NUMBER}){_NOT_AFTER}\s*(?:{_UNIT}钱?)?{_COUNT_AFTER}")
_BEFORE_WORD = re.compile(
    rf"(?:¥|￥)?{_START}({NUMBER}){_NOT_AFTER}\s*(?:{_UNIT}钱?)?的?(?:赔偿|补偿|红包|损失费|精神损失)"
)
_PRICE = re.compile(rf"{_PRICE_BEFORE}({NUMBER}){_NOT_AFTER}")
_ALONE = re.compile(rf"^(?:¥|￥)?({NUMBER}){_NOT_AFTER}\s*(?:{_UNIT}钱?)?(?:吧|就行|就可以|就好|可以吗|行吗)?$")
_PUNCT = re.compile(r"[\s,，。!！?？~、:：;；…\"'“”‘’()（）\[\]【】]+|\.(?![0-9])")
_ARABIC = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([kKwW千万百])?([0-9一二三四五六七八九])?$")

_SPOKEN_RUN = re.compile(r"[零〇一二两三四五六七八九幺洞](?:[ ,，]?[零〇一二两三四五六七八九幺洞])+")
_NUMBER_LABEL = re.compile(r"(?:尾号|单号|订单号?|号码|电话|手机号?|编号|工号|卡号|快递号|运单号)(?:是|为)?[:： ]*$")
SPOKEN_MIN_DIGITS = 7
"""A run of spoken digits this long is a number read aloud; after a label ("尾号", "订单号") 4 are enough."""


@dataclass(frozen=True)
class Amount:
    """An amount of money in a message.

    Attributes:
        value: yuan (float, > 0).
        start, end: character offsets of the number in the text given.
        role: ``demand`` (what the customer asks for: "赔我500", a message that is only an amount),
            ``price`` (what the goods cost: "花了300") or None when the text does not say.
    """

    value: float
    start: int
    end: int
    role: str | None


def parse_number(raw: str, *, has_unit: bool = True) -> float | None:
    """Reads one number: "500", "1.5w" (15000), "2k", "2千5" (2500), "两千五", "一万五", "一点五万".

    Args:
        raw: the number's characters, as matched by :data:`NUMBER`.
        has_unit: False when no money unit or magnitude says it is money; then a bare Chinese
            digit ("赔五", "要一") is not read as a number (it is usually a count or a word).

    Returns:
        The value, or None for zero, garbage or a bare Chinese digit without unit.
    """
    raw = re.sub(r"\s+", "", raw or "")
    if not raw:
        return None
    arabic = _ARABIC.match(raw)
    if arabic:
        value = float(arabic.group(1))
        multiplier = _MULTIPLIERS.get((arabic.group(2) or "").lower(), 1.0)
        value *= multiplier
        if arabic.group(3) and multiplier > 1:
            value += (
                _CN_DIGIT_VALUE.get(arabic.group(3), int(arabic.group(3)) if arabic.group(3).isdigit() else 0)
                * multiplier
                / 10
            )
        return value if value > 0 else None
    if raw[0].isdigit():
        return None
    if not has_unit and not re.search(f"[{_CN_MAGNITUDES}]", raw):
        return None
    import cn2an

    try:
        if "点" in raw:
            whole, _, rest = raw.partition("点")
            magnitude = rest[-1] if rest and rest[-1] in "万千" else ""
            digits = rest[:-1] if magnitude else rest
            value = float(cn2an.cn2an(whole, "smart")) + float(f"0.{''.join(str(_CN_DIGIT_VALUE[c]) for c in digits)}")
            value *= _MULTIPLIERS.get(magnitude, 1.0)
        else:
            value = float(cn2an.cn2an(raw, "smart"))
    except (ValueError, KeyError, TypeError):
        return None
    return value if value > 0 else None


def find_amounts(text: str) -> list[Amount]:
    """Every amount of money in ``text`` (normalised: Simplified, half-width), by position.

    An amount counts with a money unit ("三百块", "¥88"), after a demand word ("赔我2千",
    "补偿1.5w", "不给500就差评"), before a compensation word ("500的赔偿"), after a price word
    ("花了300"), or as the whole message ("三百块", "500"). Counts and times ("3天", "两个",
    "5星") and multiples ("退一赔三", "十倍赔偿") are not amounts.

    Returns:
        :class:`Amount` items without overlaps, ordered by position.
    """
    if not text:
        return []
    masked = _MULTIPLE.sub(lambda m: " " * len(m.group(0)), text)
    found: list[Amount] = []

    def add(match: re.Match[str], group: int, role: str | None, has_unit: bool) -> None:
        start, end = match.span(group)
        if any(not (end <= a.start or start >= a.end) for a in found):
            return
        value = parse_number(match.group(group), has_unit=has_unit)
        if value is None:
            return
        jiao = _JIAO.match(masked[end:].lstrip())  # "五十八块五" is 58.5
        if jiao:
            value += (
                _CN_DIGIT_VALUE.get(jiao.group(1), 0) / 10 if not jiao.group(1).isdigit() else int(jiao.group(1)) / 10
            )
        found.append(Amount(value, start, end, role))

    compact = _PUNCT.sub("", masked)
    alone = _ALONE.match(compact)
    # A message that is only an amount is a demand, when it says it is money: a unit, ¥, or a
    # magnitude ("三百块", "¥88", "2千", "1.5w"); bare digits are an order number or a choice.
    if alone and compact and (compact != alone.group(1) or re.search(r"[十百千万kKwW]", alone.group(1))):
        offset = masked.find(alone.group(1))
        value = parse_number(alone.group(1), has_unit=True)
        if value is not None and offset >= 0:
            return [Amount(value, offset, offset + len(alone.group(1)), "demand")]
    for m in _AFTER_TRIGGER.finditer(masked):
        add(m, 1, "demand", has_unit=bool(re.search(_UNIT, m.group(0))))
    for m in _BEFORE_WORD.finditer(masked):
        add(m, 1, "demand", has_unit=True)
    for m in _PRICE.finditer(masked):
        add(m, 1, "price", has_unit=True)
    for m in _WITH_UNIT.finditer(masked):
        group = 1 if m.group(1) else 2
        add(m, group, None, has_unit=True)
    return sorted(found, key=lambda a: a.start)


def demanded_amount(text: str) -> float | None:
    """The first amount the customer demands ("赔我2千" -> 2000.0), or None (see :func:`find_amounts`)."""
    return next((a.value for a in find_amounts(text) if a.role == "demand"), None)


def spoken_digits_to_arabic(text: str) -> str:
    """Turns a number read aloud ("二零二六一一二九零零四四七七一二", 幺 = 1) into Arabic digits.

    A run of at least :data:`SPOKEN_MIN_DIGITS` Chinese digits without magnitude characters
    (十百千万) is a number read digit by digit; after a label such as "尾号" or "订单号" four are
    enough. Single spaces or commas between groups are dropped. Anything else is left alone
    ("三四个", "一一对应").
    """
    if not text:
        return text

    def convert(match: re.Match[str]) -> str:
        digits = [c for c in match.group(0) if c in _CN_DIGIT_VALUE]
        labelled = bool(_NUMBER_LABEL.search(text[max(0, match.start() - 8) : match.start()]))
        if len(digits) < (4 if labelled else SPOKEN_MIN_DIGITS):
            return match.group(0)
        before = text[match.start() - 1] if match.start() else ""
        after = text[match.end()] if match.end() < len(text) else ""
        if (before and before in _CN_MAGNITUDES) or (after and after in _CN_MAGNITUDES + "块元个件次天人岁"):
            return match.group(0)
        return "".join(str(_CN_DIGIT_VALUE[c]) for c in digits)

    return _SPOKEN_RUN.sub(convert, text)
