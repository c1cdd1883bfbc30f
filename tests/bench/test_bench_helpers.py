"""Pure helpers of tools/bench.py: percentiles, windows, schedules, /proc parsing, report cells."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "bench.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = (
        module  # dataclasses look their module up while the class is built
    )
    spec.loader.exec_module(module)
    return module


bench = _load()


def test_percentile_interpolates_like_numpy() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert bench.percentile(values, 0) == 10.0
    assert bench.percentile(values, 100) == 40.0
    assert bench.percentile(values, 50) == 25.0
    assert bench.percentile(values, 99) == pytest.approx(39.7)
    assert bench.percentile([5.0], 99) == 5.0


def test_percentile_does_not_depend_on_order() -> None:
    assert bench.percentile([3.0, 1.0, 2.0], 50) == 2.0


@pytest.mark.parametrize("values, q", [([], 50), ([1.0], -1), ([1.0], 101)])
def test_percentile_rejects_bad_input(values: list[float], q: float) -> None:
    with pytest.raises(ValueError):
        bench.percentile(values, q)


def test_latency_summary_in_milliseconds() -> None:
    summary = bench.latency_summary([0.01] * 98 + [0.2, 1.0])
    assert summary["n"] == 100
    assert summary["p50_ms"] == 10.0
    assert summary["max_ms"] == 1000.0
    assert 10.0 < summary["p99_ms"] <= 1000.0


def test_latency_summary_without_samples() -> None:
    assert bench.latency_summary([]) == {
        "n": 0,
        "p50_ms": None,
        "p95_ms": None,
        "p99_ms": None,
        "max_ms": None,
        "mean_ms": None,
    }


def test_ratio_is_none_when_undefined() -> None:
    assert bench.ratio(3.0, 2.0) == 1.5
    assert bench.ratio(None, 2.0) is None
    assert bench.ratio(1.0, 0.0) is None


def test_turn_windows_are_one_based_and_inclusive() -> None:
    conversations = [[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0]]
    assert bench.window(conversations, 2, 3) == [2.0, 3.0, 20.0, 30.0]
    assert bench.window(conversations, 4, 5) == [4.0]
    assert bench.turn_median(conversations, 1) == 5.5
    assert bench.turn_median(conversations, 9) is None


def test_long_cycles_repeat_turn_one_at_turn_fifty() -> None:
    for cycle in (bench.OUR_LONG_CYCLE, bench.STARTER_LONG_CYCLE):
        assert cycle[(50 - 1) % len(cycle)] == cycle[0]
        early = [
            cycle[(t - 1) % len(cycle)]
            for t in range(bench.EARLY_WINDOW[0], bench.EARLY_WINDOW[1] + 1)
        ]
        late = [
            cycle[(t - 1) % len(cycle)]
            for t in range(bench.LATE_WINDOW[0], bench.LATE_WINDOW[1] + 1)
        ]
        assert sorted(early) == sorted(late)


def test_open_loop_schedule_is_evenly_spaced() -> None:
    offsets = bench.schedule(20, 2)
    assert len(offsets) == 40
    assert (
        offsets[0] == 0.0
        and offsets[1] == pytest.approx(0.05)
        and offsets[-1] == pytest.approx(1.95)
    )
    assert bench.schedule(0, 10) == [] and bench.schedule(10, 0) == []


def test_conversation_starts_a_new_sender_after_its_script() -> None:
    conversation = bench.Conversation("c", [["a", "b"], ["x"]])
    assert [conversation.next_message() for _ in range(4)] == [
        ("c-0", "a"),
        ("c-0", "b"),
        ("c-1", "x"),
        ("c-2", "a"),
    ]


def test_parse_proc_stat_survives_spaces_and_parentheses_in_the_name() -> None:
    line = "4242 (rasa (worker) 1) S 4200 4242 4242 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 9 0 123 456 789"
    assert bench.parse_proc_stat(line) == (4200, 250, 37)


def test_descendants_of_walks_the_whole_tree() -> None:
    parents = {1: 0, 10: 1, 11: 10, 12: 10, 13: 12, 20: 1}
    assert sorted(bench.descendants_of(10, parents)) == [10, 11, 12, 13]
    assert bench.descendants_of(99, parents) == [99]


def test_cpu_delta_reports_what_other_processes_used() -> None:
    before = {"rasa": 1.0, "bench client": 0.5, bench.MACHINE: 10.0}
    after = {"rasa": 3.0, "bench client": 1.0, bench.MACHINE: 14.0}
    assert bench.cpu_delta(before, after) == {
        "rasa": 2.0,
        "bench client": 0.5,
        bench.OTHER: 1.5,
    }


def test_cpu_delta_never_reports_negative_other_time() -> None:
    delta = bench.cpu_delta(
        {"rasa": 0.0, bench.MACHINE: 0.0}, {"rasa": 1.0, bench.MACHINE: 0.99}
    )
    assert delta[bench.OTHER] == 0.0


def test_ready_lines_are_counted_per_worker() -> None:
    log = "x\n2026-01-01 INFO root - Rasa server is up and running.\ny\n... Rasa server is up and running.\n"
    assert bench.count_ready_lines(log) == 2


def test_table_cells() -> None:
    assert bench.fmt(None) == "—"
    assert bench.fmt(12.345) == "12.3"
    assert bench.fmt(12.345, digits=2) == "12.35"
    assert bench.fmt(7) == "7"
    assert bench.verdict(True) == "yes"
    assert bench.verdict(False) == "**no**"
    assert bench.verdict(None) == "n/a"


def test_targets_compare_with_the_starter_bot() -> None:
    ours = {
        "saturation": {"turns_per_s": 30.0},
        "fixed_rate": {"latency": {"p99_ms": 120.0}},
        "long": {"late_over_early": 1.3},
    }
    starter = {"saturation": {"turns_per_s": 14.0}}
    met = [t["met"] for t in bench.targets(ours, starter)]
    assert met == [True, True, False]
    assert bench.targets(ours, None)[0]["met"] is None


def test_verdicts_resting_on_a_busy_machine_are_marked() -> None:
    quiet = {"saturation": {"cores_busy": {bench.OTHER: 0.05}}}
    busy = {"saturation": {"cores_busy": {bench.OTHER: 0.8}}}
    assert not bench.noisy(quiet, None, phase="saturation")
    assert bench.noisy(quiet, busy, phase="saturation")
    assert bench.verdict(True, noisy=True) == "yes (noisy)"
    assert bench.verdict(False, noisy=True) == "**no** (noisy)"
