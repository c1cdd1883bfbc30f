"""Sending several customer messages at (nearly) the same moment, from threads."""

from __future__ import annotations

import threading
import time
from typing import Callable, TypeVar

T = TypeVar("T")


def spaced_calls(
    calls: list[Callable[[], T]], spacing: float, failed: Callable[[Exception], T], timeout: float = 180
) -> list[T]:
    """Runs each call in its own thread, all released together, the i-th ``i * spacing`` seconds later.

    Args:
        calls: what to run (e.g. one REST message each).
        spacing: seconds between two calls (0: all at once).
        failed: the result recorded for a call that raised (a timeout is a lost message too).
        timeout: seconds to wait for each thread.

    Returns:
        The results in the order of ``calls``.
    """
    results: list[T | None] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def one(i: int) -> None:
        start.wait()
        time.sleep(i * spacing)
        try:
            results[i] = calls[i]()
        except Exception as error:  # noqa: BLE001 - reported through ``failed``
            results[i] = failed(error)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return [result if result is not None else failed(TimeoutError("no answer")) for result in results]
