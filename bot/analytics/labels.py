"""The Chinese words the dashboard shows for ids (SPEC.md section 7).

Where each comes from (nothing is invented here but the words for a missing value and for time):

=============  ===================================================================================
complaint type ``dashboard.complaint_types`` of ``policy/labels.yml``, else its ``complaint_types``
cause          ``label`` of ``bot/language/resources/causes.yml`` (``wrong_item`` -> ``发错货``)
category       the first name of the category in ``categories`` of ``policy/options.yml``
urgency        ``dashboard.urgency`` of ``policy/labels.yml``; no urgency reads ``普通``
handoff reason ``dashboard.handoff_reasons`` of ``policy/labels.yml``
channel        ``dashboard.channels`` of ``policy/labels.yml``, else the id
queue          ``queues`` of ``policy/labels.yml``; status ``ticket_statuses``
=============  ===================================================================================

An id without a label reads as itself, so a new value shows up instead of disappearing. The
files are read on first use and cached per process (``clear_cache()`` forgets them).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from bot.language.causes import vocabulary as cause_vocabulary
from bot.policy.labels import load_labels

logger = logging.getLogger(__name__)

MISSING = {
    "type": "未分类",
    "cause": "未注明原因",
    "category": "未注明品类",
    "urgency": "普通",
    "channel": "未知渠道",
    "priority": "无优先级",
    "queue": "未分配",
    "reason": "未转人工",
    "customer": "未知客户",
}
"""How a missing value (None) reads, per dimension."""

WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
"""Weekday labels, Monday (0) first, as ``datetime.weekday()`` counts."""


@functools.cache
def _labels() -> Any:
    return load_labels()


@functools.cache
def _categories() -> dict[str, tuple[str, ...]]:
    """Category id -> its names (``options.yml``); empty when the catalogue cannot be read."""
    try:
        from bot.policy.catalogue import default_catalogue

        return {str(k): tuple(v) for k, v in default_catalogue().spec.categories.items()}
    except Exception as error:  # a broken options.yml must not break the dashboard or a ticket write
        logger.warning("product categories unavailable for analytics: %s", error)
        return {}


def clear_cache() -> None:
    """Forgets the files read (tests, or after a policy change)."""
    _labels.cache_clear()
    _categories.cache_clear()


def categories() -> tuple[str, ...]:
    """The category ids of ``options.yml``, in file order."""
    return tuple(_categories())


def resolve_category(value: Any) -> str | None:
    """A category id for a slot value: the id itself, or the id one of its names stands for
    (``家电`` -> ``appliances``); another non-empty text is kept as written; None when empty."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    known = _categories()
    if text.lower() in known:
        return text.lower()
    for category, names in known.items():
        if text in names or text.lower() in names:
            return category
    return text


def _dashboard(section: str) -> dict[str, str]:
    dashboard = getattr(_labels(), "dashboard", None)
    return {str(k): v for k, v in (getattr(dashboard, section, None) or {}).items()}


def type_label(value: str | None) -> str:
    """``product`` -> ``商品问题``."""
    if value is None:
        return MISSING["type"]
    words = _dashboard("complaint_types") or {str(k): v for k, v in _labels().complaint_types.items()}
    return words.get(value, value)


def cause_label(value: str | None) -> str:
    """``wrong_item`` -> ``发错货``."""
    if value is None:
        return MISSING["cause"]
    cause = cause_vocabulary().get(value)
    return cause.label if cause else value


def category_label(value: str | None) -> str:
    """``appliances`` -> ``家电``."""
    if value is None:
        return MISSING["category"]
    names = _categories().get(value)
    return names[0] if names else value


def urgency_label(value: str | None) -> str:
    """``safety`` -> ``人身安全``; None -> ``普通``."""
    return MISSING["urgency"] if value is None else _dashboard("urgency").get(value, value)


def reason_label(value: str | None) -> str:
    """``asked`` -> ``客户要求转人工``; None -> ``未转人工``."""
    return MISSING["reason"] if value is None else _dashboard("handoff_reasons").get(value, value)


def channel_label(value: str | None) -> str:
    """``wechat`` -> ``微信公众号``."""
    return MISSING["channel"] if value is None else _dashboard("channels").get(value, value)


def queue_label(value: str | None) -> str:
    """``supervisor`` -> ``客服主管``."""
    return MISSING["queue"] if value is None else _labels().queues.get(value, value)


def status_label(value: str | None) -> str:
    """``with_agent`` -> ``人工客服处理中``."""
    statuses = {str(k): v for k, v in _labels().ticket_statuses.items()}
    return "" if value is None else statuses.get(value, value)


def label(dimension: str, value: Any) -> str:
    """The label of a value of a heat-map dimension (see ``reports.DIMENSIONS``).

    ``day`` values are ``YYYY-MM-DD`` and read as themselves, ``hour`` 0-23 as ``9时``, ``weekday``
    0-6 as ``周一``..``周日``, ``priority`` as itself.

    Raises:
        ValueError: An unknown dimension.
    """
    if dimension == "type":
        return type_label(value)
    if dimension == "cause":
        return cause_label(value)
    if dimension == "category":
        return category_label(value)
    if dimension == "urgency":
        return urgency_label(value)
    if dimension == "channel":
        return channel_label(value)
    if dimension == "queue":
        return queue_label(value)
    if dimension == "reason":
        return reason_label(value)
    if dimension == "priority":
        return MISSING["priority"] if value is None else str(value)
    if dimension == "day":
        return str(value)
    if dimension == "hour":
        return f"{int(value)}时"
    if dimension == "weekday":
        return WEEKDAYS[int(value)]
    raise ValueError(f"unknown dimension {dimension!r}")
