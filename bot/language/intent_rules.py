"""Domain rules applied on top of the statistical intent classifier.

1. A message that reports a safety risk or threatens to go to a regulator, the media or a
   lawyer is a complaint, whatever else it looks like ("吃完拉肚子了", "已经打了12315"): if the
   classifier chose a non-complaint intent (or fell back), the best-ranked complaint intent
   is used instead.
2. A genuine complaint that mentions a regulator, the media or a lawyer is not malicious
   (SPEC.md section 2): ``complaint_malicious`` with a media/legal urgency becomes the
   best-ranked other complaint type, unless the text itself shows bad faith (private
   transfers, off-platform contact, 白拿, 封口费, ...).
3. Greetings, thanks, yes and no are short. A long message the classifier took for one of
   them ("嗯谢谢 对 我一直在拉肚子 吃了药也没用", typical of speech-recognised calls that
   start with a filler) is about something else: the best-ranked other intent is used.
4. A message the classifier took for ``inform`` because of an order or tracking number, but
   which says more than the number ("耳机左边没声音 订单号3920184756210384"), is the complaint
   it also is, when a complaint intent is ranked at all.
5. Keyboard mashing and a single repeated sound ("asdfghjkl", "啊啊啊啊", "？？？") are not
   understood, whatever the classifier guessed (it liked out_of_scope): ``nlu_fallback``, so
   two of them in a row reach a human.
6. Text shaped like a Rasa intent command ("/complaint_malicious", which the REST channel
   escapes so it cannot trigger an intent directly) is not understood: ``nlu_fallback``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

COMPLAINT_INTENTS = ("complaint_product", "complaint_logistics", "complaint_service", "complaint_malicious")
# Intents that stay as they are even when urgency words appear.
KEEP_INTENTS = frozenset({"request_human", "cancel", "empty_message"})
URGENCY_MAKES_COMPLAINT = frozenset({"safety", "media_legal"})
COMMAND_LIKE = re.compile(r"^\s*[/／][A-Za-z_][A-Za-z0-9_]*\s*(\{.*\})?\s*$")
FALLBACK_INTENT = "nlu_fallback"
SHORT_REPLY_INTENTS = frozenset({"greet", "goodbye", "affirm", "deny", "thanks"})
SHORT_REPLY_MAX_CHARS = 15
_CONTENT_CHAR = re.compile(r"[\w\u4e00-\u9fff]")
# "耳机左边没声音 订单号3920184756210384" reads as inform to the classifier (the order number
# dominates); with the data taken out, what is left is a complaint.
DATA = re.compile(r"[A-Za-z]*\d[\dA-Za-z\-]*|快递单号|运单号|物流单号|订单编号|订单号|单号|订单|手机号|电话号码|电话|号码|编号|我的|是|为")
COMPLAINT_LEFT_MIN_CHARS = 4
COMPLAINT_MIN_CONFIDENCE = 0.05
GIBBERISH = re.compile(
    r"^(\w)\1{3,}$|^[^\w]+$"  # one sound repeated (啊啊啊啊), or nothing but punctuation (？？？)
    r"|^[A-Za-z;',./]*(qwer|wert|erty|rtyu|tyui|yuio|uiop|asdf|sdfg|dfgh|fghj|ghjk|hjkl|zxcv|xcvb|cvbn|vbnm"
    r"|[bcdfghjklmnpqrstvwxz]{5})[A-Za-z;',./]*$",
    re.IGNORECASE,
)
BAD_FAITH = re.compile(r"私下|转账|红包|封口费|白拿|白嫖|加.{0,3}(微信|vx|VX|QQ|qq)|不然.{0,6}(天天|一直|刷).{0,4}差评|几倍|十倍")


@dataclass(frozen=True)
class IntentDecision:
    """The intent chosen by the rules, and why (None when the classifier's choice stands)."""

    name: str
    confidence: float
    rule: str | None = None


def _best(ranking: Sequence[Mapping[str, Any]], allowed: Iterable[str]) -> Mapping[str, Any] | None:
    allowed = set(allowed)
    candidates = [r for r in ranking if r.get("name") in allowed]
    return max(candidates, key=lambda r: r.get("confidence") or 0.0) if candidates else None


def decide_intent(
    intent: Mapping[str, Any], ranking: Sequence[Mapping[str, Any]], urgency_levels: Iterable[str], text: str
) -> IntentDecision:
    """Applies the rules above.

    Args:
        intent: the classifier's (or fallback's) intent, ``{"name", "confidence"}``.
        ranking: the classifier's full intent ranking.
        urgency_levels: urgency values found in the message.
        text: the normalised message.

    Returns:
        The decision; ``rule`` says which rule changed the intent, if any.
    """
    name = str(intent.get("name") or "")
    confidence = float(intent.get("confidence") or 0.0)
    levels = set(urgency_levels)
    rule: str | None = None
    if COMMAND_LIKE.match(text):
        return IntentDecision(FALLBACK_INTENT, 1.0, "command_like_text")
    if GIBBERISH.match(re.sub(r"\s+", "", text)) and not levels:
        return IntentDecision(FALLBACK_INTENT, 1.0, "gibberish")
    if name in SHORT_REPLY_INTENTS and len(_CONTENT_CHAR.findall(text)) > SHORT_REPLY_MAX_CHARS:
        other = _best(ranking, {str(r.get("name")) for r in ranking} - SHORT_REPLY_INTENTS - {FALLBACK_INTENT})
        if other is not None:
            name, confidence = str(other["name"]), float(other.get("confidence") or 0.0)
            rule = "long_message_is_not_a_short_reply"
    if name not in COMPLAINT_INTENTS and name not in KEEP_INTENTS and levels & URGENCY_MAKES_COMPLAINT:
        best = _best(ranking, COMPLAINT_INTENTS if "safety" not in levels else COMPLAINT_INTENTS[:3])
        if best is not None:
            return IntentDecision(str(best["name"]), max(confidence, float(best.get("confidence") or 0.0)), "urgency_is_complaint")
    if name == "inform" and len(_CONTENT_CHAR.findall(DATA.sub("", text))) >= COMPLAINT_LEFT_MIN_CHARS:
        best = _best(ranking, COMPLAINT_INTENTS)
        if best is not None and float(best.get("confidence") or 0.0) >= COMPLAINT_MIN_CONFIDENCE:
            name, confidence = str(best["name"]), float(best.get("confidence") or 0.0)
            rule = "data_with_a_complaint"
    if name == "complaint_malicious" and "media_legal" in levels and not BAD_FAITH.search(text):
        best = _best(ranking, COMPLAINT_INTENTS[:3])
        if best is not None:
            return IntentDecision(str(best["name"]), confidence, "media_legal_is_not_malicious")
    return IntentDecision(name, confidence, rule)
