"""CPU time and memory of process trees, and of the whole machine, read with psutil.

A "tree" is a process and all its descendants: the Rasa main process and its Sanic workers, the
action server, Redis. CPU time is user + system time (``Process.cpu_times``; children's times
are not included, each descendant is counted itself). Memory is RSS (``memory_info().rss``)
and PSS (``memory_full_info().pss``, from ``/proc/<pid>/smaps_rollup`` on Linux): RSS summed
over forked workers counts their shared pages once per process, PSS splits them.

A process that exits while it is being read is left out, never an error.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil

from tools.bench.settings import ROOT

MACHINE = "machine"
OTHER = "other processes"
MB = 1024 * 1024


def process_tree(pid: int) -> list[psutil.Process]:
    """``pid`` and all its descendants (empty when ``pid`` does not exist)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _cpu(process: psutil.Process) -> float | None:
    """User + system CPU seconds of one process; None when it is gone."""
    try:
        times = process.cpu_times()
    except psutil.NoSuchProcess:
        return None
    return times.user + times.system


def cpu_seconds_by_process(pid: int) -> dict[int, float]:
    """CPU time (seconds) used so far by each process of the tree below ``pid``, by pid."""
    used = {process.pid: _cpu(process) for process in process_tree(pid)}
    return {p: seconds for p, seconds in used.items() if seconds is not None}


def cpu_seconds(groups: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process tree, by this process ("bench client") and the machine.

    Args:
        groups: name -> pid of the tree's root, e.g. ``{"rasa": 4242, "redis": 4200}``.

    Returns:
        name -> seconds, plus "bench client" and :data:`MACHINE` (see :func:`machine_busy_seconds`).
    """
    totals = {name: sum(cpu_seconds_by_process(pid).values()) for name, pid in groups.items()}
    totals["bench client"] = time.process_time()
    totals[MACHINE] = machine_busy_seconds()
    return totals


def machine_busy_seconds() -> float:
    """CPU seconds all processes on the machine used so far, summed over every CPU, idle and I/O wait excluded.

    From ``psutil.cpu_times()`` (``/proc/stat``): user + nice + system + irq + softirq + steal.
    """
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + t.steal


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds used between two :func:`cpu_seconds` snapshots, rounded to milliseconds.

    The machine-wide total is replaced by "other processes" (:data:`OTHER`): what the machine used
    beyond the bot, Redis and the benchmark client (other people's jobs on a shared machine), never
    below zero.
    """
    used = {name: after[name] - before.get(name, 0.0) for name in after}
    machine = used.pop(MACHINE, None)
    if machine is not None:
        used[OTHER] = max(0.0, machine - sum(used.values()))
    return {name: round(value, 3) for name, value in used.items()}


def tree_memory(pid: int) -> dict[str, Any]:
    """Memory of the tree below ``pid``, in MiB rounded to 0.1.

    Returns:
        ``processes`` (count), ``rss_mb`` (summed over processes), ``pss_mb`` (None when the kernel
        gives no PSS) and ``rss_mb_per_process`` (pid as a string -> MiB).
    """
    rss: dict[int, int] = {}
    pss: dict[int, int] = {}
    for process in process_tree(pid):
        try:
            rss[process.pid] = process.memory_info().rss
            pss[process.pid] = getattr(process.memory_full_info(), "pss", 0)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            rss.setdefault(process.pid, 0)
    return {
        "processes": len(rss),
        "rss_mb": round(sum(rss.values()) / MB, 1),
        "pss_mb": round(sum(pss.values()) / MB, 1) if any(pss.values()) else None,
        "rss_mb_per_process": {str(p): round(v / MB, 1) for p, v in rss.items()},
    }


def _cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (psutil does not give it); "unknown" elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()


def machine_info() -> dict[str, Any]:
    """CPUs usable by this process, CPU model, memory (GiB), Python, Rasa and Sanic versions, git commit."""
    import rasa
    import sanic

    try:
        commit = _git("rev-parse", "--short", "HEAD")
        dirty = bool(_git("status", "--porcelain"))
    except OSError:
        commit, dirty = "", False
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "rasa": rasa.__version__,
        "sanic": sanic.__version__,
        "git_commit": commit + ("-dirty" if dirty else ""),
    }
