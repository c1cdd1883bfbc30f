"""Domain rules applied on top of the statistical intent classifier.

1. A message that reports a safety risk or threatens to go to a regulator, the media or a
   lawyer is a complaint, whatever else it looks like ("吃完拉肚子了", "已经打了12315"): if the
   classifier chose a non-complaint intent (or fell back), the best-ranked complaint intent
   is used instead.
2. Malicious means bad faith (SPEC.md section 2, ../shared/eval/GUIDELINES.md): a message is
   ``complaint_malicious`` when it names a malicious cause (money demanded under the threat
   of bad reviews, payment off the platform with a claim, an admitted fake claim), or when the
   classifier is at least :data:`MALICIOUS_KEPT_FROM` sure and the message threatens something;
   otherwise the classifier's malicious becomes the complaint type the causes name, or the
   best-ranked other one. A mention of QQ, WeChat, 投诉, 差评, a regulator or the media, or a
   demand without a threat ("至少赔我2千"), is not bad faith.
2b. The cause decides the type (``bot.language.causes``): a complaint whose named causes all
   belong to another type ("你们怎么回事？我拍的是耙子寄来的是铲子": the tone reads as
   service, the cause is a wrong item) takes the type of the causes, unless the classifier is
   very sure; a non-complaint reading of a message that names a cause ("怎么还没发货?") becomes
   that complaint when the classifier was unsure. A wrong item is product and a wrong courier
   logistics whatever the classifier thought (SPEC.md section 2). The type of a second named
   cause becomes the secondary type (``IntentDecision.secondary_type``).
3. Greetings, thanks, yes and no are short. A long message the classifier took for one of
   them ("嗯谢谢 对 我一直在拉肚子 吃了药也没用", typical of speech-recognised calls that
   start with a filler) is about something else: the best-ranked other intent is used.
4. A message the classifier took for ``inform`` because of an order or tracking number, but
   which says more than the number ("耳机左边没声音 订单号3920184756210384"), is the complaint
   it also is, when a complaint intent is ranked at all.
5. Keyboard mashing and a single repeated sound ("asdfghjkl", "啊啊啊啊", "？？？") are not
   understood, whatever the classifier guessed (it liked out_of_scope): ``nlu_fallback``, so
   two of them in a row reach a human.
5b. A message that is only data (an order or tracking number, a number) is ``inform``: it
   answers the bot's question, whatever the classifier made of its digits.
5c. A message that asks for a human in so many words ("转人工", "人工客服", "找真人") is
   ``request_human`` whatever else it says ("转人工，我的电话139…，地址…", "客服态度太差了，转人工"):
   SPEC.md section 4 makes the ask a handoff trigger, and the classifier, outweighed by the rest of
   the message, read such messages as inform or a complaint. Not when it is negated ("不用转人工")
   or when the message is urgent (urgency hands over anyway, with its own tier).
6. Text shaped like a Rasa intent command ("/complaint_malicious", which the REST channel
   escapes so it cannot trigger an intent directly) is not understood: ``nlu_fallback``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from bot.language.causes import CauseReading, read_causes

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
DATA = re.compile(
    r"[A-Za-z]*\d[\dA-Za-z\-]*|快递单号|运单号|物流单号|订单编号|订单号|单号|订单|手机号|电话号码|电话|号码|编号|我的|是|为"
)
COMPLAINT_LEFT_MIN_CHARS = 4
COMPLAINT_MIN_CONFIDENCE = 0.2
SHORT_REPLY_RUNNER_UP_MIN = 0.15
"""A long "greeting" becomes the runner-up only when the classifier gave it this much."""
GIBBERISH = re.compile(
    r"^(\w)\1{3,}$|^[^\w]+$"  # one sound repeated (啊啊啊啊), or nothing but punctuation (？？？)
    r"|^[A-Za-z;',./]*(qwer|wert|erty|rtyu|tyui|yuio|uiop|asdf|sdfg|dfgh|fghj|ghjk|hjkl|zxcv|xcvb|cvbn|vbnm"
    r"|[bcdfghjklmnpqrstvwxz]{5})[A-Za-z;',./]*$",
    re.IGNORECASE,
)
DATA_ONLY = re.compile(
    r"^[\s:：,，.。#]*(?:我的)?(?:订单号?|单号|订单编号|快递单号|运单号|物流单号)?(?:是|为)?[\s:：]*[A-Za-z]{0,4}[0-9][0-9A-Za-z\- ]*[\s。.!！]*$"
)
HUMAN_ASK = re.compile(
    r"转人工|转接人工|转个人工|人工客服|人工服务|找人工|要人工|接人工|真人客服|转真人|找真人|找个真人|要真人"
)
HUMAN_ASK_NEGATED = re.compile(r"(?:不用|不要|别|无需|不需要|不想)[^,.!?;:。，！？；：~\s]{0,3}$")
MALICIOUS = "complaint_malicious"
NON_COMPLAINT_INTENTS_A_CAUSE_OVERRIDES = frozenset(
    {"inform", "consult", "ask_progress", "out_of_scope", "deny", "affirm", "praise", "cancel", FALLBACK_INTENT}
)
MALICIOUS_KEPT_FROM = 0.95
"""The classifier's malicious stands without a bad-faith cause only from this confidence, and
only when the message threatens something (:data:`THREAT`): "至少赔我2千" is a demand, not bad faith."""
THREAT = re.compile(
    r"差评|一星|投诉|举报|曝光|闹|等着|不然|否则|要么|除非|倒闭|关门|搞|骂|黑你|小号|水军|碰瓷|白拿|私下|转我|打钱"
)
CAUSE_OVERRIDES_BELOW = 0.97
"""A complaint type the causes contradict is kept only when the classifier is at least this sure."""
CAUSE_MAKES_COMPLAINT_BELOW = 0.8
"""A non-complaint intent is replaced by the causes' complaint when the classifier is less sure than this."""


@dataclass(frozen=True)
class IntentDecision:
    """The intent chosen by the rules, and why (None when the classifier's choice stands)."""

    name: str
    confidence: float
    rule: str | None = None
    secondary_type: str | None = None


def _best(ranking: Sequence[Mapping[str, Any]], allowed: Iterable[str]) -> Mapping[str, Any] | None:
    allowed = set(allowed)
    candidates = [r for r in ranking if r.get("name") in allowed]
    return max(candidates, key=lambda r: r.get("confidence") or 0.0) if candidates else None


def _type_of(intent: str) -> str | None:
    return intent[len("complaint_") :] if intent in COMPLAINT_INTENTS else None


def _secondary(name: str, causes: CauseReading) -> str | None:
    primary = _type_of(name)
    if primary is None:
        return None
    return next((t for t in causes.types if t != primary), None)


def decide_intent(
    intent: Mapping[str, Any],
    ranking: Sequence[Mapping[str, Any]],
    urgency_levels: Iterable[str],
    text: str,
    causes: CauseReading | None = None,
) -> IntentDecision:
    """Applies the rules above.

    Args:
        intent: the classifier's (or fallback's) intent, ``{"name", "confidence"}``.
        ranking: the classifier's full intent ranking.
        urgency_levels: urgency values found in the message.
        text: the normalised message.
        causes: the causes the message names (``bot.language.causes.read_causes``; read from
            ``text`` when not given).

    Returns:
        The decision; ``rule`` says which rule changed the intent, if any; ``secondary_type`` the
        type of a second problem the message names.
    """
    causes = read_causes(text) if causes is None else causes
    decision = _decide(intent, ranking, urgency_levels, text, causes)
    secondary = _secondary(decision.name, causes)
    if secondary:
        decision = IntentDecision(decision.name, decision.confidence, decision.rule, secondary)
    return decision


def _decide(
    intent: Mapping[str, Any],
    ranking: Sequence[Mapping[str, Any]],
    urgency_levels: Iterable[str],
    text: str,
    causes: CauseReading,
) -> IntentDecision:
    name = str(intent.get("name") or "")
    confidence = float(intent.get("confidence") or 0.0)
    levels = set(urgency_levels)
    rule: str | None = None
    named = [t for t in causes.types if t != "malicious"]
    bad_faith = "malicious" in causes.types
    if COMMAND_LIKE.match(text):
        return IntentDecision(FALLBACK_INTENT, 1.0, "command_like_text")
    if GIBBERISH.match(re.sub(r"\s+", "", text)) and not levels:
        return IntentDecision(FALLBACK_INTENT, 1.0, "gibberish")
    human = HUMAN_ASK.search(text)
    if human and name != "request_human" and not levels and not HUMAN_ASK_NEGATED.search(text[: human.start()]):
        return IntentDecision("request_human", max(confidence, 0.5), "asks_for_a_human")
    if DATA_ONLY.match(text) and name not in KEEP_INTENTS:
        return IntentDecision("inform", max(confidence, 0.5) if name == "inform" else 1.0, "data_only_is_inform")
    if name in KEEP_INTENTS:
        return IntentDecision(name, confidence)
    if name in SHORT_REPLY_INTENTS and len(_CONTENT_CHAR.findall(text)) > SHORT_REPLY_MAX_CHARS:
        other = _best(ranking, {str(r.get("name")) for r in ranking} - SHORT_REPLY_INTENTS - {FALLBACK_INTENT})
        if other is not None and float(other.get("confidence") or 0.0) >= SHORT_REPLY_RUNNER_UP_MIN:
            name, confidence = str(other["name"]), float(other.get("confidence") or 0.0)
            rule = "long_message_is_not_a_short_reply"
    if bad_faith and "safety" not in levels:
        return IntentDecision(MALICIOUS, max(confidence, 0.5), "bad_faith_is_malicious")
    if name == MALICIOUS and (confidence < MALICIOUS_KEPT_FROM or not THREAT.search(text)):
        if named:
            return IntentDecision(f"complaint_{named[0]}", confidence, "no_bad_faith_is_not_malicious")
        best = _best(ranking, COMPLAINT_INTENTS[:3])
        if best is not None:
            return IntentDecision(str(best["name"]), confidence, "no_bad_faith_is_not_malicious")
    if name not in COMPLAINT_INTENTS and levels & URGENCY_MAKES_COMPLAINT:
        if named:
            return IntentDecision(f"complaint_{named[0]}", max(confidence, 0.5), "urgency_is_complaint")
        best = _best(ranking, COMPLAINT_INTENTS[:3])
        if best is not None:
            return IntentDecision(
                str(best["name"]), max(confidence, float(best.get("confidence") or 0.0)), "urgency_is_complaint"
            )
    deciding = causes.deciding_type
    if name in COMPLAINT_INTENTS and deciding and _type_of(name) != deciding:
        return IntentDecision(f"complaint_{deciding}", confidence, "cause_decides_type")
    if name in COMPLAINT_INTENTS and named and _type_of(name) not in named and confidence < CAUSE_OVERRIDES_BELOW:
        return IntentDecision(f"complaint_{named[0]}", confidence, "cause_decides_type")
    if (
        named
        and name in NON_COMPLAINT_INTENTS_A_CAUSE_OVERRIDES
        and (name == FALLBACK_INTENT or confidence < CAUSE_MAKES_COMPLAINT_BELOW)
    ):
        return IntentDecision(f"complaint_{named[0]}", confidence, "cause_makes_complaint")
    if name == "inform" and len(_CONTENT_CHAR.findall(DATA.sub("", text))) >= COMPLAINT_LEFT_MIN_CHARS:
        if named:
            return IntentDecision(f"complaint_{named[0]}", confidence, "data_with_a_complaint")
        best = _best(ranking, COMPLAINT_INTENTS[:3])
        if best is not None and float(best.get("confidence") or 0.0) >= COMPLAINT_MIN_CONFIDENCE:
            name, confidence = str(best["name"]), float(best.get("confidence") or 0.0)
            rule = "data_with_a_complaint"
    return IntentDecision(name, confidence, rule)
