"""What a trainer reviews: a conversation's turns with the NLU's reading, and how unsure each was.

Plain Python over Rasa's tracker events as stored (dicts: ``{"event": "user", "text": ...,
"parse_data": {...}}``, ``{"event": "bot", ...}``, ``{"event": "action", "name": ...}``,
``{"event": "slot", "name": ..., "value": ...}``), so the same code reads live conversations
from the tracker store and turns imported from a shop's chat export (issue 11).

Uncertainty of a turn (higher = review first), in this order of weight:

- the customer corrected the bot right after it ("不是…", "不对" after a restatement):
  :data:`CORRECTED` is added, because the reading was wrong whatever the classifier thought;
- the turn fell back (``nlu_fallback``): :data:`FALLBACK` is added;
- ``1 - margin``, the margin being the top intent's confidence minus the runner-up's (a
  reading with 0.51 / 0.49 is nearly a coin toss even when it is not a fallback).

Customer text is shown as the NLU read it (normalised: the entities' offsets refer to it) and
masked (:func:`bot.privacy.mask_pii`) with the offsets carried through (:func:`masked_reading`),
entity values masked too: a trainer needs the wording, not the phone number.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.language.replies import is_correction
from bot.privacy import mask_pii

FALLBACK_INTENT = "nlu_fallback"
LOW_CONFIDENCE = 0.6
"""A turn whose top intent is below this confidence is "low confidence" (the ``low_confidence`` filter)."""
CORRECTED = 2.0
FALLBACK = 1.0
FILTERS = ("low_confidence", "fallback", "handoff")


@dataclass(frozen=True)
class Turn:
    """One customer message with the NLU's reading and what the bot did next.

    ``confidence``, ``runner_up_confidence`` and ``margin`` are in 0..1; ``timestamp`` in epoch
    seconds (None for imported turns without a time); ``entities`` keep Rasa's shape
    (``entity``, ``value``, ``start``, ``end``); ``urgency`` lists the ``urgency`` entities' values.
    """

    index: int
    text: str
    intent: str | None
    confidence: float
    runner_up: str | None
    runner_up_confidence: float
    entities: tuple[Mapping[str, Any], ...]
    urgency: tuple[str, ...]
    timestamp: float | None
    actions: tuple[str, ...] = ()
    replies: tuple[str, ...] = ()
    corrected_next: bool = False

    @property
    def margin(self) -> float:
        """Top intent's confidence minus the runner-up's (1.0 when there is no runner-up)."""
        return self.confidence - self.runner_up_confidence if self.runner_up else 1.0

    @property
    def fallback(self) -> bool:
        """The NLU did not understand the turn."""
        return self.intent == FALLBACK_INTENT

    @property
    def understood_confidence(self) -> float:
        """How sure the bot was that it understood the turn: the confidence, or 0.0 for a fallback."""
        return 0.0 if self.fallback else self.confidence

    @property
    def uncertainty(self) -> float:
        """How much the turn deserves a trainer's look (see the module docstring); 0..3.2."""
        score = 1.0 - max(0.0, min(1.0, self.margin))
        if self.fallback:
            score += FALLBACK
        if self.corrected_next:
            score += CORRECTED
        return round(score, 4)


@dataclass(frozen=True)
class Conversation:
    """A conversation as the trainer's list shows it."""

    sender_id: str
    channel: str | None
    turns: tuple[Turn, ...]
    handoff_reason: str | None = None
    complaint_type: str | None = None
    cause: str | None = None
    slots: Mapping[str, Any] = field(default_factory=dict)

    @property
    def started(self) -> float | None:
        """The first turn's time (epoch seconds), if known."""
        times = [t.timestamp for t in self.turns if t.timestamp is not None]
        return min(times) if times else None

    @property
    def least_confidence(self) -> float:
        """The lowest confidence of its turns (1.0 without turns); a fallback turn counts 0.0: the bot
        did not understand it, however sure the rule that decided the fallback was."""
        return min((t.understood_confidence for t in self.turns), default=1.0)

    def matches(self, name: str) -> bool:
        """Whether the conversation passes the filter ``name`` (one of :data:`FILTERS`).

        Raises:
            ValueError: an unknown filter name.
        """
        if name == "low_confidence":
            return any(t.understood_confidence < LOW_CONFIDENCE for t in self.turns)
        if name == "fallback":
            return any(t.fallback for t in self.turns)
        if name == "handoff":
            return self.handoff_reason is not None
        raise ValueError(f"unknown filter {name!r}; expected one of {', '.join(FILTERS)}")


def masked_reading(text: str, entities: Sequence[Mapping[str, Any]]) -> tuple[str, tuple[dict[str, Any], ...]]:
    """``text`` masked (:func:`bot.privacy.mask_pii`) with ``entities`` moved to the masked text.

    ``text`` must be the text the entities' offsets refer to (the NLU's normalised text). Masking
    can change lengths ("138 1234 5678" → "138****5678", an address → "上海***"): offsets are
    carried through the edit, an entity inside masked words keeps only a masked value, and an
    entity that no longer has words of its own is dropped. String values are masked too.
    """
    masked = mask_pii(text)
    if masked == text:
        moved = [dict(e) for e in entities]
    else:
        blocks = difflib.SequenceMatcher(None, text, masked, autojunk=False).get_matching_blocks()

        def place(offset: int, end: bool) -> int | None:
            for a, b, size in blocks:
                if a <= offset <= a + size and size:
                    if (end and offset > a) or (not end and offset < a + size):
                        return b + (offset - a)
            return None

        moved = []
        for entity in entities:
            start, stop = entity.get("start"), entity.get("end")
            if not isinstance(start, int) or not isinstance(stop, int):
                continue
            new_start, new_end = place(start, False), place(stop, True)
            if new_start is None or new_end is None or new_end <= new_start:
                continue  # its words were masked away: a trainer re-marks them if needed
            moved.append({**entity, "start": new_start, "end": new_end})
    for entity in moved:
        for key in ("value", "text"):
            if isinstance(entity.get(key), str):
                entity[key] = mask_pii(entity[key])
    return masked, tuple(moved)


def _ranking(parse: Mapping[str, Any]) -> list[tuple[str, float]]:
    ranking = [
        (str(r.get("name")), float(r.get("confidence") or 0.0))
        for r in parse.get("intent_ranking") or []
        if r.get("name")
    ]
    intent = parse.get("intent") or {}
    if intent.get("name") and not any(name == intent["name"] for name, _ in ranking):
        ranking.insert(0, (str(intent["name"]), float(intent.get("confidence") or 0.0)))
    return ranking


def read_conversation(sender_id: str, events: Iterable[Mapping[str, Any]]) -> Conversation:
    """Builds the trainer's view of one conversation from its tracker events.

    Args:
        sender_id: the conversation id (``channel:customer`` for our channels).
        events: Rasa events as dicts, oldest first.

    Returns:
        The conversation with one :class:`Turn` per user message; the intent is the one the
        pipeline decided (after our rules), the runner-up the best other intent of the ranking.
    """
    drafts: list[dict[str, Any]] = []
    slots: dict[str, Any] = {}
    channel: str | None = None
    for event in events:
        kind = event.get("event")
        if kind == "user":
            parse = event.get("parse_data") or {}
            intent = (parse.get("intent") or {}).get("name")
            confidence = float((parse.get("intent") or {}).get("confidence") or 0.0)
            others = [(n, c) for n, c in _ranking(parse) if n != intent]
            runner = max(others, key=lambda nc: nc[1]) if others else (None, 0.0)
            # the entities' offsets refer to the text the NLU read (normalised), kept in parse_data
            read_text = str(parse.get("text") or event.get("text") or "")
            shown, entities = masked_reading(read_text, parse.get("entities") or [])
            channel = channel or event.get("input_channel")
            drafts.append(
                {
                    "index": len(drafts),
                    "raw": str(event.get("text") or ""),
                    "text": shown,
                    "intent": intent,
                    "confidence": confidence,
                    "runner_up": runner[0],
                    "runner_up_confidence": runner[1],
                    "entities": entities,
                    "urgency": tuple(str(e.get("value")) for e in entities if e.get("entity") == "urgency"),
                    "timestamp": event.get("timestamp"),
                    "actions": [],
                    "replies": [],
                }
            )
        elif kind == "action" and drafts and event.get("name") != "action_listen":
            drafts[-1]["actions"].append(str(event.get("name")))
        elif kind == "bot" and drafts:
            drafts[-1]["replies"].append(mask_pii(str(event.get("text") or "")))
        elif kind == "slot" and event.get("name"):
            slots[str(event["name"])] = event.get("value")
    turns = []
    for i, draft in enumerate(drafts):
        following = drafts[i + 1] if i + 1 < len(drafts) else None
        corrected = bool(following and draft["replies"] and is_correction(following["raw"]))
        turns.append(
            Turn(
                index=draft["index"],
                text=draft["text"],
                intent=draft["intent"],
                confidence=draft["confidence"],
                runner_up=draft["runner_up"],
                runner_up_confidence=draft["runner_up_confidence"],
                entities=draft["entities"],
                urgency=draft["urgency"],
                timestamp=draft["timestamp"],
                actions=tuple(draft["actions"]),
                replies=tuple(draft["replies"]),
                corrected_next=corrected,
            )
        )
    return Conversation(
        sender_id=sender_id,
        channel=channel or (sender_id.split(":", 1)[0] if ":" in sender_id else None),
        turns=tuple(turns),
        handoff_reason=slots.get("handoff_reason"),
        complaint_type=slots.get("complaint_type"),
        cause=slots.get("complaint_cause"),
        slots=slots,
    )


def select(
    conversations: Iterable[Conversation],
    *,
    filter: str | None = None,
    complaint_type: str | None = None,
    cause: str | None = None,
    channel: str | None = None,
    since: float | None = None,
    until: float | None = None,
    order: str = "newest",
) -> list[Conversation]:
    """The conversations a trainer asked for, newest or least confident first.

    Args:
        filter: one of :data:`FILTERS`, or None for all.
        complaint_type, cause, channel: keep only these (None keeps all).
        since, until: epoch seconds; a conversation counts by its first turn's time (one without
            a time is kept only when neither bound is given).
        order: ``newest`` or ``least_confident``.

    Raises:
        ValueError: an unknown filter or order.
    """
    if order not in ("newest", "least_confident"):
        raise ValueError(f"unknown order {order!r}; expected newest or least_confident")
    if filter is not None and filter not in FILTERS:
        raise ValueError(f"unknown filter {filter!r}; expected one of {', '.join(FILTERS)}")
    kept = []
    for conversation in conversations:
        started = conversation.started
        if filter is not None and not conversation.matches(filter):
            continue
        if complaint_type is not None and conversation.complaint_type != complaint_type:
            continue
        if cause is not None and conversation.cause != cause:
            continue
        if channel is not None and conversation.channel != channel:
            continue
        if (since is not None or until is not None) and started is None:
            continue
        if since is not None and started is not None and started < since:
            continue
        if until is not None and started is not None and started >= until:
            continue
        kept.append(conversation)
    if order == "newest":
        return sorted(kept, key=lambda c: c.started or 0.0, reverse=True)
    return sorted(kept, key=lambda c: c.least_confidence)


def least_sure_first(conversations: Sequence[Conversation], limit: int = 50) -> list[tuple[Conversation, Turn]]:
    """Single turns across all conversations, the most uncertain first (ties: newest first).

    Args:
        limit: at most this many turns (a queue for one sitting, not the whole history).
    """
    pairs = [(c, t) for c in conversations for t in c.turns]
    pairs.sort(key=lambda ct: (-ct[1].uncertainty, -(ct[1].timestamp or 0.0)))
    return pairs[: max(0, limit)]
