"""Urgency detection (SPEC.md section 3): safety, media_legal, vulnerable.

A lexicon of regular expressions (``resources/urgency.yml``) finds triggers; a small negation
check drops triggers the customer denies ("没有受伤", "还好没吃", "受伤倒没有"), and the
lexicon's ``look_alikes`` drop triggers inside phrases that only look urgent ("屏幕划伤",
"转发微博", "老人机"). Questions and worries ("会不会过敏", "怕中毒") still count: a human
would rather check than miss them.
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
    # "差点没扎破嘴" means it nearly did; "没熟", "没洗干净" are the cause, not a denial
    r"差点没|差一点没|险些没|"
    r"没有?(?:熟|煮熟|烤熟|炒熟|炸熟|蒸熟|洗|处理|注意|发现|看到|看见|留意|仔细|吃完|喝完)|"
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
def _lexicon() -> dict[str, dict[str, list[re.Pattern[str]]]]:
    raw = yaml.safe_load(_RESOURCE.read_text(encoding="utf-8"))
    look_alikes = raw.get("look_alikes") or {}
    return {
        "triggers": {level: [re.compile(p) for p in raw.get(level, [])] for level in URGENCY_LEVELS},
        "look_alikes": {level: [re.compile(p) for p in look_alikes.get(level, [])] for level in URGENCY_LEVELS},
    }


def _patterns() -> dict[str, list[re.Pattern[str]]]:
    return _lexicon()["triggers"]


def _look_alike_spans(text: str, level: str) -> list[tuple[int, int]]:
    """Spans of the phrases that only look like a trigger of ``level`` ("屏幕划伤", "转发微博")."""
    return [m.span() for p in _lexicon()["look_alikes"][level] for m in p.finditer(text) if m.end() > m.start()]


def is_negated(text: str, start: int, end: int) -> bool:
    """Whether the phrase at ``start:end`` is negated in its clause ("没有发烧", "不烫")."""
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
        look_alikes = _look_alike_spans(text, level)
        for pattern in patterns:
            pos = 0
            while (match := pattern.search(text, pos)) is not None:
                start, end = match.span()
                if end == start or any(a < end and start < b for a, b in look_alikes) or is_negated(text, start, end):
                    # a dropped match does not hide a shorter one inside it: "不是正品 用了头皮发痒"
                    # is negated from "用了", but "头皮发痒" still counts
                    pos = start + 1
                    continue
                hits.append(UrgencyHit(level, start, end, match.group(0)))
                pos = end
    order = {level: i for i, level in enumerate(URGENCY_LEVELS)}
    hits.sort(key=lambda h: (order[h.level], h.start))
    return hits


def top_urgency(text: str) -> str | None:
    """Returns the highest-priority urgency level present in ``text``, or None."""
    hits = detect_urgency(text)
    return hits[0].level if hits else None
