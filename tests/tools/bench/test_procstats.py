"""tools/bench/procstats.py on real processes: this test process, its children and grandchildren."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tools.bench import procstats

# A child that starts a grandchild, prints the grandchild's pid and waits.
PARENT = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "print(child.pid, flush=True)\n"
    "time.sleep(60)\n"
)


def _stop(*pids: int) -> None:
    for pid in pids:
        try:
            psutil.Process(pid).kill()
        except psutil.NoSuchProcess:
            pass


@pytest.fixture
def family() -> Iterator[tuple[int, int]]:
    """(child pid, grandchild pid) of this test process; both killed afterwards."""
    child = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    grandchild = int(child.stdout.readline())
    yield child.pid, grandchild
    _stop(grandchild, child.pid)
    child.wait(timeout=10)


def _burn(seconds: float) -> None:
    """Keep this process on the CPU for ``seconds`` of CPU time."""
    until = time.process_time() + seconds
    while time.process_time() < until:
        pass


def test_process_tree_holds_children_and_grandchildren(family: tuple[int, int]) -> None:
    child, grandchild = family
    pids = [p.pid for p in procstats.process_tree(os.getpid())]
    assert pids[0] == os.getpid()
    assert {child, grandchild} <= set(pids)
    assert [p.pid for p in procstats.process_tree(child)] == [child, grandchild]


def test_a_process_named_with_spaces_and_parentheses_is_counted(tmp_path: Path) -> None:
    # The kernel's /proc/<pid>/stat puts the name between parentheses: a name holding them
    # must not shift the fields that are read (the earlier hand-written parser counted from the last ")").
    odd = tmp_path / "rasa (worker) 1"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", odd)
    process = subprocess.Popen([str(odd), "60"])
    try:
        assert psutil.Process(process.pid).name().startswith("rasa (worker")
        assert process.pid in {p.pid for p in procstats.process_tree(os.getpid())}
        assert process.pid in procstats.cpu_seconds_by_process(os.getpid())
        assert procstats.tree_memory(process.pid)["rss_mb"] > 0
    finally:
        process.kill()
        process.wait(timeout=10)


def test_cpu_seconds_grow_with_the_cpu_this_process_uses() -> None:
    before = procstats.cpu_seconds_by_process(os.getpid())[os.getpid()]
    _burn(0.3)
    after = procstats.cpu_seconds_by_process(os.getpid())[os.getpid()]
    assert 0.2 <= after - before < 5


def test_cpu_seconds_name_each_tree_the_client_and_the_machine() -> None:
    before = procstats.cpu_seconds({"tests": os.getpid()})
    _burn(0.3)
    after = procstats.cpu_seconds({"tests": os.getpid()})
    assert set(after) == {"tests", "bench client", procstats.MACHINE}
    used = procstats.cpu_delta(before, after)
    assert set(used) == {"tests", "bench client", procstats.OTHER}
    assert used["tests"] >= 0.2 and used["bench client"] >= 0.2
    # The machine's busy time includes ours: what is left for other processes is never negative.
    assert after[procstats.MACHINE] - before[procstats.MACHINE] >= 0.2 and used[procstats.OTHER] >= 0


def test_tree_memory_of_this_process(family: tuple[int, int]) -> None:
    memory = procstats.tree_memory(os.getpid())
    assert memory["processes"] >= 3  # this process, the child, the grandchild
    assert set(memory["rss_mb_per_process"]) >= {str(os.getpid()), *map(str, family)}
    own = psutil.Process().memory_info().rss / procstats.MB
    assert memory["rss_mb_per_process"][str(os.getpid())] == pytest.approx(own, rel=0.2)
    assert memory["rss_mb"] == pytest.approx(sum(memory["rss_mb_per_process"].values()), abs=0.5)
    if memory["pss_mb"] is not None:  # PSS needs /proc/<pid>/smaps_rollup (Linux 4.14+)
        assert 0 < memory["pss_mb"] <= memory["rss_mb"]


def test_a_missing_process_has_an_empty_tree() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=10)
    assert procstats.process_tree(gone.pid) == []
    assert procstats.cpu_seconds_by_process(gone.pid) == {}
    assert procstats.tree_memory(gone.pid) == {"processes": 0, "rss_mb": 0.0, "pss_mb": None, "rss_mb_per_process": {}}


def test_machine_info_describes_this_machine() -> None:
    info = procstats.machine_info()
    assert info["cpus"] == len(os.sched_getaffinity(0))
    assert info["memory_gb"] == round(psutil.virtual_memory().total / 1024**3, 1) > 0
    assert info["rasa"].startswith("3.6") and info["cpu_model"]
