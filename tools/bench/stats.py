"""Percentiles, latency summaries, turn windows and the open-loop schedule (pure; unit-tested)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import numpy as np


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, interpolated linearly between ranks (numpy's default).

    Raises:
        ValueError: for an empty sequence or ``q`` outside 0-100.
    """
    if not len(values):
        raise ValueError("percentile of an empty sequence")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside 0-100")
    return float(np.percentile(values, q))


def median(values: Sequence[float]) -> float:
    """The median (the 50th percentile). Raises ``statistics.StatisticsError`` (a ValueError) when empty."""
    return float(statistics.median(values))


def latency_summary(seconds: Sequence[float]) -> dict[str, float | int | None]:
    """``n``, ``p50_ms``/``p95_ms``/``p99_ms``/``max_ms`` and ``mean_ms`` of latencies given in seconds.

    Milliseconds rounded to 0.1; every figure but ``n`` is None when there are no samples.
    """
    if not seconds:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None, "mean_ms": None}
    ms = np.asarray(seconds, dtype=float) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {
        "n": len(ms),
        "p50_ms": round(float(p50), 1),
        "p95_ms": round(float(p95), 1),
        "p99_ms": round(float(p99), 1),
        "max_ms": round(float(ms.max()), 1),
        "mean_ms": round(float(ms.mean()), 1),
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator`` rounded to 2 places, None when undefined."""
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 2)


def window(latencies: Sequence[Sequence[float]], first: int, last: int) -> list[float]:
    """All latencies of turns ``first``-``last`` (1-based, inclusive) over every conversation."""
    return [turns[i - 1] for turns in latencies for i in range(first, last + 1) if i <= len(turns)]


def turn_median(latencies: Sequence[Sequence[float]], turn: int) -> float | None:
    """Median latency of one turn (1-based) over every conversation that reached it; None if none did."""
    values = [turns[turn - 1] for turns in latencies if turn <= len(turns)]
    return median(values) if values else None


def median_ms(seconds: Sequence[float]) -> float | None:
    """Median of seconds in milliseconds, rounded to 0.1; None without samples."""
    return round(median(seconds) * 1000, 1) if seconds else None


def mean_ms(seconds: Sequence[float]) -> float | None:
    """Mean of seconds in milliseconds, rounded to 0.1; None without samples."""
    return round(statistics.fmean(seconds) * 1000, 1) if seconds else None


def schedule(rate: float, duration: float) -> list[float]:
    """Send offsets (seconds from the start) of an open-loop run: ``rate`` per second for ``duration`` s."""
    if rate <= 0 or duration <= 0:
        return []
    return [k / rate for k in range(round(rate * duration))]
