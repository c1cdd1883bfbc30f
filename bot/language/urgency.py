"""Urgency detection (SPEC.md section 3): safety, media_legal, vulnerable.

A lexicon of regular expressions (``resources/urgency.yml``) finds triggers; a small negation
check drops triggers the customer denies ("没有受伤", "还好没吃", "受伤倒没有"). Questions and
worries ("会不会过敏", "怕中毒") still count: a human would rather check than miss them.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

URGENCY_LEVELS = ("safety", "media_legal", "vulnerable")
"""Urgency classes in priority order (a message with several reports the first)."""

_RESOURCE = Path(__file__).parent / "resources" / "urgency.yml"
_CLAUSE_BREAK = re.compile(r"[,.!?;:，。！？；：、~\s]")
# Words that contain a negation character but do not negate what follows.
_NOT_NEGATION = re.compile(
    r"没想到|没办法|没法|没用|没人|没多久|没过多久|没几天|没一会|不知道|不久|不小心|不停|不断|"
    r"不行|不舒服|不了|会不会|是不是|有没有|无缘无故|不一会|不到|"
    # "没两分钟就起火了", "没几口就吐了": the negation is of a duration or an amount, not of the event
    r"没有?(?:[几两一二三四五六七八九十百半多0-9]+)(?:个)?(?:分钟|秒钟?|天|口|下|次|小时|会儿?|步|回|周|月|趟|遍|勺|片|颗|粒)"
)
_NEGATION_BEFORE = re.compile(r"(没有|没|未|并未|无|不是|不算|不用|不会|并非|别|不至于|幸好|还好|好在)")
_NEGATION_AFTER = re.compile(r"^(倒是?)?(没有|没事|不至于|就不用了|倒没事)")
_WINDOW = 5


@dataclass(frozen=True)
class UrgencyHit:
    """One urgency trigger found in a message."""

    level: str
    start: int
    end: int
    trigger: str


@functools.lru_cache(maxsize=1)
def _patterns() -> dict[str, list[re.Pattern[str]]]:
    raw = yaml.safe_load(_RESOURCE.read_text(encoding="utf-8"))
    return {level: [re.compile(p) for p in raw.get(level, [])] for level in URGENCY_LEVELS}


def _is_negated(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - _WINDOW) : start]
    parts = _CLAUSE_BREAK.split(before)
    before = _NOT_NEGATION.sub("", parts[-1] if parts else "")
    if _NEGATION_BEFORE.search(before):
        return True
    after = _CLAUSE_BREAK.split(text[end : end + 6])[0]
    return bool(_NEGATION_AFTER.match(after))


def detect_urgency(text: str) -> list[UrgencyHit]:
    """Finds every non-negated urgency trigger in ``text``.

    Args:
        text: a normalised customer message (Simplified, half-width).

    Returns:
        The hits, in priority order of their level and then by position.
    """
    hits: list[UrgencyHit] = []
    if not text:
        return hits
    for level, patterns in _patterns().items():
        for pattern in patterns:
            for match in pattern.finditer(text):
                if match.end() == match.start():
                    continue
                if _is_negated(text, match.start(), match.end()):
                    continue
                hits.append(UrgencyHit(level, match.start(), match.end(), match.group(0)))
    order = {level: i for i, level in enumerate(URGENCY_LEVELS)}
    hits.sort(key=lambda h: (order[h.level], h.start))
    return hits


def top_urgency(text: str) -> str | None:
    """Returns the highest-priority urgency level present in ``text``, or None."""
    hits = detect_urgency(text)
    return hits[0].level if hits else None
