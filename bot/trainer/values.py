"""The values an annotated entity may take, and reading a trainer's span into one (issue 11).

Four entities have a closed vocabulary that the dialogue relies on: ``urgency`` (its levels),
``courier`` (the canonical company names of ``entities.yml``), ``product_category`` (category ids)
and ``desired_outcome`` (outcome ids of ``outcomes.yml``). A trainer marks words ("电饭煲") and
may leave the value out; :func:`canonical` reads the words with the same readers the bot uses, so
the example says ``appliances``, as the rule reader would. Other entities keep the value given, or
the words.
"""

from __future__ import annotations

import functools

from bot.language.entities import _lexicon as entity_lexicon
from bot.language.entities import extract_entities
from bot.language.normalize import normalize_text
from bot.language.replies import comparable, find_keywords, outcome_vocabulary
from bot.language.urgency import URGENCY_LEVELS, detect_urgency


@functools.lru_cache(maxsize=1)
def vocabularies() -> dict[str, list[str]]:
    """Entity name → the values it may take (only the entities with a closed vocabulary)."""
    lexicon = entity_lexicon()
    return {
        "urgency": list(URGENCY_LEVELS),
        "courier": sorted(lexicon.get("courier") or {}),
        "product_category": sorted(lexicon.get("product_category") or {}),
        "desired_outcome": sorted(outcome_vocabulary()),
    }


def canonical(entity: str, words: str, value: str | None) -> str | None:
    """The value to save for ``entity`` over ``words``; None when it cannot be one of the vocabulary.

    A value of the vocabulary is kept; otherwise the words are read (urgency triggers, the entity
    lexicon, outcome keywords) and the first reading of that entity is the value. Entities
    without a vocabulary keep ``value`` or, without one, the words.
    """
    vocabulary = vocabularies().get(entity)
    if vocabulary is None:
        return value or words
    if value in vocabulary:
        return value
    text = normalize_text(words)
    if entity == "urgency":
        levels = [hit.level for hit in detect_urgency(text)]
        return levels[0] if levels else None
    if entity == "desired_outcome":
        hits = find_keywords(comparable(text), [(k, w) for k, (_, w) in outcome_vocabulary().items()])
        return hits[0].owner if hits else None
    read = [str(e["value"]) for e in extract_entities(text) if e["entity"] == entity]
    return read[0] if read and read[0] in vocabulary else None
