"""reports/bench.md rendered from a small report (the shape ``python -m tools.bench`` writes to bench.json)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tools.bench import report, targets
from tools.bench.procstats import OTHER


def _bot(model: str, tps: float, p99: float, cpu: dict[str, float], cores: dict[str, float]) -> dict[str, Any]:
    latency = {"n": 600, "p50_ms": 41.0, "p95_ms": 70.5, "p99_ms": p99, "max_ms": 180.0, "mean_ms": 45.2}
    return {
        "model": model,
        "load": {
            "to_status_s": 18.47,
            "first_reply_since_start_s": 18.72,
            "first_reply_latency_ms": 167.5,
            "all_workers_up_s": 18.7,
            "workers_up": 2,
            "background_cores_busy": 0.01,
        },
        "breakdown": {
            "parse": {**latency, "p50_ms": 14.0},
            "turn": {**latency, "p50_ms": 40.0},
            "nlu_share_of_turn": 0.35,
            "cpu_ms_per_turn": cpu,
        },
        "saturation": {
            "turns_per_s": tps,
            "errors": 0,
            "latency": {**latency, "p50_ms": 450.3},
            "cores_busy": cores,
            "rasa_cores_busy_by_process": {"100": 0.05, "101": 0.61, "102": 0.58},
        },
        "fixed_rate": {"achieved_rate": 20.0, "errors": 0, "latency": latency, "cores_busy": {OTHER: 0.02}},
        "long": {
            "turn1_ms": 27.1,
            "turn50_ms": 30.2,
            "turn50_over_turn1": 1.11,
            "early_median_ms": 35.0,
            "late_median_ms": 36.4,
            "late_over_early": 1.04,
            "rasa_cpu_early_mean_ms": 30.1,
            "rasa_cpu_late_mean_ms": 31.9,
            "tracker_bytes_at_end": 52311,
            "cores_busy": {OTHER: 0.0},
        },
        "memory": {"processes": 3, "rss_mb": 1480.4, "pss_mb": 950.2, "rss_mb_per_process": {}},
    }


@pytest.fixture
def small() -> dict[str, Any]:
    ours = _bot(
        "complaint-abc.tar.gz",
        30.0,
        120.0,
        {"rasa": 35.9, "actions": 4.9, "redis": 1.0, "bench client": 1.9, OTHER: 0.7},
        {"rasa": 1.4, "actions": 0.2, "redis": 0.05, "bench client": 0.3, OTHER: 0.03},
    )
    starter = _bot(
        "starter.tar.gz", 14.0, 300.0, {"rasa": 60.2, "redis": 1.2, "bench client": 1.1, OTHER: 0.1}, {"rasa": 1.9}
    )
    result: dict[str, Any] = {
        "date": "2026-11-29T19:07:53+00:00",
        "machine": {
            "cpus": 2,
            "cpu_model": "AMD EPYC",
            "memory_gb": 23.5,
            "python": "3.11.7",
            "rasa": "3.6.21",
            "sanic": "21.12.2",
        },
        "config": {
            "quick": False,
            "sanic_workers": 2,
            "duration_s": 20.0,
            "latency_duration_s": 30.0,
            "rate": 20.0,
            "concurrency": 20,
            "senders": 200,
            "reps": 5,
            "keepalive": False,
        },
        "bots": {"ours": ours, "starter": starter},
    }
    result["targets"] = targets.targets(ours, starter)
    return result


def _table(markdown: str, header: str) -> list[list[str]]:
    """The rows (cells stripped) of the Markdown table whose header row starts with ``| header``."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header}"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    assert set("".join(rows[1])) <= set("-:"), "the second line separates the header"
    return [rows[0], *rows[2:]]


def test_sections_come_in_order(small: dict[str, Any]) -> None:
    text = report.render_markdown(small)
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == [
        "# Benchmark: our bot vs Rasa's starter bot",
        "## Where the time goes (our bot)",
        "## How it is measured",
    ]
    assert "Written by `make bench` (`python -m tools.bench`) on 2026-11-29T19:07:53+00:00." in text
    assert "Models: `complaint-abc.tar.gz` (ours), `starter.tar.gz` (starter)." in text
    assert (
        "Cores busy per Rasa server process (main process, then each worker) at saturation: ours 0.05 / 0.61 / 0.58"
        in text
    )
    assert "a turn takes 35.0 ms at turns 1-7 and 36.4 ms at turns 50-56" in text
    assert "otherwise quiet" in text and "**Warning" not in text


def test_main_table_columns_and_figures(small: dict[str, Any]) -> None:
    rows = _table(report.render_markdown(small), "metric")
    assert rows[0] == ["metric", "our bot", "starter bot", "target", "met?"]
    by_label = {row[0]: row[1:] for row in rows[1:]}
    assert len(by_label) == len(rows) - 1 == 32
    assert by_label["saturation throughput, 20 conversations back to back (turns/s)"] == [
        "30.0",
        "14.0",
        "≥ 2× starter (28.0)",
        "yes",
    ]
    assert by_label["fixed load 20 turns/s: p99 latency (ms)"] == ["120.0", "300.0", "ours ≤ 150", "yes"]
    assert by_label["long conversation: turns 50-56 / turns 1-7 median"] == ["1.04", "1.04", "ours ≤ 1.2", "yes"]
    assert by_label["long conversation: tracker in Redis after 60 turns (bytes)"][:2] == ["52311", "52311"]
    assert by_label["Rasa server memory after load, PSS (MB)"][:2] == ["950", "950"]
    assert by_label["model load: start → all 2 workers up (s)"][:2] == ["18.70", "18.70"]
    assert by_label["noise: other processes' CPU, saturation (cores)"][:2] == ["0.03", "—"]


def test_cpu_table_has_a_row_per_process_of_our_bot(small: dict[str, Any]) -> None:
    rows = _table(report.render_markdown(small), "process")
    assert rows[0] == [
        "process",
        "CPU ms per turn, idle (ours)",
        "cores busy at saturation (ours)",
        "CPU ms per turn, idle (starter)",
        "cores busy at saturation (starter)",
    ]
    assert rows[1:] == [
        ["rasa", "35.9", "1.40", "60.2", "1.90"],
        ["actions", "4.9", "0.20", "—", "—"],
        ["redis", "1.0", "0.05", "1.2", "—"],
        ["bench client", "1.9", "0.30", "1.1", "—"],
        [OTHER, "0.7", "0.03", "0.1", "—"],
    ]


def test_a_busy_machine_is_warned_about_and_its_verdicts_marked(small: dict[str, Any]) -> None:
    busy = copy.deepcopy(small)
    busy["bots"]["ours"]["saturation"]["cores_busy"][OTHER] = 0.8
    busy["targets"] = targets.targets(busy["bots"]["ours"], busy["bots"]["starter"])
    text = report.render_markdown(busy)
    assert "**Warning: other processes on this machine used up to 0.8 CPU cores" in text
    rows = {row[0]: row[1:] for row in _table(text, "metric")[1:]}
    assert rows["saturation throughput, 20 conversations back to back (turns/s)"][3] == "yes (noisy)"


def test_without_the_starter_bot_its_column_says_skipped(small: dict[str, Any]) -> None:
    alone = copy.deepcopy(small)
    del alone["bots"]["starter"]
    alone["targets"] = targets.targets(alone["bots"]["ours"], None)
    rows = {row[0]: row[1:] for row in _table(report.render_markdown(alone), "metric")[1:]}
    assert rows["saturation throughput, 20 conversations back to back (turns/s)"] == [
        "30.0",
        "skipped",
        "≥ 2× starter (—)",
        "n/a",
    ]
    assert {cells[1] for cells in rows.values()} == {"skipped"}
