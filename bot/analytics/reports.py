"""The complaint figures of the dashboard (SPEC.md section 7), as pure functions over projections.

Every function takes a list of projections (:func:`bot.analytics.facts.ticket_facts`, as
``TicketStore.all_facts`` returns them; a projection without a key counts that key as None) and,
where time matters, ``now`` in epoch seconds. None of them reads a clock, a file (but the cached
label files) or Redis, so each figure can be checked by hand on a few made-up projections.

Conventions of the returned shapes (all JSON-ready: str keys, numbers, lists, None):

- times are epoch seconds (floats), days ``YYYY-MM-DD`` in Asia/Shanghai, durations seconds;
- a share or rate is a float 0-1 rounded to 4 places, None when its denominator is 0;
- a table is a list of rows (dicts) with a ``key`` (the id, None for "missing") and a ``label``
  (Chinese, :mod:`bot.analytics.labels`), so it renders as it is and :func:`bot.analytics.export.to_csv`
  writes it as it is.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from bot.analytics import labels
from bot.analytics.facts import TIMEZONE
from bot.language.causes import vocabulary as cause_vocabulary
from bot.privacy import mask_pii
from bot.vocabulary import DONE_STATUSES, ComplaintType, Urgency

DAY = 86400.0
"""Seconds in a day."""

DIMENSIONS = ("type", "cause", "category", "urgency", "channel", "day", "hour", "weekday", "priority")
"""What a heat map can count by."""

MAX_DAY_COLUMNS = 1100
"""A day axis longer than this (about three years) is refused: nobody reads it, and it would be huge."""

LOW_SCORE = 2
"""A satisfaction score at or below this is low (``low_satisfaction.max_score`` of ``policy/sla.yml``)."""

SPIKE_ALPHA = 0.001
"""Early warnings: how unlikely a day's count must be under the baseline to be flagged (see
:func:`early_warnings`)."""

SPIKE_MIN_COUNT = 3
"""Early warnings: fewer complaints than this in 24 hours are never a spike."""

_PRIORITIES = ("P1", "P2", "P3", "P4")


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _local_day(moment: float) -> date:
    return datetime.fromtimestamp(moment, TIMEZONE).date()


def _within(facts: Iterable[dict[str, Any]], since: float | None, until: float | None) -> list[dict[str, Any]]:
    """The projections created in ``[since, until)`` (either end open when None)."""
    low = -math.inf if since is None else since
    high = math.inf if until is None else until
    return [f for f in facts if f.get("created_at") is not None and low <= f["created_at"] < high]


def _time_value(fact: dict[str, Any], dimension: str) -> Any:
    value = fact.get(dimension)
    if value is None and fact.get("created_at") is not None:  # a projection without the stored value
        moment = datetime.fromtimestamp(fact["created_at"], TIMEZONE)
        value = {"day": moment.strftime("%Y-%m-%d"), "hour": moment.hour, "weekday": moment.weekday()}[dimension]
    return value


def _days(first: date, last: date) -> list[str]:
    if last < first:
        return []
    count = (last - first).days + 1
    if count > MAX_DAY_COLUMNS:
        raise ValueError(f"a day axis of {count} days is too long (at most {MAX_DAY_COLUMNS}); narrow since/until")
    return [(first + timedelta(days=i)).isoformat() for i in range(count)]


def _known_first(present: Iterable[Any], known: Sequence[Any], always: bool = False) -> list[Any]:
    """``known`` values (all of them when ``always``, else those present) in their order, then the
    other present values sorted as text, then None when present."""
    present_set = set(present)
    ordered = [k for k in known if always or k in present_set]
    others = sorted((v for v in present_set if v is not None and v not in known), key=str)
    return ordered + others + ([None] if None in present_set else [])


def _axis(
    dimension: str, values: Iterable[Any], facts: list[dict[str, Any]], since: float | None, until: float | None
) -> list[Any]:
    """The keys of one heat-map axis, in display order (see :func:`heatmap`)."""
    if dimension == "hour":
        return list(range(24))
    if dimension == "weekday":
        return list(range(7))
    if dimension == "day":
        stamps = [f["created_at"] for f in facts]
        if since is None and not stamps:
            return []
        first = _local_day(since if since is not None else min(stamps))
        if until is not None:
            last = _local_day(until - 1e-6)
        else:
            last = _local_day(max(stamps)) if stamps else first
        return _days(first, last)
    if dimension == "type":
        return _known_first(values, tuple(ComplaintType), always=True)
    if dimension == "urgency":
        return _known_first(values, (*tuple(Urgency), None), always=True)
    if dimension == "priority":
        return _known_first(values, _PRIORITIES, always=True)
    if dimension == "cause":
        return _known_first(values, tuple(cause_vocabulary()))
    if dimension == "category":
        return _known_first(values, labels.categories())
    counts = Counter(values)  # channel: the busiest first
    return sorted((v for v in counts if v is not None), key=lambda v: (-counts[v], str(v))) + (
        [None] if None in counts else []
    )


def heatmap(
    facts: Sequence[dict[str, Any]],
    by: Sequence[str] = ("type", "day"),
    since: float | None = None,
    until: float | None = None,
) -> dict[str, Any]:
    """The complaint heat map: how many tickets fall in each pair of values of two dimensions.

    Args:
        facts: Projections.
        by: Two of :data:`DIMENSIONS`, rows first (``("type", "day")``, ``("category", "hour")``).
        since: Only tickets created at or after this (epoch seconds); also the first day column.
        until: Only tickets created before this; the last day column is the day of ``until``
            (exclusive, so ``until`` at midnight ends the axis the day before).

    Returns:
        ``{"by": [row, column], "since", "until", "rows": [key...], "row_labels": [str...],
        "columns": [key...], "column_labels": [str...], "cells": [[int]] (rows x columns),
        "row_totals": [int], "column_totals": [int], "total": int}``.

        Axes: ``day`` is every day from ``since`` (else the first ticket) to ``until`` (else
        the last ticket), days without complaints included; ``hour`` is 0-23 and ``weekday``
        0-6 (Monday 0), always complete; ``type``, ``urgency`` and ``priority`` list every known
        value (urgency None reads ``普通``); ``cause`` and ``category`` the values present, in
        the order of ``causes.yml`` / ``options.yml``; ``channel`` the busiest first. A ticket
        without a value is counted under the key None (``未分类`` ...), which comes last.

    Raises:
        ValueError: ``by`` is not two different names of :data:`DIMENSIONS`, or the day axis
            would be longer than :data:`MAX_DAY_COLUMNS` (the route answers 400).
    """
    if isinstance(by, str) or len(by) != 2:
        raise ValueError(f"by must name two dimensions, got {by!r}")
    row_dim, col_dim = by
    bad = [d for d in by if d not in DIMENSIONS]
    if bad:
        raise ValueError(f"unknown dimension(s) {', '.join(map(repr, bad))}; expected two of {', '.join(DIMENSIONS)}")
    if row_dim == col_dim:
        raise ValueError(f"by names {row_dim!r} twice")
    chosen = _within(facts, since, until)

    def value(fact: dict[str, Any], dimension: str) -> Any:
        return _time_value(fact, dimension) if dimension in ("day", "hour", "weekday") else fact.get(dimension)

    pairs = Counter((value(f, row_dim), value(f, col_dim)) for f in chosen)
    rows = _axis(row_dim, (r for r, _ in pairs), chosen, since, until)
    columns = _axis(col_dim, (c for _, c in pairs), chosen, since, until)
    cells = [[pairs.get((r, c), 0) for c in columns] for r in rows]
    return {
        "by": [row_dim, col_dim],
        "since": since,
        "until": until,
        "rows": rows,
        "row_labels": [labels.label(row_dim, r) for r in rows],
        "columns": columns,
        "column_labels": [labels.label(col_dim, c) for c in columns],
        "cells": cells,
        "row_totals": [sum(row) for row in cells],
        "column_totals": [sum(col) for col in zip(*cells)] if rows else [0] * len(columns),
        "total": sum(sum(row) for row in cells),
    }


def sla_breaches(facts: Sequence[dict[str, Any]], now: float, limit: int | None = None) -> dict[str, Any]:
    """First-response SLA of the cases handed to a human (SPEC.md sections 3 and 5), by queue.

    A case is a projection with a ``handoff_reason`` and a ``respond_by``. It was answered at its
    ``first_claimed_at`` (an agent took it), else at its ``resolved_at`` (closed without a claim).
    It is *breached* when answered after ``respond_by``, or still unanswered with ``now`` past
    ``respond_by``; *pending* when unanswered and not yet due. The breach rate counts only the
    decided cases (``breached / (handed_over - pending)``): a case still within its time can not
    be judged yet. Cases are grouped by the queue they were handed to (``handoff_queue``, else
    the ticket's queue), not the escalation queue the timer moved the late ones to
    (``escalated`` says how many it moved).

    Args:
        facts: Projections.
        now: The current time (epoch seconds).
        limit: At most this many breached cases in the list (the latest first); None for all.

    Returns:
        ``{"now", "queues": [row], "total": row, "breached": [case]}`` where a row is
        ``{"key" (queue), "label", "handed_over", "answered", "on_time", "breached", "pending",
        "open_overdue" (unanswered and past due), "escalated", "breach_rate"}`` and a case is
        ``{"id", "queue", "queue_label", "priority", "type", "handoff_reason", "respond_by",
        "answered_at" (None while open), "late_seconds", "open" (bool), "escalated"}``, the most
        late first.
    """
    rows: dict[Any, Counter[str]] = defaultdict(Counter)
    breached: list[dict[str, Any]] = []
    for fact in facts:
        due = fact.get("respond_by")
        if fact.get("handoff_reason") is None or due is None:
            continue
        answered = fact.get("first_claimed_at")
        if answered is None:
            answered = fact.get("resolved_at")
        queue = fact.get("handoff_queue") or fact.get("queue")
        row = rows[queue]
        row["handed_over"] += 1
        row["escalated"] += bool(fact.get("escalated"))
        if answered is None:
            if now <= due:
                row["pending"] += 1
                continue
            row["open_overdue"] += 1
            late = now - due
        else:
            row["answered"] += 1
            if answered <= due:
                row["on_time"] += 1
                continue
            late = answered - due
        row["breached"] += 1
        breached.append(
            {
                "id": fact.get("id"),
                "queue": queue,
                "queue_label": labels.queue_label(queue),
                "priority": fact.get("priority"),
                "type": fact.get("type"),
                "handoff_reason": fact.get("handoff_reason"),
                "respond_by": due,
                "answered_at": answered,
                "late_seconds": round(late, 1),
                "open": answered is None,
                "escalated": bool(fact.get("escalated")),
            }
        )
    figures = ("handed_over", "answered", "on_time", "breached", "pending", "open_overdue", "escalated")

    def row_of(key: Any, counts: Counter[str]) -> dict[str, Any]:
        decided = counts["handed_over"] - counts["pending"]
        return {
            "key": key,
            "label": labels.queue_label(key) if key != "total" else "合计",
            **{name: counts[name] for name in figures},
            "breach_rate": _share(counts["breached"], decided),
        }

    total: Counter[str] = Counter()
    for counts in rows.values():
        total.update(counts)
    ordered = sorted(rows, key=lambda q: (-rows[q]["handed_over"], str(q)))
    breached.sort(key=lambda case: (-case["late_seconds"], str(case["id"])))
    return {
        "now": now,
        "queues": [row_of(q, rows[q]) for q in ordered],
        "total": row_of("total", total),
        "breached": breached if limit is None else breached[:limit],
    }


def repeat_complainants(
    facts: Sequence[dict[str, Any]], now: float, window_days: float = 30, min_tickets: int = 2
) -> list[dict[str, Any]]:
    """Customers who complained at least ``min_tickets`` times within ``window_days`` before ``now``
    (SPEC.md section 4: a repeat complainant goes to a senior agent).

    Args:
        facts: Projections.
        now: The current time; tickets created in ``(now - window_days, now]`` count.
        window_days: The window (``repeat_window_days`` of ``policy/sla.yml`` is 30).
        min_tickets: Fewest tickets that make a repeat complainant.

    Returns:
        ``[{"key" (customer id), "label" (the id with personal data masked), "count",
        "tickets" [ids, oldest first], "types" [distinct types in order], "open" (how many are
        not resolved/closed), "first_at", "last_at"}]``, the most tickets first, then the latest.
        Tickets without a customer are left out.
    """
    start = now - window_days * DAY
    by_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for fact in facts:
        at = fact.get("created_at")
        if fact.get("customer") and at is not None and start < at <= now:
            by_customer[fact["customer"]].append(fact)
    result = []
    for customer, tickets in by_customer.items():
        if len(tickets) < min_tickets:
            continue
        tickets.sort(key=lambda f: (f["created_at"], str(f.get("id"))))
        result.append(
            {
                "key": customer,
                "label": mask_pii(customer),
                "count": len(tickets),
                "tickets": [f.get("id") for f in tickets],
                "types": list(dict.fromkeys(f.get("type") for f in tickets)),
                "open": sum(1 for f in tickets if f.get("status") not in DONE_STATUSES),
                "first_at": tickets[0]["created_at"],
                "last_at": tickets[-1]["created_at"],
            }
        )
    result.sort(key=lambda r: (-r["count"], -r["last_at"], r["key"]))
    return result


def _scores(facts: Iterable[dict[str, Any]]) -> list[int]:
    return [s for s in (f.get("satisfaction") for f in facts) if isinstance(s, int) and 1 <= s <= 5]


def _score_summary(scores: Sequence[int], low_max: int) -> dict[str, Any]:
    return {
        "count": len(scores),
        "mean": round(sum(scores) / len(scores), 2) if scores else None,
        "low": sum(1 for s in scores if s <= low_max),
        "low_share": _share(sum(1 for s in scores if s <= low_max), len(scores)),
    }


def satisfaction(facts: Sequence[dict[str, Any]], low_max: int = LOW_SCORE) -> dict[str, Any]:
    """Satisfaction scores 1-5 (SPEC.md section 7: asked within 24 hours of resolution).

    A ticket counts as handled by a human when it was handed over (``handoff_reason``); a score
    given to a bot-settled ticket counts for the bot even when a supervisor followed the low score up.

    Args:
        facts: Projections; those without a score are left out.
        low_max: Scores at or below this are low (``low_satisfaction.max_score`` of ``sla.yml``).

    Returns:
        ``{"count", "mean" (2 places, None without scores), "low", "low_share",
        "distribution": {"1": n, ..., "5": n}, "by_type": [{"key", "label", "count", "mean", "low",
        "low_share"}] (types with scores, in type order), "by_handling": [same rows, keys
        ``bot`` (机器人处理) and ``human`` (人工处理)]}``.
    """
    scored = [f for f in facts if isinstance(f.get("satisfaction"), int) and 1 <= f["satisfaction"] <= 5]
    scores = _scores(scored)
    counts = Counter(scores)
    by_type: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for fact in scored:
        by_type[fact.get("type")].append(fact)
    handling = {
        "bot": [f for f in scored if f.get("handoff_reason") is None],
        "human": [f for f in scored if f.get("handoff_reason") is not None],
    }
    return {
        **_score_summary(scores, low_max),
        "distribution": {str(s): counts.get(s, 0) for s in range(1, 6)},
        "by_type": [
            {"key": t, "label": labels.type_label(t), **_score_summary(_scores(by_type[t]), low_max)}
            for t in _known_first(by_type, tuple(ComplaintType))
        ],
        "by_handling": [
            {"key": key, "label": title, **_score_summary(_scores(handling[key]), low_max)}
            for key, title in (("bot", "机器人处理"), ("human", "人工处理"))
        ],
    }


def settlement(facts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How many complaints the bot settled itself and why the others went to a human (SPEC.md section 4).

    A ticket is settled by the bot when it was never handed over (no ``转人工`` note; the bot
    opens a ticket once the customer accepted an option). ``later_claimed`` counts those an agent
    still took up afterwards (a low satisfaction score goes to a supervisor).

    Returns:
        ``{"total", "bot_settled", "bot_settled_share", "handed_over", "handed_over_share",
        "later_claimed", "by_reason": [{"key" (reason), "label", "count", "share" (of all tickets),
        "share_of_handed_over"}]}``, reasons the most frequent first.
    """
    total = len(facts)
    reasons = Counter(f.get("handoff_reason") for f in facts)
    bot = reasons.pop(None, 0)
    handed = total - bot
    later = sum(1 for f in facts if f.get("handoff_reason") is None and f.get("first_claimed_at") is not None)
    return {
        "total": total,
        "bot_settled": bot,
        "bot_settled_share": _share(bot, total),
        "handed_over": handed,
        "handed_over_share": _share(handed, total),
        "later_claimed": later,
        "by_reason": [
            {
                "key": reason,
                "label": labels.reason_label(reason),
                "count": count,
                "share": _share(count, total),
                "share_of_handed_over": _share(count, handed),
            }
            for reason, count in sorted(reasons.items(), key=lambda item: (-item[1], str(item[0])))
        ],
    }


def poisson_tail(count: int, mean: float) -> float:
    """P(X >= count) for X ~ Poisson(mean), computed in log space (exact enough for any mean).

    Raises:
        ValueError: A negative mean.
    """
    if mean < 0:
        raise ValueError("mean must not be negative")
    if count <= 0:
        return 1.0
    if mean == 0:
        return 0.0
    log_mean = math.log(mean)

    def pmf(k: int) -> float:
        return math.exp(k * log_mean - mean - math.lgamma(k + 1))

    # Sum the smaller side, from ``count`` away from the mean, where the terms only fall, and
    # stop once they no longer change the sum (a few times sqrt(mean) terms at most).
    total = 0.0
    step = 1 if count > mean else -1
    k = count if count > mean else count - 1
    while k >= 0:
        term = pmf(k)
        total += term
        if term <= total * 1e-17:
            break
        k += step
    return min(1.0, total) if count > mean else max(0.0, 1.0 - total)


def early_warnings(
    facts: Sequence[dict[str, Any]],
    now: float,
    baseline_days: int = 7,
    *,
    alpha: float = SPIKE_ALPHA,
    min_count: int = SPIKE_MIN_COUNT,
    repeat_days: float = 7,
    repeat_min: int = 2,
) -> list[dict[str, Any]]:
    """Early warnings (SPEC.md section 7): one product's (or one cause's) complaints jump, or a
    customer complains again.

    A spike: the complaints of a product category (or a cause) created in the last 24 hours,
    ``count``, against the ``baseline_days`` days before them, ``baseline`` = their mean per day.
    What to expect today is that mean scaled by how all *other* complaints moved (``expected`` =
    ``baseline`` x the other complaints of the last 24 hours / their daily mean before), so a day
    when everything rises (a weekend, 双十一, a courier strike across all goods) flags the
    category that rose more than the rest, not every category. Flagged when ``count >= min_count``
    and, if complaints arrived as a Poisson process at the expected rate, seeing ``count`` or more
    would have a probability below ``alpha`` (:func:`poisson_tail`). The expected rate is at least
    one complaint per baseline period (``1 / baseline_days`` a day), so a category that was silent
    is flagged from ``min_count`` complaints on, not from the first.

    Why a Poisson tail and not ``count > mean + 3 sqrt(mean) + 1``: the two flag at nearly the
    same counts, but the normal rule's false-alarm probability wanders with the mean (0.0018 at
    half a complaint a day, where it flags 4; 0.0011 at 2 a day; 0.0013 at 100), while the tail
    keeps it below ``alpha`` at every size and says how unusual a count is (``p_value``). With some
    35 categories and causes checked, ``alpha = 0.001`` gives a false alarm in about one check in
    thirty on steady volume. Why scaled by the rest: on 100,000 seeded tickets whose weekends are
    a fifth busier, the plain baseline flagged clothing on a Sunday (195 against 152 a day); scaled,
    it flags only the seeded appliance jump. Categories and causes that are None are not checked.

    A repeat customer: ``repeat_min`` or more tickets created in ``(now - repeat_days, now]``.

    Args:
        facts: Projections covering at least ``baseline_days + 1`` days before ``now`` (a shorter
            history understates the baseline and flags more).
        now: The current time (epoch seconds).
        baseline_days: Days of baseline before the last 24 hours.
        alpha: Flag below this tail probability.
        min_count: Never flag fewer complaints in 24 hours.
        repeat_days: The repeat-customer window in days.
        repeat_min: Fewest tickets in that window.

    Returns:
        ``[{"kind": "category_spike" | "cause_spike" | "repeat_customer", "key", "label" (Chinese),
        "count", "baseline" (mean per day before), "expected" (for the last 24 hours, scaled by
        the other complaints), "since" (start of the window counted), "p_value" (``baseline``,
        ``expected`` and ``p_value`` are None for a customer), "tickets" [ids, newest first, at
        most 20]}]``, spikes first (the least likely first), then customers (the most tickets first).

    Raises:
        ValueError: ``baseline_days`` below 1.
    """
    if baseline_days < 1:
        raise ValueError("baseline_days must be at least 1")
    recent_start = now - DAY
    base_start = recent_start - baseline_days * DAY
    warnings: list[dict[str, Any]] = []
    for dimension, kind, describe in (
        ("category", "category_spike", labels.category_label),
        ("cause", "cause_spike", labels.cause_label),
    ):
        recent: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        baseline: Counter[Any] = Counter()
        recent_total = baseline_total = 0
        for fact in facts:
            key, at = fact.get(dimension), fact.get("created_at")
            if at is None:
                continue
            if recent_start < at <= now:
                recent_total += 1
                if key is not None:
                    recent[key].append(fact)
            elif base_start < at <= recent_start:
                baseline_total += 1
                if key is not None:
                    baseline[key] += 1
        for key, tickets in recent.items():
            if len(tickets) < min_count:
                continue
            mean = baseline[key] / baseline_days
            others_before = (baseline_total - baseline[key]) / baseline_days
            scale = (recent_total - len(tickets)) / others_before if others_before else 1.0
            expected = max(mean * scale, 1 / baseline_days)
            p_value = poisson_tail(len(tickets), expected)
            if p_value >= alpha:
                continue
            newest = sorted(tickets, key=lambda f: -f["created_at"])
            warnings.append(
                {
                    "kind": kind,
                    "key": key,
                    "label": f"{describe(key)}投诉激增：24小时{len(tickets)}件（预期约{expected:.1f}件，此前日均{mean:.1f}件）",
                    "count": len(tickets),
                    "baseline": round(mean, 2),
                    "expected": round(expected, 2),
                    "since": recent_start,
                    "p_value": p_value,
                    "tickets": [f.get("id") for f in newest[:20]],
                }
            )
    warnings.sort(key=lambda w: (w["p_value"], -w["count"], str(w["key"])))
    for row in repeat_complainants(facts, now, window_days=repeat_days, min_tickets=repeat_min):
        warnings.append(
            {
                "kind": "repeat_customer",
                "key": row["key"],
                "label": f"客户{row['label']}{repeat_days:g}天内投诉{row['count']}次",
                "count": row["count"],
                "baseline": None,
                "expected": None,
                "since": now - repeat_days * DAY,
                "p_value": None,
                "tickets": list(reversed(row["tickets"]))[:20],
            }
        )
    return warnings


def trend(
    facts: Sequence[dict[str, Any]],
    now: float,
    since: float | None = None,
    until: float | None = None,
    low_max: int = LOW_SCORE,
) -> dict[str, Any]:
    """Daily rates for a line chart, by the day the tickets were created.

    Returns:
        ``{"days": [YYYY-MM-DD...], "series": {"complaints": [int], "handed_over_share",
        "breach_rate", "low_satisfaction_share": [float | None]}}``, one value per day (days
        without complaints included; a rate without a denominator that day is None). Breaches
        as :func:`sla_breaches` counts them at ``now``.

    Raises:
        ValueError: The day axis would be longer than :data:`MAX_DAY_COLUMNS`.
    """
    chosen = _within(facts, since, until)
    days = _axis("day", (), chosen, since, until)
    by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for fact in chosen:
        by_day[_time_value(fact, "day")].append(fact)
    series: dict[str, list[Any]] = {
        "complaints": [],
        "handed_over_share": [],
        "breach_rate": [],
        "low_satisfaction_share": [],
    }
    for day in days:
        tickets = by_day.get(day, [])
        handed = sum(1 for f in tickets if f.get("handoff_reason") is not None)
        sla = sla_breaches(tickets, now)["total"]
        scores = _scores(tickets)
        series["complaints"].append(len(tickets))
        series["handed_over_share"].append(_share(handed, len(tickets)))
        series["breach_rate"].append(sla["breach_rate"])
        series["low_satisfaction_share"].append(_share(sum(1 for s in scores if s <= low_max), len(scores)))
    return {"days": days, "series": series}
