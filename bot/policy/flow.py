"""The three-phase complaint flow as plain rules (SPEC.md section 4), without Rasa.

Phase 1 (understand) collects, one question per turn, what the case needs and skips what
the customer already said; phase 2 (explore) offers options (``bot.policy.catalogue``); phase 3
(settle) confirms the choice and opens the ticket. The Rasa forms in ``actions/`` ask the
questions; this module decides which questions a case still needs and what an agent reads
first. The answers themselves are read by ``bot.language.replies``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional, Sequence

from bot.language.causes import vocabulary as cause_vocabulary
from bot.language.replies import EVIDENCE_LATER, NO_EVIDENCE, UNKNOWN, content_length
from bot.vocabulary import Phase

__all__ = ["EVIDENCE_LATER", "NO_EVIDENCE", "UNKNOWN"]

PHASES = tuple(Phase)

# What each type needs before options can be offered, in the order they are asked.
REQUIRED_FACTS: Mapping[str, tuple[str, ...]] = {
    "product": ("order_id", "problem_detail", "evidence", "desired_outcome"),
    "logistics": ("order_id", "problem_detail", "desired_outcome"),
    "service": ("order_id", "problem_detail", "desired_outcome"),
    "malicious": ("order_id", "evidence"),
}
ALL_FACTS = ("order_id", "problem_detail", "evidence", "desired_outcome")

DETAIL_MIN_CHARS = 8
"""A first message with this many content characters beyond the restated gist counts as the details."""


def required_facts(complaint_type: Optional[str], handoff_reason: Optional[str] = None) -> list[str]:
    """The facts the understand phase collects for a case; none once a human takes over."""
    if handoff_reason:
        return []
    return list(REQUIRED_FACTS.get(complaint_type or "product", REQUIRED_FACTS["product"]))


def missing_facts(
    complaint_type: Optional[str], slots: Mapping[str, Any], handoff_reason: Optional[str] = None
) -> list[str]:
    """Required facts that have no value yet, in asking order."""
    return [f for f in required_facts(complaint_type, handoff_reason) if slots.get(f) in (None, "")]


def detail_from_first_message(text: str) -> Optional[str]:
    """The first message itself when it already describes the problem in enough detail."""
    text = (text or "").strip()
    return text if content_length(text) >= DETAIL_MIN_CHARS else None


def evidence_list(slot_value: Any, photos: Sequence[str]) -> list[str]:
    """The ticket's evidence: the photos sent, else the evidence answer when it names a photo."""
    if photos:
        return [f"photo:{p}" for p in photos]
    return [str(slot_value)] if slot_value and str(slot_value).startswith("photo:") else []


def consecutive_misunderstandings(intents: Sequence[Optional[str]]) -> int:
    """How many of the latest user messages in a row the bot did not understand."""
    count = 0
    for intent in reversed(intents):
        if intent != "nlu_fallback":
            break
        count += 1
    return count


def summary(slots: Mapping[str, Any], last_messages: Iterable[str] = ()) -> dict[str, Any]:
    """The handoff summary an agent reads first: type, cause (id and label), secondary type,
    urgency, phase, facts, options."""
    facts = {
        k: slots.get(k)
        for k in (
            "order_id",
            "tracking_number",
            "courier",
            "product_category",
            "problem_summary",
            "problem_detail",
            "evidence",
            "desired_outcome",
            "demanded_amount",
            "order_amount",
            "phone",
        )
        if slots.get(k) not in (None, "")
    }
    cause = cause_vocabulary().get(str(slots.get("complaint_cause") or ""))
    return {
        "type": slots.get("complaint_type"),
        "secondary_type": slots.get("secondary_type"),
        "cause": cause.id if cause else None,
        "cause_label": cause.label if cause else None,
        "urgency": slots.get("urgency"),
        "phase": slots.get("phase") or "understand",
        "facts": facts,
        "options_offered": [o.get("label") for o in slots.get("options_offered") or []],
        "chosen_option": (slots.get("chosen_option") or {}).get("label")
        if isinstance(slots.get("chosen_option"), dict)
        else None,
        "last_messages": list(last_messages)[-5:],
    }
