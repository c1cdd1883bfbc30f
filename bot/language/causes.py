"""The complaint cause (投诉原因): the second level under the four complaint types.

The vocabulary (``resources/causes.yml``) names each cause, its Chinese label and the type it
belongs to; ``resources/cause_patterns.yml`` says how customers write it. :func:`read_causes`
finds every cause a message names, in the order written, without the ones the customer denies
("没有发错", "不是质量问题"). The NLU reports the primary cause as the ``complaint_cause`` entity
and a second type as ``complaint_type2`` (SPEC.md section 6: secondary type); the intent rules
let the cause decide the type when the classifier was led by tone words ("你们怎么回事") rather
than by what went wrong.

Malicious causes are bad faith only (../shared/eval/GUIDELINES.md): money demanded under the
threat of bad reviews (a refund or an exchange under that threat is an ordinary complaint),
payment off the platform together with a claim, an admitted fake claim.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.language.replies import negated

COMPLAINT_TYPES = ("product", "logistics", "service", "malicious")
_RESOURCES = Path(__file__).parent / "resources"

# Extortion needs money: "赔我500不然差评" is bad faith, "不退款就差评" an ordinary complaint.
_MONEY = re.compile(
    r"赔|补偿|红包|转账|转我|打钱|给钱|拿钱|转钱|免单|封口费|私了|送我|送个|升级|换台新|换最新|一台|一部|一套|一整"
    r"|[0-9]+\s*(?:元|块)|[零一二两三四五六七八九十百千万]+\s*(?:元|块)|[0-9]{2,}"
)
_COURIER_ASKED = re.compile(r"要求|指定|说好|备注|明明|说了|让你们|不要发|别发|只要")


@dataclass(frozen=True)
class Cause:
    """One cause of the vocabulary.

    Attributes:
        id: stable ascii id (``wrong_item``), recorded on the ticket.
        type: the complaint type it belongs to (product, logistics, service, malicious).
        label: Chinese label for agents and the dashboard (``发错货``).
        covers: what it covers, in Chinese.
        says: how the bot names it in a restatement (``发错货了``).
        decides_type: the cause fixes the type whatever the classifier thought (SPEC.md
            section 2 names wrong items as product and wrong couriers as logistics).
    """

    id: str
    type: str
    label: str
    covers: str
    says: str
    decides_type: bool = False


@dataclass(frozen=True)
class CauseHit:
    """One place where a message names a cause (offsets in the normalised text)."""

    cause: str
    type: str
    start: int
    end: int
    trigger: str


@dataclass(frozen=True)
class CauseReading:
    """The causes a message names, in the order written."""

    hits: tuple[CauseHit, ...] = ()

    @property
    def types(self) -> list[str]:
        """The complaint types named, the one with most hits first (ties: the one written first)."""
        counts: dict[str, int] = {}
        first: dict[str, int] = {}
        for hit in self.hits:
            counts[hit.type] = counts.get(hit.type, 0) + 1
            first.setdefault(hit.type, hit.start)
        return sorted(counts, key=lambda t: (-counts[t], first[t]))

    @property
    def primary(self) -> CauseHit | None:
        """The first hit of the leading type, or None when no cause is named."""
        return self.first_of(self.types[0]) if self.hits else None

    def first_of(self, complaint_type: str) -> CauseHit | None:
        """The first hit of a given type, or None."""
        return next((h for h in self.hits if h.type == complaint_type), None)

    @property
    def deciding_type(self) -> str | None:
        """The type fixed by a cause that decides it (``wrong_item`` -> product), if any."""
        known = vocabulary()
        return next((h.type for h in self.hits if known[h.cause].decides_type), None)

    def causes(self) -> list[str]:
        """Distinct cause ids, in the order written."""
        return list(dict.fromkeys(h.cause for h in self.hits))


@functools.lru_cache(maxsize=1)
def vocabulary() -> dict[str, Cause]:
    """Every cause by id (``resources/causes.yml``).

    Raises:
        ValueError: a type outside the four complaint types, a cause id used twice or one
            without a label.
    """
    raw = yaml.safe_load((_RESOURCES / "causes.yml").read_text(encoding="utf-8"))
    causes: dict[str, Cause] = {}
    for complaint_type, entries in raw.items():
        if complaint_type not in COMPLAINT_TYPES:
            raise ValueError(f"causes.yml: unknown complaint type {complaint_type!r}")
        for cause_id, spec in entries.items():
            if cause_id in causes:
                raise ValueError(f"causes.yml: cause {cause_id!r} appears twice")
            if not (spec or {}).get("label"):
                raise ValueError(f"causes.yml: cause {cause_id!r} has no label")
            causes[cause_id] = Cause(
                cause_id,
                complaint_type,
                str(spec["label"]),
                str(spec.get("covers") or ""),
                str(spec.get("says") or spec["label"]),
                bool(spec.get("decides_type")),
            )
    return causes


@functools.lru_cache(maxsize=1)
def _patterns() -> list[tuple[Cause, re.Pattern[str]]]:
    raw = yaml.safe_load((_RESOURCES / "cause_patterns.yml").read_text(encoding="utf-8"))
    known = vocabulary()
    compiled: list[tuple[Cause, re.Pattern[str]]] = []
    for complaint_type, entries in raw.items():
        for cause_id, patterns in entries.items():
            cause = known.get(cause_id)
            if cause is None or cause.type != complaint_type:
                raise ValueError(f"cause_patterns.yml: {complaint_type}.{cause_id} is not a cause of causes.yml")
            compiled.extend((cause, re.compile(anchor_runs(p))) for p in patterns)
    return compiled


_RUN = re.compile(r"(\[[^\]\[]+\])\+")


def anchor_runs(pattern: str) -> str:
    """``[0-9]+`` -> ``(?<![0-9])[0-9]+`` for every one-character-class run in ``pattern``.

    A run then starts only where the text's run starts. Whether a pattern matches, and where
    ``search`` finds it first, do not change (the leftmost match starts at the run's start anyway),
    but the engine no longer retries at every position of a long run: a 20,000-digit message took
    22 s in the cause patterns (found by schemathesis, issue 13); now milliseconds.
    """
    return _RUN.sub(lambda m: f"(?<!{m.group(1)}){m.group(1)}+", pattern)


@functools.lru_cache(maxsize=1)
def _couriers() -> re.Pattern[str]:
    raw = yaml.safe_load((_RESOURCES / "entities.yml").read_text(encoding="utf-8"))
    names = {str(alias): str(canonical) for canonical, aliases in raw["courier"].items() for alias in aliases}
    names["天天"] = "天天快递"
    return re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)))


def _courier_hit(text: str) -> CauseHit | None:
    """Two different couriers, the first one asked for ("我要求发圆通，你们发的天天")."""
    pattern = _couriers()
    found = [(m.start(), m.end(), m.group(0)) for m in pattern.finditer(text)]
    canonical = {name[:2] for _, _, name in found}
    if len(canonical) < 2 or not _COURIER_ASKED.search(text[: found[0][0] + 1]):
        return None
    start, end = found[0][0], found[-1][1]
    return CauseHit("wrong_courier", "logistics", start, end, text[start:end])


def read_causes(text: str) -> CauseReading:
    """Finds the causes a normalised message names.

    Args:
        text: a message normalised by :func:`bot.language.normalize.normalize_text`.

    Returns:
        The reading; its hits are ordered by position, overlapping hits of the same cause merged,
        negated ones dropped, and malicious causes kept only when they show bad faith.
    """
    if not text:
        return CauseReading()
    hits: list[CauseHit] = []
    for cause, pattern in _patterns():
        for match in pattern.finditer(text):
            if match.end() == match.start() or negated(text, match.start()):
                continue
            if cause.id == "extortion" and not _MONEY.search(text):
                continue
            hits.append(CauseHit(cause.id, cause.type, match.start(), match.end(), match.group(0)))
    courier = _courier_hit(text)
    if courier is not None:
        hits.append(courier)
    hits.sort(key=lambda h: (h.start, -(h.end - h.start)))
    kept: list[CauseHit] = []
    for hit in hits:
        if any(k.cause == hit.cause and hit.start < k.end for k in kept):
            continue
        kept.append(hit)
    return CauseReading(tuple(kept))


def cause_label(cause_id: str | None) -> str | None:
    """The Chinese label of a cause ("wrong_item" -> "发错货"), or None for an unknown id."""
    cause = vocabulary().get(cause_id or "")
    return cause.label if cause else None
