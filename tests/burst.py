"""Many callers at once, for the tests of concurrent requests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def burst(call: Callable[[int], Any], count: int, timeout: float = 300) -> list:
    """``call(i)`` from ``count`` threads released together by a barrier; results in order."""
    results: list = [None] * count
    gate = threading.Barrier(count)

    def run(i: int) -> None:
        gate.wait()
        results[i] = call(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results
