"""The three-phase complaint flow as plain rules (SPEC.md section 4), without Rasa.

Phase 1 (understand) collects, one question per turn, what the case needs and skips what
the customer already said; phase 2 (explore) offers options (``bot.options``); phase 3
(settle) confirms the choice and opens the ticket. The Rasa forms in ``actions/`` ask the
questions; this module decides which questions a case still needs and reads the answers.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping, Optional, Sequence

PHASES = ("understand", "explore", "settle", "handed_off", "done")

# What each type needs before options can be offered, in the order they are asked.
REQUIRED_FACTS: Mapping[str, tuple[str, ...]] = {
    "product": ("order_id", "problem_detail", "evidence", "desired_outcome"),
    "logistics": ("order_id", "problem_detail", "desired_outcome"),
    "service": ("order_id", "problem_detail", "desired_outcome"),
    "malicious": ("order_id", "evidence"),
}
ALL_FACTS = ("order_id", "problem_detail", "evidence", "desired_outcome")

UNKNOWN = "unknown"  # the customer does not have it: never asked again
NO_EVIDENCE = "none"
EVIDENCE_LATER = "later"

_DONT_KNOW = re.compile(
    r"不记得|忘了|忘记|找不到|查不到|没有订单号|没订单号|不知道|记不清|不清楚|没单号|看不到|删了"
)
_NO_PHOTO = re.compile(r"^(没有|没|无|不用|不需要|没拍|没照片|没有照片|拍不了|已经扔了|扔了|丢了)")
_LATER = re.compile(r"等下|等会|稍后|一会|晚点|回头|明天|待会|马上发|现在不方便")
_PHOTO_SENT = re.compile(r"^(图片|照片|截图|视频)|(发|传|上传)(了|过)(图|照片|截图|视频)|拍了|见图|看图")
_IMAGE_URL = re.compile(r"https?://[^\s\]\[<>\"']+?\.(?:jpe?g|png|gif|webp)(?![\w.])(?:\?[A-Za-z0-9_=&%.~+\-]*)?", re.I)
_IMAGE_REF = re.compile(r"(https?://\S+\.(?:jpe?g|png|gif|webp)|\[图片\]|\[image\]|image:\S+)", re.I)
_DISPUTE = re.compile(
    r"不合理|不接受|不同意|都不行|都不要|都不好|不满意|不够|太少|凭什么|什么破|这算什么|开玩笑|不公平|不可能|没诚意|糊弄|敷衍"
)
_CONTENT = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")

DETAIL_MIN_CHARS = 8
"""A first message with this many content characters beyond the restated gist counts as the details."""


def required_facts(complaint_type: Optional[str], handoff_reason: Optional[str] = None) -> list[str]:
    """The facts the understand phase collects for a case; none once a human takes over."""
    if handoff_reason:
        return []
    return list(REQUIRED_FACTS.get(complaint_type or "product", REQUIRED_FACTS["product"]))


def missing_facts(complaint_type: Optional[str], slots: Mapping[str, Any], handoff_reason: Optional[str] = None) -> list[str]:
    """Required facts that have no value yet, in asking order."""
    return [f for f in required_facts(complaint_type, handoff_reason) if slots.get(f) in (None, "")]


def content_length(text: str) -> int:
    """Chinese characters, letters and digits in ``text``."""
    return len(_CONTENT.findall(text or ""))


def detail_from_first_message(text: str) -> Optional[str]:
    """The first message itself when it already describes the problem in enough detail."""
    text = (text or "").strip()
    return text if content_length(text) >= DETAIL_MIN_CHARS else None


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


def evidence_list(slot_value: Any, photos: Sequence[str]) -> list[str]:
    """The ticket's evidence: the photos sent, else the evidence answer when it names a photo."""
    if photos:
        return [f"photo:{p}" for p in photos]
    return [str(slot_value)] if slot_value and str(slot_value).startswith("photo:") else []


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


def is_dispute(text: str) -> bool:
    """The customer rejects the options or the decision ("这不合理", "都不行")."""
    return bool(_DISPUTE.search(text or ""))


def consecutive_misunderstandings(intents: Sequence[Optional[str]]) -> int:
    """How many of the latest user messages in a row the bot did not understand."""
    count = 0
    for intent in reversed(intents):
        if intent != "nlu_fallback":
            break
        count += 1
    return count


def summary(slots: Mapping[str, Any], last_messages: Iterable[str] = ()) -> dict[str, Any]:
    """The handoff summary an agent reads first: type, urgency, phase, facts, options."""
    facts = {k: slots.get(k) for k in ("order_id", "tracking_number", "courier", "product_category",
                                       "problem_summary", "problem_detail", "evidence", "desired_outcome",
                                       "demanded_amount", "order_amount", "phone") if slots.get(k) not in (None, "")}
    return {
        "type": slots.get("complaint_type"),
        "urgency": slots.get("urgency"),
        "phase": slots.get("phase") or "understand",
        "facts": facts,
        "options_offered": [o.get("label") for o in slots.get("options_offered") or []],
        "chosen_option": (slots.get("chosen_option") or {}).get("label") if isinstance(slots.get("chosen_option"), dict) else None,
        "last_messages": list(last_messages)[-5:],
    }


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
_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}


def read_satisfaction(text: str) -> Optional[int]:
    """A 1-5 score from "5", "五分", "4星", "很满意" ...; None when the reply has none."""
    text = (text or "").strip()
    match = _SCORE_DIGIT.search(text)
    if match:
        digit = match.group(1)
        return int(digit) if digit.isascii() else ord(digit) - ord("０")
    match = _SCORE_HANZI.search(text)
    if match:
        return _CN_DIGITS[match.group(1) or match.group(3)]
    for pattern, score in _SCORE_WORDS:
        if pattern.search(text):
            return score
    return None
