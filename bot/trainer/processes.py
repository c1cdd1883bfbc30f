"""Whether a process is still running (jobs and imports record the process that works on them)."""

from __future__ import annotations

import os
from pathlib import Path


def process_alive(pid: int | None) -> bool:
    """True when process ``pid`` exists and is not a zombie (a finished child is reaped here)."""
    if not pid:
        return False
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
