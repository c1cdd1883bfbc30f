"""Answers to the bot's questions, read from the customer's words (SPEC.md sections 4-7).

Pure functions over a message's text; the keyword lists they compare against are passed in by
the caller (the option catalogue's labels and keywords, the outcome vocabulary of
``resources/outcomes.yml``), so this module holds the reading and the policy holds the words a
shop configures.

* :func:`match_choice` / :func:`choice_indexes`: which offered option a reply picks
  ("1", "第二个", "选2", "换货吧", "最后一个");
* :func:`read_outcome`: what the customer wants (refund, exchange, ... and a demanded amount);
* :func:`read_agreement`: "确认" / "换个方案" after the agreement was repeated back;
* :func:`read_evidence`, :func:`image_refs`: photos and "没有照片" / "等下发";
* :func:`says_unknown`: "订单号找不到了";
* :func:`is_dispute`: "这不合理", "都不行"; :func:`is_correction`: "不是，是…" to a restatement;
* :func:`read_satisfaction`: 1-5 from "5", "五分", "很满意";
* :func:`consult_topic`: what an ordinary shopping question is about (invoice, address ...).

Keywords are compared on :func:`comparable` text (half-width, Simplified, lower case); a
keyword right after a negation in its clause ("不要退款", "没坏") does not count.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from bot.language.normalize import to_half_width, to_simplified
from bot.language.numbers import demanded_amount

# Negation right before a keyword ("没坏", "不要退款", "没拆封", "别给我退货") within its clause.
_CLAUSE_BREAK = re.compile(r"[,.!?;:，。！？；：、~\s]")
_NOT_NEGATION = re.compile(r"是不是|会不会|有没有|能不能|可不可以|要不要|行不行|好不好|是否")
_NEGATION = re.compile(r"(?:没有|没|未|不|别|无需|甭)[要用想需必会能再太去是算]{0,2}(?:给我|帮我|给|帮)?$")
_NEGATION_WINDOW = 6

# Choice replies.
_CN_INDEX = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
}
_CIRCLED = {chr(0x2460 + i): str(i + 1) for i in range(10)}  # ① .. ⑩
_IDX = r"([0-9]{1,2}|[一二两三四五六七八九十])"
_NOT_A_NUMBER_BEFORE = r"(?<![0-9一二两三四五六七八九十百千万])"
_ORDINAL = re.compile(rf"第\s*{_IDX}(?![0-9])")
_PICK = re.compile(
    rf"(?:选择?|要|方案|选项|option|no\.?|编号)\s*{_IDX}"
    r"(?![0-9]|\s*(?:个|天|元|块|倍|小时|分|月|年|件|次|%|点|周|遍|份|台|张|下))"
)
_NUMBERED = re.compile(rf"{_NOT_A_NUMBER_BEFORE}{_IDX}\s*号(?!之前|前|以前|到|送|发|之后|后|晚|早|上午|下午|中午)")
# A list-style answer that starts with the number ("2 退款", "1，第一个").
_LEADING = re.compile(rf"^{_IDX}(?:[\s,，.、:：)）]|$)")
_LAST = re.compile(r"最后(?:一|那)?(?:个|种|项|条|套)|后者")
_FIRST_OF_TWO = re.compile(r"前者")
_INDIFFERENT = re.compile(r"都行|都可以|都好|都不|都要|都选|都想|随便|无所谓|哪个都|看着办")
_WHOLE_PUNCT = re.compile(r"[\s,，.。!！?？~、:：;；…\"'“”‘’()（）\[\]【】]+")
_WHOLE_LEAD = re.compile(r"^(?:嗯+|哦+|好的?|行|那就?|就|我|选择?|要|还是|那个|呃+|额+|ok)+")
_WHOLE_TAIL = re.compile(r"(?:吧|啊|呀|哈|呢|了|的|谢谢|好了|可以|就行|就好|行|个|号|种|项)+$")
_WHOLE_NUMBER = re.compile(r"^(?:[0-9]{1,2}|[一二两三四五六七八九十]|[a-e])$")


# --------------------------------------------------------------------------------------------
# Keywords with negation


def comparable(text: str | None) -> str:
    """Half-width, Simplified, lower-case, circled digits as digits: the form keywords are compared in."""
    if not text:
        return ""
    text = to_simplified(to_half_width(text))
    for circled, digit in _CIRCLED.items():
        text = text.replace(circled, digit)
    return text.lower()


def negated(text: str, start: int) -> bool:
    """Whether a negation stands right before position ``start`` within its clause ("不要|退款")."""
    before = _CLAUSE_BREAK.split(text[max(0, start - _NEGATION_WINDOW) : start])[-1]
    before = _NOT_NEGATION.sub("", before)
    return bool(_NEGATION.search(before))


@dataclass(frozen=True)
class KeywordHit:
    """One keyword found: its owner (an option index, an outcome id ...) and its span."""

    owner: Any
    start: int
    end: int


def find_keywords(text: str, owners: Iterable[tuple[Any, Iterable[str]]]) -> list[KeywordHit]:
    """Keyword hits in ``text`` (comparable form), without hits inside a longer hit of another
    owner ("退款" inside "部分退款") and without negated ones ("不要退款")."""
    hits: list[KeywordHit] = []
    for owner, keywords in owners:
        for keyword in keywords:
            if not keyword:
                continue
            start = text.find(keyword)
            while start != -1:
                hits.append(KeywordHit(owner, start, start + len(keyword)))
                start = text.find(keyword, start + 1)
    kept = [
        h
        for h in hits
        if not any(
            o.owner != h.owner and o.start <= h.start and h.end <= o.end and o.end - o.start > h.end - h.start
            for o in hits
        )
    ]
    return [h for h in kept if not negated(text, h.start)]


def contains_any(text: str, keywords: Iterable[str]) -> bool:
    """Whether any keyword occurs in ``text`` (comparable form) without a negation before it."""
    return bool(find_keywords(text, [(0, keywords)]))


# --------------------------------------------------------------------------------------------
# Choices


def _index_value(raw: str) -> int:
    if raw.isdigit():
        return int(raw)
    if raw in _CN_INDEX:
        return _CN_INDEX[raw]
    return ord(raw) - ord("a") + 1  # a-e


def choice_indexes(text: str, count: int) -> set[int]:
    """Option numbers (1-based) a reply names: "1", "２", "第一个", "选2", "2号", "方案三", "①",
    "最后一个" (= ``count``), "前者"; none when the reply leaves the choice to the bot ("都行")."""
    t = comparable(text).strip()
    if not t or _INDIFFERENT.search(t):
        return set()
    indexes: set[int] = set()
    for pattern in (_ORDINAL, _PICK, _NUMBERED, _LEADING):
        for m in pattern.finditer(t):
            indexes.add(_index_value(m.group(1)))
    if _LAST.search(t):
        indexes.add(count)
    if _FIRST_OF_TWO.search(t):
        indexes.add(1)
    whole = _WHOLE_PUNCT.sub("", t)
    whole = _WHOLE_TAIL.sub("", _WHOLE_LEAD.sub("", whole))
    if _WHOLE_NUMBER.match(whole):
        indexes.add(_index_value(whole))
    return indexes


def match_choice(text: str, offered_keywords: Sequence[Iterable[str]]) -> Optional[int]:
    """Which of the offered options a reply picks.

    Args:
        text: the customer's reply.
        offered_keywords: for each offered option, in the order shown (numbered from 1), its
            label and keywords in comparable form.

    Returns:
        The 0-based index of the chosen option, or None when nothing matches, several match,
        a number is out of range, a number and a keyword disagree, or the reply leaves the
        choice to the bot ("都行").
    """
    t = comparable(text).strip()
    if not t or not offered_keywords or _INDIFFERENT.search(t):
        return None
    count = len(offered_keywords)
    by_number = {i - 1 for i in choice_indexes(t, count) if 1 <= i <= count}
    by_keyword = {hit.owner for hit in find_keywords(t, list(enumerate(offered_keywords)))}
    if by_number:
        if len(by_number) != 1 or (by_keyword and not by_number <= by_keyword):
            return None
        return next(iter(by_number))
    if len(by_keyword) == 1:
        return next(iter(by_keyword))
    return None


# --------------------------------------------------------------------------------------------
# What the customer wants


OUTCOMES_PATH = Path(__file__).parent / "resources" / "outcomes.yml"
FAST = "fast"
"""The wish for speed ("明天上午之前能用上"), read only when no other wish is named."""


@functools.lru_cache(maxsize=1)
def outcome_vocabulary() -> dict[str, tuple[str, tuple[str, ...]]]:
    """What a customer may ask for: ``{outcome id: (Chinese label, keywords)}`` (resources/outcomes.yml)."""
    raw = yaml.safe_load(OUTCOMES_PATH.read_text(encoding="utf-8"))
    return {
        str(key): (str(spec["label"]), tuple(comparable(str(k)) for k in spec["keywords"])) for key, spec in raw.items()
    }


def read_outcome(
    text: str, outcomes: Optional[Mapping[str, Iterable[str]]] = None
) -> tuple[Optional[str], Optional[float]]:
    """What the customer wants, and the amount they demand.

    The outcome is the one whose keyword comes first in the message (negated keywords such as
    "不要退款" do not count); a demanded amount with no other wish means ``compensation``.

    Args:
        text: e.g. "我要换个新的", "赔我2千", "退钱", "给个说法".
        outcomes: ``{outcome id: keywords}``; default the vocabulary of resources/outcomes.yml.

    Returns:
        ``(outcome id or None, demanded amount in yuan or None)``.
    """
    if outcomes is None:
        outcomes = {k: words for k, (_, words) in outcome_vocabulary().items()}
    t = comparable(text)
    hits = find_keywords(t, outcomes.items())
    if any(h.owner != FAST for h in hits):  # "尽快退款" asks for a refund
        hits = [h for h in hits if h.owner != FAST]
    outcome = min(hits, key=lambda h: (h.start, -(h.end - h.start))).owner if hits else None
    amount = demanded_amount(t)
    if outcome is None and amount is not None and "compensation" in outcomes:
        outcome = "compensation"
    return outcome, amount


# --------------------------------------------------------------------------------------------
# Agreement, disputes, "don't know", photos, scores

_CHANGE_MIND = re.compile(r"换个|换一个|别的方案|其他方案|再想想|等等|等一下|不退了|不换了|还是")
_REFUSE = re.compile(r"不(?:行|可以|同意|确认|要了|对)|别")
_AGREE = re.compile(r"确认|可以|好的|行|同意|没问题|就这样|对的|是的|嗯")


def read_agreement(text: str, intent: str = "") -> Optional[str]:
    """The reply to "确认一下：… 确认的话回复“确认”".

    Returns:
        ``"agree"`` ("确认", "好的", an affirm intent), ``"change"`` (another option, "换个方案",
        "等等，不退了", a deny intent or a dispute), or None when the reply says neither.
    """
    if intent == "deny" or is_dispute(text) or _CHANGE_MIND.search(text or "") or _REFUSE.search(text or ""):
        return "change"
    if intent in ("affirm", "thanks") or _AGREE.search(text or ""):
        return "agree"
    return None


UNKNOWN = "unknown"
"""The customer does not have what was asked (an order number): never asked again."""
NO_EVIDENCE = "none"
EVIDENCE_LATER = "later"

_DONT_KNOW = re.compile(r"不记得|忘了|忘记|找不到|查不到|没有订单号|没订单号|不知道|记不清|不清楚|没单号|看不到|删了")
_NO_PHOTO = re.compile(r"^(没有|没|无|不用|不需要|没拍|没照片|没有照片|拍不了|已经扔了|扔了|丢了)")
_LATER = re.compile(r"等下|等会|稍后|一会|晚点|回头|明天|待会|马上发|现在不方便")
_PHOTO_SENT = re.compile(r"^(图片|照片|截图|视频)|(发|传|上传)(了|过)(图|照片|截图|视频)|拍了|见图|看图")
_IMAGE_URL = re.compile(r"https?://[^\s\]\[<>\"']+?\.(?:jpe?g|png|gif|webp)(?![\w.])(?:\?[A-Za-z0-9_=&%.~+\-]*)?", re.I)
_IMAGE_REF = re.compile(r"(https?://\S+\.(?:jpe?g|png|gif|webp)|\[图片\]|\[image\]|image:\S+)", re.I)
_DISPUTE = re.compile(
    r"不合理|不接受|不同意|都不行|都不要|都不好|不满意|不够|太少|凭什么|什么破|这算什么|开玩笑|不公平|不可能|没诚意|糊弄|敷衍"
)
_CONTENT = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")


def content_length(text: str) -> int:
    """Chinese characters, letters and digits in ``text``."""
    return len(_CONTENT.findall(text or ""))


def says_unknown(text: str) -> bool:
    """The customer does not know or cannot find what was asked ("订单号找不到了")."""
    return bool(_DONT_KNOW.search(text or ""))


def image_refs(text: str, metadata: Optional[Mapping[str, Any]] = None) -> list[str]:
    """The evidence photos of one customer message, as references an agent can open.

    A channel's attachment first (``metadata["image"]``/``["images"]``: a URL, or WeChat's
    ``{"pic_url", "media_id"}``), else an image link written in the text.
    """
    metadata = metadata or {}
    items = [metadata.get("image")] + list(metadata.get("images") or [])
    refs: list[str] = []
    for item in items:
        if isinstance(item, Mapping):
            item = item.get("pic_url") or (f"wechat-media:{item['media_id']}" if item.get("media_id") else None)
        if isinstance(item, str) and item.strip() and item.strip() not in refs:
            refs.append(item.strip())
    if not refs:
        refs = list(dict.fromkeys(_IMAGE_URL.findall(text or "")))
    return refs


def read_evidence(text: str, *, has_attachment: bool = False, refs: Sequence[str] = ()) -> Optional[str]:
    """Reads an answer to "do you have a photo?": a reference, ``none``, ``later`` or None.

    ``refs``: the message's photos (:func:`image_refs`); the first becomes the reference.
    """
    text = (text or "").strip()
    if refs:
        return f"photo:{refs[0]}"
    url = _IMAGE_URL.search(text)
    ref = _IMAGE_REF.search(text)
    if has_attachment or ref:
        return f"photo:{url.group(0) if url else ref.group(1) if ref else 'attachment'}"
    if _LATER.search(text):
        return EVIDENCE_LATER
    if _NO_PHOTO.search(text):
        return NO_EVIDENCE
    if _PHOTO_SENT.search(text):
        return "photo:described"
    if content_length(text) >= 4:  # a description of the damage instead of a photo
        return f"described:{text[:200]}"
    return None


_CORRECTION = re.compile(r"^\s*(?:不是|不对|错了|没有|你理解错|理解错|搞错|弄错)")


def is_correction(text: str) -> bool:
    """The reply to a restatement corrects it ("不是，是快递的问题", "不对")."""
    return bool(_CORRECTION.match(text or ""))


def is_dispute(text: str) -> bool:
    """The customer rejects the options or the decision ("这不合理", "都不行")."""
    return bool(_DISPUTE.search(text or ""))


_SCORE_WORDS = (
    (re.compile(r"非常不满意|很不满意|太差|极差|很差|垃圾"), 1),
    (re.compile(r"不满意|不太满意|差"), 2),
    (re.compile(r"一般|还行|凑合|马马虎虎"), 3),
    (re.compile(r"非常满意|很满意|特别满意|超满意|太好了|满分"), 5),
    (re.compile(r"满意|不错|挺好|还好|好评"), 4),
)
_SCORE_DIGIT = re.compile(r"(?<!\d)([1-5１-５])\s*(分|星)?(?!\d)")
# A Chinese numeral counts only as a score ("四分", "五星") or alone ("五"): "一般" is not 1.
_SCORE_HANZI = re.compile(r"([一二三四五])\s*(分|星)|^([一二三四五])[!！。.~]*$")
_SCORE_CN = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}


def read_satisfaction(text: str) -> Optional[int]:
    """A 1-5 score from "5", "五分", "4星", "很满意" ...; None when the reply has none."""
    text = (text or "").strip()
    match = _SCORE_DIGIT.search(text)
    if match:
        digit = match.group(1)
        return int(digit) if digit.isascii() else ord(digit) - ord("０")
    match = _SCORE_HANZI.search(text)
    if match:
        return _SCORE_CN[match.group(1) or match.group(3)]
    for pattern, score in _SCORE_WORDS:
        if pattern.search(text):
            return score
    return None


@functools.lru_cache(maxsize=1)
def _topics() -> list[tuple[str, re.Pattern[str]]]:
    raw = yaml.safe_load((Path(__file__).parent / "resources" / "topics.yml").read_text(encoding="utf-8"))
    return [(str(topic), re.compile(str(pattern))) for topic, pattern in raw.items()]


def consult_topics() -> list[str]:
    """Every topic of ``resources/topics.yml``, in matching order."""
    return [topic for topic, _ in _topics()]


def consult_topic(text: str) -> Optional[str]:
    """What an ordinary pre- or after-sales question is about ("能开发票吗" -> ``invoice``), or None."""
    t = comparable(text)
    return next((topic for topic, pattern in _topics() if pattern.search(t)), None)
