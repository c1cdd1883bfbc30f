"""Phrases trainers taught: entity spans from corrected examples, found again in new messages (issue 11).

The statistical model does not learn entities here (DIET runs with ``entity_recognition: false``;
entities and urgency come from the rule readers of this package). A trainer who marks "烫出泡"
as urgency ``safety`` or "暖手宝" as a ``product_category`` expects the bot to read it next time,
so the annotated spans of the training data become phrases: :func:`learn` collects them at
training time, :func:`find` looks for them in a normalised message, after the rule readers.

Rules, so a taught phrase cannot do more harm than a lexicon entry:

- only the entities in :data:`LEARNABLE` (names, not numbers: an order number is not a phrase);
- a phrase has at least :data:`MIN_CHARS` characters (one character matches everywhere), and an
  urgency phrase does not start with a negation (:data:`NEGATIONS`: "没有烫伤" marked urgent is a slip);
- a phrase taught under two values is ambiguous and dropped;
- a match is skipped where an entity of the same name already covers it, where a longer taught
  phrase matched, and for ``urgency`` where it is negated ("没有烫出泡", :func:`bot.language.urgency.is_negated`)
  or its level was already found.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bot.language.urgency import is_negated

LEARNABLE = ("urgency", "product_category", "courier", "desired_outcome")
MIN_CHARS = 2
NEGATIONS = "不没无未别非"
"""An urgency phrase starting with one of these ("没有烫伤") is a negation, never learnt as urgent."""


@dataclass(frozen=True)
class Phrase:
    """A taught span: its (normalised) text, the entity, its value and role."""

    text: str
    entity: str
    value: str
    role: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def learn(examples: Iterable[tuple[str, Sequence[Mapping[str, Any]]]]) -> list[Phrase]:
    """The phrases of annotated examples ``(normalised text, entities with start/end/entity/value)``.

    Returns:
        One phrase per (text, entity), longest first; ambiguous ones (two values) left out.
    """
    seen: dict[tuple[str, str, str | None], set[str]] = {}
    for text, entities in examples:
        for entity in entities:
            name = str(entity.get("entity") or "")
            start, end = entity.get("start"), entity.get("end")
            if name not in LEARNABLE or not isinstance(start, int) or not isinstance(end, int):
                continue
            span = text[start:end].strip()
            if len(span) < MIN_CHARS or (name == "urgency" and span[0] in NEGATIONS):
                continue
            value = str(entity.get("value") or span)
            seen.setdefault((span, name, entity.get("role") or None), set()).add(value)
    phrases = [
        Phrase(span, name, next(iter(values)), role) for (span, name, role), values in seen.items() if len(values) == 1
    ]
    return sorted(phrases, key=lambda p: (-len(p.text), p.text, p.entity))


def find(text: str, phrases: Sequence[Phrase], found: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    """Entities for the taught ``phrases`` in ``text`` that the readers in ``found`` did not already give.

    Returns:
        Rasa entity dicts (``entity``, ``value``, ``start``, ``end``, ``text``, maybe ``role``).
    """
    taken: dict[str, list[tuple[int, int]]] = {}
    levels = set()
    for given in found:
        taken.setdefault(str(given.get("entity")), []).append(
            (int(given.get("start") or 0), int(given.get("end") or 0))
        )
        if given.get("entity") == "urgency":
            levels.add(given.get("value"))
    out: list[dict[str, Any]] = []
    for phrase in phrases:  # longest first: "烫出泡了" before "烫出泡"
        start = text.find(phrase.text)
        while start >= 0:
            end = start + len(phrase.text)
            spans = taken.setdefault(phrase.entity, [])
            free = not any(a < end and start < b for a, b in spans)
            if phrase.entity == "urgency" and (phrase.value in levels or is_negated(text, start, end)):
                free = False
            if free:
                entity: dict[str, Any] = {
                    "entity": phrase.entity,
                    "value": phrase.value,
                    "start": start,
                    "end": end,
                    "text": phrase.text,
                }
                if phrase.role:
                    entity["role"] = phrase.role
                out.append(entity)
                spans.append((start, end))
                if phrase.entity == "urgency":
                    levels.add(phrase.value)
            start = text.find(phrase.text, start + 1)
    return out
