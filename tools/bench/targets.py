"""The three targets (README, "Speed"), whether each was met, and whether a busy machine makes that doubtful."""

from __future__ import annotations

from typing import Any

from tools.bench.procstats import OTHER
from tools.bench.settings import BUSY_MACHINE_CORES, TARGET_LONG_RATIO, TARGET_P99_MS, TARGET_THROUGHPUT_FACTOR
from tools.bench.stats import ratio


def get(result: dict[str, Any] | None, *path: str) -> Any:
    """A nested value of a bot's result, None when the bot or the value is missing."""
    value: Any = result
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def verdict(met: bool | None, noisy: bool = False) -> str:
    """The "met?" column: "yes", "**no**" or "n/a"; with " (noisy)" when other processes used the CPU meanwhile."""
    if met is None:
        return "n/a"
    return ("yes" if met else "**no**") + (" (noisy)" if noisy else "")


def noisy(*results: dict[str, Any] | None, phase: str) -> bool:
    """True when other processes kept more than BUSY_MACHINE_CORES busy during ``phase`` of any result."""
    return any((get(result, phase, "cores_busy", OTHER) or 0.0) > BUSY_MACHINE_CORES for result in results if result)


def no_errors(ours: dict[str, Any], starter: dict[str, Any] | None, phase: str) -> bool:
    """True when no request of ``phase`` failed for either bot."""
    return all(not get(bot, phase, "errors") for bot in (ours, starter) if bot)


def targets(ours: dict[str, Any], starter: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The three targets: ``name``, measured ``value``, ``met`` (None without the figures) and ``noisy``.

    Saturation throughput at least TARGET_THROUGHPUT_FACTOR times the starter bot's; p99 at the
    fixed rate at most TARGET_P99_MS; late/early long-conversation median at most TARGET_LONG_RATIO.
    """
    ours_tps = get(ours, "saturation", "turns_per_s")
    starter_tps = get(starter, "saturation", "turns_per_s")
    p99 = get(ours, "fixed_rate", "latency", "p99_ms")
    long_ratio = get(ours, "long", "late_over_early")
    return [
        {
            "name": "saturation throughput >= 2x starter",
            "value": ratio(ours_tps, starter_tps),
            "met": None if starter_tps is None else ours_tps >= TARGET_THROUGHPUT_FACTOR * starter_tps,
            "noisy": noisy(ours, starter, phase="saturation"),
        },
        {
            "name": f"p99 <= {TARGET_P99_MS:.0f} ms at the fixed rate",
            "value": p99,
            "met": None if p99 is None else p99 <= TARGET_P99_MS,
            "noisy": noisy(ours, phase="fixed_rate"),
        },
        {
            "name": f"turn ~50 / turn ~1 <= {TARGET_LONG_RATIO}",
            "value": long_ratio,
            "met": None if long_ratio is None else long_ratio <= TARGET_LONG_RATIO,
            "noisy": noisy(ours, phase="long"),
        },
    ]
