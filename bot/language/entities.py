"""Rule-based entity extraction with spaCy (blank ``zh`` pipeline, jieba segmenter).

Two spaCy components do the work:

* an ``entity_ruler`` with phrase patterns for couriers and product categories (the words
  also go into jieba's dictionary, so the token patterns line up with the segmentation);
* ``complaint_regex``, a small custom component for things that are about characters, not
  words: order and tracking numbers, phone numbers, amounts (read by ``bot.language.numbers``,
  the one number reader: 三百块 -> 300, 2千 -> 2000, with the role ``demand`` or ``price`` when
  the words around say so) and date/time expressions.

The result is a list of plain dicts in Rasa's entity format, so the Rasa component that wraps
this module stays a few lines long.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path
from typing import Any, Iterator

import yaml

from bot.language.numbers import find_amounts
from bot.privacy import is_id_card_number

logger = logging.getLogger(__name__)

_RESOURCE = Path(__file__).parent / "resources" / "entities.yml"
JIEBA_USERDICT = Path(__file__).parent / "resources" / "jieba" / "userdict.txt"
"""The jieba dictionary shared by Rasa's JiebaTokenizer and the spaCy pipeline."""

_PHONE = re.compile(r"(?<![0-9])(1[3-9][0-9])[ -]?([0-9]{4})[ -]?([0-9]{4})(?![0-9])")
_LANDLINE = re.compile(r"(?<![0-9])(0[0-9]{2,3})-([0-9]{7,8})(?![0-9])")
_TRACKING = re.compile(r"(?<![A-Za-z0-9])((?:SF|JD|JDV|YT|ZTO|STO|YD|JT|DPK|EMS|TT)[0-9]{8,20})(?![0-9])", re.I)
_ORDER_LABELLED = re.compile(r"(?:订单号?|单号|订单编号)(?:是|为)?[:： ]*([A-Za-z0-9][A-Za-z0-9-]{5,31})")
_ORDER_DIGITS = re.compile(r"(?<![0-9A-Za-z])([0-9]{10,25}|[0-9]{4}(?: [0-9]{4}){2,5}(?: [0-9]{1,4})?)(?![0-9])")
# A day or count starts where its run of digits starts (as numbers.py's ``_START``): otherwise the
# pattern retried at every position of a long digit run, quadratic in its length (issue 13).
_DAY = r"(?<![0-9一二三四五六七八九十两])[0-9一二三四五六七八九十两]+"
_TIME_UNIT = (
    r"(?:大前天|前天|昨天|今天|明天|后天|昨晚上?|今晚|今早|昨早|上午|中午|下午|傍晚|晚上|半夜|凌晨|早上|"
    r"上(?:个)?(?:周|星期|礼拜)[一二三四五六日天]?|这(?:个)?(?:周|星期|礼拜)[一二三四五六日天]?|"
    r"(?:周|星期|礼拜)[一二三四五六日天]|上个月|这个月|月初|月底|"
    r"(?<![0-9])[0-9]{4}[-/年][0-9]{1,2}[-/月][0-9]{1,2}[日号]?|"
    rf"{_DAY}月{_DAY}[号日]|{_DAY}[号日](?=[^0-9]|$)|"
    rf"{_DAY}(?:点半?|点{_DAY}分?)|"
    rf"{_DAY}(?:多)?(?:天|周|个星期|个月|个小时|小时|分钟)(?:前|以前|之前|了|内|多)?)"
)
_TIME = re.compile(rf"(?:{_TIME_UNIT})+")
_TIANTIAN = re.compile(r"(?:发|用|走|换|寄)了?(天天)(?!快递)")


def _lexicon() -> dict[str, dict[str, list[str]]]:
    return yaml.safe_load(_RESOURCE.read_text(encoding="utf-8"))


def lexicon_words() -> list[str]:
    """All lexicon words, for jieba's dictionary."""
    words: list[str] = []
    for groups in _lexicon().values():
        for aliases in groups.values():
            words.extend(str(a) for a in aliases)
    return words


def _entity(name: str, value: Any, start: int, end: int, text: str) -> dict[str, Any]:
    return {"entity": name, "value": value, "start": start, "end": end, "text": text[start:end]}


_ID_LABEL = re.compile(r"(身份证|证件)号?码?[是为:： ]*$")


def _is_id_number(text: str, start: int, value: str) -> bool:
    """An ID-card number is never an order number: a valid one, or one labelled as such."""
    return is_id_card_number(value) or bool(_ID_LABEL.search(text[max(0, start - 8) : start]))


def _regex_entities(text: str) -> Iterator[dict[str, Any]]:
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    for m in _PHONE.finditer(text):
        taken.append(m.span())
        yield _entity("phone", "".join(m.groups()), *m.span(), text)
    for m in _LANDLINE.finditer(text):
        if free(*m.span()):
            taken.append(m.span())
            yield _entity("phone", "-".join(m.groups()), *m.span(), text)
    for m in _TRACKING.finditer(text):
        if free(*m.span(1)):
            taken.append(m.span(1))
            yield _entity("tracking_number", m.group(1).upper(), *m.span(1), text)
    for m in _ORDER_LABELLED.finditer(text):
        if free(*m.span(1)) and not _is_id_number(text, m.start(1), m.group(1)):
            taken.append(m.span(1))
            yield _entity("order_id", m.group(1), *m.span(1), text)
    for m in _ORDER_DIGITS.finditer(text):
        if free(*m.span(1)) and not _is_id_number(text, m.start(1), m.group(1).replace(" ", "")):
            taken.append(m.span(1))
            yield _entity("order_id", m.group(1).replace(" ", ""), *m.span(1), text)
    for amount in find_amounts(text):
        if free(amount.start, amount.end):
            taken.append((amount.start, amount.end))
            entity = _entity("amount", amount.value, amount.start, amount.end, text)
            if amount.role:
                entity["role"] = amount.role
            yield entity
    for m in _TIME.finditer(text):
        if free(*m.span()):
            taken.append(m.span())
            yield _entity("time", m.group(0), *m.span(), text)
    for m in _TIANTIAN.finditer(text):
        if free(*m.span(1)):
            yield _entity("courier", "天天快递", *m.span(1), text)


@functools.lru_cache(maxsize=1)
def build_nlp() -> Any:
    """Builds the spaCy pipeline once per process (blank zh + jieba + entity ruler + regex)."""
    import jieba
    import spacy
    from spacy.language import Language
    from spacy.tokens import Doc, Span

    jieba.load_userdict(str(JIEBA_USERDICT))

    if not Span.has_extension("value"):
        Span.set_extension("value", default=None)

    if "complaint_regex" not in Language.factories:

        @Language.component("complaint_regex")
        def complaint_regex(doc: Doc) -> Doc:
            spans = list(doc.ents)
            for ent in _regex_entities(doc.text):
                span = doc.char_span(ent["start"], ent["end"], label=ent["entity"], alignment_mode="expand")
                if span is None:
                    continue
                span._.set("value", {k: ent[k] for k in ("value", "start", "end", "role") if k in ent})
                spans.append(span)
            doc.ents = spacy.util.filter_spans(spans)
            return doc

    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    ruler = nlp.add_pipe("entity_ruler", config={"overwrite_ents": True})
    patterns = []
    for label, groups in _lexicon().items():
        for canonical, aliases in groups.items():
            for alias in aliases:
                patterns.append({"label": label, "pattern": str(alias), "id": str(canonical)})
    ruler.add_patterns(patterns)
    nlp.add_pipe("complaint_regex")
    return nlp


def extract_entities(text: str) -> list[dict[str, Any]]:
    """Extracts order/tracking numbers, phones, amounts, times, couriers and product categories.

    Args:
        text: a normalised message.

    Returns:
        Rasa-style entity dicts (``entity``, ``value``, ``start``, ``end``, ``text``), by position.
    """
    if not text or not text.strip():
        return []
    doc = build_nlp()(text)
    entities = []
    for ent in doc.ents:
        extra = ent._.value
        if isinstance(extra, dict):
            entity = _entity(ent.label_, extra["value"], extra["start"], extra["end"], text)
            if extra.get("role"):
                entity["role"] = extra["role"]
            entities.append(entity)
        else:
            entities.append(_entity(ent.label_, ent.ent_id_ or ent.text, ent.start_char, ent.end_char, text))
    entities.sort(key=lambda e: e["start"])
    return entities
