"""Entity spans a trainer marks, checked against jieba's segmentation (issue 11).

DIET learns entities per token, and our tokens are jieba's (``config.yml``: ``JiebaTokenizer``
with ``bot/language/resources/jieba``). A span that starts or ends inside a token cannot be
learned: Rasa warns and drops it at training time. The workbench refuses it up front, naming the
token it cuts and the nearest span that would work.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.language.entities import JIEBA_USERDICT


@functools.lru_cache(maxsize=1)
def _jieba() -> Any:
    import jieba

    tokenizer = jieba.Tokenizer()
    tokenizer.load_userdict(str(JIEBA_USERDICT))
    return tokenizer


def tokens(text: str) -> list[tuple[str, int, int]]:
    """jieba's tokens of ``text`` as ``(word, start, end)`` character offsets, spaces left out."""
    return [(w, s, e) for w, s, e in _jieba().tokenize(text) if w.strip()]


@dataclass(frozen=True)
class Misaligned:
    """A span that does not fall on token boundaries, with the span that would (``suggested``)."""

    entity: str
    start: int
    end: int
    reason: str
    suggested: tuple[int, int] | None
    reason_zh: str = ""
    """The reason in Chinese, as the workbench shows it to trainers."""


def misaligned(text: str, entities: Sequence[Mapping[str, Any]]) -> list[Misaligned]:
    """The spans of ``entities`` (``start``/``end`` character offsets) Rasa could not learn.

    A span must be inside the text, not empty, and start and end on jieba token boundaries.
    ``suggested`` widens the span to the tokens it touches.
    """
    toks = tokens(text)
    starts = {s for _, s, _ in toks}
    ends = {e for _, _, e in toks}
    problems = []
    for entity in entities:
        name = str(entity.get("entity") or "")
        start, end = entity.get("start"), entity.get("end")
        if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end <= len(text):
            problems.append(
                Misaligned(
                    name, int(start or 0), int(end or 0), "the span is not inside the text", None, "所选范围不在文本内"
                )
            )
            continue
        if start in starts and end in ends:
            continue
        touched = [(s, e) for _, s, e in toks if s < end and e > start]
        suggested = (touched[0][0], touched[-1][1]) if touched else None
        cut = [w for w, s, e in toks if (s < start < e) or (s < end < e)]
        problems.append(
            Misaligned(
                name,
                start,
                end,
                f"the span cuts the word{'s' if len(cut) > 1 else ''} {'、'.join(cut)}: "
                "Rasa learns entities per jieba token",
                suggested,
                f"所选范围切开了词语「{'、'.join(cut)}」：模型按 jieba 分词学习实体，范围须从词的开头到词的结尾",
            )
        )
    return problems
