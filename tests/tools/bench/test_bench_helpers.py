"""Pure helpers of the benchmark (tools/bench): percentiles, windows, schedules, CPU deltas, report cells, targets."""

from __future__ import annotations

import random

import pytest

from tools.bench import load, procstats, report, settings, stacks, stats, targets


def test_percentile_interpolates_like_numpy() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert stats.percentile(values, 0) == 10.0
    assert stats.percentile(values, 100) == 40.0
    assert stats.percentile(values, 50) == 25.0
    assert stats.percentile(values, 99) == pytest.approx(39.7)
    assert stats.percentile([5.0], 99) == 5.0


def _interpolated(values: list[float], q: float) -> float:
    """The benchmark's earlier hand-written percentile: linear between the ranks around (n - 1) * q / 100."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def test_percentile_and_summary_give_the_figures_of_the_earlier_hand_written_code() -> None:
    rng = random.Random(7)
    for n in (1, 2, 7, 100, 1001):
        values = [rng.lognormvariate(-3, 0.8) for _ in range(n)]
        for q in (0, 1, 50, 95, 99, 99.9, 100):
            assert stats.percentile(values, q) == pytest.approx(_interpolated(values, q), rel=1e-12)
        summary = stats.latency_summary(values)
        ms = [v * 1000 for v in values]
        assert summary["p99_ms"] == round(_interpolated(ms, 99), 1)
        assert summary["mean_ms"] == round(sum(ms) / len(ms), 1)
        assert stats.median(values) == pytest.approx(_interpolated(values, 50), rel=1e-12)


def test_percentile_does_not_depend_on_order() -> None:
    assert stats.percentile([3.0, 1.0, 2.0], 50) == 2.0


@pytest.mark.parametrize("values, q", [([], 50), ([1.0], -1), ([1.0], 101)])
def test_percentile_rejects_bad_input(values: list[float], q: float) -> None:
    with pytest.raises(ValueError):
        stats.percentile(values, q)


def test_latency_summary_in_milliseconds() -> None:
    summary = stats.latency_summary([0.01] * 98 + [0.2, 1.0])
    assert summary["n"] == 100
    assert summary["p50_ms"] == 10.0
    assert summary["max_ms"] == 1000.0
    assert 10.0 < summary["p99_ms"] <= 1000.0


def test_latency_summary_without_samples() -> None:
    assert stats.latency_summary([]) == {
        "n": 0,
        "p50_ms": None,
        "p95_ms": None,
        "p99_ms": None,
        "max_ms": None,
        "mean_ms": None,
    }


def test_ratio_is_none_when_undefined() -> None:
    assert stats.ratio(3.0, 2.0) == 1.5
    assert stats.ratio(None, 2.0) is None
    assert stats.ratio(1.0, 0.0) is None


def test_turn_windows_are_one_based_and_inclusive() -> None:
    conversations = [[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0]]
    assert stats.window(conversations, 2, 3) == [2.0, 3.0, 20.0, 30.0]
    assert stats.window(conversations, 4, 5) == [4.0]
    assert stats.turn_median(conversations, 1) == 5.5
    assert stats.turn_median(conversations, 9) is None


def test_long_cycles_repeat_turn_one_at_turn_fifty() -> None:
    for cycle in (settings.OUR_LONG_CYCLE, settings.STARTER_LONG_CYCLE):
        assert cycle[(50 - 1) % len(cycle)] == cycle[0]
        early = [cycle[(t - 1) % len(cycle)] for t in range(settings.EARLY_WINDOW[0], settings.EARLY_WINDOW[1] + 1)]
        late = [cycle[(t - 1) % len(cycle)] for t in range(settings.LATE_WINDOW[0], settings.LATE_WINDOW[1] + 1)]
        assert sorted(early) == sorted(late)


def test_open_loop_schedule_is_evenly_spaced() -> None:
    offsets = stats.schedule(20, 2)
    assert len(offsets) == 40
    assert offsets[0] == 0.0 and offsets[1] == pytest.approx(0.05) and offsets[-1] == pytest.approx(1.95)
    assert stats.schedule(0, 10) == [] and stats.schedule(10, 0) == []


def test_conversation_starts_a_new_sender_after_its_script() -> None:
    conversation = load.Conversation("c", [["a", "b"], ["x"]])
    assert [conversation.next_message() for _ in range(4)] == [
        ("c-0", "a"),
        ("c-0", "b"),
        ("c-1", "x"),
        ("c-2", "a"),
    ]


def test_cpu_delta_reports_what_other_processes_used() -> None:
    before = {"rasa": 1.0, "bench client": 0.5, procstats.MACHINE: 10.0}
    after = {"rasa": 3.0, "bench client": 1.0, procstats.MACHINE: 14.0}
    assert procstats.cpu_delta(before, after) == {
        "rasa": 2.0,
        "bench client": 0.5,
        procstats.OTHER: 1.5,
    }


def test_cpu_delta_never_reports_negative_other_time() -> None:
    delta = procstats.cpu_delta({"rasa": 0.0, procstats.MACHINE: 0.0}, {"rasa": 1.0, procstats.MACHINE: 0.99})
    assert delta[procstats.OTHER] == 0.0


def test_ready_lines_are_counted_per_worker() -> None:
    log = "x\n2026-01-01 INFO root - Rasa server is up and running.\ny\n... Rasa server is up and running.\n"
    assert stacks.count_ready_lines(log) == 2


def test_table_cells() -> None:
    assert report.fmt(None) == "—"
    assert report.fmt(12.345) == "12.3"
    assert report.fmt(12.345, digits=2) == "12.35"
    assert report.fmt(7) == "7"
    assert targets.verdict(True) == "yes"
    assert targets.verdict(False) == "**no**"
    assert targets.verdict(None) == "n/a"


def test_targets_compare_with_the_starter_bot() -> None:
    ours = {
        "saturation": {"turns_per_s": 30.0},
        "fixed_rate": {"latency": {"p99_ms": 120.0}},
        "long": {"late_over_early": 1.3},
    }
    starter = {"saturation": {"turns_per_s": 14.0}}
    met = [t["met"] for t in targets.targets(ours, starter)]
    assert met == [True, True, False]
    assert targets.targets(ours, None)[0]["met"] is None


def test_verdicts_resting_on_a_busy_machine_are_marked() -> None:
    quiet = {"saturation": {"cores_busy": {procstats.OTHER: 0.05}}}
    busy = {"saturation": {"cores_busy": {procstats.OTHER: 0.8}}}
    assert not targets.noisy(quiet, None, phase="saturation")
    assert targets.noisy(quiet, busy, phase="saturation")
    assert targets.verdict(True, noisy=True) == "yes (noisy)"
    assert targets.verdict(False, noisy=True) == "**no** (noisy)"
