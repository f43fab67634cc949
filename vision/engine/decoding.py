"""Decoding the images of one request in parallel, on a process-wide pool of threads started
once: a request of many images no longer decodes them one after another on its own thread
(Pillow releases the GIL while it decodes), and no thread is started per request."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def decode_pool(threads: int) -> ThreadPoolExecutor:
    """The process's decoding pool (``threads`` wide on first use), every thread already running."""
    global _pool
    with _lock:
        if _pool is None:
            width = max(1, threads)
            pool = ThreadPoolExecutor(width, thread_name_prefix="idaas-decode")
            # ThreadPoolExecutor starts a thread per submit while none is idle: hold every
            # thread at a barrier so all of them start now, not during some later request.
            started = threading.Barrier(width + 1)
            for _ in range(width):
                pool.submit(started.wait)
            started.wait()
            _pool = pool
        return _pool
