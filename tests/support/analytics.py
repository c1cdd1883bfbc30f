"""Hand-built analytics projections for the report tests (every key of ``FIELDS``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.analytics.facts import FIELDS, VERSION

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOUR = 3600.0
DAY = 24 * HOUR
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=SHANGHAI).timestamp()
"""Tuesday 2026-11-24 12:00 in Shanghai."""


def shanghai(day: int, hour: int = 12, minute: int = 0, month: int = 11) -> float:
    """Epoch seconds of 2026-<month>-<day> <hour>:<minute> in Shanghai."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI).timestamp()


def fact(id: str, at: float, **values: Any) -> dict[str, Any]:
    """A projection created at ``at``: None everywhere but what is given (day, hour and weekday
    from ``at``; status ``open``; ``escalated`` and ``risk_flag`` False)."""
    moment = datetime.fromtimestamp(at, SHANGHAI)
    base: dict[str, Any] = {name: None for name in FIELDS}
    base.update(
        v=VERSION,
        id=id,
        created_at=at,
        day=moment.strftime("%Y-%m-%d"),
        hour=moment.hour,
        weekday=moment.weekday(),
        status="open",
        escalated=False,
        risk_flag=False,
    )
    unknown = set(values) - set(FIELDS)
    assert not unknown, f"not a projection field: {unknown}"
    base.update(values)
    return base
